// elementwise.cpp: RMSNorm, RoPE, softmax, vectorised GELU and softcap.
//
// no-trapping-math lets GCC vectorise exp_fast's clamp (a select instead of a
// branch); it changes no value (IEEE results are the same, only FP exceptions
// are ignored), so the scalar gelu_tanh elsewhere stays bit-identical.
#pragma GCC optimize("no-trapping-math")
#include "blocks/elementwise.h"

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
constexpr std::int64_t kParallelMin = 16384;  // elements below which one thread is faster
}

void gelu_mul(const float* g, const float* u, float* out, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < (n + 1023) / 1024; ++c) {
    const std::int64_t i0 = c * 1024, i1 = std::min(n, i0 + 1024);
    if (u) {
#pragma omp simd
      for (std::int64_t i = i0; i < i1; ++i) out[i] = gelu_tanh(g[i]) * u[i];
    } else {
#pragma omp simd
      for (std::int64_t i = i0; i < i1; ++i) out[i] = gelu_tanh(g[i]);
    }
  }
}

void softcap(float* x, std::int64_t n, float cap) {
  const float m2 = -2.0f / cap;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (std::int64_t c = 0; c < (n + 4095) / 4096; ++c) {
    const std::int64_t i0 = c * 4096, i1 = std::min(n, i0 + 4096);
#pragma omp simd
    for (std::int64_t i = i0; i < i1; ++i) x[i] = cap * (2.0f / (1.0f + exp_fast(m2 * x[i])) - 1.0f);
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

void softmax(float* x, std::int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (std::int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace gs::ref
