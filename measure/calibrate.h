// calibrate.h: published measurements (calibration/measured-speeds.csv or
// calibration/gemma4-measured.csv; columns in calibration/README.md) -> model / quant /
// hardware / engine / workload -> estimate -> error, per row and by group.
//
// Mapping data: calibration/model-aliases.json (models, quant prefixes, engine
// prefixes) and hwdb/aliases.json (hardware strings). A row maps only where every
// part maps; otherwise it is skipped with the reason. Workload from ctx_or_prompt:
//   "pp512 / tg128"             P = 512, G = 128 (llama-bench: tg at depth D, not after the prompt)
//   "... at depth N", "depth N" D = N
//   "pp256 at ubatch=1 ..."     micro-batch 1 prompt = decode-equivalent: G = 256 at depth D
//   "isl 2048 / osl 128"        P = 2048, G = 128, decode after the prompt (serving benchmarks)
//   "tg_1024 (no prompt)"       P = 0, G = 1024
//   "~2k-token prompt; 192-token generations"  P = 2000, G = 192, decode after the prompt
//   anything else ("not stated", "ctx 4096" ...): llama-bench defaults pp512 / tg128 (noted)
// Placement: everything on the GPU(s) when it fits (engine memory rules), else the
// largest --gpu-layers that fits (what llama.cpp's auto-fit and Ollama do); "-ngl N" in
// the hardware or backend cell sets it; CPU backends put everything on the CPU.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "json_util.h"
#include "roofline.h"

namespace gs {

struct CalRow {
  int line = 0;  // 1-based line in the CSV (header = 1)
  std::string model, quant, hardware, backend, batch, ctx, pp, tg, source;
  // The Gemma 4 schema (calibration/gemma4-measured.csv): the row names gemmasim ids and the
  // workload directly (columns documented in calibration/README.md); `direct` marks such a row.
  bool direct = false;
  std::string id, engine, kv_type, prompt, gen, depth, decode_from, tg_kind, threads, notes;
};

// RFC 4180 CSV with the calibration header; throws InputError naming file/line on malformed input.
std::vector<CalRow> read_calibration_csv(const std::string& path);

struct CalCase {
  CalRow row;
  std::string model_id, recipe_id, hw_id, engine_id;
  bool cpu_only = false, kv_on_host = false;
  int gpu_layers = -1;        // -1: decided by the memory model
  i64 prompt = 512, gen = 128, depth = 0;
  int batch = 1;
  int ubatch = 0;
  bool decode_after_prompt = false;
  bool single_stream = true;
  double measured_pp = 0, measured_tg = 0;  // 0: not measured
  std::string kv_type = "f16";  // KV-cache type of the run
  // tg measured as output tokens / request wall time (prefill + decode: an HTTP client's rate),
  // not as pure decode: the estimate is G / (ttft + G x tpot)
  bool tg_end_to_end = false;
  bool decode_logits = true;    // false: a prompt at micro-batch 1 (logits only for its last token)
  std::string row_id;           // the CSV's own id column (Gemma 4 schema), else the line number
  std::vector<std::string> notes;
  std::string skip;           // non-empty: why the row is skipped
};

struct CalResult {
  CalCase c;
  int gpu_layers_used = 0;
  double est_pp = 0, est_tg = 0;  // tg: per sequence for batch 1, aggregate for batch > 1 (as measured)
  double err_pp = 0, err_tg = 0;  // estimate / measured - 1
  std::string pp_bound, tg_bound;
  std::string device_class;       // "NVIDIA" | "AMD" | "Apple" | "Intel" | "CPU/board" (where the layers ran)
  bool has_pp() const { return c.skip.empty() && c.measured_pp > 0; }
  bool has_tg() const { return c.skip.empty() && c.measured_tg > 0; }
};

struct CalSummary {
  int rows = 0, estimated = 0, skipped = 0;
  int n_decode = 0, n_prefill = 0;  // single-stream rows with a measurement
  double median_abs_err_decode = 0, max_abs_err_decode = 0;
  double median_abs_err_prefill = 0, max_abs_err_prefill = 0;
  int decode_over_40 = 0;
  double p90_abs_err_decode = 0, p90_abs_err_prefill = 0;
  double median_err_decode = 0, median_err_prefill = 0;  // signed: + over-predicts
};

// Errors of the single-stream rows of one group (an engine, a device class, a model).
struct CalGroup {
  std::string by, key;            // by: "engine" | "device_class" | "model"
  int n_decode = 0, n_prefill = 0;
  double median_abs_err_decode = 0, p90_abs_err_decode = 0, median_err_decode = 0;  // median_err: signed
  double median_abs_err_prefill = 0, p90_abs_err_prefill = 0, median_err_prefill = 0;
};
std::vector<CalGroup> group_errors(const std::vector<CalResult>& res);
json groups_to_json(const std::vector<CalGroup>& gs);

// Map one row (loads alias files once per call through the data path).
CalCase map_calibration_row(const CalRow& r);
// Throughput keys to replace in engine profiles: engine id -> {JSON pointer into the profile's
// "throughput" object ("/moe_layer_overhead_s", "/compute_efficiency/int8") -> value}.
using EngineOverrides = std::map<std::string, std::map<std::string, double>>;
// Map and estimate every row (with engine constants replaced where overrides name them).
std::vector<CalResult> run_calibration(const std::vector<CalRow>& rows, const EngineOverrides& overrides = {});
CalSummary summarize(const std::vector<CalResult>& res);

// A fitted engine constant (calibration/fits.json): the throughput keys it sets, the phase and
// rows it is fitted on, its grid and its value before fitting.
struct CalFit {
  std::string engine, phase;
  std::vector<std::string> keys, files, models;
  double from = 0, to = 0, step = 1, prior = 0;
};
std::vector<CalFit> load_calibration_fits(const std::string& path_or_empty = "");
struct LodoDevice {
  std::string hw_id;
  std::vector<double> values;   // each fit's value without this device's rows
};
struct LodoResult {
  std::vector<CalFit> fits;
  std::vector<double> all_values;     // each fit's value on all its rows
  std::vector<LodoDevice> devices;    // devices that hold fit rows (refitted without them)
  std::vector<CalResult> results;     // every row estimated as its device was held out
};
// Leave-one-device-out: each device's rows estimated with every fit redone on the other
// devices' rows (devices outside every fit: the fit on all rows). progress: a line on stderr.
// progress (optional): called with (devices refitted, devices) after each held-out device
LodoResult run_lodo(const std::vector<CalRow>& rows, const std::vector<CalFit>& fits,
                    const std::function<void(int, int)>& progress = {});
json lodo_to_json(const LodoResult& l);
json calibration_to_json(const std::vector<CalResult>& res, const CalSummary& s);

}  // namespace gs
