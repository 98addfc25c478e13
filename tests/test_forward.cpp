// test_forward.cpp: the reference forward pass against the naive float32 oracle,
// plus one test per architectural feature that fails if the feature is removed.
#include <doctest/doctest.h>

#include "isa_here.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "layers/elementwise.h"
#include "error.h"
#include "forward.h"
#include "model.h"
#include "oracle.h"
#include "qmatrix.h"
#include "weights.h"

using namespace gs;
using namespace gs::ref;

namespace {

// One thread unless a test says otherwise: tiny matmuls gain nothing from
// threads, and OpenMP spin-waits badly on a loaded CI machine.
[[maybe_unused]] const int kSingleThread = [] {
  omp_set_num_threads(1);
  return 1;
}();

const char* kTiny[] = {"gemma4-e2b-tiny", "gemma4-e4b-tiny", "gemma4-26b-a4b-tiny", "gemma4-31b-tiny"};

ModelSpec tiny(const std::string& id) { return load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/" + id + ".json"); }

std::vector<std::int32_t> prompt(const ModelSpec& m, int n, std::uint32_t seed = 7) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::uint32_t s = seed;
  for (auto& x : t) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<std::int32_t>((s >> 8) % static_cast<std::uint32_t>(m.n_vocab));
  }
  return t;
}

// Kernel logits [N, V] of every position, in micro-batches of n_ubatch.
std::vector<float> kernel_logits(const ModelSpec& m, const ModelWeights& w, const std::vector<std::int32_t>& toks,
                                 int n_ubatch = 7, KvCacheType kv = KvCacheType::F32,
                                 std::vector<Route>* routes = nullptr) {
  ForwardOptions o;
  o.trace = routes != nullptr;
  o.n_ctx = static_cast<std::int64_t>(toks.size());
  o.n_ubatch = n_ubatch;
  o.kv_type = kv;
  o.all_logits = true;
  Forward f(m, w, o);
  auto lg = f.step(toks);
  if (routes) *routes = f.routes();
  return lg;
}

double max_abs_diff(const std::vector<float>& a, const Eigen::MatrixXf& b) {
  double d = 0;
  for (Eigen::Index i = 0; i < b.rows(); ++i)
    for (Eigen::Index j = 0; j < b.cols(); ++j)
      d = std::max(d, std::abs(static_cast<double>(a[static_cast<std::size_t>(i * b.cols() + j)]) - b(i, j)));
  return d;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
  return d;
}

// Per-format tolerance on logits (absolute; logits are O(1..10), capped at 30).
// F32: only summation order differs. F16/BF16: weights are exact after
// dequantization, so also summation order (and the kernel's f16/bf16 path).
// Q8_0/Q4_0/Q4_K/Q6_K: the kernel quantizes activations to 8 bits per block
// (as llama.cpp), the oracle does not: ~0.3% relative error per matmul, compounded
// over layers; measured up to 0.1 on logits of magnitude ~6, bound 0.25.
double tolerance(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 2e-3;
    case GgmlType::F16: return 2e-3;
    case GgmlType::BF16: return 2e-3;
    default: return 0.25;
  }
}

}  // namespace

TEST_CASE("kernel logits match the float32 oracle for every tiny variant and weight format") {
  const GgmlType formats[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                              GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K};
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    const auto toks = prompt(m, 20);  // > W = 8: sliding rings wrap across micro-batches of 7
    for (GgmlType f : formats) {
      const std::string sid = id;
      CAPTURE(sid);
      const std::string fmt = type_info(f).name;
      CAPTURE(fmt);
      const ModelWeights w = random_weights(m, f, 11);
      std::vector<Route> routes;
      const auto k = kernel_logits(m, w, toks, 7, KvCacheType::F32, &routes);
      const bool exact_weights = f == GgmlType::F32 || f == GgmlType::F16 || f == GgmlType::BF16;
      const Eigen::MatrixXf o = oracle_logits(m, w, toks, {}, exact_weights ? nullptr : &routes);
      CHECK(max_abs_diff(k, o) < tolerance(f));
    }
  }
}

TEST_CASE("an f16 KV cache stays within 2e-2 of the oracle (f32 weights)") {
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    const ModelWeights w = random_weights(m, GgmlType::F32, 3);
    const auto toks = prompt(m, 20);
    const std::string sid = id;
    CAPTURE(sid);
    CHECK(max_abs_diff(kernel_logits(m, w, toks, 7, KvCacheType::F16), oracle_logits(m, w, toks)) < 2e-2);
  }
}

