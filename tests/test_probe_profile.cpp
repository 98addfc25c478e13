// test_probe_profile.cpp: reference_cpu_ops (measure/probe_engine_constants.cpp), the probe ->
// `reference` engine constants, on a probe result written by hand; every expected value is
// computed by hand below from the figures put in (docs/validation.md states the rules).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "data_paths.h"
#include "engine.h"
#include "json_util.h"
#include "probe.h"
#include "memory_fit.h"
#include "roofline.h"

using namespace gs;
using namespace gs::ref;
using namespace gs::measure;

namespace {

OpRate op_rate(const char* name, const char* phase, int threads, double flops, double time_s) {
  OpRate r;
  r.op = name;
  r.phase = phase;
  r.threads = threads;
  r.flops = flops;
  r.time_s = time_s;
  r.calls = 1;
  return r;
}

KernelRate kernel(const char* format, int threads, double matvec_bytes_per_s, double matmul_flops_per_s, double triad) {
  KernelRate k;
  k.format = format;
  k.threads = threads;
  k.matvec_weight_bytes_per_s = matvec_bytes_per_s;
  k.matmul_flops_per_s = matmul_flops_per_s;
  k.triad_bytes_per_s = triad;
  return k;
}

// Peaks: fp32 100 / 200 GFLOP/s, int8 400 / 800 GOP/s at 1 / 2 threads; triads 20 / 40 GB/s.
ProbeResult hand_probe() {
  ProbeResult r;
  r.cpu_name = "hand";
  r.cores = 2;
  r.memory_bytes = 1LL << 34;
  r.triad = {{1, 20e9, 20e9, 1, 1 << 20}, {2, 40e9, 40e9, 1, 1 << 20}};
  r.peaks = {{1, 100e9, 400e9}, {2, 200e9, 800e9}};
  r.op_rates = {
      // norms, prefill: 2 then 2.5 GFLOP/s: x1.25 < 1.5 -> serial, 2e9 / 100e9 = 0.02.
      op_rate("norms", "prefill", 1, 1e9, 0.5), op_rate("norms", "prefill", 2, 1e9, 0.4),
      // act, prefill: 2 then 5 GFLOP/s: x2.5 -> parallel, 5e9 / 200e9 = 0.025.
      op_rate("act", "prefill", 1, 1e9, 0.5), op_rate("act", "prefill", 2, 1e9, 0.2),
      // attention, decode: scores + softmax + values together, 4.2e9 FLOP in 1.0 s, then in
      // 0.6 s: 7 GFLOP/s, x1.67 -> parallel, 7e9 / 200e9 = 0.035 for all three.
      op_rate("attn_scores", "decode", 1, 2e9, 0.5), op_rate("attn_softmax", "decode", 1, 0.2e9, 0.0),
      op_rate("attn_values", "decode", 1, 2e9, 0.5), op_rate("attn_scores", "decode", 2, 2e9, 0.3),
      op_rate("attn_softmax", "decode", 2, 0.2e9, 0.0), op_rate("attn_values", "decode", 2, 2e9, 0.3),
      // rope, decode: 1 thread only -> no constant.
      op_rate("rope", "decode", 1, 1e9, 1.0),
  };
  r.call_costs = {{1, 2e-6, 9e9, 40e9}, {2, 3e-6, 13.5e9, 72e9}};
  r.kernels = {
      kernel("q8_0", 1, 18e9, 40e9, 20e9), kernel("q8_0", 2, 30e9, 72e9, 40e9),
      kernel("f16", 1, 16e9, 10e9, 20e9),  kernel("f16", 2, 34e9, 20e9, 40e9),
      kernel("q4_0", 1, 12e9, 44e9, 20e9), kernel("q4_0", 2, 30e9, 80e9, 40e9),
  };
  return r;
}

}  // namespace

TEST_CASE("reference_cpu_ops: per-op efficiencies, serial rule, attention grouped, ops without N threads left out") {
  const json j = reference_cpu_ops(hand_probe());
  CHECK(j["prefill"]["norms"]["efficiency"].get<double>() == doctest::Approx(0.02));
  CHECK(j["prefill"]["norms"]["serial"].get<bool>());
  CHECK(j["prefill"]["act"]["efficiency"].get<double>() == doctest::Approx(0.025));
  CHECK_FALSE(j["prefill"]["act"]["serial"].get<bool>());
  for (const char* a : {"attn_scores", "attn_softmax", "attn_values"}) {
    CAPTURE(a);
    CHECK(j["decode"][a]["efficiency"].get<double>() == doctest::Approx(0.035));
    CHECK_FALSE(j["decode"][a]["serial"].get<bool>());
  }
  CHECK_FALSE(j["decode"].contains("rope"));
  CHECK_FALSE(j["prefill"].contains("rope"));
}

