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
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "blocks/elementwise.h"
#include "forward.h"
#include "qmatrix.h"

namespace gs::ref {

namespace {

constexpr int kHeadChunk = 4;  // query heads that share one pass over K and V

// One query per head, NH heads of one kv head over the same nk keys.
struct HeadChunk {
  int Dh = 0;
  std::int64_t nk = 0;
  const float* k = nullptr;  // [nk, Dh] keys, as floats
  const float* v = nullptr;  // [nk, Dh] values
  float scale = 1;
  const float* q[kHeadChunk] = {};
  float* o[kHeadChunk] = {};
  float* s[kHeadChunk] = {};  // [nk] scores per head (scratch)
};

inline float hsum4(__m128 v) {
  const __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

// scores s_h[j] = scale * q_h . k_j (each K row loaded once for the NH heads; 2 x NH
// independent SSE accumulators), softmax per head, o_h = sum_j s_h[j] v_j (each V row
// loaded once). SSE2 only (baseline x86-64), so every machine computes the same bits.
template <int NH>
void attend_heads(const HeadChunk& c) {
  const int Dh = c.Dh, D8 = Dh / 8 * 8;
  for (std::int64_t j = 0; j < c.nk; ++j) {
    const float* kr = c.k + j * Dh;
    __m128 a0[NH], a1[NH];
    for (int h = 0; h < NH; ++h) a0[h] = a1[h] = _mm_setzero_ps();
    for (int d = 0; d < D8; d += 8) {
      const __m128 k0 = _mm_loadu_ps(kr + d), k1 = _mm_loadu_ps(kr + d + 4);
      for (int h = 0; h < NH; ++h) {
        a0[h] = _mm_add_ps(a0[h], _mm_mul_ps(_mm_loadu_ps(c.q[h] + d), k0));
        a1[h] = _mm_add_ps(a1[h], _mm_mul_ps(_mm_loadu_ps(c.q[h] + d + 4), k1));
      }
    }
    for (int h = 0; h < NH; ++h) {
      float sum = hsum4(_mm_add_ps(a0[h], a1[h]));
      for (int d = D8; d < Dh; ++d) sum += c.q[h][d] * kr[d];
      c.s[h][j] = c.scale * sum;
    }
  }
  for (int h = 0; h < NH; ++h) {
    softmax(c.s[h], c.nk);
    std::fill(c.o[h], c.o[h] + Dh, 0.0f);
  }
  const int D4 = Dh / 4 * 4;
  for (std::int64_t j = 0; j < c.nk; ++j) {
    const float* vr = c.v + j * Dh;
    __m128 pj[NH];
    for (int h = 0; h < NH; ++h) pj[h] = _mm_set1_ps(c.s[h][j]);
    for (int d = 0; d < D4; d += 4) {
      const __m128 vv = _mm_loadu_ps(vr + d);
      for (int h = 0; h < NH; ++h) _mm_storeu_ps(c.o[h] + d, _mm_add_ps(_mm_loadu_ps(c.o[h] + d), _mm_mul_ps(pj[h], vv)));
    }
    for (int d = D4; d < Dh; ++d)
      for (int h = 0; h < NH; ++h) c.o[h][d] += c.s[h][j] * vr[d];
  }
}

// The same computation 8 lanes wide (AVX2, no FMA): lanes 0-3 of each accumulator
// are the SSE form's a0, lanes 4-7 its a1, and the final sums add the halves first,
// so the result is bit-identical to attend_heads; chosen at run time.
template <int NH>
__attribute__((target("avx2"))) void attend_heads_avx2(const HeadChunk& c) {
  const int Dh = c.Dh, D8 = Dh / 8 * 8;
  for (std::int64_t j = 0; j < c.nk; ++j) {
    const float* kr = c.k + j * Dh;
    __m256 a[NH];
    for (int h = 0; h < NH; ++h) a[h] = _mm256_setzero_ps();
    for (int d = 0; d < D8; d += 8) {
      const __m256 k8 = _mm256_loadu_ps(kr + d);
      for (int h = 0; h < NH; ++h) a[h] = _mm256_add_ps(a[h], _mm256_mul_ps(_mm256_loadu_ps(c.q[h] + d), k8));
    }
    for (int h = 0; h < NH; ++h) {
      float sum = hsum4(_mm_add_ps(_mm256_castps256_ps128(a[h]), _mm256_extractf128_ps(a[h], 1)));
      for (int d = D8; d < Dh; ++d) sum += c.q[h][d] * kr[d];
      c.s[h][j] = c.scale * sum;
    }
  }
  for (int h = 0; h < NH; ++h) {
    softmax(c.s[h], c.nk);
    std::fill(c.o[h], c.o[h] + Dh, 0.0f);
  }
  const int D4 = Dh / 4 * 4;
  for (std::int64_t j = 0; j < c.nk; ++j) {
    const float* vr = c.v + j * Dh;
    __m256 pj[NH];
    for (int h = 0; h < NH; ++h) pj[h] = _mm256_set1_ps(c.s[h][j]);
    for (int d = 0; d < D8; d += 8) {
      const __m256 vv = _mm256_loadu_ps(vr + d);
      for (int h = 0; h < NH; ++h)
        _mm256_storeu_ps(c.o[h] + d, _mm256_add_ps(_mm256_loadu_ps(c.o[h] + d), _mm256_mul_ps(pj[h], vv)));
    }
    for (int d = D8; d < D4; d += 4) {
      const __m128 vv = _mm_loadu_ps(vr + d);
      for (int h = 0; h < NH; ++h)
        _mm_storeu_ps(c.o[h] + d, _mm_add_ps(_mm_loadu_ps(c.o[h] + d), _mm_mul_ps(_mm256_castps256_ps128(pj[h]), vv)));
    }
    for (int d = D4; d < Dh; ++d)
      for (int h = 0; h < NH; ++h) c.o[h][d] += c.s[h][j] * vr[d];
  }
}

template <int NH>
void attend_chunk(const HeadChunk& c) {
  // The AVX2 form runs when the active kernel ISA is AVX2 or better (GEMMASIM_ISA=scalar
  // or set_isa(Isa::Scalar) selects the SSE2 form, so tests can compare the two).
  if (active_isa() != Isa::Scalar) attend_heads_avx2<NH>(c);
  else attend_heads<NH>(c);
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
  // K and V of every kv head as floats, [Hkv][n][Dh]. KV-shared layers read the same source
  // cache in the same step, so the conversion is kept per source layer and reused when the
  // step (pos_, T) matches, up to kKvFloatBudget bytes; beyond that it is converted per call.
  const int src = m_.kv_source[static_cast<std::size_t>(il)];
  const std::size_t per = static_cast<std::size_t>(n) * Dh;
  const bool keep = 2 * static_cast<std::int64_t>(Hkv) * n * Dh * 4 <= kKvFloatBudget;
  thread_local std::vector<float> kbuf, vbuf;
  KvFloat& kc = kv_float_[static_cast<std::size_t>(src)];
  bool fresh = true;
  float *kf, *vf;
  if (keep) {
    fresh = !(kc.pos == pos_ && kc.T == T && kc.first == first && kc.n == n);
    if (fresh) {
      kc.k.resize(static_cast<std::size_t>(Hkv) * per);
      kc.v.resize(kc.k.size());
      kc.pos = pos_;
      kc.T = T;
      kc.first = first;
      kc.n = n;
    }
    kf = kc.k.data();
    vf = kc.v.data();
  } else {
    kbuf.resize(static_cast<std::size_t>(Hkv) * per);
    vbuf.resize(kbuf.size());
    kf = kbuf.data();  // pointers, not the thread_local names, inside the parallel region
    vf = vbuf.data();
  }
  // Work items: (token, kv head, chunk of up to kHeadChunk query heads of that kv head);
  // the heads of a chunk share each K and V row load (see attend_heads).
  const int chunks = (group + kHeadChunk - 1) / kHeadChunk;
  const std::int64_t items = static_cast<std::int64_t>(T) * Hkv * chunks;
  const bool par = static_cast<std::int64_t>(T) * H * n * Dh >= 32768;  // one region per layer, when worth it
  const std::int64_t rows = static_cast<std::int64_t>(Hkv) * n;
#pragma omp parallel if (par)
  {
    std::vector<float> sbuf;  // scores of the chunk's heads (per thread)
    if (fresh) {
#pragma omp for schedule(static)
      for (std::int64_t gj = 0; gj < rows; ++gj) {
        const int g = static_cast<int>(gj / n);
        const std::int64_t j = gj % n;
        cache.read_k(first + j, g, kf + g * per + static_cast<std::size_t>(j) * Dh);
        cache.read_v(first + j, g, vf + g * per + static_cast<std::size_t>(j) * Dh);
      }
    }
#pragma omp for schedule(static)
    for (std::int64_t it = 0; it < items; ++it) {
      const int t = static_cast<int>(it / (static_cast<std::int64_t>(Hkv) * chunks));
      const int g = static_cast<int>(it / chunks % Hkv), c = static_cast<int>(it % chunks);
      const int h0 = g * group + c * kHeadChunk, nh = std::min(kHeadChunk, group - c * kHeadChunk);
      const std::int64_t p = pos_ + t;
      const std::int64_t lo = W > 0 ? std::max<std::int64_t>(0, p - W + 1) : 0;
      const std::int64_t nk = p - lo + 1;
      sbuf.resize(static_cast<std::size_t>(nk) * kHeadChunk);
      HeadChunk hc;
      hc.Dh = Dh;
      hc.nk = nk;
      hc.k = kf + g * per + (lo - first) * Dh;
      hc.v = vf + g * per + (lo - first) * Dh;
      hc.scale = scale;
      for (int h = 0; h < nh; ++h) {
        hc.q[h] = q + (static_cast<std::size_t>(t) * H + h0 + h) * Dh;
        hc.o[h] = o + (static_cast<std::size_t>(t) * H + h0 + h) * Dh;
        hc.s[h] = sbuf.data() + static_cast<std::size_t>(h) * nk;
      }
      switch (nh) {
        case 1: attend_chunk<1>(hc); break;
        case 2: attend_chunk<2>(hc); break;
        case 3: attend_chunk<3>(hc); break;
        default: attend_chunk<4>(hc); break;
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
