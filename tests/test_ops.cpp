// sim/ops: per-op FLOPs and bytes of one step, checked against hand arithmetic,
// the closed forms against naive loops (reference/counters.h), and the expected
// number of distinct experts against a Monte Carlo simulation.
#include <doctest/doctest.h>

#include <random>
#include <set>

#include "model.h"
#include "ops.h"
#include "quant.h"

using namespace gs;

namespace {

OpCosts layer_costs(const ModelOps& mo, int il, double T, double p0, double kv_bytes = 2) {
  OpCosts c{};
  const LayerInfo& li = mo.layer(il);
  add_layer_step(mo, li, T, p0, kv_bytes, li.moe ? li.K : 0, c);
  return c;
}
const OpCost& at(const OpCosts& c, Op op) { return c[static_cast<std::size_t>(op)]; }

}  // namespace

// f16 recipe: every matrix F16 (2 B per weight), norms and router F32.
TEST_CASE("one layer of each Gemma 4 variant, T = 1 at position 0, hand-computed") {
  const QuantRecipe& f16 = find_recipe("f16");

  SUBCASE("E2B layer 0: sliding, owns its KV, D 1536, H 8 x 256, Hkv 1, F 6144, PLE 256") {
    const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), f16);
    const OpCosts c = layer_costs(mo, 0, 1, 0);
    CHECK(at(c, Op::AttnQ).flops == 6291456);          // 2 x 1536 x 2048
    CHECK(at(c, Op::AttnQ).weight_bytes == 6291456);   // 2048 rows x 1536 x 2 B
    CHECK(at(c, Op::AttnK).flops == 786432);           // 2 x 1536 x 256
    CHECK(at(c, Op::AttnK).kv_write_bytes == 512);     // 1 token x 1 head x 256 x 2 B
    CHECK(at(c, Op::AttnV).weight_bytes == 786432);
    CHECK(at(c, Op::AttnOut).flops == 6291456);
    CHECK(at(c, Op::FfnGate).flops == 18874368);       // 2 x 1536 x 6144
    CHECK(at(c, Op::FfnDown).weight_bytes == 18874368);
    CHECK(at(c, Op::PleGate).flops == 786432);         // 2 x 1536 x 256
    CHECK(at(c, Op::PleProj).weight_bytes == 786432);
    CHECK(at(c, Op::AttnScores).flops == 4096);        // 2 x Dh 256 x H 8 x 1 key
    CHECK(at(c, Op::AttnScores).kv_read_bytes == 512); // 1 position x 1 head x 256 x 2 B
  }
  SUBCASE("E2B layer 15: KV-shared, no K/V projections, double-wide FFN 12288") {
    const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), f16);
    const OpCosts c = layer_costs(mo, 15, 1, 0);
    CHECK(at(c, Op::AttnK).flops == 0);
    CHECK(at(c, Op::AttnV).flops == 0);
    CHECK(at(c, Op::AttnK).kv_write_bytes == 0);
    CHECK(at(c, Op::FfnUp).flops == 37748736);         // 2 x 1536 x 12288
    CHECK(at(c, Op::AttnScores).kv_read_bytes == 512); // still reads layer 13's cache
  }
  SUBCASE("E4B layer 0: D 2560, Hkv 2, F 10240") {
    const ModelOps mo = prepare_ops(find_model("gemma4-e4b"), f16);
    const OpCosts c = layer_costs(mo, 0, 1, 0);
    CHECK(at(c, Op::AttnQ).flops == 10485760);         // 2 x 2560 x 2048
    CHECK(at(c, Op::AttnK).weight_bytes == 2621440);   // 512 rows x 2560 x 2 B
    CHECK(at(c, Op::AttnV).kv_write_bytes == 1024);    // 2 heads x 256 x 2 B
    CHECK(at(c, Op::FfnGate).flops == 52428800);       // 2 x 2560 x 10240
  }
  SUBCASE("26B A4B layer 0: 128 experts of 704, top 8, dense MLP 2112, router F32") {
    const ModelOps mo = prepare_ops(find_model("gemma4-26b-a4b"), f16);
    const OpCosts c = layer_costs(mo, 0, 1, 0);
    // 8 experts x (gate_up 2 x 2816 x 1408 + down 2 x 704 x 2816) = 8 x 11,894,784
    CHECK(at(c, Op::MoeExperts).flops == 95158272);
    CHECK(at(c, Op::MoeExperts).weight_bytes == 95158272);  // 8 x (1408 + 2816 rows... ) x 2 B = same number
    CHECK(at(c, Op::MoeRouter).flops == 720896);             // 2 x 2816 x 128
    CHECK(at(c, Op::MoeRouter).weight_bytes == 1441792);     // 128 x 2816 x 4 B
    CHECK(at(c, Op::FfnGate).flops == 11894784);             // 2 x 2816 x 2112
    CHECK(at(c, Op::AttnQ).flops == 23068672);               // 2 x 2816 x 4096
  }
  SUBCASE("31B layer 5: global, K=V (no V projection, V still cached), Dh 512") {
    const ModelOps mo = prepare_ops(find_model("gemma4-31b"), f16);
    const OpCosts c = layer_costs(mo, 5, 1, 0);
    CHECK(at(c, Op::AttnQ).flops == 176160768);        // 2 x 5376 x 16384
    CHECK(at(c, Op::AttnK).flops == 22020096);         // 2 x 5376 x 2048
    CHECK(at(c, Op::AttnV).flops == 0);
    CHECK(at(c, Op::AttnV).weight_bytes == 0);
    CHECK(at(c, Op::AttnV).kv_write_bytes == 4096);    // 4 heads x 512 x 2 B
    CHECK(at(c, Op::FfnDown).flops == 231211008);      // 2 x 21504 x 5376
    CHECK(at(c, Op::AttnValues).flops == 32768);       // 2 x 512 x 32 x 1 key
  }
}

