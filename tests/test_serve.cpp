// sim/serve: the serving simulator's step costs, schedulers, workloads and capacity search.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "engine.h"
#include "hardware.h"
#include "memory_fit.h"
#include "model.h"
#include "quant.h"
#include "serve/capacity.h"
#include "serve/sample.h"
#include "serve/setup.h"
#include "stats.h"

using namespace gs;
using namespace gs::serve;

namespace {

Estimate est(const ModelOps& mo, const HardwareRates& hw, Workload wl) { return estimate(mo, hw, RunPlacement{}, wl); }

std::string temp_file(const std::string& name, const std::string& text) {
  const std::string p = "/tmp/gemmasim_serve_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(p) << text;
  return p;
}

ServerConfig llama_cfg(int slots, i64 n_ctx) {
  ServerConfig c;
  c.policy = Policy::LlamaServer;
  c.slots = slots;
  c.n_ctx = n_ctx;
  c.kv_unified = false;
  c.n_batch = 2048;
  c.kv.global_bytes_per_token = 1;
  return c;
}

ServerConfig vllm_cfg(double pool_bytes, int budget) {
  ServerConfig c;
  c.policy = Policy::Vllm;
  c.kv_pool_bytes = pool_bytes;
  c.max_model_len = 1 << 20;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = 256;
  c.block_size = 16;
  c.kv.global_bytes_per_token = 1;
  return c;
}

}  // namespace

TEST_CASE("step cost: a uniform decode batch and a chunked prompt cost what the estimator says") {
  const ModelSpec m = find_model("gemma4-e4b");
  const System s = resolve_hardware("rtx-4090");
  const EngineProfile e = resolve_engine("llama.cpp-cuda");
  const ModelOps mo = prepare_ops(m, find_recipe("q4_k_m"));
  const HardwareRates hw = prepare_hardware(s, e);
  const StepCost c(mo, hw, RunPlacement{}, 2, false, 2048, 131072, 512);
  for (int B : {1, 3, 8, 40}) {
    for (double d : {0.0, 300.0, 511.0, 700.0, 1023.0, 1500.0, 3000.0, 20000.0, 70000.0, 131000.0}) {
      CAPTURE(B);
      CAPTURE(d);
      Workload wl;
      wl.prompt_tokens = 0;
      wl.gen_tokens = 1;
      wl.depth_tokens = static_cast<i64>(d);
      wl.batch = B;
      wl.decode_after_prompt = false;
      const double want = est(mo, hw, wl).decode.time_s;
      const double got = c.body_s(B) + c.logits_s(B) + B * c.decode_attn_s(d);
      CHECK(got == doctest::Approx(want).epsilon(0.01).scale(0));
    }
  }
  // a 1000-token prompt at depth 0: two passes of 512 and 488 tokens, logits of its last token
  Workload wl;
  wl.prompt_tokens = 1000;
  wl.gen_tokens = 1;
  const double want = est(mo, hw, wl).prefill.time_s;
  const double got = c.body_s(1000) + c.logits_s(1) + c.prefill_attn_s(0, 512) + c.prefill_attn_s(512, 488);
  CHECK(got == doctest::Approx(want).epsilon(0.03).scale(0));
  // decode attention grows with depth; a long context costs more than a short one
  CHECK(c.decode_attn_s(100000) > c.decode_attn_s(1000));
  CHECK(c.body_s(1024) == doctest::Approx(2 * c.body_s(512)).scale(0));
}

