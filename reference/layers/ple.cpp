// ple.cpp: Per-Layer Embeddings (Gemma 4 E2B/E4B).
//
// Model level (llama.cpp build_inp_per_layer + project_per_layer_inputs;
// transformers get_per_layer_inputs + project_per_layer_inputs), x = scaled embedding:
//   tok  = per_layer_token_embd[token] * sqrt(P)                  [T, L, P]
//   proj = per_layer_proj_norm(per_layer_model_proj(x) * D^-0.5)   [T, L, P] (norm per P-slice)
//   ple  = (proj + tok) * 2^-0.5                                   [T, L, P]
// In layer il, after the FFN residual:
//   x += post_norm(proj(gelu(inp_gate(x)) * ple[:, il, :]))        [T, D] -> [T, P] -> [T, D]
#include <cmath>

#include "layers/elementwise.h"
#include "error.h"
#include "forward.h"

namespace gs::ref {

void Forward::ple_inputs(const std::int32_t* tokens, int T, const float* x, float* ple) {
  const std::int64_t P = m_.ple.dim, LP = static_cast<std::int64_t>(m_.n_layer) * P;
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < T; ++t) {
    if (tokens[t] >= w_.ple_table.ne1)
      input_error("token id " + std::to_string(tokens[t]) + " outside the per-layer embedding table (" +
                  std::to_string(w_.ple_table.ne1) + " rows)");
    dequantize_matrix_row(w_.ple_table, 0, tokens[t], ple + t * LP);
  }
  OpCount g;
  g.weight_bytes = T * static_cast<std::int64_t>(w_.ple_table.row_bytes);
  g.act_bytes = 4 * T * LP;
  g.calls = 1;
  record(op::kPleEmbed, kModelLayer, g, t0);

  std::vector<float> proj(static_cast<std::size_t>(T * LP));  // [T, L, P]
  mm(op::kPleModelProj, kModelLayer, w_.ple_model_proj, x, T, proj.data());
  t0 = std::chrono::steady_clock::now();
  const float s_proj = 1.0f / std::sqrt(static_cast<float>(m_.n_embd));
  for (auto& v : proj) v *= s_proj;
  record(op::kResidual, kModelLayer, count_elementwise(T * LP, 1), t0);
  norm(kModelLayer, proj.data(), T * static_cast<std::int64_t>(m_.n_layer), P, w_.ple_proj_norm);

  t0 = std::chrono::steady_clock::now();
  const float s_tok = std::sqrt(static_cast<float>(P)), s_in = 1.0f / std::sqrt(2.0f);
  for (std::int64_t i = 0; i < T * LP; ++i) ple[i] = (proj[i] + ple[i] * s_tok) * s_in;
  record(op::kResidual, kModelLayer, count_elementwise(T * LP, 3), t0);
}

void Forward::ple_block(int il, int T, float* x, const float* ple) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const std::int64_t D = m_.n_embd, P = m_.ple.dim, LP = static_cast<std::int64_t>(m_.n_layer) * P;
  std::vector<float> g(static_cast<std::size_t>(T * P));  // [T, P]
  mm(op::kPleGate, il, lw.ple_gate, x, T, g.data());
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < T; ++t) gelu_mul(&g[t * P], ple + t * LP + il * P, &g[t * P], P);
  record(op::kAct, il, count_elementwise(T * P, kFlopsGelu + 1), t0);
  std::vector<float> y(static_cast<std::size_t>(T * D));  // [T, D]
  mm(op::kPleProj, il, lw.ple_proj, g.data(), T, y.data());
  norm(il, y.data(), T, D, lw.ple_post_norm);
  t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < T * D; ++i) x[i] += y[i];
  record(op::kResidual, il, count_elementwise(T * D, 1), t0);
}

}  // namespace gs::ref
