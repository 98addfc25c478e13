// test_synth.cpp: the synthetic GGUF writer: deterministic per seed, llama.cpp's
// gemma4 metadata, tensors as sim's tensor list says, value scales, router skew.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "error.h"
#include "gguf.h"
#include "kernels/block_layouts.h"
#include "model.h"
#include "synth.h"

using namespace gs;
using namespace gs::ref;
namespace fs = std::filesystem;

namespace {

const std::string kTiny = std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-e2b-tiny.json";
const std::string kTinyMoe = std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-26b-a4b-tiny.json";

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("gemmasim_test_synth_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::vector<char> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const GgufArray& arr(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  REQUIRE(v != nullptr);
  return std::get<GgufArray>(*v);
}

}  // namespace

TEST_CASE("synth is deterministic for a seed and differs for another seed") {
  const fs::path dir = temp_dir();
  const ModelSpec m = load_model_file(kTiny);
  SynthOptions o;
  o.quant = "q8_0";
  o.seed = 7;
  synth_gguf(m, o, (dir / "a.gguf").string());
  synth_gguf(m, o, (dir / "b.gguf").string());
  o.seed = 8;
  synth_gguf(m, o, (dir / "c.gguf").string());
  const auto a = slurp(dir / "a.gguf"), b = slurp(dir / "b.gguf"), c = slurp(dir / "c.gguf");
  CHECK(a == b);
  CHECK(a.size() == c.size());  // same metadata and shapes
  CHECK(a != c);
  // every quantizable tensor differs between the seeds
  GgufFile fa((dir / "a.gguf").string()), fc((dir / "c.gguf").string());
  int same = 0;
  for (const auto& t : fa.tensors()) {
    if (t.ne[1] > 1) same += std::memcmp(t.data, fc.require(t.name).data, t.bytes) == 0;
  }
  CHECK(same == 0);
  fs::remove_all(dir);
}

TEST_CASE("synth writes llama.cpp's gemma4 keys and sim's tensor list") {
  const fs::path dir = temp_dir();
  const ModelSpec m = load_model_file(kTiny);
  SynthOptions o;
  o.quant = "q4_k_m";
  const auto plan = synth_plan(m, o);
  const std::uint64_t bytes = synth_gguf(m, o, (dir / "t.gguf").string());
  GgufFile f((dir / "t.gguf").string());
  CHECK(f.file_bytes() == bytes);
  CHECK(f.get_string("general.architecture") == "gemma4");
  CHECK(f.get_int("gemma4.block_count") == m.n_layer);
  CHECK(f.get_int("gemma4.embedding_length") == m.n_embd);
  CHECK(f.get_int("gemma4.context_length") == m.n_ctx_max);
  CHECK(f.get_int("gemma4.attention.key_length") == m.global.head_dim);
  CHECK(f.get_int("gemma4.attention.key_length_swa") == m.sliding.head_dim);
  CHECK(f.get_int("gemma4.attention.sliding_window") == m.sliding_window);
  CHECK(f.get_int("gemma4.embedding_length_per_layer_input") == m.ple.dim);
  CHECK(f.get_float("gemma4.final_logit_softcapping") == doctest::Approx(30.0));
  CHECK(f.get_float("gemma4.rope.freq_base") == doctest::Approx(m.global.rope_theta));
  CHECK(f.get_float("gemma4.rope.freq_base_swa") == doctest::Approx(m.sliding.rope_theta));
  int shared = 0;
  for (int il = 0; il < m.n_layer; ++il) shared += !m.owns_kv(il);
  CHECK(f.get_int("gemma4.attention.shared_kv_layers") == shared);
  const GgufArray& swa = arr(f, "gemma4.attention.sliding_window_pattern");
  REQUIRE(swa.size() == static_cast<std::size_t>(m.n_layer));
  for (int il = 0; il < m.n_layer; ++il) CHECK(std::get<bool>(swa[il]) == m.is_sliding(il));
  const GgufArray& ff = arr(f, "gemma4.feed_forward_length");  // widths differ per layer: an array
  for (int il = 0; il < m.n_layer; ++il) CHECK(std::get<std::int64_t>(ff[il]) == m.ffn(il));
  CHECK(arr(f, "tokenizer.ggml.tokens").size() == static_cast<std::size_t>(m.n_vocab));
  CHECK(arr(f, "tokenizer.ggml.scores").size() == static_cast<std::size_t>(m.n_vocab));
  CHECK(f.get_string("tokenizer.ggml.model") == "llama");

  // Every tensor of sim's list, with its shape and the planned type (one the kernels run).
  const auto infos = weight_tensors(m);
  REQUIRE(plan.size() == infos.size());
  for (std::size_t i = 0; i < infos.size(); ++i) {
    CAPTURE(infos[i].name);
    const GgufTensor& t = f.require(infos[i].name);
    CHECK(t.type == plan[i].type);
    CHECK(kernel_supports(t.type));
    for (int d = 0; d < 3; ++d) CHECK(t.ne[d] == infos[i].ne[d]);
  }
  // proportional RoPE factors: 25% of the 64-dim global head rotates -> 8 of 32 pairs
  const GgufTensor& rf = f.require("rope_freqs.weight");
  REQUIRE(rf.ne[0] == m.global.head_dim / 2);
  const auto* fr = static_cast<const float*>(rf.data);
  CHECK(std::count(fr, fr + rf.ne[0], 1.0f) == static_cast<long>(std::llround(m.global.rope_fraction * m.global.head_dim)) / 2);
  CHECK(f.tensors().size() == infos.size() + 1);
  fs::remove_all(dir);
}