TEST_CASE("llama-server, one slot: requests queue and run one after another (hand-computed)") {
  const StepCost c = StepCost::linear(0.010, 0, 0, 512, 4096);
  std::vector<Request> rq = {{0.0, 100, 3}, {0.0, 100, 3}};
  const ServeResult r = simulate(c, llama_cfg(1, 4096), rq, {}, 1);
  REQUIRE(r.records.size() == 2);
  // request 0: prompt in step 1 (first token at 10 ms), two decode steps: done at 30 ms
  CHECK(r.records[0].first_token_s == doctest::Approx(0.010));
  CHECK(r.records[0].finish_s == doctest::Approx(0.030));
  CHECK(r.records[0].tpot_s() == doctest::Approx(0.010));
  // request 1 waits for the slot
  CHECK(r.records[1].start_s == doctest::Approx(0.030));
  CHECK(r.records[1].first_token_s == doctest::Approx(0.040));
  CHECK(r.records[1].finish_s == doctest::Approx(0.060));
  CHECK(r.queue_s.max == doctest::Approx(0.030));
  CHECK(r.steps == 6);
  CHECK(r.completed == 2);
}

TEST_CASE("llama-server, two slots: both decode in one step; the step costs per token") {
  // 10 ms + 1 ms per token: step 1 holds both prompts (200 tokens): 210 ms; then 2 tokens per step: 12 ms
  const StepCost c = StepCost::linear(0.010, 0.001, 0, 512, 4096);
  std::vector<Request> rq = {{0.0, 100, 3}, {0.0, 100, 3}};
  const ServeResult r = simulate(c, llama_cfg(2, 8192), rq, {}, 1);
  for (const auto& q : r.records) {
    CHECK(q.first_token_s == doctest::Approx(0.210));
    CHECK(q.finish_s == doctest::Approx(0.210 + 2 * 0.012));
  }
  CHECK(r.mean_batch_tokens == doctest::Approx((200.0 + 2 + 2) / 3));
}

TEST_CASE("llama-server: a prompt longer than a slot's context is rejected, a long output cut short") {
  const StepCost c = StepCost::linear(0.001, 0, 0, 512, 4096);
  std::vector<Request> rq = {{0.0, 3000, 10}, {0.0, 1000, 5000}};
  const ServeResult r = simulate(c, llama_cfg(2, 4096), rq, {}, 1);  // 2048 cells per slot
  CHECK(r.records[0].rejected);
  CHECK_FALSE(r.records[1].rejected);
  CHECK(r.records[1].generated == 2048 - 1000);
  CHECK(r.truncated == 1);
  CHECK(r.rejected == 1);
}

TEST_CASE("vLLM: a prompt longer than the token budget is prefilled in chunks") {
  const StepCost c = StepCost::linear(0.010, 0, 0, 64, 4096);
  const ServeResult r = simulate(c, vllm_cfg(1e9, 64), {{0.0, 100, 2}}, {}, 1);
  // 64 + 36 prompt tokens (first token at the end of step 2), one decode step
  CHECK(r.records[0].first_token_s == doctest::Approx(0.020));
  CHECK(r.records[0].finish_s == doctest::Approx(0.030));
  CHECK(r.steps == 3);
  // without chunked prefill the prompt never fits a 64-token step: it is rejected, not hung
  ServerConfig nc = vllm_cfg(1e9, 64);
  nc.chunked_prefill = false;
  const ServeResult r2 = simulate(c, nc, {{0.0, 100, 2}}, {}, 1);
  CHECK(r2.records[0].rejected);
}

TEST_CASE("vLLM: when blocks run out the newest request is preempted and recomputed") {
  const StepCost c = StepCost::linear(0.001, 0, 0, 512, 4096);
  // 4 blocks of 16 tokens; two requests of 16 + 40 tokens (4 blocks each at the end)
  const ServeResult r = simulate(c, vllm_cfg(64, 512), {{0.0, 16, 40}, {0.0, 16, 40}}, {}, 1);
  CHECK(r.completed == 2);
  CHECK(r.preemptions >= 1);
  CHECK(r.records[0].preemptions == 0);
  CHECK(r.records[1].preemptions >= 1);
  for (const auto& q : r.records) CHECK(q.generated == 40);
  CHECK(r.kv_peak_fraction <= 1.0 + 1e-12);
  // request 0 never waits for request 1: it runs alone at 1 ms per step
  CHECK(r.records[0].finish_s == doctest::Approx(0.040));
  CHECK(r.records[1].finish_s > r.records[0].finish_s);
}

