// test_gguf.cpp: the GGUF writer/reader round trip, and corrupt files that must
// each give a clear InputError (never a crash or a huge allocation).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "synth.h"
#include "weights.h"

using namespace gs;
using namespace gs::ref;
using gguf::ValueType;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("gemmasim_test_gguf_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Byte of row r, position j of tensor i: a pattern that differs per tensor and row.
std::uint8_t pattern(std::size_t i, std::int64_t r, std::size_t j) {
  return static_cast<std::uint8_t>(i * 31 + r * 7 + j * 13 + 1);
}

GgufWriter sample_writer(std::uint32_t alignment = 32) {
  GgufWriter w(alignment);
  w.set_value("t.u8", ValueType::U8, std::int64_t{200});
  w.set_value("t.i8", ValueType::I8, std::int64_t{-100});
  w.set_value("t.u16", ValueType::U16, std::int64_t{60000});
  w.set_value("t.i16", ValueType::I16, std::int64_t{-30000});
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_f32("t.f32", 0.125f);
  w.set_bool("t.bool", true);
  w.set_string("t.str", "gemma4");
  w.set_u64("t.u64", 1ull << 40);
  w.set_value("t.i64", ValueType::I64, std::int64_t{-(1ll << 40)});
  w.set_value("t.f64", ValueType::F64, 1e-300);
  w.set_array("t.arr_i32", ValueType::I32, GgufArray{std::int64_t{1}, std::int64_t{-2}, std::int64_t{3}});
  w.set_array("t.arr_str", ValueType::STRING, GgufArray{std::string("a"), std::string(""), std::string("ccc")});
  w.set_array("t.arr_bool", ValueType::BOOL, GgufArray{true, false, true});
  w.set_array("t.arr_f32", ValueType::F32, GgufArray{0.5, -1.5});
  w.add_tensor({"t.a", GgmlType::F32, {7, 1, 1, 1}, 1});
  w.add_tensor({"t.b", GgmlType::Q4_0, {64, 3, 1, 1}, 2});
  w.add_tensor({"t.c", GgmlType::Q8_0, {32, 2, 3, 1}, 3});
  w.add_tensor({"t.d", GgmlType::Q6_K, {256, 2, 1, 1}, 2});
  return w;
}

void write_sample(const fs::path& p, std::uint32_t alignment = 32, std::size_t chunk = 1 << 20) {
  GgufWriter w = sample_writer(alignment);
  w.write(p.string(), [&](std::size_t i, std::int64_t r0, std::int64_t r1, std::uint8_t* dst) {
    const std::size_t rb = w.tensors()[i].row_bytes();
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < rb; ++j) *dst++ = pattern(i, r, j);
  }, false, chunk);
}

// Position of a tensor's info record (its name length field) in a file's bytes.
std::size_t info_pos(const std::vector<std::uint8_t>& b, const std::string& name) {
  for (std::size_t i = 8; i + name.size() <= b.size(); ++i) {
    std::uint64_t len;
    std::memcpy(&len, &b[i - 8], 8);
    if (len == name.size() && std::memcmp(&b[i], name.data(), name.size()) == 0) return i - 8;
  }
  FAIL("tensor info not found");
  return 0;
}

template <class T>
void poke(std::vector<std::uint8_t>& b, std::size_t pos, T v) {
  std::memcpy(&b[pos], &v, sizeof v);
}

// Open a corrupted copy; expect an InputError whose message contains `what`.
void expect_error(const fs::path& p, const std::vector<std::uint8_t>& bytes, const std::string& what) {
  spit(p, bytes);
  try {
    GgufFile f(p.string());
    FAIL("no error for a file that should be rejected: " << what);
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find(p.string()) != std::string::npos);  // names the file
  }
}

}  // namespace

