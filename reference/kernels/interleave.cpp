// interleave.cpp: Q4_0, Q8_0, Q4_K and Q6_K rows to and from the 16-row interleaved layouts (qmatrix.h).
#include <cstring>
#include <type_traits>

#include "block_layouts.h"
#include "kernels.h"
#include "qmatrix.h"

namespace gs::ref {
namespace {

// To: GGUF rows -> layout (the rows read, the layout written); else layout -> rows.
template <bool To>
using LayoutPtr = std::conditional_t<To, std::uint8_t*, const std::uint8_t*>;
template <bool To, class Block>
using BlockRef = std::conditional_t<To, const Block&, Block&>;

// Row i's block b <-> its places in the group at o.
template <bool To>
void move_q4_0(LayoutPtr<To> o, int i, BlockRef<To, BlockQ4_0> blk, std::int64_t b, std::int64_t nb) {
  for (int k = 0; k < 4; ++k) {
    if constexpr (To) std::memcpy(o + q4x16_nibbles_at(b, nb) + 64 * k + 4 * i, blk.qs + 4 * k, 4);
    else std::memcpy(blk.qs + 4 * k, o + q4x16_nibbles_at(b, nb) + 64 * k + 4 * i, 4);
  }
  if constexpr (To) std::memcpy(o + q4x16_scales_at(b, nb) + 2 * i, &blk.d, 2);
  else std::memcpy(&blk.d, o + q4x16_scales_at(b, nb) + 2 * i, 2);
}

template <bool To>
void move_q8_0(LayoutPtr<To> o, int i, BlockRef<To, BlockQ8_0> blk, std::int64_t b, std::int64_t nb) {
  for (int k = 0; k < 8; ++k) {
    const std::size_t at = q8x16_quants_at(b) + 64 * k + 4 * i;
    for (int j = 0; j < 4; ++j) {  // int8 q <-> u8 q + 128 (the sign bit flipped)
      if constexpr (To) o[at + j] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(blk.qs[4 * k + j]) ^ 0x80u);
      else blk.qs[4 * k + j] = static_cast<std::int8_t>(o[at + j] ^ 0x80u);
    }
  }
  if constexpr (To) std::memcpy(o + q8x16_scales_at(b, nb) + 2 * i, &blk.d, 2);
  else std::memcpy(&blk.d, o + q8x16_scales_at(b, nb) + 2 * i, 2);
}

// Q6_K: row i's super-block b <-> its places in the group at o, through the block's 256
// quants unpacked (q6_k_unpack / q6_k_pack); each byte of either layout written once.
template <bool To>
void move_q6_k(LayoutPtr<To> o, int i, BlockRef<To, BlockQ6_K> blk, std::int64_t b) {
  std::uint8_t q[kQKK];
  if constexpr (To) q6_k_unpack(blk, q);
  for (int quad = 0; quad < 4; ++quad)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 4; ++j) {
        const std::size_t at = q6x16_chunk_at(b, quad, k) + 4 * i + j;
        std::uint8_t w[4];  // weight 4k + j of the quad's sub-blocks
        if constexpr (To) {
          for (int s = 0; s < 4; ++s) w[s] = q[16 * (4 * quad + s) + 4 * k + j];
          q6x16_encode(w, o[at], o[at + 64], o[at + 128]);
        } else {
          q6x16_decode(o[at], o[at + 64], o[at + 128], w);
          for (int s = 0; s < 4; ++s) q[16 * (4 * quad + s) + 4 * k + j] = w[s];
        }
      }
  if constexpr (!To) q6_k_pack(q, blk);
  for (int g = 0; g < 16; ++g) {
    if constexpr (To) o[q6x16_scales_at(b) + 16 * g + i] = static_cast<std::uint8_t>(blk.scales[g]);
    else blk.scales[g] = static_cast<std::int8_t>(o[q6x16_scales_at(b) + 16 * g + i]);
  }
  if constexpr (To) std::memcpy(o + q6x16_d_at(b) + 2 * i, &blk.d, 2);
  else std::memcpy(&blk.d, o + q6x16_d_at(b) + 2 * i, 2);
}

