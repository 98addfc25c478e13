// test_validate.cpp: the validation matrix, predictions on a described machine,
// error statistics, and the llama-bench import (hand-written llama-bench -o json
// files in tests/data/llama-bench/: their tok/s are made-up test values, not
// measurements).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "cli_run.h"
#include "data_paths.h"
#include "json_util.h"
#include "error.h"
#include "engine.h"
#include "llama_bench.h"
#include "roofline.h"
#include "quant.h"
#include "model.h"
#include "units.h"
#include "validate.h"

using namespace gs;

namespace {
const std::string kLb = std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/llama-bench/";

MachineRates machine(double bw, int threads = 2) {
  MachineRates r;
  r.threads = threads;
  r.bandwidth_bytes_per_s = bw;
  r.fp32_flops_per_s = 2e12;  // vector peaks high enough that decode is memory-bound
  r.int8_ops_per_s = 8e12;
  r.memory_bytes = 24 * kGiB;
  r.cpu_name = "test cpu";
  return r;
}
}  // namespace

TEST_CASE("the full matrix covers every variant, format, prompt, depth and thread count the issue names") {
  const auto full = validate_matrix(false);
  CHECK(full.size() >= 16);
  std::set<std::string> models, quants, labels;
  std::set<long long> prompts, depths;
  std::set<int> threads;
  for (const auto& c : full) {
    models.insert(c.model), quants.insert(c.quant), prompts.insert(c.prompt), depths.insert(c.depth), threads.insert(c.threads);
    labels.insert(c.label());
  }
  CHECK(models == std::set<std::string>{"gemma4-e2b", "gemma4-e4b", "gemma4-26b-a4b", "gemma4-31b"});
  CHECK(quants == std::set<std::string>{"q4_0", "q8_0", "q4_k_m"});
  CHECK(prompts == std::set<long long>{64, 512});
  CHECK(depths == std::set<long long>{0, 4096});
  CHECK(threads == std::set<int>{1, 2});
  CHECK(labels.size() == full.size());  // no duplicates
  const auto quick = validate_matrix(true);
  CHECK(quick.size() < full.size());
  CHECK(quick.size() >= 2);
}

TEST_CASE("the memory model skips the 31B and 26B at Q8_0 on 24 GiB and keeps the small variants") {
  CHECK(memory_skip_reason({"gemma4-31b", "q8_0", 64, 0, 4, 2}, 24 * kGiB) != "");
  CHECK(memory_skip_reason({"gemma4-26b-a4b", "q8_0", 64, 0, 8, 2}, 24 * kGiB) != "");
  CHECK(memory_skip_reason({"gemma4-e2b", "q4_0", 64, 0, 16, 2}, 24 * kGiB) == "");
  CHECK(memory_skip_reason({"gemma4-31b", "q4_0", 64, 0, 4, 2}, 24 * kGiB) == "");
  CHECK(memory_skip_reason({"gemma4-31b", "q4_0", 64, 0, 4, 2}, 8 * kGiB) != "");
}

TEST_CASE("predictions follow the measured bandwidth: decode speeds up with it, prefill barely") {
  const ValidateConfig c{"gemma4-e2b", "q4_0", 64, 0, 16, 2};
  const Prediction slow = predict_run(c, machine(40e9)), fast = predict_run(c, machine(80e9));
  CHECK(slow.decode_tok_per_s > 0);
  CHECK(fast.decode_tok_per_s > 1.3 * slow.decode_tok_per_s);
  CHECK(fast.prefill_tok_per_s < 1.3 * slow.prefill_tok_per_s);
  // Decode cannot beat reading the bytes of one token at the triad bandwidth times the
  // profile's largest stream ratio (a read stream can outrun the triad, which writes: the
  // probe measured Q4_0 at 1.07-1.20 of it on 2026-12-05).
  const EngineProfile e = resolve_engine("reference");
  double ratio = e.thr.bandwidth_efficiency;
  for (const auto* t : {&e.thr.cpu_kernel.bandwidth_efficiency_by_format, &e.thr.cpu_kernel.bandwidth_efficiency_by_format_parallel})
    for (const auto& [f, v] : *t) ratio = std::max(ratio, v);
  REQUIRE(ratio > 0);
  double step_bytes = 0;
  for (const auto& r : slow.est.decode.ops) step_bytes += r.cost.memory_bytes();
  CHECK(slow.decode_tok_per_s <= ratio * 40e9 / step_bytes);
  CHECK(slow.decode_tok_per_s > 0.3 * ratio * 40e9 / step_bytes);  // and the stream is most of the step
}

TEST_CASE("predicted peak memory leaves out the PLE table an mmap never touches, and only it") {
  const Prediction e2b = predict_run({"gemma4-e2b", "q4_0", 64, 0, 16, 2}, machine(50e9));
  CHECK(e2b.ple_not_resident_bytes > 0.5 * kGiB);
  CHECK(e2b.peak_bytes == doctest::Approx(e2b.fit_total_bytes - e2b.ple_not_resident_bytes));
  const Prediction dense = predict_run({"gemma4-31b", "q4_0", 64, 0, 4, 2}, machine(50e9));
  CHECK(dense.ple_not_resident_bytes == 0);
  CHECK(dense.peak_bytes == doctest::Approx(dense.fit_total_bytes));
}

