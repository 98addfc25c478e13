// machine_sample.cpp: see machine_sample.h.
#include "machine_sample.h"

#include <algorithm>

namespace gs::measure {

namespace {
// --stream-witness: the kernel's stream of each format, on fresh 64 MiB matrices per row length,
// 3 timed passes each, for a second decode prediction (docs/validation.md: it has not predicted
// the decode better than the triad).
constexpr std::int64_t kStreamBytes = 64LL << 20;
// The triad as the probe pairs it with each pass of a kernel's stream (the ratio x triad the
// prediction uses came from those pairs, KernelRate::matvec_of_triad): 3 x 256 MiB (the first
// halves of the probe's 512 MiB arrays), best of 3 timed passes, on arrays allocated once for
// the whole run (fresh arrays at every stop would cost page faults of 1.5 GB each time).
const TriadArrays& triad_arrays() {
  static const TriadArrays a(256LL << 20, usable_cores());
  return a;
}
}  // namespace

double other_cpu_s(const MachineSample& a, const MachineSample& b) {
  if (a.cont_busy_s < 0 || b.stop_busy_s < 0 || a.child_cpu_s < 0 || b.child_cpu_s < 0) return -1;
  return std::max(0.0, (b.stop_busy_s - a.cont_busy_s) - (b.child_cpu_s - a.child_cpu_s));
}

MachineSample sample_machine(int threads, const std::vector<std::string>& formats) {
  MachineSample m;
  m.triad_bytes_per_s = triad_arrays().measure(threads, 3).best_bytes_per_s;
  const auto pk = vector_peaks(threads);
  m.fp32_flops_per_s = pk.fp32_flops_per_s;
  m.int8_ops_per_s = pk.int8_ops_per_s;
  for (const auto& f : formats) m.stream_bytes_per_s[f] = matvec_stream_bytes_per_s(f, threads, kStreamBytes, 4);
  return m;
}

MachineRates between(MachineRates r, const MachineSample& a, const MachineSample& b) {
  r.bandwidth_bytes_per_s = 0.5 * (a.triad_bytes_per_s + b.triad_bytes_per_s);
  r.fp32_flops_per_s = 0.5 * (a.fp32_flops_per_s + b.fp32_flops_per_s);
  r.int8_ops_per_s = 0.5 * (a.int8_ops_per_s + b.int8_ops_per_s);
  r.weight_stream_bytes_per_s.clear();
  for (const auto& [f, x] : a.stream_bytes_per_s)
    if (const auto it = b.stream_bytes_per_s.find(f); it != b.stream_bytes_per_s.end())
      r.weight_stream_bytes_per_s[f] = 0.5 * (x + it->second);
  return r;
}

MachineRates triad_alone(MachineRates r) {
  r.weight_stream_bytes_per_s.clear();
  return r;
}

MachineRates rates_at(const ProbeResult& p, int threads, const json& constants) {
  MachineRates r;
  r.engine_constants = constants;
  r.attention_reads_f16 = p.attention_reads_f16;
  r.isa = p.isa;
  r.probe_tag = "measured: gemmasim probe " + p.date_utc + " on " + p.hostname + " (" + p.cpu_name + ")";
  r.threads = threads;
  r.cpu_name = p.cpu_name;
  r.memory_bytes = static_cast<double>(p.memory_bytes);
  const auto* pk = p.peaks_at(threads);
  if (pk) {
    r.fp32_flops_per_s = pk->fp32_flops_per_s;
    r.int8_ops_per_s = pk->int8_ops_per_s;
  }
  if (const auto* t = p.triad_at(threads)) r.bandwidth_bytes_per_s = t->best_bytes_per_s;
  r.fault_bytes = p.file_cache.fault_bytes;
  return r;
}

}  // namespace gs::measure