TEST_CASE("reference_cpu_ops: call costs, expert rates, bandwidth and int8 efficiencies") {
  const json j = reference_cpu_ops(hand_probe());
  CHECK(j["matmul_call_s"].get<double>() == doctest::Approx(2e-6));
  CHECK(j["matmul_call_parallel_s"].get<double>() == doctest::Approx(3e-6));
  // Experts (Q4_0, 18 bytes per 32 weights, 6 FLOP per weight), against the int8 peak
  // (quantized_matvec_peak): 9e9 / 18 x 32 x 6 / 400e9 = 0.24 at 1 thread, 13.5e9 / 18 x 32 x 6 /
  // 800e9 = 0.18 at 2 (_parallel); T=4: 40/400 = 0.1,
  // 72/800 = 0.09 -> mean 0.095.
  CHECK(j["moe_matvec_compute_efficiency"].get<double>() == doctest::Approx(0.24));
  CHECK(j["moe_matvec_compute_efficiency_parallel"].get<double>() == doctest::Approx(0.18));
  CHECK(j["moe_prefill_int8_efficiency"].get<double>() == doctest::Approx(0.095));
  // Bandwidth: memory-bound formats only (q4_0 left out), best over threads per format:
  // q8_0 max(18/20, 30/40) = 0.9, f16 max(16/20, 34/40) = 0.85 -> median 0.875.
  CHECK(j["bandwidth_efficiency"].get<double>() == doctest::Approx(0.875));
  // int8: T=512 / VNNI peak of the quantized formats: q8_0 0.1, 0.09; q4_0 0.11, 0.10 -> median 0.1.
  CHECK(j["compute_efficiency_int8"].get<double>() == doctest::Approx(0.1));
  CHECK(j["matmul_int8_efficiency"]["q8_0"].get<double>() == doctest::Approx(0.095));
  CHECK(j["matmul_int8_efficiency"]["q4_0"].get<double>() == doctest::Approx(0.105));
  CHECK_FALSE(j["matmul_int8_efficiency"].contains("f16"));
  // MoE prefill relative to the Q4_0 matmul: 0.095 / 0.105.
  CHECK(j["moe_prefill_efficiency"].get<double>() == doctest::Approx(0.095 / 0.105));
}

TEST_CASE("reference_cpu_ops: mat-vec rates, best over threads when memory-bound, per thread count when the dot product binds") {
  const json j = reference_cpu_ops(hand_probe());
  // Quantized formats against the int8 peak (400e9 / 800e9), float formats against fp32 (100e9 / 200e9).
  CHECK(j["quantized_matvec_peak"] == "int8");
  // q8_0 (34 bytes per 32 weights, 6 FLOP per weight): 18e9 / 1.0625 x 6 / 400e9 = 0.254 at 1 thread,
  // 30e9 / 1.0625 x 6 / 800e9 = 0.212 at 2 -> the best, 0.254; no parallel entry.
  CHECK(j["matvec_compute_efficiency"]["q8_0"].get<double>() == doctest::Approx(18.0 / 1.0625 * 6 / 400));
  // f16 (2 bytes, 2 FLOP per weight): 16e9 / 2 x 2 / 100e9 = 0.16, 34e9 / 2 x 2 / 200e9 = 0.17 -> 0.17.
  CHECK(j["matvec_compute_efficiency"]["f16"].get<double>() == doctest::Approx(0.17));
  // q4_0 (18 bytes per 32 weights), below the memory-bound rate (12/20 = 0.6 and 30/40 = 0.75 of the
  // triad, under 0.9 x 0.875): 12e9 / 0.5625 x 6 / 400e9 = 0.32 at 1 thread, 30e9 / 0.5625 x 6 / 800e9 = 0.4 at 2.
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(12.0 / 0.5625 * 6 / 400));
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(0.4));
  CHECK_FALSE(j["matvec_compute_efficiency_parallel"].contains("q8_0"));
  CHECK_FALSE(j["matvec_compute_efficiency_parallel"].contains("f16"));
}

TEST_CASE("reference_cpu_ops: memory-bound formats take their compute limit from the L2-resident mat-vec") {
  ProbeResult r = hand_probe();
  // q8_0 from L2: 30e9 B/s at 1 thread, 64e9 at 2 -> 30 / 1.0625 x 6 / 400 and 64 / 1.0625 x 6 / 800.
  for (auto& k : r.kernels)
    if (k.format == "q8_0") k.matvec_cached_weight_bytes_per_s = k.threads == 1 ? 30e9 : 64e9;
    else if (k.format == "q4_0") k.matvec_cached_weight_bytes_per_s = 15e9;  // 1.25x its DRAM 12e9: dot-bound, not used
  const json j = reference_cpu_ops(r);
  CHECK(j["matvec_compute_efficiency"]["q8_0"].get<double>() == doctest::Approx(30.0 / 1.0625 * 6 / 400));
  CHECK(j["matvec_compute_efficiency_parallel"]["q8_0"].get<double>() == doctest::Approx(64.0 / 1.0625 * 6 / 800));
  // q4_0 keeps its DRAM figures (the dot product limited them); f16 without cached figures the old rule
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(12.0 / 0.5625 * 6 / 400));
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(0.4));
  CHECK(j["matvec_compute_efficiency"]["f16"].get<double>() == doctest::Approx(0.17));
  CHECK_FALSE(j["matvec_compute_efficiency_parallel"].contains("f16"));
}

