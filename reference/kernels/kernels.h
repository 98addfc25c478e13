// kernels.h: the dot-product tiles each ISA implements (scalar, AVX2, AVX-512).
//
// A tile computes y[t*y_stride + r] = dot(weight row r, activation row t) for
// r < nr, t < nt. Weight rows are GGUF blocks; activation rows are in the layout
// act_kind(type) gives (blocks.h).
//
// Canonical summation (integer formats), so every ISA gives bit-identical
// results: each block b (32 weights for Q4_0/Q8_0, 256 for Q4_K/Q6_K) gives an
// exact integer dot product and from it one float contribution c_b:
//   Q4_0/Q8_0: c_b = (dw_b * dx_b) * float(isum_b)
//   Q4_K:      c_b = (dx_b * d_b) * float(sumi_b) - (dx_b * dmin_b) * float(summ_b)
//   Q6_K:      c_b = (dx_b * d_b) * float(sumi_b)
// accumulated in 8 lanes, acc[b % 8] += c_b in block order, then reduced as
//   ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)).
// No fused multiply-add anywhere in this chain. Float formats (F32/F16/BF16)
// are summed in whatever order each ISA likes (tests use a tolerance).
#pragma once
#include <cstddef>
#include <cstdint>

#include "block_layouts.h"

namespace gs::ref {

struct Tile {
  std::int64_t n = 0;              // ne0: dot-product length
  const std::uint8_t* w = nullptr; // first weight row
  std::size_t w_stride = 0;        // bytes between weight rows
  int nr = 0;                      // rows in the tile
  const std::uint8_t* x = nullptr; // first activation row
  std::size_t x_stride = 0;        // bytes between activation rows
  int nt = 0;                      // tokens in the tile
  float* y = nullptr;              // y[t * y_stride + r]
  std::int64_t y_stride = 0;
};
using TileFn = void (*)(const Tile&);

struct IsaKernels {
  TileFn f32, f16, bf16, q8_0, q4_0, q4_k, q6_k;
  // Q4_0 interleaved by 16 rows (qmatrix.h); nullptr where the ISA has none. Its
  // Tile: w = the group's first byte, nr = 16, w_stride unused.
  TileFn q4_0x16 = nullptr;
  // Q8_0 interleaved by 16 rows (qmatrix.h); the same Tile; nullptr where the ISA has none.
  TileFn q8_0x16 = nullptr;
  // Q6_K interleaved by 16 rows (blocks.h: q6x16_*); the same Tile; nullptr where the ISA has none.
  TileFn q6_kx16 = nullptr;
  // Q4_K interleaved by 16 rows (blocks.h: q4kx16_*); the same Tile; nullptr where the ISA has none.
  TileFn q4_kx16 = nullptr;
  // quantize_act_row for the Q8 / Q8P / Q8K layouts, byte for byte the same; nullptr: the scalar one.
  void (*quantize_q8)(ActKind kind, const float* x, void* dst, std::int64_t n) = nullptr;
  TileFn for_type(GgmlType t) const;
  // The tile for type t's interleaved layout, nullptr where there is none.
  TileFn interleaved_for(GgmlType t) const {
    return t == GgmlType::Q4_0   ? q4_0x16
           : t == GgmlType::Q8_0 ? q8_0x16
           : t == GgmlType::Q4_K ? q4_kx16
           : t == GgmlType::Q6_K ? q6_kx16
                                 : nullptr;
  }
};

const IsaKernels& kernels_scalar();
const IsaKernels& kernels_avx2();
const IsaKernels& kernels_avx512();

// A product that must not be fused into a following add: GCC contracts a*b+c
// into an FMA (intrinsics included) whenever FMA is enabled, and no per-function
// switch stops it reliably, so the value goes through an empty asm.
template <class V>
inline V no_fma(V v) {
  __asm__("" : "+x"(v));
  return v;
}

// Canonical 8-lane reduction (see above).
inline float reduce8(const float a[8]) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

}  // namespace gs::ref
