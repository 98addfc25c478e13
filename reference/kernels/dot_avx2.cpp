// dot_avx2.cpp: AVX2 + FMA + F16C tiles (compiled with those flags only; chosen
// at run time when the CPU has them). The code is dot_x86.inl.
#include <algorithm>

#include "dot_x86.inl"

namespace gs::ref {
const IsaKernels& kernels_avx2() { return simd_kernels(); }
}  // namespace gs::ref
