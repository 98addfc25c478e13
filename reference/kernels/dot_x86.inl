// dot_x86.inl: the 256-bit integer and float tiles, compiled twice: by
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

#include <cstdlib>
#include <cstring>

#include "fp16.h"
#include "formats.h"
#include "kernels.h"

// GCC 12 reports the zero-initialised 8-lane accumulators as maybe-uninitialised
// after inlining reduce8, and its own AVX-512 insert/extract intrinsics as using an
// uninitialised value (false positives); silence them for this file only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"




namespace gs::ref {
namespace {

constexpr int kTok = 8;  // tokens per micro-kernel

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

// Decode streams every weight once from DRAM, and the hardware prefetcher alone does not keep
// one core's stream full: a software prefetch 2 KiB ahead of the bytes being read roughly
// doubles it on AVX2 cores (512 B ahead: no better; 4 KiB: less). The AVX-512 build prefetches
// the interleaved Q4_0 stream only, 8 KiB ahead: a prefetch of the Q8_0 rows cost time and of
// the K-quant rows gained nothing there, and a prefetch in the row kernels made the decode step
// slower (docs/performance.md has the measurements).
// Per stream kind (Pf): the interleaved Q4_0 tile, the Q4_0 / Q8_0 rows in GGUF order, the
// K-quant rows. A build with GS_PREFETCH_RUNTIME reads the distances from GS_PF_Q4X16,
// GS_PF_ROW, GS_PF_K and the far ones from GS_PF_*_FAR (bytes; 0: none), for bench_decode
// sweeps; other builds fold them. Such a build also runs Q6_K in GGUF order when GS_NO_Q6X16 is
// set (simd_kernels: for A/B runs of the AVX2 16-row Q6_K tile).
// A second, far prefetch (to L2 / L3: _MM_HINT_T2) runs ahead of the near one (to L1) where
// kPrefetchFar is set: E2B's decode sweep (bench_kernels --gguf, every matrix once) streams
// faster with a far prefetch 32 KiB ahead than with the 8 KiB one alone (16 to 128 KiB do
// about as well); a far prefetch with _MM_HINT_T1 instead, or the near one on every other
// line, streamed far slower (docs/performance.md).
enum class Pf { Q4x16, Row, K, Kx16 };
#if defined(GS_AVX512)
constexpr std::size_t kPrefetchDefault[4] = {8192, 0, 0, 8192};
constexpr std::size_t kPrefetchFar[4] = {32768, 0, 0, 32768};
#else
// The AVX2 interleaved Q4_0 tile: a far prefetch 8 KiB ahead as well (E2B decode a few percent
// faster in alternating runs of a GS_PREFETCH_RUNTIME build; farther distances lose it again; a
// far prefetch of the K-quant rows (the Q6_K output head) or of the GGUF-order rows gained
// nothing; docs/performance.md).
constexpr std::size_t kPrefetchDefault[4] = {2048, 2048, 2048, 0};
constexpr std::size_t kPrefetchFar[4] = {8192, 0, 0, 0};
#endif
template <Pf P, bool Far = false>
inline std::size_t prefetch_distance() {
  constexpr int i = static_cast<int>(P);
#if defined(GS_PREFETCH_RUNTIME)
  static const std::size_t d = [] {
    const char* names[2][4] = {{"GS_PF_Q4X16", "GS_PF_ROW", "GS_PF_K", "GS_PF_KX16"},
                               {"GS_PF_Q4X16_FAR", "GS_PF_ROW_FAR", "GS_PF_K_FAR", "GS_PF_KX16_FAR"}};
    const char* e = std::getenv(names[Far][i]);
    return e ? static_cast<std::size_t>(std::strtoul(e, nullptr, 10)) : (Far ? kPrefetchFar[i] : kPrefetchDefault[i]);
  }();
  return d;
#else
  return Far ? kPrefetchFar[i] : kPrefetchDefault[i];
#endif
}
template <Pf P, std::size_t Bytes>
inline void prefetch_ahead(const void* p) {  // the lines of [p, p + Bytes), the distance later
  const std::size_t d = prefetch_distance<P>(), far = prefetch_distance<P, true>();
  const char* c = static_cast<const char*>(p);
  if (d != 0)
    for (std::size_t o = 0; o < Bytes; o += 64) _mm_prefetch(c + d + o, _MM_HINT_T0);
  if (far != 0)
    for (std::size_t o = 0; o < Bytes; o += 64) _mm_prefetch(c + far + o, _MM_HINT_T2);
}

// ---- Q4_0 / Q8_0 x Q8 activations ----------------------------------------------

template <class B>
inline __m256 scales8(const B* b) {  // the 8 blocks' f16 scales as floats (F16C: exact)
  return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(b[0].d), static_cast<short>(b[1].d), static_cast<short>(b[2].d),
                                        static_cast<short>(b[3].d), static_cast<short>(b[4].d), static_cast<short>(b[5].d),
                                        static_cast<short>(b[6].d), static_cast<short>(b[7].d)));
}

// 8 consecutive blocks of one weight row against nt tokens (xq: the tokens' 256
// quants, xd / xsum: their 8 scales and sums); adds c_b to acc lane b.
// NT (tokens) is a compile-time constant so the accumulators stay in registers
// (a runtime count kept acc[] on the stack: a store-forwarding chain per group).
#if defined(GS_AVX512)
// 512-bit forms (AVX-512 BW + DQ + VNNI). Weight bytes are gathered with word
// permutes (Q4_0 blocks are 18 bytes: every block's nibbles and scale start at an
// even offset), never reading past the group.

inline __m512i load64(const void* p) { return _mm512_loadu_si512(p); }

// Q8_0, 8 blocks: d[p] (p < 4) holds blocks 2p (128-bit lanes 0, 1) and 2p+1 (lanes
// 2, 3) -> per-block int32 sums of blocks 0..7 in block order.
inline __m256i reduce_q8_pairs(const __m512i d[4]) {
  constexpr int kA = _MM_SHUFFLE(2, 0, 2, 0), kB = _MM_SHUFFLE(3, 1, 3, 1);
  // s01 / s23: 128-bit lane k = the 4 partial sums of block k (blocks 0-3 / 4-7)
  const __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i64x2(d[0], d[1], kA), _mm512_shuffle_i64x2(d[0], d[1], kB));
  const __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i64x2(d[2], d[3], kA), _mm512_shuffle_i64x2(d[2], d[3], kB));
  // lane k: [A0+A2, B0+B2, A1+A3, B1+B3] (A block k, B block k+4)
  const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi32(s01, s23), _mm512_unpackhi_epi32(s01, s23));
  const __m512i v = _mm512_add_epi32(u, _mm512_shuffle_epi32(u, _MM_PERM_BADC));  // element 4k: block k, 4k+1: k+4
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castsi512_si256(_mm512_permutexvar_epi32(idx, v));
}

template <int NT>
inline void group8_q8(const std::uint8_t* w, const std::int8_t* const* xq, const float* const* xd,
                      const std::int32_t* const* xsum, __m256* acc) {
  __m512i wv[4];
  // Block k: scale at byte 34k, quants at 34k+2: blocks 2p, 2p+1 in one vector.
  // Offset the weights by 128 (u8) for vpdpbusd; c = sum (w+128)*x - 128*sum(x).
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int p = 0; p < 4; ++p) {
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(load32(w + 68 * p + 2)), load32(w + 68 * p + 36), 1);
    wv[p] = _mm512_xor_si512(q, bias);
  }
  // scales at bytes 0,34,...,238: words 0,17,34,51 of [0,128) and 68,85,102,119 of
  // [128,240) (loaded as [128,192) and [176,240)).
  const __m512i ia = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 + 19, 32 + 2, 17, 0);
  const __m512i ib = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                      0, 0, 0, 0, 0, 0, 0, 0, 32 + 31, 32 + 14, 21, 4, 0, 0, 0, 0);
  const __m512i sa = _mm512_permutex2var_epi16(load64(w), ia, load64(w + 64));
  const __m512i sb = _mm512_permutex2var_epi16(load64(w + 128), ib, load64(w + 176));
  const __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_mask_blend_epi16(0xF0, sa, sb)));
  for (int t = 0; t < NT; ++t) {
    __m512i d[4];
    for (int p = 0; p < 4; ++p) d[p] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv[p], load64(xq[t] + 64 * p));
    const __m256i isum = _mm256_sub_epi32(reduce_q8_pairs(d), _mm256_slli_epi32(load32(xsum[t]), 7));
    const __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(xd[t]));
    acc[t] = _mm256_add_ps(acc[t], no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum))));
  }
}

// Q4_0 in groups of 8 or 16 blocks (NQ = 2 or 4 quads). Block k of a group is bytes
// [18k, 18k+18): scale word 9k, nibbles words 9k+1..9k+8. Quad q gathers as one vector
// [qs_4q | qs_4q+1 | qs_4q+2 | qs_4q+3]: its low nibbles and its high nibbles are the two
// 64-byte halves of the quad in the Q8P layout, so one int32 lane accumulates 8
// products of one block and 128-bit lane k of the quad's sum belongs to block 4q+k.
// Tables: two 64-byte loads each, at the byte offsets kQ4Tab (last table of a group
// ends at the group's end).
struct Q4Perm {
  alignas(64) short quad[2][4][32];  // [NQ == 4][quad] word indices
  alignas(64) short scale_a[32];     // blocks 0..7 from the table at byte 0 (words 0..7)
  alignas(64) short scale_b[32];     // blocks 8..15 from [144,208), [208,272) (words 8..15)
};
// Byte offsets of the two 64-byte loads of each quad's table.
constexpr int kQ4Tab[2][4][2] = {{{0, 64}, {64, 80}, {0, 0}, {0, 0}}, {{0, 64}, {64, 128}, {128, 192}, {192, 224}}};
constexpr Q4Perm make_q4_perm() {
  Q4Perm r{};
  for (int g = 0; g < 2; ++g)
    for (int q = 0; q < (g ? 4 : 2); ++q)
      for (int j = 0; j < 4; ++j)
        for (int e = 0; e < 8; ++e) {
          const int word = 9 * (4 * q + j) + 1 + e, a = kQ4Tab[g][q][0] / 2, b = kQ4Tab[g][q][1] / 2;
          r.quad[g][q][8 * j + e] = static_cast<short>(word < a + 32 ? word - a : 32 + word - b);
        }
  for (int k = 0; k < 8; ++k) {
    r.scale_a[k] = static_cast<short>(9 * k);
    r.scale_b[8 + k] = static_cast<short>(9 * k);  // word 72+9k - 72 (< 32) or 32 + (72+9k) - 104: both 9k
  }
  return r;
}
constexpr Q4Perm kQ4Perm = make_q4_perm();