TEST_CASE("sliding-window layers hold only the window's blocks") {
  const StepCost c = StepCost::linear(0.001, 0, 0, 512, 100000);
  ServerConfig v = vllm_cfg(0, 4096);
  v.kv.global_bytes_per_token = 0;
  v.kv.sliding_bytes_per_token = 1;
  v.kv.window_tokens = 512;
  v.kv_pool_bytes = (512 / 16 + 1) * 16;  // exactly one window's blocks
  const ServeResult r = simulate(c, v, {{0.0, 2000, 100}}, {}, 1);
  CHECK(r.completed == 1);
  CHECK(r.preemptions == 0);
  CHECK(r.kv_peak_fraction == doctest::Approx(1.0));
}

TEST_CASE("closed loop: N users never have more than N requests in flight; one user is sequential") {
  const StepCost c = StepCost::linear(0.005, 0, 0, 512, 4096);
  std::vector<Request> rq(10, Request{0, 50, 4});
  ClosedLoop one{1, 0};
  const ServeResult r1 = simulate(c, llama_cfg(4, 8192), rq, one, 1);
  REQUIRE(r1.records.size() == 10);
  for (std::size_t i = 1; i < r1.records.size(); ++i)
    CHECK(r1.records[i].arrival_s == doctest::Approx(r1.records[i - 1].finish_s));
  ClosedLoop two{2, 0};
  const ServeResult r2 = simulate(c, llama_cfg(4, 8192), rq, two, 1);
  CHECK(r2.completed == 10);
  for (const auto& p : r2.timeline) CHECK(p.running + p.waiting <= 2);
  // two users share the steps: the run takes about half as long as one user's
  CHECK(r2.last_finish_s < 0.6 * r1.last_finish_s);
}

TEST_CASE("replicas: round robin alternates; least outstanding picks the idle replica") {
  const StepCost c = StepCost::linear(0.005, 0, 0, 512, 4096);
  ServerConfig cfg = llama_cfg(1, 4096);
  cfg.replicas = 2;
  const std::vector<Request> rq = {{0, 10, 100}, {0.001, 10, 2}, {0.002, 10, 2}, {0.003, 10, 2}};
  const ServeResult rr = simulate(c, cfg, rq, {}, 1);
  for (std::size_t i = 0; i < 4; ++i) CHECK(rr.records[i].replica == static_cast<int>(i % 2));
  cfg.router = Router::LeastOutstanding;
  const ServeResult lo = simulate(c, cfg, rq, {}, 1);
  // replica 0 is busy with the long request: the short ones go to replica 1 (until it has a queue)
  CHECK(lo.records[1].replica == 1);
  CHECK(lo.records[0].replica == 0);
  CHECK(lo.e2e_s.p50 < rr.e2e_s.p50 + 1e-12);
}

TEST_CASE("overload is reported as saturated, light load is not") {
  const StepCost c = StepCost::linear(0.010, 0, 0, 512, 8192);
  // one slot, 100 output tokens: ~1 s per request
  const LengthDist p = parse_length_dist("100", "--prompt-dist"), g = parse_length_dist("100", "--gen-dist");
  const ArrivalProcess arr = parse_arrival("poisson", "--arrival");
  const ServeResult light = simulate(c, llama_cfg(1, 8192), draw_requests(0.3, arr, p, g, 300, 0, 7), {}, 1);
  const ServeResult heavy = simulate(c, llama_cfg(1, 8192), draw_requests(2.0, arr, p, g, 300, 0, 7), {}, 1);
  CHECK_FALSE(light.saturated);
  CHECK(heavy.saturated);
  CHECK(heavy.throughput_req_per_s == doctest::Approx(1.0 / 1.01).epsilon(0.05));
}

