// test_moe_policies.cpp: each placement policy on hand-made traces; the knapsack by brute force.
#include <doctest/doctest.h>

#include <cmath>

#include "error.h"
#include "moe/expert_cache.h"
#include "moe/knapsack.h"
#include "moe/policies.h"
#include "moe/llama_cpp_flags.h"
#include "moe/replay.h"
#include "moe/trace_gen.h"
#include "moe_test_util.h"

using namespace gs::moe;
using moetest::context_for;
using moetest::one_layer_trace;

namespace {
double hits(const std::string& policy, const Trace& tr, PolicyContext ctx) {
  auto p = make_policy(policy);
  ReplayConfig cfg;
  return replay(tr, *p, ctx, cfg).decode.hits;
}
}  // namespace

TEST_CASE("LRU on a hand-made trace, capacity 2 of 4 experts") {
  // seq 0 1 0 2 1 0 3 0, cache holds 2 (1 byte each, budget 2 bytes):
  //  0 miss {0} | 1 miss {0,1} | 0 HIT | 2 miss, evict 1 (LRU) {0,2} | 1 miss, evict 0 {2,1}
  //  0 miss, evict 2 {1,0} | 3 miss, evict 1 {0,3} | 0 HIT            -> 2 hits
  Trace tr = one_layer_trace(4, {0, 1, 0, 2, 1, 0, 3, 0});
  CHECK(hits("lru", tr, context_for(tr, 1.0, 2.0)) == 2);
  // Capacity 3: 0 m | 1 m | 0 H | 2 m {0,1,2} | 1 H | 0 H | 3 m, evict 2 (LRU) | 0 H -> 4 hits
  CHECK(hits("lru", tr, context_for(tr, 1.0, 3.0)) == 4);
}

TEST_CASE("LFU on hand-made traces keeps counts across evictions, ties to least recent") {
  // seq 0 1 0 2 1 0 3 0, capacity 2 (counts after each access in brackets):
  //  0 m [0:1] | 1 m [1:1] | 0 H [0:2] | 2 m [2:1], evict 1 (count 1 < 2) {0,2}
  //  1 m [1:2], evict 2 (1 < 2) {0,1} | 0 H [0:3] | 3 m [3:1], evict 1 (2 < 3) {0,3} | 0 H  -> 3 hits
  Trace tr = one_layer_trace(4, {0, 1, 0, 2, 1, 0, 3, 0});
  CHECK(hits("lfu", tr, context_for(tr, 1.0, 2.0)) == 3);
  // seq 0 0 0 1 2 1 2 1 2, capacity 2: expert 0 gathers 3 uses early and is never evicted
  // until the tie at the end: 0 m,H,H | 1 m | 2 m ev 1 | 1 m ev 2 | 2 m ev 1 | 1 m ev 2 |
  //  2 m: counts 0:3 (last t2) vs 1:3 (last t7) -> tie, evict 0.                 -> 2 hits
  Trace stale = one_layer_trace(3, {0, 0, 0, 1, 2, 1, 2, 1, 2});
  CHECK(hits("lfu", stale, context_for(stale, 1.0, 2.0)) == 2);
  // LRU on the same trace: 0 m,H,H | 1 m | 2 m ev 0 | then 1 2 1 2 all hits    -> 6 hits
  CHECK(hits("lru", stale, context_for(stale, 1.0, 2.0)) == 6);
}

TEST_CASE("decay: a short half-life forgets like LRU, a long one counts like LFU") {
  // Scores S(t) = sum 2^-((t - t_i)/h). Trace 0 0 0 1 2 1 2 1 2, capacity 2.
  // h = 1: at t4 S0 = (1 + 1/2 + 1/4) / 4 = 0.4375 < S1 = 0.5 -> evict 0; then 1,2 hit  -> 6 hits
  // h = 1e6: S ~ counts, as LFU above                                              -> 2 hits
  Trace stale = one_layer_trace(3, {0, 0, 0, 1, 2, 1, 2, 1, 2});
  PolicyContext c = context_for(stale, 1.0, 2.0);
  c.decay_half_life_tokens = 1.0;
  CHECK(hits("decay", stale, c) == 6);
  c.decay_half_life_tokens = 1e6;
  CHECK(hits("decay", stale, c) == 2);
}