template <int NQ, int NT>
inline void group_q4(const std::uint8_t* w, const std::int8_t* const* xq, const float* const* xd,
                     const std::int32_t* const* xsum, __m256* acc) {
  constexpr int G = NQ == 4;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512i lo[NQ], hi[NQ];
  for (int q = 0; q < NQ; ++q) {
    const __m512i v = _mm512_permutex2var_epi16(load64(w + kQ4Tab[G][q][0]), load64(kQ4Perm.quad[G][q]),
                                                load64(w + kQ4Tab[G][q][1]));
    lo[q] = _mm512_and_si512(v, m4);
    hi[q] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
  }
  const __m512i sa = _mm512_permutex2var_epi16(load64(w), load64(kQ4Perm.scale_a), load64(w + 64));
  for (int t = 0; t < NT; ++t) {
    __m512i d[NQ];
    for (int q = 0; q < NQ; ++q) {
      d[q] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[q], load64(xq[t] + 128 * q)), hi[q],
                                 load64(xq[t] + 128 * q + 64));
    }
    // e01 lane k: [d0k0+d0k2, d1k0+d1k2, d0k1+d0k3, d1k1+d1k3]
    const __m512i e01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]), _mm512_unpackhi_epi32(d[0], d[1]));
    if constexpr (NQ == 4) {
      const __m512i e23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]), _mm512_unpackhi_epi32(d[2], d[3]));
      // element 4k+j: block 4j+k
      const __m512i f = _mm512_add_epi32(_mm512_unpacklo_epi64(e01, e23), _mm512_unpackhi_epi64(e01, e23));
      const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
      __m512i isum = _mm512_permutexvar_epi32(idx, f);
      isum = _mm512_sub_epi32(isum, _mm512_slli_epi32(load64(xsum[t]), 3));  // q-8: remove 8*sum(x)
      const __m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_mask_blend_epi16(
          0xFF00, sa, _mm512_permutex2var_epi16(load64(w + 144), load64(kQ4Perm.scale_b), load64(w + 208)))));
      const __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(xd[t]));
      const __m512 c = no_fma(_mm512_mul_ps(s, _mm512_cvtepi32_ps(isum)));
      acc[t] = _mm256_add_ps(acc[t], _mm512_castps512_ps256(c));  // blocks 0..7, then 8..15
      acc[t] = _mm256_add_ps(acc[t], _mm512_castps512_ps256(_mm512_shuffle_f32x4(c, c, _MM_SHUFFLE(3, 2, 3, 2))));
    } else {
      const __m512i v = _mm512_add_epi32(e01, _mm512_shuffle_epi32(e01, _MM_PERM_BADC));  // 4k: block k, 4k+1: k+4
      const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
      __m256i isum = _mm512_castsi512_si256(_mm512_permutexvar_epi32(idx, v));
      isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(load32(xsum[t]), 3));
      const __m256 dw = _mm256_cvtph_ps(_mm512_castsi512_si128(sa));
      const __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(xd[t]));
      acc[t] = _mm256_add_ps(acc[t], no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum))));
    }
  }
}

template <bool Q8, int NT>
inline void group8(const std::uint8_t* w, const std::int8_t* const* xq, const float* const* xd,
                   const std::int32_t* const* xsum, __m256* acc) {
  if constexpr (Q8) group8_q8<NT>(w, xq, xd, xsum, acc);
  else group_q4<2, NT>(w, xq, xd, xsum, acc);
}
#else
template <bool Q8, int NT>
inline void group8(const std::uint8_t* w, const std::int8_t* const* xq, const float* const* xd,
                   const std::int32_t* const* xsum, __m256* acc) {
  constexpr int nt = NT;
  __m256i wu[8], ws[8];
  __m256 dw;
  if constexpr (Q8) {
    const auto* b = reinterpret_cast<const BlockQ8_0*>(w);
    for (int k = 0; k < 8; ++k) {
      ws[k] = load32(b[k].qs);
      wu[k] = _mm256_abs_epi8(ws[k]);
    }
    dw = scales8(b);
  } else {
    // Q4_0: two blocks per vector: [qs_2p | qs_2p+1] -> low nibbles (weights 0..15 of
    // both) and high nibbles (16..31), matching the Q8P activation order.
    const auto* b = reinterpret_cast<const BlockQ4_0*>(w);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int p = 0; p < 4; ++p) {
      const __m256i q = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(b[2 * p + 1].qs),
                                            reinterpret_cast<const __m128i*>(b[2 * p].qs));
      wu[2 * p] = _mm256_and_si256(q, m4);
      wu[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    dw = scales8(b);
  }
  for (int t = 0; t < nt; ++t) {
    __m256i isum;
    if constexpr (Q8) {
      __m256i v[8];
      for (int k = 0; k < 8; ++k) {
        const __m256i x = load32(xq[t] + 32 * k);
        v[k] = dot_u8s8(_mm256_setzero_si256(), wu[k], _mm256_sign_epi8(x, ws[k]));
      }
      isum = reduce_8x8(v);
    } else {
      __m256i v[4];  // lanes 0-3: block 2p, lanes 4-7: block 2p+1
      for (int p = 0; p < 4; ++p) {
        const std::int8_t* x = xq[t] + 128 * (p / 2) + 32 * (p % 2);  // Q8P: low halves, then high halves at +64
        v[p] = dot_u8s8(dot_u8s8(_mm256_setzero_si256(), wu[2 * p], load32(x)), wu[2 * p + 1], load32(x + 64));
      }
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
      // h = [b0 b2 b4 b6 | b1 b3 b5 b7] -> block order
      isum = _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(load32(xsum[t]), 3));  // q-8: remove 8*sum(x)
    }
    const __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(xd[t]));
    acc[t] = _mm256_add_ps(acc[t], no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum))));
  }
}
#endif

// One weight row x NT tokens. (Decode with 4 rows side by side, and software
// prefetch, were tried: faster on one isolated matrix, slower in a decode step; see
// docs/performance.md.)
template <bool Q8, int NT>
void row_q_legacy_nt(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, float* out) {
  constexpr int nt = NT;
  constexpr int kBB = Q8 ? sizeof(BlockQ8_0) : sizeof(BlockQ4_0);
  const std::int64_t nb = n / kQK, nfull = nb / 8 * 8;
  __m256 acc[NT];
  const std::int8_t* xq[NT];
  const float* xd[NT];
  const std::int32_t* xsum[NT];
  ActQ8Row xr[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int t = 0; t < nt; ++t) xr[t] = act_q8_row(xs[t], n);
  auto at = [&](std::int64_t b0) {
    for (int t = 0; t < nt; ++t) {
      xq[t] = xr[t].qs + b0 * kQK;
      xd[t] = xr[t].d + b0;
      xsum[t] = xr[t].sum + b0;
    }
  };
  std::int64_t b0 = 0;
  // (AVX-512 Q4_0 in 16-block groups, group_q4<4>, is faster from L3 and in prefill
  // but streams wide rows from DRAM about half as fast: not used.)
  for (; b0 < nfull; b0 += 8) {
    at(b0);
    if constexpr (NT == 1) prefetch_ahead<Pf::Row, 8 * kBB>(w + b0 * kBB);
    group8<Q8, NT>(w + b0 * kBB, xq, xd, xsum, acc);
  }
  if (nfull < nb) {  // tail: zero-padded copies of the last blocks (zero blocks add exactly 0)
    const int cnt = static_cast<int>(nb - nfull);
    alignas(32) std::uint8_t wt[8 * kBB] = {};
    alignas(32) std::int8_t qt[NT][8 * kQK] = {};
    alignas(32) float dt[NT][8] = {};
    alignas(32) std::int32_t st[NT][8] = {};
    for (int t = 0; t < nt; ++t) {
      // Q8P rows hold a multiple of 4 blocks (zero padded): copy whole quads
      std::memcpy(qt[t], xr[t].qs + nfull * kQK, static_cast<std::size_t>(Q8 ? cnt : (cnt + 3) / 4 * 4) * kQK);
      std::memcpy(dt[t], xr[t].d + nfull, static_cast<std::size_t>(cnt) * 4);
      std::memcpy(st[t], xr[t].sum + nfull, static_cast<std::size_t>(cnt) * 4);
      xq[t] = qt[t];
      xd[t] = dt[t];
      xsum[t] = st[t];
    }
    std::memcpy(wt, w + nfull * kBB, static_cast<std::size_t>(cnt) * kBB);
    group8<Q8, NT>(wt, xq, xd, xsum, acc);
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8_ps(acc[t]);
}

template <bool Q8>
void row_q_legacy(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  switch (nt) {
    case 1: return row_q_legacy_nt<Q8, 1>(n, w, xs, out);
    case 2: return row_q_legacy_nt<Q8, 2>(n, w, xs, out);
    case 3: return row_q_legacy_nt<Q8, 3>(n, w, xs, out);
    case 4: return row_q_legacy_nt<Q8, 4>(n, w, xs, out);
    case 5: return row_q_legacy_nt<Q8, 5>(n, w, xs, out);
    case 6: return row_q_legacy_nt<Q8, 6>(n, w, xs, out);
    case 7: return row_q_legacy_nt<Q8, 7>(n, w, xs, out);
    default: return row_q_legacy_nt<Q8, kTok>(n, w, xs, out);
  }
}

// ---- Q4_K x ActQ8K ------------------------------------------------------------

inline float f16(std::uint16_t h) { return _cvtsh_ss(h); }  // F16C: exact, same as fp16_to_f32

// The 8 6-bit scales and mins of a Q4_K block (get_scale_min_k4's layout, 32 bits at a time).
inline void q4k_unpack_scales(const std::uint8_t* q, std::uint32_t sc[2], std::uint32_t mn[2]) {
  std::uint32_t u[3];
  std::memcpy(u, q, 12);
  sc[0] = u[0] & 0x3F3F3F3Fu;
  sc[1] = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  mn[0] = u[1] & 0x3F3F3F3Fu;
  mn[1] = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
}

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
    std::uint32_t sc[2], mn[2];
    q4k_unpack_scales(wb[b].scales, sc, mn);
    // Sub-block scales as int16 multipliers: maddubs (u8 x s8 -> int16 pairs, at most
    // 2*15*127) then madd by the scale gives sc_j * partial sums in int32, exactly.
    __m256i s16[8];
    for (int j = 0; j < 8; ++j) s16[j] = _mm256_set1_epi16(static_cast<short>((sc[j / 4] >> (8 * (j % 4))) & 0xFF));
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(mn[0] | (std::uint64_t{mn[1]} << 32)));
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));  // each min twice: pairs of bsums
    const float d = f16(wb[b].d), dmin = f16(wb[b].dmin);
    for (int t = 0; t < nt; ++t) {
      const ActQ8K& xb = reinterpret_cast<const ActQ8K*>(xs[t])[b];
      __m256i tot = _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i p16 = _mm256_maddubs_epi16(wq[j], load32(xb.qs + 32 * j));
        tot = _mm256_add_epi32(tot, _mm256_madd_epi16(p16, s16[j]));
      }
      const int sumi = hsum_epi32(tot);
      const int summ = hsum_epi32(_mm256_madd_epi16(load32(xb.bsums), mn16));
      const float sd = xb.d * d;
      const float sm = xb.d * dmin;
      const float c = no_fma(sd * static_cast<float>(sumi)) - no_fma(sm * static_cast<float>(summ));
      acc[t][b % 8] += c;
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8(acc[t]);
}

