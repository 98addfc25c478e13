// replay_inputs.h: the MoE replay inputs for one model x quant x hardware x engine.
//
// Expert sizes come from gs::weight_bytes (per-layer expert bytes / E); device rates are
// the throughput model's (gs::prepare_hardware: hwdb peaks x the engine profile's
// efficiencies, matmul rate of the experts' weight class x moe efficiency, mat-vec on the
// vector units with dequant work up to matvec_max_tokens); the default VRAM budget for experts is
// what gs::fit leaves free on the GPUs with every expert in host memory (--cpu-moe):
// GPU capacity minus non-expert weights, KV cache, compute buffer and runtime overhead.
// The non-expert part of a step (rest_fn) is the throughput model's (sim/roofline.h,
// issue 3) time for that step with every weight on the GPU, less its MoeExperts op:
// attention at the step's KV depth, dense MLP, router, norms, output head, sampling and
// the engine's per-step overheads. Memoised per (tokens, depth / 64).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hardware.h"
#include "memory_fit.h"
#include "model.h"
#include "moe/placement_policy.h"
#include "moe/replay.h"
#include "quant.h"

namespace gs::moe {

struct MoeSetup {
  std::string model, quant, hardware, engine;
  TraceShape shape;                 // L, E, K
  std::vector<int> moe_layers;      // [NL]
  ExpertCostModel cost;
  SimpleRestModel rest;              // bytes/FLOPs stand-in (kept for comparison and benchmarks)
  std::function<double(std::uint32_t, std::uint64_t)> rest_fn;  // roofline per-op times (used by place)
  std::vector<double> layer_expert_bytes;  // [NL] all E experts of the layer
  double experts_bytes = 0;         // all routed experts
  double gpu_capacity_bytes = 0;    // all GPUs
  double non_expert_vram_bytes = 0; // fit with --cpu-moe: everything on the GPUs but the experts
  double default_budget_bytes = 0;  // gpu_capacity - non_expert_vram (>= 0)
  bool non_expert_fits = true;      // false: even without experts the model does not fit
  int ubatch_tokens = 512;
  int op_offload_min_tokens = 32;
  long long context_tokens = 0;
};

TraceShape trace_shape(const ModelSpec& m);  // InputError if the model has no experts
std::vector<int> moe_layers(const ModelSpec& m);

// fo: fit's options (context, KV type, sequences) for the budget; its placement is ignored.
// rules.engine names the engine profile whose efficiencies apply.
MoeSetup make_moe_setup(const ModelSpec& m, const QuantRecipe& q, const System& hw, const MemoryRules& rules, FitOptions fo);
// GPU bytes of a fit: the sum over its GPU devices.
double fit_gpu_bytes(const FitResult& f);

// A PolicyContext filled from the setup (budget, profile and options left to the caller).
PolicyContext base_context(const MoeSetup& s);

}  // namespace gs::moe
