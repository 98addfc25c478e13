// oracle.h: a naive float32 implementation of the same architecture, for tests.
//
// Every weight is dequantized to an Eigen float matrix; the whole sequence is
// recomputed from scratch (no KV cache, no micro-batches, no ring buffers):
// attention at each position looks at the K/V rows of every earlier position
// through an explicit mask. Written independently of forward.cpp (it shares
// only the weights and the ModelSpec), so agreement means something.
//
// Ablations switch one architectural feature off; tests check that the kernel
// agrees with the full oracle and disagrees with each ablated one, so every
// feature is shown to be present and to matter.
#pragma once
#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "forward.h"  // Route
#include "model.h"
#include "weights.h"

namespace gs::ref {

struct OracleAblation {
  bool no_sliding_mask = false;  // sliding layers attend to the whole causal context
  bool no_kv_share = false;      // shared layers read the first KV-owning layer of their type instead of kv_source
  bool v_after_rope = false;     // K=V layers take V from K after k_norm + RoPE (instead of v_norm(K_raw))
  bool no_moe_renorm = false;    // routed weights = softmax probabilities, not renormalised over the top K
  bool all_experts = false;      // no top-K: every expert, weighted by its softmax probability
  bool no_ple = false;           // skip Per-Layer Embeddings
  bool no_softcap = false;       // no final logit softcap
};

// Logits [N, V] of every position of `tokens`. forced_routes (optional, a
// kernel's routing trace): use these experts instead of the oracle's own top-K
// (gate weights are still the oracle's). Top-K is discontinuous: with 8-bit
// activations (quantized formats) two near-tied experts can swap, which says
// nothing about the rest of the computation.
Eigen::MatrixXf oracle_logits(const ModelSpec& m, const ModelWeights& w, const std::vector<std::int32_t>& tokens,
                              const OracleAblation& ab = {}, const std::vector<Route>* forced_routes = nullptr);

}  // namespace gs::ref