// Decode (one token): each sub-block unpacked and multiplied at once (row_q4_k's run-time
// token loop keeps 16 vectors on the stack across it), the scales broadcast by a byte
// shuffle of one vector rather than 8 scalar broadcasts. Same exact sums, same float part.
void row_q4_k_t1(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x, float* out) {
  const auto* wb = reinterpret_cast<const BlockQ4_K*>(w);
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  float acc[8] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256i pick[8];  // int16 j in every lane
  for (int j = 0; j < 8; ++j) pick[j] = _mm256_set1_epi16(static_cast<short>((2 * j) | ((2 * j + 1) << 8)));
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    prefetch_ahead<Pf::K, sizeof(BlockQ4_K)>(wb + b);
    std::uint32_t sc[2], mn[2];
    q4k_unpack_scales(wb[b].scales, sc, mn);
    const __m128i s8 = _mm_cvtsi64_si128(static_cast<long long>(sc[0] | (std::uint64_t{sc[1]} << 32)));
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(s8));  // 8 int16 scales, both halves
    const __m128i m8 = _mm_cvtsi64_si128(static_cast<long long>(mn[0] | (std::uint64_t{mn[1]} << 32)));
    const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));  // each min twice: pairs of bsums
    __m256i tot = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      const __m256i q = load32(wb[b].qs + 32 * i);
      const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      tot = _mm256_add_epi32(tot, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load32(xb[b].qs + 64 * i)),
                                                    _mm256_shuffle_epi8(sc16, pick[2 * i])));
      tot = _mm256_add_epi32(tot, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load32(xb[b].qs + 64 * i + 32)),
                                                    _mm256_shuffle_epi8(sc16, pick[2 * i + 1])));
    }
    const int sumi = hsum_epi32(tot);
    const int summ = hsum_epi32(_mm256_madd_epi16(load32(xb[b].bsums), mn16));
    const float sd = xb[b].d * f16(wb[b].d);
    const float sm = xb[b].d * f16(wb[b].dmin);
    acc[b % 8] += no_fma(sd * static_cast<float>(sumi)) - no_fma(sm * static_cast<float>(summ));
  }
  *out = reduce8(acc);
}

// ---- Q6_K x ActQ8K ------------------------------------------------------------

#if defined(GS_AVX512)
// 512-bit Q6_K: 64 weights per vector (4 per block), maddubs then vpdpwssd by the
// group scales (int16 lane i of vector k: group 4k + i/8). Integer sums are exact, so
// sumi is the scalar path's value and the float part is unchanged.
inline __m512i shift_halves(short lo, short hi) {  // 16-bit shift counts: lo in bits 0..255, hi above
  return _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1);
}

struct Q6Idx {
  alignas(64) short ix[4][32];
};
constexpr Q6Idx make_q6_idx() {
  Q6Idx r{};
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 32; ++i) r.ix[k][i] = static_cast<short>(4 * k + i / 8);
  return r;
}
constexpr Q6Idx kQ6Idx = make_q6_idx();

struct Q6Consts {
  __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  __m512i s42 = shift_halves(4, 2), s02 = shift_halves(0, 2);
  __m512i sidx[4] = {load64(kQ6Idx.ix[0]), load64(kQ6Idx.ix[1]), load64(kQ6Idx.ix[2]), load64(kQ6Idx.ix[3])};  // int16 lane i of vector k: group 4k + i/8
};

struct Q6Unpacked {
  __m512i wq[4];   // weights 64k..64k+63, u8 0..63
  __m512i scv[4];  // group scales as int16 pairs matching maddubs' lanes
  __m256i sc16;    // the 16 group scales
  float d;
};

inline void q6_unpack(const Q6Consts& c, const BlockQ6_K& blk, Q6Unpacked& u) {
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(blk.ql + 64 * h);
    const __m512i qh = _mm512_broadcast_i64x4(load32(blk.qh + 32 * h));  // qh[32h..32h+32) twice
    // weights l, 32+l: low nibbles of ql | qh bits (0-1, 2-3) << 4
    u.wq[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, c.m4), _mm512_and_si512(_mm512_sllv_epi16(qh, c.s42), c.m30));
    // weights 64+l, 96+l: high nibbles of ql | qh bits (4-5, 6-7)
    u.wq[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), c.m4),
                                      _mm512_and_si512(_mm512_srlv_epi16(qh, c.s02), c.m30));
  }
  u.sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
  for (int k = 0; k < 4; ++k) u.scv[k] = _mm512_permutexvar_epi16(c.sidx[k], _mm512_castsi256_si512(u.sc16));
  u.d = f16(blk.d);
}

// The block's contribution c_b against one token.
inline float q6_contrib(const Q6Unpacked& u, const ActQ8K& xb) {
  __m512i tot = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k) {
    // maddubs: u8 0..63 x s8, pairs at most 2*63*127 < 32768; then int16 x scale pairs into int32
    const __m512i p16 = _mm512_maddubs_epi16(u.wq[k], _mm512_loadu_si512(xb.qs + 64 * k));
    tot = _mm512_dpwssd_epi32(tot, p16, u.scv[k]);
  }
  const __m256i off = _mm256_madd_epi16(u.sc16, load32(xb.bsums));  // sum_g sc_g * bsum_g (pairs)
  const __m256i t8 = _mm256_add_epi32(_mm512_castsi512_si256(tot), _mm512_extracti64x4_epi64(tot, 1));
  const int sumi = hsum_epi32(_mm256_sub_epi32(t8, _mm256_slli_epi32(off, 5)));
  const float sd = xb.d * u.d;
  return no_fma(sd * static_cast<float>(sumi));
}

void row_q6_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  float acc[kTok][8] = {};
  const Q6Consts c;
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    Q6Unpacked u;
    q6_unpack(c, wb[b], u);
    for (int t = 0; t < nt; ++t) acc[t][b % 8] += q6_contrib(u, reinterpret_cast<const ActQ8K*>(xs[t])[b]);
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8(acc[t]);
}

// Decode (one token): the accumulators in a fixed-size array, kept in registers (the
// run-time token loop of row_q6_k spills them to the stack at every block).
void row_q6_k_t1(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x, float* out) {
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  float acc[8] = {};
  const Q6Consts c;
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    Q6Unpacked u;
    q6_unpack(c, wb[b], u);
    acc[b % 8] += q6_contrib(u, xb[b]);
  }
  *out = reduce8(acc);
}
#else
void row_q6_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* const* xs, int nt, float* out) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  float acc[kTok][8] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    __m256i wq[8];   // 32 weights each, u8 0..63, in weight order
    __m256i scv[8];  // int16 scales matching maddubs' lanes: group 2k (lanes 0-7), 2k+1 (lanes 8-15)
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load32(wb[b].ql + 64 * h), ql1 = load32(wb[b].ql + 64 * h + 32);
      const __m256i qh = load32(wb[b].qh + 32 * h);
      wq[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      wq[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      wq[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      wq[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                      _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb[b].scales));
    for (int k = 0; k < 8; ++k) {
      const char a = static_cast<char>(2 * k), c = static_cast<char>(2 * k + 1);
      const __m128i idx = _mm_setr_epi8(a, a, a, a, a, a, a, a, c, c, c, c, c, c, c, c);
      scv[k] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const float d = f16(wb[b].d);
    for (int t = 0; t < nt; ++t) {
      const ActQ8K& xb = reinterpret_cast<const ActQ8K*>(xs[t])[b];
      __m256i tot = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        // maddubs: u8 0..63 x s8, pairs at most 2*63*127 < 32768; madd by the group scale -> int32
        const __m256i p16 = _mm256_maddubs_epi16(wq[k], load32(xb.qs + 32 * k));
        tot = _mm256_add_epi32(tot, _mm256_madd_epi16(p16, scv[k]));
      }
      const int off = hsum_epi32(_mm256_madd_epi16(sc16, load32(xb.bsums)));  // sum_g sc_g * bsum_g
      const int sumi = hsum_epi32(tot) - 32 * off;
      const float sd = xb.d * d;
      acc[t][b % 8] += no_fma(sd * static_cast<float>(sumi));
    }
  }
  for (int t = 0; t < nt; ++t) out[t] = reduce8(acc[t]);
}

#endif

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

void tile_q4_k(const Tile& k) {
  if (k.nt != 1) return tile<row_q4_k>(k);
  for (int r = 0; r < k.nr; ++r) row_q4_k_t1(k.n, k.w + r * k.w_stride, k.x, k.y + r);
}

