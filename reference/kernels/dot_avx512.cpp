// dot_avx512.cpp: the same tiles with AVX-512 VL + VNNI (vpdpbusd on 256-bit
// vectors: u8 x s8 dot products straight into int32, one instruction instead of
// maddubs + madd). 256-bit vectors keep the per-block reduction of the canonical
// summation cheap; on this CPU (Zen 4) 512-bit integer ops are double-pumped anyway.
#include <algorithm>

#define GS_VNNI 1
#include "simd_tiles.inl"

namespace gs::ref {
const IsaKernels& kernels_avx512() { return simd_kernels(); }
}  // namespace gs::ref
