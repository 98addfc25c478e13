// gguf_format.h: GGUF constants shared by the reader and the writer (ggml docs/gguf.md).
//   header: "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   kv:     string key | u32 value type | value      (string = u64 length + bytes)
//   tensor: string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset
//   data:   at align_up(end of tensor infos, general.alignment (default 32))
#pragma once
#include <cstdint>

namespace gs::ref::gguf {

inline constexpr std::uint32_t kMagic = 0x46554747u;  // "GGUF" read as little-endian u32
inline constexpr std::uint32_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

enum class ValueType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

inline std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace gs::ref::gguf
