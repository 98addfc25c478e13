// test_probe.cpp: the machine probe (small sizes: these are behaviour tests, not
// measurements): triad arithmetic and bounds, kernel rates, the device file it
// writes loads as hardware, and the CLI's answers to bad flags.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "error.h"
#include "hardware.h"
#include "probe.h"

using namespace gs;
using namespace gs::ref;
using namespace gs::measure;
namespace fs = std::filesystem;

namespace {

// A probe at small sizes: triad arrays of 8 MiB, the Q4_0 kernel over 4 MiB, op rates as default.
ProbeOptions small_probe(int max_threads, int triad_reps) {
  ProbeOptions o;
  o.max_threads = max_threads;
  o.triad_array_bytes = 8LL << 20;
  o.triad_reps = triad_reps;
  o.kernels = true;
  o.formats = {"q4_0"};
  o.kernel_matvec_bytes = 4LL << 20;
  return o;
}

// The smallest probe result a device file holds, with these op rates.
ProbeResult probe_with_ops(const std::vector<OpRate>& v) {
  ProbeResult r;
  r.cpu_name = "test";
  r.cores = 1;
  r.memory_bytes = 1LL << 30;
  r.triad.push_back({1, 1e10, 1e10, 1, 8 << 20});
  r.op_rates = v;
  return r;
}

}  // namespace

TEST_CASE("the triad reports best >= median > 0 and the array size it used") {
  const TriadResult t = triad_bandwidth(8LL << 20, 1, 3);
  CHECK(t.threads == 1);
  CHECK(t.reps == 3);
  CHECK(t.array_bytes == (8LL << 20));
  CHECK(t.median_bytes_per_s > 1e8);   // any machine moves more than 0.1 GB/s
  CHECK(t.best_bytes_per_s >= t.median_bytes_per_s);
  CHECK(t.best_bytes_per_s < 1e13);    // and less than 10 TB/s from one core
}

TEST_CASE("triad arrays: allocated once, measured again over all or a prefix of each array") {
  const TriadArrays a(8LL << 20, 2);
  CHECK(a.array_bytes() == (8LL << 20));
  const TriadResult whole = a.measure(1, 2), half = a.measure(2, 2, 4LL << 20), over = a.measure(1, 1, 64LL << 20);
  CHECK(whole.array_bytes == (8LL << 20));
  CHECK(half.array_bytes == (4LL << 20));
  CHECK(half.threads == 2);
  CHECK(over.array_bytes == (8LL << 20));  // a prefix longer than the arrays is the arrays
  for (const TriadResult& t : {whole, half, over}) {
    CHECK(t.median_bytes_per_s > 1e8);
    CHECK(t.best_bytes_per_s >= t.median_bytes_per_s);
  }
  CHECK_THROWS_AS(a.measure(0, 1), InputError);
  CHECK_THROWS_AS(a.measure(1, 0), InputError);
  CHECK_THROWS_AS(TriadArrays(100, 1), InputError);
  CHECK_THROWS_AS(TriadArrays(8LL << 20, 0), InputError);
}

TEST_CASE("vector peaks: an int8 peak wherever there is an fp32 one, within what the instructions can do") {
  // The best of 6 probes of each rate: the two loops are timed apart, and under load (ctest -j2
  // beside a build) one FMA measurement can read half the peak, which breaks the ratio bound.
  PeakRates p = vector_peaks(1);
  for (int i = 0; i < 5; ++i) {
    const PeakRates q = vector_peaks(1);
    p.fp32_flops_per_s = std::max(p.fp32_flops_per_s, q.fp32_flops_per_s);
    p.int8_ops_per_s = std::max(p.int8_ops_per_s, q.int8_ops_per_s);
  }
  if (p.fp32_flops_per_s <= 0) {
    MESSAGE("skipped: no AVX2 / AVX-512 on this CPU, so no vector peaks to check");
    return;
  }
  REQUIRE(p.int8_ops_per_s > 0);
  // Per instruction: 8 FMA lanes x 2 FLOP against 32 u8 x s8 products x 2 OP (AVX2 maddubs,
  // with a madd and an add beside it) or, per 512-bit vpdpbusd, 4x the FMA's work at the same
  // issue rate: int8 / fp32 is at most 4 (the AVX2 step reads 1.0 here). The first AVX2 loop,
  // whose constant multiplies GCC took out of the loop, read 11-14x; twice the bound leaves
  // room for noise.
  CHECK(p.int8_ops_per_s < 8 * p.fp32_flops_per_s);
  CHECK(p.int8_ops_per_s > 0.1 * p.fp32_flops_per_s);
}

