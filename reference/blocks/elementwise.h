// elementwise.h: the small pure functions of the forward pass (no counting here).
#pragma once
#include <cmath>
#include <cstdint>

namespace gs::ref {

// x[rows][n] <- x / sqrt(mean(x^2) + eps) * w   (w == nullptr: no scale, as Gemma's v_norm)
void rms_norm_rows(float* x, std::int64_t rows, std::int64_t n, const float* w, float eps);

// GELU, tanh approximation (gelu_pytorch_tanh / ggml_gelu).
inline float gelu_tanh(float x) {
  constexpr float kC = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(kC * (x + 0.044715f * x * x * x)));
}

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

// In-place softmax over n values; returns nothing, stable (max subtracted).
void softmax(float* x, std::int64_t n);

}  // namespace gs::ref
