// dot_avx512.cpp: the same tiles with AVX-512 BW + VL + VNNI (vpdpbusd: u8 x s8
// dot products straight into int32). Q4_0 / Q8_0 run 512-bit groups (GS_AVX512 in
// dot_x86.inl: two blocks per vector, word permutes gather nibbles and scales),
// Q6_K 64 weights per vector; Q4_K uses the 256-bit code with vpdpbusd.
#include <algorithm>

#define GS_VNNI 1
#define GS_AVX512 1
#include "dot_x86.inl"

namespace gs::ref {
const IsaKernels& kernels_avx512() { return simd_kernels(); }
}  // namespace gs::ref
