// ffn.cpp: the dense GeGLU MLP and the Gemma 4 MoE block (26B A4B).
//
// Dense:  out = Wdown (gelu_tanh(Wgate h) * Wup h)          h [T, D] -> g, u [T, F] -> out [T, D]
// MoE layer (llama.cpp gemma4-iswa.cpp; modular_gemma4.py Gemma4TextDecoderLayer), x = attn_out:
//   mlp = post_ffw_norm_1(dense(ffn_norm(x)))
//   router input r = rms_norm_no_scale(x) * D^-0.5 * router_scale
//   p = softmax(Wrouter r) over E (fp32); top-K; renormalise to sum 1; times per_expert_scale
//   moe = post_ffw_norm_2(sum_k p_k * expert_k(pre_ffw_norm_2(x)))
//   out = mlp + moe     (the caller applies post_ffw_norm and the residual add)
// Expert e: gate_up [2*Fe rows: gate first, then up] -> gelu(gate) * up [Fe] -> down [D].
#include <algorithm>
#include <cmath>
#include <numeric>

#include "layers/elementwise.h"
#include "forward.h"

namespace gs::ref {

namespace {

// a[r][i] = gelu(g[r][i]) * u[r][i]: gate and up rows with their own strides.
void geglu(const float* g, const float* u, std::int64_t rows, std::int64_t F, std::int64_t stride, float* a) {
  if (stride == F) return gelu_mul(g, u, a, rows * F);
  for (std::int64_t r = 0; r < rows; ++r) gelu_mul(g + r * stride, u + r * stride, a + r * F, F);
}

}  // namespace

void Forward::dense_ffn(int il, int T, const float* h, float* out) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const std::int64_t F = m_.ffn(il);
  float* g = grow(buf_g_, T * F);  // [T, F] each (forward.h: kept across layers and steps)
  float* u = grow(buf_u_, T * F);
  mm(op::kFfnUp, il, lw.ffn_up, h, T, u);
  auto t0 = std::chrono::steady_clock::now();
  if (m_.ffn_gated) {
    mm(op::kFfnGate, il, lw.ffn_gate, h, T, g);
    t0 = std::chrono::steady_clock::now();
    geglu(g, u, T, F, F, g);
  } else {
    gelu_mul(u, nullptr, g, T * F);
  }
  record(op::kAct, il, count_elementwise(T * F, kFlopsGelu + (m_.ffn_gated ? 1 : 0)), t0);
  mm(op::kFfnDown, il, lw.ffn_down, g, T, out);
}

