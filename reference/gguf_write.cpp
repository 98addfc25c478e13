// gguf_write.cpp: the streaming GGUF writer (see gguf_write.h).
#include "gguf_write.h"

#include "atomic_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include "atomic_file.h"
#include "error.h"
#include "text.h"
#include "units.h"

namespace gs::ref {
namespace {

using gguf::ValueType;

// Serialises to a FILE*, counting bytes; errors become InputError naming the file.
class Out {
 public:
  Out(std::FILE* f, const std::string& path) : f_(f), path_(path) {}
  void bytes(const void* p, std::size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, f_) != n) input_error(path_ + ": write failed (" + std::strerror(errno) + ")");
    pos_ += n;
  }
  template <class T>
  void pod(T v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    pod<std::uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(std::uint64_t align) {
    static const std::uint8_t zeros[64] = {};
    std::uint64_t n = gguf::align_up(pos_, align) - pos_;
    while (n > 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof zeros));
      bytes(zeros, k);
      n -= k;
    }
  }
  std::uint64_t pos() const { return pos_; }

 private:
  std::FILE* f_;
  const std::string& path_;
  std::uint64_t pos_ = 0;
};

template <class V>
void write_scalar(Out& o, ValueType t, const V& v, const std::string& key) {
  auto as_int = [&]() -> std::int64_t {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    input_error("gguf writer: metadata '" + key + "': expected an integer value");
  };
  auto as_double = [&]() -> double {
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    input_error("gguf writer: metadata '" + key + "': expected a number");
  };
  switch (t) {
    case ValueType::U8: o.pod(static_cast<std::uint8_t>(as_int())); break;
    case ValueType::I8: o.pod(static_cast<std::int8_t>(as_int())); break;
    case ValueType::U16: o.pod(static_cast<std::uint16_t>(as_int())); break;
    case ValueType::I16: o.pod(static_cast<std::int16_t>(as_int())); break;
    case ValueType::U32: o.pod(static_cast<std::uint32_t>(as_int())); break;
    case ValueType::I32: o.pod(static_cast<std::int32_t>(as_int())); break;
    case ValueType::U64: o.pod(static_cast<std::uint64_t>(as_int())); break;
    case ValueType::I64: o.pod(as_int()); break;
    case ValueType::F32: o.pod(static_cast<float>(as_double())); break;
    case ValueType::F64: o.pod(as_double()); break;
    case ValueType::BOOL: {
      const auto* b = std::get_if<bool>(&v);
      if (b == nullptr) input_error("gguf writer: metadata '" + key + "': expected a bool");
      o.pod(static_cast<std::uint8_t>(*b ? 1 : 0));
      break;
    }
    case ValueType::STRING: {
      const auto* s = std::get_if<std::string>(&v);
      if (s == nullptr) input_error("gguf writer: metadata '" + key + "': expected a string");
      o.str(*s);
      break;
    }
    case ValueType::ARRAY: input_error("gguf writer: metadata '" + key + "': nested arrays are not supported");
  }
}

}  // namespace

std::size_t GgufWriteTensor::row_bytes() const {
  const TypeInfo& ti = type_info(type);
  return static_cast<std::size_t>(ne[0] / ti.block_weights) * static_cast<std::size_t>(ti.block_bytes);
}

GgufWriter::GgufWriter(std::uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) input_error("gguf writer: alignment must be a power of two");
  if (alignment != gguf::kDefaultAlignment) set_u32("general.alignment", alignment);
}

void GgufWriter::add_kv(Kv kv) {
  for (const auto& k : kv_) {
    if (k.key == kv.key) input_error("gguf writer: duplicate metadata key '" + kv.key + "'");
  }
  kv_.push_back(std::move(kv));
}

void GgufWriter::set_u32(const std::string& k, std::uint32_t v) { add_kv({k, ValueType::U32, ValueType::U32, std::int64_t{v}}); }
void GgufWriter::set_i32(const std::string& k, std::int32_t v) { add_kv({k, ValueType::I32, ValueType::I32, std::int64_t{v}}); }
void GgufWriter::set_u64(const std::string& k, std::uint64_t v) {
  add_kv({k, ValueType::U64, ValueType::U64, static_cast<std::int64_t>(v)});
}
void GgufWriter::set_f32(const std::string& k, float v) { add_kv({k, ValueType::F32, ValueType::F32, double{v}}); }
void GgufWriter::set_bool(const std::string& k, bool v) { add_kv({k, ValueType::BOOL, ValueType::BOOL, v}); }
void GgufWriter::set_string(const std::string& k, const std::string& v) {
  add_kv({k, ValueType::STRING, ValueType::STRING, v});
}
void GgufWriter::set_value(const std::string& k, ValueType t, const GgufValue& v) {
  if (t == ValueType::ARRAY) input_error("gguf writer: metadata '" + k + "': use set_array");
  add_kv({k, t, t, v});
}
void GgufWriter::set_array(const std::string& k, ValueType elem, const GgufArray& v) {
  if (elem == ValueType::ARRAY) input_error("gguf writer: metadata '" + k + "': nested arrays are not supported");
  add_kv({k, ValueType::ARRAY, elem, v});
}

