// gguf_read.cpp: GGUF v2/v3 reader. The file is mmap'd read-only; tensors point
// into the mapping. Every count, length and offset is checked against the bytes
// that remain before anything is allocated from it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "error.h"
#include "gguf.h"
#include "gguf_format.h"

namespace gs::ref {
namespace {

using gguf::ValueType;

// Bounds-checked little-endian cursor over the mapping.
class Cursor {
 public:
  Cursor(const std::uint8_t* p, std::size_t size, const std::string& file) : p_(p), size_(size), file_(file) {}
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const { input_error(file_ + ": " + what); }
  void need(std::uint64_t n, const char* what) const {
    if (n > left()) {
      fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
           std::to_string(pos_) + ", file has " + std::to_string(left()) + " left");
    }
  }
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const auto n = get<std::uint64_t>(what);
    need(n, what);  // a length larger than the rest of the file is caught here, before allocating
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& file_;
};

// Smallest encoding of one value of type t (for plausibility checks of counts).
std::uint64_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool valid_value_type(std::uint32_t t) { return t <= 12; }

using Scalar = std::variant<std::int64_t, double, bool, std::string>;

Scalar read_scalar(Cursor& c, ValueType t, const std::string& key) {
  switch (t) {
    case ValueType::U8: return std::int64_t{c.get<std::uint8_t>("u8 value")};
    case ValueType::I8: return std::int64_t{c.get<std::int8_t>("i8 value")};
    case ValueType::U16: return std::int64_t{c.get<std::uint16_t>("u16 value")};
    case ValueType::I16: return std::int64_t{c.get<std::int16_t>("i16 value")};
    case ValueType::U32: return std::int64_t{c.get<std::uint32_t>("u32 value")};
    case ValueType::I32: return std::int64_t{c.get<std::int32_t>("i32 value")};
    case ValueType::F32: return double{c.get<float>("f32 value")};
    case ValueType::BOOL: {
      const auto b = c.get<std::uint8_t>("bool value");
      if (b > 1) c.fail("metadata '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
      return b == 1;
    }
    case ValueType::STRING: return c.str("string value");
    case ValueType::U64: {
      const auto v = c.get<std::uint64_t>("u64 value");
      if (v > static_cast<std::uint64_t>(INT64_MAX)) c.fail("metadata '" + key + "': u64 value too large");
      return static_cast<std::int64_t>(v);
    }
    case ValueType::I64: return c.get<std::int64_t>("i64 value");
    case ValueType::F64: return c.get<double>("f64 value");
    case ValueType::ARRAY: break;
  }
  c.fail("metadata '" + key + "': nested arrays are not supported");
}

GgufValue read_value(Cursor& c, ValueType t, const std::string& key) {
  if (t != ValueType::ARRAY) {
    return std::visit([](auto&& v) -> GgufValue { return v; }, read_scalar(c, t, key));
  }
  const auto et = c.get<std::uint32_t>("array element type");
  if (!valid_value_type(et)) c.fail("metadata '" + key + "': unknown array element type " + std::to_string(et));
  const auto n = c.get<std::uint64_t>("array length");
  if (n > c.left() / min_value_bytes(static_cast<ValueType>(et))) {
    c.fail("metadata '" + key + "': array length " + std::to_string(n) + " is larger than the file could hold (truncated or corrupt)");
  }
  GgufArray arr;
  arr.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) arr.push_back(read_scalar(c, static_cast<ValueType>(et), key));
  return arr;
}

const TypeInfo* gguf_type(std::uint32_t id) {
  for (const auto& t : all_types()) {
    if (t.gguf && static_cast<std::uint32_t>(t.id) == id) return &t;
  }
  return nullptr;
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) input_error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    input_error(path + ": not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 24) {
    ::close(fd);
    input_error(path + ": truncated: " + std::to_string(size_) + " bytes is smaller than a GGUF header (24)");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    input_error(path + ": mmap failed (" + std::strerror(errno) + ")");
  }
  try {
    parse();
  } catch (...) {
    ::munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

void GgufFile::release(const void* p, std::size_t bytes) const {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<std::uintptr_t>(map_);
  auto lo = reinterpret_cast<std::uintptr_t>(p), hi = lo + bytes;
  if (map_ == nullptr || lo < base || hi > base + size_) return;
  lo = (lo + page - 1) / page * page;
  hi = hi / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

void GgufFile::parse() {
  const auto* base = static_cast<const std::uint8_t*>(map_);
  Cursor c(base, size_, path_);
  if (c.get<std::uint32_t>("magic") != gguf::kMagic) c.fail("bad magic: not a GGUF file");
  const auto version = c.get<std::uint32_t>("version");
  if (version != 2 && version != 3) {
    c.fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3; little-endian only)");
  }
  const auto n_tensors = c.get<std::uint64_t>("tensor count");
  const auto n_kv = c.get<std::uint64_t>("metadata count");
  if (n_kv > c.left() / 13) c.fail("metadata count " + std::to_string(n_kv) + " is larger than the file could hold (truncated or corrupt)");
  if (n_tensors > c.left() / 24) c.fail("tensor count " + std::to_string(n_tensors) + " is larger than the file could hold (truncated or corrupt)");

  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key");
    const auto t = c.get<std::uint32_t>("metadata value type");
    if (!valid_value_type(t)) c.fail("metadata '" + key + "': unknown value type " + std::to_string(t));
    GgufValue v = read_value(c, static_cast<ValueType>(t), key);
    if (!kv_.emplace(key, std::move(v)).second) c.fail("duplicate metadata key '" + key + "'");
  }

  std::uint64_t alignment = gguf::kDefaultAlignment;
  if (const GgufValue* a = find("general.alignment")) {
    const auto* ai = std::get_if<std::int64_t>(a);
    if (ai == nullptr || *ai <= 0 || (*ai & (*ai - 1)) != 0 || *ai > (1 << 30)) {
      c.fail("general.alignment must be a power of two");
    }
    alignment = static_cast<std::uint64_t>(*ai);
  }

  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.str("tensor name");
    const std::string where = "tensor '" + t.name + "': ";
    const auto n_dims = c.get<std::uint32_t>("tensor dimension count");
    if (n_dims < 1 || n_dims > gguf::kMaxDims) c.fail(where + std::to_string(n_dims) + " dimensions (expected 1..4)");
    t.n_dims = static_cast<int>(n_dims);
    std::int64_t n_el = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.get<std::uint64_t>("tensor shape");
      if (ne > static_cast<std::uint64_t>(INT64_MAX) ||
          __builtin_mul_overflow(n_el, static_cast<std::int64_t>(ne), &n_el)) {
        c.fail(where + "element count overflows");
      }
      t.ne[d] = static_cast<std::int64_t>(ne);
    }
    const auto type_id = c.get<std::uint32_t>("tensor type");
    const TypeInfo* ti = gguf_type(type_id);
    if (ti == nullptr) c.fail(where + "unknown tensor type id " + std::to_string(type_id));
    t.type = ti->id;
    if (t.ne[0] % ti->block_weights != 0) {
      c.fail(where + "row of " + std::to_string(t.ne[0]) + " is not a multiple of the " + ti->name + " block (" +
             std::to_string(ti->block_weights) + ")");
    }
    const std::uint64_t blocks = static_cast<std::uint64_t>(n_el / ti->block_weights);
    if (blocks > size_ / static_cast<std::uint64_t>(ti->block_bytes)) c.fail(where + "data larger than the file");
    t.bytes = static_cast<std::size_t>(blocks * ti->block_bytes);
    t.offset = c.get<std::uint64_t>("tensor offset");
    if (t.offset % alignment != 0) {
      c.fail(where + "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment));
    }
    if (!by_name_.emplace(t.name, tensors_.size()).second) c.fail("duplicate tensor name '" + t.name + "'");
    tensors_.push_back(std::move(t));
  }