TEST_CASE("reference_cpu_ops: attention from the deep steps when the probe has them, the other ops from the shallow ones") {
  ProbeResult r = hand_probe();
  // Deep steps: 8e9 FLOP in 1.0 s at 1 thread, in 0.5 s at 2: 16 GFLOP/s, x2 -> parallel, 16e9 / 200e9 = 0.08.
  r.op_rates.push_back(op_rate("attn_scores", "decode_deep", 1, 4e9, 0.5));
  r.op_rates.push_back(op_rate("attn_values", "decode_deep", 1, 4e9, 0.5));
  r.op_rates.push_back(op_rate("attn_scores", "decode_deep", 2, 4e9, 0.25));
  r.op_rates.push_back(op_rate("attn_values", "decode_deep", 2, 4e9, 0.25));
  r.op_rates.push_back(op_rate("act", "decode_deep", 1, 1e9, 0.001));  // not used: act comes from "decode"
  r.op_rates.push_back(op_rate("act", "decode_deep", 2, 1e9, 0.001));
  const json j = reference_cpu_ops(r);
  for (const char* a : {"attn_scores", "attn_softmax", "attn_values"}) {
    CAPTURE(a);
    CHECK(j["decode"][a]["efficiency"].get<double>() == doctest::Approx(0.08));
  }
  CHECK_FALSE(j["decode"].contains("act"));
  CHECK_FALSE(j.contains("decode_deep"));
  // Prefill attention without deep figures stays on the shallow ones (none here).
  CHECK_FALSE(j["prefill"].contains("attn_scores"));
}

TEST_CASE("reference_cpu_ops: a kernel rate is a share of the peaks measured next to it when the probe has them") {
  ProbeResult r = hand_probe();
  for (auto& k : r.kernels)
    if (k.format == "q4_0" && k.threads == 2) k.fp32_flops_per_s = 150e9, k.int8_ops_per_s = 500e9;  // a busier moment
  const json j = reference_cpu_ops(r);
  // Against the int8 peak next to it: 30e9 / 0.5625 x 6 / 500e9 = 0.64 (against 0.4 with the probe's
  // 800e9; the fp32 150e9 next to it plays no part); T=512: 80e9 / 500e9 = 0.16.
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(30.0 / 0.5625 * 6 / 500));
  CHECK(j["matmul_int8_efficiency"]["q4_0"].get<double>() == doctest::Approx((0.11 + 0.16) / 2));
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(12.0 / 0.5625 * 6 / 400));  // 1 thread: unchanged
}

TEST_CASE("reference_cpu_ops: a dot-bound format keeps its DRAM figures even at the memory-bound rate") {
  ProbeResult r = hand_probe();
  for (auto& k : r.kernels)
    if (k.format == "q4_0" && k.threads == 2) k.matvec_weight_bytes_per_s = 36e9;  // 0.9 of the triad
  const json j = reference_cpu_ops(r);
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(36.0 / 0.5625 * 6 / 800));
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(12.0 / 0.5625 * 6 / 400));
}

TEST_CASE("reference_cpu_ops: without an int8 peak the quantized mat-vecs stay fractions of the fp32 peak") {
  ProbeResult r = hand_probe();
  for (auto& p : r.peaks) p.int8_ops_per_s = 0;  // a CPU the probe has no int8 loop for
  const json j = reference_cpu_ops(r);
  CHECK(j["quantized_matvec_peak"] == "fp32");
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(12.0 / 0.5625 * 6 / 100));
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(30.0 / 0.5625 * 6 / 200));
  CHECK(j["matvec_compute_efficiency"]["f16"].get<double>() == doctest::Approx(0.17));
}

TEST_CASE("reference_cpu_ops: a probe without op rates or peaks gives no constants") {
  ProbeResult r = hand_probe();
  r.op_rates.clear();
  CHECK(reference_cpu_ops(r).empty());
  r = hand_probe();
  r.peaks.clear();
  CHECK(reference_cpu_ops(r).empty());
}

