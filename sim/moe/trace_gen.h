// trace_gen.h: synthetic routing traces with controlled skew, locality and phases.
//
// Per layer l, expert popularity follows a Zipf law of exponent z_l over a random
// permutation pi_l of the E experts (drawn from `popularity_seed`, a property of the
// simulated model: traces with different `seed` but the same popularity seed are a
// profile/evaluation pair of the same model): the expert of popularity rank r (0-based) has weight
//   w_r = 1 / (r + 1)^z_l          (z = 0: uniform routing).
// Each token routes K distinct experts per layer. With probability `locality` each of the
// previous token's experts (same layer) is reused; the remaining slots are drawn without
// replacement with probability proportional to w (successive sampling, done exactly with
// exponential races: key_i = Exp(1) / w_i, take the K smallest). The first `n_prompt`
// tokens are marked "prefill", the rest "decode". Router weights are w of the chosen
// experts renormalised to sum 1 (Gemma 4 renormalises its top-K softmax the same way).
// Deterministic for a seed on every platform (own splitmix64/xoshiro256** generator).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "moe/trace.h"

namespace gs::moe {

struct TraceGenParams {
  TraceShape shape;                  // L, E, K of the model
  std::vector<int> moe_layers;       // model layers that route (empty: all L)
  std::size_t n_tokens = 1024;       // total tokens (prompt + generated)
  std::size_t n_prompt = 0;          // first n_prompt tokens are prefill
  std::vector<double> skew;          // Zipf exponent per MoE layer (size 1: same for all)
  double locality = 0.0;             // P(reuse each of the previous token's experts), [0, 1]
  std::uint64_t seed = 1;             // token sampling
  std::uint64_t popularity_seed = 0;  // expert popularity permutation per layer
  bool with_weights = true;
};

// Throws InputError on bad parameters (negative skew, locality outside [0,1], wrong count).
Trace generate_trace(const TraceGenParams& p);

// The parameters as a JSON object (text), for the trace file's "meta" header.
std::string trace_gen_meta(const TraceGenParams& p, const std::string& model_id);

// Small deterministic generator (xoshiro256**), shared by tests and the generator.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  double uniform();  // [0, 1), 53 bits
 private:
  std::uint64_t s_[4];
};

}  // namespace gs::moe
