// oracle.cpp: naive float32 Gemma 4, whole sequence at once (see oracle.h).
#include "oracle.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gs::ref {

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;  // [rows, cols]
using RVec = Eigen::Matrix<float, 1, Eigen::Dynamic>;

// Dequantize expert e of a weight to a dense [ne1, ne0] matrix.
Mat dense(const QMatrix& q, std::int64_t e = 0) {
  Mat m(q.ne1, q.ne0);
  for (std::int64_t r = 0; r < q.ne1; ++r) dequantize_row(q.type, q.row(e, r), m.row(r).data(), q.ne0);
  return m;
}

// y = x W^T: x [N, ne0], W [ne1, ne0] -> [N, ne1]
Mat lin(const Mat& x, const QMatrix& q, std::int64_t e = 0) { return x * dense(q, e).transpose(); }

// RMSNorm of each row of x viewed as rows of n values; w empty = no scale.
Mat rms(const Mat& x, std::int64_t n, const Vec& w, double eps) {
  Mat y = x;
  Eigen::Map<Mat> v(y.data(), y.size() / n, n);
  for (Eigen::Index r = 0; r < v.rows(); ++r) {
    const double ms = static_cast<double>(v.row(r).squaredNorm()) / static_cast<double>(n);
    v.row(r) *= static_cast<float>(1.0 / std::sqrt(ms + eps));
    if (!w.empty())
      for (std::int64_t i = 0; i < n; ++i) v(r, i) *= w[static_cast<std::size_t>(i)];
  }
  return y;
}

Mat maybe_norm(const Mat& x, std::int64_t n, const Vec& w, double eps) { return w.empty() ? x : rms(x, n, w, eps); }

float gelu(float x) { return 0.5f * x * (1.0f + std::tanh(std::sqrt(2.0f / 3.14159265358979f) * (x + 0.044715f * x * x * x))); }

Mat geglu_mlp(const Mat& h, const QMatrix& gate, const QMatrix& up, const QMatrix& down) {
  Mat g = lin(h, gate), u = lin(h, up);
  Mat a = g.unaryExpr(&gelu).cwiseProduct(u);
  return lin(a, down);
}

// Rotate each head of x [N, heads*Dh] in place: pairs (i, i+Dh/2), i < pairs, angle pos * theta^(-2i/Dh).
void rope(Mat& x, int Dh, int pairs, double theta) {
  const int heads = static_cast<int>(x.cols() / Dh);
  for (Eigen::Index p = 0; p < x.rows(); ++p)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < pairs; ++i) {
        const double a = static_cast<double>(p) / std::pow(theta, 2.0 * i / Dh);
        float& x0 = x(p, h * Dh + i);
        float& x1 = x(p, h * Dh + i + Dh / 2);
        const float c = static_cast<float>(std::cos(a)), s = static_cast<float>(std::sin(a));
        const float a0 = x0, a1 = x1;
        x0 = a0 * c - a1 * s;
        x1 = a1 * c + a0 * s;
      }
}

struct KV {
  Mat k, v;  // [N, Hkv*Dh]
};

}  // namespace