TEST_CASE("reference_cpu_ops: the 64-token matmul rate per format, against the VNNI peak") {
  ProbeResult r = hand_probe();
  for (auto& k : r.kernels) k.matmul64_flops_per_s = k.matmul_flops_per_s / 2;  // half the 512-token rate
  const json j = reference_cpu_ops(r);
  CHECK(j["matmul_int8_efficiency_t64"]["q4_0"].get<double>() == doctest::Approx(0.105 / 2));
  CHECK(j["matmul_int8_efficiency_t64"]["q8_0"].get<double>() == doctest::Approx(0.095 / 2));
  CHECK_FALSE(j["matmul_int8_efficiency_t64"].contains("f16"));
  CHECK_FALSE(reference_cpu_ops(hand_probe()).contains("matmul_int8_efficiency_t64"));  // not measured: absent
}

TEST_CASE("reference_engine_json: the bundled engine with this probe's constants, sourced, parseable") {
  ProbeResult r = hand_probe();
  r.hostname = "box";
  r.date_utc = "2026-11-29T21:00:00Z";
  const json base = read_json_file(data_path("hwdb/engines/reference.json"));
  json ops = reference_cpu_ops(r);
  ops.erase("matmul_int8_efficiency_t64");  // a figure this probe lacks must not keep the base's value
  const json e = reference_engine_json(base, ops, r, "reference-box");
  const EngineProfile p = parse_engine(e, "probe-engine.json");
  CHECK(p.id == "reference-box");
  CHECK(p.backend == base["backend"].get<std::string>());
  CHECK(p.thr.bandwidth_efficiency == doctest::Approx(0.875));  // hand-computed in the case above
  CHECK(p.thr.cpu_kernel.matmul_call_s == doctest::Approx(2e-6));
  CHECK(p.thr.cpu_kernel.matmul_call_parallel_s == doctest::Approx(3e-6));
  CHECK(p.thr.cpu_kernel.moe_matvec_compute_efficiency == doctest::Approx(0.24));
  CHECK(p.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel == doctest::Approx(0.18));
  CHECK(p.thr.cpu_kernel.quantized_matvec_peak == "int8");
  json bad = e;
  bad["throughput"]["cpu_ops"]["quantized_matvec_peak"] = "fp64";
  CHECK_THROWS_AS(parse_engine(bad, "bad-engine.json"), InputError);
  CHECK(p.thr.moe_prefill_efficiency == doctest::Approx(0.095 / 0.105));
  CHECK(e["throughput"]["compute_efficiency"]["int8"].get<double>() == doctest::Approx(0.1));
  CHECK(p.thr.cpu_kernel.matmul_int8_efficiency_t64.empty());
  CHECK(e["sources"]["throughput.cpu_ops"].get<std::string>().find("box") != std::string::npos);
  // the memory rules of the engine are the base's, but for the float K/V mirrors, which
  // follow the probed ISA (none where attention reads the f16 cache in place)
  json cb = e["compute_buffer"];
  CHECK(cb["kv_float_bytes_per_element"].get<double>() == (r.attention_reads_f16 ? 0.0 : 4.0));
  cb.erase("kv_float_bytes_per_element");
  json bb = base["compute_buffer"];
  bb.erase("kv_float_bytes_per_element");
  CHECK(cb == bb);
  r.isa = "scalar";
  r.attention_reads_f16 = false;
  CHECK(reference_engine_json(base, ops, r, "x")["compute_buffer"]["kv_float_bytes_per_element"].get<double>() == 4.0);
  r.isa = "avx2";
  r.attention_reads_f16 = true;  // AVX2 + F16C
  CHECK(reference_engine_json(base, ops, r, "x")["compute_buffer"]["kv_float_bytes_per_element"].get<double>() == 0.0);
}

namespace {

// One phase of the attention probe model: `calls` attend() calls doing `flops` FLOP in
// `time_s` (booked as the kernel books them: half of the time to scores, half to values,
// softmax FLOP without time).
void attn_phase(ProbeResult& r, const char* phase, int threads, std::int64_t calls, double flops, double time_s) {
  for (const auto& [name, f, t] : {std::tuple<const char*, double, double>{"attn_scores", 0.45 * flops, time_s / 2},
                                   {"attn_softmax", 0.1 * flops, 0.0},
                                   {"attn_values", 0.45 * flops, time_s / 2}}) {
    OpRate o = op_rate(name, phase, threads, f, t);
    o.calls = calls;
    r.op_rates.push_back(o);
  }
}

// The attention probe model at both depths: 32 calls of 2e8 FLOP (near) and 6e8 FLOP (far);
// 1 thread: 10 us per call + 20 GFLOP/s, 2 threads: 20 us per call + 50 GFLOP/s.
ProbeResult two_depth_probe() {
  ProbeResult r = hand_probe();
  attn_phase(r, "decode_attn_near", 1, 32, 2e8, 32 * 10e-6 + 2e8 / 20e9);
  attn_phase(r, "decode_attn_far", 1, 32, 6e8, 32 * 10e-6 + 6e8 / 20e9);
  attn_phase(r, "decode_attn_near", 2, 32, 2e8, 32 * 20e-6 + 2e8 / 50e9);
  attn_phase(r, "decode_attn_far", 2, 32, 6e8, 32 * 20e-6 + 6e8 / 50e9);
  return r;
}

}  // namespace

