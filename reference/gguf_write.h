// gguf_write.h: streaming GGUF v3 writer.
//
// Declare metadata (with the exact GGUF value types llama.cpp expects) and
// tensor infos first; write() then emits header + metadata + infos (offsets from
// the known sizes, each tensor padded to the alignment) and streams each tensor's
// data from a callback that fills a range of rows at a time, so memory stays at
// one chunk (<= chunk_bytes) however big the file. Output goes to PATH.tmp and is
// renamed to PATH only when complete; on any error the temp file is removed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_format.h"

namespace gs::ref {

struct GgufWriteTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::int64_t ne[4] = {1, 1, 1, 1};
  int n_dims = 1;
  std::int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  std::size_t row_bytes() const;
  std::size_t bytes() const { return row_bytes() * static_cast<std::size_t>(rows()); }
};

// Fill rows [r0, r1) of tensor i (rows counted over ne1*ne2*ne3) into dst,
// (r1 - r0) * row_bytes bytes in the tensor's type.
using GgufFillFn = std::function<void(std::size_t i, std::int64_t r0, std::int64_t r1, std::uint8_t* dst)>;

class GgufWriter {
 public:
  explicit GgufWriter(std::uint32_t alignment = gguf::kDefaultAlignment);

  void set_u32(const std::string& key, std::uint32_t v);
  void set_i32(const std::string& key, std::int32_t v);
  void set_u64(const std::string& key, std::uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  // Any scalar type (integers as int64, floats as double).
  void set_value(const std::string& key, gguf::ValueType type, const GgufValue& v);
  // Array of elem-typed values (integers as int64, floats as double, bool, string).
  void set_array(const std::string& key, gguf::ValueType elem, const GgufArray& v);

  std::size_t add_tensor(const GgufWriteTensor& t);  // returns its index
  const std::vector<GgufWriteTensor>& tensors() const { return tensors_; }
  std::uint64_t file_bytes() const;  // total size write() will produce

  // progress: print "tensor i/N, bytes" lines to stderr while writing.
  void write(const std::string& path, const GgufFillFn& fill, bool progress = false,
             std::size_t chunk_bytes = std::size_t{64} << 20) const;

 private:
  struct Kv {
    std::string key;
    gguf::ValueType type;
    gguf::ValueType elem;  // for arrays
    GgufValue value;
  };
  void add_kv(Kv kv);
  std::uint32_t alignment_;
  std::vector<Kv> kv_;
  std::vector<GgufWriteTensor> tensors_;
};

}  // namespace gs::ref
