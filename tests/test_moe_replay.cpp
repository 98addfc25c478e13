// test_moe_replay.cpp: replay against closed forms, the all-GPU bound, llama.cpp's copy rule,
// fit's memory model, and the `place` / `trace-gen` commands.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include "error.h"
#include "hardware.h"
#include "memory_fit.h"
#include "model.h"
#include "moe/policies.h"
#include "moe/replay.h"
#include "moe/replay_inputs.h"
#include "moe/trace_gen.h"
#include "moe_test_util.h"
#include "quant.h"

using namespace gs::moe;
using moetest::context_for;

namespace {

Trace uniform_trace(std::uint64_t seed, std::size_t tokens, std::size_t prompt = 0) {
  TraceGenParams p;
  p.shape = {4, 128, 8};
  p.n_tokens = tokens;
  p.n_prompt = prompt;
  p.skew = {0.0};
  p.seed = seed;
  p.with_weights = false;
  return generate_trace(p);
}

ReplayResult run(const std::string& name, const Trace& tr, const PolicyContext& c, std::uint32_t ubatch = 512) {
  auto p = make_policy(name);
  ReplayConfig cfg;
  cfg.ubatch = ubatch;
  cfg.rest_s = [](std::uint32_t n, std::uint64_t) { return 1e-3 + n * 1e-5; };
  return replay(tr, *p, c, cfg);
}

}  // namespace

TEST_CASE("uniform routing: static placement of C of E experts per layer hits C/E of routed experts") {
  // Profile and evaluation traces from different seeds; C = 32 of E = 128 per layer.
  Trace eval = uniform_trace(1, 2000), prof = uniform_trace(2, 2000);
  PolicyContext c = context_for(eval, 1.0, 4 * 32.0);
  c.profile_counts = expert_counts(prof);
  for (const char* pol : {"static-layer", "static-global"}) {
    CAPTURE(pol);
    ReplayResult r = run(pol, eval, c);
    // 64,000 events; per-event sd <= sqrt(0.25 * 0.75 / 64000) = 0.0017; tolerance ~6 sd.
    CHECK(std::abs(r.hit_rate() - 32.0 / 128.0) < 0.01);
    if (std::string(pol) == "static-layer")
      for (int s = 0; s < 4; ++s) CHECK(std::abs(r.layer_hit_rate(s) - 0.25) < 0.02);
  }
}

TEST_CASE("uniform independent routing: LRU, LFU and decay caches of C of E experts per layer hit about C/E") {
  Trace eval = uniform_trace(3, 3000);
  PolicyContext c = context_for(eval, 1.0, 4 * 48.0);  // 48 of 128 per layer on average
  for (const char* pol : {"lru", "lfu", "decay"}) {
    CAPTURE(pol);
    ReplayResult r = run(pol, eval, c);
    // Cold start (the first ~48/8 = 6 tokens) and same-token evictions bias it down by < 0.5%.
    CHECK(std::abs(r.hit_rate() - 48.0 / 128.0) < 0.015);
    CHECK(r.expert_vram_bytes <= c.vram_budget_bytes);
  }
}

// Holds when the CPU is slower than the GPU in both bandwidth and FLOP/s (as in context_for):
// moving an expert's work to the CPU or adding a copy can then only add time.
TEST_CASE("no policy beats every expert on the GPU, and each keeps to its VRAM budget") {
  TraceGenParams p;
  p.shape = {4, 128, 8};
  p.n_tokens = 1500;
  p.n_prompt = 700;  // two prompt steps of 512 and 188 tokens
  p.skew = {1.1, 0.5, 0.0, 2.0};
  p.locality = 0.3;
  p.seed = 9;
  Trace tr = generate_trace(p);
  p.seed = 10;
  Trace prof = generate_trace(p);
  for (double budget_experts : {0.0, 64.0, 200.0, 512.0}) {
    PolicyContext c = context_for(tr, 20e6, budget_experts * 20e6);
    c.profile_counts = expert_counts(prof);
    ReplayResult gpu = run("gpu", tr, c);
    CHECK(gpu.hit_rate() == 1.0);
    for (const auto& name : comparable_policy_names()) {
      CAPTURE(name);
      CAPTURE(budget_experts);
      ReplayResult r = run(name, tr, c);
      CHECK(r.decode.time_s() >= gpu.decode.time_s() * (1 - 1e-12));
      CHECK(r.prefill.time_s() >= gpu.prefill.time_s() * (1 - 1e-12));
      CHECK(r.hit_rate() <= 1.0);
      if (!r.budget_exempt) CHECK(r.expert_vram_bytes <= c.vram_budget_bytes);
      CHECK(r.decode.events + r.prefill.events == static_cast<double>(tr.n_events()));
    }
  }
}