TEST_CASE("synthetic values have the documented scales") {
  const ModelSpec m = load_model_file(kTiny);
  SynthOptions o;
  const auto plan = synth_plan(m, o);
  auto find = [&](const std::string& name) {
    for (std::size_t i = 0; i < plan.size(); ++i)
      if (plan[i].info.name == name) return i;
    FAIL("missing " << name);
    return std::size_t{0};
  };
  auto stats = [&](std::size_t i, double& mean, double& sd) {
    const auto& t = plan[i].info;
    const std::int64_t rows = t.ne[1] * t.ne[2];
    std::vector<float> v(static_cast<std::size_t>(rows * t.ne[0]));
    synth_rows(m, o, plan, i, 0, rows, v.data());
    mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
    double s2 = 0;
    for (float x : v) s2 += (x - mean) * (x - mean);
    sd = std::sqrt(s2 / v.size());
  };
  double mean, sd;
  stats(find("blk.0.attn_q.weight"), mean, sd);  // [256, 256]: sd 1/16
  CHECK(sd == doctest::Approx(1.0 / 16).epsilon(0.02));
  CHECK(std::fabs(mean) < 0.002);
  stats(find("blk.3.ffn_down.weight"), mean, sd);  // [1024, 256]: sd 1/32
  CHECK(sd == doctest::Approx(1.0 / 32).epsilon(0.02));
  stats(find("blk.0.attn_norm.weight"), mean, sd);  // norms ~1
  CHECK(mean == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sd == doctest::Approx(0.05).epsilon(0.25));
  // a row range generated alone equals the same rows of the whole tensor
  const std::size_t q = find("blk.0.attn_q.weight");
  std::vector<float> all(256 * 256), part(3 * 256);
  synth_rows(m, o, plan, q, 0, 256, all.data());
  synth_rows(m, o, plan, q, 100, 103, part.data());
  CHECK(std::equal(part.begin(), part.end(), all.begin() + 100 * 256));
}

TEST_CASE("router skew makes expert popularity Zipf-like") {
  const int E = 128, K = 8;
  const auto flat = router_sigmas(E, K, 0.0);
  CHECK(std::all_of(flat.begin(), flat.end(), [](double s) { return s == 1.0; }));
  const double Z = 1.0;
  const auto sig = router_sigmas(E, K, Z);
  CHECK(sig[0] > sig[7]);  // rank 0 the widest
  CHECK(sig[7] > sig[31]);
  CHECK(sig[31] > sig[127]);
  // Top-K frequencies with an independent sampler (isotropic inputs: independent N(0, sigma_e^2) logits).
  std::mt19937_64 rng(99);
  std::normal_distribution<double> nd;
  std::vector<double> freq(E, 0.0), logit(E);
  std::vector<int> idx(E);
  const int samples = 20000;
  for (int s = 0; s < samples; ++s) {
    for (int e = 0; e < E; ++e) logit[e] = sig[e] * nd(rng);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [&](int a, int b) { return logit[a] > logit[b]; });
    for (int k = 0; k < K; ++k) freq[idx[k]] += 1.0 / samples;
  }
  // Zipf with Z = 1: frequency ratio of ranks 3 and 31 is (32/4)^1 = 8 (both below the 0.98 cap).
  CHECK(freq[3] / freq[31] == doctest::Approx(8.0).epsilon(0.3));
  CHECK(freq[7] / freq[63] == doctest::Approx(8.0).epsilon(0.3));
  // And the router tensor really changes with the skew.
  const ModelSpec m = load_model_file(kTinyMoe);
  SynthOptions o0, o1;
  o1.router_skew = 1.0;
  const auto plan = synth_plan(m, o0);
  std::size_t r = 0;
  while (plan[r].info.role != TensorRole::MoeRouter) ++r;
  const auto& t = plan[r].info;
  std::vector<float> a(t.ne[0] * t.ne[1]), b(a.size());
  synth_rows(m, o0, plan, r, 0, t.ne[1], a.data());
  synth_rows(m, o1, plan, r, 0, t.ne[1], b.data());
  CHECK(a != b);
}

TEST_CASE("synth rejects unsupported quants and bad skews; the CLI exits 2 without a file") {
  const ModelSpec m = load_model_file(kTiny);
  SynthOptions o;
  o.quant = "q5_0";
  CHECK_THROWS_WITH_AS(synth_plan(m, o), doctest::Contains("synth supports"), InputError);
  o.quant = "q4_0";
  o.router_skew = -1;
  CHECK_THROWS_AS(synth_plan(m, o), InputError);
  const fs::path dir = temp_dir();
  const std::string out = (dir / "x.gguf").string();
  const std::string bin = GEMMASIM_BINARY;
  CHECK(WEXITSTATUS(std::system((bin + " synth --model " + kTiny + " --quant q5_0 -o " + out + " 2>/dev/null").c_str())) == 2);
  CHECK_FALSE(fs::exists(out));
  CHECK(WEXITSTATUS(std::system((bin + " synth --model gemma4-e2b-tiny --quant q4_0 --seed 3 -o " + out + " >/dev/null").c_str())) == 0);
  CHECK(fs::exists(out));
  CHECK_FALSE(fs::exists(out + ".tmp"));
  fs::remove_all(dir);
}
