// placement_policy.h: the contract between replay and every expert placement/caching policy.
//
// Contract
// --------
// A policy decides, for each MoE layer of each step, where each routed expert is computed:
//   Where::Gpu       resident in VRAM when the step starts (a hit);
//   Where::Transfer  copied host -> GPU over host_link, then computed on the GPU (a miss);
//                    a dynamic cache keeps the copy (evicting others), a streaming policy drops it;
//   Where::Cpu       computed on the CPU from host memory, nothing moves.
// Rules every policy keeps (tests check them):
//   1. reset() is called before each replay with the full PolicyContext; a policy keeps no
//      state across resets (replaying the same trace twice gives the same result).
//   2. place() is called once per (step, layer slot) in trace order: steps ascending,
//      slots ascending within a step. uses[0..n) are the distinct experts routed in that
//      step and slot with their token counts (n <= E, every n_tokens >= 1).
//   3. Experts resident on the GPU never take more than ctx.vram_budget_bytes
//      (expert_vram_bytes() reports the peak), except the "gpu" baseline, which puts every
//      expert on the GPU whatever the budget (budget_exempt() is true).
//   4. A policy marks Gpu only experts it holds resident; the return value of place() is
//      bytes moved over the link beyond one expert per Transfer use (e.g. llama.cpp's
//      whole-tensor copy of a CPU layer for prompt batches >= 32 tokens), usually 0.
//   5. Static policies (is_static()) place the same expert the same way at every step and
//      expose that placement through resident_map() (for the llama.cpp realisation).
// Policies are created by name through the explicit table in policies.cpp.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "moe/trace.h"

namespace gs::moe {

enum class Where : std::uint8_t { Gpu = 0, Transfer = 1, Cpu = 2 };

struct ExpertUse {
  std::uint16_t expert = 0;
  std::uint32_t n_tokens = 0;  // tokens of this step routed to the expert
};

// Time of one expert's work, shared by replay (accounting) and policies that decide by
// time (Fiddler). Roofline per device: max(bytes / bandwidth, compute), where compute for
// n tokens routed to the expert follows the throughput model's kernels (sim/roofline.h):
//   n <= matvec_max_tokens: mat-vec on the vector units, n * (flops + dequant) / vector rate
//   n >  matvec_max_tokens: n * flops / matmul rate + n * flops * matmul_dequant / vector rate
// (matvec_max_tokens = 0 and vector rates 0: always the matmul form, as in the tests).
struct ExpertCostModel {
  std::vector<double> expert_bytes;   // [NL] bytes of one expert (gate_up + down), per slot
  double flops_per_token = 0;         // one expert, one token: 2 * (D * 2F + F * D) (GeGLU)
  double gpu_bytes_per_s = 0, gpu_flops_per_s = 0;  // flops: matmul rate (x MoE efficiency)
  double cpu_bytes_per_s = 0, cpu_flops_per_s = 0;
  double link_bytes_per_s = 0;        // host <-> GPU, per direction
  int matvec_max_tokens = 0;
  double gpu_vector_flops_per_s = 0, cpu_vector_flops_per_s = 0;
  double gpu_dequant_flops_per_token = 0, cpu_dequant_flops_per_token = 0;  // mat-vec unpacking, one token
  double matmul_dequant_flops_per_flop = 0;  // quantized matmul: vector work per tensor FLOP

  double gpu_compute_s(double n) const {
    return n <= matvec_max_tokens ? n * (flops_per_token + gpu_dequant_flops_per_token) / gpu_vector_flops_per_s
                                  : n * flops_per_token / gpu_flops_per_s + matmul_dequant(n, gpu_vector_flops_per_s);
  }
  double cpu_compute_s(double n) const {
    return n <= matvec_max_tokens ? n * (flops_per_token + cpu_dequant_flops_per_token) / cpu_vector_flops_per_s
                                  : n * flops_per_token / cpu_flops_per_s + matmul_dequant(n, cpu_vector_flops_per_s);
  }
  double gpu_s(int slot, double n) const {
    return std::max(expert_bytes[static_cast<std::size_t>(slot)] / gpu_bytes_per_s, gpu_compute_s(n));
  }
  double cpu_s(int slot, double n) const {
    return std::max(expert_bytes[static_cast<std::size_t>(slot)] / cpu_bytes_per_s, cpu_compute_s(n));
  }
  double transfer_s(int slot) const { return expert_bytes[static_cast<std::size_t>(slot)] / link_bytes_per_s; }

 private:
  double matmul_dequant(double n, double vec) const {
    return matmul_dequant_flops_per_flop > 0 ? n * flops_per_token * matmul_dequant_flops_per_flop / vec : 0.0;
  }
};

// Everything a policy may know before a replay.
struct PolicyContext {
  TraceShape shape;                   // L, E, K
  std::vector<int> layers;            // [NL] model layer of each slot
  ExpertCostModel cost;
  double vram_budget_bytes = 0;       // VRAM available to experts
  std::vector<double> profile_counts; // [NL, E] routing counts of the profiling trace (may be empty)
  int n_cpu_moe = -1;                 // n-cpu-moe: N (-1: the smallest N that fits the budget)
  double decay_half_life_tokens = 128;// decay policy
  int op_offload_min_tokens = 32;     // llama.cpp: CPU weights copied to the GPU for batches >= this (0: never)
  std::vector<std::uint8_t> cpu_layer_mask;  // "layers" policy: [NL] 1 = experts of that slot on the CPU
  bool cache_warm_start = false;      // caches start holding the static-global placement (else empty)

  int n_slots() const { return static_cast<int>(layers.size()); }
  int n_expert() const { return shape.n_expert; }
  double layer_bytes(int s) const { return cost.expert_bytes[static_cast<std::size_t>(s)] * shape.n_expert; }
};

// Per-step information given to place().
struct StepInfo {
  std::uint64_t tokens_before = 0;  // tokens replayed before this step (the policy clock)
  std::uint32_t n_tokens = 1;       // tokens in this step (1 in decode, up to ubatch in prefill)
};

class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;
  virtual std::string name() const = 0;
  virtual void reset(const PolicyContext& ctx) = 0;
  // Fill where[i] for uses[i], i < n. Returns extra bytes moved host -> GPU (rule 4).
  virtual double place(const StepInfo& step, int slot, const ExpertUse* uses, int n, Where* where) = 0;
  virtual double expert_vram_bytes() const = 0;  // peak VRAM held by experts
  virtual bool is_static() const { return false; }
  virtual bool budget_exempt() const { return false; }
  // Static policies: [NL, E], 1 = resident on the GPU. Empty for dynamic policies.
  virtual std::vector<std::uint8_t> resident_map() const { return {}; }
};

}  // namespace gs::moe