TEST_CASE("error statistics: median and max of absolute errors, and which row is worst") {
  const ErrorStats s = error_stats({0.10, -0.30, 0.05, -0.02}, {"a", "b", "c", "d"});
  CHECK(s.n == 4);
  CHECK(s.median_abs == doctest::Approx(0.075));
  CHECK(s.max_abs == doctest::Approx(0.30));
  CHECK(s.worst == "b");
  ValidateRow r;
  r.pred.decode_tok_per_s = 11;
  r.meas.decode_tok_per_s = 10;
  r.pred.peak_bytes = 95;
  r.meas.peak_bytes = 100;
  r.compute_errors();
  CHECK(r.err_decode == doctest::Approx(0.1));
  CHECK(r.err_peak == doctest::Approx(-0.05));
  CHECK(r.err_prefill == 0);  // not measured
}

TEST_CASE("reference profile: measured op rates, serial ops at one core's rate, a fixed cost per matmul call") {
  const ModelSpec m = find_model("gemma4-e2b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  REQUIRE(!e.thr.cpu_kernel.cpu_ops.empty());
  Workload wl;
  wl.prompt_tokens = 64;
  wl.gen_tokens = 16;
  // Same per-core peak, 1 and 2 threads: a serial op takes the same time, a parallel one half.
  const System s1 = machine_system(machine(40e9, 1)), s2 = machine_system(machine(40e9, 2));
  auto with_rule = [&](bool serial) {
    EngineProfile x = e;
    x.thr.cpu_kernel.cpu_ops = {{"act", "decode", 0.01, serial}};
    x.thr.cpu_kernel.matmul_call_s = x.thr.cpu_kernel.matmul_call_parallel_s = 0;
    return x;
  };
  System s1h = s1, s2h = s2;
  s1h.host.peak_flops_per_s["fp32"] = 1e11;  // per core 1e11 on both
  s2h.host.peak_flops_per_s["fp32"] = 2e11;
  const auto act = static_cast<std::size_t>(Op::Act);
  const Estimate a1 = estimate(m, s1h, q, with_rule(true), RunPlacement{}, wl);
  const Estimate a2 = estimate(m, s2h, q, with_rule(true), RunPlacement{}, wl);
  const double flops = a1.decode.ops[act].cost.flops;
  REQUIRE(flops > 0);
  CHECK(a1.decode.ops[act].compute_s == doctest::Approx(flops / (0.01 * 1e11)));
  CHECK(a2.decode.ops[act].compute_s == doctest::Approx(a1.decode.ops[act].compute_s));
  const Estimate p2 = estimate(m, s2h, q, with_rule(false), RunPlacement{}, wl);
  CHECK(p2.decode.ops[act].compute_s == doctest::Approx(0.5 * a1.decode.ops[act].compute_s));
  // The rule is per phase: prefill's act keeps the vector rate.
  CHECK(a1.prefill.ops[act].compute_s < a1.prefill.ops[act].cost.flops / (0.01 * 1e11));
  // A fixed cost per matmul call: the decode step grows by a whole number of calls, at
  // least 7 matmuls per layer (q, o, gate, up, down, PLE gate and proj).
  EngineProfile c = with_rule(true);
  c.thr.cpu_kernel.matmul_call_parallel_s = 1e-5;
  const Estimate with_calls = estimate(m, s2h, q, c, RunPlacement{}, wl);
  const double calls = (with_calls.decode.time_s - a2.decode.time_s) / 1e-5;
  CHECK(calls == doctest::Approx(std::round(calls)).epsilon(1e-6));
  CHECK(calls >= 7 * m.n_layer);
  CHECK(calls <= 9 * m.n_layer + 2);
  // Per-format mat-vec limits apply to the weights of that format only.
  EngineProfile lo = with_rule(true), hi = with_rule(true);
  lo.thr.cpu_kernel.matvec_compute_efficiency = {{"q4_0", 0.001}};  // of the int8 peak (the bundled profile's quantized_matvec_peak)
  hi.thr.cpu_kernel.matvec_compute_efficiency = {{"q8_0", 0.001}};  // no Q8_0 matrix in a Q4_0 file's FFN
  lo.thr.cpu_kernel.matvec_compute_efficiency_parallel.clear();  // the 1-thread table applies at 2 threads too
  hi.thr.cpu_kernel.matvec_compute_efficiency_parallel.clear();
  const auto ffn = static_cast<std::size_t>(Op::FfnUp);
  const Estimate elo = estimate(m, s2h, q, lo, RunPlacement{}, wl), ehi = estimate(m, s2h, q, hi, RunPlacement{}, wl);
  CHECK(elo.decode.ops[ffn].time_s > 10 * ehi.decode.ops[ffn].time_s);
  EngineProfile none = with_rule(true);
  none.thr.cpu_kernel.matvec_compute_efficiency.clear();
  none.thr.cpu_kernel.matvec_compute_efficiency_parallel.clear();
  CHECK(ehi.decode.ops[ffn].time_s == doctest::Approx(estimate(m, s2h, q, none, RunPlacement{}, wl).decode.ops[ffn].time_s));
  EngineProfile badf = e;
  badf.thr.cpu_kernel.matvec_compute_efficiency = {{"q9_9", 0.5}};
  CHECK_THROWS_AS(estimate(m, s2h, q, badf, RunPlacement{}, wl), InputError);
  // An op name the simulator does not know is an input error naming it.
  EngineProfile bad = e;
  bad.thr.cpu_kernel.cpu_ops.push_back({"flux_capacitor", "decode", 0.1, false});
  CHECK_THROWS_AS(estimate(m, s2h, q, bad, RunPlacement{}, wl), InputError);
}

TEST_CASE("llama.cpp file types map to recipes; file names are the fallback") {
  CHECK(recipe_from_file_type("gemma4 ?B Q4_K - Medium", "") == "q4_k_m");
  CHECK(recipe_from_file_type("llama 8B Q8_0", "") == "q8_0");
  CHECK(recipe_from_file_type("gemma4 E2B all F32", "") == "f32");
  CHECK(recipe_from_file_type("gemma4 ?B BF16", "") == "bf16");
  CHECK(recipe_from_file_type("gemma4 ?B Q4_0 (guessed)", "") == "q4_0");
  CHECK(recipe_from_file_type("gemma4 ?B unknown", "x/gemma-4-E4B-it-Q4_K_M.gguf") == "q4_k_m");
  CHECK(recipe_from_file_type("gemma4 ?B unknown", "x.gguf") == "");
}

TEST_CASE("hardware strings map through aliases and device names") {
  CHECK(hardware_from_info("NVIDIA GeForce RTX 4090") == "rtx-4090");
  CHECK(hardware_from_info("RTX 4090 24GB") == "rtx-4090");
  CHECK(hardware_from_info("AMD Ryzen 9 7900X 12-Core Processor") == "ryzen-9-7900x");
  CHECK(hardware_from_info("NVIDIA GeForce RTX 9090 Ti") == "");
  CHECK(hardware_from_info("") == "");
}

TEST_CASE("a llama-bench file from a GPU maps every run and predicts it") {
  const auto runs = read_llama_bench(kLb + "rtx4090-gemma4-e4b.json");
  REQUIRE(runs.size() == 3);
  CHECK(runs[2].n_depth == 4096);
  CHECK(runs[2].type_k == "q8_0");
  for (const auto& r : runs) {
    const LlamaBenchCase c = map_llama_bench_run(r);
    CAPTURE(c.skip);
    REQUIRE(c.skip.empty());
    CHECK(c.model_id == "gemma4-e4b");
    CHECK(c.recipe_id == "q4_k_m");
    CHECK(c.hw_id == "rtx-4090");
    CHECK(c.engine_id == "llama.cpp-cuda");
    const BenchCompare b = predict_llama_bench(c);
    CHECK(b.predicted_tok_per_s > 0);
    CHECK(b.err == doctest::Approx(b.predicted_tok_per_s / r.avg_ts - 1));
  }
  CHECK(map_llama_bench_run(runs[0]).prefill);
  CHECK_FALSE(map_llama_bench_run(runs[1]).prefill);
  // Deeper KV: a slower predicted decode.
  CHECK(predict_llama_bench(map_llama_bench_run(runs[2])).predicted_tok_per_s <
        predict_llama_bench(map_llama_bench_run(runs[1])).predicted_tok_per_s);
}

TEST_CASE("a CPU llama-bench run maps to the CPU engine and the CPU from cpu_info; --hw overrides") {
  const auto runs = read_llama_bench(kLb + "cpu-ryzen-7900x-gemma4-e2b.json");
  REQUIRE(runs.size() == 2);
  const LlamaBenchCase c = map_llama_bench_run(runs[1]);
  REQUIRE(c.skip.empty());
  CHECK(c.model_id == "gemma4-e2b");
  CHECK(c.cpu_only);
  CHECK(c.engine_id == "llama.cpp-cpu");
  CHECK(c.hw_id == "ryzen-9-7900x");
  CHECK(map_llama_bench_run(runs[1], "ryzen-9-9950x").hw_id == "ryzen-9-9950x");
}

TEST_CASE("unknown GPUs, combined tests and unknown architectures are skipped with the reason") {
  const auto runs = read_llama_bench(kLb + "unknown-gpu.json");
  REQUIRE(runs.size() == 3);
  const auto a = map_llama_bench_run(runs[0]);
  CHECK(a.skip.find("unknown GPU 'NVIDIA GeForce RTX 9090 Ti'") != std::string::npos);
  CHECK(map_llama_bench_run(runs[1]).skip.find("combined") != std::string::npos);
  CHECK(map_llama_bench_run(runs[2]).skip.find("arch 'falcon'") != std::string::npos);
  CHECK(predict_llama_bench(a).predicted_tok_per_s == 0);
}

TEST_CASE("malformed llama-bench input: a broken file is an InputError naming it; bad runs are listed") {
  CHECK_THROWS_WITH_AS(read_llama_bench(kLb + "malformed.json"), doctest::Contains("malformed.json"), InputError);
  CHECK_THROWS_AS(read_llama_bench(kLb + "does-not-exist.json"), InputError);
  CHECK_THROWS_AS(parse_llama_bench(json::object(), "x.json"), InputError);
  std::vector<std::string> bad;
  const auto runs = read_llama_bench(kLb + "bad-runs.json", &bad);
  CHECK(runs.size() == 1);
  CHECK(bad.size() == 3);
  CHECK_THROWS_AS(read_llama_bench(kLb + "bad-runs.json"), InputError);  // without a list: the first bad run throws
}

TEST_CASE("validate --repeat: a row's errors are the medians of its passes' errors; failed passes are left out") {
  auto pass = [](double pred_p, double meas_p, double pred_d, double meas_d, double triad) {
    ValidateRow r;
    r.c.model = "gemma4-e2b", r.c.quant = "q4_0";
    r.pred.prefill_tok_per_s = pred_p, r.meas.prefill_tok_per_s = meas_p;
    r.pred.decode_tok_per_s = pred_d, r.meas.decode_tok_per_s = meas_d;
    r.pred.peak_bytes = 100, r.meas.peak_bytes = 100;
    r.rates.bandwidth_bytes_per_s = triad;
    r.compute_errors();
    return r;
  };
  ValidateRow failed;
  failed.c.model = "gemma4-e2b", failed.c.quant = "q4_0";
  failed.skip = "execution failed: test";
  // prefill errors +10%, -20%, +40%; decode errors -5%, +30%, +2% (the median pass is the third)
  const std::vector<ValidateRow> passes = {pass(110, 100, 95, 100, 40e9), failed, pass(80, 100, 130, 100, 50e9),
                                           pass(140, 100, 51, 50, 45e9)};
  const ValidateRow r = combine_passes(passes);
  CHECK(r.skip.empty());
  REQUIRE(r.passes.size() == 4);
  CHECK(r.passes[1].skip == failed.skip);
  CHECK(r.passes[2].err_decode == doctest::Approx(0.30));
  CHECK(r.err_prefill == doctest::Approx(0.10));
  CHECK(r.err_decode == doctest::Approx(0.02));
  CHECK(r.err_peak == doctest::Approx(0.0));
  CHECK(r.pred.prefill_tok_per_s == doctest::Approx(110));
  CHECK(r.meas.decode_tok_per_s == doctest::Approx(100));      // medians of 100, 100, 50
  CHECK(r.rates.bandwidth_bytes_per_s == doctest::Approx(45e9));
  // The summary counts the combined row once, with its median error.
  const ValidateSummary s = summarize_validate({r});
  CHECK(s.executed == 1);
  CHECK(s.decode.max_abs == doctest::Approx(0.02));
  // One pass: that pass's row; every pass failed: skipped with the first reason.
  const ValidateRow one = combine_passes({passes[0]});
  CHECK(one.err_decode == doctest::Approx(-0.05));
  CHECK(one.passes.size() == 1);
  const ValidateRow none = combine_passes({failed, failed});
  CHECK(none.skip == failed.skip);
  // The report lists the passes.
  json extra = {{"repeat", 4}, {"pass_summaries", json::array({{{"pass", 1}, {"prefill", {{"median_abs_error", 0.1}, {"max_abs_error", 0.1}}},
                                                                {"decode", {{"median_abs_error", 0.05}, {"max_abs_error", 0.05}}},
                                                                {"peak_memory", {{"max_abs_error", 0.0}}}}})}};
  const std::string md = validate_markdown({r}, s, extra);
  CHECK(md.find("median of 4 passes") != std::string::npos);
  CHECK(md.find("+10.0%, -, -20.0%, +40.0%") != std::string::npos);
  const json j = validate_to_json({r}, s, extra);
  CHECK(j["rows"][0]["passes"].size() == 4);
  CHECK(j["rows"][0]["passes"][1].contains("skipped"));
}

TEST_CASE("gemmasim validate --llama-bench: a table, skipped runs with reasons, exit 2 on a broken file") {
  const CliResult ok = run_cli("validate --llama-bench " + kLb + "unknown-gpu.json");
  CHECK(ok.code == 0);
  CHECK(ok.out.find("skipped run 0") != std::string::npos);
  const CliResult js = run_cli("validate --llama-bench " + kLb + "rtx4090-gemma4-e4b.json --json");
  REQUIRE(js.code == 0);
  const json j = json::parse(js.out);
  CHECK(j["runs"].size() == 3);
  CHECK(j["runs"][0].contains("predicted_tok_per_s"));
  const CliResult bad = run_cli("validate --llama-bench " + kLb + "malformed.json");
  CHECK(bad.code == 2);
  CHECK(bad.err_lines() == 1);
  CHECK(run_cli("validate --only no-such-config").code == 2);
  for (const char* args : {"validate --repeat 0", "validate --repeat -3", "validate --repeat 21"}) {  // before any measurement
    CAPTURE(args);
    const CliResult e = run_cli(args);
    CHECK(e.code == 2);
    CHECK(e.err_lines() == 1);
    CHECK(e.err.find("--repeat") != std::string::npos);
  }
  for (const char* args : {"validate --engine no-such-engine", "validate --engine llama.cpp-cuda"}) {  // unknown; not a CPU engine
    CAPTURE(args);
    const CliResult e = run_cli(args);
    CHECK(e.code == 2);
    CHECK(e.err_lines() == 1);
  }
  // Valid JSON that holds no llama-bench run (another kind of file, an empty array).
  const CliResult other = run_cli("validate --llama-bench " + std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/devices/rtx-4090.json");
  CHECK(other.code == 2);
  CHECK(other.err_lines() == 1);
  CHECK(other.err.find("no llama-bench run") != std::string::npos);
  CHECK(other.out.empty());
  const CliResult sw = run_cli("validate --stream-witness --llama-bench " + kLb + "rtx4090-gemma4-e4b.json");
  CHECK(sw.code == 2);
  CHECK(sw.err_lines() == 1);
  CHECK(sw.err.find("--stream-witness") != std::string::npos);
}

TEST_CASE("PLE residency: the page-cache units around the rows read, by the closed form") {
  // No row read: nothing resident; one row: one unit (fault bytes + the row).
  CHECK(ple_resident_bytes(1e9, 1e4, 0, 2e6) == 0);
  CHECK(ple_resident_bytes(1e9, 1e4, 1, 2e6) == doctest::Approx(2.01e6));
  // Hand value: 1 - (1 - 2.01e6 / 1e9)^500 = 1 - exp(500 ln(0.99799)) = 0.6340.
  CHECK(ple_resident_bytes(1e9, 1e4, 500, 2e6) / 1e9 == doctest::Approx(0.6340).epsilon(0.001));
  // A unit as large as the table makes it all resident; below a page the unit is a page.
  CHECK(ple_resident_bytes(1e9, 1e4, 3, 2e9) == 1e9);
  CHECK(ple_resident_bytes(1e9, 1e4, 1, 0) == doctest::Approx(4096 + 1e4));
  // More rows, more resident, never beyond the table.
  CHECK(ple_resident_bytes(1e9, 1e4, 5000, 2e6) > ple_resident_bytes(1e9, 1e4, 500, 2e6));
  CHECK(ple_resident_bytes(1e9, 1e4, 1e6, 2e6) <= 1e9);
}

TEST_CASE("largest step: prompt or KV-fill micro-batch, at most the micro-batch") {
  CHECK(largest_step_tokens({"gemma4-e2b", "q4_0", 64, 0, 16, 2}, 512) == 64);
  CHECK(largest_step_tokens({"gemma4-e2b", "q4_0", 64, 4096, 16, 2, false}, 512) == 512);  // a prefill fill
  CHECK(largest_step_tokens({"gemma4-e2b", "q4_0", 64, 4096, 16, 2}, 512) == 64);          // seeded: no fill step
  CHECK(largest_step_tokens({"gemma4-e2b", "q4_0", 2000, 0, 16, 2}, 512) == 512);
  CHECK(largest_step_tokens({"gemma4-e2b", "q4_0", 1, 0, 16, 2}, 512) == 1);
}

TEST_CASE("predicted peak memory grows with the page-cache fault unit (PLE table) and the prompt (buffers)") {
  MachineRates small = machine(50e9), large = machine(50e9);
  large.fault_bytes = 2 << 20;
  const ValidateConfig p64{"gemma4-e2b", "q8_0", 64, 0, 16, 1}, p512{"gemma4-e2b", "q8_0", 512, 0, 16, 1};
  const Prediction s = predict_run(p512, small), l = predict_run(p512, large);
  CHECK(l.peak_bytes > s.peak_bytes + 0.5 * kGiB);  // ~529 rows x 2 MiB units of a 2.5 GB table
  CHECK(l.ple_not_resident_bytes < s.ple_not_resident_bytes);
  CHECK(predict_run(p512, small).fit_total_bytes > predict_run(p64, small).fit_total_bytes + 50 * kMiB);
  // A fill of 4096 tokens by prefill reads 4096 more PLE rows than a seeded one (none).
  const ValidateConfig seeded{"gemma4-e2b", "q8_0", 64, 4096, 16, 1}, prefilled{"gemma4-e2b", "q8_0", 64, 4096, 16, 1, false};
  CHECK(predict_run(prefilled, large).ple_not_resident_bytes < predict_run(seeded, large).ple_not_resident_bytes - 0.5 * kGiB);
  CHECK(predict_run(seeded, large).ple_not_resident_bytes == doctest::Approx(predict_run(p64, large).ple_not_resident_bytes));
}

TEST_CASE("per-format mat-vec rates at more than one thread replace the 1-thread rate, for their format only") {
  const ModelSpec m = find_model("gemma4-e2b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  e.thr.cpu_kernel.matvec_compute_efficiency = {{"q4_0", 1.0}};
  e.thr.cpu_kernel.matvec_compute_efficiency_parallel = {{"q4_0", 0.002}};  // far below: compute-bound at 2 threads
  Workload wl;
  wl.prompt_tokens = 8;
  wl.gen_tokens = 4;
  const Estimate t1 = estimate(m, machine_system(machine(40e9, 1)), q, e, RunPlacement{}, wl);
  const Estimate t2 = estimate(m, machine_system(machine(40e9, 2)), q, e, RunPlacement{}, wl);
  const auto up = static_cast<std::size_t>(Op::FfnUp);
  CHECK(t2.decode.ops[up].time_s > 5 * t1.decode.ops[up].time_s);
  e.thr.cpu_kernel.matvec_compute_efficiency_parallel = {{"q8_0", 0.002}};  // another format: no effect on Q4_0
  const Estimate t2b = estimate(m, machine_system(machine(40e9, 2)), q, e, RunPlacement{}, wl);
  CHECK(t2b.decode.ops[up].time_s == doctest::Approx(t1.decode.ops[up].time_s).epsilon(0.05));
}

TEST_CASE("quantized_matvec_peak int8: a quantized mat-vec follows the int8 peak, a float one the fp32 peak") {
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  e.thr.cpu_kernel.matvec_compute_efficiency = {{"q4_0", 0.001}, {"f32", 0.001}};  // far below: compute-bound
  e.thr.cpu_kernel.matvec_compute_efficiency_parallel.clear();
  e.thr.cpu_kernel.moe_matvec_compute_efficiency = 0.001;
  e.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel = 0;
  Workload wl;
  wl.prompt_tokens = 8;
  wl.gen_tokens = 4;
  const auto up = static_cast<std::size_t>(Op::FfnUp), experts = static_cast<std::size_t>(Op::MoeExperts),
             router = static_cast<std::size_t>(Op::MoeRouter);  // the router is f32
  auto run = [&](double fp32, double int8) {
    MachineRates r = machine(40e9, 1);
    r.fp32_flops_per_s = fp32, r.int8_ops_per_s = int8;
    return estimate(m, machine_system(r), q, e, RunPlacement{}, wl);
  };
  for (const char* peak : {"fp32", "int8"}) {
    CAPTURE(peak);
    e.thr.cpu_kernel.quantized_matvec_peak = peak;
    const Estimate a = run(1e12, 4e12), fp = run(2e12, 4e12), i8 = run(1e12, 8e12);
    const bool by_int8 = std::string(peak) == "int8";
    for (const auto op : {up, experts}) {
      CHECK(a.decode.ops[op].time_s == doctest::Approx(2 * (by_int8 ? i8 : fp).decode.ops[op].time_s).epsilon(0.02));
      CHECK(a.decode.ops[op].time_s == doctest::Approx((by_int8 ? fp : i8).decode.ops[op].time_s).epsilon(1e-9));
    }
    CHECK(a.decode.ops[router].time_s == doctest::Approx(2 * fp.decode.ops[router].time_s).epsilon(0.02));  // f32: fp32 always
    CHECK(a.decode.ops[router].time_s == doctest::Approx(i8.decode.ops[router].time_s).epsilon(1e-9));
  }
}

TEST_CASE("the expert mat-vec rate at more than one thread replaces the 1-thread one, for the experts only") {
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  e.thr.cpu_kernel.moe_matvec_compute_efficiency = 1.0;
  e.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel = 0.001;  // far below: compute-bound at 2 threads
  Workload wl;
  wl.prompt_tokens = 8;
  wl.gen_tokens = 4;
  const auto experts = static_cast<std::size_t>(Op::MoeExperts), up = static_cast<std::size_t>(Op::FfnUp);
  const Estimate t1 = estimate(m, machine_system(machine(40e9, 1)), q, e, RunPlacement{}, wl);
  const Estimate t2 = estimate(m, machine_system(machine(40e9, 2)), q, e, RunPlacement{}, wl);
  CHECK(t2.decode.ops[experts].time_s > 5 * t1.decode.ops[experts].time_s);
  e.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel = 0;  // absent: the 1-thread figure at 2 threads too
  const Estimate t2b = estimate(m, machine_system(machine(40e9, 2)), q, e, RunPlacement{}, wl);
  CHECK(t2.decode.ops[experts].time_s > 5 * t2b.decode.ops[experts].time_s);
  // the dense FFN at 2 threads is not touched by the expert constant
  CHECK(t2.decode.ops[up].time_s == doctest::Approx(t2b.decode.ops[up].time_s).epsilon(1e-9));
}

TEST_CASE("a run that needs more memory than is available re-reads the excess from disk each pass") {
  const ValidateConfig c{"gemma4-31b", "q4_0", 64, 0, 4, 2};
  MachineRates r = machine(40e9);
  const Prediction fits = predict_run(c, r);
  r.disk_read_bytes_per_s = 2e9;
  r.page_cache_room_bytes = fits.peak_bytes + kGiB;  // room to spare: nothing read from disk
  const Prediction roomy = predict_run(c, r);
  CHECK(roomy.disk_bytes_per_pass == 0);
  CHECK(roomy.decode_tok_per_s == doctest::Approx(fits.decode_tok_per_s));
  r.page_cache_room_bytes = fits.peak_bytes - 2e9;  // 2 GB short: 1 s of disk per token
  const Prediction tight = predict_run(c, r);
  CHECK(tight.disk_bytes_per_pass == doctest::Approx(2e9));
  CHECK(tight.disk_s_per_token == doctest::Approx(1.0));
  CHECK(1.0 / tight.decode_tok_per_s == doctest::Approx(1.0 / fits.decode_tok_per_s + 1.0));
  CHECK(tight.prefill_tok_per_s < fits.prefill_tok_per_s);
  CHECK(tight.peak_bytes == fits.peak_bytes);
}

TEST_CASE("a matmul rate measured at 64 tokens applies up to 64, blends to the 512-token rate in log2(T), never to experts") {
  const ModelSpec m = find_model("gemma4-e2b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  e.thr.cpu_kernel.matmul_int8_efficiency = {{"q4_0", 0.1}};
  e.thr.cpu_kernel.matmul_int8_efficiency_t64.clear();
  MachineRates mr = machine(400e9, 2);  // memory far from binding
  mr.int8_ops_per_s = 1e12;
  const System s = machine_system(mr);
  auto up_time = [&](const EngineProfile& x, i64 prompt) {
    Workload wl;
    wl.prompt_tokens = prompt;
    wl.gen_tokens = 1;
    return estimate(m, s, q, x, RunPlacement{}, wl).prefill.ops[static_cast<std::size_t>(Op::FfnUp)].compute_s;
  };
  const double base64 = up_time(e, 64), base181 = up_time(e, 181), base512 = up_time(e, 512);
  EngineProfile t = e;
  t.thr.cpu_kernel.matmul_int8_efficiency_t64 = {{"q4_0", 0.05}};
  CHECK(up_time(t, 64) == doctest::Approx(2 * base64));     // half the rate at 64 tokens
  CHECK(up_time(t, 512) == doctest::Approx(base512));       // the 512-token rate from 512
  // 181 tokens: log2 = 7.5, halfway: rate 0.075 -> 4/3 of the time at 0.1.
  CHECK(up_time(t, 181) == doctest::Approx(base181 * 0.1 / 0.075).epsilon(0.01));
}

TEST_CASE("batch_time_ratio_at: 1 at one token, log2-linear between measured counts, per-token time of the last beyond") {
  const std::vector<std::pair<int, double>> t = {{2, 1.5}, {4, 2.5}, {32, 12}};
  CHECK(batch_time_ratio_at(t, 1) == 1.0);
  CHECK(batch_time_ratio_at(t, 2) == doctest::Approx(1.5));
  CHECK(batch_time_ratio_at(t, std::sqrt(2.0)) == doctest::Approx(1.25));    // halfway from 1 to 2 in log2
  CHECK(batch_time_ratio_at(t, std::sqrt(8.0)) == doctest::Approx(2.0));     // halfway from 2 to 4
  CHECK(batch_time_ratio_at(t, 8) == doctest::Approx(2.5 + (12 - 2.5) / 3));  // a third of the way from 4 to 32
  CHECK(batch_time_ratio_at(t, 48) == doctest::Approx(12.0 * 48 / 32));
  CHECK(batch_time_ratio_at({}, 8) == 1.0);
}

TEST_CASE("a few-token step on a CPU kernel that measured its batch time ratios: the one-token time x the ratio") {
  const ModelSpec m = find_model("gemma4-e2b");
  const QuantRecipe& q = find_recipe("q4_0");
  EngineProfile e = resolve_engine("reference");
  e.thr.cpu_kernel.matmul_call_s = e.thr.cpu_kernel.matmul_call_parallel_s = 0;  // no fixed cost per call: times compare directly
  e.thr.cpu_kernel.matmul_batch_time_ratio.clear();
  e.thr.cpu_kernel.matmul_batch_time_ratio_parallel.clear();
  const System s = machine_system(machine(40e9, 2));
  auto up = [&](const EngineProfile& x, int batch) {
    Workload wl;
    wl.prompt_tokens = 1;
    wl.gen_tokens = 4;
    wl.batch = batch;
    return estimate(m, s, q, x, RunPlacement{}, wl).decode.ops[static_cast<std::size_t>(Op::FfnUp)].time_s;
  };
  const double one = up(e, 1), four_before = up(e, 4);
  EngineProfile t = e;
  t.thr.cpu_kernel.matmul_batch_time_ratio = {{"q4_0", {{2, 1.5}, {4, 2.5}, {32, 12}}}};
  CHECK(up(t, 1) == doctest::Approx(one));                  // one token: as before
  CHECK(up(t, 4) == doctest::Approx(2.5 * one));            // 4 tokens: 2.5 x the one-token step
  CHECK(up(t, 48) == doctest::Approx(18.0 * one));          // past the table: the last per-token time
  CHECK(up(t, 4) != doctest::Approx(four_before));
  // at 2 threads the _parallel table replaces it for its formats; other formats keep theirs
  t.thr.cpu_kernel.matmul_batch_time_ratio_parallel = {{"q4_0", {{4, 3.0}}}};
  CHECK(up(t, 4) == doctest::Approx(3.0 * one));
  t.thr.cpu_kernel.matmul_batch_time_ratio_parallel = {{"q8_0", {{4, 3.0}}}};
  CHECK(up(t, 4) == doctest::Approx(2.5 * one));
  // 64 tokens and more: the matmul rates, as before
  CHECK(up(t, 64) == doctest::Approx(up(e, 64)));
}

TEST_CASE("matmul_batch_time_ratio in an engine file: token counts 2..63 and ratios, else an InputError") {
  json j = read_json_file(data_path("hwdb/engines/reference.json"));
  j["throughput"]["cpu_ops"]["matmul_batch_time_ratio"] = {{"q4_0", {{"2", 1.4}, {"8", 3.1}}}};
  const EngineProfile p = parse_engine(j, "e.json");
  REQUIRE(p.thr.cpu_kernel.matmul_batch_time_ratio.size() == 1);
  CHECK(p.thr.cpu_kernel.matmul_batch_time_ratio[0].second == std::vector<std::pair<int, double>>{{2, 1.4}, {8, 3.1}});
  for (const json& bad : {json{{"q4_0", {{"1", 1.0}}}}, json{{"q4_0", {{"64", 9.0}}}}, json{{"q4_0", {{"x", 2.0}}}},
                          json{{"q4_0", {{"4", -1.0}}}}, json{{"q9_9", {{"4", 2.0}}}}, json{{"q4_0", 2.0}}}) {
    json b = j;
    b["throughput"]["cpu_ops"]["matmul_batch_time_ratio"] = bad;
    CAPTURE(bad.dump());
    CHECK_THROWS_AS(parse_engine(b, "bad.json"), InputError);
  }
}

TEST_CASE("streamed formats: the matrices a decode step reads, by bytes, tied head in, PLE table out, experts at K / E") {
  // E2B at Q4_0: the layers' matrices in Q4_0 and the tied 262K x 1536 head (llama.cpp gives a
  // tied token embedding the output's Q6_K: 262144 x 1536 x 210 / 256 bytes = 330 MB a step).
  const auto e2b = streamed_formats({"gemma4-e2b", "q4_0", 64, 0, 16, 2});
  REQUIRE(e2b.size() == 2);
  CHECK(e2b[0] == "q4_0");
  CHECK(e2b[1] == "q6_k");
  // Nothing over 100%; every matrix format at share 0, ordered by bytes.
  CHECK(streamed_formats({"gemma4-e2b", "q4_0", 64, 0, 16, 2}, 1.01).empty());
  const auto all = streamed_formats({"gemma4-e2b", "q4_0", 64, 0, 16, 2}, 0.0);
  CHECK(all.size() >= e2b.size());
  CHECK(all[0] == "q4_0");
  // The 26B: experts at 8 of 128 (counted whole, its Q4_0 experts would leave the Q6_K head
  // under 5%).
  const auto moe = streamed_formats({"gemma4-26b-a4b", "q4_0", 64, 0, 16, 2});
  REQUIRE(!moe.empty());
  CHECK(moe[0] == "q4_0");
  CHECK(std::find(moe.begin(), moe.end(), "q6_k") != moe.end());  // its 262K x 2816 head, 5% or more of a step at K / E
}

TEST_CASE("a weight stream measured on the machine replaces the profile's ratio x triad for its format") {
  const ValidateConfig c{"gemma4-e2b", "q4_0", 64, 0, 16, 2};
  MachineRates r = machine(40e9);
  const Prediction triad = predict_run(c, r);
  // Every streamed format at 1 GB/s: a step takes its weight bytes / 1 GB/s, the rest is small.
  for (const auto& f : streamed_formats(c, 0.0)) r.weight_stream_bytes_per_s[f] = 1e9;
  const Prediction slow = predict_run(c, r);
  double weights = 0;
  for (const auto& o : slow.est.decode.ops) weights += o.cost.weight_bytes;
  REQUIRE(weights > 1e9);
  CHECK(1.0 / slow.decode_tok_per_s == doctest::Approx(weights / 1e9).epsilon(0.03));
  CHECK(slow.decode_tok_per_s < 0.1 * triad.decode_tok_per_s);
  // A format the model does not read changes nothing.
  MachineRates other = machine(40e9);
  other.weight_stream_bytes_per_s["bf16"] = 1e9;
  CHECK(predict_run(c, other).decode_tok_per_s == doctest::Approx(triad.decode_tok_per_s));
  // An unknown format is an input error naming it.
  MachineRates bad = machine(40e9);
  bad.weight_stream_bytes_per_s["q9_z"] = 1e9;
  CHECK_THROWS_WITH_AS(predict_run(c, bad), doctest::Contains("q9_z"), InputError);
}

TEST_CASE("--stream-witness: a second decode error from the reps' stream predictions, medians over passes, absent without") {
  ValidateRow r;
  r.c.model = "gemma4-e2b", r.c.quant = "q4_0";
  r.pred.decode_tok_per_s = 10, r.meas.decode_tok_per_s = 10;
  r.pred.prefill_tok_per_s = r.meas.prefill_tok_per_s = 50;
  r.pred.peak_bytes = r.meas.peak_bytes = 100;
  // reps: meas 10, 10, 10; predictions 10, 11, 9 (errors 0, +10%, -10%); with the stream 12, 13, 14
  for (const auto& [p, t] : std::vector<std::pair<double, double>>{{10, 12}, {11, 13}, {9, 14}}) {
    DecodeRep d;
    d.meas_tok_per_s = 10, d.pred_tok_per_s = p, d.pred_stream_tok_per_s = t;
    r.decode_reps.push_back(d);
  }
  r.compute_errors();
  CHECK(r.err_decode == doctest::Approx(0.0));
  CHECK(r.has_stream);
  CHECK(r.err_decode_stream == doctest::Approx(0.30));
  // No stream measured: no second error, in the row, the summary and the reports.
  ValidateRow n = r;
  for (auto& d : n.decode_reps) d.pred_stream_tok_per_s = 0;
  n.compute_errors();
  CHECK_FALSE(n.has_stream);
  const ValidateSummary sn = summarize_validate({n});
  CHECK(sn.decode_stream.n == 0);
  CHECK_FALSE(validate_to_json({n}, sn, json::object())["summary"].contains("decode_stream"));
  CHECK(validate_markdown({n}, sn, json::object()).find("err stream") == std::string::npos);
  // Over passes: the median of the passes that have one.
  ValidateRow b = r, c2 = r;
  for (auto& d : b.decode_reps) d.pred_stream_tok_per_s = 10;  // 0%
  for (auto& d : c2.decode_reps) d.pred_stream_tok_per_s = 8;  // -20%
  b.compute_errors(), c2.compute_errors();
  const ValidateRow m = combine_passes({r, b, c2});
  CHECK(m.has_stream);
  CHECK(m.err_decode_stream == doctest::Approx(0.0));
  CHECK(m.passes[0].err_decode_stream == doctest::Approx(0.30));
  const ValidateRow m2 = combine_passes({n, c2});
  CHECK(m2.err_decode_stream == doctest::Approx(-0.20));
  const ValidateSummary s = summarize_validate({r});
  CHECK(s.decode_stream.max_abs == doctest::Approx(0.30));
  const json j = validate_to_json({r}, s, json::object());
  CHECK(j["summary"]["decode_stream"]["max_abs_error"].get<double>() == doctest::Approx(0.30));
  CHECK(j["rows"][0]["error"]["decode_stream"].get<double>() == doctest::Approx(0.30));
  CHECK(j["rows"][0]["decode_reps"][1]["predicted_stream_tok_per_s"].get<double>() == doctest::Approx(13));
  CHECK(validate_markdown({r}, s, json::object()).find("err stream") != std::string::npos);
}