#if defined(GS_AVX512)
void tile_q6_k(const Tile& k) {
  if (k.nt != 1) return tile<row_q6_k>(k);
  for (int r = 0; r < k.nr; ++r) row_q6_k_t1(k.n, k.w + r * k.w_stride, k.x, k.y + r);
}
#else
// Decode (one token), AVX2: each 32-weight vector unpacked and multiplied at once (the
// run-time token loop of row_q6_k keeps 16 unpacked vectors on the stack, a store and a
// load of each per block), the offset 32 * sum_g sc_g * bsum_g taken in the vector before
// one horizontal sum. Same exact sumi, same float part. (Rows 8 at a time, block by block,
// reduced together, are a little faster from L3 but stream the output head from DRAM much
// slower: 8 interleaved streams, each prefetched inside the group.)
void row_q6_k_t1(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x, float* out) {
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  float acc[8] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  // int16 lanes 0-7 take scale 2k, lanes 8-15 scale 2k+1: a byte shuffle of one 128-bit half
  // of the 16 int16 scales (scales 0-7 for k < 4, 8-15 after) copied to both halves.
  __m256i pick[8];
  for (int k = 0; k < 8; ++k) {
    const int base = 4 * (k % 4);  // byte offset of int16 scale 2k in its half
    alignas(32) std::int8_t idx[32];
    for (int i = 0; i < 16; ++i) {
      idx[i] = static_cast<std::int8_t>(base + i % 2);
      idx[16 + i] = static_cast<std::int8_t>(base + 2 + i % 2);
    }
    pick[k] = load32(idx);
  }
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ6_K& blk = wb[b];
    prefetch_ahead<Pf::K, sizeof(BlockQ6_K)>(&blk);
    const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(s8);
    // scales 0-7 (8-15) as int16 in both halves, without a cross-lane permute (3 cycles each here)
    const __m256i lo8 = _mm256_cvtepi8_epi16(_mm_unpacklo_epi64(s8, s8)), hi8 = _mm256_cvtepi8_epi16(_mm_unpackhi_epi64(s8, s8));
    __m256i tot = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load32(blk.ql + 64 * h), ql1 = load32(blk.ql + 64 * h + 32);
      const __m256i qh = load32(blk.qh + 32 * h);
      // bits 0-1 (2-3) of each qh byte to bits 4-5 by byte doublings (vpaddb, three ports) rather
      // than word shifts (one port, shared with the nibble shifts): the same bits after the mask
      const __m256i qh_1 = _mm256_add_epi8(qh, qh), qh_2 = _mm256_add_epi8(qh_1, qh_1);  // qh << 1, << 2 (bytes)
      const __m256i qh_3 = _mm256_add_epi8(qh_2, qh_2), qh_4 = _mm256_add_epi8(qh_3, qh_3);
      const __m256i wq[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(qh_4, m30)),
          _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(qh_2, m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30))};
      for (int j = 0; j < 4; ++j) {
        const int k = 4 * h + j;
        const __m256i scv = _mm256_shuffle_epi8(k < 4 ? lo8 : hi8, pick[k]);
        // maddubs: u8 0..63 x s8, pairs at most 2*63*127 < 32768; madd by the group scale -> int32
        tot = _mm256_add_epi32(tot, _mm256_madd_epi16(_mm256_maddubs_epi16(wq[j], load32(xb[b].qs + 32 * k)), scv));
      }
    }
    const __m256i off = _mm256_madd_epi16(sc16, load32(xb[b].bsums));  // sum_g sc_g * bsum_g (pairs)
    const int sumi = hsum_epi32(_mm256_sub_epi32(tot, _mm256_slli_epi32(off, 5)));
    const float sd = xb[b].d * f16(blk.d);
    acc[b % 8] += no_fma(sd * static_cast<float>(sumi));
  }
  *out = reduce8(acc);
}

void tile_q6_k(const Tile& k) {
  if (k.nt != 1) return tile<row_q6_k>(k);
  for (int r = 0; r < k.nr; ++r) row_q6_k_t1(k.n, k.w + r * k.w_stride, k.x, k.y + r);
}
#endif

#if defined(GS_AVX512)
// ---- Q4_0 interleaved by 16 rows (qmatrix.h) x Q8P activations -----------------
// Lane i of every vector is row i of the group: per block, 4 loads give the 16 rows'
// 512 nibbles, 8 vpdpbusd against broadcasts of 4 activation quants give the 16 exact
// block sums, and the float part is canonical per lane (acc[b % 8] += (dw*dx)*isum).

inline __m512i bcast4(const std::int8_t* p) {  // 4 activation quants in every int32 lane
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

struct Q4x16Block {
  __m512i lo[4], hi[4];  // chunk k: weights 4k..4k+3 (lo), 16+4k..16+4k+3 (hi) of each row, u8 0..15
  __m512 dw;             // the 16 rows' scales
};

inline void q4x16_load(const std::uint8_t* g, std::int64_t nb, std::int64_t b, Q4x16Block& u) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int k = 0; k < 4; ++k) {
    const __m512i v = load64(g + q4x16_nibbles_at(b, nb) + 64 * k);
    u.lo[k] = _mm512_and_si512(v, m4);
    u.hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
  }
  u.dw = _mm512_cvtph_ps(load32(g + q4x16_scales_at(b, nb)));
}

// c_b of the 16 rows against one token's block b.
inline __m512 q4x16_contrib(const Q4x16Block& u, const ActQ8Row& x, std::int64_t b) {
  const std::int8_t* q = x.qs + (b / 4) * 128 + (b % 4) * 16;  // q8p_pos(b, 0); +64: quant 16
  __m512i a = _mm512_set1_epi32(-8 * x.sum[b]);                // q - 8: remove 8 * sum(x)
  __m512i h = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k) {
    a = _mm512_dpbusd_epi32(a, u.lo[k], bcast4(q + 4 * k));
    h = _mm512_dpbusd_epi32(h, u.hi[k], bcast4(q + 64 + 4 * k));
  }
  const __m512 s = _mm512_mul_ps(u.dw, _mm512_set1_ps(x.d[b]));
  return no_fma(_mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_add_epi32(a, h))));
}

inline __m512 reduce8_lanes(const __m512 a[8]) {  // reduce8's tree, per lane
  return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
                       _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])));
}

// The 16-row tiles' several-token tail: token t's 8 accumulators (L1), reduced per lane, into
// its 16 outputs.
inline void store_x16(const float (*accm)[8][16], int nt, const Tile& k, int t0) {
  for (int t = 0; t < nt; ++t) {
    __m512 a[8];
    for (int j = 0; j < 8; ++j) a[j] = _mm512_load_ps(accm[t][j]);
    _mm512_storeu_ps(k.y + (t0 + t) * k.y_stride, reduce8_lanes(a));
  }
}

#endif

#if defined(GS_AVX512)
// ---- Q8_0 interleaved by 16 rows (qmatrix.h) x Q8 activations --------------------
// The Q4_0 tile's scheme with 8 chunks of 4 quants a block: lane i of every vector is
// row i; the quants are stored + 128 (u8), so 8 vpdpbusd against broadcasts of 4
// activation quants, started from -128 * sum(x), give the 16 exact block sums.

struct Q8x16Block {
  __m512i q[8];  // chunk k: quants 4k..4k+3 of each row, + 128
  __m512 dw;     // the 16 rows' scales
};

inline void q8x16_load(const std::uint8_t* g, std::int64_t nb, std::int64_t b, Q8x16Block& u) {
  for (int k = 0; k < 8; ++k) u.q[k] = load64(g + q8x16_quants_at(b) + 64 * k);
  u.dw = _mm512_cvtph_ps(load32(g + q8x16_scales_at(b, nb)));
}

// c_b of the 16 rows against one token's block b (Q8 activations: block b's quants in order).
inline __m512 q8x16_contrib(const Q8x16Block& u, const ActQ8Row& x, std::int64_t b) {
  const std::int8_t* q = x.qs + b * kQK;
  __m512i a = _mm512_set1_epi32(-128 * x.sum[b]);  // (q + 128) * x - 128 * x
  __m512i h = _mm512_setzero_si512();
  for (int k = 0; k < 8; k += 2) {
    a = _mm512_dpbusd_epi32(a, u.q[k], bcast4(q + 4 * k));
    h = _mm512_dpbusd_epi32(h, u.q[k + 1], bcast4(q + 4 * k + 4));
  }
  const __m512 s = _mm512_mul_ps(u.dw, _mm512_set1_ps(x.d[b]));
  return no_fma(_mm512_mul_ps(s, _mm512_cvtepi32_ps(_mm512_add_epi32(a, h))));
}

// The 16-row tiles of both layouts, one template: K gives the block (Block), its bytes of quants
// to prefetch (kPrefetch), where a block's quants start (quants_at), load and contrib.
struct Q4x16 {
  using Block = Q4x16Block;
  static constexpr std::size_t kPrefetch = 256;
  static std::size_t quants_at(std::int64_t b, std::int64_t nb) { return q4x16_nibbles_at(b, nb); }
  static void load(const std::uint8_t* g, std::int64_t nb, std::int64_t b, Block& u) { q4x16_load(g, nb, b, u); }
  static __m512 contrib(const Block& u, const ActQ8Row& x, std::int64_t b) { return q4x16_contrib(u, x, b); }
};
struct Q8x16 {
  using Block = Q8x16Block;
  static constexpr std::size_t kPrefetch = 512;
  static std::size_t quants_at(std::int64_t b, std::int64_t) { return q8x16_quants_at(b); }
  static void load(const std::uint8_t* g, std::int64_t nb, std::int64_t b, Block& u) { q8x16_load(g, nb, b, u); }
  static __m512 contrib(const Block& u, const ActQ8Row& x, std::int64_t b) { return q8x16_contrib(u, x, b); }
};

template <class K, int J>
inline void x16_step(const std::uint8_t* g, std::int64_t nb, std::int64_t b, const ActQ8Row& x, __m512 (&acc)[8]) {
  typename K::Block u;
  prefetch_ahead<Pf::Q4x16, K::kPrefetch>(g + K::quants_at(b, nb));  // the interleaved stream's distances
  K::load(g, nb, b, u);
  acc[J] = _mm512_add_ps(acc[J], K::contrib(u, x, b));
}

