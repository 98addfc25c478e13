// fp16.h: IEEE half and bfloat16 <-> float, bit-exact, portable (no F16C needed).
// fp32 -> fp16 rounds to nearest even (as F16C's _cvtss_sh with rounding 0 and
// ggml's GGML_FP32_TO_FP16); fp32 -> bf16 rounds to nearest even, NaN kept quiet
// (as ggml_compute_fp32_to_bf16).
#pragma once
#include <cpuid.h>

#include <cstdint>
#include <cstring>

namespace gs::ref {

// The CPU converts halves in hardware (F16C, CPUID leaf 1, ECX bit 29). Read from CPUID
// rather than __builtin_cpu_supports("f16c"), which clang does not know.
inline bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

inline float bits_to_f32(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::uint32_t f32_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float fp16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    // subnormal: value = man * 2^-24
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400u) == 0);
    man &= 0x3FFu;
    return bits_to_f32(sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (man << 13));
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// n halves to floats, branch-free so the loop vectorises (F. Giesen's half_to_float:
// rebias the exponent; inf/nan get the rest of the exponent range; subnormals are
// renormalised by one exact float subtraction). Bit-identical to fp16_to_f32.
inline void fp16_to_f32_row(const std::uint16_t* h, float* out, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint32_t v = h[i];
    std::uint32_t o = (v & 0x7FFFu) << 13;
    const std::uint32_t e = o & 0x0F800000u;
    o += (127u - 15u) << 23;
    o += ((128u - 16u) << 23) & (0u - static_cast<std::uint32_t>(e == 0x0F800000u));  // inf / nan
    const float fs = bits_to_f32(o + (1u << 23)) - bits_to_f32(113u << 23);  // zero / subnormal: renormalised
    const std::uint32_t sub = 0u - static_cast<std::uint32_t>(e == 0);
    o = (f32_to_bits(fs) & sub) | (o & ~sub);
    out[i] = bits_to_f32(o | ((v & 0x8000u) << 16));
  }
}

inline std::uint16_t f32_to_fp16(float f) {
  const std::uint32_t u = f32_to_bits(f);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t absu = u & 0x7FFFFFFFu;
  if (absu >= 0x7F800000u) {  // inf or nan
    return static_cast<std::uint16_t>(sign | 0x7C00u | (absu > 0x7F800000u ? 0x200u : 0u));
  }
  if (absu >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
  if (absu < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (absu < 0x33000000u) return static_cast<std::uint16_t>(sign);  // < 2^-25: rounds to 0
    const std::uint32_t e = absu >> 23;
    const std::uint32_t m = (absu & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // value = m * 2^(e-150); half units 2^-24 -> shift = 126 - e
    std::uint32_t q = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    return static_cast<std::uint16_t>(sign | q);
  }
  // normal: rebias exponent, round mantissa 23 -> 10 bits, nearest even (carry may bump the exponent)
  std::uint32_t h = ((absu >> 13) - (112u << 10));
  const std::uint32_t rem = absu & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

inline float bf16_to_f32(std::uint16_t b) { return bits_to_f32(static_cast<std::uint32_t>(b) << 16); }

inline std::uint16_t f32_to_bf16(float f) {
  const std::uint32_t u = f32_to_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 64u);  // quiet nan
  return static_cast<std::uint16_t>((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace gs::ref