TEST_CASE("arrival processes have the asked rate and variability") {
  std::mt19937_64 rng(3);
  for (const char* spec : {"poisson", "gamma:3", "gamma:0.5", "constant"}) {
    CAPTURE(spec);
    const ArrivalProcess a = parse_arrival(spec, "--arrival");
    std::vector<double> gaps;
    for (int i = 0; i < 40000; ++i) gaps.push_back(a.next_gap_s(4.0, rng));
    double s = 0, s2 = 0;
    for (double x : gaps) s += x, s2 += x * x;
    const double mean = s / gaps.size(), cv = std::sqrt(s2 / gaps.size() - mean * mean) / mean;
    CHECK(mean == doctest::Approx(0.25).epsilon(0.05));
    const double want_cv = std::string(spec) == "poisson" ? 1 : std::string(spec) == "constant" ? 0 : a.cv;
    CHECK(cv == doctest::Approx(want_cv).epsilon(0.08).scale(0.02));
  }
  CHECK_THROWS_AS(parse_arrival("gamma:-1", "--arrival"), InputError);
  CHECK_THROWS_AS(parse_arrival("weibull", "--arrival"), InputError);
}

TEST_CASE("length distributions: fixed, uniform bounds, lognormal median") {
  std::mt19937_64 rng(5);
  const LengthDist u = parse_length_dist("uniform:10:20", "--gen-dist");
  std::vector<double> v;
  for (int i = 0; i < 20000; ++i) {
    const i64 x = u.draw(rng);
    CHECK((x >= 10 && x <= 20));
    v.push_back(static_cast<double>(x));
  }
  CHECK(median(v) == doctest::Approx(15).epsilon(0.07));
  const LengthDist ln = parse_length_dist("lognormal:300:0.8", "--prompt-dist");
  v.clear();
  for (int i = 0; i < 20000; ++i) v.push_back(static_cast<double>(ln.draw(rng)));
  CHECK(median(v) == doctest::Approx(300).epsilon(0.05));
  CHECK(parse_length_dist("fixed:77", "--gen-dist").draw(rng) == 77);
  CHECK_THROWS_AS(parse_length_dist("uniform:20:10", "--gen-dist"), InputError);
  CHECK_THROWS_AS(parse_length_dist("0", "--gen-dist"), InputError);
  CHECK_THROWS_AS(parse_length_dist("zipf:3", "--gen-dist"), InputError);
}

TEST_CASE("traces: Azure, BurstGPT and Mooncake rows; a bad row names its line") {
  const auto az = read_trace(temp_file("az.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n1.5,100,20\n0.5,50,10\n"));
  REQUIRE(az.requests.size() == 2);
  CHECK(az.format == "azure");
  CHECK(az.requests[0].prompt_tokens == 50);   // sorted by arrival, the first at 0
  CHECK(az.requests[0].arrival_s == 0);
  CHECK(az.requests[1].arrival_s == doctest::Approx(1.0));
  const auto bg = read_trace(temp_file("bg.csv",
      "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "5,ChatGPT,472,18,490,Conversation log\n7,GPT-4,1000,0,1000,Conversation log\n9,ChatGPT,30,7,37,API log\n"));
  CHECK(bg.format == "burstgpt");
  CHECK(bg.requests.size() == 2);
  CHECK(bg.skipped == 1);
  CHECK(bg.requests[1].arrival_s == doctest::Approx(4.0));
  const auto mc = read_trace(temp_file("mc.jsonl",
      "{\"timestamp\": 0, \"input_length\": 6955, \"output_length\": 52, \"hash_ids\": [0, 1]}\n"
      "{\"timestamp\": 2500, \"input_length\": 100, \"output_length\": 9}\n"));
  CHECK(mc.format == "mooncake");
  CHECK(mc.requests[1].arrival_s == doctest::Approx(2.5));
  CHECK(mc.requests[0].prompt_tokens == 6955);
  CHECK(mc.requests[0].prefix_blocks == std::vector<std::uint32_t>{0, 1});
  CHECK(mc.requests[1].prefix_blocks.empty());
  CHECK_THROWS_AS(read_trace(temp_file("mchash.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 2, \"hash_ids\": [-1]}\n")), InputError);
  try {
    read_trace(temp_file("bad.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n1,2,3\n2,x,4\n"));
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("bad.csv:3:") != std::string::npos);
  }
  CHECK_THROWS_AS(read_trace(temp_file("hdr.csv", "a,b,c\n1,2,3\n")), InputError);
  CHECK_THROWS_AS(read_trace(temp_file("mcbad.jsonl", "{\"timestamp\": 1}\n")), InputError);
  // written traces read back the same
  std::vector<Request> w = {{0, 10, 2}, {0.25, 30, 4}};
  const auto back = read_trace(temp_file("rt.csv", trace_csv(w)));
  REQUIRE(back.requests.size() == 2);
  CHECK(back.requests[1].arrival_s == doctest::Approx(0.25));
  CHECK(back.requests[1].gen_tokens == 4);
}

TEST_CASE("summaries match a naive sort; SLO strings parse or fail with the flag's name") {
  std::vector<double> v;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 1001; ++i) v.push_back(std::uniform_real_distribution<double>(0, 5)(rng));
  const Dist d = summarize(v);
  CHECK(d.p50 == doctest::Approx(quantile(v, 0.5)));
  CHECK(d.p99 == doctest::Approx(quantile(v, 0.99)));
  const Slo s = parse_slo("ttft_p99=0.5,tpot_p50=0.05", "--slo");
  REQUIRE(s.limits.size() == 2);
  CHECK(s.limits[1].quantile == 0.5);
  CHECK(s.limits[1].limit_s == doctest::Approx(0.05));
  for (const char* bad : {"ttft=1", "ttft_p99=-1", "foo_p99=1", "ttft_p95=1", "ttft_p99=abc"}) {
    CAPTURE(bad);
    try {
      parse_slo(bad, "--slo");
      FAIL("accepted");
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).rfind("--slo", 0) == 0);
    }
  }
}