TEST_CASE("decode after prefill gives the logits of a full recompute") {
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    const ModelWeights w = random_weights(m, GgmlType::Q8_0, 5);
    const auto toks = prompt(m, 24);
    const auto full = kernel_logits(m, w, toks, 64);  // one batched step
    ForwardOptions o;
    o.n_ctx = 24;
    o.n_ubatch = 16;
    o.kv_type = KvCacheType::F32;  // as kernel_logits
    Forward f(m, w, o);
    f.step(std::vector<std::int32_t>(toks.begin(), toks.begin() + 12));  // prefill 12
    double d = 0;
    for (int p = 12; p < 24; ++p) {
      const auto lg = f.step({toks[static_cast<std::size_t>(p)]});  // decode one token
      for (std::int64_t v = 0; v < m.n_vocab; ++v)
        d = std::max(d, std::abs(static_cast<double>(lg[static_cast<std::size_t>(v)]) - full[static_cast<std::size_t>(p * m.n_vocab + v)]));
    }
    const std::string sid = id;
    CAPTURE(sid);
    CHECK(d < 1e-4);
  }
}

TEST_CASE("a step undone by rewind leaves every later logit as it was, past the sliding window and on every ISA") {
  const Isa saved = active_isa();
  for (const char* id : {"gemma4-31b-tiny", "gemma4-e2b-tiny"}) {  // sliding rings; KV sharing
    const ModelSpec m = tiny(id);
    const ModelWeights w = random_weights(m, GgmlType::Q8_0, 13);
    const auto toks = prompt(m, 32);
    // The scalar ISA keeps float mirrors of the f16 cache (rewind must reconvert), the best
    // ISA reads it in place.
    for (Isa isa : {Isa::Scalar, best_isa()}) {
      set_isa(isa);
      auto run = [&](int warm) {  // prefill 20 (> W + ubatch: the rings wrap), `warm` tokens undone, 12 decode steps
        ForwardOptions o;
        o.n_ctx = 40;
        o.n_ubatch = 4;
        o.kv_type = KvCacheType::F16;
        Forward f(m, w, o);
        f.step(std::vector<std::int32_t>(toks.begin(), toks.begin() + 20));
        if (warm > 0) {
          f.step(std::vector<std::int32_t>(static_cast<std::size_t>(warm), 3));  // other tokens than the real ones
          f.rewind(warm);
        }
        CHECK(f.pos() == 20);
        std::vector<float> out;
        for (int p = 20; p < 32; ++p) {
          const auto lg = f.step({toks[static_cast<std::size_t>(p)]});
          out.insert(out.end(), lg.begin(), lg.end());
        }
        return out;
      };
      const auto plain = run(0);
      CAPTURE(id);
      CHECK(run(1) == plain);
      CHECK(run(4) == plain);  // a whole micro-batch
    }
    ForwardOptions o;
    o.n_ctx = 40;
    o.n_ubatch = 4;
    Forward f(m, w, o);
    f.step(std::vector<std::int32_t>(toks.begin(), toks.begin() + 8));
    CHECK_THROWS_AS(f.rewind(5), InputError);  // more than a micro-batch
    CHECK_THROWS_AS(f.rewind(-1), InputError);
    Forward g(m, w, o);
    CHECK_THROWS_AS(g.rewind(1), InputError);  // before the first position
  }
  set_isa(saved);
}

TEST_CASE("each architectural feature changes the logits: the kernel matches the full oracle, not an ablated one") {
  struct Case {
    const char* id;
    const char* what;
    OracleAblation ab;
  };
  std::vector<Case> cases;
  OracleAblation a;
  a.no_sliding_mask = true;
  cases.push_back({"gemma4-31b-tiny", "sliding-window mask", a});
  a = {};
  a.no_kv_share = true;
  cases.push_back({"gemma4-e2b-tiny", "KV sharing", a});
  cases.push_back({"gemma4-e4b-tiny", "KV sharing", a});
  a = {};
  a.v_after_rope = true;
  cases.push_back({"gemma4-31b-tiny", "K=V (V = v_norm(K_raw))", a});
  cases.push_back({"gemma4-26b-a4b-tiny", "K=V (V = v_norm(K_raw))", a});
  // MoE renormalisation has no ablation here: it scales a token's routed sum by
  // one number, which post_ffw_norm_2 (an RMSNorm) removes; the routing test
  // below checks it on the gate weights instead.
  a = {};
  a.all_experts = true;
  cases.push_back({"gemma4-26b-a4b-tiny", "MoE top-k", a});
  a = {};
  a.no_ple = true;
  cases.push_back({"gemma4-e2b-tiny", "Per-Layer Embeddings", a});
  for (const Case& c : cases) {
    const ModelSpec m = tiny(c.id);
    const ModelWeights w = random_weights(m, GgmlType::F32, 13);
    const auto toks = prompt(m, 20);
    const auto k = kernel_logits(m, w, toks);
    const std::string sid = c.id, what = c.what;
    CAPTURE(sid);
    CAPTURE(what);
    CHECK(max_abs_diff(k, oracle_logits(m, w, toks)) < tolerance(GgmlType::F32));
    CHECK(max_abs_diff(k, oracle_logits(m, w, toks, c.ab)) > 50 * tolerance(GgmlType::F32));
  }
}

