// validate_run.h: the validation loop on this machine (`gemmasim validate`).
//
// For each configuration of a matrix (validate.h): the kernel runs it in a child process
// (`gemmasim run --json`, so its peak memory is its own) that stops itself before its prefill
// and every few decode steps; at each stop the machine is sampled (machine_sample.h), and the
// `reference` engine profile predicts each phase at the speed measured around it.
// Configurations the memory model says do not fit, or predicted to run longer than a limit,
// are skipped with the reason. Progress goes to stderr.
#pragma once
#include <string>
#include <vector>

#include "json_util.h"
#include "probe.h"
#include "validate.h"

namespace gs::measure {

struct ValidateRunOptions {
  std::string probe_file;             // empty: a fresh cached probe of this machine, else a probe now
  std::string engine = "reference";   // the CPU engine profile that predicts (id or file)
  std::string lock_file;              // held (flock) around each run and its samples; empty: none
  double max_run_s = 300;             // skip configurations predicted to run longer (0: no limit)
  int repeat = 1;                     // passes over the matrix; each row is their median
  bool evict = false;                 // delete synthetic files this run wrote after their last use
  bool stream_witness = false;        // also predict decode from the kernel's own measured stream
};

struct ValidateRun {
  std::vector<ValidateRow> rows;      // one per configuration (the median of its passes)
  ValidateSummary summary;
  json machine;                       // the probe's CPU, ISA, cores, memory and page-cache figures
  json pass_summaries = json::array();  // per pass, when repeat > 1
  json op_compare;                    // per-op predicted vs measured of the worst row (null: none)
};

ValidateRun run_validate(const std::vector<ValidateConfig>& matrix, const ValidateRunOptions& o);

// A probe of this machine kept for the next validate: <cache>/probe-this-machine.json.
std::string cached_probe_path();
// The probe validate predicts with: probe_file; else a fresh cached probe of this machine; else
// a full probe now (kernel and op rates: the reference engine's constants), cached.
// `constants` receives the reference kernel's constants of that probe.
ProbeResult load_or_probe(const std::string& probe_file, int max_threads, bool tty, json* constants);

}  // namespace gs::measure