TEST_CASE("fit_attention: time = calls x call_s + FLOP / rate from the two depths, per thread count") {
  const ProbeResult r = two_depth_probe();
  const AttentionFit a1 = fit_attention(r, 1), a2 = fit_attention(r, 2);
  REQUIRE(a1.ok);
  REQUIRE(a2.ok);
  CHECK_FALSE(a1.clamped);
  CHECK(a1.call_s == doctest::Approx(10e-6));
  CHECK(a1.flops_per_s == doctest::Approx(20e9));
  CHECK(a2.call_s == doctest::Approx(20e-6));
  CHECK(a2.flops_per_s == doctest::Approx(50e9));
  CHECK_FALSE(fit_attention(hand_probe(), 1).ok);  // no attention probe phases
}

TEST_CASE("reference_cpu_ops: decode attention from the fit: slope efficiency, serial rule on the slopes, half the call cost on scores and values") {
  ProbeResult r = two_depth_probe();
  // The single-rate phases are there too (decode, and the probe model's decode_deep): the fit replaces them.
  r.op_rates.push_back(op_rate("attn_scores", "decode_deep", 1, 4e9, 0.5));
  r.op_rates.push_back(op_rate("attn_values", "decode_deep", 1, 4e9, 0.5));
  r.op_rates.push_back(op_rate("attn_scores", "decode_deep", 2, 4e9, 0.25));
  r.op_rates.push_back(op_rate("attn_values", "decode_deep", 2, 4e9, 0.25));
  const json j = reference_cpu_ops(r);
  // Slopes 20 and 50 GFLOP/s: x2.5 >= 1.5 -> parallel, 50e9 / 200e9 = 0.25 (not 0.08 of the deep steps).
  for (const char* a : {"attn_scores", "attn_softmax", "attn_values"}) {
    CAPTURE(a);
    CHECK(j["decode"][a]["efficiency"].get<double>() == doctest::Approx(0.25));
    CHECK_FALSE(j["decode"][a]["serial"].get<bool>());
  }
  for (const char* a : {"attn_scores", "attn_values"}) {
    CAPTURE(a);
    CHECK(j["decode"][a]["call_s"].get<double>() == doctest::Approx(5e-6));            // 10 us / 2
    CHECK(j["decode"][a]["call_parallel_s"].get<double>() == doctest::Approx(10e-6));  // 20 us / 2
  }
  CHECK_FALSE(j["decode"]["attn_softmax"].contains("call_s"));
  // Prefill attention keeps its single-rate rule (no call cost).
  CHECK_FALSE(j["prefill"].contains("attn_scores"));
  // A slope that does not speed up with threads: serial, the 1-thread slope against one core's peak.
  ProbeResult s = hand_probe();
  attn_phase(s, "decode_attn_near", 1, 32, 2e8, 32 * 10e-6 + 2e8 / 20e9);
  attn_phase(s, "decode_attn_far", 1, 32, 6e8, 32 * 10e-6 + 6e8 / 20e9);
  attn_phase(s, "decode_attn_near", 2, 32, 2e8, 32 * 20e-6 + 2e8 / 25e9);
  attn_phase(s, "decode_attn_far", 2, 32, 6e8, 32 * 20e-6 + 6e8 / 25e9);
  const json k = reference_cpu_ops(s);
  CHECK(k["decode"]["attn_scores"]["serial"].get<bool>());                          // 25 / 20 = 1.25 < 1.5
  CHECK(k["decode"]["attn_scores"]["efficiency"].get<double>() == doctest::Approx(0.2));  // 20e9 / 100e9
  CHECK(k["decode"]["attn_scores"]["call_parallel_s"].get<double>() == doctest::Approx(10e-6));
}