TEST_CASE("a token W positions back does not reach a one-layer sliding model; one inside the window does") {
  ModelSpec m = tiny("gemma4-31b-tiny");
  m.n_layer = 1;
  m.layer_type = {AttnType::Sliding};
  m.kv_source = {0};
  m.ffn_width = {m.ffn_width[0]};
  m.moe_layer = {false};
  const ModelWeights w = random_weights(m, GgmlType::F32, 17);
  const int W = m.sliding_window;
  auto toks = prompt(m, W + 1);  // last query at position W sees (0, W]
  ForwardOptions o;
  o.n_ctx = W + 1;
  auto last = [&](const std::vector<std::int32_t>& t) { return Forward(m, w, o).step(t); };
  const auto base = last(toks);
  auto t0 = toks;
  t0[0] = (t0[0] + 1) % static_cast<std::int32_t>(m.n_vocab);
  CHECK(max_abs_diff(base, last(t0)) == 0.0);
  auto t1 = toks;
  t1[1] = (t1[1] + 1) % static_cast<std::int32_t>(m.n_vocab);
  CHECK(max_abs_diff(base, last(t1)) > 1e-3);
}

TEST_CASE("the final softcap bounds logits by 30 even when the head's raw logits are huge") {
  const ModelSpec m = tiny("gemma4-e4b-tiny");
  ModelWeights w = random_weights(m, GgmlType::F32, 19);
  for (auto& x : w.output_norm) x *= 1000.0f;
  const auto toks = prompt(m, 6);
  const auto k = kernel_logits(m, w, toks);
  double mx = 0;
  for (float v : k) mx = std::max(mx, std::abs(static_cast<double>(v)));
  CHECK(mx <= 30.0);
  CHECK(mx > 29.0);  // saturated: without the cap these logits are in the thousands
  OracleAblation ab;
  ab.no_softcap = true;
  CHECK(oracle_logits(m, w, toks, ab).cwiseAbs().maxCoeff() > 100.0f);
}

