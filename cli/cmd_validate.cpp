// gemmasim validate [--quick] [--serving] [--json] [--probe FILE] [--out-dir DIR] ...
// gemmasim validate --llama-bench FILE.json [--hw ID|FILE] [--json]
//
// Parses the flags, runs the validation loop on this machine (measure/validate_run.h) or
// compares llama-bench runs measured elsewhere, and writes the reports: validate.md,
// validate.json, validate.csv, validate.gp, validate.png and validate.svg (gnuplot, when
// installed) in reports/out/ or --out-dir.
#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "data_paths.h"
#include "engine.h"
#include "options.h"
#include "stats.h"
#include "table.h"
#include "text.h"
#include "validate.h"
#include "validate_run.h"
#include "validate_serving.h"

namespace gs::cli {

namespace {

namespace fs = std::filesystem;

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

int llama_bench_mode(const std::string& file, const std::string& hw, bool as_json) {
  std::vector<std::string> bad;
  const auto runs = read_llama_bench(file, &bad);
  // A file with no usable run is not llama-bench output: say so instead of an empty table.
  if (runs.empty())
    input_error(file + ": no llama-bench run in it (expected the JSON of `llama-bench -o json`" +
                (bad.empty() ? std::string(")") : "; first problem: " + bad.front() + ")"));
  std::vector<BenchCompare> res;
  for (const auto& r : runs) res.push_back(predict_llama_bench(map_llama_bench_run(r, hw)));
  std::vector<double> ep, et;
  std::vector<std::string> lp, lt;
  for (const auto& b : res) {
    if (!b.c.skip.empty()) continue;
    (b.c.prefill ? ep : et).push_back(b.err);
    (b.c.prefill ? lp : lt).push_back(std::to_string(b.c.run.index));
  }
  const ErrorStats sp = error_stats(ep, lp), st = error_stats(et, lt);
  if (as_json) {
    json j = {{"file", file}, {"runs", json::array()}, {"malformed", bad}};
    for (const auto& b : res) {
      json x = {{"index", b.c.run.index}, {"model_type", b.c.run.model_type}, {"test", b.c.test},
                {"measured_tok_per_s", b.c.run.avg_ts}, {"stddev_tok_per_s", b.c.run.stddev_ts}};
      if (!b.c.skip.empty()) {
        x["skipped"] = b.c.skip;
      } else {
        x.update({{"model", b.c.model_id}, {"quant", b.c.recipe_id}, {"hardware", b.c.hw_id}, {"engine", b.c.engine_id},
                  {"gpu_layers", b.c.gpu_layers}, {"predicted_tok_per_s", b.predicted_tok_per_s}, {"error", b.err},
                  {"bound", b.bound}, {"notes", b.c.notes}});
      }
      j["runs"].push_back(x);
    }
    j["summary"] = {{"prefill", {{"n", sp.n}, {"median_abs_error", sp.median_abs}, {"max_abs_error", sp.max_abs}}},
                    {"decode", {{"n", st.n}, {"median_abs_error", st.median_abs}, {"max_abs_error", st.max_abs}}}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  report::Table t({"#", "model", "quant", "hardware", "engine", "test", "measured", "predicted", "error", "bound"});
  t.right_align_from(6);
  for (const auto& b : res) {
    if (!b.c.skip.empty()) continue;
    char e[32];
    std::snprintf(e, sizeof e, "%+.1f%%", 100 * b.err);
    t.add({std::to_string(b.c.run.index), b.c.model_id, b.c.recipe_id, b.c.hw_id, b.c.engine_id, b.c.test,
           report::fmt_num(b.c.run.avg_ts, 2), report::fmt_num(b.predicted_tok_per_s, 2), e, b.bound});
  }
  std::fputs(t.text().c_str(), stdout);
  for (const auto& b : res)
    if (!b.c.skip.empty()) std::printf("skipped run %d (%s, %s): %s\n", b.c.run.index, b.c.run.model_type.c_str(), b.c.test.c_str(), b.c.skip.c_str());
  for (const auto& m : bad) std::printf("malformed run: %s\n", m.c_str());
  std::printf("\nprefill: %d runs, median |error| %.1f%%, max %.1f%%\n", sp.n, 100 * sp.median_abs, 100 * sp.max_abs);
  std::printf("decode:  %d runs, median |error| %.1f%%, max %.1f%%\n", st.n, 100 * st.median_abs, 100 * st.max_abs);
  return 0;
}

// validate.{json,md,csv,gp} in out_dir and the chart (gnuplot, when installed); prints the
// markdown (or the JSON).
int write_validate_reports(const measure::ValidateRun& run, const json& extra, const std::string& out_dir, bool as_json) {
  const json j = validate_to_json(run.rows, run.summary, extra);
  const std::string base = out_dir + "/validate";
  write_output(base + ".json", j.dump(2) + "\n");
  write_output(base + ".md", validate_markdown(run.rows, run.summary, extra));
  write_output(base + ".csv", validate_chart_csv(run.rows));
  write_output(base + ".gp", validate_gnuplot("validate.csv", "validate"));
  if (run.summary.executed > 0) {
    const std::string cmd = "cd " + shell_quote(out_dir) + " && gnuplot validate.gp >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "validate: gnuplot failed or is missing; the chart script is %s.gp\n", base.c_str());
  }
  if (as_json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::fputs(validate_markdown(run.rows, run.summary, extra).c_str(), stdout);
  std::printf("\nreports: %s.{md,json,csv,gp,png,svg}\n", base.c_str());
  return 0;
}

}  // namespace

int cmd_validate(const Args& a) {
  bool quick = false, as_json = false, evict = false, stream_witness = false, serving = false;
  double max_run_s = 300;
  int repeat = 1;
  std::string llama_bench, hw, probe_file, out_dir, only, lock_file, engine = "reference";
  po::options_description d("gemmasim validate options");
  d.add_options()("quick", po::bool_switch(&quick), "a subset for CI (under 3 minutes once the synthetic files are cached)")(
      "json", po::bool_switch(&as_json), "print validate.json on stdout")(
      "llama-bench", po::value(&llama_bench), "compare with runs of `llama-bench -o json` measured elsewhere")(
      "hw", po::value(&hw), "hardware of the llama-bench runs (id or file; default: from gpu_info / cpu_info)")(
      "probe", po::value(&probe_file), "predict with this device file written by `gemmasim probe` (default: a probe of this machine from the last hour in the cache, else a probe now)")(
      "max-run-s", po::value(&max_run_s)->default_value(300), "skip configurations predicted to run longer (0: no limit)")(
      "only", po::value(&only), "run only configurations whose label contains this text")(
      "repeat", po::value(&repeat)->default_value(1),
      "measure the matrix N times, pass after pass; each row reports the median of its passes' errors (a shared machine)")(
      "lock", po::value(&lock_file), "hold an exclusive flock on this file while measuring each configuration (shared machines)")(
      "evict", po::bool_switch(&evict), "delete each synthetic GGUF this run wrote after its last configuration (disk)")(
      "stream-witness", po::bool_switch(&stream_witness),
      "also measure the kernel's own mat-vec stream of the run's weight formats at each stop and report a second decode "
      "prediction from it (err stream)")(
      "serving", po::bool_switch(&serving),
      "serving rows instead: serve-sim vs the kernel serving requests with continuous batching (serve-run), "
      "E2B and E4B at rates up to saturation, 26B A4B at one (--quick: E2B at two rates)")(
      "out-dir", po::value(&out_dir), "report folder (default: <repo>/reports/out)")(
      "engine", po::value(&engine)->default_value("reference"),
      "engine profile that predicts (id or file; `gemmasim probe --engine-out FILE` writes one for this machine)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim validate [--quick] [--json] [--probe FILE] [--engine ID|FILE] [--out-dir DIR] [--repeat N] [--stream-witness]\n"
             "       gemmasim validate --llama-bench FILE.json [--hw ID|FILE] [--json]"))
    return 0;
  if (!llama_bench.empty() && stream_witness) input_error("--stream-witness: not with --llama-bench (it measures this machine's runs)");
  if (!llama_bench.empty()) return llama_bench_mode(llama_bench, hw, as_json);
  if (max_run_s < 0) input_error("--max-run-s: expected >= 0");
  if (repeat < 1 || repeat > 20) input_error("--repeat: expected 1 to 20 passes, got " + std::to_string(repeat));
  if (!hw.empty()) input_error("--hw: only with --llama-bench (validate measures this machine)");
  if (serving) {
    json constants;
    (void)measure::load_or_probe(probe_file, omp_get_max_threads(), ::isatty(2) != 0, &constants);
    return validate_serving(probe_file.empty() ? measure::cached_probe_path() : probe_file, quick, as_json,
                            out_dir.empty() ? default_report_dir() : out_dir);
  }
  if (resolve_engine(engine).backend != "cpu") input_error("--engine: '" + engine + "' is not a CPU engine profile");
  std::vector<ValidateConfig> matrix;
  for (const auto& c : validate_matrix(quick))
    if (only.empty() || c.label().find(only) != std::string::npos) matrix.push_back(c);
  if (matrix.empty()) input_error("--only: '" + only + "' matches no configuration");
  std::string cmd = "gemmasim validate";
  for (const auto& x : a) cmd += " " + x;
  const std::string dir = out_dir.empty() ? default_report_dir() : out_dir;
  measure::ValidateRunOptions o;
  o.probe_file = probe_file;
  o.engine = engine;
  o.lock_file = lock_file;
  o.max_run_s = max_run_s;
  o.repeat = repeat;
  o.evict = evict;
  o.stream_witness = stream_witness;
  const measure::ValidateRun run = measure::run_validate(matrix, o);
  fs::create_directories(dir);
  json extra = {{"command", cmd}, {"date_utc", utc_now()}, {"machine", run.machine}, {"engine", engine},
                {"repeat", repeat}, {"stream_witness", stream_witness}};
  if (!run.pass_summaries.empty()) extra["pass_summaries"] = run.pass_summaries;
  if (!run.op_compare.is_null()) extra["op_compare"] = run.op_compare;
  return write_validate_reports(run, extra, dir, as_json);
}

}  // namespace gs::cli
