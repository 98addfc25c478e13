// dot_scalar.cpp: the portable path, and the definition of the canonical
// summation the SIMD paths reproduce bit for bit (kernels.h).
#include "error.h"
#include "fp16.h"
#include "formats.h"
#include "kernels.h"

namespace gs::ref {
namespace {

// One weight row x one activation row, per format.
float dot_q4_0(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ4_0*>(w);
  const ActQ8Row xr = act_q8_row(x, n);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < n / kQK; ++b) {
    int isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += ((wb[b].qs[j] & 0xF) - 8) * xr.qs[q8p_pos(b, j)];
      isum += ((wb[b].qs[j] >> 4) - 8) * xr.qs[q8p_pos(b, j + kQK / 2)];
    }
    const float s = fp16_to_f32(wb[b].d) * xr.d[b];
    acc[b % 8] += no_fma(s * static_cast<float>(isum));
  }
  return reduce8(acc);
}

float dot_q8_0(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ8_0*>(w);
  const ActQ8Row xr = act_q8_row(x, n);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < n / kQK; ++b) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += wb[b].qs[j] * xr.qs[b * kQK + j];
    const float s = fp16_to_f32(wb[b].d) * xr.d[b];
    acc[b % 8] += no_fma(s * static_cast<float>(isum));
  }
  return reduce8(acc);
}

float dot_q4_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ4_K*>(w);
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      fmt::q4k_scale_min(j, wb[b].scales, sc, m);
      const std::uint8_t* q = wb[b].qs + 32 * (j / 2);
      const std::int8_t* a = xb[b].qs + 32 * j;
      int isum = 0;
      for (int l = 0; l < 32; ++l) isum += ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) * a[l];
      sumi += sc * isum;
      summ += m * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    }
    const float sd = xb[b].d * fp16_to_f32(wb[b].d);
    const float sm = xb[b].d * fp16_to_f32(wb[b].dmin);
    const float c = no_fma(sd * static_cast<float>(sumi)) - no_fma(sm * static_cast<float>(summ));
    acc[b % 8] += c;
  }
  return reduce8(acc);
}

float dot_q6_k(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  const auto* xb = reinterpret_cast<const ActQ8K*>(x);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    std::uint8_t q[kQKK];  // unsigned 6-bit values 0..63, in weight order
    q6_k_unpack(wb[b], q);
    int sumi = 0;
    for (int g = 0; g < 16; ++g) {
      int isum = 0;
      for (int l = 0; l < 16; ++l) isum += q[16 * g + l] * xb[b].qs[16 * g + l];
      sumi += wb[b].scales[g] * (isum - 32 * xb[b].bsums[g]);
    }
    const float sd = xb[b].d * fp16_to_f32(wb[b].d);
    acc[b % 8] += no_fma(sd * static_cast<float>(sumi));
  }
  return reduce8(acc);
}

template <float (*Conv)(std::uint16_t)>
float dot_half(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wv = reinterpret_cast<const std::uint16_t*>(w);
  const auto* xv = reinterpret_cast<const float*>(x);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) acc[i % 8] += Conv(wv[i]) * xv[i];
  return reduce8(acc);
}

float dot_f32(std::int64_t n, const std::uint8_t* w, const std::uint8_t* x) {
  const auto* wv = reinterpret_cast<const float*>(w);
  const auto* xv = reinterpret_cast<const float*>(x);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) acc[i % 8] += wv[i] * xv[i];
  return reduce8(acc);
}

template <float (*Dot)(std::int64_t, const std::uint8_t*, const std::uint8_t*)>
void tile(const Tile& k) {
  for (int r = 0; r < k.nr; ++r) {
    const std::uint8_t* w = k.w + r * k.w_stride;
    for (int t = 0; t < k.nt; ++t) k.y[t * k.y_stride + r] = Dot(k.n, w, k.x + t * k.x_stride);
  }
}

}  // namespace

TileFn IsaKernels::for_type(GgmlType t) const {
  switch (t) {
    case GgmlType::F32: return f32;
    case GgmlType::F16: return f16;
    case GgmlType::BF16: return bf16;
    case GgmlType::Q8_0: return q8_0;
    case GgmlType::Q4_0: return q4_0;
    case GgmlType::Q4_K: return q4_k;
    case GgmlType::Q6_K: return q6_k;
    default:
      input_error("reference kernel: no dot product for tensor type id " + std::to_string(static_cast<int>(t)));
  }
}

const IsaKernels& kernels_scalar() {
  static const IsaKernels k{tile<dot_f32>, tile<dot_half<fp16_to_f32>>, tile<dot_half<bf16_to_f32>>,
                            tile<dot_q8_0>, tile<dot_q4_0>, tile<dot_q4_k>, tile<dot_q6_k>};
  return k;
}

}  // namespace gs::ref