TEST_CASE("MoE routing picks K distinct experts whose weights, divided by the expert scale, sum to 1") {
  const ModelSpec m = tiny("gemma4-26b-a4b-tiny");
  const ModelWeights w = random_weights(m, GgmlType::Q8_0, 23);
  ForwardOptions o;
  o.n_ctx = 16;
  o.trace = true;
  Forward f(m, w, o);
  f.step(prompt(m, 10));
  f.step({1});
  REQUIRE(f.routes().size() == static_cast<std::size_t>(11 * m.n_layer));
  for (const Route& r : f.routes()) {
    REQUIRE(r.experts.size() == static_cast<std::size_t>(m.moe.n_expert_used));
    double sum = 0;
    for (std::size_t k = 0; k < r.experts.size(); ++k) {
      for (std::size_t j = 0; j < k; ++j) CHECK(r.experts[j] != r.experts[k]);
      sum += r.weights[k] / w.layers[static_cast<std::size_t>(r.layer)].expert_scale[static_cast<std::size_t>(r.experts[k])];
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(f.routes().back().token == 10);
}

TEST_CASE("runs are deterministic for a seed and a thread count") {
  const ModelSpec m = tiny("gemma4-26b-a4b-tiny");
  const auto toks = prompt(m, 20);
  const ModelWeights w1 = random_weights(m, GgmlType::Q4_0, 29), w2 = random_weights(m, GgmlType::Q4_0, 29),
                     w3 = random_weights(m, GgmlType::Q4_0, 30);
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    const auto a = kernel_logits(m, w1, toks);
    CHECK(a == kernel_logits(m, w2, toks));  // same seed: bit-identical logits
    CHECK(a != kernel_logits(m, w3, toks));  // another seed: other weights
  }
  omp_set_num_threads(saved);
}

TEST_CASE("counters follow the rules of counters.h on hand-computed cases") {
  const ModelSpec m = tiny("gemma4-e2b-tiny");
  const ModelWeights w = random_weights(m, GgmlType::Q8_0, 31);
  ForwardOptions o;
  o.n_ctx = 40;
  o.kv_type = KvCacheType::F16;
  Forward f(m, w, o);
  f.step(prompt(m, 20));
  const auto& c = f.counters().all();
  const std::int64_t D = m.n_embd, T = 20, W = m.sliding_window;
  // attn_q of layer 0: 2*T*D*(H*Dh) FLOP, H*Dh rows of D Q8_0 weights (34 B per 32).
  const OpCount q0 = c.at({"attn_q", 0});
  CHECK(q0.flops == 2 * T * D * 8 * 32);
  CHECK(q0.weight_bytes == 8 * 32 * (D / 32 * 34));
  // KV write of layer 0 (sliding, Hkv 1, Dh 32, f16): K and V, T rows each.
  CHECK(c.at({"attn_k", 0}).kv_write_bytes == T * 1 * 32 * 2);
  // Layer 3 shares layer 1's cache: no K/V projection, no write, but attention reads.
  CHECK(c.count({"attn_k", 3}) == 0);
  // Sliding scores: queries at p = 0..19 see min(p+1, 8) keys: 1+..+8 + 12*8 = 132.
  CHECK(c.at({"attn_scores", 3}).flops == 2 * 32 * 8 * (36 + 12 * W));
  CHECK(c.at({"attn_scores", 3}).kv_read_bytes == 1 * 32 * 2 * 20);
  // Global layer 2: p+1 keys: 210.
  CHECK(c.at({"attn_values", 2}).flops == 2 * 64 * 8 * 210);
  // Decode at depth 20: a sliding layer reads W positions, a global one 21.
  f.counters().reset();
  f.step({5});
  CHECK(f.counters().all().at({"attn_scores", 0}).kv_read_bytes == 1 * 32 * 2 * W);
  CHECK(f.counters().all().at({"attn_scores", 5}).kv_read_bytes == 1 * 64 * 2 * 21);
  CHECK(f.counters().all().at({"output_head", -1}).flops == 2 * D * m.n_vocab);
}

TEST_CASE("a context beyond the model's limit or a token outside the vocabulary is an InputError") {
  const ModelSpec m = tiny("gemma4-31b-tiny");
  const ModelWeights w = random_weights(m, GgmlType::F32, 1);
  ForwardOptions o;
  o.n_ctx = m.n_ctx_max + 1;
  CHECK_THROWS_AS(Forward(m, w, o), InputError);
  o.n_ctx = 4;
  Forward f(m, w, o);
  CHECK_THROWS_AS(f.step({1, 2, 3, 4, 5}), InputError);
  CHECK_THROWS_AS(f.step({static_cast<std::int32_t>(m.n_vocab)}), InputError);
}

TEST_CASE("gemmasim run --json reports speeds, bytes per token, memory and tokens; bad input exits with 2") {
  const std::string dir = std::string(GEMMASIM_BINARY) + ".run-test";
  const std::string env = "XDG_CACHE_HOME=" + dir + " ";
  const std::string out = dir + "/out.json", trace = dir + "/trace.jsonl";
  std::system(("mkdir -p " + dir).c_str());
  const std::string cmd = env + GEMMASIM_BINARY + " run --model gemma4-26b-a4b-tiny --quant q8_0 --prompt 6 --gen 3 --depth 4" +
                          " --threads 1 --json --trace-out " + trace + " > " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  for (const char* k : {"prefill_tok_per_s", "decode_tok_per_s", "weight_bytes_per_token", "achieved_bytes_per_s",
                        "peak_rss_bytes", "tokens", "counters"})
    CHECK(j.contains(k));
  CHECK(j["tokens"].size() == 4);  // the prefill's next token + 3 decode steps
  CHECK(j["weight_bytes_per_token"].get<double>() > 0);
  // A decoded token reads K = 2 of the E = 8 experts: far less than the file's weights.
  CHECK(j["weight_bytes_per_token"].get<double>() < 0.6 * j["file_bytes"].get<double>());
  CHECK(j["kv_bytes_per_token"].get<double>() > 0);
  // Text from the file's vocabulary (synth's placeholder SentencePiece vocabulary: <pad> <eos>
  // <bos> control, <unk>, 256 byte tokens when the vocabulary is large enough, then tok_N).
  REQUIRE(j["text"].is_string());
  const std::int64_t V = tiny("gemma4-26b-a4b-tiny").n_vocab;
  const std::int64_t first_word = V >= 4 + 256 ? 4 + 256 : 4;
  std::string expect;
  for (const auto& tok : j["tokens"]) {
    const std::int64_t id = tok.get<std::int64_t>();
    if (id == 3) expect += "<unk>";
    else if (id >= first_word) expect += "tok_" + std::to_string(id);
    else if (id >= 4) expect += static_cast<char>(id - 4);
  }
  CHECK(j["text"].get<std::string>() == expect);
  std::ifstream t(trace);
  int lines = 0;
  for (std::string line; std::getline(t, line); ++lines) {
    const auto r = nlohmann::json::parse(line);
    CHECK(r["experts"].size() == 2);
    CHECK(r["token"].get<int>() >= 4);  // depth tokens are not traced
  }
  CHECK(lines == (6 + 3) * 6);  // tokens x MoE layers: the warm-up token is neither traced...
  // ...nor counted, and it changes no token: the same run without it.
  REQUIRE(std::system((cmd + " --no-warmup").c_str()) == 0);
  std::ifstream f2(out);
  const auto j2 = nlohmann::json::parse(f2);
  CHECK(j2["tokens"] == j["tokens"]);
  for (const char* phase : {"prefill", "decode"})
    for (const char* k : {"flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "calls"}) {
      CAPTURE(phase);
      CAPTURE(k);
      CHECK(j2["counters"][phase]["total"][k] == j["counters"][phase]["total"][k]);
    }
  CHECK(std::system((env + GEMMASIM_BINARY + " run --model no-such-model 2>/dev/null").c_str()) != 0);
  CHECK(std::system((env + GEMMASIM_BINARY + " run --model gemma4-31b-tiny --prompt 300 2>/dev/null").c_str()) != 0);
}

TEST_CASE("warm_up runs the prompt's first micro-batch and one token, and leaves no trace") {
  const ModelSpec m = tiny("gemma4-26b-a4b-tiny");  // MoE: routes too
  const ModelWeights w = random_weights(m, GgmlType::Q8_0, 17);
  for (int P : {3, 20}) {  // within one micro-batch, and beyond it (chunk = n_ubatch)
    const auto toks = prompt(m, P + 4);
    const std::vector<std::int32_t> p(toks.begin(), toks.begin() + P);
    auto run = [&](bool warm) {
      ForwardOptions o;
      o.n_ctx = 40;
      o.n_ubatch = 8;
      o.trace = true;
      Forward f(m, w, o);
      if (warm) {
        f.warm_up(p);
        CHECK(f.pos() == 0);
        CHECK(f.counters().total().flops == 0);
        CHECK(f.routes().empty());
      }
      std::vector<float> out = f.step(p);
      for (int i = P; i < P + 4; ++i) {
        const auto lg = f.step({toks[static_cast<std::size_t>(i)]});
        out.insert(out.end(), lg.begin(), lg.end());
      }
      return std::make_pair(out, f.counters().total().flops);
    };
    const auto plain = run(false), warmed = run(true);
    CAPTURE(P);
    CHECK(warmed.first == plain.first);
    CHECK(warmed.second == plain.second);
  }
  ForwardOptions o;
  o.n_ctx = 8;
  Forward f(m, w, o);
  f.warm_up({});  // nothing to warm
  CHECK(f.pos() == 0);
}

TEST_CASE("the vectorised GELU and softcap match their libm definitions") {
  // gelu_tanh = x / (1 + e^-2u) with exp_fast; softcap via e^(-2x/cap): both must equal
  // 0.5 x (1 + tanh u) and cap tanh(x / cap) to float accuracy over the whole range.
  std::vector<float> x;
  for (float v = -60.0f; v <= 60.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(1e-8f);
  x.push_back(-1e30f);
  x.push_back(1e30f);
  double worst_gelu = 0, worst_cap = 0;
  std::vector<float> g(x.size()), ones(x.size(), 1.0f), c = x;
  gelu_mul(x.data(), ones.data(), g.data(), static_cast<std::int64_t>(x.size()));
  softcap(c.data(), static_cast<std::int64_t>(c.size()), 30.0f);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    const double ref_g = std::abs(v) > 1e10 ? (v > 0 ? v : 0.0) : 0.5 * v * (1 + std::tanh(u));
    worst_gelu = std::max(worst_gelu, std::abs(g[i] - ref_g) / std::max(1.0, std::abs(ref_g)));
    worst_cap = std::max(worst_cap, std::abs(c[i] - 30.0 * std::tanh(v / 30.0)));
    CHECK(g[i] == gelu_tanh(x[i]));  // the scalar and vectorised forms agree bit for bit
  }
  CHECK(worst_gelu < 1e-6);
  CHECK(worst_cap < 1e-5);
  CHECK(exp_fast(0.0f) == 1.0f);
  CHECK(std::abs(exp_fast(1.0f) - 2.7182817f) < 1e-6f);
}

TEST_CASE("integer-format logits are bit-identical on the scalar and AVX2 ISAs") {
  // Q8_0 / Q4_0 tiles follow one canonical summation on every ISA (test_kernels checks the
  // AVX-512 tiles bit for bit too), and attention's AVX2 form does the SSE2 form's
  // operations in the same order, so scalar and AVX2 runs agree exactly. (The AVX-512
  // attention fuses its products: test_attention holds it to a naive product, and the
  // oracle test above covers it in the forward pass.)
  const Isa saved = active_isa();
  if (!isa_here(Isa::Avx2)) return;
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    const auto toks = prompt(m, 20);  // > W + ubatch: the KV rings and their float mirrors wrap
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
      const ModelWeights w = random_weights(m, t, 41);
      set_isa(Isa::Scalar);
      const auto a = kernel_logits(m, w, toks, 5, KvCacheType::F16);
      set_isa(Isa::Avx2);
      const auto b = kernel_logits(m, w, toks, 5, KvCacheType::F16);
      CHECK_MESSAGE(a == b, id);
    }
  }
  set_isa(saved);
}