TEST_CASE("absurd triad sizes, threads or repetitions are an InputError") {
  CHECK_THROWS_AS(triad_bandwidth(100, 1, 1), InputError);
  CHECK_THROWS_AS(triad_bandwidth(1LL << 50, 1, 1), InputError);
  CHECK_THROWS_AS(triad_bandwidth(8LL << 20, 0, 1), InputError);
  CHECK_THROWS_AS(triad_bandwidth(8LL << 20, 1, 0), InputError);
}

TEST_CASE("kernel rates of every format are positive; an unknown format is an InputError") {
  for (const char* f : {"f32", "q8_0", "q4_0", "q4_k"}) {
    CAPTURE(f);
    const KernelRate k = kernel_rate(f, 1, 4LL << 20, 16);
    CHECK(k.matvec_weight_bytes_per_s > 1e7);
    CHECK(k.matvec_cached_weight_bytes_per_s > 1e7);
    CHECK(k.matmul_flops_per_s > 1e7);
    CHECK(k.matvec_of_triad == 0);  // no triad paired with it
    // a step of 2 .. 32 tokens over the same weights: longer than one token's, 32 longer than 2
    REQUIRE(k.batch_time_ratio.size() == 5);
    CHECK(k.batch_time_ratio.front().first == 2);
    CHECK(k.batch_time_ratio.back().first == 32);
    CHECK(k.batch_time_ratio.back().second > k.batch_time_ratio.front().second);
    CHECK(k.batch_time_ratio.back().second > 1.5);
  }
  // Paired with a triad pass before each timed pass: the median ratio, near stream / triad.
  const TriadArrays a(8LL << 20, 1);
  const KernelRate p = kernel_rate("q8_0", 1, 4LL << 20, 16, &a, 8LL << 20);
  CHECK(p.matvec_of_triad > 0.01);
  CHECK(p.matvec_of_triad < 100);
  CHECK_THROWS_AS(kernel_rate("q3_k", 1, 4LL << 20), InputError);
}

TEST_CASE("cache sizes grow with the level when the system reports them") {
  const CacheSizes c = cache_sizes();
  if (c.l1d_bytes > 0 && c.l2_bytes > 0) CHECK(c.l2_bytes > c.l1d_bytes);
  if (c.l2_bytes > 0 && c.l3_bytes > 0) CHECK(c.l3_bytes >= c.l2_bytes);
  CHECK(usable_cores() >= 1);
}

TEST_CASE("the probe's device file loads as hardware and round-trips its measurements") {
  const ProbeResult r = probe_machine(small_probe(1, 2));
  REQUIRE(r.triad.size() == 1);
  REQUIRE(r.kernels.size() == 1);
  const json j = probe_device_json(r, "probe-test");
  const fs::path p = fs::temp_directory_path() / ("gemmasim_probe_test_" + std::to_string(::getpid()) + ".json");
  std::ofstream(p) << j.dump(2);
  const Device d = load_device_file(p.string());
  CHECK(d.kind == "cpu");
  CHECK(d.id == "probe-test");
  CHECK(d.memory_bandwidth_bytes_per_s == doctest::Approx(r.triad[0].best_bytes_per_s));
  CHECK(d.memory_bytes == doctest::Approx(static_cast<double>(r.memory_bytes)));
  for (const auto& [k, v] : d.peak_flops_per_s) CHECK(j["sources"].contains("peak_flops_per_s." + k));
  const System s = resolve_hardware(p.string());  // --hw FILE
  CHECK(s.host.id == "probe-test");
  const ProbeResult back = probe_from_json(j, p.string());
  REQUIRE(back.triad.size() == 1);
  CHECK(back.triad[0].median_bytes_per_s == doctest::Approx(r.triad[0].median_bytes_per_s));
  REQUIRE(back.kernels.size() == 1);
  CHECK(back.kernels[0].format == "q4_0");
  CHECK(back.kernels[0].matvec_weight_bytes_per_s == doctest::Approx(r.kernels[0].matvec_weight_bytes_per_s));
  CHECK(back.kernels[0].matvec_cached_weight_bytes_per_s == doctest::Approx(r.kernels[0].matvec_cached_weight_bytes_per_s));
  fs::remove(p);
  // A device file without the probe's measurements is not a probe file.
  json plain = j;
  plain.erase("measured");
  CHECK_THROWS_AS(probe_from_json(plain, "plain.json"), InputError);
}