TEST_CASE("a GGUF written by the writer reads back: metadata of each type, tensor bytes, alignment") {
  const fs::path dir = temp_dir();
  for (std::uint32_t alignment : {32u, 64u}) {
    CAPTURE(alignment);
    const fs::path p = dir / "sample.gguf";
    write_sample(p, alignment);
    CHECK_FALSE(fs::exists(p.string() + ".tmp"));
    GgufFile f(p.string());
    CHECK(f.file_bytes() == sample_writer(alignment).file_bytes());
    CHECK(f.get_int("t.u8") == 200);
    CHECK(f.get_int("t.i8") == -100);
    CHECK(f.get_int("t.u16") == 60000);
    CHECK(f.get_int("t.i16") == -30000);
    CHECK(f.get_int("t.u32") == 4000000000ll);
    CHECK(f.get_int("t.i32") == -2000000000);
    CHECK(f.get_float("t.f32") == 0.125);
    CHECK(std::get<bool>(*f.find("t.bool")));
    CHECK(f.get_string("t.str") == "gemma4");
    CHECK(f.get_int("t.u64") == (1ll << 40));
    CHECK(f.get_int("t.i64") == -(1ll << 40));
    CHECK(f.get_float("t.f64") == 1e-300);
    CHECK(std::get<GgufArray>(*f.find("t.arr_i32")) == GgufArray{std::int64_t{1}, std::int64_t{-2}, std::int64_t{3}});
    CHECK(std::get<GgufArray>(*f.find("t.arr_str")) == GgufArray{std::string("a"), std::string(""), std::string("ccc")});
    CHECK(std::get<GgufArray>(*f.find("t.arr_bool")) == GgufArray{true, false, true});
    CHECK(std::get<GgufArray>(*f.find("t.arr_f32")) == GgufArray{0.5, -1.5});
    CHECK(f.find("t.missing") == nullptr);
    CHECK_THROWS_AS(f.get_int("t.str"), InputError);
    CHECK_THROWS_AS(f.require("t.zzz"), InputError);
    if (alignment != 32) CHECK(f.get_int("general.alignment") == alignment);

    REQUIRE(f.tensors().size() == 4);
    const auto* base = static_cast<const std::uint8_t*>(f.tensors()[0].data) - f.tensors()[0].offset;
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
      const GgufTensor& t = f.tensors()[i];
      CAPTURE(t.name);
      CHECK(reinterpret_cast<std::uintptr_t>(t.data) % alignment == 0);
      CHECK(static_cast<const std::uint8_t*>(t.data) - base == static_cast<std::ptrdiff_t>(t.offset));
      const QMatrix m = t.as_matrix();
      const auto* d = static_cast<const std::uint8_t*>(t.data);
      int wrong = 0;
      for (std::int64_t r = 0; r < m.ne1 * m.ne2; ++r)
        for (std::size_t j = 0; j < m.row_bytes; ++j) wrong += d[r * m.row_bytes + j] != pattern(i, r, j);
      CHECK(wrong == 0);
      CHECK(t.bytes == m.row_bytes * m.ne1 * m.ne2);
    }
    const GgufTensor& c = f.require("t.c");
    CHECK(c.n_dims == 3);
    CHECK(c.type == GgmlType::Q8_0);
    CHECK(c.ne[0] == 32);
    CHECK(c.ne[2] == 3);
    CHECK(c.as_matrix().row_bytes == 34);
  }
  // Streaming in small chunks gives the same bytes as one chunk per tensor.
  write_sample(dir / "a.gguf", 32, 1 << 20);
  write_sample(dir / "b.gguf", 32, 40);
  CHECK(slurp(dir / "a.gguf") == slurp(dir / "b.gguf"));
  fs::remove_all(dir);
}

TEST_CASE("the writer removes its temp file when filling fails") {
  const fs::path dir = temp_dir();
  GgufWriter w = sample_writer();
  const fs::path p = dir / "fail.gguf";
  CHECK_THROWS_AS(w.write(p.string(), [](std::size_t i, std::int64_t, std::int64_t, std::uint8_t*) {
    if (i == 2) throw InputError("fill failed");
  }), InputError);
  CHECK_FALSE(fs::exists(p));
  CHECK_FALSE(fs::exists(p.string() + ".tmp"));
  CHECK_THROWS_AS(w.add_tensor({"t.a", GgmlType::F32, {4, 1, 1, 1}, 1}), InputError);  // duplicate
  CHECK_THROWS_AS(w.add_tensor({"t.q", GgmlType::Q4_K, {100, 1, 1, 1}, 1}), InputError);  // not whole blocks
  fs::remove_all(dir);
}