namespace {
// Bytes of a model's float vectors (norm weights, scales): what total_bytes counts besides matrices.
std::int64_t vector_bytes(const ModelWeights& w) {
  std::int64_t n = 4 * static_cast<std::int64_t>(w.output_norm.size() + w.ple_proj_norm.size());
  for (const LayerWeights& l : w.layers)
    for (const Vec* v : {&l.attn_norm, &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.ffn_norm, &l.post_ffn_norm,
                         &l.router_scale, &l.expert_scale, &l.pre_ffn_norm_2, &l.post_ffn_norm_1, &l.post_ffn_norm_2,
                         &l.ple_post_norm, &l.layer_scalar})
      n += 4 * static_cast<std::int64_t>(v->size());
  return n;
}
}  // namespace

TEST_CASE("Q4_0, Q8_0, Q4_K and Q6_K weights interleaved at load give the GGUF layout's logits bit for bit, on every ISA") {
  // interleave_weights copies the Q4_0, Q8_0, Q4_K and Q6_K matrices into the 16-row layouts where the
  // best ISA has the kernel (AVX-512: all four, AVX2: Q4_0, Q8_0 and Q6_K); an ISA without a kernel runs
  // the copy group by group in GGUF order.
  const Isa saved = active_isa();
  if (!isa_here(Isa::Avx2)) return;  // nothing is interleaved without a kernel
  for (const GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    set_isa(best_isa());
    if (!interleaved_kernel_active(t)) continue;
    for (const char* id : kTiny) {
      CAPTURE(std::string(type_info(t).name));
      const ModelSpec m = tiny(id);
      const auto toks = prompt(m, 20);
      set_isa(best_isa());
      const ModelWeights plain = random_weights(m, t, 43);
      ModelWeights inter = random_weights(m, t, 43);
      const std::int64_t mapped_before = prefault_weights(inter);  // every multiplied matrix, once (tied: one copy)
      const std::int64_t n = interleave_weights(inter, nullptr);
      CHECK_MESSAGE(n > 0, id);
      const std::int64_t ple = static_cast<std::int64_t>(inter.ple_table.row_bytes) * inter.ple_table.ne1;
      CHECK(mapped_before == inter.total_bytes - ple - vector_bytes(inter));
      CHECK(prefault_weights(inter) < mapped_before);  // the interleaved copies are not the file's pages
      CHECK(inter.output.interleaved == (inter.output.type == t));  // (Q4_K / Q6_K at width 128: F32 rows, left as they are)
      CHECK(inter.token_embd.data == inter.output.data);  // tied: the embedding reads the same copy
      CHECK_FALSE(inter.ple_table.interleaved);           // gathered only: left in place
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!isa_here(isa)) continue;
        set_isa(isa);
        CHECK_MESSAGE(kernel_logits(m, plain, toks, 5, KvCacheType::F16) == kernel_logits(m, inter, toks, 5, KvCacheType::F16),
                      id << " on " << isa_name(isa));
      }
    }
  }
  set_isa(saved);
}