TEST_CASE("replaying twice gives the same result (policies keep no state across reset)") {
  Trace tr = uniform_trace(4, 300, 100);
  PolicyContext c = context_for(tr, 1.0, 100.0);
  c.profile_counts = expert_counts(tr);
  for (const auto& name : comparable_policy_names()) {
    auto p = make_policy(name);
    ReplayConfig cfg;
    ReplayResult a = replay(tr, *p, c, cfg), b = replay(tr, *p, c, cfg);
    CAPTURE(name);
    CHECK(a.decode.hits == b.decode.hits);
    CHECK(a.prefill.transfer_bytes == b.prefill.transfer_bytes);
    CHECK(a.decode.time_s() == b.decode.time_s());
  }
}

TEST_CASE("llama.cpp copies a CPU layer's whole expert tensors for prompt batches of 32 tokens or more") {
  Trace tr = uniform_trace(5, 700, 600);  // prefill steps of 512 and 88 tokens, then 100 decode tokens
  PolicyContext c = context_for(tr, 1e6, 0.0);
  ReplayResult r = run("cpu-moe", tr, c);
  // 2 prefill steps x 4 layers x 128 experts x 1 MB, whatever subset was routed.
  CHECK(r.prefill.transfer_bytes == doctest::Approx(2 * 4 * 128 * 1e6));
  CHECK(r.decode.transfer_bytes == 0.0);
  CHECK(r.decode.cpu_events == 100 * 4 * 8);
  // Steps below the threshold compute on the CPU: ubatch 16 -> no copies.
  ReplayResult small = run("cpu-moe", tr, c, 16);
  CHECK(small.prefill.transfer_bytes == 0.0);
  c.op_offload_min_tokens = 0;  // --no-op-offload
  CHECK(run("cpu-moe", tr, c).prefill.transfer_bytes == 0.0);
}

TEST_CASE("decode time per layer and token is the roofline of the routed experts") {
  // One decode token, 1 layer, K = 8 experts of 10 MB all on the CPU: 80 MB / 60 GB/s.
  Trace tr = uniform_trace(6, 1);
  tr.layers.resize(1);
  tr.experts.resize(8);
  tr.shape.n_layer = 1;
  PolicyContext c = context_for(tr, 10e6, 0.0);
  ReplayResult r = run("cpu-moe", tr, c);
  CHECK(r.decode.cpu_expert_s == doctest::Approx(80e6 / 60e9));
  CHECK(r.decode.rest_s == doctest::Approx(1e-3 + 1e-5));
  ReplayResult g = run("gpu", tr, c);
  CHECK(g.decode.gpu_expert_s == doctest::Approx(80e6 / 800e9));
  ReplayResult lru = run("lru", tr, c);  // budget 0: every expert streamed, nothing kept
  CHECK(lru.decode.transfer_bytes == doctest::Approx(80e6));
  CHECK(lru.decode.transfer_s == doctest::Approx(80e6 / 20e9));
}

TEST_CASE("n-cpu-moe VRAM matches fit's --n-cpu-moe arithmetic for the 26B A4B") {
  gs::ModelSpec m = gs::load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/gemma4-26b-a4b.json");
  const gs::QuantRecipe& q = gs::find_recipe("q4_k_m");
  gs::System hw = gs::resolve_hardware("desktop-rtx4090");
  gs::MemoryRules rules = gs::load_memory_rules(gs::default_engine(hw, q));
  gs::FitOptions base;
  base.context_tokens = 8192;
  MoeSetup s = make_moe_setup(m, q, hw, rules, base);
  for (int n : {0, 7, 18, 30}) {
    CAPTURE(n);
    PolicyContext c = base_context(s);
    c.n_cpu_moe = n;
    auto p = make_policy("n-cpu-moe");
    p->reset(c);
    gs::FitOptions fo;
    fo.context_tokens = 8192;
    fo.placement.n_cpu_moe = n;
    gs::FitResult f = gs::fit(m, hw, q, rules, fo);
    CHECK(s.non_expert_vram_bytes + p->expert_vram_bytes() == doctest::Approx(fit_gpu_bytes(f)).epsilon(1e-12));
  }
  // And the per-layer expert bytes add up to weight_bytes' experts.
  CHECK(s.experts_bytes == doctest::Approx(gs::weight_bytes(m, q).experts_bytes));
}

namespace {
// Runs the CLI; returns its exit code and stdout.
int run_cli(const std::string& args, std::string* out) {
  const std::string path = (std::filesystem::temp_directory_path() / ("gemmasim_moe_cli_" + std::to_string(::getpid()))).string();
  const std::string cmd = std::string(GEMMASIM_BINARY) + " " + args + " > " + path + " 2> " + path + ".err";
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  if (out) *out = slurp(path) + slurp(path + ".err");
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".err");
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
}  // namespace

