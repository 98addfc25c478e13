// synth.h: seeded synthetic weights at a model's real shapes, written as a GGUF
// file llama.cpp can load (gemma4 metadata keys, llama.cpp tensor names).
//
// Values are counter-based: element e (row-major over ne1*ne2 rows of ne0) of
// tensor i (its index in weight_tensors(m)) is a pure function of (seed, i, e),
// so any row range can be generated on its own, in any order, by any thread.
// Distributions (uniform with the stated standard deviation; the cost of a
// forward pass does not depend on the values, only their scale matters):
//   matrices                      sd 1/sqrt(ne0)  (y = W x keeps x's scale)
//   per_layer_token_embd          sd 1/sqrt(P)    (scaled by sqrt(P) when used)
//   norms, layer scalar, scales   1 + sd 0.05
//   MoE router ffn_gate_inp       sd sigma_e per expert (row): 1 without skew. With
//                                 --router-skew Z the sigma_e are fitted (mean-field start,
//                                 then a fixed-point Monte Carlo correction) so that, for
//                                 isotropic router inputs (logits ~ N(0, sigma_e^2)), the
//                                 expert of popularity rank r is in the top K with frequency
//                                 ~ (r+1)^-Z (Zipf), capped at 0.45 (a zero-mean logit is
//                                 positive only half the time). The rank order is a seeded
//                                 permutation per layer, so each layer has its own favourites.
//   biases                        0
// Plus rope_freqs.weight (Dh_global/2 F32; 1 for rotated pairs, 1e30 = unrotated),
// which llama.cpp's gemma4 loader requires for proportional RoPE.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"
#include "quant.h"
#include "tensors.h"

namespace gs::ref {

struct SynthOptions {
  std::string quant = "q4_0";  // f32 f16 bf16 q8_0 q4_0 q4_k_m
  std::uint64_t seed = 1;
  double router_skew = 0;      // Z >= 0
  bool progress = false;       // per-tensor progress on stderr
};

// One tensor of the synthetic file: sim's tensor plus the type it is stored in.
struct SynthTensor {
  TensorInfo info;
  GgmlType type;
  std::string note;  // non-empty when the recipe's type was mapped to a supported one
};

// The tensor list with the storage type of each (recipe types outside
// F32/F16/BF16/Q8_0/Q4_0/Q4_K/Q6_K, or that do not fit the row, mapped to the
// nearest supported one). Throws InputError for an unsupported quant.
std::vector<SynthTensor> synth_plan(const ModelSpec& m, const SynthOptions& o);

// Values of rows [r0, r1) of tensor `index` of the plan, as floats (rows x ne0).
void synth_rows(const ModelSpec& m, const SynthOptions& o, const std::vector<SynthTensor>& plan, std::size_t index,
                std::int64_t r0, std::int64_t r1, float* out);

// Router sigma per expert for skew Z (E experts, K used), deterministic.
std::vector<double> router_sigmas(int E, int K, double Z);

// Write the GGUF to path (via path.tmp + rename). Returns the file size in bytes.
std::uint64_t synth_gguf(const ModelSpec& m, const SynthOptions& o, const std::string& path);

}  // namespace gs::ref
