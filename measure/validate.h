// validate.h: predicted vs measured, on this machine (gemmasim validate) and from
// llama-bench files measured elsewhere (gemmasim validate --llama-bench).
//
// A configuration is model x quant x prompt P x depth D x threads, decoded for G
// tokens after the prompt. The prediction uses the `reference` engine profile on a
// CPU device described by the probe figures measured next to the execution:
//   memory_bandwidth_bytes_per_s = STREAM triad (best of reps) at the run's threads
//   peak_flops_per_s.fp32 / int8 = the probe's register-only FMA / VNNI loops at those threads
// and the memory model (sim/memory_fit.h) with the same engine for peak memory,
// its buffers sized at the run's largest step, minus what an mmap'd GGUF never makes
// resident (the PLE table: only the page-cache units around the rows of the tokens
// seen; see ple_resident_bytes()).
// Errors are predicted / measured - 1; summaries use absolute errors.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "hardware.h"
#include "json_util.h"
#include "llama_bench.h"
#include "roofline.h"

namespace gs {

struct ValidateConfig {
  std::string model, quant;
  i64 prompt = 64, depth = 0, gen = 16;
  int threads = 2;
  // How the run reaches its depth: seeded K / V rows (true, `run --fill seeded`, what validate
  // runs: no fill step, no PLE rows read for it), or a prefill of `depth` tokens (false).
  bool seeded_fill = true;
  std::string label() const;  // "gemma4-e2b q4_0 p64 d0 t2"
};

// The matrix: >= 16 configurations over the four variants, Q4_0 / Q8_0 / Q4_K_M,
// prompt 64 / 512, depth 0 / 4096, 1 / 2 threads. quick: a subset for CI (< 3 min).
std::vector<ValidateConfig> validate_matrix(bool quick);

// Rates of this machine at one thread count (from a probe, measured next to the run).
struct MachineRates {
  int threads = 1;
  double bandwidth_bytes_per_s = 0;   // triad
  double fp32_flops_per_s = 0;        // vector FMA peak at these threads
  double int8_ops_per_s = 0;          // VNNI peak (0: none)
  double memory_bytes = 0;            // physical memory
  double fault_bytes = 0;             // bytes a read fault on a freshly read mmap'd file makes resident (0: a 4 KiB page)
  // Page cache: memory available to the run (MemAvailable with its model file dropped from the
  // page cache, measured right before the run; 0: unknown) and the cold read rate of that disk.
  double page_cache_room_bytes = 0;
  double disk_read_bytes_per_s = 0;
  std::string cpu_name;
  // The kernel's mat-vec stream per weight format at these threads, measured next to the run
  // (measure::matvec_stream_bytes_per_s; empty: the profile's ratio x the triad). Device::weight_stream_bytes_per_s.
  std::map<std::string, double> weight_stream_bytes_per_s;
  // The reference kernel's constants a probe of this machine measured (reference_cpu_ops; empty:
  // the engine file's), whether its attention reads the f16 cache in place, its ISA, a source tag.
  json engine_constants;
  bool attention_reads_f16 = false;
  std::string isa, probe_tag;
};
// A CPU-only system describing the machine at these rates (sources say "measured").
System machine_system(const MachineRates& r);

struct Prediction {
  Estimate est;
  double prefill_tok_per_s = 0, decode_tok_per_s = 0;
  double peak_bytes = 0;               // predicted peak resident memory of the run
  double fit_total_bytes = 0;          // the memory model's total (host) for the run
  double ple_not_resident_bytes = 0;   // PLE table bytes the run never makes resident
  bool fits = true;                    // the memory model says it fits in memory_bytes
  // What the run needs resident beyond the memory available to it (peak_bytes - room): the
  // page cache cannot hold those weight pages, so each pass over the weights (a decode token,
  // a prefill micro-batch) reads them from disk again, at the disk's read rate.
  double disk_bytes_per_pass = 0;
  double disk_s_per_token = 0, disk_s_prefill = 0;
};
Prediction predict_run(const ValidateConfig& c, const MachineRates& r, const std::string& engine_id = "reference");

// The weight formats a decode step of c streams, each with at least min_share of the bytes it
// reads from weight matrices (dense matrices whole, routed experts at K / E, the token
// embedding only where it is the output head; the PLE table, a gather, not at all), in
// descending order of bytes: the formats validate measures the kernel's stream of.
std::vector<std::string> streamed_formats(const ValidateConfig& c, double min_share = 0.05);

// Skip reason for a configuration that does not fit this machine ("" when it fits):
// the memory model's total for the run plus a margin for the OS, against physical memory.
std::string memory_skip_reason(const ValidateConfig& c, double memory_bytes, double fault_bytes = 0,
                               const std::string& engine_id = "reference");

// Expected resident bytes of a table of table_bytes read one row (row_bytes) per token for
// `rows` uniformly random tokens, when a read fault makes fault_bytes around the address
// resident: each row covers fault_bytes + row_bytes of the table on average, so a byte stays
// untouched with probability (1 - (fault_bytes + row_bytes) / table_bytes)^rows.
double ple_resident_bytes(double table_bytes, double row_bytes, double rows, double fault_bytes);
// Tokens of the largest forward step of a run (the micro-batch its buffers are sized for).
i64 largest_step_tokens(const ValidateConfig& c, int ubatch_tokens);

struct Measured {
  double prefill_tok_per_s = 0, decode_tok_per_s = 0, peak_bytes = 0;
  double wall_s = 0;
  json counters;                       // gemmasim run --json "counters" (per op)
};

// Decode measured in reps of a few steps, each next to its own figures of the machine:
// gemmasim validate stops the run between reps (gemmasim run --pause-every) and measures
// the triad and the vector peaks while nothing of the run executes, so a rep's prediction
// uses the bandwidth of its own minute (a shared machine's triad can double within minutes).
struct DecodeRep {
  double meas_tok_per_s = 0;        // 1 / median step time of the rep
  double pred_tok_per_s = 0;        // predicted from the figures measured just before and after it
  // validate --stream-witness: the prediction with the kernel's own stream of the run's weight
  // formats, measured at the same stops, in place of the profile's ratio x the triad (0: not measured).
  double pred_stream_tok_per_s = 0;
  std::map<std::string, double> weight_stream_bytes_per_s;  // that stream per format (mean of the two)
  double bandwidth_bytes_per_s = 0; // that triad (mean of the two)
  double wall_s = 0;                // from the continue to the next stop (-1: not measured)
  double steal_s = -1;              // CPU time the hypervisor took from this guest meanwhile, all CPUs (/proc/stat; -1: unknown)
  double other_cpu_s = -1;          // CPU time other work used meanwhile: busy time of all CPUs - the run's (-1: unknown)
};
// Reps of `every` consecutive steps (the last may be shorter): 1 / median step time of each.
std::vector<double> rep_tok_per_s(const std::vector<double>& step_s, i64 every);

// One pass's figures of a configuration (validate --repeat N keeps every pass).
struct PassFigures {
  double bandwidth_bytes_per_s = 0;  // the pass's triad (mean of its samples)
  double pred_prefill_tok_per_s = 0, meas_prefill_tok_per_s = 0;
  double pred_decode_tok_per_s = 0, meas_decode_tok_per_s = 0;
  double pred_peak_bytes = 0, meas_peak_bytes = 0;
  double err_prefill = 0, err_decode = 0, err_peak = 0;
  double err_decode_stream = 0;      // decode predicted with the kernel's stream (DecodeRep::pred_stream_tok_per_s)
  bool has_stream = false;
  std::string skip;                  // non-empty: this pass did not execute (why)
};

struct ValidateRow {
  ValidateConfig c;
  std::vector<PassFigures> passes;     // validate --repeat N: every pass of this configuration (empty: one pass)
  std::vector<DecodeRep> decode_reps;  // empty: one decode figure (no reps); else err_decode is their median error
  std::string skip;                    // non-empty: not executed, and why
  MachineRates rates;                  // measured next to the execution
  double file_resident_share = -1;     // share of the model file in the page cache right before the run (-1: not measured)
  double prefill_wall_s = -1;          // the prefill's window: from the continue to the stop before the first decode step
  double prefill_other_cpu_s = -1;     // CPU time other work used in it (all CPUs' busy time - the run's; -1: unknown)
  Prediction pred;
  Measured meas;
  double err_prefill = 0, err_decode = 0, err_peak = 0;  // predicted / measured - 1
  // validate --stream-witness: the decode error of the prediction with the kernel's stream
  // measured next to the run (the median over the reps of pred_stream / meas - 1), and whether
  // there is one (reps with pred_stream_tok_per_s > 0).
  double err_decode_stream = 0;
  bool has_stream = false;
  void compute_errors();
};

// The passes of one configuration (validate --repeat N measures the matrix N times, pass after
// pass, so a configuration's passes lie minutes apart) as one row: each error is the median of
// the executed passes' errors, each figure the median of theirs; the other fields (machine
// figures, per-op counts, decode reps) are those of the pass whose decode error is the median
// (the lower of the two middle ones for an even count). Passes that did not execute are kept
// in `passes` with their reason and left out of the medians; if none executed, the row is
// skipped with the first pass's reason. One pass: that row, with `passes` filled.
ValidateRow combine_passes(const std::vector<ValidateRow>& passes);
PassFigures pass_figures(const ValidateRow& r);

struct ErrorStats {
  int n = 0;
  double median_abs = 0, max_abs = 0;
  std::string worst;                   // label of the row with max |error|
};
ErrorStats error_stats(const std::vector<double>& errs, const std::vector<std::string>& labels);

struct ValidateSummary {
  ErrorStats prefill, decode, peak;
  ErrorStats decode_stream;            // validate --stream-witness: the rows' err_decode_stream (n = 0: none)
  int executed = 0, skipped = 0;
};
ValidateSummary summarize_validate(const std::vector<ValidateRow>& rows);
json stats_json(const ErrorStats& s);  // {n, median_abs_error, max_abs_error, worst}

// Per-op comparison of one phase: predicted time per op (estimate) vs measured time
// per op (gemmasim run --profile CSV), for the row with the largest error.
struct OpCompare {
  std::string op;
  double pred_s = 0, meas_s = 0;
  double pred_flops = 0, meas_flops = 0, pred_bytes = 0, meas_bytes = 0;
};
std::vector<OpCompare> compare_ops(const PhaseResult& pred, const json& measured_ops, double pred_steps, double meas_steps);

// Reports: validate.json, validate.md, validate.csv + validate.gp (gnuplot chart).
json validate_to_json(const std::vector<ValidateRow>& rows, const ValidateSummary& s, const json& extra);
std::string validate_markdown(const std::vector<ValidateRow>& rows, const ValidateSummary& s, const json& extra);
std::string validate_chart_csv(const std::vector<ValidateRow>& rows);
std::string validate_gnuplot(const std::string& csv_name, const std::string& out_base);

// llama-bench runs: predicted vs measured with the run's engine on its hardware.
struct BenchCompare {
  LlamaBenchCase c;
  double predicted_tok_per_s = 0, err = 0;
  std::string bound;
};
BenchCompare predict_llama_bench(const LlamaBenchCase& c);

}  // namespace gs