TEST_CASE("sliding layers stop growing past W; global layers keep growing") {
  const ModelOps mo = prepare_ops(find_model("gemma4-31b"), find_recipe("q4_k_m"));
  const double W = mo.W;  // 1024
  const OpCosts s1 = layer_costs(mo, 0, 1, W + 100), s2 = layer_costs(mo, 0, 1, 10 * W);
  CHECK(at(s1, Op::AttnScores).flops == at(s2, Op::AttnScores).flops);
  CHECK(at(s1, Op::AttnScores).kv_read_bytes == at(s2, Op::AttnScores).kv_read_bytes);
  CHECK(at(s1, Op::AttnScores).flops == 2.0 * 256 * 32 * W);
  const OpCosts g1 = layer_costs(mo, 5, 1, W + 100), g2 = layer_costs(mo, 5, 1, 10 * W);
  CHECK(at(g2, Op::AttnScores).flops > at(g1, Op::AttnScores).flops);
  CHECK(at(g2, Op::AttnScores).kv_read_bytes == doctest::Approx(at(g1, Op::AttnScores).kv_read_bytes * (10 * W + 1) / (W + 101)));
}

TEST_CASE("attention counts in closed form equal a naive count, in integers and in doubles") {
  auto naive_keys = [](std::int64_t p0, std::int64_t T, std::int64_t W) {
    std::int64_t s = 0;
    for (std::int64_t p = p0; p < p0 + T; ++p) s += (W > 0 && p + 1 > W) ? W : p + 1;
    return s;
  };
  auto naive_positions = [](std::int64_t p0, std::int64_t T, std::int64_t W) {
    std::int64_t lo = p0 + T, hi = 0;  // the lowest and highest position any query reads
    for (std::int64_t p = p0; p < p0 + T; ++p) {
      lo = std::min(lo, (W > 0 && p + 1 > W) ? p + 1 - W : 0);
      hi = std::max(hi, p + 1);
    }
    return hi - lo;
  };
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const std::int64_t p0 = rng() % 5000, T = 1 + rng() % 700, W = (i % 3 == 0) ? 0 : 1 + rng() % 1500;
    CAPTURE(p0);
    CAPTURE(T);
    CAPTURE(W);
    CHECK(ref::attn_keys_seen(p0, T, W) == naive_keys(p0, T, W));
    CHECK(attn_keys_seen(static_cast<double>(p0), static_cast<double>(T), static_cast<double>(W)) ==
          static_cast<double>(naive_keys(p0, T, W)));
    CHECK(ref::attn_positions_read(p0, T, W) == naive_positions(p0, T, W));
    CHECK(attn_positions_read(static_cast<double>(p0), static_cast<double>(T), static_cast<double>(W)) ==
          static_cast<double>(naive_positions(p0, T, W)));
  }
}

