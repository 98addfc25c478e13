// probe_device_file.cpp: a probe result as a hwdb device file (hwdb/README.md schema),
// and back (validate reuses a recent probe file).
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "error.h"
#include "probe.h"
#include "units.h"
#include "text.h"

namespace gs::measure {

namespace {

std::string gbs(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v / kGB);
  return b;
}

}  // namespace

json probe_device_json(const ProbeResult& r, const std::string& id) {
  if (r.triad.empty()) input_error("probe: no triad measurement to write");
  const TriadResult& tb = r.triad.back();  // all threads
  const int N = tb.threads;
  const PeakRates* pk = r.peaks_at(N);
  std::string vendor = lower(r.vendor);
  if (vendor.find("amd") != std::string::npos) vendor = "amd";
  else if (vendor.find("intel") != std::string::npos) vendor = "intel";
  const std::string where = "measured: gemmasim probe on " + r.hostname + ", " + r.date_utc;

  json j = {{"schema_version", 1},
            {"id", id},
            {"name", r.cpu_name + " (" + std::to_string(r.cores) + " usable cores, probed " + r.date_utc.substr(0, 10) + ")"},
            {"kind", "cpu"},
            {"vendor", vendor.empty() ? "unknown" : vendor},
            {"backend", "cpu"},
            {"arch", "x86-64-" + r.isa},
            {"memory_bytes", r.memory_bytes},
            {"memory_type", "unknown (measured machine)"},
            {"memory_bandwidth_bytes_per_s", tb.best_bytes_per_s},
            {"measured_bandwidth_bytes_per_s", tb.median_bytes_per_s},
            {"cores", r.cores}};
  json sources = {
      {"memory_bytes", where + ": sysconf(_SC_PHYS_PAGES) x page size"},
      {"memory_bandwidth_bytes_per_s",
       where + ": STREAM triad best of " + std::to_string(tb.reps) + " at " + std::to_string(N) + " threads, 3 x " +
           std::to_string(tb.array_bytes >> 20) + " MiB arrays, 24 bytes per element = " + gbs(tb.best_bytes_per_s) +
           " GB/s (stands in for the unknown theoretical peak)"},
      {"measured_bandwidth_bytes_per_s", where + ": STREAM triad median = " + gbs(tb.median_bytes_per_s) + " GB/s"},
      {"cores", where + ": sched_getaffinity CPU count"}};
  if (pk && pk->fp32_flops_per_s > 0) {
    j["peak_flops_per_s"]["fp32"] = pk->fp32_flops_per_s;
    sources["peak_flops_per_s.fp32"] = where + ": register-only FMA loop (12 chains) on " + std::to_string(N) + " threads";
  }
  if (pk && pk->int8_ops_per_s > 0) {
    j["peak_flops_per_s"]["int8"] = pk->int8_ops_per_s;
    const std::string loop = r.isa == "avx512" ? "register-only AVX-512 VNNI vpdpbusd loop (12 chains)"
                                               : "register-only AVX2 maddubs loop (8 chains, int16 sums over 8 steps, then madd: the tiles' step)";
    sources["peak_flops_per_s.int8"] = where + ": " + loop + " on " + std::to_string(N) + " threads";
  }
  sources["measured"] = where + ": per thread count; kernel rates of reference/qmatrix.h matmul (T=1: weight bytes/s over a 256 MiB matrix; T=512: FLOP/s)";
  j["sources"] = sources;

  json m = {{"date_utc", r.date_utc}, {"hostname", r.hostname}, {"cpu", r.cpu_name}, {"isa", r.isa},
            {"attention_reads_f16", r.attention_reads_f16},
            {"cores", r.cores}, {"hardware_threads", r.hardware_threads},
            {"caches", {{"l1d_bytes", r.caches.l1d_bytes}, {"l2_bytes", r.caches.l2_bytes}, {"l3_bytes", r.caches.l3_bytes}}},
            {"probe_seconds", r.seconds}};
  m["triad"] = json::array();
  for (const auto& t : r.triad)
    m["triad"].push_back({{"threads", t.threads}, {"best_bytes_per_s", t.best_bytes_per_s},
                          {"median_bytes_per_s", t.median_bytes_per_s}, {"reps", t.reps}, {"array_bytes", t.array_bytes}});
  m["peaks"] = json::array();
  for (const auto& p : r.peaks)
    m["peaks"].push_back({{"threads", p.threads}, {"fp32_flops_per_s", p.fp32_flops_per_s}, {"int8_ops_per_s", p.int8_ops_per_s}});
  m["kernels"] = json::array();
  for (const auto& k : r.kernels) {
    json kj = {{"format", k.format}, {"threads", k.threads},
               {"matvec_weight_bytes_per_s", k.matvec_weight_bytes_per_s},
               {"matvec_cached_weight_bytes_per_s", k.matvec_cached_weight_bytes_per_s},
               {"matmul_flops_per_s", k.matmul_flops_per_s}, {"triad_bytes_per_s", k.triad_bytes_per_s},
               {"fp32_flops_per_s", k.fp32_flops_per_s}, {"int8_ops_per_s", k.int8_ops_per_s},
               {"matmul64_flops_per_s", k.matmul64_flops_per_s}, {"matvec_of_triad", k.matvec_of_triad}};
    for (const auto& [T, ratio] : k.batch_time_ratio) kj["batch_time_ratio"][std::to_string(T)] = ratio;
    m["kernels"].push_back(kj);
  }
  m["op_rates"] = json::array();
  for (const auto& o : r.op_rates)
    m["op_rates"].push_back({{"op", o.op}, {"phase", o.phase}, {"threads", o.threads}, {"flops", o.flops},
                             {"bytes", o.bytes}, {"time_s", o.time_s}, {"calls", o.calls}, {"depth", o.depth}});
  m["call_costs"] = json::array();
  for (const auto& c : r.call_costs)
    m["call_costs"].push_back({{"threads", c.threads}, {"matmul_call_s", c.matmul_call_s},
                               {"expert_matvec_bytes_per_s", c.expert_matvec_bytes_per_s},
                               {"expert_t4_flops_per_s", c.expert_t4_flops_per_s}});
  if (r.file_cache.fault_bytes > 0 || r.file_cache.cold_read_bytes_per_s > 0)
    m["file_cache"] = {{"fault_bytes", r.file_cache.fault_bytes}, {"cold_read_bytes_per_s", r.file_cache.cold_read_bytes_per_s}};
  m["probe_version"] = kProbeVersion;
  j["measured"] = m;
  return j;
}

