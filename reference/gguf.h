// gguf.h: GGUF v3 reader (mmap, no copy) and streaming writer.
// Spec: ggml docs/gguf.md. Every malformed input throws gs::InputError naming
// the file and what is wrong (bad magic, truncated, absurd count, offset past
// end, unknown type), never a crash or a huge allocation.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "qmatrix.h"

namespace gs::ref {

// A metadata value: scalars, strings, and arrays of them.
using GgufArray = std::vector<std::variant<std::int64_t, double, bool, std::string>>;
using GgufValue = std::variant<std::int64_t, double, bool, std::string, GgufArray>;

struct GgufTensor {
  std::string name;
  GgmlType type;
  std::int64_t ne[4] = {1, 1, 1, 1};
  int n_dims = 0;
  std::uint64_t offset = 0;     // from the start of the data section
  const void* data = nullptr;   // into the mapping
  std::size_t bytes = 0;
  QMatrix as_matrix() const;    // ne0, ne1, ne2 view
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);  // opens and mmaps; throws InputError
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;       // throws if missing / wrong type
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* tensor(const std::string& name) const;  // nullptr if absent
  const GgufTensor& require(const std::string& name) const; // throws InputError if absent
  std::size_t file_bytes() const { return size_; }
  const std::string& path() const { return path_; }
  // Drop this process's mapping of the whole pages inside [p, p + bytes) (MADV_DONTNEED:
  // they leave the resident set and stay in the page cache; a later read maps them again).
  // For tensors copied elsewhere at load (interleaved Q4_0).
  void release(const void* p, std::size_t bytes) const;

 private:
  void parse();  // header, metadata, tensor infos; checks everything
  std::string path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, std::size_t> by_name_;
};

}  // namespace gs::ref
