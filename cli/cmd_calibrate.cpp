// gemmasim calibrate --published FILE.csv: estimate each published measurement
// and report per-row errors and median / max absolute error (decode, prefill).
#include <cmath>
#include <cstdio>
#include <iostream>

#include <unistd.h>

#include "calibrate.h"
#include "options.h"
#include "table.h"

namespace gs::cli {

int cmd_calibrate(const Args& a) {
  std::string path;
  bool as_json = false, show_skipped = false, lodo = false;
  po::options_description d("gemmasim calibrate options");
  d.add_options()("published", po::value(&path), "CSV of measurements: calibration/measured-speeds.csv or calibration/gemma4-measured.csv columns (calibration/README.md)")(
      "json", po::bool_switch(&as_json), "JSON output")("skipped", po::bool_switch(&show_skipped), "(kept for compatibility: skipped rows are always listed)")(
      "lodo", po::bool_switch(&lodo),
      "leave-one-device-out: estimate each device's rows with the fitted constants (calibration/fits.json) refitted "
      "without that device's rows");
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim calibrate --published FILE.csv [--lodo] [--json]")) return 0;
  if (path.empty()) input_error("--published: a CSV file is required");
  const auto rows = read_calibration_csv(path);
  LodoResult lr;
  if (lodo) lr = run_lodo(rows, load_calibration_fits(), progress_reporter("leave-one-device-out: devices refitted"));
  const auto res = lodo ? lr.results : run_calibration(rows);
  const CalSummary s = summarize(res);
  if (as_json) {
    json j = calibration_to_json(res, s);
    if (lodo) j["lodo"] = lodo_to_json(lr);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  auto gnum = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", v);
    return std::string(b);
  };
  auto pct = [](double e) { return (e >= 0 ? "+" : "") + report::fmt_num(100 * e, 1) + "%"; };
  report::Table t({"row", "model", "quant", "hardware", "engine", "P/G/D", "B", "ngl", "pp meas", "pp est", "pp err",
                   "tg meas", "tg est", "tg err", "tg bound"});
  t.right_align_from(5);
  for (const auto& r : res) {
    if (!r.c.skip.empty()) continue;
    t.add({r.c.row_id.empty() ? std::to_string(r.c.row.line) : r.c.row_id, r.c.model_id, r.c.recipe_id, r.c.hw_id, r.c.engine_id,
           std::to_string(r.c.prompt) + "/" + std::to_string(r.c.gen) + "/" + std::to_string(r.c.depth),
           std::to_string(r.c.batch) + (r.c.single_stream ? "" : "*"), std::to_string(r.gpu_layers_used),
           r.has_pp() ? report::fmt_num(r.c.measured_pp, 1) : "-", r.has_pp() ? report::fmt_num(r.est_pp, 1) : "-",
           r.has_pp() ? pct(r.err_pp) : "-", r.has_tg() ? report::fmt_num(r.c.measured_tg, 1) : "-",
           r.has_tg() ? report::fmt_num(r.est_tg, 1) : "-", r.has_tg() ? pct(r.err_tg) : "-",
           r.has_tg() ? r.tg_bound : "-"});
  }
  std::fputs(t.text().c_str(), stdout);
  std::printf("(* aggregate over the batch; not a single-stream row)\n");
  (void)show_skipped;
  {
    std::printf("\nskipped rows:\n");
    for (const auto& r : res)
      if (!r.c.skip.empty())
        std::printf("  %s %s (%s on %s): %s\n", r.c.row_id.empty() ? "line" : "row",
                    r.c.row_id.empty() ? std::to_string(r.c.row.line).c_str() : r.c.row_id.c_str(), r.c.row.model.c_str(),
                    r.c.row.hardware.c_str(), r.c.skip.c_str());
  }
  {
    // the error by engine, by device class and by model: signed (+ over-predicts) and absolute
    std::printf("\nerror by group (single-stream rows; signed median: + means the estimate is too fast):\n");
    report::Table g({"by", "group", "tg rows", "tg median", "tg |median|", "tg |p90|", "pp rows", "pp median", "pp |median|", "pp |p90|"});
    g.right_align_from(2);
    for (const auto& x : group_errors(res))
      g.add({x.by, x.key, std::to_string(x.n_decode), x.n_decode ? pct(x.median_err_decode) : "-",
             x.n_decode ? report::fmt_num(100 * x.median_abs_err_decode, 1) + "%" : "-",
             x.n_decode ? report::fmt_num(100 * x.p90_abs_err_decode, 1) + "%" : "-", std::to_string(x.n_prefill),
             x.n_prefill ? pct(x.median_err_prefill) : "-",
             x.n_prefill ? report::fmt_num(100 * x.median_abs_err_prefill, 1) + "%" : "-",
             x.n_prefill ? report::fmt_num(100 * x.p90_abs_err_prefill, 1) + "%" : "-"});
    std::fputs(g.text().c_str(), stdout);
  }
  if (lodo) {
    std::printf("\nleave-one-device-out: every estimate above uses the fitted constants refitted without its device's rows\n");
    for (std::size_t k = 0; k < lr.fits.size(); ++k) {
      std::string keys;
      for (const auto& key : lr.fits[k].keys) keys += (keys.empty() ? "" : ", ") + key;
      std::string per;
      for (const auto& d : lr.devices)
        if (d.values[k] != lr.all_values[k]) per += " " + d.hw_id + ":" + gnum(d.values[k]);
      std::printf("  %s %s: all rows %s%s%s\n", lr.fits[k].engine.c_str(), keys.c_str(), gnum(lr.all_values[k]).c_str(),
                  per.empty() ? "" : "; without", per.c_str());
    }
  }
  std::printf("\n%d rows: %d estimated, %d skipped\n", s.rows, s.estimated, s.skipped);
  std::printf("single-stream decode:  %d rows, median |error| %.1f%%, p90 %.1f%%, max %.1f%%, signed median %+.1f%%, %d rows beyond 40%%\n",
              s.n_decode, 100 * s.median_abs_err_decode, 100 * s.p90_abs_err_decode, 100 * s.max_abs_err_decode,
              100 * s.median_err_decode, s.decode_over_40);
  std::printf("single-stream prefill: %d rows, median |error| %.1f%%, p90 %.1f%%, max %.1f%%, signed median %+.1f%%\n",
              s.n_prefill, 100 * s.median_abs_err_prefill, 100 * s.p90_abs_err_prefill, 100 * s.max_abs_err_prefill,
              100 * s.median_err_prefill);
  return 0;
}

}  // namespace gs::cli