TEST_CASE("capacity search: bisection finds the threshold of a monotone test") {
  const double knee = 3.7;
  auto run = [&](double x) {
    ServeResult r;
    r.completed = 1;
    r.saturated = x > knee;
    return r;
  };
  const CapacityResult c = find_max_load(run, Slo{}, 1.0, 1e-3, 1e6, false);
  REQUIRE(c.found);
  CHECK(c.best <= knee);
  CHECK(c.best >= knee * 0.97);
  const CapacityResult u = find_max_load(run, Slo{}, 10, 1, 1e6, true);
  CHECK(u.best == 3);
  const CapacityResult none = find_max_load([](double) { ServeResult r; r.saturated = true; return r; }, Slo{}, 1, 0.5, 10, false);
  CHECK_FALSE(none.found);
}

TEST_CASE("setup: the KV pool is the GPU memory left after weights; more memory holds more") {
  const ModelSpec m = find_model("gemma4-31b");
  const QuantRecipe q = find_recipe("fp8");
  const EngineProfile e = resolve_engine("vllm");
  ServeKnobs k;
  const ServeSetup h100 = setup_server(m, resolve_hardware("h100-sxm"), q, e, k);
  CHECK(h100.cfg.policy == Policy::Vllm);
  // below 80 GB x 0.9, above 0
  CHECK(h100.kv_pool_bytes > 10e9);
  CHECK(h100.kv_pool_bytes < 0.9 * 80e9 - 30e9);
  k.gpu_memory_utilization = 0.95;
  const ServeSetup more = setup_server(m, resolve_hardware("h100-sxm"), q, e, k);
  CHECK(more.kv_pool_bytes == doctest::Approx(h100.kv_pool_bytes + 0.05 * resolve_hardware("h100-sxm").gpus[0].memory_bytes).epsilon(0.02));
  // Gemma 4's sliding layers: bytes per token split into global and sliding parts
  CHECK(h100.cfg.kv.sliding_bytes_per_token > 0);
  CHECK(h100.cfg.kv.global_bytes_per_token > 0);
  CHECK(h100.cfg.kv.window_tokens == m.sliding_window);
  // a model that does not fit is a one-line input error
  CHECK_THROWS_AS(setup_server(m, resolve_hardware("rtx-3060-12gb"), find_recipe("bf16"), e, ServeKnobs{}), InputError);
}

