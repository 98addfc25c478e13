// probe_avx2.cpp: register-only AVX2 FMA loop for the probe's fp32 peak on CPUs
// without AVX-512 (compiled with AVX2/FMA flags; called only when the CPU has them).
#include <immintrin.h>

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

}  // namespace gs::ref