template <class K>
void tile_x16(const Tile& k) {
  const std::int64_t nb = k.n / kQK;
  const std::uint8_t* g = k.w;
  if (k.nt == 1) {
    const ActQ8Row x = act_q8_row(k.x, k.n);
    __m512 acc[8];
    for (auto& a : acc) a = _mm512_setzero_ps();
    std::int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
      x16_step<K, 0>(g, nb, b, x, acc), x16_step<K, 1>(g, nb, b + 1, x, acc);
      x16_step<K, 2>(g, nb, b + 2, x, acc), x16_step<K, 3>(g, nb, b + 3, x, acc);
      x16_step<K, 4>(g, nb, b + 4, x, acc), x16_step<K, 5>(g, nb, b + 5, x, acc);
      x16_step<K, 6>(g, nb, b + 6, x, acc), x16_step<K, 7>(g, nb, b + 7, x, acc);
    }
    if (b + 0 < nb) x16_step<K, 0>(g, nb, b + 0, x, acc);
    if (b + 1 < nb) x16_step<K, 1>(g, nb, b + 1, x, acc);
    if (b + 2 < nb) x16_step<K, 2>(g, nb, b + 2, x, acc);
    if (b + 3 < nb) x16_step<K, 3>(g, nb, b + 3, x, acc);
    if (b + 4 < nb) x16_step<K, 4>(g, nb, b + 4, x, acc);
    if (b + 5 < nb) x16_step<K, 5>(g, nb, b + 5, x, acc);
    if (b + 6 < nb) x16_step<K, 6>(g, nb, b + 6, x, acc);
    _mm512_storeu_ps(k.y, reduce8_lanes(acc));
    return;
  }
  // Several tokens: each block loaded once for up to kTok tokens; accumulators in L1.
  alignas(64) float accm[kTok][8][16];
  for (int t0 = 0; t0 < k.nt; t0 += kTok) {
    const int nt = std::min(kTok, k.nt - t0);
    ActQ8Row x[kTok];
    for (int t = 0; t < nt; ++t) x[t] = act_q8_row(k.x + (t0 + t) * k.x_stride, k.n);
    std::memset(accm, 0, sizeof accm);
    for (std::int64_t b = 0; b < nb; ++b) {
      typename K::Block u;
      K::load(g, nb, b, u);
      for (int t = 0; t < nt; ++t) {
        float* a = accm[t][b % 8];
        _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), K::contrib(u, x[t], b)));
      }
    }
    store_x16(accm, nt, k, t0);
  }
}
void tile_q4_0x16(const Tile& k) { tile_x16<Q4x16>(k); }
void tile_q8_0x16(const Tile& k) { tile_x16<Q8x16>(k); }

// ---- Q6_K interleaved by 16 rows (blocks.h: q6x16_*) x Q8K activations -------------
// Lane i of every vector is row i. Per super-block and quad of sub-blocks, 4 chunks of 3
// loads unpack to 16 vectors of u8 quants (sub-block s, chunk k: weights 4k..4k+3 of the 16
// rows; q for s = 0, 2, 4q for s = 1, 3: blocks.h q6x16_encode), each with an AND and a
// ternary-logic op (two of the four after a 16-bit shift of l). Per token 16 vpdpbusd against
// broadcasts of 4 activation quants give each sub-block's exact isum (4 isum for s odd), and
// sumi += sc * (isum - 32 * bsum) as in dot_q6_k, in 4x: the even sub-blocks' scales times 4,
// the odd ones' offsets -128 * bsum; the super-block's sum is divided by 4 at the end (exact:
// every term a multiple of 4; |4 sumi| <= 16 x 128 x 4 x 16 x 32 x 128 < 2^31). The float
// part is canonical per lane: acc[b % 8] += (dx * d) * float(sumi).
struct Q6x16Quad {
  __m512i w[4][4];  // [sub-block of the quad][chunk]
  __m512i sc[4];    // the sub-blocks' 16 rows' scales (times 4 for the even ones), int32
};

inline void q6x16_unpack(const std::uint8_t* g, std::int64_t b, int quad, Q6x16Quad& u) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), mf0 = _mm512_set1_epi8(static_cast<char>(0xF0));
  const __m512i m30 = _mm512_set1_epi8(0x30), m0c = _mm512_set1_epi8(0x0C);
  constexpr int kAandBorC = 0xEA;  // ternary logic: (a & b) | c
  for (int k = 0; k < 4; ++k) {
    const std::uint8_t* c = g + q6x16_chunk_at(b, quad, k);
    const __m512i n01 = load64(c), n23 = load64(c + 64), l = load64(c + 128);
    u.w[0][k] = _mm512_ternarylogic_epi32(n01, m4, _mm512_and_si512(l, m30), kAandBorC);   // q0
    u.w[1][k] = _mm512_ternarylogic_epi32(n01, mf0, _mm512_and_si512(l, m0c), kAandBorC);  // 4 q1
    u.w[2][k] = _mm512_ternarylogic_epi32(n23, m4, _mm512_and_si512(_mm512_srli_epi16(l, 2), m30), kAandBorC);   // q2
    u.w[3][k] = _mm512_ternarylogic_epi32(n23, mf0, _mm512_and_si512(_mm512_slli_epi16(l, 2), m0c), kAandBorC);  // 4 q3
  }
  const std::uint8_t* scales = g + q6x16_scales_at(b) + 64 * quad;
  for (int s = 0; s < 4; ++s) {
    const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + 16 * s)));
    u.sc[s] = s % 2 == 0 ? _mm512_slli_epi32(sc, 2) : sc;
  }
}

// 4 * sum over the quad's sub-blocks g of sc_g * (isum_g - 32 * bsum_g), the 16 rows' int32;
// off: the token's -32 * bsum_g (-128 * bsum_g for odd g) for the super-block's 16 sub-blocks.
inline __m512i q6x16_quad_sumi(const Q6x16Quad& u, const ActQ8K& x, const std::int32_t* off, int quad) {
  __m512i sumi = _mm512_setzero_si512();
  for (int s = 0; s < 4; ++s) {
    const int g = 4 * quad + s;
    const std::int8_t* q = x.qs + 16 * g;
    __m512i a = _mm512_set1_epi32(off[g]);
    a = _mm512_dpbusd_epi32(a, u.w[s][0], bcast4(q));
    a = _mm512_dpbusd_epi32(a, u.w[s][1], bcast4(q + 4));
    a = _mm512_dpbusd_epi32(a, u.w[s][2], bcast4(q + 8));
    a = _mm512_dpbusd_epi32(a, u.w[s][3], bcast4(q + 12));
    sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(a, u.sc[s]));
  }
  return sumi;
}

// The K-quant 16-row tiles' loop (K: Q6Kx16 or Q4Kx16 below): per pass of up to KT tokens
// (1: decode, its sums in registers), every super-block of the group through K::step, which
// adds its contribution to the tokens' accumulators accm[t][b % 8] (L1).
template <class K, int KT>
void kx16_tokens(const Tile& k) {
  const std::int64_t nb = k.n / kQKK;
  const std::uint8_t* g = k.w;
  alignas(64) float accm[KT][8][16];
  for (int t0 = 0; t0 < k.nt; t0 += KT) {
    const int nt = std::min(KT, k.nt - t0);
    const ActQ8K* x[KT];
    for (int t = 0; t < nt; ++t) x[t] = reinterpret_cast<const ActQ8K*>(k.x + (t0 + t) * k.x_stride);
    std::memset(accm, 0, static_cast<std::size_t>(nt) * sizeof accm[0]);
    for (std::int64_t b = 0; b < nb; ++b) {
      // Ahead of the group's first pass only: later token passes find it in L2, where the
      // prefetches of a 3360-byte Q6_K super-block would only cost issue slots.
      if (t0 == 0) prefetch_ahead<Pf::Kx16, K::kBytes>(g + b * K::kBytes);
      K::template step<KT>(g, b, x, nt, accm);
    }
    store_x16(accm, nt, k, t0);
  }
}
template <class K>
void tile_kx16(const Tile& k) {
  if (k.nt == 1) kx16_tokens<K, 1>(k);
  else kx16_tokens<K, kTok>(k);
}

struct Q6Kx16 {
  static constexpr std::size_t kBytes = kQ6x16Bytes;
  template <int KT>
  static void step(const std::uint8_t* g, std::int64_t b, const ActQ8K* const* x, int nt, float (*accm)[8][16]) {
    alignas(64) std::int32_t off[KT][16];
    __m512i sumi[KT];
    for (int t = 0; t < nt; ++t) {
      const __m512i bs = _mm512_cvtepi16_epi32(load32(x[t][b].bsums));
      const __m512i o = _mm512_mask_slli_epi32(_mm512_slli_epi32(bs, 5), 0xAAAA, bs, 7);  // 32 or 128 * bsum
      _mm512_store_si512(off[t], _mm512_sub_epi32(_mm512_setzero_si512(), o));
      sumi[t] = _mm512_setzero_si512();
    }
    for (int quad = 0; quad < 4; ++quad) {
      Q6x16Quad u;
      q6x16_unpack(g, b, quad, u);
      for (int t = 0; t < nt; ++t) sumi[t] = _mm512_add_epi32(sumi[t], q6x16_quad_sumi(u, x[t][b], off[t], quad));
    }
    const __m512 dw = _mm512_cvtph_ps(load32(g + q6x16_d_at(b)));
    for (int t = 0; t < nt; ++t) {
      float* a = accm[t][b % 8];
      const __m512 s = _mm512_mul_ps(_mm512_set1_ps(x[t][b].d), dw);
      const __m512i si = _mm512_srai_epi32(sumi[t], 2);
      _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), no_fma(_mm512_mul_ps(s, _mm512_cvtepi32_ps(si)))));
    }
  }
};
void tile_q6_kx16(const Tile& k) { tile_kx16<Q6Kx16>(k); }

// ---- Q4_K interleaved by 16 rows (blocks.h: q4kx16_*) x Q8K activations -------------
// Lane i of every vector is row i. Per super-block, the 16 rows' packed scale bytes unpack
// (get_scale_min_k4 on 64 bytes at a time) to 8 vectors of int32 scales and 4 of int16 pairs
// of mins (sub-blocks 2p, 2p+1); per pair p of sub-blocks, 8 chunk loads unpack to 16
// vectors of nibbles (low: sub-block 2p, high: 2p+1; weights 4c..4c+3 of the 16 rows). Per
// token: 8 vpdpbusd per sub-block give its exact isum, sumi += sc * isum; one vpdpwssd per
// pair gives summ += m_2p * bsum_2p + m_2p+1 * bsum_2p+1 (bsum over the sub-block's 32
// quants: |bsum| <= 4096, an int16). The float part as dot_q4_k's, per lane:
// acc[b % 8] += (dx * d) * float(sumi) - (dx * dmin) * float(summ).
struct Q4Kx16Scales {
  __m512i sc[8];     // sub-block j's scale, int32 per row
  __m512i mpair[4];  // (m_2p, m_2p+1) as int16 in each row's int32
};

