// formats_legacy.cpp: Q4_0 and Q8_0 row conversions (ggml's reference quantizers:
// Q4_0 d = signed max / -8, Q8_0 d = absmax / 127).
#include <algorithm>
#include <cmath>

#include "fp16.h"
#include "formats.h"

namespace gs::ref::fmt {

void quantize_q4_0(const float* x, BlockQ4_0* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j] * id + 8.5f)));
      const int q1 = std::min(15, static_cast<int>(static_cast<std::int8_t>(x[j + kQK / 2] * id + 8.5f)));
      y[b].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

}  // namespace gs::ref::fmt