TEST_CASE("the probe measures the triad at every thread count, the kernel rates at 1 and N only") {
  ProbeOptions o = small_probe(3, 1);
  o.op_rates = false;
  const ProbeResult r = probe_machine(o);
  REQUIRE(r.triad.size() == 3);
  REQUIRE(r.peaks.size() == 3);
  REQUIRE(r.kernels.size() == 2);
  CHECK(r.kernels[0].threads == 1);
  CHECK(r.kernels[1].threads == 3);
  CHECK(r.kernel_at("q4_0", 2) == nullptr);
  for (const KernelRate& k : r.kernels) CHECK(k.matvec_of_triad > 0);  // paired with the probe's triad
}

TEST_CASE("gemmasim probe writes a loadable file; bad flags exit 2 with one line") {
  const std::string out = (fs::temp_directory_path() / ("gemmasim_probe_cli_" + std::to_string(::getpid()) + ".json")).string();
  const CliResult r = run_cli("probe --threads 1 --array-mib 8 --reps 2 --no-kernels -o " + out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("triad") != std::string::npos);
  CHECK_NOTHROW(resolve_hardware(out));
  fs::remove(out);
  for (const char* bad : {"probe --threads -1", "probe --array-mib 0", "probe --reps 0",
                          "probe --no-ops --engine-out /tmp/gemmasim-never-written.json"}) {
    CAPTURE(bad);
    const CliResult e = run_cli(bad);
    CHECK(e.code == 2);
    CHECK(e.err_lines() == 1);
  }
}

TEST_CASE("per-op rates of the probe model: every non-matmul op is counted and timed in both phases; they round-trip") {
  const std::vector<OpRate> v = kernel_op_rates(1, 8, 2, 40);
  for (const char* phase : {"prefill", "decode"})
    for (const char* op : {"norms", "rope", "act", "residual", "softcap", "attn_scores", "ffn_up", "output_head"}) {
      CAPTURE(phase);
      CAPTURE(op);
      const auto it = std::find_if(v.begin(), v.end(), [&](const OpRate& r) { return r.op == op && r.phase == phase; });
      REQUIRE(it != v.end());
      CHECK(it->threads == 1);
      CHECK(it->flops > 0);
      CHECK(it->time_s > 0);
      CHECK(it->calls > 0);
    }
  // Decode runs one token per step: 8x fewer FLOP in the FFN than the 8-token prefill, 2 steps.
  auto flops = [&](const char* op, const char* phase) {
    for (const auto& r : v)
      if (r.op == op && r.phase == phase) return r.flops;
    return 0.0;
  };
  CHECK(flops("ffn_up", "decode") == doctest::Approx(flops("ffn_up", "prefill") * 2.0 / 8.0));
  // The deep decode steps run the same matmuls over more keys (40 positions against 9-10).
  CHECK(flops("ffn_up", "decode_deep") == doctest::Approx(flops("ffn_up", "decode")));
  CHECK(flops("attn_scores", "decode_deep") > 3 * flops("attn_scores", "decode"));
  CHECK(flops("ffn_up", "prefill_deep") == doctest::Approx(flops("ffn_up", "prefill")));
  CHECK(flops("attn_scores", "prefill_deep") > 3 * flops("attn_scores", "prefill"));
  const std::vector<OpRate> shallow = kernel_op_rates(1, 8, 2, 8);  // depth already reached: no deep phases
  CHECK(std::none_of(shallow.begin(), shallow.end(), [](const OpRate& r) { return r.phase.find("_deep") != std::string::npos; }));
  const double call = matmul_call_seconds(1);
  CHECK(call > 0);
  CHECK(call < 0.01);
  ProbeResult r = probe_with_ops(v);
  r.call_costs.push_back({1, call});
  const ProbeResult back = probe_from_json(probe_device_json(r, "t"), "t.json");
  REQUIRE(back.op_rates.size() == v.size());
  const OpRate* a = back.op_rate_at("act", "decode", 1);
  REQUIRE(a != nullptr);
  CHECK(a->flops == doctest::Approx(flops("act", "decode")));
  REQUIRE(back.call_cost_at(1) != nullptr);
  CHECK(back.call_cost_at(1)->matmul_call_s == doctest::Approx(call));
}

