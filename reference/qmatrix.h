// qmatrix.h: the contract between the readable forward pass (forward.cpp) and
// the fast quantized kernels (kernels/). Implemented by reference/kernels/.
//
// A weight is stored as GGUF stores it: ne1 rows (ne2 experts of them for
// MoE tensors), each row ne0 weights in blocks of the tensor's type.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant.h"  // gs::GgmlType, type_info

namespace gs::ref {

struct QMatrix {
  GgmlType type = GgmlType::F32;
  std::int64_t ne0 = 0;  // columns: input width (the dot-product length)
  std::int64_t ne1 = 0;  // rows: output width
  std::int64_t ne2 = 1;  // experts (1 for a plain matrix)
  const void* data = nullptr;  // ne2 * ne1 * row_bytes bytes
  std::size_t row_bytes = 0;   // bytes of one row = ne0 / block_weights * block_bytes
  const std::uint8_t* row(std::int64_t expert, std::int64_t r) const {
    return static_cast<const std::uint8_t*>(data) + (static_cast<std::size_t>(expert) * ne1 + r) * row_bytes;
  }
};

// y[t][r] = sum_c W[expert][r][c] * x[t][c]   for t < T, r < ne1.
// x: T rows of ne0 floats; y: T rows of ne1 floats (row-major).
// Integer formats quantize x to 8 bits per block first (as llama.cpp does).
// Parallel over rows with OpenMP (the caller's omp_set_num_threads applies).
void matmul(const QMatrix& W, const float* x, int T, float* y, std::int64_t expert = 0);

// Row conversions (scalar, exact to the GGUF block layouts).
void dequantize_row(GgmlType t, const void* src, float* dst, std::int64_t n);
void quantize_row(GgmlType t, const float* src, void* dst, std::int64_t n);  // n multiple of block size

// Which dot-product path runs; chosen once at start from cpuid, overridable for tests.
enum class Isa { Scalar, Avx2, Avx512 };
Isa best_isa();          // what this CPU supports
Isa active_isa();
void set_isa(Isa isa);   // throws InputError if the CPU lacks it
const char* isa_name(Isa isa);

}  // namespace gs::ref
