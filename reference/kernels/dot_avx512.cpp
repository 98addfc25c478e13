// dot_avx512.cpp: placeholder until the SIMD tiles land.
#include "kernels.h"
namespace gs::ref {
const IsaKernels& kernels_avx512() { return kernels_scalar(); }
}  // namespace gs::ref