// Q4_K: row i's super-block b <-> its places in the group at o (bytes copied as they are).
template <bool To>
void move_q4_k(LayoutPtr<To> o, int i, BlockRef<To, BlockQ4_K> blk, std::int64_t b) {
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 8; ++c) {
      if constexpr (To) std::memcpy(o + q4kx16_chunk_at(b, p, c) + 4 * i, blk.qs + 32 * p + 4 * c, 4);
      else std::memcpy(blk.qs + 32 * p + 4 * c, o + q4kx16_chunk_at(b, p, c) + 4 * i, 4);
    }
  for (int k = 0; k < 12; ++k) {
    if constexpr (To) o[q4kx16_scales_at(b) + 16 * k + i] = blk.scales[k];
    else blk.scales[k] = o[q4kx16_scales_at(b) + 16 * k + i];
  }
  if constexpr (To) {
    std::memcpy(o + q4kx16_d_at(b) + 2 * i, &blk.d, 2);
    std::memcpy(o + q4kx16_dmin_at(b) + 2 * i, &blk.dmin, 2);
  } else {
    std::memcpy(&blk.d, o + q4kx16_d_at(b) + 2 * i, 2);
    std::memcpy(&blk.dmin, o + q4kx16_dmin_at(b) + 2 * i, 2);
  }
}

// Every block of one group: 16 rows of row_bytes in GGUF order at `rows` <-> the layout at o.
template <bool To, class Block>
void move_group(std::conditional_t<To, const std::uint8_t*, std::uint8_t*> rows, LayoutPtr<To> o, std::size_t row_bytes,
                std::int64_t nb) {
  using RowPtr = std::conditional_t<To, const Block*, Block*>;
  for (int i = 0; i < kInterleaveRows; ++i) {
    const RowPtr row = reinterpret_cast<RowPtr>(rows + i * row_bytes);
    for (std::int64_t b = 0; b < nb; ++b) {
      if constexpr (std::is_same_v<Block, BlockQ4_0>) move_q4_0<To>(o, i, row[b], b, nb);
      else if constexpr (std::is_same_v<Block, BlockQ8_0>) move_q8_0<To>(o, i, row[b], b, nb);
      else if constexpr (std::is_same_v<Block, BlockQ4_K>) move_q4_k<To>(o, i, row[b], b);
      else move_q6_k<To>(o, i, row[b], b);
    }
  }
}

// Every block of one group of type t, either way.
template <bool To>
void move_rows(GgmlType t, std::conditional_t<To, const std::uint8_t*, std::uint8_t*> rows, LayoutPtr<To> o,
               std::size_t row_bytes, std::int64_t ne0) {
  if (t == GgmlType::Q4_0) move_group<To, BlockQ4_0>(rows, o, row_bytes, ne0 / kQK);
  else if (t == GgmlType::Q8_0) move_group<To, BlockQ8_0>(rows, o, row_bytes, ne0 / kQK);
  else if (t == GgmlType::Q4_K) move_group<To, BlockQ4_K>(rows, o, row_bytes, ne0 / kQKK);
  else move_group<To, BlockQ6_K>(rows, o, row_bytes, ne0 / kQKK);
}

}  // namespace

bool has_interleaved_layout(GgmlType t) {
  return t == GgmlType::Q4_0 || t == GgmlType::Q8_0 || t == GgmlType::Q4_K || t == GgmlType::Q6_K;
}

bool can_interleave(const QMatrix& w) {
  const std::int64_t block = w.type == GgmlType::Q4_K || w.type == GgmlType::Q6_K ? kQKK : kQK;
  return has_interleaved_layout(w.type) && !w.interleaved && w.ne0 > 0 && w.ne0 % block == 0 && w.ne1 > 0 &&
         w.ne1 % kInterleaveRows == 0 && w.data != nullptr;
}

void interleave_groups(const QMatrix& src, std::int64_t g0, std::int64_t g1, std::uint8_t* dst) {
  const std::size_t group_bytes = kInterleaveRows * src.row_bytes;
  for (std::int64_t g = g0; g < g1; ++g) {
    const auto* rows = static_cast<const std::uint8_t*>(src.data) + static_cast<std::size_t>(g) * group_bytes;
    std::uint8_t* o = dst + static_cast<std::size_t>(g) * group_bytes;
    move_rows<true>(src.type, rows, o, src.row_bytes, src.ne0);
  }
}

QMatrix interleaved_copy(const QMatrix& src, std::uint8_t* dst) {
  const std::int64_t groups = src.ne2 * src.ne1 / kInterleaveRows;
#pragma omp parallel for schedule(static)
  for (std::int64_t g = 0; g < groups; ++g) interleave_groups(src, g, g + 1, dst);
  QMatrix m = src;
  m.data = dst;
  m.interleaved = true;
  return m;
}

void deinterleave_group(const QMatrix& w, std::int64_t g, std::uint8_t* dst) {
  const auto* o = static_cast<const std::uint8_t*>(w.data) + static_cast<std::size_t>(g) * kInterleaveRows * w.row_bytes;
  move_rows<false>(w.type, dst, o, w.row_bytes, w.ne0);
}

}  // namespace gs::ref