inline void q4kx16_scales(const std::uint8_t* g, std::int64_t b, Q4Kx16Scales& u) {
  const std::uint8_t* s = g + q4kx16_scales_at(b);  // byte k of row i at 16k + i
  const __m512i v0 = load64(s), v1 = load64(s + 64), v2 = load64(s + 128);
  const __m512i m63 = _mm512_set1_epi8(63), m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  alignas(64) std::uint8_t sc[128], mn[128];  // sub-block j's 16 rows at 16j
  _mm512_store_si512(sc, _mm512_and_si512(v0, m63));
  _mm512_store_si512(sc + 64, _mm512_or_si512(_mm512_and_si512(v2, m4), _mm512_and_si512(_mm512_srli_epi16(v0, 2), m30)));
  _mm512_store_si512(mn, _mm512_and_si512(v1, m63));
  _mm512_store_si512(mn + 64, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v2, 4), m4),
                                              _mm512_and_si512(_mm512_srli_epi16(v1, 2), m30)));
  for (int j = 0; j < 8; ++j) u.sc[j] = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(sc + 16 * j)));
  for (int p = 0; p < 4; ++p) {
    const __m128i a = _mm_load_si128(reinterpret_cast<const __m128i*>(mn + 32 * p));
    const __m128i c = _mm_load_si128(reinterpret_cast<const __m128i*>(mn + 32 * p + 16));
    u.mpair[p] = _mm512_cvtepu8_epi16(_mm256_set_m128i(_mm_unpackhi_epi8(a, c), _mm_unpacklo_epi8(a, c)));
  }
}

struct Q4Kx16 {
  static constexpr std::size_t kBytes = kQ4Kx16Bytes;
  template <int KT>
  static void step(const std::uint8_t* g, std::int64_t b, const ActQ8K* const* x, int nt, float (*accm)[8][16]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    Q4Kx16Scales u;
    q4kx16_scales(g, b, u);
    __m512i sumi[KT], summ[KT];
    for (int t = 0; t < nt; ++t) {
      // bsums over the 8 sub-blocks of 32, as int16 pairs (2p, 2p+1) in 4 int32
      alignas(16) std::int32_t bp[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(bp),
                      _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].bsums)),
                                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].bsums + 8))));
      __m512i mm = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) mm = _mm512_dpwssd_epi32(mm, u.mpair[p], _mm512_set1_epi32(bp[p]));
      summ[t] = mm;
      sumi[t] = _mm512_setzero_si512();
    }
    for (int p = 0; p < 4; ++p) {
      __m512i lo[8], hi[8];
      for (int c = 0; c < 8; ++c) {
        const __m512i v = load64(g + q4kx16_chunk_at(b, p, c));
        lo[c] = _mm512_and_si512(v, m4);
        hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
      for (int t = 0; t < nt; ++t) {
        const std::int8_t* q = x[t][b].qs + 64 * p;  // sub-block 2p; + 32: 2p + 1
        __m512i il = _mm512_setzero_si512(), ih = _mm512_setzero_si512();
        for (int c = 0; c < 8; ++c) {
          il = _mm512_dpbusd_epi32(il, lo[c], bcast4(q + 4 * c));
          ih = _mm512_dpbusd_epi32(ih, hi[c], bcast4(q + 32 + 4 * c));
        }
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_add_epi32(_mm512_mullo_epi32(il, u.sc[2 * p]),
                                                             _mm512_mullo_epi32(ih, u.sc[2 * p + 1])));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(load32(g + q4kx16_d_at(b)));
    const __m512 dm = _mm512_cvtph_ps(load32(g + q4kx16_dmin_at(b)));
    for (int t = 0; t < nt; ++t) {
      float* a = accm[t][b % 8];
      const __m512 dx = _mm512_set1_ps(x[t][b].d);
      const __m512 c = _mm512_sub_ps(no_fma(_mm512_mul_ps(_mm512_mul_ps(dx, dw), _mm512_cvtepi32_ps(sumi[t]))),
                                     no_fma(_mm512_mul_ps(_mm512_mul_ps(dx, dm), _mm512_cvtepi32_ps(summ[t]))));
      _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), c));
    }
  }
};
void tile_q4_kx16(const Tile& k) { tile_kx16<Q4Kx16>(k); }
#endif

#if !defined(GS_AVX512)
// ---- Q4_0 interleaved by 16 rows, 256-bit (AVX2 maddubs) --------------------------
// The AVX-512 tile's scheme with 8 rows per vector: a 64-byte chunk of the layout is rows
// 0-7 (first 32 bytes) and rows 8-15 (next 32); int32 lane i is row i of the half. Per
// block and token: 8 maddubs of u8 nibbles by broadcast s8 quants summed in int16 (at most
// 8 x 2 x 15 x 127 = 30480: no overflow), one madd to int32, minus 8 * sum(x); the float
// part is canonical per lane, acc[b % 8] += (dw*dx)*isum, with the accumulators in L1
// (16 rows x 8 slots would take every ymm register).
inline __m256i bcast4_256(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// The canonical float part of 8 rows' block: a[i] += (d_i * dx) * isum_i (d: the rows' 8 f16 scales).
inline void add_block_avx2(float* a, const std::uint8_t* d, float dx, __m256i isum) {
  const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))), _mm256_set1_ps(dx));
  _mm256_store_ps(a, _mm256_add_ps(_mm256_load_ps(a), no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum)))));
}

// acc[b % 8][row] of a group -> y[row], the canonical tree per lane.
inline void store_acc16_avx2(const float (*acc)[16], float* y) {
  for (int h = 0; h < 2; ++h) {
    __m256 a[8];
    for (int j = 0; j < 8; ++j) a[j] = _mm256_load_ps(acc[j] + 8 * h);
    _mm256_storeu_ps(y + 8 * h, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6])),
                                              _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]))));
  }
}

// Decode: each 64-byte line read once, both halves at a time (the two-pass order of the
// multi-token loop below reads every line twice and streams from DRAM far slower).
void q4x16_avx2_t1(const Tile& k) {
  const std::int64_t nb = k.n / kQK;
  const std::uint8_t* g = k.w;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  alignas(32) float acc[8][16] = {};
  const ActQ8Row x = act_q8_row(k.x, k.n);
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* nib = g + q4x16_nibbles_at(b, nb);
    const std::uint8_t* sc = g + q4x16_scales_at(b, nb);
    const std::int8_t* q = x.qs + (b / 4) * 128 + (b % 4) * 16;  // q8p_pos(b, 0); +64: quant 16
    __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
    prefetch_ahead<Pf::Q4x16, 256>(nib);
    for (int c = 0; c < 4; ++c) {
      const __m256i v0 = load32(nib + 64 * c), v1 = load32(nib + 64 * c + 32);
      const __m256i bl = bcast4_256(q + 4 * c), bh = bcast4_256(q + 64 + 4 * c);
      p0 = _mm256_add_epi16(p0, _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v0, m4), bl),
                                                 _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), bh)));
      p1 = _mm256_add_epi16(p1, _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(v1, m4), bl),
                                                 _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4), bh)));
    }
    const __m256i off = _mm256_set1_epi32(8 * x.sum[b]);
    add_block_avx2(acc[b % 8], sc, x.d[b], _mm256_sub_epi32(_mm256_madd_epi16(p0, ones), off));
    add_block_avx2(acc[b % 8] + 8, sc + 16, x.d[b], _mm256_sub_epi32(_mm256_madd_epi16(p1, ones), off));
  }
  store_acc16_avx2(acc, k.y);
}

void tile_q4_0x16_avx2(const Tile& k) {
  if (k.nt == 1) return q4x16_avx2_t1(k);
  const std::int64_t nb = k.n / kQK;
  const std::uint8_t* g = k.w;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  alignas(32) float accm[kTok][8][16];
  for (int t0 = 0; t0 < k.nt; t0 += kTok) {
    const int nt = std::min(kTok, k.nt - t0);
    ActQ8Row x[kTok];
    for (int t = 0; t < nt; ++t) x[t] = act_q8_row(k.x + (t0 + t) * k.x_stride, k.n);
    std::memset(accm, 0, sizeof(float) * 8 * 16 * static_cast<std::size_t>(nt));
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t* nib = g + q4x16_nibbles_at(b, nb);
      const std::uint8_t* sc = g + q4x16_scales_at(b, nb);
      for (int h = 0; h < 2; ++h) {  // rows 8h .. 8h+7
        __m256i lo[4], hi[4];        // chunk c: weights 4c..4c+3 (lo), 16+4c.. (hi) of each row
        for (int c = 0; c < 4; ++c) {
          const __m256i v = load32(nib + 64 * c + 32 * h);
          lo[c] = _mm256_and_si256(v, m4);
          hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc + 16 * h)));
        for (int t = 0; t < nt; ++t) {
          const std::int8_t* q = x[t].qs + (b / 4) * 128 + (b % 4) * 16;  // q8p_pos(b, 0); +64: quant 16
          __m256i p16 = _mm256_setzero_si256();
          for (int c = 0; c < 4; ++c)
            p16 = _mm256_add_epi16(p16, _mm256_add_epi16(_mm256_maddubs_epi16(lo[c], bcast4_256(q + 4 * c)),
                                                         _mm256_maddubs_epi16(hi[c], bcast4_256(q + 64 + 4 * c))));
          const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(p16, ones), _mm256_set1_epi32(8 * x[t].sum[b]));
          const __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(x[t].d[b]));
          float* a = accm[t][b % 8] + 8 * h;
          _mm256_store_ps(a, _mm256_add_ps(_mm256_load_ps(a), no_fma(_mm256_mul_ps(s, _mm256_cvtepi32_ps(isum)))));
        }
      }
    }
    for (int t = 0; t < nt; ++t) store_acc16_avx2(accm[t], k.y + (t0 + t) * k.y_stride);
  }
}

// ---- Q6_K interleaved by 16 rows, 256-bit (AVX2 maddubs; blocks.h: q6x16_*) ----------
// The AVX-512 layout, 8 rows a vector (the first / second 32 bytes of each 64: rows 0-7 / 8-15).
// Without a ternary-logic op each 6-bit quant unpacks with ANDs, ORs and 16-bit shifts, and q1,
// q3 are shifted down to 0..63 (maddubs on 4 * q1 would saturate: 2 x 252 x 127 > 32767). Per
// sub-block g and 8 rows: 4 maddubs of u8 q by broadcast s8 quants, summed two by two in int16
// (at most 2 x 2 x 63 x 127 = 32004), each sum times the rows' scale by one madd (the scale in
// both int16 halves of a row's lane): sc_g * isum_g exactly, in int32. The offset, 32 * sum_g
// sc_g * bsum_g, by madd of the scale pairs (g, g+1) by the broadcast bsum pairs. So sumi is
// dot_q6_k's exact integer, and the float part canonical per lane: acc[b % 8] += (dx*d)*sumi.
struct Q6x16Avx2Quad {
  __m256i w[4][4];  // [sub-block of the quad][chunk]: u8 quants 0..63
  __m256i sc16[4];  // sub-block s's scale in both int16 halves of each row's lane
};