TEST_CASE("matrices copied into huge pages at load give the same logits bit for bit; tables stay; tied views follow") {
  for (const char* id : kTiny) {
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q4_0, GgmlType::Q6_K}) {
      const ModelSpec m = tiny(id);
      const auto toks = prompt(m, 12);
      const ModelWeights plain = random_weights(m, t, 44);
      ModelWeights copied = random_weights(m, t, 44);
      const void* ple_before = copied.ple_table.data;
      const std::int64_t inter = interleave_weights(copied, nullptr);  // Q4_0 / Q8_0 / Q4_K / Q6_K on AVX-512: these are not copied again
      std::vector<const void*> before;
      for (const LayerWeights& l : copied.layers) before.push_back(l.ffn_up.data ? l.ffn_up.data : l.wq.data);
      const void* out_before = copied.output.data;
      const std::int64_t n = huge_page_weights(copied, nullptr);
      CAPTURE(std::string(id));
      CAPTURE(std::string(type_info(t).name));
      CHECK((n > 0 || inter > 0));                                   // Q4_0 / Q8_0 / Q4_K / Q6_K on AVX-512: all interleaved already
      CHECK(copied.ple_table.data == ple_before);                    // gathered only: left in place
      CHECK(copied.token_embd.data == copied.output.data);           // tied: the embedding reads the same copy
      CHECK((copied.output.interleaved || copied.output.data != out_before));
      for (std::size_t i = 0; i < copied.layers.size(); ++i) {
        const LayerWeights& l = copied.layers[i];
        const void* now = l.ffn_up.data ? l.ffn_up.data : l.wq.data;
        if (inter == 0 || !(l.ffn_up.data ? l.ffn_up.interleaved : l.wq.interleaved)) CHECK(now != before[i]);
      }
      CHECK(kernel_logits(m, plain, toks, 4, KvCacheType::F16) == kernel_logits(m, copied, toks, 4, KvCacheType::F16));
    }
  }
}

