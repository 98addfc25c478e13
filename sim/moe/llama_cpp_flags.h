// llama_cpp_flags.h: the llama.cpp command line that realises a static expert placement.
//
// llama.cpp stores a layer's experts as one tensor per matrix (blk.N.ffn_gate_up_exps,
// blk.N.ffn_down_exps, [D, 2F, E] and [F, D, E]), and a tensor lives in one buffer: it
// can place whole layers' experts on the CPU (--cpu-moe, --n-cpu-moe N, or
// -ot "blk\.(i|j)\.ffn_(gate_up|down)_exps=CPU"), never some experts of a layer. A
// per-expert placement is therefore rounded to whole layers: the GPU takes the layers
// with the largest share of resident experts (ties: later layers first, so that the
// result reads as --n-cpu-moe N when it can) while their expert bytes fit the budget.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/placement_policy.h"

namespace gs::moe {

struct Realisation {
  std::vector<std::uint8_t> cpu_layer;  // [NL] 1 = that slot's experts on the CPU
  bool exact = true;                    // the placement already was whole layers
  std::string args;                     // llama.cpp flags: "-ngl 99 --n-cpu-moe 12" or "-ngl 99 -ot ..."
  double gpu_expert_bytes = 0;          // expert bytes the realised placement puts on the GPU
  int experts_moved = 0;                // experts whose side changed in the rounding
};

// resident: [NL, E] (1 = GPU). fused_gate_up: the model stores gate and up fused (Gemma 4).
Realisation realise_llama_cpp(const std::vector<std::uint8_t>& resident, const PolicyContext& ctx, bool fused_gate_up);

// The flags for a set of CPU layers (model layer indices in ctx.layers order).
std::string llama_cpp_args(const std::vector<std::uint8_t>& cpu_layer, const PolicyContext& ctx, bool fused_gate_up);

}  // namespace gs::moe
