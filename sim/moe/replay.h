// replay.h: run a routing trace through a placement policy and a time model.
//
// Steps: each decode token is one step (T = 1); consecutive prefill tokens form steps of
// up to `ubatch` tokens (llama.cpp's micro-batch). For each step and MoE layer, the
// distinct experts routed and their token counts go to the policy, which says where each
// runs (placement_policy.h). Time of one layer in one step, with the expert work summed
// per device and the roofline applied to the sums:
//   gpu   = max(sum bytes_gpu / gpu_bw, sum compute_gpu)   (hits and copied experts)
//   cpu   = max(sum bytes_cpu / cpu_bw, sum compute_cpu)   (compute: ExpertCostModel)
//   link  = bytes moved / link_bw
// and the three add (no overlap: llama.cpp runs a CPU layer's experts while the GPU waits,
// and an on-demand copy is known only after routing). The rest of the step (attention,
// dense MLP, router, norms, output head) comes from ReplayConfig::rest_s, the function to
// swap for the throughput model's per-op times (issue 3).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "moe/placement_policy.h"
#include "moe/trace.h"

namespace gs::moe {

struct ReplayConfig {
  std::uint32_t ubatch = 512;  // prefill tokens per step
  // Seconds of everything but the routed experts for one step of n_tokens at KV depth.
  std::function<double(std::uint32_t n_tokens, std::uint64_t depth)> rest_s;
};

// Non-expert time from bytes and FLOPs on the GPU (the stand-in until issue 3's per-op model):
//   rest = max(weight_bytes / bw, n_tokens * flops_per_token / flops) + overhead_s.
struct SimpleRestModel {
  double weight_bytes = 0;       // non-expert weights read once per step (tied head included)
  double flops_per_token = 0;    // 2 * non-expert active parameters
  double bytes_per_s = 0, flops_per_s = 0;
  double overhead_s = 0;         // fixed per step (launches, synchronisation)
  double operator()(std::uint32_t n_tokens, std::uint64_t /*depth*/) const;
};

struct PhaseStats {
  double tokens = 0, steps = 0;
  double gpu_expert_s = 0, cpu_expert_s = 0, transfer_s = 0, rest_s = 0;
  double transfer_bytes = 0;
  double events = 0, hits = 0, copies = 0, cpu_events = 0;  // routed (token, layer, expert) events
  double time_s() const { return gpu_expert_s + cpu_expert_s + transfer_s + rest_s; }
  double tok_per_s() const { return time_s() > 0 ? tokens / time_s() : 0.0; }
  double hit_rate() const { return events > 0 ? hits / events : 0.0; }
  void add(const PhaseStats& o);
};

struct ReplayResult {
  std::string policy;
  PhaseStats decode, prefill;
  std::vector<double> layer_events, layer_hits;  // [NL], both phases
  double expert_vram_bytes = 0;   // peak VRAM the policy's experts held
  bool budget_exempt = false;
  bool is_static = false;
  std::vector<std::uint8_t> resident_map;  // [NL, E] for static policies
  double hit_rate() const;        // all phases
  double layer_hit_rate(int slot) const;
};

ReplayResult replay(const Trace& tr, PlacementPolicy& policy, const PolicyContext& ctx, const ReplayConfig& cfg);

// Context check: shapes agree, budget >= 0, rates > 0 (InputError otherwise).
void validate_context(const Trace& tr, const PolicyContext& ctx);

}  // namespace gs::moe