TEST_CASE("page-cache figures: a read fault makes at least a page resident, at most the half file touched; a cold read is timed") {
  const std::string dir = fs::temp_directory_path().string();
  const FileCacheRates f = file_cache_rates(dir, 32LL << 20, 4);
  CHECK(f.cold_read_bytes_per_s > 1e6);
  CHECK(f.fault_bytes >= 4096);
  CHECK(f.fault_bytes <= (16LL << 20) / 4.0 + 4 * (2 << 20));  // a touch maps its unit, not the file
  CHECK(file_cache_rates(dir, 1 << 20, 4).fault_bytes == 0);   // too small to measure: zeros
  CHECK(file_cache_rates("/nonexistent-dir-gemmasim", 32LL << 20, 4).cold_read_bytes_per_s == 0);
  CHECK(reread_file("/nonexistent-file-gemmasim") == 0);
  // The figures round-trip through the device file.
  ProbeResult r;
  r.cpu_name = "t";
  r.memory_bytes = 1LL << 30;
  r.triad.push_back({1, 1e10, 1e10, 1, 8 << 20});
  r.cores = 1;
  r.file_cache = {2097152, 2.5e9};
  const ProbeResult back = probe_from_json(probe_device_json(r, "t"), "t.json");
  CHECK(back.file_cache.fault_bytes == 2097152);
  CHECK(back.file_cache.cold_read_bytes_per_s == doctest::Approx(2.5e9));
}

TEST_CASE("page-cache residency of a file: all of it after a read, little after a drop") {
  const std::string p = (fs::temp_directory_path() / ("gemmasim_resident_" + std::to_string(::getpid()) + ".bin")).string();
  std::ofstream(p, std::ios::binary) << std::string(8 << 20, 'x');
  CHECK(reread_file(p) > 0);  // drop, then read: in the page cache again
  CHECK(resident_share(p) > 0.9);
  CHECK(drop_file_pages(p));
  CHECK(resident_share(p) < 0.5);
  fs::remove(p);
  CHECK(resident_share(p) == -1);
  CHECK_FALSE(drop_file_pages(p));
}

TEST_CASE("decode attention of the attention probe model at two depths: same calls, more FLOP at the far one; depths round-trip") {
  const std::vector<OpRate> v = attention_depth_rates(1, 40, 120, 2);
  REQUIRE(v.size() == 9);  // scores, softmax, values in each of the three phases, nothing else
  auto at = [&](const char* op, const char* phase) -> const OpRate& {
    const auto it = std::find_if(v.begin(), v.end(), [&](const OpRate& r) { return r.op == op && r.phase == phase; });
    REQUIRE(it != v.end());
    return *it;
  };
  for (const char* phase : {"decode_attn_near", "decode_attn_far"})
    for (const char* op : {"attn_scores", "attn_softmax", "attn_values"}) {
      CAPTURE(phase);
      CAPTURE(op);
      CHECK(at(op, phase).threads == 1);
      CHECK(at(op, phase).flops > 0);
      CHECK(at(op, phase).calls == 4 * 2);  // one attend() per layer (4) per step (2)
    }
  CHECK(at("attn_scores", "decode_attn_near").time_s > 0);
  CHECK(at("attn_scores", "decode_attn_far").time_s > 0);
  // The depth at the first step of the round that counts (one uncounted step follows each fill,
  // then 3 rounds of 2 steps: 41, 43 or 45 near, 121, 123 or 125 far), all four layers below the
  // 512 window, so the FLOP grow with the keys read: (dfar+1 + dfar+2) / (dnear+1 + dnear+2).
  const double dn = static_cast<double>(at("attn_scores", "decode_attn_near").depth);
  const double df = static_cast<double>(at("attn_scores", "decode_attn_far").depth);
  CHECK((dn == 41 || dn == 43 || dn == 45));
  CHECK((df == 121 || df == 123 || df == 125));
  const double ratio = at("attn_scores", "decode_attn_far").flops / at("attn_scores", "decode_attn_near").flops;
  CHECK(ratio == doctest::Approx((df + 1 + df + 2) / (dn + 1 + dn + 2)));
  // The 64-token prompt at the far depth: 4 attend() calls (one per layer), its queries each
  // seeing the far depth's keys and more (all below the window).
  const OpRate& pf = at("attn_scores", "prefill_attn_far");
  CHECK(pf.calls == 4);
  CHECK(pf.depth >= 125);
  const double keys = 64.0 * static_cast<double>(pf.depth) + 64.0 * 65.0 / 2.0;  // sum over the prompt of (depth + t + 1)
  CHECK(pf.flops == doctest::Approx(at("attn_scores", "decode_attn_far").flops * keys /
                                    (2.0 * static_cast<double>(df) + 3.0)));
  // Out of the model's context: nothing measured.
  CHECK(attention_depth_rates(1, 40, 1 << 20, 2).empty());
  // The depth round-trips through the device file; the fit reads the phases back.
  const ProbeResult r = probe_with_ops(v);
  const ProbeResult back = probe_from_json(probe_device_json(r, "t"), "t.json");
  REQUIRE(back.op_rate_at("attn_values", "decode_attn_far", 1) != nullptr);
  CHECK(back.op_rate_at("attn_values", "decode_attn_far", 1)->depth == static_cast<std::int64_t>(df));
  CHECK(fit_attention(back, 1).ok);
}