  const std::uint64_t data_start = gguf::align_up(c.pos(), alignment);
  if (data_start > size_ && n_tensors > 0) c.fail("truncated: data section starts past the end of the file");
  for (auto& t : tensors_) {
    const std::uint64_t room = size_ - data_start;
    if (t.offset > room || t.bytes > room - t.offset) {
      c.fail("tensor '" + t.name + "': data (offset " + std::to_string(t.offset) + ", " + std::to_string(t.bytes) +
             " bytes) runs past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    t.data = base + data_start + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) input_error(path_ + ": metadata key '" + key + "' missing");
  if (const auto* i = std::get_if<std::int64_t>(v)) return *i;
  if (const auto* b = std::get_if<bool>(v)) return *b ? 1 : 0;
  input_error(path_ + ": metadata key '" + key + "' is not an integer");
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) input_error(path_ + ": metadata key '" + key + "' missing");
  if (const auto* d = std::get_if<double>(v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
  input_error(path_ + ": metadata key '" + key + "' is not a number");
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) input_error(path_ + ": metadata key '" + key + "' missing");
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  input_error(path_ + ": metadata key '" + key + "' is not a string");
}

const GgufTensor* GgufFile::tensor(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::require(const std::string& name) const {
  const GgufTensor* t = tensor(name);
  if (t == nullptr) input_error(path_ + ": tensor '" + name + "' missing");
  return *t;
}

QMatrix GgufTensor::as_matrix() const {
  const TypeInfo& ti = type_info(type);
  QMatrix m;
  m.type = type;
  m.ne0 = ne[0];
  m.ne1 = ne[1];
  m.ne2 = ne[2] * ne[3];
  m.data = data;
  m.row_bytes = static_cast<std::size_t>(ne[0] / ti.block_weights) * static_cast<std::size_t>(ti.block_bytes);
  return m;
}

}  // namespace gs::ref
