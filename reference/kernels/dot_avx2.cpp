// dot_avx2.cpp: placeholder until the SIMD tiles land.
#include "kernels.h"
namespace gs::ref {
const IsaKernels& kernels_avx2() { return kernels_scalar(); }
}  // namespace gs::ref
