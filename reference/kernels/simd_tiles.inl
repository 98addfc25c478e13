// simd_tiles.inl: the 256-bit integer and float tiles, compiled twice: by
// dot_avx2.cpp (AVX2 + FMA + F16C: maddubs/madd) and by dot_avx512.cpp (the same
// 256-bit code with AVX-512 VL + VNNI's vpdpbusd, which needs no int16 step).
// Everything here has internal linkage so the two compilations never mix.
//
// Integer formats follow kernels.h's canonical summation exactly: per block an
// exact int32 dot product (8 blocks reduced at once into the 8 lanes of one
// vector), then c = (dw*dx)*float(isum) with separate multiplies, added to an
// 8-lane float accumulator in block order, reduced by reduce8's tree.
// A tile runs 1 weight row x up to 4 tokens at a time, so each weight block is
// loaded and unpacked once per 4 tokens.
#include <immintrin.h>

#include <cstring>

#include "fp16.h"
#include "formats.h"
#include "kernels.h"

namespace gs::ref {
namespace {

constexpr int kTok = 4;  // tokens per micro-kernel

// acc + sum over groups of 4 of u8(u) * s8(s), as 8 int32 lanes (lane i: bytes 4i..4i+3).
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if defined(GS_VNNI)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  const __m256i p16 = _mm256_maddubs_epi16(u, s);  // no saturation: callers keep |u*s*2| < 32768
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
#endif
}

// Lane b of the result = sum of the 8 lanes of v[b].
inline __m256i reduce_8x8(const __m256i v[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i a = _mm256_hadd_epi32(h01, h23);
  const __m256i b = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// reduce8's tree on a vector: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)).
inline float reduce8_ps(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // a0+a4 a1+a5 a2+a6 a3+a7
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// ---- Q4_0 / Q8_0 x ActQ8 -----------------------------------------------------

// Unpack one Q4_0 block's 32 weights to u8 0..15 in weight order.
inline __m256i unpack_q4_0(const BlockQ4_0& b) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

template <bool Q8>
void row_q_legacy(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  const std::int64_t nb = n / kQK;
  __m256 acc[kTok];
  for (int t = 0; t < kTok; ++t) acc[t] = _mm256_setzero_ps();
  alignas(32) float dw[8];
  for (std::int64_t b0 = 0; b0 < nb; b0 += 8) {
    const int cnt = static_cast<int>(std::min<std::int64_t>(8, nb - b0));
    __m256i wu[8], ws[8];  // unsigned weights (Q4_0: q, Q8_0: |q|) and, for Q8_0, the signs
    for (int k = 0; k < 8; ++k) {
      if (k < cnt) {
        if constexpr (Q8) {
          const auto& blk = reinterpret_cast<const BlockQ8_0*>(w)[b0 + k];
          const __m256i q = load32(blk.qs);
          wu[k] = _mm256_abs_epi8(q);
          ws[k] = q;
          dw[k] = fp16_to_f32(blk.d);
        } else {
          const auto& blk = reinterpret_cast<const BlockQ4_0*>(w)[b0 + k];
          wu[k] = unpack_q4_0(blk);
          dw[k] = fp16_to_f32(blk.d);
        }
      } else {
        wu[k] = ws[k] = _mm256_setzero_si256();
        dw[k] = 0.0f;
      }
    }
    const __m256 dwv = _mm256_load_ps(dw);
    for (int t = 0; t < nt; ++t) {
      const ActQ8* xb = reinterpret_cast<const ActQ8*>(xs[t]) + b0;
      __m256i v[8];
      alignas(32) float dx[8];
      alignas(32) std::int32_t sx[8];
      for (int k = 0; k < 8; ++k) {
        if (k < cnt) {
          const __m256i x = load32(xb[k].qs);
          v[k] = dot_u8s8(_mm256_setzero_si256(), wu[k], Q8 ? _mm256_sign_epi8(x, ws[k]) : x);
          dx[k] = xb[k].d;
          sx[k] = xb[k].sum;
        } else {
          v[k] = _mm256_setzero_si256();
          dx[k] = 0.0f;
          sx[k] = 0;
        }
      }
      __m256i isum = reduce_8x8(v);
      if constexpr (!Q8) isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(sx)), 3));
      const __m256 s = _mm256_mul_ps(dwv, _mm256_load_ps(dx));
      acc[t] = _mm256_add_ps(acc[t], no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum))));
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8_ps(acc[t]);
}

// ---- Q4_K x ActQ8K ------------------------------------------------------------

