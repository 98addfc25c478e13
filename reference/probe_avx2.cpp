// probe_avx2.cpp: register-only AVX2 loops for the probe's fp32 and int8 peaks on CPUs
// without AVX-512 (compiled with AVX2/FMA flags; called only when the CPU has them).
#include <immintrin.h>

#include <cstdint>

#include "probe.h"

namespace gs::ref {

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

// The AVX2 kernel's int8 step, 12 independent chains: u8 x s8 products summed in pairs
// (maddubs), pairs to int32 (madd by ones), accumulated. OP = 2 per product (as the VNNI
// loop counts): iters x 12 x 32 x 2. The bytes multiplied are the chain's own accumulator
// (with constant operands the compiler hoists maddubs and madd out of the loop, and the loop
// measured vector adds: 1.0-1.3 T"OP"/s a core); y alternates +1/-1 bytes, so a step adds at
// most +-510 to a lane (vector adds wrap; nothing for UBSan).
double int8_loop_avx2(std::int64_t iters) {
  __m256i a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm256_set1_epi32(k * 0x01020304);
  const __m256i y = _mm256_set1_epi16(static_cast<short>(0xFF01)), ones = _mm256_set1_epi16(1);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm256_add_epi32(a[k], _mm256_madd_epi16(_mm256_maddubs_epi16(a[k], y), ones));
  }
  __m256i s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_epi32(s, a[k]);
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  std::uint32_t acc = 0;
  for (std::uint32_t v : lanes) acc += v;
  volatile std::uint32_t sink = acc;
  (void)sink;
  return static_cast<double>(iters) * 12 * 32 * 2;
}

}  // namespace gs::ref