TEST_CASE("gemmasim run --pause-every N stops itself before the prefill and every N decode steps, then carries on") {
  // The contract gemmasim validate relies on: it measures the machine while the run is stopped.
  const std::string dir = std::string(GEMMASIM_BINARY) + ".run-test";
  std::system(("mkdir -p " + dir).c_str());
  const std::string out = dir + "/pause.json", cache = "XDG_CACHE_HOME=" + dir;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::putenv(const_cast<char*>(cache.c_str()));
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), null = ::open("/dev/null", O_WRONLY);
    ::dup2(fd, 1);
    ::dup2(null, 2);
    ::execl(GEMMASIM_BINARY, GEMMASIM_BINARY, "run", "--model", "gemma4-e2b-tiny", "--quant", "q8_0", "--prompt", "5",
            "--gen", "5", "--threads", "1", "--pause-every", "2", "--json", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int stops = 0, status = 0;
  for (;;) {
    REQUIRE(::waitpid(pid, &status, WUNTRACED) == pid);
    if (!WIFSTOPPED(status)) break;
    ++stops;
    ::kill(pid, SIGCONT);
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(stops == 1 + 3);  // before the prefill, before decode steps 0, 2 and 4
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  CHECK(j["decode_step_s"].size() == 5);
  CHECK(std::system((cache + " " + GEMMASIM_BINARY + " run --model gemma4-e2b-tiny --pause-every -1 2>/dev/null").c_str()) != 0);
}

TEST_CASE("gemmasim run --prefill-reps N times the prefill N times, undoing all but the last: same tokens and counts") {
  const std::string dir = std::string(GEMMASIM_BINARY) + ".run-test";
  std::system(("mkdir -p " + dir).c_str());
  const std::string cache = "XDG_CACHE_HOME=" + dir;
  auto run = [&](const std::string& extra, const std::string& name) {
    const std::string out = dir + "/" + name + ".json";
    const std::string cmd = cache + " " + GEMMASIM_BINARY +
                            " run --model gemma4-e2b-tiny --quant q8_0 --prompt 7 --gen 4 --threads 1 --json " + extra +
                            " > " + out + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream f(out);
    return nlohmann::json::parse(f);
  };
  const auto one = run("", "reps1"), three = run("--prefill-reps 3", "reps3");
  CHECK(one["prefill_reps_s"].size() == 1);
  REQUIRE(three["prefill_reps_s"].size() == 3);
  std::vector<double> t = three["prefill_reps_s"].get<std::vector<double>>();
  std::sort(t.begin(), t.end());
  CHECK(three["prefill_s"].get<double>() == t[1]);  // the median rep's time
  // the undone reps leave the generation and the prefill's counts as one prefill does
  CHECK(three["tokens"] == one["tokens"]);
  for (const char* k : {"flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "act_bytes", "calls"})
    CHECK_MESSAGE(three["counters"]["prefill"]["total"][k] == one["counters"]["prefill"]["total"][k], k);
  // a prompt longer than a micro-batch cannot be undone; reps out of range: exit 2
  const std::string base = cache + " " + GEMMASIM_BINARY + " run --model gemma4-e2b-tiny --quant q8_0 --gen 1 ";
  CHECK(WEXITSTATUS(std::system((base + "--prompt 9 --ubatch 4 --prefill-reps 2 >/dev/null 2>&1").c_str())) == 2);
  CHECK(WEXITSTATUS(std::system((base + "--prompt 3 --prefill-reps 0 >/dev/null 2>&1").c_str())) == 2);
}

TEST_CASE("attention cut into key blocks and token blocks gives the uncut logits bit for bit, on every ISA") {
  // Forward::attend passes blocks of keys over blocks of up to 16 tokens; a 40-token step
  // has three token blocks (the last partial) and, with sliding windows of W < 40, tokens
  // whose visible keys start in different blocks. Cutting the keys into blocks of 1 or 5
  // (instead of one block of 64 KiB of rows, the whole range at these widths) must not
  // change a bit: every score is its own sum and o sums over the keys in order.
  const Isa saved = active_isa();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    set_isa(isa);
    for (const char* id : kTiny) {
      const ModelSpec m = tiny(id);
      const auto toks = prompt(m, 40);
      const ModelWeights w = random_weights(m, GgmlType::Q8_0, 43);
      auto logits = [&](std::int64_t key_block) {
        ForwardOptions o;
        o.n_ctx = 48;
        o.all_logits = true;
        o.attn_key_block = key_block;
        Forward f(m, w, o);
        auto lg = f.step(toks);
        const auto more = f.step({toks[0]});  // and a decode step after it
        lg.insert(lg.end(), more.begin(), more.end());
        return lg;
      };
      const auto whole = logits(0);
      CHECK_MESSAGE(whole == logits(1), id);
      CHECK_MESSAGE(whole == logits(5), id);
    }
  }
  set_isa(saved);
}

TEST_CASE("a seeded KV fill leaves the decode step's counts of a prefilled one, deterministically") {
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    const ModelWeights w = random_weights(m, GgmlType::Q8_0, 47);
    ForwardOptions o;
    o.n_ctx = 40;
    const auto fill = prompt(m, 30), next = prompt(m, 3, 9);
    Forward a(m, w, o), b(m, w, o), c(m, w, o);
    a.step(fill);
    b.fill_kv_seeded(30, 5);
    c.fill_kv_seeded(30, 5);
    CHECK(b.pos() == 30);
    a.counters().reset();
    b.counters().reset();
    a.step(next);
    const auto lb = b.step(next);
    CHECK_MESSAGE(lb == c.step(next), id);  // the same seed, the same rows
    for (const char* op : {"attn_scores", "attn_values", "attn_q", "ffn_down"}) {
      CHECK_MESSAGE(a.counters().op_total(op).flops == b.counters().op_total(op).flops, id << " " << op);
      CHECK_MESSAGE(a.counters().op_total(op).kv_read_bytes == b.counters().op_total(op).kv_read_bytes, id << " " << op);
    }
    // The rows are not zero: a fill that stored nothing would give other logits than a second seed.
    Forward d(m, w, o);
    d.fill_kv_seeded(30, 6);
    CHECK_MESSAGE(d.step(next) != lb, id);
    CHECK_THROWS_AS(d.fill_kv_seeded(10, 1), gs::InputError);  // behind the position
    CHECK_THROWS_AS(d.fill_kv_seeded(41, 1), gs::InputError);  // beyond the context
  }
}

TEST_CASE("a batched step of several sequences gives each sequence's own logits") {
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    for (GgmlType fmt : {GgmlType::F32, GgmlType::Q8_0}) {
      const ModelWeights w = random_weights(m, fmt, 21);
      ForwardOptions o;
      o.n_ctx = 40;
      o.n_ubatch = 32;
      o.kv_type = KvCacheType::F32;
      // three sequences: A 14 tokens already in (past the window of 8), B 3 in, C new
      const auto ta = prompt(m, 16, 1), tb = prompt(m, 9, 2), tc = prompt(m, 6, 3);
      Forward a(m, w, o), b(m, w, o), c(m, w, o), driver(m, w, o);
      Forward ra(m, w, o), rb(m, w, o), rc(m, w, o);  // references, one sequence each
      a.step({ta.begin(), ta.begin() + 14});
      ra.step({ta.begin(), ta.begin() + 14});
      b.step({tb.begin(), tb.begin() + 3});
      rb.step({tb.begin(), tb.begin() + 3});
      // one step: A decodes one token, B a prompt chunk of 6, C its 6-token prompt; B wants no logits
      const std::vector<Forward::BatchItem> items = {{&a, {ta[14]}, true},
                                                     {&b, {tb.begin() + 3, tb.end()}, false},
                                                     {&c, tc, true}};
      const auto spans = driver.step_batch(items);
      std::vector<std::vector<float>> got;  // copies: the spans live until the driver's next step
      for (const auto& sp : spans) got.emplace_back(sp.begin(), sp.end());
      const auto la = ra.step({ta[14]});
      rb.step({tb.begin() + 3, tb.end()});
      const auto lc = rc.step(tc);
      const std::string sid = id, sfmt = type_info(fmt).name;
      CAPTURE(sid);
      CAPTURE(sfmt);
      REQUIRE(got.size() == 3);
      CHECK(got[1].empty());
      // F32: only summation order differs; Q8_0: the activations of a 13-row matmul are
      // quantized per row as those of the single rows, so the same within rounding
      const double tol = fmt == GgmlType::F32 ? 1e-4 : 2e-2;
      CHECK(max_abs_diff(got[0], la) < tol);
      CHECK(max_abs_diff(got[2], lc) < tol);
      CHECK(a.pos() == 15);
      CHECK(b.pos() == 9);
      CHECK(c.pos() == 6);
      CHECK(driver.pos() == 0);
      // and the next step of each continues from its own cache
      const auto next = driver.step_batch({{&a, {ta[15]}, true}, {&b, {tb[8]}, true}});
      CHECK(max_abs_diff({next[0].begin(), next[0].end()}, ra.step({ta[15]})) < tol);
      CHECK(max_abs_diff({next[1].begin(), next[1].end()}, rb.step({tb[8]})) < tol);
    }
  }
}