TEST_CASE("fit_attention: a negative term is clamped (no call cost, the far steps' rate)") {
  // Far steps slower per FLOP than the near ones: call_s would be negative.
  ProbeResult r = hand_probe();
  attn_phase(r, "decode_attn_near", 1, 32, 2e8, 10e-3);  // 20 GFLOP/s
  attn_phase(r, "decode_attn_far", 1, 32, 6e8, 36e-3);   // 16.7 GFLOP/s
  AttentionFit a = fit_attention(r, 1);
  REQUIRE(a.ok);
  CHECK(a.clamped);
  CHECK(a.call_s == 0);
  CHECK(a.flops_per_s == doctest::Approx(6e8 / 36e-3));
  // Far steps faster than the near ones in total: the slope would be negative.
  r = hand_probe();
  attn_phase(r, "decode_attn_near", 1, 32, 2e8, 10e-3);
  attn_phase(r, "decode_attn_far", 1, 32, 6e8, 9e-3);
  a = fit_attention(r, 1);
  REQUIRE(a.ok);
  CHECK(a.clamped);
  CHECK(a.call_s == 0);
  CHECK(a.flops_per_s == doctest::Approx(6e8 / 9e-3));
  // ... and flows into the constants: efficiency = the far rate / peak, call_s 0.
  attn_phase(r, "decode_attn_near", 2, 32, 2e8, 5e-3);
  attn_phase(r, "decode_attn_far", 2, 32, 6e8, 4.5e-3);
  const json j = reference_cpu_ops(r);
  CHECK(j["decode"]["attn_scores"]["call_s"].get<double>() == 0);
  CHECK(j["decode"]["attn_scores"]["efficiency"].get<double>() == doctest::Approx(6e8 / 4.5e-3 / 200e9));  // x2 -> parallel
  // No more FLOP per call at the far depth: no fit.
  r = hand_probe();
  attn_phase(r, "decode_attn_near", 1, 32, 2e8, 10e-3);
  attn_phase(r, "decode_attn_far", 1, 64, 4e8, 20e-3);
  CHECK_FALSE(fit_attention(r, 1).ok);
}

TEST_CASE("reference_cpu_ops: without both depths at every thread count, decode attention keeps the single-rate rule") {
  ProbeResult r = hand_probe();
  attn_phase(r, "decode_attn_near", 1, 32, 2e8, 32 * 10e-6 + 2e8 / 20e9);
  attn_phase(r, "decode_attn_far", 1, 32, 6e8, 32 * 10e-6 + 6e8 / 20e9);
  attn_phase(r, "decode_attn_near", 2, 32, 2e8, 32 * 20e-6 + 2e8 / 50e9);  // the far phase at 2 threads is missing
  const json j = reference_cpu_ops(r);
  for (const char* a : {"attn_scores", "attn_softmax", "attn_values"}) {
    CAPTURE(a);
    CHECK(j["decode"][a]["efficiency"].get<double>() == doctest::Approx(0.035));  // the "decode" steps, as without the phases
    CHECK_FALSE(j["decode"][a].contains("call_s"));
    CHECK_FALSE(j["decode"][a].contains("call_parallel_s"));
  }
}

TEST_CASE("reference_cpu_ops: a format whose L2-resident mat-vec outruns its DRAM one 1.5x is memory-bound, whatever its name") {
  ProbeResult r = hand_probe();
  // q4_0 from L2: 30e9 at 1 thread (2.5x its DRAM 12e9; the interleaved kernel), 60e9 at 2.
  for (auto& k : r.kernels)
    if (k.format == "q4_0") k.matvec_cached_weight_bytes_per_s = k.threads == 1 ? 30e9 : 60e9;
  CHECK_FALSE(is_dot_bound_matvec(r, "q4_0"));
  CHECK(is_dot_bound_matvec(hand_probe(), "q4_0"));  // no L2 figure: the list
  const json j = reference_cpu_ops(r);
  CHECK(j["matvec_compute_efficiency"]["q4_0"].get<double>() == doctest::Approx(30.0 / 0.5625 * 6 / 400));
  CHECK(j["matvec_compute_efficiency_parallel"]["q4_0"].get<double>() == doctest::Approx(60.0 / 0.5625 * 6 / 800));
  // and its bytes stream like the others': 12/20 = 0.6 of the triad at 1 thread, 30/40 = 0.75 at 2;
  // the scalar is the median of the formats' bests 0.9, 0.85, 0.75
  CHECK(j["bandwidth_efficiency_by_format"]["q4_0"].get<double>() == doctest::Approx(0.6));
  CHECK(j["bandwidth_efficiency_by_format_parallel"]["q4_0"].get<double>() == doctest::Approx(0.75));
  CHECK(j["bandwidth_efficiency"].get<double>() == doctest::Approx(0.85));
}

TEST_CASE("reference_cpu_ops: bandwidth_efficiency_by_format: each memory-bound format's best ratio, none for dot-bound formats") {
  const json j = reference_cpu_ops(hand_probe());
  // Per thread count: q8_0 18/20 = 0.9 at 1 thread, 30/40 = 0.75 at 2; f16 16/20 = 0.8, 34/40 = 0.85;
  // q4_0 (dot-bound) absent. The scalar stays the median of each format's best: 0.9, 0.85 -> 0.875.
  const json& t = j["bandwidth_efficiency_by_format"];
  const json& tp = j["bandwidth_efficiency_by_format_parallel"];
  CHECK(t.size() == 2);
  CHECK(t["q8_0"].get<double>() == doctest::Approx(0.9));
  CHECK(t["f16"].get<double>() == doctest::Approx(0.8));
  CHECK(tp["q8_0"].get<double>() == doctest::Approx(0.75));
  CHECK(tp["f16"].get<double>() == doctest::Approx(0.85));
  CHECK_FALSE(t.contains("q4_0"));
  CHECK_FALSE(tp.contains("q4_0"));
  CHECK(j["bandwidth_efficiency"].get<double>() == doctest::Approx(0.875));
}

