// formats.h: per-format row conversions (scalar, exact to the GGUF block layouts).
// n is the number of weights, a multiple of the format's block size.
#pragma once
#include <cstdint>

#include "block_layouts.h"

namespace gs::ref::fmt {

void quantize_q4_0(const float* x, BlockQ4_0* y, std::int64_t n);
void dequantize_q4_0(const BlockQ4_0* x, float* y, std::int64_t n);
void quantize_q8_0(const float* x, BlockQ8_0* y, std::int64_t n);
void dequantize_q8_0(const BlockQ8_0* x, float* y, std::int64_t n);
void quantize_q4_k(const float* x, BlockQ4_K* y, std::int64_t n);
void dequantize_q4_k(const BlockQ4_K* x, float* y, std::int64_t n);
void quantize_q6_k(const float* x, BlockQ6_K* y, std::int64_t n);
void dequantize_q6_k(const BlockQ6_K* x, float* y, std::int64_t n);

// Q4_K scale/min unpacking (get_scale_min_k4): sub-block j < 8.
inline void q4k_scale_min(int j, const std::uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace gs::ref::fmt