TEST_CASE("prefill attention in closed form equals the sum over micro-batches") {
  const ModelOps mo = prepare_ops(find_model("gemma4-e4b"), find_recipe("q8_0"));
  for (int il : {0, 5, 30}) {  // sliding, global, shared
    for (double D0 : {0.0, 100.0, 3000.0}) {
      for (double P : {1.0, 511.0, 512.0, 1500.0, 4096.0}) {
        const double ub = 512;
        OpCosts closed{}, loop{};
        add_layer_attention_prefill(mo, mo.layer(il), D0, P, ub, 2, closed);
        for (double s = 0; s < P; s += ub) add_layer_attention_step(mo, mo.layer(il), std::min(ub, P - s), D0 + s, 2, loop);
        for (Op op : {Op::AttnScores, Op::AttnSoftmax, Op::AttnValues}) {
          CHECK(at(closed, op).flops == doctest::Approx(at(loop, op).flops).epsilon(1e-12));
          CHECK(at(closed, op).kv_read_bytes == doctest::Approx(at(loop, op).kv_read_bytes).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("expected distinct experts: closed form and a Monte Carlo check") {
  CHECK(expected_distinct_experts(128, 8, 1) == doctest::Approx(8));
  CHECK(expected_distinct_experts(128, 8, 0) == 0);
  CHECK(expected_distinct_experts(128, 8, 2) == doctest::Approx(128 * (1 - (120.0 / 128) * (120.0 / 128))));
  CHECK(expected_distinct_experts(128, 8, 10000) == doctest::Approx(128).epsilon(1e-9));
  std::mt19937 rng(42);
  std::vector<int> ids(128);
  for (int T : {2, 16, 64, 512}) {
    const int trials = 400;
    double sum = 0;
    for (int t = 0; t < trials; ++t) {
      std::set<int> seen;
      for (int tok = 0; tok < T; ++tok) {  // uniform top-8: 8 distinct experts per token
        for (int e = 0; e < 128; ++e) ids[static_cast<std::size_t>(e)] = e;
        for (int k = 0; k < 8; ++k) {
          const int j = k + static_cast<int>(rng() % static_cast<unsigned>(128 - k));
          std::swap(ids[static_cast<std::size_t>(k)], ids[static_cast<std::size_t>(j)]);
          seen.insert(ids[static_cast<std::size_t>(k)]);
        }
      }
      sum += static_cast<double>(seen.size());
    }
    CHECK(sum / trials == doctest::Approx(expected_distinct_experts(128, 8, T)).epsilon(0.02));
  }
}

TEST_CASE("step_counts keys every kernel op by (name, layer) and sums like the per-layer costs") {
  const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q4_0"));
  const auto counts = step_counts(mo, 7, 100, 2, 1);
  REQUIRE(counts.count({"attn_q", 0}) == 1);
  REQUIRE(counts.count({"output_head", ref::kModelLayer}) == 1);
  CHECK(counts.count({"attn_k", 15}) == 0);  // KV-shared layer
  const OpCosts c = layer_costs(mo, 3, 7, 100);
  CHECK(counts.at({"ffn_up", 3}).flops == static_cast<std::int64_t>(at(c, Op::FfnUp).flops));
  CHECK(counts.at({"attn_scores", 3}).kv_read_bytes == static_cast<std::int64_t>(at(c, Op::AttnScores).kv_read_bytes));
  // output head: tied embedding in Q6_K per the q4_0 recipe, V = 262144 rows of 1536
  CHECK(counts.at({"output_head", -1}).flops == 2LL * 1536 * 262144);
}

// ---- the simulator's counts equal the reference kernel's, exactly (tiny configs) ----
#include <omp.h>

#include "forward.h"
#include "weights.h"

namespace {

void check_same(const std::map<std::pair<std::string, int>, ref::OpCount>& kernel,
                const std::map<std::pair<std::string, int>, ref::OpCount>& sim) {
  for (const auto& [key, kc] : kernel) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    if (kc.flops == 0 && kc.weight_bytes == 0 && kc.kv_read_bytes == 0 && kc.kv_write_bytes == 0 && kc.act_bytes == 0)
      continue;
    REQUIRE(sim.count(key) == 1);
    const ref::OpCount& sc = sim.at(key);
    CHECK(sc.flops == kc.flops);
    CHECK(sc.weight_bytes == kc.weight_bytes);
    CHECK(sc.kv_read_bytes == kc.kv_read_bytes);
    CHECK(sc.kv_write_bytes == kc.kv_write_bytes);
    CHECK(sc.act_bytes == kc.act_bytes);
  }
  for (const auto& [key, sc] : sim) {
    CAPTURE(key.first);
    CAPTURE(key.second);
    CHECK(kernel.count(key) == 1);
  }
}

std::vector<int> distinct_per_layer(const ModelSpec& m, const std::vector<ref::Route>& routes) {
  std::vector<std::set<int>> s(static_cast<std::size_t>(m.n_layer));
  for (const auto& r : routes)
    for (int e : r.experts) s[static_cast<std::size_t>(r.layer)].insert(e);
  std::vector<int> n;
  for (const auto& x : s) n.push_back(static_cast<int>(x.size()));
  return n;
}

}  // namespace

TEST_CASE("simulated counts equal the reference kernel's counters for every tiny variant (prefill and decode)") {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);  // counts do not depend on threads; one thread avoids spinning on a shared machine
  for (const char* id : {"gemma4-e2b-tiny", "gemma4-e4b-tiny", "gemma4-26b-a4b-tiny", "gemma4-31b-tiny"}) {
    CAPTURE(id);
    const ModelSpec m = load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/" + id + ".json");
    const ref::ModelWeights w = ref::random_weights(m, GgmlType::F32, 5);
    const ModelOps mo = prepare_ops(m, find_recipe("f32"));
    ref::ForwardOptions o;
    o.n_ctx = 64;
    o.n_ubatch = 64;
    o.kv_type = ref::KvCacheType::F16;
    o.trace = true;
    ref::Forward f(m, w, o);
    std::vector<std::int32_t> toks;
    for (int i = 0; i < 19; ++i) toks.push_back((i * 7 + 3) % static_cast<int>(m.n_vocab));
    f.step(toks);
    check_same(f.counters().all(), step_counts(mo, 19, 0, 2, 1, distinct_per_layer(m, f.routes())));
    f.counters().reset();
    f.clear_routes();
    f.step({1});
    check_same(f.counters().all(), step_counts(mo, 1, 19, 2, 1, distinct_per_layer(m, f.routes())));
  }
  omp_set_num_threads(saved);
}
