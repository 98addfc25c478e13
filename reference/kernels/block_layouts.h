// block_layouts.h: GGUF block layouts (ggml-common.h) and the 8-bit activation blocks
// the integer dot products use. Byte-exact: static_asserts pin every size.
//
//   Q4_0: d f16 | qs[16]: weight j in low nibble of qs[j], j+16 in the high nibble; w = (q-8)*d
//   Q8_0: d f16 | qs[32] int8; w = q*d
//   Q4_K: 256 weights = 8 sub-blocks of 32; d f16, dmin f16, scales[12] (6-bit scale and
//         min per sub-block, packed as get_scale_min_k4 reads them), qs[128]: sub-block 2i
//         in the low nibbles of qs[32i..32i+31], 2i+1 in the high nibbles;
//         w = d*sc*q - dmin*m
//   Q6_K: 256 weights = 16 groups of 16; ql[128] low 4 bits, qh[64] high 2 bits,
//         scales[16] int8, d f16; w = d*sc*(q-32)
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant.h"

namespace gs::ref {

inline constexpr int kQK = 32;    // weights per Q4_0 / Q8_0 block
inline constexpr int kQKK = 256;  // weights per K-quant super-block

struct BlockQ4_0 {
  std::uint16_t d;
  std::uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {
  std::uint16_t d;
  std::int8_t qs[kQK];
};
struct BlockQ4_K {
  std::uint16_t d;
  std::uint16_t dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[kQKK / 2];
};
struct BlockQ6_K {
  std::uint8_t ql[kQKK / 2];
  std::uint8_t qh[kQKK / 4];
  std::int8_t scales[kQKK / 16];
  std::uint16_t d;
};
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);

// Activations (ours, not GGUF), with a float scale and sums of the quants (so
// unsigned-times-signed SIMD products can remove a weight offset exactly).
// For Q4_0 / Q8_0 weights, one token's row of n values (n % 32 == 0, nb = n/32
// blocks, padded with zero blocks to a multiple of 4, nbp) is laid out as arrays,
// so scales and sums of 8 consecutive blocks load as one vector:
//   qs[nbp*32] int8 | d[nbp] float | sum[nbp] int32
// Q8 (for Q8_0) keeps each block's 32 quants in order. Q8P (for Q4_0) interleaves
// each quad of blocks (4q..4q+3) as 128 bytes: the first 16 quants of each of the four
// blocks, then their last 16 quants:
//   x4q[0..15] x4q+1[0..15] x4q+2[0..15] x4q+3[0..15] x4q[16..31] ... x4q+3[16..31]
// the order in which the low and high nibbles of consecutive Q4_0 blocks unpack
// (two blocks: one 32-byte vector, four blocks: one 64-byte vector).
struct ActQ8Row {
  std::int8_t* qs;
  float* d;
  std::int32_t* sum;
};
inline std::int64_t act_q8_blocks_padded(std::int64_t n) { return (n / kQK + 3) / 4 * 4; }
inline ActQ8Row act_q8_row(const void* p, std::int64_t n) {
  auto* b = static_cast<std::uint8_t*>(const_cast<void*>(p));
  const std::int64_t nbp = act_q8_blocks_padded(n);
  auto* d = reinterpret_cast<float*>(b + nbp * kQK);
  return {reinterpret_cast<std::int8_t*>(b), d, reinterpret_cast<std::int32_t*>(d + nbp)};
}
// Position of quant e (< 32) of block b in a Q8P row.
inline std::int64_t q8p_pos(std::int64_t b, int e) { return (b / 4) * 128 + (e < 16 ? 0 : 64) + (b % 4) * 16 + e % 16; }
struct ActQ8K {      // for Q4_K / Q6_K weights: 256 activations
  float d;
  std::int16_t bsums[16];  // sums of qs in groups of 16
  std::int8_t qs[kQKK];
};
static_assert(sizeof(ActQ8K) == 292);

// Q4_0 / Q8_0 interleaved by 16 rows (qmatrix.h; Q6_K below): inside a group, blocks go in columns
// of 8 (the last column may hold fewer): a column's 8 blocks of quants (QB bytes each: the
// 16 rows' 16 nibble bytes (Q4_0, 256) or 32 quant bytes (Q8_0, 512)), then its 8 x 32
// bytes of scales, so a group is read front to back as one stream.
template <std::size_t QB>
inline std::size_t x16_quants_at(std::int64_t b) {
  return static_cast<std::size_t>((b / 8) * static_cast<std::int64_t>(8 * (QB + 32)) + static_cast<std::int64_t>(QB) * (b % 8));
}
template <std::size_t QB>
inline std::size_t x16_scales_at(std::int64_t b, std::int64_t nb) {
  const std::int64_t col = b / 8, in_col = std::min<std::int64_t>(8, nb - 8 * col);
  return static_cast<std::size_t>(col * static_cast<std::int64_t>(8 * (QB + 32)) + static_cast<std::int64_t>(QB) * in_col + 32 * (b % 8));
}
inline std::size_t q4x16_nibbles_at(std::int64_t b, std::int64_t nb) {
  (void)nb;
  return x16_quants_at<256>(b);
}
inline std::size_t q4x16_scales_at(std::int64_t b, std::int64_t nb) { return x16_scales_at<256>(b, nb); }
inline std::size_t q8x16_quants_at(std::int64_t b) { return x16_quants_at<512>(b); }
inline std::size_t q8x16_scales_at(std::int64_t b, std::int64_t nb) { return x16_scales_at<512>(b, nb); }

// Q6_K interleaved by 16 rows (qmatrix.h): super-block b of a group is a run of 3360 bytes
// (16 x 210) at 3360 * b. Its sub-blocks (16 weights, one scale each) go in quads (sub-blocks
// 4Q..4Q+3); chunk (Q, k) holds weights 4k..4k+3 of each of the quad's sub-blocks for the 16
// rows as 192 bytes: 64 bytes n01, 64 bytes n23, 64 bytes l (q6x16_encode), byte 4i+j of each
// holding row i's weight 4k+j. Then the 16 x 16 int8 scales (sub-block g's 16 rows at 16g),
// then the 16 rows' f16 d. The 6-bit quants q0..q3 of the quad's sub-blocks are split so
// that each unpacks with one AND and one ternary-logic op, at most one 16-bit shift: q0 and
// q2 as GGUF splits them (low 4 bits in a low nibble, high 2 bits in l's bits 4-5 / 6-7),
// q1 and q3 the other way round (high 4 bits in a high nibble, low 2 bits in l's bits 2-3 /
// 0-1), which unpacks to 4 * q1 and 4 * q3 in place: the tile divides those sums by 4, exactly.
inline void q6x16_encode(const std::uint8_t q[4], std::uint8_t& n01, std::uint8_t& n23, std::uint8_t& l) {
  n01 = static_cast<std::uint8_t>((q[0] & 0xF) | (q[1] >> 2) << 4);
  n23 = static_cast<std::uint8_t>((q[2] & 0xF) | (q[3] >> 2) << 4);
  l = static_cast<std::uint8_t>((q[3] & 3) | (q[1] & 3) << 2 | (q[0] >> 4) << 4 | (q[2] >> 4) << 6);
}
inline void q6x16_decode(std::uint8_t n01, std::uint8_t n23, std::uint8_t l, std::uint8_t q[4]) {
  q[0] = static_cast<std::uint8_t>((n01 & 0xF) | ((l >> 4) & 3) << 4);
  q[1] = static_cast<std::uint8_t>((n01 >> 4) << 2 | ((l >> 2) & 3));
  q[2] = static_cast<std::uint8_t>((n23 & 0xF) | (l >> 6) << 4);
  q[3] = static_cast<std::uint8_t>((n23 >> 4) << 2 | (l & 3));
}
inline constexpr std::size_t kQ6x16Bytes = 16 * sizeof(BlockQ6_K);
inline std::size_t q6x16_chunk_at(std::int64_t b, int quad, int k) {
  return static_cast<std::size_t>(b) * kQ6x16Bytes + static_cast<std::size_t>(4 * quad + k) * 192;
}
inline std::size_t q6x16_scales_at(std::int64_t b) { return static_cast<std::size_t>(b) * kQ6x16Bytes + 3072; }
inline std::size_t q6x16_d_at(std::int64_t b) { return static_cast<std::size_t>(b) * kQ6x16Bytes + 3328; }
// Q4_K interleaved by 16 rows (qmatrix.h): super-block b of a group is a run of 2304 bytes
// (16 x 144) at 2304 * b. Pair p of its sub-blocks (2p, 2p+1: qs[32p..32p+31] in GGUF)
// holds chunks c = 0..7 of 64 bytes, byte 4i+j of chunk (p, c) = row i's qs[32p + 4c + j]
// (weight 4c+j of sub-block 2p in the low nibble, of 2p+1 in the high one); then the 16
// rows' 12 packed scale bytes, byte k of row i at 16k + i (so one 16-byte load holds a byte
// of every row); then the 16 rows' f16 d, then their f16 dmin.
inline constexpr std::size_t kQ4Kx16Bytes = 16 * sizeof(BlockQ4_K);
inline std::size_t q4kx16_chunk_at(std::int64_t b, int p, int c) {
  return static_cast<std::size_t>(b) * kQ4Kx16Bytes + static_cast<std::size_t>(8 * p + c) * 64;
}
inline std::size_t q4kx16_scales_at(std::int64_t b) { return static_cast<std::size_t>(b) * kQ4Kx16Bytes + 2048; }
inline std::size_t q4kx16_d_at(std::int64_t b) { return static_cast<std::size_t>(b) * kQ4Kx16Bytes + 2240; }
inline std::size_t q4kx16_dmin_at(std::int64_t b) { return static_cast<std::size_t>(b) * kQ4Kx16Bytes + 2272; }
// A Q6_K block's weights as unsigned 6-bit quants (0..63; w = d * sc * (q - 32)), where GGUF
// keeps them: half h = e / 128; in it, l = e % 32 and quarter u = (e % 128) / 32; low 4 bits in
// ql[64h + l + 32(u & 1)] (high nibble for u >= 2), high 2 bits in qh[32h + l] at bit 2u.
// The block's 256 quants (0..63, in weight order), and back into ql / qh (every byte written).
inline void q6_k_unpack(const BlockQ6_K& blk, std::uint8_t q[kQKK]) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      std::uint8_t* w = q + 128 * h + l;  // quarters u = 0..3 at w[32u]
      const int lo0 = blk.ql[64 * h + l], lo1 = blk.ql[64 * h + l + 32], hi = blk.qh[32 * h + l];
      w[0] = static_cast<std::uint8_t>((lo0 & 0xF) | (hi & 3) << 4);
      w[32] = static_cast<std::uint8_t>((lo1 & 0xF) | ((hi >> 2) & 3) << 4);
      w[64] = static_cast<std::uint8_t>((lo0 >> 4) | ((hi >> 4) & 3) << 4);
      w[96] = static_cast<std::uint8_t>((lo1 >> 4) | ((hi >> 6) & 3) << 4);
    }
}
inline void q6_k_pack(const std::uint8_t q[kQKK], BlockQ6_K& blk) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t* w = q + 128 * h + l;  // quarters u = 0..3 at w[32u]
      blk.ql[64 * h + l] = static_cast<std::uint8_t>((w[0] & 0xF) | (w[64] & 0xF) << 4);
      blk.ql[64 * h + l + 32] = static_cast<std::uint8_t>((w[32] & 0xF) | (w[96] & 0xF) << 4);
      blk.qh[32 * h + l] = static_cast<std::uint8_t>((w[0] >> 4) | (w[32] >> 4) << 2 | (w[64] >> 4) << 4 | (w[96] >> 4) << 6);
    }
}

// Block geometry of the formats the kernels execute (the same numbers as
// sim's type table; test_kernels checks they agree).
struct BlockGeom {
  int weights;
  int bytes;
};
// Throws InputError for a type the kernels cannot execute.
BlockGeom block_geom(GgmlType t);
bool kernel_supports(GgmlType t);

// Activation layout a weight type's dot product reads.
enum class ActKind { F32, Q8, Q8P, Q8K };
ActKind act_kind(GgmlType t);
// Bytes of one token's activation row of n values in that layout.
std::size_t act_row_bytes(ActKind k, std::int64_t n);
// Convert one row of n floats into that layout (n a multiple of its block; F32: copy).
void quantize_act_row(ActKind k, const float* x, void* dst, std::int64_t n);
// The values a quantized activation row stands for (d * q), in order (for tests).
void dequantize_act_row(ActKind k, const void* src, float* y, std::int64_t n);

}  // namespace gs::ref