TEST_CASE("one request on an idle server: TTFT and TPOT are the estimator's") {
  const ModelSpec m = find_model("gemma4-e2b");
  const QuantRecipe q = find_recipe("q4_k_m");
  const System s = resolve_hardware("rtx-4090");
  const EngineProfile e = resolve_engine("llama.cpp-cuda");
  ServeKnobs k;
  k.ctx_size = 8192;
  k.parallel = 1;
  const ServeSetup su = setup_server(m, s, q, e, k);
  const ServeResult r = simulate(*su.cost, su.cfg, {{0, 1500, 200}}, {}, 1);
  Workload wl;
  wl.prompt_tokens = 1500;
  wl.gen_tokens = 200;
  wl.decode_after_prompt = true;
  const Estimate x = estimate(prepare_ops(m, q), prepare_hardware(s, e), RunPlacement{}, wl);
  CHECK(r.records[0].ttft_s() == doctest::Approx(x.ttft_s).epsilon(0.03).scale(0));
  CHECK(r.records[0].tpot_s() == doctest::Approx(x.tpot_s).epsilon(0.02).scale(0));
}

TEST_CASE("more users: time per token grows, throughput grows until it saturates") {
  const ServeSetup su = setup_server(find_model("gemma4-e4b"), resolve_hardware("rtx-4090"), find_recipe("bf16"),
                                     resolve_engine("vllm"), ServeKnobs{});
  std::vector<Request> rq(400, Request{0, 512, 128});
  double last_tpot = 0, last_tput = 0;
  for (int users : {1, 4, 16, 64}) {
    CAPTURE(users);
    const ServeResult r = simulate(*su.cost, su.cfg, rq, ClosedLoop{users, 0}, 1);
    CHECK(r.tpot_s.p50 > last_tpot);
    CHECK(r.output_tok_per_s > last_tput);
    last_tpot = r.tpot_s.p50;
    last_tput = r.output_tok_per_s;
  }
}

TEST_CASE("speculative decoding: accepted drafts come out together; the gain shrinks as the batch grows") {
  const StepCost c = StepCost::linear(0.010, 0, 0, 512, 4096);
  const StepCost draft = StepCost::linear(0.001, 0, 0, 512, 4096);
  ServerConfig cfg = llama_cfg(1, 4096);
  cfg.spec_tokens = 3;
  cfg.spec_acceptance = 1.0;
  cfg.draft = &draft;
  // prompt step (10 ms, first token), then two steps of 4 tokens, each 10 ms + 3 draft steps of 1 ms
  const ServeResult r = simulate(c, cfg, {{0, 100, 9}}, {}, 1);
  CHECK(r.records[0].generated == 9);
  CHECK(r.steps == 3);
  CHECK(r.records[0].finish_s == doctest::Approx(0.010 + 2 * 0.013));
  cfg.spec_acceptance = 0.0;  // every draft rejected: one token per (dearer) step
  const ServeResult r0 = simulate(c, cfg, {{0, 100, 9}}, {}, 1);
  CHECK(r0.steps == 9);
  CHECK(r0.records[0].finish_s == doctest::Approx(0.010 + 8 * 0.013));

  ServeKnobs k;
  const ModelSpec m = find_model("gemma4-31b");
  const System h = resolve_hardware("h100-sxm");
  const ServeSetup plain = setup_server(m, h, find_recipe("fp8"), resolve_engine("vllm"), k);
  k.speculative = 4;
  k.acceptance = 0.8;
  const ServeSetup spec = setup_server(m, h, find_recipe("fp8"), resolve_engine("vllm"), k);
  CHECK(spec.kv_pool_bytes < plain.kv_pool_bytes);  // the draft's weights take memory
  auto gain = [&](int users) {
    std::vector<Request> rq(150, Request{0, 512, 256});
    const double a = simulate(*plain.cost, plain.cfg, rq, ClosedLoop{users, 0}, 1).output_tok_per_s;
    const double b = simulate(*spec.cost, spec.cfg, rq, ClosedLoop{users, 0}, 1).output_tok_per_s;
    return b / a;
  };
  const double g1 = gain(1), g64 = gain(64);
  CHECK(g1 > 1.5);
  CHECK(g64 < g1);
  CHECK(g64 < 1.3);
}

