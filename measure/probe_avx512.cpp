// probe_avx512.cpp: register-only AVX-512 loops for the probe's vector peaks
// (compiled with AVX-512 flags; called only when the CPU has them).
#include <cstdint>
#include <immintrin.h>

#include "probe.h"

// GCC 12 reports its own _mm512_reduce_add_ps as reading an uninitialised value (a false
// positive, as in kernels/dot_x86.inl); silenced for this file only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace gs::measure {

// 12 independent FMA chains of 16 floats: enough to cover FMA latency x 2 ports.
// FLOP = iters x 12 x 16 x 2.
double fma_loop_avx512(std::int64_t iters) {
  __m512 a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm512_set1_ps(1.0f + 0.001f * static_cast<float>(k));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm512_fmadd_ps(a[k], m, c);
  }
  __m512 s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, a[k]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * 12 * 16 * 2;
}

// 12 independent vpdpbusd chains: 64 u8 x s8 products per instruction.
// OP = iters x 12 x 64 x 2 (multiply and add).
double vnni_loop_avx512(std::int64_t iters) {
  __m512i a[12];
  for (int k = 0; k < 12; ++k) a[k] = _mm512_set1_epi32(k);
  // y alternates +1/-1 bytes, so each lane's four products sum to 0 and the
  // accumulators never grow (no wrap-around, nothing for UBSan to flag).
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi16(static_cast<short>(0xFF01));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; ++k) a[k] = _mm512_dpbusd_epi32(a[k], x, y);
  }
  __m512i s = a[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_epi32(s, a[k]);
  alignas(64) std::uint32_t lanes[16];
  _mm512_store_si512(lanes, s);
  std::uint32_t acc = 0;
  for (std::uint32_t v : lanes) acc += v;  // unsigned: wrap is defined
  volatile std::uint32_t sink = acc;
  (void)sink;
  return static_cast<double>(iters) * 12 * 64 * 2;
}

}  // namespace gs::measure

#pragma GCC diagnostic pop