Eigen::MatrixXf oracle_logits(const ModelSpec& m, const ModelWeights& w, const std::vector<std::int32_t>& tokens,
                              const OracleAblation& ab, const std::vector<Route>* forced_routes) {
  const Eigen::Index N = static_cast<Eigen::Index>(tokens.size());
  const std::int64_t D = m.n_embd, L = m.n_layer, P = m.ple.dim;
  const double eps = m.norm_eps;

  Mat x(N, D);  // [N, D]
  for (Eigen::Index t = 0; t < N; ++t) {
    dequantize_row(w.token_embd.type, w.token_embd.row(0, tokens[static_cast<std::size_t>(t)]), x.row(t).data(), D);
  }
  x *= static_cast<float>(m.embed_scale);

  Mat ple;  // [N, L*P]
  const bool use_ple = m.has_ple() && !ab.no_ple;
  if (use_ple) {
    Mat tok(N, L * P);
    for (Eigen::Index t = 0; t < N; ++t)
      dequantize_row(w.ple_table.type, w.ple_table.row(0, tokens[static_cast<std::size_t>(t)]), tok.row(t).data(), L * P);
    tok *= std::sqrt(static_cast<float>(P));
    Mat proj = lin(x, w.ple_model_proj) / std::sqrt(static_cast<float>(D));
    proj = rms(proj, P, w.ple_proj_norm, eps);
    ple = (proj + tok) / std::sqrt(2.0f);
  }

  std::vector<KV> kv(static_cast<std::size_t>(L));
  for (int il = 0; il < L; ++il) {
    const LayerWeights& lw = w.layers[static_cast<std::size_t>(il)];
    const AttnSpec& as = m.attn(il);
    const int H = as.n_head, Hkv = as.n_head_kv, Dh = as.head_dim, pairs = static_cast<int>(as.rope_fraction * Dh / 2.0);

    // Attention.
    Mat h = maybe_norm(x, D, lw.attn_norm, eps);
    Mat q = maybe_norm(lin(h, lw.wq), Dh, lw.q_norm, eps);
    rope(q, Dh, pairs, as.rope_theta);
    if (m.owns_kv(il)) {
      Mat kraw = lin(h, lw.wk);
      Mat k = maybe_norm(kraw, Dh, lw.k_norm, eps);
      rope(k, Dh, pairs, as.rope_theta);
      Mat v = m.k_eq_v(il) ? (ab.v_after_rope ? k : kraw) : lin(h, lw.wv);
      if (m.v_norm) v = rms(v, Dh, {}, eps);
      kv[static_cast<std::size_t>(il)] = {k, v};
    }
    int src = m.kv_source[static_cast<std::size_t>(il)];
    if (ab.no_kv_share && src != il)
      for (int j = 0; j < L; ++j)
        if (m.owns_kv(j) && m.is_sliding(j) == m.is_sliding(il)) {
          src = j;
          break;
        }
    const KV& c = kv[static_cast<std::size_t>(src)];
    const bool sliding = m.is_sliding(il) && m.sliding_window > 0 && !ab.no_sliding_mask;
    const float scale = m.attn_scale > 0 ? static_cast<float>(m.attn_scale) : 1.0f / std::sqrt(static_cast<float>(Dh));
    Mat o = Mat::Zero(N, static_cast<Eigen::Index>(H) * Dh);
    for (int hh = 0; hh < H; ++hh) {
      const int g = hh / (H / Hkv);
      Mat qh = q.middleCols(hh * Dh, Dh), kh = c.k.middleCols(g * Dh, Dh), vh = c.v.middleCols(g * Dh, Dh);
      Mat s = (qh * kh.transpose()) * scale;  // [N, N]
      for (Eigen::Index i = 0; i < N; ++i)
        for (Eigen::Index j = 0; j < N; ++j) {
          const bool visible = j <= i && (!sliding || j > i - m.sliding_window);
          if (!visible) s(i, j) = -INFINITY;
        }
      for (Eigen::Index i = 0; i < N; ++i) {
        const float mx = s.row(i).maxCoeff();
        s.row(i) = (s.row(i).array() - mx).exp().matrix();
        s.row(i) /= s.row(i).sum();
      }
      o.middleCols(hh * Dh, Dh) = s * vh;
    }
    Mat a = maybe_norm(lin(o, lw.wo), D, lw.post_attn_norm, eps);
    x += a;

    // FFN.
    Mat f;
    if (m.is_moe(il)) {
      Mat mlp = Mat::Zero(N, D);
      if (m.ffn(il) > 0)
        mlp = maybe_norm(geglu_mlp(maybe_norm(x, D, lw.ffn_norm, eps), lw.ffn_gate, lw.ffn_up, lw.ffn_down), D,
                         lw.post_ffn_norm_1, eps);
      Mat r = rms(x, D, {}, eps) / std::sqrt(static_cast<float>(D));
      if (!lw.router_scale.empty())
        for (Eigen::Index t = 0; t < N; ++t)
          for (std::int64_t i = 0; i < D; ++i) r(t, i) *= lw.router_scale[static_cast<std::size_t>(i)];
      Mat logits = lin(r, lw.router);  // [N, E]
      Mat h2 = maybe_norm(x, D, lw.pre_ffn_norm_2, eps);
      Mat moe = Mat::Zero(N, D);
      const int E = m.moe.n_expert, K = ab.all_experts ? m.moe.n_expert : m.moe.n_expert_used;
      const std::int64_t Fe = m.moe.expert_ffn;
      for (Eigen::Index t = 0; t < N; ++t) {
        RVec p = (logits.row(t).array() - logits.row(t).maxCoeff()).exp().matrix();
        p /= p.sum();
        std::vector<int> idx(static_cast<std::size_t>(E));
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [&](int a2, int b2) { return p(a2) > p(b2); });
        if (forced_routes)
          for (const Route& fr : *forced_routes)
            if (fr.layer == il && fr.token == t) std::copy(fr.experts.begin(), fr.experts.end(), idx.begin());
        float sum = 0;
        for (int k = 0; k < K; ++k) sum += p(idx[static_cast<std::size_t>(k)]);
        for (int k = 0; k < K; ++k) {
          const int e = idx[static_cast<std::size_t>(k)];
          float gw = ab.no_moe_renorm ? p(e) : p(e) / sum;
          if (!lw.expert_scale.empty()) gw *= lw.expert_scale[static_cast<std::size_t>(e)];
          Mat xe = h2.row(t);
          Mat g, u;
          if (lw.gate_up_exps.data) {
            Mat gu = lin(xe, lw.gate_up_exps, e);
            g = gu.leftCols(Fe);
            u = gu.rightCols(Fe);
          } else {
            g = lin(xe, lw.gate_exps, e);
            u = lin(xe, lw.up_exps, e);
          }
          Mat act = g.unaryExpr(&gelu).cwiseProduct(u);
          moe.row(t) += gw * lin(act, lw.down_exps, e);
        }
      }
      f = mlp + maybe_norm(moe, D, lw.post_ffn_norm_2, eps);
    } else {
      f = geglu_mlp(maybe_norm(x, D, lw.ffn_norm, eps), lw.ffn_gate, lw.ffn_up, lw.ffn_down);
    }
    x += maybe_norm(f, D, lw.post_ffn_norm, eps);

    // Per-Layer Embeddings.
    if (use_ple) {
      Mat g = lin(x, lw.ple_gate).unaryExpr(&gelu).cwiseProduct(ple.middleCols(il * P, P));
      x += maybe_norm(lin(g, lw.ple_proj), D, lw.ple_post_norm, eps);
    }
    if (!lw.layer_scalar.empty()) x *= lw.layer_scalar[0];
  }

  Mat logits = lin(maybe_norm(x, D, w.output_norm, eps), w.output);  // [N, V]
  if (m.final_logit_softcap > 0 && !ab.no_softcap) {
    const float cap = static_cast<float>(m.final_logit_softcap);
    logits = logits.unaryExpr([cap](float v) { return cap * std::tanh(v / cap); });
  }
  return logits;
}

}  // namespace gs::ref