TEST_CASE("decay keeps its order across the rescaling of large scores") {
  // h = 0.5 tokens: the increment 2^(t/h) passes 2^500 after 250 tokens, forcing rescales.
  // A period-3 cycle over 3 experts with capacity 2 is LRU's worst case (0 hits), and decay
  // with a short half-life behaves as LRU: also 0 hits, before and after each rescale.
  std::vector<int> seq;
  for (int i = 0; i < 1200; ++i) seq.push_back(i % 3);
  Trace tr = one_layer_trace(3, seq);
  PolicyContext c = context_for(tr, 1.0, 2.0);
  c.decay_half_life_tokens = 0.5;
  CHECK(hits("lru", tr, c) == 0);
  CHECK(hits("decay", tr, c) == 0);
  c.vram_budget_bytes = 3.0;  // everything fits: only the 3 cold misses
  CHECK(hits("decay", tr, c) == 1200 - 3);
}

TEST_CASE("knapsack_select reaches the brute-force optimum on small cases") {
  Rng rng(42);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(rng.next() % 12);
    const bool equal = trial % 3 == 0;
    std::vector<KnapsackItem> items(static_cast<std::size_t>(n));
    for (auto& it : items) {
      it.value = static_cast<double>(rng.next() % 50);
      it.bytes = equal ? 7.0 : static_cast<double>(1 + rng.next() % 20);
    }
    const double budget = static_cast<double>(rng.next() % 80);
    double best = 0;
    for (int mask = 0; mask < (1 << n); ++mask) {
      double v = 0, b = 0;
      for (int i = 0; i < n; ++i)
        if (mask >> i & 1) v += items[static_cast<std::size_t>(i)].value, b += items[static_cast<std::size_t>(i)].bytes;
      if (b <= budget) best = std::max(best, v);
    }
    KnapsackResult r = knapsack_select(items, budget);
    CAPTURE(trial);
    CHECK(r.exact);
    CHECK(r.bytes <= budget);
    CHECK(r.value == best);
    double v = 0;
    for (int i = 0; i < n; ++i) v += r.take[static_cast<std::size_t>(i)] ? items[static_cast<std::size_t>(i)].value : 0.0;
    CHECK(v == r.value);
  }
}

TEST_CASE("knapsack_select with fractional sizes stays within the budget (rounded DP)") {
  Rng rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<KnapsackItem> items(10);
    for (auto& it : items) it = {static_cast<double>(rng.next() % 30), 0.5 + rng.uniform() * 10};
    const double budget = 20.0 + rng.uniform() * 10;
    KnapsackResult r = knapsack_select(items, budget);
    CHECK_FALSE(r.exact);
    CHECK(r.bytes <= budget);
    double best = 0;
    for (int mask = 0; mask < 1024; ++mask) {
      double v = 0, b = 0;
      for (int i = 0; i < 10; ++i)
        if (mask >> i & 1) v += items[static_cast<std::size_t>(i)].value, b += items[static_cast<std::size_t>(i)].bytes;
      if (b <= budget) best = std::max(best, v);
    }
    CHECK(r.value <= best);
    CHECK(r.value >= 0.9 * best);  // rounding costs < 10 units of budget / 2^15 here
  }
  CHECK_THROWS_AS(knapsack_select(std::vector<KnapsackItem>{{1.0, 1.0}}, -1.0), gs::InputError);
}

