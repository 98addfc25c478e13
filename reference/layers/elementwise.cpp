// elementwise.cpp: RMSNorm, RoPE, softmax, vectorised GELU and softcap.
#include "layers/elementwise.h"

#include <emmintrin.h>
#include <omp.h>

#include <algorithm>

namespace gs::ref {

void rms_norm_rows(float* x, std::int64_t rows, std::int64_t n, const float* w, float eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* v = x + r * n;
    double ss = 0;
    for (std::int64_t i = 0; i < n; ++i) ss += static_cast<double>(v[i]) * v[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    if (w) {
      for (std::int64_t i = 0; i < n; ++i) v[i] = v[i] * scale * w[i];
    } else {
      for (std::int64_t i = 0; i < n; ++i) v[i] *= scale;
    }
  }
}

namespace {
constexpr std::int64_t kParallelMin = 4096;   // elements below which one thread is faster

// 4-lane forms of exp_fast / gelu_tanh with SSE2 (baseline x86-64): the same
// operations in the same order, so every lane equals the scalar function bit
// for bit. Written by hand because GCC vectorised the scalar clamp by computing
// every clamp case and selecting, and the unused case (x / 1.7e38) produced
// denormals, each a microcode assist (6 ns per element).
inline __m128 exp_fast4(__m128 x) {
  x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.0f)), _mm_set1_ps(88.0f));
  const __m128 magic = _mm_set1_ps(12582912.0f);
  const __m128 t = _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)), magic);
  const __m128 n = _mm_sub_ps(t, magic);
  const __m128i e = _mm_add_epi32(_mm_sub_epi32(_mm_castps_si128(t), _mm_set1_epi32(0x4B400000)), _mm_set1_epi32(127));
  const __m128 r = _mm_sub_ps(_mm_sub_ps(x, _mm_mul_ps(n, _mm_set1_ps(0.693359375f))), _mm_mul_ps(n, _mm_set1_ps(-2.12194440e-4f)));
  __m128 p = _mm_set1_ps(1.9875691500e-4f);
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.3981999507e-3f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(8.3334519073e-3f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(4.1665795894e-2f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.6666665459e-1f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(5.0000001201e-1f));
  const __m128 y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_mul_ps(p, r), r), r), _mm_set1_ps(1.0f));
  return _mm_mul_ps(y, _mm_castsi128_ps(_mm_slli_epi32(e, 23)));
}

inline __m128 gelu4(__m128 x) {
  const __m128 x3 = _mm_mul_ps(_mm_mul_ps(_mm_mul_ps(_mm_set1_ps(0.044715f), x), x), x);
  const __m128 u = _mm_mul_ps(_mm_set1_ps(0.7978845608028654f), _mm_add_ps(x, x3));
  return _mm_div_ps(x, _mm_add_ps(_mm_set1_ps(1.0f), exp_fast4(_mm_mul_ps(_mm_set1_ps(-2.0f), u))));
}
}  // namespace

void gelu_mul(const float* g, const float* u, float* out, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < (n + 1023) / 1024; ++c) {
    const std::int64_t i0 = c * 1024, i1 = std::min(n, i0 + 1024);
    std::int64_t i = i0;
    for (; i + 4 <= i1; i += 4) {
      __m128 v = gelu4(_mm_loadu_ps(g + i));
      if (u) v = _mm_mul_ps(v, _mm_loadu_ps(u + i));
      _mm_storeu_ps(out + i, v);
    }
    for (; i < i1; ++i) out[i] = u ? gelu_tanh(g[i]) * u[i] : gelu_tanh(g[i]);
  }
}

void softcap(float* x, std::int64_t n, float cap) {
  const float m2 = -2.0f / cap;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < (n + 4095) / 4096; ++c) {
    const std::int64_t i0 = c * 4096, i1 = std::min(n, i0 + 4096);
    std::int64_t i = i0;
    const __m128 vc = _mm_set1_ps(cap), vm2 = _mm_set1_ps(m2), one = _mm_set1_ps(1.0f), two = _mm_set1_ps(2.0f);
    for (; i + 4 <= i1; i += 4) {
      const __m128 e = exp_fast4(_mm_mul_ps(vm2, _mm_loadu_ps(x + i)));
      _mm_storeu_ps(x + i, _mm_mul_ps(vc, _mm_sub_ps(_mm_div_ps(two, _mm_add_ps(one, e)), one)));
    }
    for (; i < i1; ++i) x[i] = cap * (2.0f / (1.0f + exp_fast(m2 * x[i])) - 1.0f);
  }
}

void rope_angles(int Dh, int n_rot_pairs, double theta, std::int64_t p, float* cos_out, float* sin_out) {
  for (int i = 0; i < n_rot_pairs; ++i) {
    const double a = static_cast<double>(p) * std::pow(theta, -2.0 * i / Dh);
    cos_out[i] = static_cast<float>(std::cos(a));
    sin_out[i] = static_cast<float>(std::sin(a));
  }
}

void rope_head(float* x, int Dh, int n_rot_pairs, const float* cos_a, const float* sin_a) {
  const int half = Dh / 2;
  for (int i = 0; i < n_rot_pairs; ++i) {
    const float x0 = x[i], x1 = x[i + half];
    x[i] = x0 * cos_a[i] - x1 * sin_a[i];
    x[i + half] = x1 * cos_a[i] + x0 * sin_a[i];
  }
}

void softmax(float* x, std::int64_t n, float floor) {
  const float mx = *std::max_element(x, x + n);
  std::int64_t i = 0;
  const __m128 vmx = _mm_set1_ps(mx), vfloor = _mm_set1_ps(floor);
  for (; i + 4 <= n; i += 4) {
    const __m128 d = _mm_sub_ps(_mm_loadu_ps(x + i), vmx);
    _mm_storeu_ps(x + i, _mm_and_ps(_mm_cmpge_ps(d, vfloor), exp_fast4(d)));  // below the floor: +0
  }
  for (; i < n; ++i) x[i] = x[i] - mx >= floor ? exp_fast(x[i] - mx) : 0.0f;
  double sum = 0;
  for (i = 0; i < n; ++i) sum += x[i];
  const float inv = static_cast<float>(1.0 / sum);
  for (i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace gs::ref
