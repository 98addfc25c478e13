// elementwise.h: the small pure functions of the forward pass (no counting here).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <cstdint>

namespace gs::ref {

// x[rows][n] <- x / sqrt(mean(x^2) + eps) * w   (w == nullptr: no scale, as Gemma's v_norm)
void rms_norm_rows(float* x, std::int64_t rows, std::int64_t n, const float* w, float eps);

// e^x for float x, vectorisable (plain arithmetic, no libm call): Cephes expf's
// range reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial, times 2^n by
// exponent bits. Relative error below 2e-7 over [-87, 88]; x is clamped to that
// range (e^-87 ~ 1.6e-38, e^88 ~ 1.7e38). Bit-identical wherever it runs (no FMA:
// the reference library is compiled without it).
inline float exp_fast(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = x * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const std::int32_t ti = std::bit_cast<std::int32_t>(t);
  const std::int32_t e = (ti - 0x4B400000) + 127;  // n + 127
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * std::bit_cast<float>(e << 23);
}

// GELU, tanh approximation (gelu_pytorch_tanh / ggml_gelu):
//   0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)),  u = sqrt(2/pi) (x + 0.044715 x^3).
inline float gelu_tanh(float x) {
  constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi)
  const float u = kC * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_fast(-2.0f * u));
}

// out[i] = gelu_tanh(g[i]) * u[i] (u == nullptr: no product), n values; vectorised,
// split over OpenMP threads when n is large. In place (out == g) is allowed.
void gelu_mul(const float* g, const float* u, float* out, std::int64_t n);

// x[i] = cap * tanh(x[i] / cap) = cap * (2 / (1 + e^(-2 x / cap)) - 1); vectorised, threaded.
void softcap(float* x, std::int64_t n, float cap);

// NeoX-style RoPE on one head x[Dh] at position p: pairs (i, i + Dh/2) for
// i < n_rot_pairs rotate by angle p * theta^(-2i/Dh); the other pairs stay
// (proportional RoPE: Gemma 4 global layers rotate the first fraction*Dh/2
// pairs with frequencies computed over the full Dh, as transformers'
// _compute_proportional_rope_parameters; fraction 1 is the default RoPE).
// rope_angles fills cos/sin [n_rot_pairs] for position p (once per token), rope_head
// applies them to one head.
void rope_angles(int Dh, int n_rot_pairs, double theta, std::int64_t p, float* cos_out, float* sin_out);
void rope_head(float* x, int Dh, int n_rot_pairs, const float* cos_a, const float* sin_a);
inline int rope_pairs(int Dh, double fraction) { return static_cast<int>(fraction * Dh / 2.0); }

// In-place softmax over n values (exp_fast; max subtracted; sum in double). Values more than
// `floor` below the max (a negative number; default: none) give exactly 0.
void softmax(float* x, std::int64_t n, float floor = -std::numeric_limits<float>::infinity());

}  // namespace gs::ref
