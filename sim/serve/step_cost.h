// step_cost.h: the time of one engine step for its actual mix of tokens, from the per-op
// estimator (sim/roofline.h), fast enough for hundreds of thousands of steps per second.
//
// A step runs T tokens: one per decoding sequence (each at its own KV depth) and prefill
// chunks (c tokens of a prompt whose first d tokens are already cached). Its time is
//   body(T)                    every weight matmul, norm, MoE layer (distinct experts of T
//                              tokens), embedding and the engine's step and layer overheads
// + logits(n)                  output head and sampling for the n sequences that emit a token
// + sum over decoding seqs     attention at the sequence's depth (sliding layers capped at W)
// + sum over prefill chunks    attention of c queries over d + c keys
// Each term is the estimator's own op times, tabulated once per (model, quant, system,
// engine) on grids and interpolated linearly: body and logits on token counts, decode
// attention on uniform depth grids (fine near the window, coarse beyond), prefill attention
// bilinearly on (chunk, depth). The only
// approximation beyond interpolation: within a step the estimator takes max(compute, memory)
// per op over the whole step, the sum here takes it per term.
#pragma once
#include <vector>

#include "roofline.h"

namespace gs::serve {

class StepCost {
 public:
  // max_step_tokens: the largest step (vLLM max_num_batched_tokens, llama.cpp -b);
  // max_depth_tokens: the longest sequence; ubatch_tokens: forward passes of at most this many
  // tokens (llama.cpp -ub; vLLM runs a step as one pass: max_step_tokens).
  StepCost(const ModelOps& mo, const HardwareRates& hw, const RunPlacement& pl, double kv_bytes_per_element,
           bool kv_block_quantized, int max_step_tokens, i64 max_depth_tokens, int ubatch_tokens);

  // A hand-made cost model: fixed_s + per_token_s x T per forward pass (of at most ubatch
  // tokens), per_kv_token_s per cached token a decoding sequence reads, nothing for logits or
  // prefill attention. For tests and what-if studies.
  static StepCost linear(double fixed_s, double per_token_s, double per_kv_token_s, int ubatch_tokens,
                         i64 max_depth_tokens);

  double body_s(double tokens) const;          // split into micro-batches of ubatch_tokens
  double logits_s(double n) const;
  double decode_attn_s(double depth) const;    // one sequence, one token, depth tokens cached
  double prefill_attn_s(double depth, double chunk) const;
  int ubatch_tokens() const { return ub_; }

 private:
  StepCost() = default;
  double body_pass_s(double tokens) const;
  std::vector<double> t_grid_, body_, logits_;  // on token counts
  double d_step_ = 1, near_end_ = 0;            // decode attention: a fine uniform depth grid to near_end_
  std::vector<double> dec_attn_;
  double d_step_far_ = 1;                       // and a coarse one beyond
  std::vector<double> dec_attn_far_;
  std::vector<double> pc_grid_, pd_grid_;       // prefill attention: chunk x depth
  std::vector<double> pre_attn_;                // [chunk][depth]
  int ub_ = 512;
};

}  // namespace gs::serve