TEST_CASE("validate reuses a fresh probe of this machine from the cache, not one of another machine") {
  namespace fs = std::filesystem;
  const fs::path cache = fs::temp_directory_path() / ("gemmasim_probe_cache_" + std::to_string(::getpid()));
  fs::create_directories(cache / "gemmasim");
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string old_value = old ? old : "";
  ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  char now[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  // a probe of this CPU taken now, with constants, at 1 and 2 threads
  gs::measure::ProbeResult me = gs::measure::this_cpu();
  me.date_utc = now;
  me.memory_bytes = 1LL << 34;
  me.triad = {{1, 20e9, 20e9, 1, 1 << 20}, {2, 40e9, 40e9, 1, 1 << 20}};
  me.peaks = {{1, 100e9, 400e9}, {2, 200e9, 800e9}};
  nlohmann::json dev = gs::measure::probe_device_json(me, "this-machine");
  dev["measured"]["reference_engine_throughput"] = {{"bandwidth_efficiency", 0.9}};
  std::ofstream(cache / "gemmasim" / "probe-this-machine.json") << dev.dump();
  // every configuration skipped by the time rule: only the probe step and the reports run
  const CliResult fresh = run_cli("validate --quick --max-run-s 0.000001 --out-dir " + (cache / "out").string());
  CHECK(fresh.code == 0);
  CHECK(fresh.err.find("probe: reusing") != std::string::npos);
  // which probes are reused: this CPU's, fresh, with constants and the thread count asked for
  const gs::measure::ProbeResult cpu = gs::measure::this_cpu();
  CHECK(gs::measure::probe_reusable(dev, cpu, 2, t));
  CHECK_FALSE(gs::measure::probe_reusable(dev, cpu, 4, t));                // no triad at 4 threads
  CHECK_FALSE(gs::measure::probe_reusable(dev, cpu, 2, t + 25 * 3600));    // a day later
  CHECK_FALSE(gs::measure::probe_reusable(dev, cpu, 2, t + 2 * 3600));     // two hours later
  CHECK(gs::measure::probe_reusable(dev, cpu, 2, t + 1800));               // half an hour later
  nlohmann::json older = dev;
  older["measured"]["probe_version"] = gs::measure::kProbeVersion - 1;    // by an older probe
  CHECK_FALSE(gs::measure::probe_reusable(older, cpu, 2, t));
  CHECK_FALSE(gs::measure::probe_reusable(dev, cpu, 2, t - 3600));         // dated in the future
  gs::measure::ProbeResult other = cpu;
  other.cpu_name += " (another)";
  CHECK_FALSE(gs::measure::probe_reusable(dev, other, 2, t));
  other = cpu;
  other.cores += 1;
  CHECK_FALSE(gs::measure::probe_reusable(dev, other, 2, t));
  nlohmann::json bare = dev;
  bare["measured"].erase("reference_engine_throughput");
  CHECK_FALSE(gs::measure::probe_reusable(bare, cpu, 2, t));
  CHECK_FALSE(gs::measure::probe_reusable(nlohmann::json::object(), cpu, 2, t));
  if (old) ::setenv("XDG_CACHE_HOME", old_value.c_str(), 1);
  else ::unsetenv("XDG_CACHE_HOME");
  fs::remove_all(cache);
}