TEST_CASE("static-global keeps the most frequent experts of the profile, static-layer the most frequent per layer") {
  // 2 layers x 4 experts, 1 byte each, budget 4. Profile counts (layer 0 | layer 1):
  //   [9 8 7 1 | 6 0 0 5]: global top 4 = (0,0) (0,1) (0,2) (1,0); per layer 2 each = (0,0) (0,1) (1,0) (1,3).
  std::vector<TraceRecord> recs;
  for (std::uint32_t t = 0; t < 2; ++t)
    for (int l = 0; l < 2; ++l) recs.push_back({t, l, Phase::Decode, {0}, {}, static_cast<std::size_t>(1 + 2 * t + static_cast<std::uint32_t>(l))});
  Trace tr = build_trace(recs, {2, 4, 1}, "hand-made");
  PolicyContext c = context_for(tr, 1.0, 4.0);
  c.profile_counts = {9, 8, 7, 1, 6, 0, 0, 5};
  auto g = make_policy("static-global");
  g->reset(c);
  CHECK(g->resident_map() == std::vector<std::uint8_t>{1, 1, 1, 0, 1, 0, 0, 0});
  CHECK(g->expert_vram_bytes() == 4.0);
  auto l = make_policy("static-layer");
  l->reset(c);
  CHECK(l->resident_map() == std::vector<std::uint8_t>{1, 1, 0, 0, 1, 0, 0, 1});
  // Unequal sizes: layer 1's experts cost 3 bytes, layer 0's 1 byte; budget 4: the DP takes
  // (0,0) (0,1) (0,2) (0,3) = 25 over (0,0) + (1,0) = 15 or (0,0) (0,1) ... (exact optimum 25).
  c.cost.expert_bytes = {1.0, 3.0};
  g->reset(c);
  CHECK(g->resident_map() == std::vector<std::uint8_t>{1, 1, 1, 1, 0, 0, 0, 0});
}

TEST_CASE("n-cpu-moe puts the first N layers' experts on the CPU; unset, the smallest N that fits") {
  TraceGenParams p;
  p.shape = {6, 8, 2};
  p.moe_layers = {0, 1, 2, 3, 4, 5};
  p.n_tokens = 10;
  p.skew = {0};
  Trace tr = generate_trace(p);
  PolicyContext c = context_for(tr, 1.0, 8 * 2.5);  // a layer is 8 bytes: 2.5 layers fit
  auto n = make_policy("n-cpu-moe");
  n->reset(c);
  CHECK(n->expert_vram_bytes() == 16.0);  // N = 4: layers 4 and 5 on the GPU
  auto m = n->resident_map();
  CHECK(m[3 * 8] == 0);
  CHECK(m[4 * 8] == 1);
  c.n_cpu_moe = 1;
  n->reset(c);
  CHECK(n->expert_vram_bytes() == 40.0);
  auto cpu = make_policy("cpu-moe");
  cpu->reset(c);
  CHECK(cpu->expert_vram_bytes() == 0.0);
  CHECK_THROWS_WITH_AS(make_policy("mru"), doctest::Contains("unknown policy 'mru'"), gs::InputError);
}

TEST_CASE("fiddler computes a cold expert on the CPU at decode and copies it for a large prompt batch") {
  Trace tr = one_layer_trace(4, {0});
  PolicyContext c = context_for(tr, 10e6, 0.0);  // 10 MB experts, nothing resident
  auto f = make_policy("fiddler");
  f->reset(c);
  ExpertUse u{1, 1};
  Where w;
  f->place(StepInfo{0, 1}, 0, &u, 1, &w);
  // CPU: 10e6 / 60e9 = 0.17 ms; copy + GPU: 10e6 / 20e9 + 10e6 / 800e9 = 0.51 ms -> CPU.
  CHECK(w == Where::Cpu);
  u.n_tokens = 512;
  f->place(StepInfo{0, 512}, 0, &u, 1, &w);
  // CPU: 512 x 11.9 MFLOP / 1 TFLOP/s = 6.1 ms; copy + GPU: 0.5 ms + 0.06 ms -> copy.
  CHECK(w == Where::Transfer);
}