TEST_CASE("reference_cpu_ops: a pass-by-pass paired ratio (matvec_of_triad) replaces stream / triad where measured") {
  ProbeResult r = hand_probe();
  for (auto& k : r.kernels)
    if (k.format == "q8_0" && k.threads == 2) k.matvec_of_triad = 0.62;  // stream / triad would read 30/40 = 0.75
  const json j = reference_cpu_ops(r);
  CHECK(j["bandwidth_efficiency_by_format_parallel"]["q8_0"].get<double>() == doctest::Approx(0.62));
  CHECK(j["bandwidth_efficiency_by_format"]["q8_0"].get<double>() == doctest::Approx(0.9));  // 1 thread: unpaired, 18/20
  CHECK(j["bandwidth_efficiency_by_format_parallel"]["f16"].get<double>() == doctest::Approx(0.85));
  // and it round-trips through the probe's JSON
  const ProbeResult back = probe_from_json(probe_device_json(r, "paired"), "paired.json");
  const KernelRate* k = back.kernel_at("q8_0", 2);
  REQUIRE(k != nullptr);
  CHECK(k->matvec_of_triad == doctest::Approx(0.62));
  CHECK(back.kernel_at("q8_0", 1)->matvec_of_triad == 0);
}

TEST_CASE("reference_cpu_ops: the batch time ratios at 1 and N threads reach the engine file and round-trip") {
  ProbeResult r = hand_probe();
  for (auto& k : r.kernels)
    if (k.format == "q8_0") k.batch_time_ratio = {{2, 1.25 * k.threads}, {32, 10.0 * k.threads}};
  const json j = reference_cpu_ops(r);
  CHECK(j["matmul_batch_time_ratio"]["q8_0"]["2"].get<double>() == doctest::Approx(1.25));
  CHECK(j["matmul_batch_time_ratio"]["q8_0"]["32"].get<double>() == doctest::Approx(10.0));
  CHECK(j["matmul_batch_time_ratio_parallel"]["q8_0"]["2"].get<double>() == doctest::Approx(2.5));
  CHECK_FALSE(j["matmul_batch_time_ratio"].contains("f16"));  // not measured: absent
  CHECK_FALSE(reference_cpu_ops(hand_probe()).contains("matmul_batch_time_ratio"));
  const EngineProfile p = parse_engine(
      reference_engine_json(read_json_file(data_path("hwdb/engines/reference.json")), j, r, "reference-box"), "e.json");
  REQUIRE(p.thr.cpu_kernel.matmul_batch_time_ratio_parallel.size() == 1);
  CHECK(p.thr.cpu_kernel.matmul_batch_time_ratio_parallel[0].second == std::vector<std::pair<int, double>>{{2, 2.5}, {32, 20.0}});
  const ProbeResult back = probe_from_json(probe_device_json(r, "batch"), "batch.json");
  REQUIRE(back.kernel_at("q8_0", 2) != nullptr);
  CHECK(back.kernel_at("q8_0", 2)->batch_time_ratio == std::vector<std::pair<int, double>>{{2, 2.5}, {32, 20.0}});
  CHECK(back.kernel_at("f16", 2)->batch_time_ratio.empty());
}

TEST_CASE("reference_engine_json: the attention call costs and the per-format bandwidth table reach the engine file, sourced") {
  ProbeResult r = two_depth_probe();
  r.hostname = "box";
  r.date_utc = "2026-11-29T21:00:00Z";
  const json base = read_json_file(data_path("hwdb/engines/reference.json"));
  const json e = reference_engine_json(base, reference_cpu_ops(r), r, "reference-box");
  const EngineProfile p = parse_engine(e, "probe-engine.json");
  int with_call = 0;
  for (const auto& o : p.thr.cpu_kernel.cpu_ops) {
    if (o.phase != "decode" || (o.op != "attn_scores" && o.op != "attn_values")) continue;
    CHECK(o.call_s == doctest::Approx(5e-6));
    CHECK(o.call_parallel_s == doctest::Approx(10e-6));
    ++with_call;
  }
  CHECK(with_call == 2);
  REQUIRE(p.thr.cpu_kernel.bandwidth_efficiency_by_format.size() == 2);
  CHECK(e["throughput"]["cpu_ops"]["bandwidth_efficiency_by_format"]["q8_0"].get<double>() == doctest::Approx(0.9));
  for (const char* k : {"throughput.cpu_ops.decode.attention", "throughput.cpu_ops.bandwidth_efficiency_by_format"}) {
    CAPTURE(k);
    REQUIRE(e["sources"].contains(k));
    CHECK(e["sources"][k].get<std::string>().find("box") != std::string::npos);
  }
  // A probe without the table or the fit leaves none of the base's values behind.
  json ops = reference_cpu_ops(hand_probe());
  ops.erase("bandwidth_efficiency_by_format");
  const json e2 = reference_engine_json(base, ops, r, "reference-box");
  CHECK_FALSE(e2["throughput"]["cpu_ops"].contains("bandwidth_efficiency_by_format"));
  CHECK_FALSE(e2["throughput"]["cpu_ops"]["decode"]["attn_scores"].contains("call_s"));
}

