// attention.cpp: Q/K/V projections, q/k/v norms, RoPE, KV cache, grouped-query attention.
//
// Gemma 4 (modular_gemma4.py Gemma4TextAttention; llama.cpp gemma4-iswa.cpp):
//   q = rope(q_norm(Wq h))                     per head, [T, H, Dh]
//   k = rope(k_norm(Wk h))                     [T, Hkv, Dh]   (KV-owning layers only)
//   v = v_norm(Wv h), or v_norm(Wk h) on K=V   [T, Hkv, Dh]   (no RoPE on v)
//   o = softmax(scale * q k^T + mask) v        scale = model.attn_scale (1.0 for Gemma 4)
//   out = Wo o                                 [T, D]
// Mask: causal; on sliding layers a query at position p sees keys in (p-W, p].
// KV-shared layers (kv_source != il) compute only q and read the source layer's cache.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "blocks/elementwise.h"
#include "forward.h"

namespace gs::ref {

namespace {

inline float dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (float x : acc) s += x;
  return s;
}

}  // namespace

void Forward::attention(int il, int T, const float* h, float* out) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const AttnSpec& as = m_.attn(il);
  const int H = as.n_head, Hkv = as.n_head_kv, Dh = as.head_dim;
  const bool owns = m_.owns_kv(il);
  const int pairs = rope_pairs(Dh, as.rope_fraction);

  std::vector<float> q(static_cast<std::size_t>(T) * H * Dh);  // [T, H, Dh]
  mm(op::kAttnQ, il, lw.wq, h, T, q.data());
  norm(il, q.data(), static_cast<std::int64_t>(T) * H, Dh, lw.q_norm);

  std::vector<float> k, v;  // [T, Hkv, Dh] each
  if (owns) {
    k.resize(static_cast<std::size_t>(T) * Hkv * Dh);
    v.resize(k.size());
    mm(op::kAttnK, il, lw.wk, h, T, k.data());
    if (m_.k_eq_v(il)) {
      v = k;  // V = v_norm(K_raw): taken before k_norm and RoPE
    } else {
      mm(op::kAttnV, il, lw.wv, h, T, v.data());
    }
    norm(il, k.data(), static_cast<std::int64_t>(T) * Hkv, Dh, lw.k_norm);
    if (m_.v_norm) {
      auto t0 = std::chrono::steady_clock::now();
      rms_norm_rows(v.data(), static_cast<std::int64_t>(T) * Hkv, Dh, nullptr, static_cast<float>(m_.norm_eps));
      record(op::kNorms, il, count_rms_norm(static_cast<std::int64_t>(T) * Hkv * Dh, false, 0), t0);
    }
  }

  // RoPE on q (and k): one cos/sin table per token position.
  {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> cs(static_cast<std::size_t>(pairs)), sn(static_cast<std::size_t>(pairs));
    for (int t = 0; t < T; ++t) {
      rope_angles(Dh, pairs, as.rope_theta, pos_ + t, cs.data(), sn.data());
      for (int hh = 0; hh < H; ++hh) rope_head(&q[(static_cast<std::size_t>(t) * H + hh) * Dh], Dh, pairs, cs.data(), sn.data());
      if (owns)
        for (int g = 0; g < Hkv; ++g) rope_head(&k[(static_cast<std::size_t>(t) * Hkv + g) * Dh], Dh, pairs, cs.data(), sn.data());
    }
    const std::int64_t heads = H + (owns ? Hkv : 0);
    record(op::kRope, il, count_elementwise(static_cast<std::int64_t>(T) * heads * 2 * pairs, kFlopsRopePerElement), t0);
  }

  if (owns) {
    auto t0 = std::chrono::steady_clock::now();
    LayerKv& cache = kv_[static_cast<std::size_t>(il)];
    const std::size_t row = static_cast<std::size_t>(Hkv) * Dh;
    for (int t = 0; t < T; ++t) cache.store(pos_ + t, &k[t * row], &v[t * row]);
    OpCount c;
    c.kv_write_bytes = static_cast<std::int64_t>(T) * Hkv * Dh * kv_type_bytes(cache.type());
    record(op::kAttnK, il, c, t0);
    record(op::kAttnV, il, c, std::chrono::steady_clock::now());
  }

  std::vector<float> o(q.size());  // [T, H, Dh]
  attend(il, T, q.data(), o.data());
  mm(op::kAttnOut, il, lw.wo, o.data(), T, out);
}