TEST_CASE("corrupt GGUF files give a clear InputError") {
  const fs::path dir = temp_dir();
  const fs::path good = dir / "good.gguf", bad = dir / "bad.gguf";
  write_sample(good);
  const auto orig = slurp(good);
  const std::size_t b_info = info_pos(orig, "t.b");       // t.b: 2 dims
  const std::size_t b_dims = b_info + 8 + 3;              // after name length + "t.b"
  const std::size_t b_type = b_dims + 4 + 2 * 8;
  const std::size_t b_offset = b_type + 4;

  SUBCASE("bad magic") {
    auto b = orig;
    b[0] = 'X';
    expect_error(bad, b, "bad magic");
  }
  SUBCASE("unsupported version") {
    auto b = orig;
    poke<std::uint32_t>(b, 4, 1);
    expect_error(bad, b, "unsupported GGUF version 1");
    poke<std::uint32_t>(b, 4, 0x03000000);  // big-endian
    expect_error(bad, b, "unsupported GGUF version");
  }
  SUBCASE("truncated at several points") {
    for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{30}, std::size_t{100}, b_info + 5, b_offset + 2,
                            orig.size() - 300, orig.size() - 30}) {
      CAPTURE(cut);
      expect_error(bad, std::vector<std::uint8_t>(orig.begin(), orig.begin() + static_cast<std::ptrdiff_t>(cut)),
                   cut < 24 ? "smaller than a GGUF header" : cut < orig.size() - 600 ? "truncated" : "past the end");
    }
  }
  SUBCASE("absurd counts") {
    auto b = orig;
    poke<std::uint64_t>(b, 8, 1ull << 50);
    expect_error(bad, b, "tensor count");
    b = orig;
    poke<std::uint64_t>(b, 16, ~0ull);
    expect_error(bad, b, "metadata count");
  }
  SUBCASE("huge string length") {
    auto b = orig;
    poke<std::uint64_t>(b, 24, 1ull << 62);  // first key's length
    expect_error(bad, b, "truncated");
    b = orig;
    poke<std::uint64_t>(b, b_info, ~0ull);   // a tensor name's length
    expect_error(bad, b, "truncated");
  }
  SUBCASE("huge array length") {
    auto b = orig;
    const std::string key = "t.arr_i32";
    std::size_t k = info_pos(orig, key);     // the key string: u64 len + bytes, then u32 type, u32 elem, u64 n
    poke<std::uint64_t>(b, k + 8 + key.size() + 8, 1ull << 60);
    expect_error(bad, b, "array length");
  }
  SUBCASE("too many dimensions and element count overflow") {
    auto b = orig;
    poke<std::uint32_t>(b, b_dims, 5);
    expect_error(bad, b, "dimensions");
    b = orig;
    poke<std::uint64_t>(b, b_dims + 4, 1ull << 40);
    poke<std::uint64_t>(b, b_dims + 12, 1ull << 40);
    expect_error(bad, b, "overflows");
    b = orig;
    poke<std::uint64_t>(b, b_dims + 4, 1ull << 40);  // multiple of 32, fits in int64, but not in the file
    expect_error(bad, b, "larger than the file");
  }
  SUBCASE("unknown tensor type") {
    auto b = orig;
    poke<std::uint32_t>(b, b_type, 99);
    expect_error(bad, b, "unknown tensor type id 99");
  }
  SUBCASE("tensor data past the end, or misaligned") {
    auto b = orig;
    poke<std::uint64_t>(b, b_offset, 1ull << 40);
    expect_error(bad, b, "past the end");
    poke<std::uint64_t>(b, b_offset, 33);
    expect_error(bad, b, "alignment");
  }
  SUBCASE("duplicate tensor names") {
    auto b = orig;
    b[b_info + 8 + 2] = 'a';  // "t.b" -> "t.a"
    expect_error(bad, b, "duplicate tensor name 't.a'");
  }
  SUBCASE("missing file") {
    CHECK_THROWS_WITH_AS(GgufFile((dir / "nope.gguf").string()), doctest::Contains("cannot open"), InputError);
  }
  fs::remove_all(dir);
}

TEST_CASE("binding refuses a tensor with a fourth dimension the model does not have") {
  const ModelSpec m = load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-e2b-tiny.json");
  SynthOptions o;
  o.quant = "f32";
  const auto plan = synth_plan(m, o);
  const fs::path dir = temp_dir();
  for (int extra : {1, 2}) {
    GgufWriter w;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      GgufWriteTensor t;
      t.name = plan[i].info.name;
      t.type = GgmlType::F32;
      for (int d = 0; d < 3; ++d) t.ne[d] = plan[i].info.ne[static_cast<std::size_t>(d)];
      t.n_dims = 3;
      if (i == 0) {
        t.ne[3] = extra;
        t.n_dims = 4;
      }
      w.add_tensor(t);
    }
    const std::string path = (dir / ("ne3-" + std::to_string(extra) + ".gguf")).string();
    w.write(path, [&](std::size_t i, std::int64_t r0, std::int64_t r1, std::uint8_t* dst) {
      std::memset(dst, 0, static_cast<std::size_t>(r1 - r0) * w.tensors()[i].row_bytes());
    });
    const GgufFile f(path);
    if (extra == 1) {
      CHECK_NOTHROW(bind_weights(m, f));
    } else {
      try {
        bind_weights(m, f);
        FAIL("accepted a tensor with ne[3] = 2");
      } catch (const InputError& e) {
        CHECK(std::string(e.what()).find("ne[3] = 2") != std::string::npos);
      }
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("binding refuses a model the kernel does not run (another arch, biases, sinks, shared experts)") {
  const ModelSpec base = load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-e2b-tiny.json");
  SynthOptions o;
  o.quant = "f32";
  const fs::path dir = temp_dir();
  const std::string path = (dir / "e2b-tiny.gguf").string();
  synth_gguf(base, o, path);
  const GgufFile f(path);
  CHECK_NOTHROW(bind_weights(base, f));
  struct Case {
    const char* what;
    void (*change)(ModelSpec&);
    const char* says;
  };
  const Case cases[] = {
      {"arch", [](ModelSpec& m) { m.arch = "llama"; }, "arch 'llama'"},
      {"attention bias", [](ModelSpec& m) { m.attn_bias = true; }, "attention bias"},
      {"attention sinks", [](ModelSpec& m) { m.attn_sinks = true; }, "attention bias/sinks"},
      {"expert bias", [](ModelSpec& m) { m.moe.expert_bias = true; }, "expert biases"},
      {"router bias", [](ModelSpec& m) { m.moe.router_bias = true; }, "expert biases"},
      {"shared expert", [](ModelSpec& m) { m.moe.shared_expert_ffn = 64; }, "shared experts"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    ModelSpec m = base;
    c.change(m);
    CHECK_THROWS_WITH_AS(bind_weights(m, f), doctest::Contains(c.says), InputError);
  }
  fs::remove_all(dir);
}