ProbeResult probe_from_json(const json& device, const std::string& file) {
  JsonReader r(device, file);
  if (!r.has("measured")) r.fail("no 'measured' object: not a file written by gemmasim probe");
  const JsonReader m = r.at("measured");
  ProbeResult p;
  p.cpu_name = m.str_or("cpu", "");
  p.isa = m.str_or("isa", "");
  // older probe files lack the key: then only the AVX-512 form read the f16 cache in place
  p.attention_reads_f16 = m.bool_or("attention_reads_f16", p.isa == "avx512");
  p.hostname = m.str_or("hostname", "");
  p.date_utc = m.str_or("date_utc", "");
  p.cores = static_cast<int>(m.int_or("cores", 1, 1, 100000));
  p.memory_bytes = static_cast<std::int64_t>(r.at("memory_bytes").num(1e6, 1e15));
  const JsonReader tr = m.at("triad");
  for (std::size_t i = 0; i < tr.size(); ++i) {
    const JsonReader t = tr.at(i);
    TriadResult x;
    x.threads = static_cast<int>(t.at("threads").integer(1, 100000));
    x.best_bytes_per_s = t.at("best_bytes_per_s").num(1e6, 1e14);
    x.median_bytes_per_s = t.at("median_bytes_per_s").num(1e6, 1e14);
    x.reps = static_cast<int>(t.int_or("reps", 1, 1, 1000000));
    x.array_bytes = static_cast<std::int64_t>(t.num_or("array_bytes", 0, 0, 1e15));
    p.triad.push_back(x);
  }
  if (m.has("peaks")) {
    const JsonReader pk = m.at("peaks");
    for (std::size_t i = 0; i < pk.size(); ++i) {
      const JsonReader t = pk.at(i);
      PeakRates x;
      x.threads = static_cast<int>(t.at("threads").integer(1, 100000));
      x.fp32_flops_per_s = t.num_or("fp32_flops_per_s", 0, 0, 1e18);
      x.int8_ops_per_s = t.num_or("int8_ops_per_s", 0, 0, 1e18);
      p.peaks.push_back(x);
    }
  }
  if (m.has("kernels")) {
    const JsonReader ks = m.at("kernels");
    for (std::size_t i = 0; i < ks.size(); ++i) {
      const JsonReader t = ks.at(i);
      KernelRate x;
      x.format = t.at("format").str();
      x.threads = static_cast<int>(t.at("threads").integer(1, 100000));
      x.matvec_weight_bytes_per_s = t.num_or("matvec_weight_bytes_per_s", 0, 0, 1e15);
      x.matvec_cached_weight_bytes_per_s = t.num_or("matvec_cached_weight_bytes_per_s", 0, 0, 1e15);
      x.matmul_flops_per_s = t.num_or("matmul_flops_per_s", 0, 0, 1e18);
      x.triad_bytes_per_s = t.num_or("triad_bytes_per_s", 0, 0, 1e15);
      x.fp32_flops_per_s = t.num_or("fp32_flops_per_s", 0, 0, 1e18);
      x.int8_ops_per_s = t.num_or("int8_ops_per_s", 0, 0, 1e18);
      x.matmul64_flops_per_s = t.num_or("matmul64_flops_per_s", 0, 0, 1e18);
      x.matvec_of_triad = t.num_or("matvec_of_triad", 0, 0, 100);
      if (t.has("batch_time_ratio")) x.batch_time_ratio = token_count_table(t.at("batch_time_ratio"), 2, 63, 0.1, 100);
      p.kernels.push_back(x);
    }
  }
  if (m.has("op_rates")) {
    const JsonReader os = m.at("op_rates");
    for (std::size_t i = 0; i < os.size(); ++i) {
      const JsonReader t = os.at(i);
      OpRate x;
      x.op = t.at("op").str();
      x.phase = t.at("phase").str();
      x.threads = static_cast<int>(t.at("threads").integer(1, 100000));
      x.flops = t.num_or("flops", 0, 0, 1e21);
      x.bytes = t.num_or("bytes", 0, 0, 1e21);
      x.time_s = t.num_or("time_s", 0, 0, 1e9);
      x.calls = t.int_or("calls", 0, 0, 1LL << 50);
      x.depth = t.int_or("depth", 0, 0, 1LL << 40);
      p.op_rates.push_back(x);
    }
  }
  if (m.has("call_costs")) {
    const JsonReader cs = m.at("call_costs");
    for (std::size_t i = 0; i < cs.size(); ++i) {
      const JsonReader t = cs.at(i);
      p.call_costs.push_back({static_cast<int>(t.at("threads").integer(1, 100000)), t.at("matmul_call_s").num(0, 10),
                              t.num_or("expert_matvec_bytes_per_s", 0, 0, 1e15), t.num_or("expert_t4_flops_per_s", 0, 0, 1e18)});
    }
  }
  if (m.has("file_cache")) {
    const JsonReader fc = m.at("file_cache");
    p.file_cache.fault_bytes = fc.num_or("fault_bytes", 0, 0, 1e12);
    p.file_cache.cold_read_bytes_per_s = fc.num_or("cold_read_bytes_per_s", 0, 0, 1e15);
  }
  if (p.triad.empty()) r.at("measured").at("triad").fail("expected at least one triad measurement");
  return p;
}

bool probe_reusable(const json& device, const ProbeResult& now_cpu, int threads, std::time_t now) {
  if (!device.contains("measured") || !device.at("measured").contains("reference_engine_throughput")) return false;
  ProbeResult p;
  try {
    p = probe_from_json(device, "cached probe");
  } catch (const InputError&) {
    return false;
  }
  if (p.cpu_name != now_cpu.cpu_name || p.cores != now_cpu.cores || p.isa != now_cpu.isa || p.hostname != now_cpu.hostname)
    return false;
  if (!p.triad_at(threads)) return false;
  // a probe by an older gemmasim lacks what this one measures (the batch time ratios)
  if (device.at("measured").value("probe_version", 0) != kProbeVersion) return false;
  std::tm tm{};
  if (!strptime(p.date_utc.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return false;
  const double age_s = std::difftime(now, timegm(&tm));
  return age_s >= 0 && age_s < kProbeReuseSeconds;
}

}  // namespace gs::measure
