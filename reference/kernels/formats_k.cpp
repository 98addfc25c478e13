// formats_k.cpp: Q4_K and Q6_K row conversions. Dequantization follows ggml's
// dequantize_row_q4_K / _q6_K operation for operation (bit-exact). The quantizers
// are simple reference quality (synthetic weights only): Q4_K fits scale and min of
// each 32-weight sub-block by a few least-squares passes, Q6_K uses absmax per
// 16-weight group; the per-sub-block scales are then quantized to 6 / 8 bits.
#include <algorithm>
#include <cmath>

#include "fp16.h"
#include "formats.h"

namespace gs::ref::fmt {
namespace {

int nearest(float v) { return static_cast<int>(std::nearbyint(v)); }

// Fit x ~ s*q - m (q in 0..15, m >= 0) for one sub-block of 32 weights.
void fit_scale_min(const float* x, float& s, float& m) {
  float lo = *std::min_element(x, x + 32), hi = *std::max_element(x, x + 32);
  lo = std::min(lo, 0.0f);  // like ggml: the min is never positive
  s = (hi - lo) / 15.0f;
  m = -lo;
  if (s == 0.0f) return;
  float best_err = INFINITY, best_s = s, best_m = m;
  for (int pass = 0; pass < 4; ++pass) {
    double sq = 0, sq2 = 0, sx = 0, sqx = 0, err = 0;
    int qv[32];
    for (int j = 0; j < 32; ++j) {
      qv[j] = std::clamp(nearest((x[j] + m) / s), 0, 15);
      const double e = s * qv[j] - m - x[j];
      err += e * e;
      sq += qv[j];
      sq2 += double(qv[j]) * qv[j];
      sx += x[j];
      sqx += qv[j] * double(x[j]);
    }
    if (err < best_err) {
      best_err = static_cast<float>(err);
      best_s = s;
      best_m = m;
    }
    // least squares for x = s*q + b over the current q, with b = -m <= 0
    const double det = 32 * sq2 - sq * sq;
    if (det <= 0) break;
    double ns = (32 * sqx - sq * sx) / det;
    double nb = (sx - ns * sq) / 32;
    if (nb > 0) {
      nb = 0;
      ns = sq2 > 0 ? sqx / sq2 : 0;
    }
    if (ns <= 0) break;
    s = static_cast<float>(ns);
    m = static_cast<float>(-nb);
  }
  s = best_s;
  m = best_m;
}

}  // namespace

void quantize_q4_k(const float* x, BlockQ4_K* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; ++j) {
      fit_scale_min(x + 32 * j, sc[j], mn[j]);
      max_sc = std::max(max_sc, sc[j]);
      max_mn = std::max(max_mn, mn[j]);
    }
    const float d = max_sc / 63.0f, dmin = max_mn / 63.0f;
    y[b].d = f32_to_fp16(d);
    y[b].dmin = f32_to_fp16(dmin);
    int ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
      ls[j] = d > 0 ? std::clamp(nearest(sc[j] / d), 0, 63) : 0;
      lm[j] = dmin > 0 ? std::clamp(nearest(mn[j] / dmin), 0, 63) : 0;
    }
    // pack 8 x (6-bit scale, 6-bit min) into 12 bytes, the inverse of q4k_scale_min
    std::uint8_t* s = y[b].scales;
    for (int j = 0; j < 12; ++j) s[j] = 0;
    for (int j = 0; j < 8; ++j) {
      if (j < 4) {
        s[j] = static_cast<std::uint8_t>(ls[j]);
        s[j + 4] = static_cast<std::uint8_t>(lm[j]);
      } else {
        s[j + 4] = static_cast<std::uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
        s[j - 4] |= static_cast<std::uint8_t>((ls[j] >> 4) << 6);
        s[j] |= static_cast<std::uint8_t>((lm[j] >> 4) << 6);
      }
    }
    // quantize with the stored (f16-rounded) scales
    const float df = fp16_to_f32(y[b].d), dminf = fp16_to_f32(y[b].dmin);
    std::uint8_t q[kQKK];
    for (int j = 0; j < 8; ++j) {
      int scj, mj;
      q4k_scale_min(j, s, scj, mj);
      const float step = df * scj, off = dminf * mj;
      for (int l = 0; l < 32; ++l) {
        q[32 * j + l] = step > 0 ? static_cast<std::uint8_t>(std::clamp(nearest((x[32 * j + l] + off) / step), 0, 15)) : 0;
      }
    }
    for (int i = 0; i < 4; ++i) {
      for (int l = 0; l < 32; ++l) {
        y[b].qs[32 * i + l] = static_cast<std::uint8_t>(q[64 * i + l] | (q[64 * i + 32 + l] << 4));
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b) {
    const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    for (int i = 0; i < 4; ++i, q += 32) {
      int sc, m;
      q4k_scale_min(2 * i, x[b].scales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      q4k_scale_min(2 * i + 1, x[b].scales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float gs[16], max_gs = 0;
    for (int g = 0; g < 16; ++g) {
      float amax = 0;
      for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * g + l]));
      gs[g] = amax / 31.0f;
      max_gs = std::max(max_gs, gs[g]);
    }
    const float d = max_gs / 127.0f;
    y[b].d = f32_to_fp16(d);
    const float df = fp16_to_f32(y[b].d);
    std::uint8_t q[kQKK];
    for (int g = 0; g < 16; ++g) {
      const int sc = d > 0 ? std::clamp(nearest(gs[g] / d), 0, 127) : 0;
      y[b].scales[g] = static_cast<std::int8_t>(sc);
      const float step = df * static_cast<float>(sc);
      for (int l = 0; l < 16; ++l) {
        const int v = step > 0 ? std::clamp(nearest(x[16 * g + l] / step), -32, 31) : 0;
        q[16 * g + l] = static_cast<std::uint8_t>(v + 32);
      }
    }
    q6_k_pack(q, y[b]);
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, std::int64_t n) {
  for (std::int64_t b = 0; b < n / kQKK; ++b, y += kQKK) {
    const float d = fp16_to_f32(x[b].d);
    std::uint8_t q[kQKK];
    q6_k_unpack(x[b], q);
    for (int e = 0; e < kQKK; ++e)
      y[e] = d * static_cast<float>(x[b].scales[e / 16]) * static_cast<float>(static_cast<int>(q[e]) - 32);
  }
}

}  // namespace gs::ref::fmt