TEST_CASE("gemmasim place --json replays a bundled trace pair through every policy") {
  const std::string ex = std::string(GEMMASIM_SOURCE_DIR) + "/examples/traces/";
  std::string out;
  REQUIRE(run_cli("place --model gemma4-26b-a4b --quant q4_k_m --hw desktop-rtx4090 --policy all --trace " + ex +
                      "gemma4-26b-eval.jsonl --profile-trace " + ex + "gemma4-26b-profile.jsonl --vram-budget 8GB --json",
                  &out) == 0);
  const auto j = nlohmann::json::parse(out);
  CHECK(j["vram_budget_bytes"].get<double>() == 8e9);
  CHECK(j["profile"]["in_sample"] == false);
  REQUIRE(j["policies"].size() == comparable_policy_names().size());
  double gpu_decode = 0;
  for (const auto& p : j["policies"]) {
    for (const char* k : {"hit_rate", "hit_rate_per_layer", "pcie_bytes_per_token", "time_split_s_per_token",
                          "decode_tok_per_s", "prefill_tok_per_s", "vram_used_bytes", "llama_cpp"})
      CHECK(p.contains(k));
    CHECK(p["hit_rate_per_layer"].size() == 30);
    if (p["policy"] == "gpu") gpu_decode = p["decode_tok_per_s"].get<double>();
  }
  for (const auto& p : j["policies"]) CHECK(p["decode_tok_per_s"].get<double>() <= gpu_decode);
  const auto& sg = j["policies"][4];
  CHECK(sg["policy"] == "static-global");
  CHECK(sg["llama_cpp"]["exact"] == false);
  CHECK(sg["llama_cpp"]["args"].get<std::string>().find("-ot \"blk\\.(") != std::string::npos);
  CHECK(sg["llama_cpp"]["realisable"]["expert_vram_bytes"].get<double>() <= 8e9);
}

TEST_CASE("gemmasim place and trace-gen reject bad input with exit code 2 and one line") {
  std::string out;
  CHECK(run_cli("place --vram-budget -5GB", &out) == 2);
  CHECK(out.find("--vram-budget") != std::string::npos);
  CHECK(run_cli("place --policy nope", &out) == 2);
  CHECK(out.find("unknown policy 'nope'") != std::string::npos);
  CHECK(run_cli("place --model gemma4-e2b", &out) == 2);
  CHECK(out.find("not a mixture-of-experts model") != std::string::npos);
  CHECK(run_cli("place --trace /nonexistent.jsonl", &out) == 2);
  CHECK(run_cli("trace-gen --tokens 10 --skew-per-layer 1,2 -o /tmp/x.jsonl", &out) == 2);
  CHECK(out.find("expected 30, one per MoE layer") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE("gemmasim trace-gen writes a trace that place reads back") {
  const std::string path = (std::filesystem::temp_directory_path() / ("gemmasim_moe_tg_" + std::to_string(::getpid()) + ".csv")).string();
  std::string out;
  REQUIRE(run_cli("trace-gen --tokens 40 --prompt 8 --skew 0.9 --locality 0.5 --seed 3 -o " + path, &out) == 0);
  gs::ModelSpec m = gs::find_model("gemma4-26b-a4b");
  Trace tr = read_trace(path, trace_shape(m));
  CHECK(tr.n_tokens() == 40);
  CHECK(tr.n_prefill_tokens() == 8);
  REQUIRE(run_cli("place --policy lru --trace " + path + " --json", &out) == 0);
  CHECK(nlohmann::json::parse(out)["trace"]["tokens"] == 40);
  std::filesystem::remove(path);
}

TEST_CASE("a trace written by gemmasim run --trace-out is read and replayed by place") {
  const auto dir = std::filesystem::temp_directory_path() / ("gemmasim_moe_run_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string trace = (dir / "run.jsonl").string();
  const std::string cmd = "XDG_CACHE_HOME=" + dir.string() + " " + GEMMASIM_BINARY +
                          " run --model gemma4-26b-a4b-tiny --prompt 8 --gen 4 --threads 1 --trace-out " + trace +
                          " > /dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  gs::ModelSpec m = gs::load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-26b-a4b-tiny.json");
  Trace tr = read_trace(trace, trace_shape(m));
  CHECK(tr.n_prefill_tokens() == 8);
  CHECK(tr.n_tokens() >= 8 + 3);  // the last generated token may not be run through the model
  CHECK(tr.layers == moe_layers(m));
  CHECK(tr.weights.size() == tr.experts.size());
  std::string out;
  CHECK(run_cli("place --model " + std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/gemma4-26b-a4b-tiny.json --ctx 256 --trace " +
                    trace + " --vram-budget 1MB --json",
                &out) == 0);
  CHECK(nlohmann::json::parse(out)["trace"]["tokens"] == tr.n_tokens());
  std::filesystem::remove_all(dir);
}
