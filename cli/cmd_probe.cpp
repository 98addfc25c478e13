// gemmasim probe [--json] [-o FILE] [--threads N] [--no-kernels]: measure this
// machine (STREAM triad at 1..N threads, vector peaks, the reference kernel's
// matmul per weight format, cores, caches) and write a hwdb device file for it,
// so `--hw FILE` describes this machine.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>
#include <iostream>

#include "data_paths.h"
#include "engine.h"
#include "json_util.h"
#include "options.h"
#include "probe.h"
#include "table.h"
#include "units.h"

namespace gs::cli {

int cmd_probe(const Args& a) {
  std::string out, engine_out, id = "this-machine";
  int threads = 0, reps = 7, repeat = 1;
  long long array_mib = 512;
  bool as_json = false, no_kernels = false, no_ops = false;
  po::options_description d("gemmasim probe options");
  d.add_options()("json", po::bool_switch(&as_json), "print the device file (JSON) on stdout")(
      "output,o", po::value(&out), "write the hwdb device file here (temp file + rename)")(
      "engine-out", po::value(&engine_out),
      "also write a `reference` engine file with this machine's constants (for validate --engine FILE)")(
      "threads", po::value(&threads)->default_value(0), "measure at 1..N threads (0: every usable core)")(
      "id", po::value(&id)->default_value("this-machine"), "device id written into the file")(
      "array-mib", po::value(&array_mib)->default_value(512), "MiB per triad array (3 arrays; >> last-level cache)")(
      "reps", po::value(&reps)->default_value(7), "triad repetitions (best and median)")(
      "repeat", po::value(&repeat)->default_value(1),
      "probe K times; the engine constants (--engine-out, measured.reference_engine_throughput) are the medians "
      "of the K probes' constants, the device file is the last probe's (calibration on a shared machine)")(
      "no-kernels", po::bool_switch(&no_kernels), "skip the kernel matmul rates")(
      "no-ops", po::bool_switch(&no_ops), "skip the kernel's per-op rates (probe model) and matmul call cost");
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim probe [--json] [-o FILE] [--engine-out FILE] [--threads N] [--id ID] [--array-mib M] [--repeat K] [--no-kernels]"))
    return 0;
  if (threads < 0 || threads > 4096) input_error("--threads: " + std::to_string(threads) + " (expected 0..4096)");
  if (array_mib < 1 || array_mib > 65536) input_error("--array-mib: " + std::to_string(array_mib) + " (expected 1..65536)");
  if (reps < 1 || reps > 1000) input_error("--reps: " + std::to_string(reps) + " (expected 1..1000)");
  if (repeat < 1 || repeat > 100) input_error("--repeat: " + std::to_string(repeat) + " (expected 1..100)");
  if (!engine_out.empty() && (no_kernels || no_ops))
    input_error("--engine-out: the engine's constants need the kernel rates and op rates (drop --no-kernels / --no-ops)");

  check_output(out);  // before minutes of measuring
  check_output(engine_out);

  measure::ProbeOptions o;
  o.max_threads = threads;
  o.triad_array_bytes = array_mib << 20;
  o.triad_reps = reps;
  o.kernels = !no_kernels;
  o.op_rates = !no_ops;
  o.progress = [](const std::string& s) { std::fprintf(stderr, "probe: %s\n", s.c_str()); };
  {  // the page-cache figures on the filesystem of the synthetic model files
    std::error_code ec;
    std::filesystem::create_directories(synth_cache_dir(), ec);
    if (!ec) o.file_cache_dir = synth_cache_dir();
  }
  measure::ProbeResult r;
  std::vector<json> runs;
  double total_s = 0;
  for (int k = 0; k < repeat; ++k) {
    if (repeat > 1) std::fprintf(stderr, "probe: pass %d of %d\n", k + 1, repeat);
    r = measure::probe_machine(o);
    total_s += r.seconds;
    runs.push_back(measure::reference_cpu_ops(r));  // the reference engine's constants from this probe (empty without op rates)
  }
  const json ops = measure::median_constants(runs);
  json dev = measure::probe_device_json(r, id);
  if (!ops.empty()) dev["measured"]["reference_engine_throughput"] = ops;
  if (!out.empty()) write_output(out, dev.dump(2) + "\n");
  if (!engine_out.empty()) {
    if (ops.empty()) input_error("--engine-out: the probe measured no kernel op rates, so no engine constants");
    const json eng = measure::reference_engine_json(read_json_file(data_path("hwdb/engines/reference.json")), ops, r,
                                                "reference-" + id);
    (void)parse_engine(eng, engine_out);  // the engine schema's own checks, before anything is written
    write_output(engine_out, eng.dump(2) + "\n");
  }
  if (as_json) {
    std::cout << dev.dump(2) << "\n";
    return 0;
  }
  std::printf("cpu          %s (%s), %d usable cores, %d hardware threads\n", r.cpu_name.c_str(), r.isa.c_str(), r.cores,
              r.hardware_threads);
  std::printf("caches       L1d %s, L2 %s, L3 %s per cpu0\n", report::fmt_bytes(static_cast<double>(r.caches.l1d_bytes)).c_str(),
              report::fmt_bytes(static_cast<double>(r.caches.l2_bytes)).c_str(),
              report::fmt_bytes(static_cast<double>(r.caches.l3_bytes)).c_str());
  std::printf("memory       %s\n\n", report::fmt_gib(static_cast<double>(r.memory_bytes)).c_str());
  report::Table t({"threads", "triad best GB/s", "triad median GB/s", "fp32 GFLOP/s", "int8 GOP/s"});
  t.right_align_from(0);
  for (const auto& x : r.triad) {
    const auto* p = r.peaks_at(x.threads);
    t.add({std::to_string(x.threads), report::fmt_num(x.best_bytes_per_s / kGB, 2), report::fmt_num(x.median_bytes_per_s / kGB, 2),
           p ? report::fmt_num(p->fp32_flops_per_s / kGFLOP, 1) : "-", p ? report::fmt_num(p->int8_ops_per_s / kGFLOP, 1) : "-"});
  }
  std::fputs(t.text().c_str(), stdout);
  if (!r.kernels.empty()) {
    std::printf("\nreference kernel matmul (%s):\n", r.isa.c_str());
    report::Table k({"format", "threads", "T=1 GB/s of weights", "T=1 / triad", "T=1 from L2, GB/s", "T=512 GFLOP/s"});
    k.right_align_from(1);
    for (const auto& x : r.kernels) {
      const double of_triad = measure::matvec_of_triad(r, x);
      k.add({x.format, std::to_string(x.threads), report::fmt_num(x.matvec_weight_bytes_per_s / kGB, 2),
             of_triad > 0 ? report::fmt_num(of_triad, 3) : "-",
             x.matvec_cached_weight_bytes_per_s > 0 ? report::fmt_num(x.matvec_cached_weight_bytes_per_s / kGB, 2) : "-",
             report::fmt_num(x.matmul_flops_per_s / kGFLOP, 1)});
    }
    std::fputs(k.text().c_str(), stdout);
  }
  if (!r.op_rates.empty()) {
    std::printf("\nreference kernel ops on the probe model (prefill 64 tokens, then 8 decode steps):\n");
    report::Table k({"op", "phase", "threads", "GFLOP/s", "calls", "us per call"});
    k.right_align_from(2);
    for (const auto& x : r.op_rates) {
      if (x.time_s <= 0) continue;
      k.add({x.op, x.phase, std::to_string(x.threads), x.flops > 0 ? report::fmt_num(x.flops_per_s() / kGFLOP, 2) : "-",
             std::to_string(x.calls), x.calls > 0 ? report::fmt_num(1e6 * x.time_s / static_cast<double>(x.calls), 2) : "-"});
    }
    std::fputs(k.text().c_str(), stdout);
    for (const auto& c : r.call_costs) {
      const auto* tr = r.triad_at(c.threads);
      std::printf("%d thread(s): matmul call (128 x 256 Q8_0, T=1, after 100 us serial work) %.2f us; 26B expert matmuls "
                  "(8 of 48 per step, Q4_0, mapped file): T=1 %.2f GB/s = %.3f x triad, T=4 %.1f GFLOP/s\n",
                  c.threads, 1e6 * c.matmul_call_s, c.expert_matvec_bytes_per_s / kGB,
                  tr ? c.expert_matvec_bytes_per_s / tr->best_bytes_per_s : 0.0, c.expert_t4_flops_per_s / kGFLOP);
    }
    std::printf("\nreference engine throughput.cpu_ops from this probe (hwdb/engines/reference.json):\n%s\n", ops.dump(2).c_str());
  }
  if (r.file_cache.fault_bytes > 0 || r.file_cache.cold_read_bytes_per_s > 0)
    std::printf("\npage cache (%s): a read fault on a freshly read, mmap'd file makes %s resident; cold read %.2f GB/s\n",
                o.file_cache_dir.c_str(), report::fmt_bytes(r.file_cache.fault_bytes).c_str(), r.file_cache.cold_read_bytes_per_s / kGB);
  std::printf("\nprobe took %.1f s%s%s%s%s\n", total_s, out.empty() ? "" : "; device file: ", out.c_str(),
              engine_out.empty() ? "" : "; engine file: ", engine_out.c_str());
  return 0;
}

}  // namespace gs::cli
