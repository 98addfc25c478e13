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
  bool interleaved = false;    // Q4_0 / Q8_0 / Q4_K / Q6_K rows interleaved in groups of 16 (below), not GGUF order
  const std::uint8_t* row(std::int64_t expert, std::int64_t r) const {
    return static_cast<const std::uint8_t*>(data) + (static_cast<std::size_t>(expert) * ne1 + r) * row_bytes;
  }
};

// Interleaved Q4_0 (a copy made at load, as llama.cpp repacks Q4_0 for its CPU
// kernels): the same bytes per row, so group g of 16 rows (rows 16g..16g+15 counted
// over all experts) starts where its first row did, at 16 * g * row_bytes. With
// nb = ne0 / 32 blocks per row, inside a group, in columns of 8 blocks (blocks.h:
// q4x16_nibbles_at / q4x16_scales_at; a column is 8 x 256 bytes of nibbles then 8 x 32
// bytes of scales, so a group streams front to back):
//   nibbles_at(b) + 64 * k + 4 * i, 4 bytes: qs[4k..4k+3] of row i's block b (k < 4, i < 16)
//   scales_at(b) + 2 * i, 2 bytes: the f16 scale d of row i's block b
// so one 64-byte load holds 4 nibble bytes of each of the 16 rows (one int32 lane a
// row for vpdpbusd against a broadcast of 4 activation quants) and one 32-byte load
// the 16 rows' scales: no per-block horizontal sums. Summation stays canonical, so
// results are bit-identical to the GGUF layout's.
// Interleaved Q8_0 (the same copy, as llama.cpp repacks Q8_0 too): the same scheme with
// 32 quant bytes per row and block, so a column is 8 x 512 bytes of quants then 8 x 32
// bytes of scales (blocks.h: q8x16_quants_at / q8x16_scales_at):
//   quants_at(b) + 64 * k + 4 * i, 4 bytes: qs[4k..4k+3] + 128 (as u8) of row i's block b (k < 8)
//   scales_at(b) + 2 * i, 2 bytes: the f16 scale d of row i's block b
// The quants are stored offset by 128 (sign bit flipped), the unsigned operand vpdpbusd
// takes; the kernel removes 128 * sum(x) per block, exactly. In GGUF order a row's
// mat-vec reads the whole activation row (n bytes of quants, 8n/32 of scales and sums)
// once per weight row, so very wide rows stream well below narrow ones; interleaved, one
// activation read serves 16 rows and the width stops mattering (docs/performance.md).
// Interleaved Q6_K (the output head of Q4_0 and Q4_K_M files, Q4_K_M's attn_v / ffn_down):
// the same bytes per row and per group, laid out per 256-weight super-block as blocks.h
// describes (q6x16_chunk_at / q6x16_scales_at / q6x16_d_at): a 64-byte load holds 4 weights
// of each of the 16 rows, so one broadcast of 4 activation quants serves 16 rows here too.
// Interleaved Q4_K (most of a Q4_K_M file's matrices): the same, per super-block as blocks.h
// describes (q4kx16_chunk_at / q4kx16_scales_at / q4kx16_d_at / q4kx16_dmin_at).
inline constexpr int kInterleaveRows = 16;
bool has_interleaved_layout(GgmlType t);  // Q4_0, Q8_0, Q4_K, Q6_K
bool can_interleave(const QMatrix& w);  // Q4_0 or Q8_0 (Q4_K / Q6_K: ne0 whole super-blocks) with ne1 a multiple of 16
// Groups [g0, g1) of `src` (GGUF order) into `dst` at their own offsets (dst != src).
void interleave_groups(const QMatrix& src, std::int64_t g0, std::int64_t g1, std::uint8_t* dst);
// Every group of `src` (all experts) into `dst` (matrix_bytes(src), dst != src), groups in
// parallel (the first touch spreads dst's pages); returns the view of dst (interleaved).
QMatrix interleaved_copy(const QMatrix& src, std::uint8_t* dst);
// One group back into GGUF order: 16 rows of row_bytes.
void deinterleave_group(const QMatrix& w, std::int64_t g, std::uint8_t* dst);
// Whether the active ISA has a kernel for type t's interleaved layout (other ISAs run
// it through deinterleave_group, correct but slower).
bool interleaved_kernel_active(GgmlType t);

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
