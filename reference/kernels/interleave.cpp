// interleave.cpp: Q4_0 rows to and from the 16-row interleaved layout (qmatrix.h).
#include <cstring>

#include "blocks.h"
#include "kernels.h"
#include "qmatrix.h"

namespace gs::ref {

bool can_interleave(const QMatrix& w) {
  return w.type == GgmlType::Q4_0 && !w.interleaved && w.ne0 > 0 && w.ne0 % kQK == 0 && w.ne1 > 0 &&
         w.ne1 % kInterleaveRows == 0 && w.data != nullptr;
}

void interleave_groups(const QMatrix& src, std::int64_t g0, std::int64_t g1, std::uint8_t* dst) {
  const std::int64_t nb = src.ne0 / kQK;
  const std::size_t group_bytes = kInterleaveRows * src.row_bytes;
  for (std::int64_t g = g0; g < g1; ++g) {
    const auto* rows = static_cast<const std::uint8_t*>(src.data) + static_cast<std::size_t>(g) * group_bytes;
    std::uint8_t* o = dst + static_cast<std::size_t>(g) * group_bytes;
    for (int i = 0; i < kInterleaveRows; ++i) {
      const auto* row = reinterpret_cast<const BlockQ4_0*>(rows + i * src.row_bytes);
      for (std::int64_t b = 0; b < nb; ++b) {
        for (int k = 0; k < 4; ++k) std::memcpy(o + q4x16_nibbles_at(b, nb) + 64 * k + 4 * i, row[b].qs + 4 * k, 4);
        std::memcpy(o + q4x16_scales_at(b, nb) + 2 * i, &row[b].d, 2);
      }
    }
  }
}

void deinterleave_group(const QMatrix& w, std::int64_t g, std::uint8_t* dst) {
  const std::int64_t nb = w.ne0 / kQK;
  const auto* o = static_cast<const std::uint8_t*>(w.data) + static_cast<std::size_t>(g) * kInterleaveRows * w.row_bytes;
  for (int i = 0; i < kInterleaveRows; ++i) {
    auto* row = reinterpret_cast<BlockQ4_0*>(dst + i * w.row_bytes);
    for (std::int64_t b = 0; b < nb; ++b) {
      for (int k = 0; k < 4; ++k) std::memcpy(row[b].qs + 4 * k, o + q4x16_nibbles_at(b, nb) + 64 * k + 4 * i, 4);
      std::memcpy(&row[b].d, o + q4x16_scales_at(b, nb) + 2 * i, 2);
    }
  }
}

}  // namespace gs::ref