// sc: the quad's 4 x 16 scale bytes + 8 h (rows 8h .. 8h+7)
inline __m256i q6x16_avx2_scale16(const std::uint8_t* sc, int s) {
  const __m128i s8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + 16 * s));
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(s8, s8));
}

// One chunk (c: its n01 bytes, + 32 h) -> the quad's 4 sub-blocks' u8 quants, weights 4k..4k+3 of 8 rows.
inline void q6x16_avx2_chunk(const std::uint8_t* c, __m256i w[4]) {
  const __m256i m0f = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  const __m256i m3c = _mm256_set1_epi8(0x3C), m03 = _mm256_set1_epi8(0x03);
  const __m256i n01 = load32(c), n23 = load32(c + 64), l = load32(c + 128);
  const __m256i l2 = _mm256_srli_epi16(l, 2);  // (bits that cross a byte are masked off below)
  w[0] = _mm256_or_si256(_mm256_and_si256(n01, m0f), _mm256_and_si256(l, m30));
  w[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n01, 2), m3c), _mm256_and_si256(l2, m03));
  w[2] = _mm256_or_si256(_mm256_and_si256(n23, m0f), _mm256_and_si256(l2, m30));
  w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(n23, 2), m3c), _mm256_and_si256(l, m03));
}

inline void q6x16_avx2_unpack(const std::uint8_t* c0, const std::uint8_t* sc, Q6x16Avx2Quad& u) {  // c0: the quad's chunk 0, + 32 h
  for (int s = 0; s < 4; ++s) u.sc16[s] = q6x16_avx2_scale16(sc, s);
  for (int k = 0; k < 4; ++k) {
    __m256i w[4];
    q6x16_avx2_chunk(c0 + 192 * k, w);
    for (int s = 0; s < 4; ++s) u.w[s][k] = w[s];
  }
}

// The quad's sum_g sc_g * isum_g for 8 rows.
inline __m256i q6x16_avx2_quad(const Q6x16Avx2Quad& u, const std::int8_t* xq) {
  __m256i sumi = _mm256_setzero_si256();
  for (int s = 0; s < 4; ++s) {
    const std::int8_t* q = xq + 16 * s;
    const __m256i sc16 = u.sc16[s];
    const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(u.w[s][0], bcast4_256(q)), _mm256_maddubs_epi16(u.w[s][1], bcast4_256(q + 4)));
    const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(u.w[s][2], bcast4_256(q + 8)), _mm256_maddubs_epi16(u.w[s][3], bcast4_256(q + 12)));
    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(p01, sc16), _mm256_madd_epi16(p23, sc16)));
  }
  return sumi;
}

// The scale pairs (sc_g, sc_g+1) as int16 in each row's lane, g = 2j (sc: the super-block's
// 16 x 16 scale bytes, + 8 h).
inline __m256i q6x16_avx2_scale_pair(const std::uint8_t* sc, int j) {
  const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + 32 * j));
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sc + 32 * j + 16));
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b));
}

// 32 * sum_g sc_g * bsum_g for 8 rows, from the 8 scale pairs.
inline __m256i q6x16_avx2_offset(const __m256i* pairs, const std::int16_t* bsums) {
  __m256i o = _mm256_setzero_si256();
  for (int j = 0; j < 8; ++j) {
    std::int32_t bp;
    std::memcpy(&bp, bsums + 2 * j, 4);  // (bsum_2j, bsum_2j+1)
    o = _mm256_add_epi32(o, _mm256_madd_epi16(pairs[j], _mm256_set1_epi32(bp)));
  }
  return _mm256_slli_epi32(o, 5);
}

// Decode: per quad and 8 rows, each chunk unpacked and multiplied at once (sums in registers), the
// quad's 12 lines read for rows 0-7, then again (from L1) for rows 8-15; the offset after the
// quads. The prefetch goes chunk by chunk (its 3 lines, the Q4_0 tile's distances): a super-block's
// 53 + 53 prefetches at once, as the AVX-512 tile issues them, made the tile stream from DRAM
// slower than GGUF order on an AVX2 core (the cause of an earlier 16-row AVX2 tile's failure,
// docs/performance.md). Against GGUF order the tile is faster from L3, from DRAM and at T = 512.
void q6x16_avx2_t1(const Tile& k) {
  const std::int64_t nb = k.n / kQKK;
  const std::uint8_t* g = k.w;
  const ActQ8K* x = reinterpret_cast<const ActQ8K*>(k.x);
  alignas(32) float acc[8][16] = {};
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* sc = g + q6x16_scales_at(b);
    __m256i sumi[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int quad = 0; quad < 4; ++quad) {
      const std::int8_t* xq = x[b].qs + 64 * quad;
      for (int h = 0; h < 2; ++h) {  // the quad's 12 lines, rows 0-7 then (from L1) rows 8-15
        const std::uint8_t* c0 = g + q6x16_chunk_at(b, quad, 0) + 32 * h;
        __m256i p[4], sc16[4];
        for (int s = 0; s < 4; ++s) sc16[s] = q6x16_avx2_scale16(sc + 64 * quad + 8 * h, s);
        for (int kk = 0; kk < 4; ++kk) {
          const std::uint8_t* c = c0 + 192 * kk;
          if (h == 0) prefetch_ahead<Pf::Q4x16, 192>(c);  // the chunk's 3 lines, the distances later
          __m256i w[4];
          q6x16_avx2_chunk(c, w);
          for (int s = 0; s < 4; ++s) {
            const __m256i m = _mm256_maddubs_epi16(w[s], bcast4_256(xq + 16 * s + 4 * kk));
            p[s] = kk % 2 == 0 ? m : _mm256_add_epi16(p[s], m);
            if (kk % 2 == 1) sumi[h] = _mm256_add_epi32(sumi[h], _mm256_madd_epi16(p[s], sc16[s]));  // two chunks' int16 sums, times the scale
          }
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      __m256i pairs[8];
      for (int j = 0; j < 8; ++j) pairs[j] = q6x16_avx2_scale_pair(sc + 8 * h, j);
      add_block_avx2(acc[b % 8] + 8 * h, g + q6x16_d_at(b) + 16 * h, x[b].d,
                     _mm256_sub_epi32(sumi[h], q6x16_avx2_offset(pairs, x[b].bsums)));
    }
  }
  store_acc16_avx2(acc, k.y);
}

void tile_q6_kx16_avx2(const Tile& k) {
  if (k.nt == 1) return q6x16_avx2_t1(k);
  const std::int64_t nb = k.n / kQKK;
  const std::uint8_t* g = k.w;
  alignas(32) float accm[kTok][8][16];
  for (int t0 = 0; t0 < k.nt; t0 += kTok) {
    const int nt = std::min(kTok, k.nt - t0);
    const ActQ8K* x[kTok];
    for (int t = 0; t < nt; ++t) x[t] = reinterpret_cast<const ActQ8K*>(k.x + (t0 + t) * k.x_stride);
    std::memset(accm, 0, sizeof(float) * 8 * 16 * static_cast<std::size_t>(nt));
    for (std::int64_t b = 0; b < nb; ++b) {
      if (t0 == 0) prefetch_ahead<Pf::Q4x16, kQ6x16Bytes>(g + b * kQ6x16Bytes);
      const std::uint8_t* sc = g + q6x16_scales_at(b);
      for (int h = 0; h < 2; ++h) {  // rows 8h .. 8h+7
        __m256i sumi[kTok], pairs[8];
        for (int j = 0; j < 8; ++j) pairs[j] = q6x16_avx2_scale_pair(sc + 8 * h, j);
        for (int t = 0; t < nt; ++t) sumi[t] = _mm256_sub_epi32(_mm256_setzero_si256(), q6x16_avx2_offset(pairs, x[t][b].bsums));
        for (int quad = 0; quad < 4; ++quad) {
          Q6x16Avx2Quad u;
          q6x16_avx2_unpack(g + q6x16_chunk_at(b, quad, 0) + 32 * h, sc + 64 * quad + 8 * h, u);
          for (int t = 0; t < nt; ++t) sumi[t] = _mm256_add_epi32(sumi[t], q6x16_avx2_quad(u, x[t][b].qs + 64 * quad));
        }
        for (int t = 0; t < nt; ++t) add_block_avx2(accm[t][b % 8] + 8 * h, g + q6x16_d_at(b) + 16 * h, x[t][b].d, sumi[t]);
      }
    }
    for (int t = 0; t < nt; ++t) store_acc16_avx2(accm[t], k.y + (t0 + t) * k.y_stride);
  }
}

// ---- Q8_0 interleaved by 16 rows, 256-bit (AVX2 maddubs) --------------------------
// The Q4_0 tile's scheme on the Q8_0 layout (qmatrix.h: quants stored + 128 as u8, a 64-byte
// chunk = 4 quants of rows 0-7, then of rows 8-15). maddubs would saturate on u8 q + 128
// (2 x 255 x 127 > 32767), so each chunk is flipped back to s8 q and multiplied as
// |q| * (x with q's sign): |pair| <= 2 x 128 x 127 = 32512, exact; one madd to int32 per
// chunk (two chunks' int16 sums could overflow). Per block the 16 rows' exact isum (no
// -128 * sum(x) to remove), and the float part canonical per lane: acc[b % 8] += (dw*dx)*isum.
// In GGUF order a row's 8 blocks end in a horizontal reduction (6 hadd, 2 cross-lane
// permutes) and its 34-byte blocks split cache lines, which the interleaved layout avoids (about
// 1.5x fewer cycles a row-block in a stand-alone loop from L2).
inline __m256i q8x16_avx2_chunk(__m256i acc, const std::uint8_t* q, __m256i xb) {
  const __m256i w = _mm256_xor_si256(load32(q), _mm256_set1_epi8(static_cast<char>(0x80)));  // s8 q
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xb, w));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