void row_q4_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  const auto* wb = reinterpret_cast<const BlockQ4_K*>(w);
  float acc[kTok][8] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    __m256i wq[8];  // sub-block j, u8 0..15
    for (int i = 0; i < 4; ++i) {
      const __m256i q = load32(wb[b].qs + 32 * i);
      wq[2 * i] = _mm256_and_si256(q, m4);
      wq[2 * i + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    alignas(32) std::int32_t sc[8];
    int mn[8];
    for (int j = 0; j < 8; ++j) fmt::q4k_scale_min(j, wb[b].scales, sc[j], mn[j]);
    const __m256i scv = _mm256_load_si256(reinterpret_cast<const __m256i*>(sc));
    const float d = fp16_to_f32(wb[b].d), dmin = fp16_to_f32(wb[b].dmin);
    for (int t = 0; t < nt; ++t) {
      const ActQ8K& xb = reinterpret_cast<const ActQ8K*>(xs[t])[b];
      __m256i v[8];
      for (int j = 0; j < 8; ++j) v[j] = dot_u8s8(_mm256_setzero_si256(), wq[j], load32(xb.qs + 32 * j));
      const int sumi = hsum_epi32(_mm256_mullo_epi32(reduce_8x8(v), scv));
      int summ = 0;
      for (int j = 0; j < 8; ++j) summ += mn[j] * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
      const float sd = xb.d * d;
      const float sm = xb.d * dmin;
      const float c = no_fma(sd * static_cast<float>(sumi)) - no_fma(sm * static_cast<float>(summ));
      acc[t][b % 8] += c;
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8(acc[t]);
}

// ---- Q6_K x ActQ8K ------------------------------------------------------------

void row_q6_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  float acc[kTok][8] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    __m256i wq[8];   // 32 weights each, u8 0..63, in weight order
    __m256i scv[8];  // int32 scales matching dot_u8s8's lanes: groups 2k (lanes 0-3), 2k+1 (lanes 4-7)
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load32(wb[b].ql + 64 * h), ql1 = load32(wb[b].ql + 64 * h + 32);
      const __m256i qh = load32(wb[b].qh + 32 * h);
      wq[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      wq[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      wq[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      wq[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
    const std::int8_t* s = wb[b].scales;
    for (int k = 0; k < 8; ++k) {
      const int a = s[2 * k], c = s[2 * k + 1];
      scv[k] = _mm256_setr_epi32(a, a, a, a, c, c, c, c);
    }
    const float d = fp16_to_f32(wb[b].d);
    for (int t = 0; t < nt; ++t) {
      const ActQ8K& xb = reinterpret_cast<const ActQ8K*>(xs[t])[b];
      __m256i tot = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        tot = _mm256_add_epi32(tot, _mm256_mullo_epi32(dot_u8s8(_mm256_setzero_si256(), wq[k], load32(xb.qs + 32 * k)), scv[k]));
      }
      int off = 0;
      for (int g = 0; g < 16; ++g) off += s[g] * xb.bsums[g];
      const int sumi = hsum_epi32(tot) - 32 * off;
      const float sd = xb.d * d;
      acc[t][b % 8] += no_fma(sd * static_cast<float>(sumi));
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8(acc[t]);
}

// ---- float formats (any order; FMA) --------------------------------------------

inline __m256 load_w8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load_w8(const std::uint16_t* p, bool bf16) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (!bf16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <int Kind>  // 0 f32, 1 f16, 2 bf16
void row_float(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  __m256 acc[kTok][2];
  for (int t = 0; t < kTok; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  const std::int64_t n16 = n / 16 * 16;
  auto wload = [&](std::int64_t i) {
    if constexpr (Kind == 0) return load_w8(reinterpret_cast<const float*>(w) + i);
    else return load_w8(reinterpret_cast<const std::uint16_t*>(w) + i, Kind == 2);
  };
  for (std::int64_t i = 0; i < n16; i += 16) {
    const __m256 w0 = wload(i), w1 = wload(i + 8);
    for (int t = 0; t < nt; ++t) {
      const float* x = reinterpret_cast<const float*>(xs[t]);
      acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc[t][1]);
    }
  }
  for (int t = 0; t < nt; ++t) {
    float s = reduce8_ps(_mm256_add_ps(acc[t][0], acc[t][1]));
    const float* x = reinterpret_cast<const float*>(xs[t]);
    for (std::int64_t i = n16; i < n; ++i) {
      float wi;
      if constexpr (Kind == 0) wi = reinterpret_cast<const float*>(w)[i];
      else if constexpr (Kind == 1) wi = fp16_to_f32(reinterpret_cast<const std::uint16_t*>(w)[i]);
      else wi = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(w)[i]);
      s += wi * x[i];
    }
    out[t] = s;
  }
}

// ---- tiles ----------------------------------------------------------------------

using RowFn = void (*)(std::int64_t, const std::uint8_t*, const std::uint8_t* const*, int, float*);

template <RowFn Row>
void tile(const Tile& k) {
  for (int r = 0; r < k.nr; ++r) {
    const std::uint8_t* w = k.w + r * k.w_stride;
    for (int t0 = 0; t0 < k.nt; t0 += kTok) {
      const int nt = std::min(kTok, k.nt - t0);
      const std::uint8_t* xs[kTok];
      for (int t = 0; t < nt; ++t) xs[t] = k.x + (t0 + t) * k.x_stride;
      float out[kTok];
      Row(k.n, w, xs, nt, out);
      for (int t = 0; t < nt; ++t) k.y[(t0 + t) * k.y_stride + r] = out[t];
    }
  }
}

const IsaKernels& simd_kernels() {
  static const IsaKernels k{tile<row_float<0>>,          tile<row_float<1>>,         tile<row_float<2>>,
                            tile<row_q_legacy<true>>,    tile<row_q_legacy<false>>,  tile<row_q4_k>,
                            tile<row_q6_k>};
  return k;
}

}  // namespace
}  // namespace gs::ref
