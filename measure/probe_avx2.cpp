// probe_avx2.cpp: register-only AVX2 loops for the probe's fp32 and int8 peaks on CPUs
// without AVX-512 (compiled with AVX2/FMA flags; called only when the CPU has them).
#include <immintrin.h>

#include <cstdint>

#include "probe.h"

namespace gs::measure {

// 12 independent FMA chains of 8 floats. FLOP = iters x 12 x 8 x 2.
double fma_loop_avx2(std::int64_t iters) {
  __m256 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm256_set1_ps(1.0f + 0.001f * static_cast<float>(k));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm256_fmadd_ps(a[k], m, c);
  }
  __m256 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, a[k]);
  float v[8];
  _mm256_storeu_ps(v, s);
  volatile float sink = v[0] + v[7];
  (void)sink;
  return static_cast<double>(iters) * 12 * 8 * 2;
}

// The AVX2 kernel's int8 step as its tiles run it (tile_q4_0x16_avx2 and the K-quant tiles):
// u8 x s8 products summed in pairs (maddubs) and accumulated in int16 over 8 steps, then
// pairs to int32 (madd by ones) once. 8 independent chains (maddubs' latency times its
// throughput on the AVX2 cores seen: 3-5 cycles x 1-2 a cycle). OP = 2 per product (as the
// VNNI loop counts): iters x 8 x 8 x 32 x 2. The bytes multiplied are the chain's own
// accumulator (with constant operands the compiler hoists maddubs out of the loop, and the
// loop measured vector adds: 1.0-1.3 T"OP"/s a core); y alternates +1/-1 bytes, so a step
// adds at most +-510 to a lane (int16 adds wrap; nothing for UBSan). A madd after every maddubs
// would read half the tile's rate on a core whose one multiply pipe runs both, and the Q4_0
// tile would then run above its "peak".
double int8_loop_avx2(std::int64_t iters) {
  constexpr int kChains = 8, kSteps = 8;
  __m256i a[kChains];
  for (int k = 0; k < kChains; ++k) a[k] = _mm256_set1_epi32(k * 0x01020304);
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  const __m256i y = _mm256_set1_epi16(static_cast<short>(0xFF01)), ones = _mm256_set1_epi16(1);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < kSteps; ++j)
#pragma GCC unroll 8
      for (int k = 0; k < kChains; ++k) a[k] = _mm256_add_epi16(a[k], _mm256_maddubs_epi16(a[k], y));
    s0 = _mm256_add_epi32(s0, _mm256_add_epi32(_mm256_madd_epi16(a[0], ones), _mm256_madd_epi16(a[1], ones)));
    s1 = _mm256_add_epi32(s1, _mm256_add_epi32(_mm256_madd_epi16(a[2], ones), _mm256_madd_epi16(a[3], ones)));
    s0 = _mm256_add_epi32(s0, _mm256_add_epi32(_mm256_madd_epi16(a[4], ones), _mm256_madd_epi16(a[5], ones)));
    s1 = _mm256_add_epi32(s1, _mm256_add_epi32(_mm256_madd_epi16(a[6], ones), _mm256_madd_epi16(a[7], ones)));
  }
  __m256i s = _mm256_add_epi32(s0, s1);
  for (int k = 0; k < kChains; ++k) s = _mm256_add_epi32(s, a[k]);
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  std::uint32_t acc = 0;
  for (std::uint32_t v : lanes) acc += v;
  volatile std::uint32_t sink = acc;
  (void)sink;
  return static_cast<double>(iters) * kChains * kSteps * 32 * 2;
}

}  // namespace gs::measure