namespace {
// Records what the scheduler asks for and answers with a fixed step time.
struct FakeExecutor : StepExecutor {
  std::vector<std::vector<StepItem>> steps;
  std::vector<int> released;
  double run(const std::vector<StepItem>& items) override {
    steps.push_back(items);
    return 0.010;
  }
  void release(int r) override { released.push_back(r); }
};
}  // namespace

TEST_CASE("an executor runs exactly the scheduled steps: prompt chunks with depths, decode tokens, releases") {
  const StepCost unused = StepCost::linear(1.0, 0, 0, 64, 4096);  // would give 1 s steps: the executor's 10 ms count
  ServerConfig cfg = llama_cfg(2, 8192);
  cfg.n_batch = 64;
  FakeExecutor ex;
  const ServeResult r = simulate(unused, cfg, {{0, 100, 2}, {0, 10, 3}}, {}, 1, &ex);
  REQUIRE(ex.steps.size() >= 3);
  // step 1: 64 tokens of request 0's prompt (no logits) ... in slot order, the budget spent on request 0
  REQUIRE(ex.steps[0].size() == 1);
  CHECK(ex.steps[0][0].request == 0);
  CHECK(ex.steps[0][0].depth == 0);
  CHECK(ex.steps[0][0].tokens == 64);
  CHECK_FALSE(ex.steps[0][0].emits);
  // step 2: the rest of request 0's prompt (36, first token) and request 1's whole prompt (10)
  REQUIRE(ex.steps[1].size() == 2);
  CHECK(ex.steps[1][0].depth == 64);
  CHECK(ex.steps[1][0].tokens == 36);
  CHECK(ex.steps[1][0].emits);
  CHECK(ex.steps[1][1].request == 1);
  CHECK(ex.steps[1][1].tokens == 10);
  // step 3: both decode one token at their depths
  REQUIRE(ex.steps[2].size() == 2);
  CHECK(ex.steps[2][0].decode);
  CHECK(ex.steps[2][0].depth == 100);
  CHECK(ex.steps[2][1].depth == 10);
  // request 0 is done after step 3 (2 tokens), request 1 after step 4 (3 tokens)
  CHECK(ex.steps.size() == 4);
  CHECK(ex.released == std::vector<int>{0, 1});
  CHECK(r.records[0].finish_s == doctest::Approx(0.030));
  CHECK(r.records[1].finish_s == doctest::Approx(0.040));
}

TEST_CASE("vLLM prefix caching: a shared leading block is not recomputed; off, or evicted, it is") {
  const StepCost c = StepCost::linear(0.001, 0.0001, 0, 8192, 8192);  // 0.1 ms per token
  Request a{0, 1100, 2, {7, 8, 9}}, b{1.0, 1100, 2, {7, 8, 42}}, d{2.0, 1100, 2, {5}};
  ServerConfig cfg = vllm_cfg(1e9, 8192);
  const ServeResult on = simulate(c, cfg, {a, b, d}, {}, 1);
  // b finds blocks 7 and 8 (1024 tokens): prefills 76 tokens instead of 1100
  CHECK(on.records[0].ttft_s() == doctest::Approx(0.001 + 1100 * 0.0001));
  CHECK(on.records[1].ttft_s() == doctest::Approx(0.001 + 76 * 0.0001));
  CHECK(on.records[2].ttft_s() == doctest::Approx(0.001 + 1100 * 0.0001));  // block 5 never seen
  CHECK(on.prefix_hit_tokens == 1024);
  CHECK(on.prefix_lookup_tokens == 3 * 1100);
  cfg.prefix_caching = false;
  const ServeResult off = simulate(c, cfg, {a, b, d}, {}, 1);
  CHECK(off.records[1].ttft_s() == doctest::Approx(0.001 + 1100 * 0.0001));
  CHECK(off.prefix_hit_tokens == 0);
  // a pool of two 512-token blocks: d's block pushes a's out before a repeats
  ServerConfig tiny = vllm_cfg(2 * 512 + 64, 8192);
  Request a2{3.0, 600, 2, {7}};
  const ServeResult ev = simulate(c, tiny, {Request{0, 600, 2, {7}}, Request{1.0, 600, 2, {5}}, Request{2.0, 600, 2, {6}}, a2}, {}, 1);
  CHECK(ev.records[3].ttft_s() == doctest::Approx(0.001 + 600 * 0.0001));
  const ServeResult hit = simulate(c, tiny, {Request{0, 600, 2, {7}}, a2}, {}, 1);
  CHECK(hit.records[1].ttft_s() == doctest::Approx(0.001 + (600 - 512) * 0.0001));
}

