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
#include <type_traits>
#include <vector>

#include "layers/attention.h"
#include "layers/elementwise.h"
#include "forward.h"
#include "kernels/fp16.h"
#include "qmatrix.h"

namespace gs::ref {

namespace {

constexpr int kHeadChunk = 4;  // query heads that share one pass over K and V
// Attention weights of keys scoring more than 40 below the best are exactly 0 (e^-40 = 4e-18
// of the best key's weight: below float's resolution by 10 orders). Without the floor, the
// weights of such keys came out denormal (exp_fast clamps at e^-87, the normalisation divides
// further), and every product with them in the values pass is slow (denormal arithmetic):
// with wide score spreads, deep global layers ran their attention well below the rate of the
// same shapes with narrower scores.
constexpr float kAttnExpFloor = -40.0f;
constexpr int kTokenBlock = 16;  // query tokens that share each block of K / V rows (Forward::attend)
constexpr std::int64_t kKeyBlockBytes = 64 << 10;  // bytes of one kv head's K rows per key block

// One query per head, NH heads of one kv head over the same nk keys. Key/value row j
// (Dh elements of `esize` bytes: 4 float, 2 f16; `stride` bytes apart) is in the first
// segment (k, v) for j < n1 and in the second (k2, v2) after it: a ring of cache slots
// read across its end. The SSE2 form reads floats only.
struct HeadChunk {
  int Dh = 0, esize = 4;
  std::int64_t nk = 0, n1 = 0, stride = 0;
  const std::uint8_t* k = nullptr;   // keys of rows 0..n1-1
  const std::uint8_t* v = nullptr;   // values of rows 0..n1-1
  const std::uint8_t* k2 = nullptr;  // rows n1..nk-1
  const std::uint8_t* v2 = nullptr;
  float scale = 1;
  const float* q[kHeadChunk] = {};
  float* o[kHeadChunk] = {};
  float* s[kHeadChunk] = {};  // [nk] scores per head (scratch)
  template <class E = float>
  const E* krow(std::int64_t j) const {
    return reinterpret_cast<const E*>(j < n1 ? k + j * stride : k2 + (j - n1) * stride);
  }
  template <class E = float>
  const E* vrow(std::int64_t j) const {
    return reinterpret_cast<const E*>(j < n1 ? v + j * stride : v2 + (j - n1) * stride);
  }
};

inline float hsum4(__m128 v) {
  const __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

// Each form is two passes over a range [j0, j1) of a chunk's keys, so that Forward::attend
// can cut the keys into blocks and pass each block over several tokens' queries while it is
// in cache (softmax between the passes, o zeroed before the values pass):
//   scores: s_h[j] = scale * q_h . k_j for j in [j0, j1);
//   values: o_h += s_h[j] v_j for j in [j0, j1), keys in increasing order.
// Every score is its own reduction and o's sums run over j in increasing order, so the
// results do not depend on where the blocks are cut (test_attention checks it bit for bit).
//
// SSE2 (baseline x86-64): each K row loaded once for the NH heads, 2 x NH independent
// accumulators; each V row loaded once, o loaded and stored per key.
template <int NH>
void scores_sse2(const HeadChunk& c, std::int64_t j0, std::int64_t j1) {
  const int Dh = c.Dh, D8 = Dh / 8 * 8;
  for (std::int64_t j = j0; j < j1; ++j) {
    const float* kr = c.krow(j);
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
}

template <int NH>
void values_sse2(const HeadChunk& c, std::int64_t j0, std::int64_t j1) {
  const int Dh = c.Dh, D4 = Dh / 4 * 4;
  for (std::int64_t j = j0; j < j1; ++j) {
    const float* vr = c.vrow(j);
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

// The same computation 8 lanes wide (AVX2 + F16C, no FMA): lanes 0-3 of each accumulator
// are the SSE form's a0, lanes 4-7 its a1, and the final sums add the halves first, so the
// result is bit-identical to the SSE2 form; chosen at run time. It reads float rows, or f16
// rows in place (head dims a multiple of 8; F16C converts exactly, so the products are those
// of the float mirror the SSE2 form reads). Two changes of shape from the SSE2 form, neither
// changing a single rounding:
//   scores: KB keys per pass (each q load feeds KB products, NH x KB accumulators);
//   values: o held in registers (16 dims x NH heads) over blocks of kVBlockAvx2 keys, the
//           products added in increasing key order as the SSE2 form adds them through memory
//           (which made that form store-bound: 4 stores per 8 dims and key).
__attribute__((target("avx2,f16c"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2,f16c"))) inline __m256 load8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// A score from its 8-lane accumulator as the SSE2 form sums it: halves first, then the dims
// past the last multiple of 8 (float rows only).
template <class E>
__attribute__((target("avx2,f16c"))) inline float score_avx2(const HeadChunk& c, __m256 a, const E* kr, int h, int D8) {
  float sum = hsum4(_mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)));
  if constexpr (std::is_same_v<E, float>)
    for (int d = D8; d < c.Dh; ++d) sum += c.q[h][d] * kr[d];
  return c.scale * sum;
}

// Rows stream from L3 or DRAM at depth (the caches of many layers): a software prefetch of the
// rows a few keys ahead, which brings a call reading from DRAM closer to one reading from L3.
constexpr std::int64_t kScoresAhead = 8;   // keys ahead of the scores pass
constexpr std::int64_t kValuesAhead = 32;  // keys ahead of the values pass (one block of them)
inline void prefetch_row(const void* p, std::int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (std::int64_t o = 0; o < bytes; o += 64) _mm_prefetch(c + o, _MM_HINT_T0);
}

template <int NH, int KB, class E>
__attribute__((target("avx2,f16c"))) void scores_avx2(const HeadChunk& c, std::int64_t j0, std::int64_t j1) {
  const int Dh = c.Dh, D8 = Dh / 8 * 8;
  std::int64_t j = j0;
  for (; j + KB <= j1; j += KB) {
    const E* kr[KB];
    for (int b = 0; b < KB; ++b) kr[b] = c.krow<E>(j + b);
    if (j + KB + kScoresAhead + KB <= j1)
      for (int b = 0; b < KB; ++b) prefetch_row(c.krow<E>(j + KB + kScoresAhead + b), Dh * static_cast<std::int64_t>(sizeof(E)));
    __m256 a[NH][KB];
    for (int h = 0; h < NH; ++h)
      for (int b = 0; b < KB; ++b) a[h][b] = _mm256_setzero_ps();
    for (int d = 0; d < D8; d += 8) {
      __m256 kv[KB];
      for (int b = 0; b < KB; ++b) kv[b] = load8(kr[b] + d);
      for (int h = 0; h < NH; ++h) {
        const __m256 qv = _mm256_loadu_ps(c.q[h] + d);
        for (int b = 0; b < KB; ++b) a[h][b] = _mm256_add_ps(a[h][b], _mm256_mul_ps(qv, kv[b]));
      }
    }
    for (int h = 0; h < NH; ++h)
      for (int b = 0; b < KB; ++b) c.s[h][j + b] = score_avx2(c, a[h][b], kr[b], h, D8);
  }
  for (; j < j1; ++j) {
    const E* kr = c.krow<E>(j);
    __m256 a[NH];
    for (int h = 0; h < NH; ++h) a[h] = _mm256_setzero_ps();
    for (int d = 0; d < D8; d += 8) {
      const __m256 k8 = load8(kr + d);
      for (int h = 0; h < NH; ++h) a[h] = _mm256_add_ps(a[h], _mm256_mul_ps(_mm256_loadu_ps(c.q[h] + d), k8));
    }
    for (int h = 0; h < NH; ++h) c.s[h][j] = score_avx2(c, a[h], kr, h, D8);
  }
}

constexpr std::int64_t kVBlockAvx2 = 32;  // keys whose V rows a block of output dims passes over (L1)

// o[h][d0, d0 + 8W) += s_h[j] v_j over keys [j0, j1), W vectors per head held in registers.
template <int NH, int W, class E>
__attribute__((target("avx2,f16c"))) inline void values_avx2_dims(const HeadChunk& c, int d0, std::int64_t j0, std::int64_t j1) {
  __m256 o[NH][W];
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < W; ++i) o[h][i] = _mm256_loadu_ps(c.o[h] + d0 + 8 * i);
  for (std::int64_t j = j0; j < j1; ++j) {
    const E* vr = c.vrow<E>(j) + d0;
    __m256 v[W];
    for (int i = 0; i < W; ++i) v[i] = load8(vr + 8 * i);
    for (int h = 0; h < NH; ++h) {
      const __m256 p = _mm256_set1_ps(c.s[h][j]);
      for (int i = 0; i < W; ++i) o[h][i] = _mm256_add_ps(o[h][i], _mm256_mul_ps(p, v[i]));
    }
  }
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < W; ++i) _mm256_storeu_ps(c.o[h] + d0 + 8 * i, o[h][i]);
}

template <int NH, class E>
__attribute__((target("avx2,f16c"))) void values_avx2(const HeadChunk& c, std::int64_t ja, std::int64_t jb) {
  const int Dh = c.Dh, D8 = Dh / 8 * 8, D4 = Dh / 4 * 4;
  for (std::int64_t j0 = ja; j0 < jb; j0 += kVBlockAvx2) {
    const std::int64_t j1 = std::min(jb, j0 + kVBlockAvx2);
    for (std::int64_t j = j0 + kValuesAhead; j < std::min(jb, j1 + kValuesAhead); ++j) prefetch_row(c.vrow<E>(j), Dh * static_cast<std::int64_t>(sizeof(E)));
    int d0 = 0;
    for (; d0 + 16 <= D8; d0 += 16) values_avx2_dims<NH, 2, E>(c, d0, j0, j1);
    if (d0 < D8) values_avx2_dims<NH, 1, E>(c, d0, j0, j1);
  }
  if constexpr (std::is_same_v<E, float>) {  // the dims past the last multiple of 8 (float rows only)
    if (D8 == Dh) return;
    for (std::int64_t j = ja; j < jb; ++j) {
      const float* vr = c.vrow(j);
      for (int d = D8; d < D4; d += 4) {
        const __m128 vv = _mm_loadu_ps(vr + d);
        for (int h = 0; h < NH; ++h)
          _mm_storeu_ps(c.o[h] + d, _mm_add_ps(_mm_loadu_ps(c.o[h] + d), _mm_mul_ps(_mm_set1_ps(c.s[h][j]), vv)));
      }
      for (int d = D4; d < Dh; ++d)
        for (int h = 0; h < NH; ++h) c.o[h][d] += c.s[h][j] * vr[d];
    }
  }
}

// AVX-512 with FMA (head dims a multiple of 16). Not bit-identical to the SSE2 / AVX2
// forms (fused products, another summation order); tests hold it to the float32
// oracle and to the SSE2 form within a tolerance. Two changes of shape make it fast:
//   scores: KB keys per pass (each q load feeds KB products), NH x KB independent
//           accumulators, so the FMA latency is hidden;
//   values: the output dims in blocks of 4 vectors held in registers over all keys
//           (the SSE2 form loads and stores o for every key), NH x 4 accumulators.
// (GCC 12 reports _mm512_reduce_add_ps's own temporaries as maybe uninitialised: false positive.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// 16 elements of a K or V row as floats (f16: converted exactly, as F16C does).
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

template <int NH, int KB, class E>
__attribute__((target("avx512f,avx512dq,fma"))) void scores_avx512(const HeadChunk& c, std::int64_t j0, std::int64_t j1) {
  const int Dh = c.Dh;
  std::int64_t j = j0;
  for (; j + KB <= j1; j += KB) {
    const E* kr[KB];
    for (int b = 0; b < KB; ++b) kr[b] = c.krow<E>(j + b);
    __m512 a[NH][KB];
    for (int h = 0; h < NH; ++h)
      for (int b = 0; b < KB; ++b) a[h][b] = _mm512_setzero_ps();
    for (int d = 0; d < Dh; d += 16) {
      __m512 kv[KB];
      for (int b = 0; b < KB; ++b) kv[b] = load16(kr[b] + d);
      for (int h = 0; h < NH; ++h) {
        const __m512 qv = _mm512_loadu_ps(c.q[h] + d);
        for (int b = 0; b < KB; ++b) a[h][b] = _mm512_fmadd_ps(qv, kv[b], a[h][b]);
      }
    }
    for (int h = 0; h < NH; ++h)
      for (int b = 0; b < KB; ++b) c.s[h][j + b] = c.scale * _mm512_reduce_add_ps(a[h][b]);
  }
  for (; j < j1; ++j) {
    const E* kr = c.krow<E>(j);
    __m512 a[NH];
    for (int h = 0; h < NH; ++h) a[h] = _mm512_setzero_ps();
    for (int d = 0; d < Dh; d += 16) {
      const __m512 kv = load16(kr + d);
      for (int h = 0; h < NH; ++h) a[h] = _mm512_fmadd_ps(_mm512_loadu_ps(c.q[h] + d), kv, a[h]);
    }
    for (int h = 0; h < NH; ++h) c.s[h][j] = c.scale * _mm512_reduce_add_ps(a[h]);
  }
}

// Values: keys in blocks of kVBlock, so the V rows a block reads (kVBlock x Dh elements)
// stay in L1/L2 over the passes of its output-dim blocks; the accumulators go through o
// (L1) between key blocks (o starts at +0.0, so the first product is fma(p, v, +0) as a
// zeroed register would give).
template <int NH, class E>
__attribute__((target("avx512f,avx512dq,fma"))) void values_avx512(const HeadChunk& c, std::int64_t ja, std::int64_t jb) {
  const int Dh = c.Dh;
  constexpr std::int64_t kVBlock = 32;
  for (std::int64_t j0 = ja; j0 < jb; j0 += kVBlock) {
    const std::int64_t j1 = std::min(jb, j0 + kVBlock);
    int d0 = 0;
    for (; d0 + 64 <= Dh; d0 += 64) {
      __m512 o[NH][4];
      for (int h = 0; h < NH; ++h)
        for (int i = 0; i < 4; ++i) o[h][i] = _mm512_loadu_ps(c.o[h] + d0 + 16 * i);
      for (std::int64_t jj = j0; jj < j1; ++jj) {
        const E* vr = c.vrow<E>(jj) + d0;
        const __m512 v0 = load16(vr), v1 = load16(vr + 16), v2 = load16(vr + 32), v3 = load16(vr + 48);
        for (int h = 0; h < NH; ++h) {
          const __m512 p = _mm512_set1_ps(c.s[h][jj]);
          o[h][0] = _mm512_fmadd_ps(p, v0, o[h][0]);
          o[h][1] = _mm512_fmadd_ps(p, v1, o[h][1]);
          o[h][2] = _mm512_fmadd_ps(p, v2, o[h][2]);
          o[h][3] = _mm512_fmadd_ps(p, v3, o[h][3]);
        }
      }
      for (int h = 0; h < NH; ++h)
        for (int i = 0; i < 4; ++i) _mm512_storeu_ps(c.o[h] + d0 + 16 * i, o[h][i]);
    }
    for (; d0 < Dh; d0 += 16) {
      __m512 o[NH];
      for (int h = 0; h < NH; ++h) o[h] = _mm512_loadu_ps(c.o[h] + d0);
      for (std::int64_t jj = j0; jj < j1; ++jj) {
        const __m512 v = load16(c.vrow<E>(jj) + d0);
        for (int h = 0; h < NH; ++h) o[h] = _mm512_fmadd_ps(_mm512_set1_ps(c.s[h][jj]), v, o[h]);
      }
      for (int h = 0; h < NH; ++h) _mm512_storeu_ps(c.o[h] + d0, o[h]);
    }
  }
}
#pragma GCC diagnostic pop

const bool kHasAvx512Fma = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                           __builtin_cpu_supports("fma");
const bool kHasAvx2F16c = __builtin_cpu_supports("avx2") && cpu_has_f16c();

// Whether the AVX-512 form runs for this ISA and head dim (it reads f16 rows in place).
bool avx512_form(Isa isa, int Dh) { return isa == Isa::Avx512 && kHasAvx512Fma && Dh % 16 == 0; }
// Whether the AVX2 form runs (any ISA but Scalar, where the AVX-512 one does not).
bool avx2_form(Isa isa, int Dh) { return isa != Isa::Scalar && kHasAvx2F16c && !avx512_form(isa, Dh); }

enum class Pass { Scores, Values };

template <int NH>
void pass_isa(Isa isa, Pass pass, const HeadChunk& c, std::int64_t j0, std::int64_t j1) {
  constexpr int KB = NH >= 3 ? 2 : 8 / NH;
  if (avx512_form(isa, c.Dh)) {
    if (pass == Pass::Scores) {
      if (c.esize == 2) scores_avx512<NH, KB, std::uint16_t>(c, j0, j1);
      else scores_avx512<NH, KB, float>(c, j0, j1);
    } else {
      if (c.esize == 2) values_avx512<NH, std::uint16_t>(c, j0, j1);
      else values_avx512<NH, float>(c, j0, j1);
    }
  } else if (avx2_form(isa, c.Dh)) {
    constexpr int KB2 = NH >= 3 ? 2 : 4;  // NH x KB2 accumulators + KB2 rows + q: within 16 ymm
    if (c.esize == 2 && c.Dh % 8 != 0) throw std::logic_error("attention: the AVX2 form reads f16 rows of a multiple of 8");
    if (pass == Pass::Scores) {
      if (c.esize == 2) scores_avx2<NH, KB2, std::uint16_t>(c, j0, j1);
      else scores_avx2<NH, KB2, float>(c, j0, j1);
    } else {
      if (c.esize == 2) values_avx2<NH, std::uint16_t>(c, j0, j1);
      else values_avx2<NH, float>(c, j0, j1);
    }
  } else if (c.esize != 4) {
    throw std::logic_error("attention: the SSE2 form reads float rows");
  } else {
    if (pass == Pass::Scores) scores_sse2<NH>(c, j0, j1);
    else values_sse2<NH>(c, j0, j1);
  }
}

// One pass of the form of isa over keys [j0, j1) of the chunk's nh heads.
void pass_any(Isa isa, Pass pass, const HeadChunk& c, int nh, std::int64_t j0, std::int64_t j1) {
  if (j0 >= j1) return;
  switch (nh) {
    case 1: pass_isa<1>(isa, pass, c, j0, j1); break;
    case 2: pass_isa<2>(isa, pass, c, j0, j1); break;
    case 3: pass_isa<3>(isa, pass, c, j0, j1); break;
    default: pass_isa<4>(isa, pass, c, j0, j1); break;
  }
}

// Between the passes: softmax of each head's nk scores, o zeroed for the values pass.
void softmax_and_clear(const HeadChunk& c, int nh) {
  for (int h = 0; h < nh; ++h) {
    softmax(c.s[h], c.nk, kAttnExpFloor);
    std::fill(c.o[h], c.o[h] + c.Dh, 0.0f);
  }
}

}  // namespace

void attend_heads_isa(Isa isa, const AttnRows& r, float scale, int nh, const float* const* q, float* const* o,
                      std::int64_t key_block) {
  if (nh < 1 || nh > kHeadChunk) throw std::invalid_argument("attend_heads_isa: 1..4 heads");
  if (r.esize != 2 && r.esize != 4) throw std::invalid_argument("attend_heads_isa: elements of 2 or 4 bytes");
  std::vector<float> s(static_cast<std::size_t>(r.nk) * static_cast<std::size_t>(nh));
  HeadChunk c;
  c.Dh = r.Dh;
  c.esize = r.esize;
  c.nk = r.nk;
  c.n1 = std::min(r.n1, r.nk);
  c.stride = static_cast<std::int64_t>(r.Dh) * r.esize;
  c.k = static_cast<const std::uint8_t*>(r.k);
  c.v = static_cast<const std::uint8_t*>(r.v);
  c.k2 = static_cast<const std::uint8_t*>(r.k2);
  c.v2 = static_cast<const std::uint8_t*>(r.v2);
  c.scale = scale;
  for (int h = 0; h < nh; ++h) {
    c.q[h] = q[h];
    c.o[h] = o[h];
    c.s[h] = s.data() + static_cast<std::size_t>(h) * static_cast<std::size_t>(r.nk);
  }
  const std::int64_t kb = key_block > 0 ? key_block : std::max<std::int64_t>(1, r.nk);
  for (std::int64_t j = 0; j < r.nk; j += kb) pass_any(isa, Pass::Scores, c, nh, j, std::min(r.nk, j + kb));
  softmax_and_clear(c, nh);
  for (std::int64_t j = 0; j < r.nk; j += kb) pass_any(isa, Pass::Values, c, nh, j, std::min(r.nk, j + kb));
}

bool attention_reads_f16(Isa isa, int head_dim) {
  return avx512_form(isa, head_dim) || (avx2_form(isa, head_dim) && head_dim % 8 == 0);
}

void Forward::attention(int il, int T, const float* h, float* out) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const AttnSpec& as = m_.attn(il);
  const int H = as.n_head, Hkv = as.n_head_kv, Dh = as.head_dim;
  const bool owns = m_.owns_kv(il);

  const std::int64_t nq = static_cast<std::int64_t>(T) * H * Dh;
  float* q = grow(buf_q_, nq);  // [T, H, Dh] (forward.h: kept across layers and steps)
  mm(op::kAttnQ, il, lw.wq, h, T, q);
  norm(il, q, static_cast<std::int64_t>(T) * H, Dh, lw.q_norm);

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

  // Per sequence (one, or each segment of a batched step): RoPE at its positions, its KV
  // cache, its attention. Then the output projection over every row at once.
  float* o = grow(buf_o_, nq);  // [T, H, Dh]
  const std::size_t qrow = static_cast<std::size_t>(H) * Dh, kvrow = static_cast<std::size_t>(Hkv) * Dh;
  if (!segs_) {
    rope_store_attend(il, T, q, owns ? k.data() : nullptr, owns ? v.data() : nullptr, o);
  } else {
    for (const Segment& sg : *segs_) {
      const std::size_t r0 = static_cast<std::size_t>(sg.row0);
      sg.f->rope_store_attend(il, sg.T, q + r0 * qrow, owns ? k.data() + r0 * kvrow : nullptr,
                              owns ? v.data() + r0 * kvrow : nullptr, o + r0 * qrow);
    }
  }
  mm(op::kAttnOut, il, lw.wo, o, T, out);
}

// One sequence's part of a layer's attention: RoPE on its T query (and key) rows at positions
// pos_..pos_+T-1, its keys and values into its cache (k null: a KV-shared layer), attention.
void Forward::rope_store_attend(int il, int T, float* q, float* k, float* v, float* o) {
  const AttnSpec& as = m_.attn(il);
  const int H = as.n_head, Hkv = as.n_head_kv, Dh = as.head_dim;
  const bool owns = k != nullptr;
  const int pairs = rope_pairs(Dh, as.rope_fraction);
  {
    auto t0 = std::chrono::steady_clock::now();
    const RopeTable& rt = rope_table(Dh, pairs, as.rope_theta, T);
    for (int t = 0; t < T; ++t) {
      const float* cs = rt.cs.data() + static_cast<std::size_t>(t) * pairs;
      const float* sn = rt.sn.data() + static_cast<std::size_t>(t) * pairs;
      for (int hh = 0; hh < H; ++hh) rope_head(&q[(static_cast<std::size_t>(t) * H + hh) * Dh], Dh, pairs, cs, sn);
      if (owns)
        for (int g = 0; g < Hkv; ++g) rope_head(&k[(static_cast<std::size_t>(t) * Hkv + g) * Dh], Dh, pairs, cs, sn);
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
  attend(il, T, q, o);
}

const Forward::RopeTable& Forward::rope_table(int Dh, int pairs, double theta, int T) {
  RopeTable* r = nullptr;  // the slot of this (Dh, pairs, theta), else a new one
  for (RopeTable& x : rope_tables_)
    if (x.Dh == Dh && x.pairs == pairs && x.theta == theta) r = &x;
  if (r && r->pos == pos_ && r->T == T) return *r;
  if (!r) r = &rope_tables_.emplace_back();
  r->Dh = Dh;
  r->pairs = pairs;
  r->theta = theta;
  r->pos = pos_;
  r->T = T;
  r->cs.resize(static_cast<std::size_t>(T) * pairs);
  r->sn.resize(r->cs.size());
  for (int t = 0; t < T; ++t)
    rope_angles(Dh, pairs, theta, pos_ + t, r->cs.data() + static_cast<std::size_t>(t) * pairs, r->sn.data() + static_cast<std::size_t>(t) * pairs);
  return *r;
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
  // Where the K and V rows come from (slot for slot as the cache: [slot][Hkv][Dh], position
  // p in slot p % capacity):
  //   the cache itself, when it holds floats or the AVX-512 / AVX2 form converts its f16 rows
  //   in registers (KV-shared layers read their source layer's cache);
  //   else a float mirror per KV-owning layer that converts only the positions stored since
  //   its last call; when a mirror would exceed kKvFloatBudget bytes (slots x Hkv x Dh x 4 x
  //   2), one reused buffer of the positions a call reads ([n][Hkv][Dh]), every call.
  const int src = m_.kv_source[static_cast<std::size_t>(il)];
  const Isa isa = active_isa();
  const std::int64_t cap = cache.capacity(), rowe = static_cast<std::int64_t>(Hkv) * Dh;
  const bool direct = cache.type() == KvCacheType::F32 || attention_reads_f16(isa, Dh);
  const bool keep = !direct && 2 * cap * rowe * 4 <= kKvFloatBudget;
  thread_local std::vector<float> kbuf, vbuf;
  std::int64_t conv_from = first, conv_to = pos_ + T;  // positions to convert now
  const std::uint8_t *kb, *vb;  // row 0
  int esize = 4;
  std::int64_t base = 0, slots = cap;  // ring: row p % slots; per-call buffer: row p - base
  if (direct) {
    kb = cache.k_data();
    vb = cache.v_data();
    esize = kv_type_bytes(cache.type());
    conv_to = conv_from;
  } else if (keep) {
    KvFloat& kc = kv_float_[static_cast<std::size_t>(src)];
    const std::int64_t need = std::min(cap, pos_ + T);
    if (static_cast<std::int64_t>(kc.k.size()) < need * rowe) {
      kc.k.resize(static_cast<std::size_t>(need * rowe));
      kc.v.resize(kc.k.size());
    }
    conv_from = std::max({first, kc.upto, pos_ + T - cap});
    kc.upto = std::max(kc.upto, pos_ + T);
    kb = reinterpret_cast<const std::uint8_t*>(kc.k.data());
    vb = reinterpret_cast<const std::uint8_t*>(kc.v.data());
  } else {
    kbuf.resize(static_cast<std::size_t>(n * rowe));
    vbuf.resize(kbuf.size());
    kb = reinterpret_cast<const std::uint8_t*>(kbuf.data());  // pointers, not the thread_local names,
    vb = reinterpret_cast<const std::uint8_t*>(vbuf.data());  // inside the parallel region
    base = first;
    slots = 0;
  }
  float* kf = const_cast<float*>(reinterpret_cast<const float*>(kb));  // conversion targets (mirror, buffer)
  float* vf = const_cast<float*>(reinterpret_cast<const float*>(vb));
  auto row_of = [&](std::int64_t p) { return slots > 0 ? p % slots : p - base; };
  const std::int64_t stride = rowe * esize;  // bytes between rows
  // Work items: (block of up to kTokenBlock tokens, kv head, chunk of up to kHeadChunk query
  // heads of that kv head). The heads of a chunk share each K and V row load (the forms
  // above); the tokens of a block share each block of kKeyBlockBytes of K (then of V) rows
  // while it is in L1/L2: keys in blocks outside, tokens inside, so a prefill at depth reads
  // its K and V from memory once per item instead of once per token (a token-by-token loop
  // reads a deep cache T times per chunk, from L3 or DRAM).
  const int chunks = (group + kHeadChunk - 1) / kHeadChunk;
  const std::int64_t tblocks = (T + kTokenBlock - 1) / kTokenBlock;
  const std::int64_t items = tblocks * Hkv * chunks;
  const std::int64_t kblock = o_.attn_key_block > 0 ? o_.attn_key_block
                                                    : std::max<std::int64_t>(16, kKeyBlockBytes / (static_cast<std::int64_t>(Dh) * esize));
  const bool par = static_cast<std::int64_t>(T) * H * n * Dh >= 32768;  // one region per layer, when worth it
  const std::int64_t nconv = std::max<std::int64_t>(0, conv_to - conv_from), rows = static_cast<std::int64_t>(Hkv) * nconv;
#pragma omp parallel if (par)
  {
    std::vector<float> sbuf;  // scores of the block's queries (per thread)
    if (rows > 0) {
#pragma omp for schedule(static)
      for (std::int64_t gj = 0; gj < rows; ++gj) {
        const int g = static_cast<int>(gj % Hkv);
        const std::int64_t p = conv_from + gj / Hkv;
        const std::size_t at = static_cast<std::size_t>(row_of(p) * rowe + static_cast<std::int64_t>(g) * Dh);
        cache.read_k(p, g, kf + at);
        cache.read_v(p, g, vf + at);
      }
    }
#pragma omp for schedule(static)
    for (std::int64_t it = 0; it < items; ++it) {
      const int tb = static_cast<int>(it / (static_cast<std::int64_t>(Hkv) * chunks));
      const int g = static_cast<int>(it / chunks % Hkv), c = static_cast<int>(it % chunks);
      const int h0 = g * group + c * kHeadChunk, nh = std::min(kHeadChunk, group - c * kHeadChunk);
      const int t0 = tb * kTokenBlock, nt = std::min(kTokenBlock, T - t0);
      HeadChunk hc[kTokenBlock];
      std::int64_t lo[kTokenBlock] = {}, need = 0;
      for (int i = 0; i < nt; ++i) {
        const std::int64_t p = pos_ + t0 + i;
        lo[i] = W > 0 ? std::max<std::int64_t>(0, p - W + 1) : 0;
        need += (p - lo[i] + 1) * nh;
      }
      sbuf.resize(static_cast<std::size_t>(need));
      float* sp = sbuf.data();
      for (int i = 0; i < nt; ++i) {
        const int t = t0 + i;
        const std::int64_t p = pos_ + t, nk = p - lo[i] + 1;
        HeadChunk& x = hc[i];
        x.Dh = Dh;
        x.esize = esize;
        x.nk = nk;
        x.stride = stride;
        // rows lo..p: contiguous up to the end of the ring, then from its start
        const std::int64_t r0 = row_of(lo[i]), head = static_cast<std::int64_t>(g) * Dh * esize;
        x.n1 = slots > 0 ? std::min(nk, slots - r0) : nk;
        x.k = kb + r0 * stride + head;
        x.v = vb + r0 * stride + head;
        x.k2 = kb + head;
        x.v2 = vb + head;
        x.scale = scale;
        for (int h = 0; h < nh; ++h) {
          x.q[h] = q + (static_cast<std::size_t>(t) * H + h0 + h) * Dh;
          x.o[h] = o + (static_cast<std::size_t>(t) * H + h0 + h) * Dh;
          x.s[h] = sp;
          sp += nk;
        }
      }
      // Positions [a, a + kblock) for every token of the block, in its own key indices
      // (key j of token i is position lo[i] + j); the form of the active kernel ISA
      // (GEMMASIM_ISA / set_isa, so tests can compare them).
      const std::int64_t first_pos = lo[0], end_pos = pos_ + t0 + nt;
      for (std::int64_t a = first_pos; a < end_pos; a += kblock)
        for (int i = 0; i < nt; ++i)
          pass_any(isa, Pass::Scores, hc[i], nh, std::max<std::int64_t>(0, a - lo[i]), std::min(hc[i].nk, a + kblock - lo[i]));
      for (int i = 0; i < nt; ++i) softmax_and_clear(hc[i], nh);
      for (std::int64_t a = first_pos; a < end_pos; a += kblock)
        for (int i = 0; i < nt; ++i)
          pass_any(isa, Pass::Values, hc[i], nh, std::max<std::int64_t>(0, a - lo[i]), std::min(hc[i].nk, a + kblock - lo[i]));
    }
  }

  // Counts by the rule in counters.h (scores, softmax and values share the measured time).
  const std::int64_t S = attn_keys_seen<std::int64_t>(pos_, T, W);
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
