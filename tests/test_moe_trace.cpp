// test_moe_trace.cpp: routing trace formats, validation and the synthetic generator.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "error.h"
#include "moe/trace.h"
#include "moe/trace_gen.h"

using namespace gs::moe;

namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("gemmasim_moe_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string p = tmp_path(name);
  std::ofstream(p) << text;
  return p;
}

const TraceShape kShape{4, 16, 2};  // L = 4, E = 16, K = 2

// Reading `text` as JSONL throws an InputError whose message contains `what`.
void check_bad_jsonl(const std::string& text, const std::string& what) {
  std::string p = write_file("bad.jsonl", text);
  CHECK_THROWS_WITH_AS(read_trace_jsonl(p, kShape), doctest::Contains(what.c_str()), gs::InputError);
  std::filesystem::remove(p);
}

}  // namespace

TEST_CASE("a JSON Lines trace is read token-major whatever the line order") {
  // Layer-major order, as a batched forward pass writes it.
  std::string p = write_file("order.jsonl",
                             "{\"meta\": {\"n_layer\": 4, \"n_expert\": 16, \"top_k\": 2}}\n"
                             "{\"token\": 0, \"layer\": 1, \"experts\": [3, 4], \"weights\": [0.6, 0.4], \"phase\": \"prefill\"}\n"
                             "{\"token\": 1, \"layer\": 1, \"experts\": [5, 6], \"weights\": [0.5, 0.5], \"phase\": \"prefill\"}\n"
                             "\n"
                             "{\"token\": 0, \"layer\": 2, \"experts\": [15, 0], \"weights\": [0.9, 0.1], \"phase\": \"prefill\"}\n"
                             "{\"token\": 1, \"layer\": 2, \"experts\": [7, 8], \"weights\": [0.7, 0.3], \"phase\": \"prefill\"}\n"
                             "{\"token\": 2, \"layer\": 2, \"experts\": [9, 10], \"weights\": [0.2, 0.8]}\n"
                             "{\"token\": 2, \"layer\": 1, \"experts\": [11, 12], \"weights\": [0.3, 0.7]}\n");
  Trace tr = read_trace_jsonl(p, kShape);
  REQUIRE(tr.n_tokens() == 3);
  CHECK(tr.layers == std::vector<int>{1, 2});
  CHECK(tr.row(0, 1)[0] == 15);
  CHECK(tr.row(1, 0)[1] == 6);
  CHECK(tr.row(2, 0)[0] == 11);
  CHECK(tr.phase[1] == Phase::Prefill);
  CHECK(tr.phase[2] == Phase::Decode);  // no "phase": decode
  CHECK(tr.n_events() == 3 * 2 * 2);
  CHECK(tr.weights[(2 * 2 + 1) * 2 + 1] == doctest::Approx(0.8f));
  std::filesystem::remove(p);
}