void tile_q8_0x16_avx2(const Tile& k) {
  const std::int64_t nb = k.n / kQK;
  const std::uint8_t* g = k.w;
  if (k.nt == 1) {  // decode: each 64-byte chunk read once, both halves at a time
    alignas(32) float acc[8][16] = {};
    const ActQ8Row x = act_q8_row(k.x, k.n);
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t* q = g + q8x16_quants_at(b);
      const std::uint8_t* sc = g + q8x16_scales_at(b, nb);
      const std::int8_t* xq = x.qs + b * kQK;
      prefetch_ahead<Pf::Q4x16, 512>(q);
      __m256i i0 = _mm256_setzero_si256(), i1 = _mm256_setzero_si256();
      for (int c = 0; c < 8; ++c) {
        const __m256i xb = bcast4_256(xq + 4 * c);
        i0 = q8x16_avx2_chunk(i0, q + 64 * c, xb);
        i1 = q8x16_avx2_chunk(i1, q + 64 * c + 32, xb);
      }
      add_block_avx2(acc[b % 8], sc, x.d[b], i0);
      add_block_avx2(acc[b % 8] + 8, sc + 16, x.d[b], i1);
    }
    store_acc16_avx2(acc, k.y);
    return;
  }
  // Several tokens: per block and half, the 8 chunks flipped once (|q| and q kept) for up to kTok tokens.
  alignas(32) float accm[kTok][8][16];
  for (int t0 = 0; t0 < k.nt; t0 += kTok) {
    const int nt = std::min(kTok, k.nt - t0);
    ActQ8Row x[kTok];
    for (int t = 0; t < nt; ++t) x[t] = act_q8_row(k.x + (t0 + t) * k.x_stride, k.n);
    std::memset(accm, 0, sizeof(float) * 8 * 16 * static_cast<std::size_t>(nt));
    for (std::int64_t b = 0; b < nb; ++b) {
      const std::uint8_t* q = g + q8x16_quants_at(b);
      const std::uint8_t* sc = g + q8x16_scales_at(b, nb);
      for (int h = 0; h < 2; ++h) {  // rows 8h .. 8h+7
        __m256i ws[8], wa[8];
        for (int c = 0; c < 8; ++c) {
          ws[c] = _mm256_xor_si256(load32(q + 64 * c + 32 * h), _mm256_set1_epi8(static_cast<char>(0x80)));
          wa[c] = _mm256_abs_epi8(ws[c]);
        }
        for (int t = 0; t < nt; ++t) {
          const std::int8_t* xq = x[t].qs + b * kQK;
          __m256i isum = _mm256_setzero_si256();
          for (int c = 0; c < 8; ++c) {
            const __m256i p16 = _mm256_maddubs_epi16(wa[c], _mm256_sign_epi8(bcast4_256(xq + 4 * c), ws[c]));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
          }
          add_block_avx2(accm[t][b % 8] + 8 * h, sc + 16 * h, x[t].d[b], isum);
        }
      }
    }
    for (int t = 0; t < nt; ++t) store_acc16_avx2(accm[t], k.y + (t0 + t) * k.y_stride);
  }
}
#endif

// Where quants 0-15 of activation block b go (quants 16-31: + 64 in the Q8P layout, + 16 in
// Q8), and the zero blocks that pad a Q8 / Q8P row (act_q8_blocks_padded): both quantizers.
inline std::int8_t* q8_block_at(const ActQ8Row& row, bool p, std::int64_t b) {
  return row.qs + (p ? (b / 4) * 128 + (b % 4) * 16 : b * kQK);
}
inline void zero_pad_q8_blocks(const ActQ8Row& row, bool p, std::int64_t nb, std::int64_t n) {
  for (std::int64_t b = nb; b < act_q8_blocks_padded(n); ++b) {
    std::int8_t* o0 = q8_block_at(row, p, b);
    std::memset(o0, 0, 16);
    std::memset(p ? o0 + 64 : o0 + 16, 0, 16);
    row.d[b] = 0.0f;
    row.sum[b] = 0;
  }
}

#if defined(GS_AVX512)
// quantize_act_row (convert.cpp) for the Q8 / Q8P layouts, 32 values at a time, with the same
// operations in the same order, so the bytes are identical: amax over |x| (a NaN never wins a
// max, as in std::max(amax, |x|)), d = amax / 127, id = 1 / d, q = round-half-even(x * id)
// clamped to +-127 (NaN -> 0). The scalar loop took ~3 ns a value (37 us for E2B's 12288-wide
// ffn_down input, on one thread while the other waited).
void quantize_q8_avx512(ActKind kind, const float* x, void* dst, std::int64_t n) {
  const ActQ8Row row = act_q8_row(dst, n);
  const bool p = kind == ActKind::Q8P;
  const __m512 sign = _mm512_set1_ps(-0.0f), hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
  const std::int64_t nb = n / kQK;
  for (std::int64_t b = 0; b < nb; ++b, x += kQK) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    // |x| first: _mm512_max_ps returns its second operand when either is NaN
    const __m512 m = _mm512_max_ps(_mm512_andnot_ps(sign, v1), _mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_setzero_ps()));
    const float amax = _mm512_reduce_max_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    __m512i q[2];
    const __m512 in[2] = {v0, v1};
    for (int h = 0; h < 2; ++h) {
      const __m512 y = _mm512_mul_ps(in[h], vid);
      const __m512 r = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512 c = _mm512_min_ps(_mm512_max_ps(r, lo), hi);                    // NaN -> -127 here...
      c = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, y, _CMP_ORD_Q), _mm512_setzero_ps(), c);  // ...then 0
      q[h] = _mm512_cvtps_epi32(c);
    }
    const __m128i q0 = _mm512_cvtepi32_epi8(q[0]), q1 = _mm512_cvtepi32_epi8(q[1]);
    std::int8_t* o0 = q8_block_at(row, p, b);
    std::int8_t* o1 = p ? o0 + 64 : o0 + 16;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o0), q0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o1), q1);
    row.d[b] = d;
    row.sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
  }
  zero_pad_q8_blocks(row, p, nb, n);
}
#endif

// quantize_act_row (convert.cpp), 256-bit: the same operations in the same order as the
// scalar loop, so the bytes are identical (see quantize_q8_avx512 above for the rules).
// Q8 / Q8P in the AVX2 build (the AVX-512 build has its own), Q8K (Q4_K / Q6_K weights)
// in both: the scalar Q8K loop cost ~3 ns a value too.
inline __m256 abs_max_nan_skip(__m256 v, __m256 m) {  // max(|v|, m); a NaN lane of v keeps m
  return _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), m);
}
inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_shuffle_ps(s, s, 1)));
}
// 32 values times id -> 32 int8 in order; sums of values 0..15 and 16..31.
inline __m256i quant32_256(const float* x, __m256 vid, int& sum_lo, int& sum_hi) {
  const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    const __m256 y = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid);
    const __m256 r = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 c = _mm256_min_ps(_mm256_max_ps(r, lo), hi);                          // NaN -> -127 here...
    q[k] = _mm256_cvtps_epi32(_mm256_and_ps(c, _mm256_cmp_ps(y, y, _CMP_ORD_Q)));  // ...then 0
  }
  sum_lo = hsum_epi32(_mm256_add_epi32(q[0], q[1]));
  sum_hi = hsum_epi32(_mm256_add_epi32(q[2], q[3]));
  // packs work per 128-bit lane: bytes come out as 4-value groups q0 q1 q2 q3 (low halves),
  // then q0 q1 q2 q3 (high halves); the permute puts them back in order.
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
inline float block_scale(float amax, float& id) {
  const float d = amax / 127.0f;
  id = d != 0.0f ? 1.0f / d : 0.0f;
  return d;
}
void quantize_act_256(ActKind kind, const float* x, void* dst, std::int64_t n) {
  if (kind == ActKind::Q8K) {
    auto* out = static_cast<ActQ8K*>(dst);
    for (std::int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
      __m256 m = _mm256_setzero_ps();
      for (int k = 0; k < kQKK / 8; ++k) m = abs_max_nan_skip(_mm256_loadu_ps(x + 8 * k), m);
      float id;
      out[b].d = block_scale(hmax8(m), id);
      const __m256 vid = _mm256_set1_ps(id);
      for (int j = 0; j < kQKK / 32; ++j) {
        int s0, s1;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs + 32 * j), quant32_256(x + 32 * j, vid, s0, s1));
        out[b].bsums[2 * j] = static_cast<std::int16_t>(s0);
        out[b].bsums[2 * j + 1] = static_cast<std::int16_t>(s1);
      }
    }
    return;
  }
  if (kind != ActKind::Q8 && kind != ActKind::Q8P) return quantize_act_row(kind, x, dst, n);
  const ActQ8Row row = act_q8_row(dst, n);
  const bool p = kind == ActKind::Q8P;
  const std::int64_t nb = n / kQK;
  for (std::int64_t b = 0; b < nb; ++b, x += kQK) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) m = abs_max_nan_skip(_mm256_loadu_ps(x + 8 * k), m);
    float id;
    row.d[b] = block_scale(hmax8(m), id);
    int s0, s1;
    const __m256i q = quant32_256(x, _mm256_set1_ps(id), s0, s1);
    row.sum[b] = s0 + s1;
    std::int8_t* o0 = q8_block_at(row, p, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o0), _mm256_castsi256_si128(q));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p ? o0 + 64 : o0 + 16), _mm256_extracti128_si256(q, 1));
  }
  zero_pad_q8_blocks(row, p, nb, n);
}

#if defined(GS_AVX512)
void quantize_act_avx512(ActKind kind, const float* x, void* dst, std::int64_t n) {
  if (kind == ActKind::Q8 || kind == ActKind::Q8P) return quantize_q8_avx512(kind, x, dst, n);
  quantize_act_256(kind, x, dst, n);
}
#endif

const IsaKernels& simd_kernels() {
#if defined(GS_AVX512)
  constexpr TileFn q4_0x16 = tile_q4_0x16;
  constexpr TileFn q8_0x16 = tile_q8_0x16;
  constexpr TileFn q6_kx16 = tile_q6_kx16;
  constexpr TileFn q4_kx16 = tile_q4_kx16;
  constexpr auto quantize_q8 = quantize_act_avx512;
#else
  constexpr TileFn q4_0x16 = tile_q4_0x16_avx2;
  constexpr TileFn q8_0x16 = tile_q8_0x16_avx2;
  constexpr TileFn q6_kx16 = tile_q6_kx16_avx2;
  constexpr TileFn q4_kx16 = nullptr;  // AVX2: Q4_K stays in GGUF order
  constexpr auto quantize_q8 = quantize_act_256;
#endif
#if defined(GS_PREFETCH_RUNTIME)
  static const TileFn q6x = std::getenv("GS_NO_Q6X16") ? nullptr : q6_kx16;
#else
  constexpr TileFn q6x = q6_kx16;
#endif
  static const IsaKernels k{tile<row_float<0>>,          tile<row_float<1>>,         tile<row_float<2>>,
                            tile<row_q_legacy<true>>,    tile<row_q_legacy<false>>,  tile_q4_k,
                            tile_q6_k,                   q4_0x16,                    q8_0x16,
                            q6x,                         q4_kx16,                    quantize_q8};
  return k;
}

}  // namespace
}  // namespace gs::ref

#pragma GCC diagnostic pop
