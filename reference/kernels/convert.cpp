// convert.cpp: quantize_row / dequantize_row for every executable format, the
// block geometry table, and the 8-bit activation quantizers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "error.h"
#include "fp16.h"
#include "formats.h"
#include "qmatrix.h"

namespace gs::ref {

bool kernel_supports(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q4_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

BlockGeom block_geom(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return {1, 4};
    case GgmlType::F16: return {1, 2};
    case GgmlType::BF16: return {1, 2};
    case GgmlType::Q8_0: return {kQK, sizeof(BlockQ8_0)};
    case GgmlType::Q4_0: return {kQK, sizeof(BlockQ4_0)};
    case GgmlType::Q4_K: return {kQKK, sizeof(BlockQ4_K)};
    case GgmlType::Q6_K: return {kQKK, sizeof(BlockQ6_K)};
    default:
      input_error("reference kernel: tensor type id " + std::to_string(static_cast<int>(t)) +
                  " is not supported (supported: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)");
  }
}

namespace {
void check_row(GgmlType t, std::int64_t n) {
  const BlockGeom g = block_geom(t);
  if (n < 0 || n % g.weights != 0) {
    input_error("reference kernel: row of " + std::to_string(n) + " weights is not a multiple of the block size " +
                std::to_string(g.weights));
  }
}
}  // namespace

void dequantize_row(GgmlType t, const void* src, float* dst, std::int64_t n) {
  check_row(t, n);
  switch (t) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<std::size_t>(n) * 4); break;
    case GgmlType::F16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
      break;
    }
    case GgmlType::BF16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    case GgmlType::Q8_0: fmt::dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, n); break;
    case GgmlType::Q4_0: fmt::dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, n); break;
    case GgmlType::Q4_K: fmt::dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, n); break;
    case GgmlType::Q6_K: fmt::dequantize_q6_k(static_cast<const BlockQ6_K*>(src), dst, n); break;
    default: break;  // unreachable: check_row threw
  }
}

void quantize_row(GgmlType t, const float* src, void* dst, std::int64_t n) {
  check_row(t, n);
  switch (t) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<std::size_t>(n) * 4); break;
    case GgmlType::F16: {
      auto* d = static_cast<std::uint16_t*>(dst);
      for (std::int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      break;
    }
    case GgmlType::BF16: {
      auto* d = static_cast<std::uint16_t*>(dst);
      for (std::int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      break;
    }
    case GgmlType::Q8_0: fmt::quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), n); break;
    case GgmlType::Q4_0: fmt::quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), n); break;
    case GgmlType::Q4_K: fmt::quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), n); break;
    case GgmlType::Q6_K: fmt::quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), n); break;
    default: break;
  }
}

ActKind act_kind(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: return ActKind::Q8;
    case GgmlType::Q4_0: return ActKind::Q8P;
    case GgmlType::Q4_K: case GgmlType::Q6_K: return ActKind::Q8K;
    default: return ActKind::F32;
  }
}

std::size_t act_row_bytes(ActKind k, std::int64_t n) {
  switch (k) {
    case ActKind::Q8: case ActKind::Q8P: return static_cast<std::size_t>(act_q8_blocks_padded(n)) * (kQK + 8);
    case ActKind::Q8K: return static_cast<std::size_t>(n / kQKK) * sizeof(ActQ8K);
    default: return static_cast<std::size_t>(n) * 4;
  }
}

// Activations: d = absmax / 127, q = round-half-even(x / d) (one scalar rule for
// every ISA, so each path sees the same integers).
namespace {
// std::nearbyint for |v| < 2^22 under the default rounding mode (nearest, ties to even):
// adding and subtracting 1.5 * 2^23 rounds to an integer in the float unit. Inline
// arithmetic instead of a libm call per activation (baseline x86-64 has no roundss);
// larger |v| (and NaN) pass through unchanged, which the caller's clamp then handles.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;
  return std::fabs(v) < 4194304.0f ? (v + kMagic) - kMagic : v;
}
}  // namespace

void quantize_act_row(ActKind k, const float* x, void* dst, std::int64_t n) {
  if (k == ActKind::F32) {
    std::memcpy(dst, x, static_cast<std::size_t>(n) * 4);
    return;
  }
  const bool q8 = k == ActKind::Q8 || k == ActKind::Q8P;
  const int bw = q8 ? kQK : kQKK;
  const ActQ8Row row = q8 ? act_q8_row(dst, n) : ActQ8Row{nullptr, nullptr, nullptr};
  std::int8_t tmp[kQKK];
  for (std::int64_t b = 0; b < n / bw; ++b, x += bw) {
    float amax = 0.0f;
    for (int j = 0; j < bw; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::int8_t* qs = q8 ? tmp : (static_cast<ActQ8K*>(dst) + b)->qs;
    for (int j = 0; j < bw; ++j) {
      const float v = round_even(x[j] * id);
      qs[j] = static_cast<std::int8_t>(v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? static_cast<int>(v) : 0);
    }
    if (q8) {
      int s = 0;
      for (int j = 0; j < bw; ++j) {
        s += qs[j];
        row.qs[k == ActKind::Q8P ? q8p_pos(b, j) : b * kQK + j] = qs[j];
      }
      row.d[b] = d;
      row.sum[b] = s;
    } else {
      auto* a = static_cast<ActQ8K*>(dst) + b;
      a->d = d;
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += qs[16 * g + j];
        a->bsums[g] = static_cast<std::int16_t>(s);
      }
    }
  }
  if (q8) {  // the zero padding blocks
    for (std::int64_t b = n / kQK; b < act_q8_blocks_padded(n); ++b) {
      for (int j = 0; j < kQK; ++j) row.qs[k == ActKind::Q8P ? q8p_pos(b, j) : b * kQK + j] = 0;
      row.d[b] = 0.0f;
      row.sum[b] = 0;
    }
  }
}

void dequantize_act_row(ActKind k, const void* src, float* y, std::int64_t n) {
  if (k == ActKind::F32) {
    std::memcpy(y, src, static_cast<std::size_t>(n) * 4);
    return;
  }
  if (k == ActKind::Q8K) {
    for (std::int64_t b = 0; b < n / kQKK; ++b) {
      const auto* a = static_cast<const ActQ8K*>(src) + b;
      for (int j = 0; j < kQKK; ++j) y[b * kQKK + j] = a->d * a->qs[j];
    }
    return;
  }
  const ActQ8Row row = act_q8_row(src, n);
  for (std::int64_t b = 0; b < n / kQK; ++b) {
    for (int j = 0; j < kQK; ++j) y[b * kQK + j] = row.d[b] * row.qs[k == ActKind::Q8P ? q8p_pos(b, j) : b * kQK + j];
  }
}

}  // namespace gs::ref