TEST_CASE("bad trace lines are InputErrors naming file:line and what is expected") {
  const std::string ok = "{\"token\": 0, \"layer\": 0, \"experts\": [1, 2]}\n";
  SUBCASE("malformed JSON") { check_bad_jsonl(ok + "{\"token\": 1, \"layer\": 0, \"experts\": [1, 2]\n", "bad.jsonl:2: malformed JSON"); }
  SUBCASE("expert out of range") { check_bad_jsonl(ok + "{\"token\": 1, \"layer\": 0, \"experts\": [1, 16]}\n", ":2: experts/1: value 16 out of range (expected 0 .. 15)"); }
  SUBCASE("layer out of range") { check_bad_jsonl("{\"token\": 0, \"layer\": 4, \"experts\": [1, 2]}\n", ":1: layer: value 4 out of range (expected 0 .. 3)"); }
  SUBCASE("negative token") { check_bad_jsonl("{\"token\": -1, \"layer\": 0, \"experts\": [1, 2]}\n", ":1: token: value -1 out of range"); }
  SUBCASE("weights and experts of different lengths") {
    check_bad_jsonl("{\"token\": 0, \"layer\": 0, \"experts\": [1, 2], \"weights\": [1.0]}\n", ":1: \"weights\" has 1 entries but \"experts\" has 2");
  }
  SUBCASE("wrong number of experts") { check_bad_jsonl("{\"token\": 0, \"layer\": 0, \"experts\": [1, 2, 3]}\n", "(expected top_k = 2)"); }
  SUBCASE("an expert twice") { check_bad_jsonl("{\"token\": 0, \"layer\": 0, \"experts\": [3, 3]}\n", "expert 3 listed twice"); }
  SUBCASE("a record twice") { check_bad_jsonl(ok + ok, ":2: token 0 layer 0 appears twice (first at line 1)"); }
  SUBCASE("a token missing a layer") {
    check_bad_jsonl(ok + "{\"token\": 0, \"layer\": 1, \"experts\": [1, 2]}\n{\"token\": 1, \"layer\": 1, \"experts\": [1, 2]}\n",
                    "does not have the same MoE layers as token 0");
  }
  SUBCASE("not an object") { check_bad_jsonl("[1, 2]\n", ":1: expected a JSON object"); }
  SUBCASE("missing key") { check_bad_jsonl("{\"token\": 0, \"experts\": [1, 2]}\n", ":1: required key \"layer\" missing"); }
  SUBCASE("unknown phase") { check_bad_jsonl("{\"token\": 0, \"layer\": 0, \"experts\": [1, 2], \"phase\": \"train\"}\n", "unknown value 'train'"); }
  SUBCASE("meta of another model") { check_bad_jsonl("{\"meta\": {\"n_expert\": 128}}\n" + ok, "meta/n_expert: trace was recorded with 128 but the model has 16"); }
  SUBCASE("empty file") { check_bad_jsonl("\n", "no routing records"); }
}

TEST_CASE("JSON Lines and CSV round trips keep every expert, weight and phase") {
  TraceGenParams p;
  p.shape = kShape;
  p.n_tokens = 50;
  p.n_prompt = 20;
  p.skew = {1.2};
  p.locality = 0.3;
  p.seed = 7;
  Trace a = generate_trace(p);
  for (const char* ext : {".jsonl", ".csv"}) {
    CAPTURE(ext);
    std::string path = tmp_path(std::string("rt") + ext);
    write_trace(a, path, trace_gen_meta(p, "test"));
    Trace b = read_trace(path, kShape);
    CHECK(b.experts == a.experts);
    CHECK(b.phase == a.phase);
    CHECK(b.layers == a.layers);
    REQUIRE(b.weights.size() == a.weights.size());
    for (std::size_t i = 0; i < a.weights.size(); ++i) CHECK(b.weights[i] == doctest::Approx(a.weights[i]).epsilon(1e-3));
    std::filesystem::remove(path);
  }
}

TEST_CASE("CSV import checks its header and cells") {
  std::string ok = write_file("ok.csv", "token,layer,expert_0,expert_1\n0,0,1,2\n0,1,3,4\n1,0,5,6\n1,1,7,8\n");
  Trace tr = read_trace_csv(ok, kShape);
  CHECK(tr.n_tokens() == 2);
  CHECK(tr.row(1, 1)[1] == 8);
  CHECK(tr.weights.empty());
  std::filesystem::remove(ok);
  std::string bad = write_file("bad.csv", "token,layer,expert_0\n0,0,1\n");
  CHECK_THROWS_WITH_AS(read_trace_csv(bad, kShape), doctest::Contains("lacks column 'expert_1'"), gs::InputError);
  bad = write_file("bad.csv", "token,layer,expert_0,expert_1\n0,0,1,x\n");
  CHECK_THROWS_WITH_AS(read_trace_csv(bad, kShape), doctest::Contains("bad.csv:2: expert_1: 'x' is not an integer"), gs::InputError);
  bad = write_file("bad.csv", "token,layer,expert_0,expert_1\n0,0,1,99\n");
  CHECK_THROWS_WITH_AS(read_trace_csv(bad, kShape), doctest::Contains("expert_1: value 99 out of range"), gs::InputError);
  std::filesystem::remove(bad);
}