void Forward::moe_ffn(int il, int T, const float* x, float* out) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const std::int64_t D = m_.n_embd, n = T * D;
  const int E = m_.moe.n_expert, K = m_.moe.n_expert_used;
  const std::int64_t Fe = m_.moe.expert_ffn;

  // Always-on dense MLP.
  std::vector<float> mlp(static_cast<std::size_t>(n), 0.0f);  // [T, D]
  if (m_.ffn(il) > 0) {
    std::vector<float> h(x, x + n);
    norm(il, h.data(), T, D, lw.ffn_norm);
    dense_ffn(il, T, h.data(), mlp.data());
    norm(il, mlp.data(), T, D, lw.post_ffn_norm_1);
  }

  // Router: logits [T, E] -> probabilities -> top-K, renormalised, scaled.
  std::vector<float> r(x, x + n);  // [T, D]
  auto t0 = std::chrono::steady_clock::now();
  rms_norm_rows(r.data(), T, D, nullptr, static_cast<float>(m_.norm_eps));
  record(op::kNorms, il, count_rms_norm(n, false, 0), t0);
  t0 = std::chrono::steady_clock::now();
  const float rs = 1.0f / std::sqrt(static_cast<float>(D));
  for (int t = 0; t < T; ++t)
    for (std::int64_t i = 0; i < D; ++i) r[t * D + i] *= rs * (lw.router_scale.empty() ? 1.0f : lw.router_scale[i]);
  std::vector<float> logits(static_cast<std::size_t>(T) * E);  // [T, E]
  const double t_scale = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  mm(op::kMoeRouter, il, lw.router, r.data(), T, logits.data());

  t0 = std::chrono::steady_clock::now();
  std::vector<int> sel(static_cast<std::size_t>(T) * K);    // [T, K] expert ids
  std::vector<float> gate(static_cast<std::size_t>(T) * K);  // [T, K] weights
  std::vector<int> idx(static_cast<std::size_t>(E));
  for (int t = 0; t < T; ++t) {
    float* p = &logits[static_cast<std::size_t>(t) * E];
    softmax(p, E);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float sum = 0;
    for (int k = 0; k < K; ++k) sum += p[idx[k]];
    for (int k = 0; k < K; ++k) {
      const int e = idx[static_cast<std::size_t>(k)];
      sel[static_cast<std::size_t>(t) * K + k] = e;
      gate[static_cast<std::size_t>(t) * K + k] = p[e] / sum * (lw.expert_scale.empty() ? 1.0f : lw.expert_scale[e]);
    }
    if (o_.trace)
      routes_.push_back({pos_ + t, il, std::vector<int>(&sel[t * K], &sel[t * K] + K),
                         std::vector<float>(&gate[t * K], &gate[t * K] + K)});
  }
  OpCount route = count_elementwise(T, kFlopsSoftmax * E + 2 * D + E + 2 * K, lw.router_scale.empty() ? 0 : 4 * D);
  route.time_s = t_scale;
  record(op::kMoeRoute, il, route, t0);

  // Experts, grouped by expert: gather the tokens routed to e, run e once on them.
  std::vector<float> h2(x, x + n);  // [T, D]
  norm(il, h2.data(), T, D, lw.pre_ffn_norm_2);
  std::vector<float> moe(static_cast<std::size_t>(n), 0.0f);  // [T, D]
  t0 = std::chrono::steady_clock::now();
  const bool fused = lw.gate_up_exps.data != nullptr;
  std::int64_t n_distinct = 0;
  std::vector<int> rows;  // token of each gathered row
  std::vector<float> rw, xe, gu, up, a, y;
  for (int e = 0; e < E; ++e) {
    rows.clear();
    rw.clear();
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < K; ++k)
        if (sel[static_cast<std::size_t>(t) * K + k] == e) {
          rows.push_back(t);
          rw.push_back(gate[static_cast<std::size_t>(t) * K + k]);
        }
    if (rows.empty()) continue;
    ++n_distinct;
    const int ne = static_cast<int>(rows.size());
    xe.resize(static_cast<std::size_t>(ne) * D);  // [ne, D]
    for (int r2 = 0; r2 < ne; ++r2) std::copy(&h2[rows[r2] * D], &h2[rows[r2] * D] + D, &xe[r2 * D]);
    a.resize(static_cast<std::size_t>(ne) * Fe);  // [ne, Fe]
    if (fused) {
      gu.resize(static_cast<std::size_t>(ne) * 2 * Fe);  // [ne, 2*Fe]: gate | up
      matmul(lw.gate_up_exps, xe.data(), ne, gu.data(), e);
      geglu(gu.data(), gu.data() + Fe, ne, Fe, 2 * Fe, a.data());
    } else {
      gu.resize(static_cast<std::size_t>(ne) * Fe);
      up.resize(gu.size());
      matmul(lw.gate_exps, xe.data(), ne, gu.data(), e);
      matmul(lw.up_exps, xe.data(), ne, up.data(), e);
      geglu(gu.data(), up.data(), ne, Fe, Fe, a.data());
    }
    y.resize(static_cast<std::size_t>(ne) * D);  // [ne, D]
    matmul(lw.down_exps, a.data(), ne, y.data(), e);
    for (int r2 = 0; r2 < ne; ++r2)
      for (std::int64_t i = 0; i < D; ++i) moe[rows[r2] * D + i] += rw[r2] * y[r2 * D + i];
  }
  const std::int64_t gu_row = static_cast<std::int64_t>(fused ? lw.gate_up_exps.row_bytes : lw.gate_exps.row_bytes);
  record(op::kMoeExperts, il,
         count_moe_experts(T, K, D, Fe, n_distinct, gu_row, static_cast<std::int64_t>(lw.down_exps.row_bytes)), t0);
  counters_.add(op::kAct, il, count_elementwise(static_cast<std::int64_t>(T) * K * Fe, kFlopsGelu + 1));
  norm(il, moe.data(), T, D, lw.post_ffn_norm_2);

  t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; ++i) out[i] = mlp[i] + moe[i];
  record(op::kResidual, il, count_elementwise(n, 1), t0);
}

}  // namespace gs::ref