TEST_CASE("llama.cpp realisation: whole layers map to -ngl/--cpu-moe/--n-cpu-moe/-ot, experts round to layers") {
  TraceGenParams p;
  p.shape = {4, 4, 1};
  p.n_tokens = 2;
  p.skew = {0};
  Trace tr = generate_trace(p);
  PolicyContext c = context_for(tr, 1.0, 8.0);  // a layer is 4 bytes: 2 layers fit
  auto args = [&](std::vector<std::uint8_t> cpu) { return llama_cpp_args(cpu, c, true); };
  CHECK(args({0, 0, 0, 0}) == "-ngl 99");
  CHECK(args({1, 1, 1, 1}) == "-ngl 99 --cpu-moe");
  CHECK(args({1, 1, 0, 0}) == "-ngl 99 --n-cpu-moe 2");
  CHECK(args({1, 0, 1, 0}) == "-ngl 99 -ot \"blk\\.(0|2)\\.ffn_(gate_up|down)_exps=CPU\"");
  CHECK(llama_cpp_args({0, 1, 0, 0}, c, false) == "-ngl 99 -ot \"blk\\.(1)\\.ffn_(gate|up|down)_exps=CPU\"");
  // Whole layers already: exact.
  std::vector<std::uint8_t> res(16, 0);
  std::fill(res.begin() + 8, res.end(), 1);
  Realisation r = realise_llama_cpp(res, c, true);
  CHECK(r.exact);
  CHECK(r.args == "-ngl 99 --n-cpu-moe 2");
  CHECK(r.experts_moved == 0);
  // Per-expert: layer 0 has 3 of 4 resident, layer 1 2, layer 2 2, layer 3 1 (8 bytes). Two whole
  // layers fit: layer 0 (3) and, of the tied layers 1 and 2, the later one (2). Moved: layer 0 +1,
  // layer 2 +2, layer 1 -2, layer 3 -1 = 6 experts change side.
  res = {1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0};
  r = realise_llama_cpp(res, c, true);
  CHECK_FALSE(r.exact);
  CHECK(r.cpu_layer == std::vector<std::uint8_t>{0, 1, 0, 1});
  CHECK(r.experts_moved == 6);
  CHECK(r.gpu_expert_bytes == 8.0);
  CHECK(r.args == "-ngl 99 -ot \"blk\\.(1|3)\\.ffn_(gate_up|down)_exps=CPU\"");
}

TEST_CASE("ExpertCache (lazy tournament tree) evicts exactly as a naive scan for the lowest score") {
  Rng rng(77);
  for (int trial = 0; trial < 20; ++trial) {
    const std::uint32_t n = 5 + static_cast<std::uint32_t>(rng.next() % 60);
    std::vector<double> bytes(n);
    for (auto& b : bytes) b = trial % 2 ? 1.0 : 1.0 + static_cast<double>(rng.next() % 4);  // equal / unequal sizes
    const double cap = 3.0 + static_cast<double>(rng.next() % 20);
    ExpertCache fast;
    fast.reset(bytes, cap);
    std::vector<double> score(n, 0.0);
    std::vector<std::uint8_t> res(n, 0);
    double used = 0;
    for (int step = 0; step < 3000; ++step) {
      const std::uint32_t k = static_cast<std::uint32_t>(rng.next() % n);
      score[k] += static_cast<double>(rng.next() % 3);  // never decreases, often ties
      if (step % 500 == 499) {                          // rescaling keeps the order
        for (auto& s : score) s *= 0.5;
        fast.rescale(0.5);
      }
      bool hit = res[k] != 0;
      if (!hit && bytes[k] <= cap) {
        while (used + bytes[k] > cap) {  // naive: lowest (score, key) among residents
          std::uint32_t v = n;
          for (std::uint32_t i = 0; i < n; ++i)
            if (res[i] && (v == n || score[i] < score[v])) v = i;
          res[v] = 0;
          used -= bytes[v];
        }
        res[k] = 1;
        used += bytes[k];
      }
      CAPTURE(trial);
      CAPTURE(step);
      REQUIRE(fast.access(k, score[k]) == hit);
      REQUIRE(fast.used_bytes() == doctest::Approx(used));
    }
  }
}

TEST_CASE("lru (linked list) hits exactly where a lowest-clock ExpertCache hits") {
  TraceGenParams p;
  p.shape = {3, 32, 4};
  p.n_tokens = 2000;
  p.skew = {0.9};
  p.locality = 0.2;
  Trace tr = generate_trace(p);
  PolicyContext c = context_for(tr, 1.0, 40.0);
  const double lru_hits = hits("lru", tr, c);
  ExpertCache naive;
  naive.reset(std::vector<double>(3 * 32, 1.0), 40.0);
  double clock = 0, h = 0;
  for (std::size_t t = 0; t < tr.n_tokens(); ++t)
    for (int s = 0; s < 3; ++s)
      for (int i = 0; i < 4; ++i) h += naive.access(static_cast<std::uint32_t>(s * 32 + tr.row(t, s)[i]), ++clock);
  CHECK(lru_hits == h);
  CHECK(h > 0);
}