TEST_CASE("gemmasim serve-run serves requests with the kernel, batching sequences, and compares with serve-sim") {
  const std::string dir = std::string(GEMMASIM_BINARY) + ".serve-run-test";
  std::system(("mkdir -p " + dir).c_str());
  const std::string out = dir + "/out.json", reqs = dir + "/reqs.csv";
  const std::string cmd = "XDG_CACHE_HOME=" + dir + " " + GEMMASIM_BINARY +
                          " serve-run --model gemma4-e2b-tiny --quant q8_0 --rate 200 --requests 8 --prompt-dist 6"
                          " --gen-dist 4 --parallel 2 --ubatch-size 16 --threads 1 --json --probe " +
                          std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/devices/ryzen-9-9950x.json --requests-out " + reqs +
                          " > " + out;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  CHECK(j["measured"]["completed"] == 8);
  CHECK(j["measured"]["ttft_s"]["p50"].get<double>() > 0);
  // two slots busy at once: steps carry more than one sequence's token
  CHECK(j["measured"]["mean_step_tokens"].get<double>() > 1.5);
  CHECK(j["predicted"]["completed"] == 8);
  std::ifstream rf(reqs);
  int lines = 0;
  for (std::string l; std::getline(rf, l);) ++lines;
  CHECK(lines == 9);
  // bad input: one line, exit 2
  const std::string bad = std::string(GEMMASIM_BINARY) + " serve-run --model gemma4-e2b-tiny --parallel 0 2>/dev/null";
  const int st = std::system(bad.c_str());
  CHECK(WEXITSTATUS(st) == 2);
  std::system(("rm -rf " + dir).c_str());
}