std::size_t GgufWriter::add_tensor(const GgufWriteTensor& t) {
  if (t.name.empty() || t.name.size() >= 64) input_error("gguf writer: tensor name '" + t.name + "' must be 1..63 characters");
  if (t.n_dims < 1 || t.n_dims > gguf::kMaxDims) input_error("gguf writer: tensor '" + t.name + "': 1..4 dimensions");
  for (int d = 0; d < 4; ++d) {
    if (t.ne[d] < 1 || (d >= t.n_dims && t.ne[d] != 1)) input_error("gguf writer: tensor '" + t.name + "': bad shape");
  }
  const TypeInfo& ti = type_info(t.type);
  if (!ti.gguf || t.ne[0] % ti.block_weights != 0) {
    input_error("gguf writer: tensor '" + t.name + "': row of " + std::to_string(t.ne[0]) + " cannot be stored as " + ti.name);
  }
  for (const auto& o : tensors_) {
    if (o.name == t.name) input_error("gguf writer: duplicate tensor name '" + t.name + "'");
  }
  tensors_.push_back(t);
  return tensors_.size() - 1;
}

std::uint64_t GgufWriter::file_bytes() const {
  std::uint64_t n = 4 + 4 + 8 + 8;
  for (const auto& kv : kv_) {
    n += 8 + kv.key.size() + 4;
    auto scalar_bytes = [](ValueType t, const auto& v) -> std::uint64_t {
      if (t == ValueType::STRING) return 8 + std::get<std::string>(v).size();
      switch (t) {
        case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
        case ValueType::U16: case ValueType::I16: return 2;
        case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
        default: return 8;
      }
    };
    if (kv.type == ValueType::ARRAY) {
      n += 4 + 8;
      for (const auto& e : std::get<GgufArray>(kv.value)) n += scalar_bytes(kv.elem, e);
    } else {
      n += scalar_bytes(kv.type, kv.value);
    }
  }
  for (const auto& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.n_dims + 4 + 8;
  n = gguf::align_up(n, alignment_);
  for (const auto& t : tensors_) n += gguf::align_up(t.bytes(), alignment_);
  return n;
}

void GgufWriter::write(const std::string& path, const GgufFillFn& fill, bool progress, std::size_t chunk_bytes) const {
  const std::string tmp = path + ".tmp";
  const RemoveOnInterrupt guard(tmp);  // Ctrl-C leaves no partial file
  const auto t0 = std::chrono::steady_clock::now();
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) input_error(tmp + ": cannot create (" + std::strerror(errno) + ")");
  try {
    Out o(f, tmp);
    o.pod(gguf::kMagic);
    o.pod<std::uint32_t>(3);
    o.pod<std::uint64_t>(tensors_.size());
    o.pod<std::uint64_t>(kv_.size());
    for (const auto& kv : kv_) {
      o.str(kv.key);
      o.pod(static_cast<std::uint32_t>(kv.type));
      if (kv.type == ValueType::ARRAY) {
        const auto& arr = std::get<GgufArray>(kv.value);
        o.pod(static_cast<std::uint32_t>(kv.elem));
        o.pod<std::uint64_t>(arr.size());
        for (const auto& e : arr) write_scalar(o, kv.elem, e, kv.key);
      } else {
        write_scalar(o, kv.type, kv.value, kv.key);
      }
    }
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
      o.str(t.name);
      o.pod<std::uint32_t>(static_cast<std::uint32_t>(t.n_dims));
      for (int d = 0; d < t.n_dims; ++d) o.pod<std::uint64_t>(static_cast<std::uint64_t>(t.ne[d]));
      o.pod<std::uint32_t>(static_cast<std::uint32_t>(t.type));
      o.pod<std::uint64_t>(offset);
      offset += gguf::align_up(t.bytes(), alignment_);
    }
    o.pad_to(alignment_);
    const std::uint64_t total = file_bytes();
    std::vector<std::uint8_t> buf;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      const std::size_t rb = t.row_bytes();
      const std::int64_t rows_per_chunk = std::max<std::int64_t>(1, static_cast<std::int64_t>(chunk_bytes / rb));
      for (std::int64_t r0 = 0; r0 < t.rows(); r0 += rows_per_chunk) {
        const std::int64_t r1 = std::min(t.rows(), r0 + rows_per_chunk);
        buf.assign(static_cast<std::size_t>(r1 - r0) * rb, 0);
        fill(i, r0, r1, buf.data());
        o.bytes(buf.data(), buf.size());
      }
      o.pad_to(alignment_);
      if (progress) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "\rwriting %s: tensor %zu/%zu, %.2f / %.2f GB%s   ", path.c_str(), i + 1, tensors_.size(),
                     static_cast<double>(o.pos()) / kGB, static_cast<double>(total) / kGB,
                     eta_text(s, static_cast<double>(o.pos()) / static_cast<double>(std::max<std::uint64_t>(total, 1))).c_str());
        std::fflush(stderr);
      }
    }
    if (progress) std::fprintf(stderr, "\n");
    if (o.pos() != total) input_error(tmp + ": internal size mismatch");
    if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) input_error(tmp + ": flush failed (" + std::strerror(errno) + ")");
    if (std::fclose(f) != 0) {
      f = nullptr;
      input_error(tmp + ": close failed");
    }
    f = nullptr;
    if (std::rename(tmp.c_str(), path.c_str()) != 0) input_error(path + ": cannot rename from " + tmp + " (" + std::strerror(errno) + ")");
  } catch (...) {
    if (f != nullptr) std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace gs::ref