// o[t, h] = sum_j softmax_j(scale * q[t, h] . K[j, g(h)]) V[j, g(h)], keys j visible to position pos_+t.
void Forward::attend(int il, int T, const float* q, float* o) {
  const AttnSpec& as = m_.attn(il);
  const int H = as.n_head, Hkv = as.n_head_kv, Dh = as.head_dim, group = H / Hkv;
  const LayerKv& cache = kv_[static_cast<std::size_t>(m_.kv_source[static_cast<std::size_t>(il)])];
  const std::int64_t W = (m_.is_sliding(il) && m_.sliding_window > 0) ? m_.sliding_window : 0;
  const float scale = m_.attn_scale > 0 ? static_cast<float>(m_.attn_scale) : 1.0f / std::sqrt(static_cast<float>(Dh));
  const std::int64_t first = W > 0 ? std::max<std::int64_t>(0, pos_ - W + 1) : 0;  // oldest position read
  const std::int64_t n = pos_ + T - first;                                         // positions read (U)
  if (first < cache.oldest_held(pos_ + T - 1)) throw std::logic_error("attention reads a KV slot already overwritten");

  auto t0 = std::chrono::steady_clock::now();
  thread_local std::vector<float> kbuf, vbuf;  // [n, Dh] of one kv head, as floats (reused across calls)
  kbuf.resize(static_cast<std::size_t>(n) * Dh);
  vbuf.resize(kbuf.size());
  float* const kf = kbuf.data();  // pointers, not the thread_local names, inside the parallel region
  float* const vf = vbuf.data();
  const bool par = static_cast<std::int64_t>(T) * group * n * Dh >= 32768;  // one region per layer, when worth it
#pragma omp parallel if (par)
  {
    std::vector<float> s;  // scores of one query (per thread)
    for (int g = 0; g < Hkv; ++g) {
#pragma omp for schedule(static)
      for (std::int64_t j = 0; j < n; ++j) {
        cache.read_k(first + j, g, &kf[static_cast<std::size_t>(j) * Dh]);
        cache.read_v(first + j, g, &vf[static_cast<std::size_t>(j) * Dh]);
      }
#pragma omp for collapse(2) schedule(dynamic, 1)
      for (int t = 0; t < T; ++t)
        for (int hg = 0; hg < group; ++hg) {
          const int hh = g * group + hg;
          const std::int64_t p = pos_ + t;
          const std::int64_t lo = W > 0 ? std::max<std::int64_t>(0, p - W + 1) : 0;
          const std::int64_t nk = p - lo + 1;
          const float* qv = q + (static_cast<std::size_t>(t) * H + hh) * Dh;
          s.resize(static_cast<std::size_t>(nk));
          for (std::int64_t j = 0; j < nk; ++j) s[j] = scale * dot(qv, &kf[static_cast<std::size_t>(lo - first + j) * Dh], Dh);
          softmax(s.data(), nk);
          float* ov = o + (static_cast<std::size_t>(t) * H + hh) * Dh;
          std::fill(ov, ov + Dh, 0.0f);
          for (std::int64_t j = 0; j < nk; ++j) {
            const float* vv = &vf[static_cast<std::size_t>(lo - first + j) * Dh];
            const float pj = s[j];
            for (int d = 0; d < Dh; ++d) ov[d] += pj * vv[d];
          }
        }
    }
  }

  // Counts by the rule in counters.h (scores, softmax and values share the measured time).
  const std::int64_t S = attn_keys_seen(pos_, T, W);
  const std::int64_t kv_read = static_cast<std::int64_t>(Hkv) * Dh * kv_type_bytes(cache.type()) * n;
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  OpCount sc, sm, va;
  sc.flops = 2LL * Dh * H * S;
  sc.kv_read_bytes = kv_read;
  sc.act_bytes = 4LL * T * H * Dh;
  sc.calls = 1;
  sc.time_s = dt / 2;
  sm.flops = kFlopsSoftmax * H * S;
  sm.calls = 1;
  va = sc;
  va.time_s = dt / 2;
  counters_.add(op::kAttnScores, il, sc);
  counters_.add(op::kAttnSoftmax, il, sm);
  counters_.add(op::kAttnValues, il, va);
}

}  // namespace gs::ref