TEST_CASE("trace-gen is deterministic per seed and routes K distinct experts") {
  TraceGenParams p;
  p.shape = {3, 32, 4};
  p.n_tokens = 200;
  p.skew = {0.8};
  p.seed = 11;
  Trace a = generate_trace(p), b = generate_trace(p);
  CHECK(a.experts == b.experts);
  p.seed = 12;
  CHECK(generate_trace(p).experts != a.experts);
  for (std::size_t t = 0; t < a.n_tokens(); ++t)
    for (int s = 0; s < a.n_slots(); ++s) {
      const auto* r = a.row(t, s);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < i; ++j) REQUIRE(r[i] != r[j]);
      float sum = 0;
      for (int i = 0; i < 4; ++i) sum += a.weights[(t * 3 + static_cast<std::size_t>(s)) * 4 + static_cast<std::size_t>(i)];
      CHECK(sum == doctest::Approx(1.0f).epsilon(1e-5));
    }
}

TEST_CASE("Zipf skew: with K = 1 the most popular expert is routed with probability 1 / H(E, z)") {
  // K = 1 draws from w_r = (r+1)^-z exactly; E = 64, z = 1: P(top) = 1 / H_64.
  TraceGenParams p;
  p.shape = {1, 64, 1};
  p.n_tokens = 40000;
  p.skew = {1.0};
  p.seed = 3;
  Trace tr = generate_trace(p);
  auto c = expert_counts(tr);
  double h = 0;
  for (int r = 1; r <= 64; ++r) h += 1.0 / r;
  double top = *std::max_element(c.begin(), c.end()) / 40000.0;
  // sd = sqrt(p(1-p)/n) ~ 0.0019; 5 sd.
  CHECK(std::abs(top - 1.0 / h) < 0.01);
}

TEST_CASE("uniform routing (skew 0) spreads tokens evenly over experts") {
  TraceGenParams p;
  p.shape = {2, 16, 4};
  p.n_tokens = 8000;
  p.skew = {0.0};
  Trace tr = generate_trace(p);
  auto c = expert_counts(tr);
  // Each expert: mean 8000 * 4 / 16 = 2000, sd < sqrt(2000) ~ 45; allow 5 sd.
  for (double x : c) CHECK(std::abs(x - 2000.0) < 225.0);
}

TEST_CASE("locality p reuses the previous token's experts at least a fraction p of the time") {
  TraceGenParams p;
  p.shape = {1, 128, 8};
  p.n_tokens = 4000;
  p.skew = {0.0};
  p.locality = 0.5;
  Trace tr = generate_trace(p);
  double reused = 0, total = 0;
  for (std::size_t t = 1; t < tr.n_tokens(); ++t) {
    const auto *r = tr.row(t, 0), *q = tr.row(t - 1, 0);
    for (int i = 0; i < 8; ++i) reused += std::count(q, q + 8, r[i]) > 0, total += 1;
  }
  // Expected: p + (1 - p) * (K - kept) / (E - kept) draws landing on the rest of the previous set ~ 0.5 (+0 here:
  // the fresh draws exclude the kept experts only, so a dropped expert can be drawn again: + 0.5 * 4/124).
  CHECK(reused / total == doctest::Approx(0.5 + 0.5 * 4.0 / 124.0).epsilon(0.03));
  p.locality = 1.0;
  Trace all = generate_trace(p);
  CHECK(std::equal(all.row(1, 0), all.row(1, 0) + 8, all.row(0, 0)));
}

TEST_CASE("trace-gen marks the first P tokens prefill and rejects bad parameters") {
  TraceGenParams p;
  p.shape = kShape;
  p.n_tokens = 30;
  p.n_prompt = 12;
  p.skew = {0.5};
  CHECK(generate_trace(p).n_prefill_tokens() == 12);
  p.locality = 1.5;
  CHECK_THROWS_AS(generate_trace(p), gs::InputError);
  p.locality = 0;
  p.skew = {0.5, 0.5};  // 4 layers need 4 values
  CHECK_THROWS_WITH_AS(generate_trace(p), doctest::Contains("expected 4, one per MoE layer"), gs::InputError);
  p.skew = {-1};
  CHECK_THROWS_AS(generate_trace(p), gs::InputError);
}