TEST_CASE("closed loop: a rejected request sends its user back to thinking; every request is sent") {
  const StepCost c = StepCost::linear(0.010, 0, 0, 512, 4096);
  ServerConfig cfg = llama_cfg(2, 4096);  // two slots of 2048 cells
  // every other request's prompt (the first included) is longer than a slot: rejected at
  // admission, before any step has finished
  std::vector<Request> rq;
  for (int i = 0; i < 10; ++i) rq.push_back({0, i % 2 ? 100 : 3000, 3});
  const ServeResult r = simulate(c, cfg, rq, ClosedLoop{2, 0}, 1);
  CHECK(r.records.size() == 10);
  CHECK(r.rejected == 5);
  CHECK(r.completed == 5);
  // both users keep sending: the five short requests (3 steps of 10 ms) overlap in pairs,
  // about 90 ms in all (one user alone would take 150 ms)
  CHECK(r.last_finish_s < 0.12);
}

TEST_CASE("the portable draws have the moments of their distributions") {
  std::mt19937_64 rng(7);
  const int n = 200000;
  double s = 0, s2 = 0, e = 0, g = 0, g2 = 0, small = 0, bern = 0, umin = 1, umax = 0;
  std::vector<int> hits(5, 0);
  for (int i = 0; i < n; ++i) {
    const double u = serve::uniform01(rng);
    umin = std::min(umin, u), umax = std::max(umax, u);
    const double z = serve::standard_normal(rng);
    s += z, s2 += z * z;
    e += serve::exponential(rng, 4.0);
    const double x = serve::gamma(rng, 2.5, 0.4);  // mean 1, variance 0.4
    g += x, g2 += x * x;
    small += serve::gamma(rng, 0.5, 2.0);  // mean 1 (the boosted branch)
    ++hits[serve::index_below(rng, 5)];
    bern += serve::bernoulli(rng, 0.3);
  }
  CHECK(umin >= 0);
  CHECK(umin < 1e-4);
  CHECK(umax < 1);
  CHECK(umax > 1 - 1e-4);
  CHECK(s / n == doctest::Approx(0).epsilon(0.01).scale(1));
  CHECK(s2 / n == doctest::Approx(1).epsilon(0.01));
  CHECK(e / n == doctest::Approx(0.25).epsilon(0.01));
  CHECK(g / n == doctest::Approx(1).epsilon(0.01));
  CHECK(g2 / n - (g / n) * (g / n) == doctest::Approx(0.4).epsilon(0.02));
  CHECK(small / n == doctest::Approx(1).epsilon(0.02));
  CHECK(bern / n == doctest::Approx(0.3).epsilon(0.01));
  for (int h : hits) CHECK(h == doctest::Approx(n / 5.0).epsilon(0.02));
  // the same seed gives the same draws (the engine is specified bit for bit; the rest is ours)
  std::mt19937_64 a(11), b(11);
  for (int i = 0; i < 100; ++i) CHECK(serve::gamma(a, 3.0, 1.0) == serve::gamma(b, 3.0, 1.0));
}