TEST_CASE("median_constants: numbers by their median, flags by the majority, keys most runs have") {
  const json a = {{"bandwidth_efficiency", 0.8}, {"decode", {{"act", {{"efficiency", 0.1}, {"serial", true}}}}}, {"only_a", 1.0}};
  const json b = {{"bandwidth_efficiency", 0.95}, {"decode", {{"act", {{"efficiency", 0.3}, {"serial", false}}}}}};
  const json c = {{"bandwidth_efficiency", 0.9}, {"decode", {{"act", {{"efficiency", 0.2}, {"serial", true}}}}}, {"bc", 2.0}};
  const json m = median_constants({a, b, c});
  CHECK(m["bandwidth_efficiency"].get<double>() == doctest::Approx(0.9));
  CHECK(m["decode"]["act"]["efficiency"].get<double>() == doctest::Approx(0.2));
  CHECK(m["decode"]["act"]["serial"].get<bool>());
  CHECK_FALSE(m.contains("only_a"));  // one run of three
  CHECK_FALSE(m.contains("bc"));
  CHECK(median_constants({a}) == a);
  CHECK(median_constants({}).empty());
  // Three identical runs of real constants give them back unchanged.
  const json r1 = reference_cpu_ops(hand_probe());
  const json med = median_constants({r1, r1, r1});
  CHECK(med == r1);
}

TEST_CASE("the probe's constants live in the device file: --engine reference on it equals the probe's engine file") {
  ProbeResult r = hand_probe();
  r.hostname = "box";
  r.date_utc = "2026-11-29T21:00:00Z";
  r.isa = "avx2";
  r.attention_reads_f16 = true;
  const json ops = reference_cpu_ops(r);
  json dev = probe_device_json(r, "box");
  dev["measured"]["reference_engine_throughput"] = ops;
  const std::string file = (std::filesystem::temp_directory_path() / ("gemmasim_probe_dev_" + std::to_string(::getpid()) + ".json")).string();
  std::ofstream(file) << dev.dump();
  const System s = resolve_hardware(file);
  const EngineProfile bundled = resolve_engine("reference");
  CHECK(bundled.throughput_from == "device");
  const EngineProfile on_box = resolve_engine_for("reference", s);
  const EngineProfile from_file =
      parse_engine(reference_engine_json(read_json_file(data_path("hwdb/engines/reference.json")), ops, r, "reference-box"), "x.json");
  CHECK(from_file.throughput_from.empty());  // an engine file of one machine takes nothing from a device file
  CHECK(on_box.thr.cpu_kernel.matmul_call_s == doctest::Approx(2e-6).scale(0));
  CHECK(on_box.thr.cpu_kernel.matmul_call_s == from_file.thr.cpu_kernel.matmul_call_s);
  CHECK(on_box.thr.bandwidth_efficiency == from_file.thr.bandwidth_efficiency);
  CHECK(on_box.thr.moe_prefill_efficiency == from_file.thr.moe_prefill_efficiency);
  CHECK(on_box.thr.cpu_kernel.matvec_compute_efficiency == from_file.thr.cpu_kernel.matvec_compute_efficiency);
  // the same estimate either way; and not the bundled default's
  Workload wl;
  wl.prompt_tokens = 64;
  wl.gen_tokens = 8;
  const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q8_0"));
  const Estimate a = estimate(mo, prepare_hardware(s, on_box), {}, wl);
  const Estimate b = estimate(mo, prepare_hardware(s, from_file), {}, wl);
  const Estimate c = estimate(mo, prepare_hardware(s, bundled), {}, wl);
  CHECK(a.tpot_s == doctest::Approx(b.tpot_s).scale(0));
  CHECK(a.ttft_s == doctest::Approx(b.ttft_s).scale(0));
  CHECK(a.ttft_s != doctest::Approx(c.ttft_s).scale(0));
  // a device file without a probe keeps the bundled default
  CHECK(resolve_engine_for("reference", resolve_hardware("i5-8500")).thr.cpu_kernel.matmul_call_s == bundled.thr.cpu_kernel.matmul_call_s);
  std::remove(file.c_str());
}
