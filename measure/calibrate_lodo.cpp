// calibrate_lodo.cpp: leave-one-device-out accuracy of the fitted engine constants
// (calibration/fits.json): each device's rows are estimated with every constant refitted on
// the rows of the other devices.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "calibrate.h"
#include "data_paths.h"
#include "stats.h"

namespace gs {

std::vector<CalFit> load_calibration_fits(const std::string& path_or_empty) {
  const std::string p = path_or_empty.empty() ? data_path("calibration/fits.json") : path_or_empty;
  const json j = read_json_file(p);
  JsonReader r(j, p);
  r.at("schema_version").integer(1, 1);
  std::vector<CalFit> out;
  auto fits = r.at("fits");
  for (std::size_t i = 0; i < fits.size(); ++i) {
    auto f = fits.at(i);
    CalFit x;
    x.engine = f.at("engine").str();
    auto keys = f.at("keys");
    for (std::size_t k = 0; k < keys.size(); ++k) x.keys.push_back(keys.at(k).str());
    if (x.keys.empty()) f.at("keys").fail("expected at least one key");
    x.phase = f.at("phase").str();
    if (x.phase != "decode" && x.phase != "prefill") f.at("phase").fail("expected decode or prefill");
    auto files = f.at("files");
    for (std::size_t k = 0; k < files.size(); ++k) x.files.push_back(files.at(k).str());
    if (f.has("models"))
      for (std::size_t k = 0; k < f.at("models").size(); ++k) x.models.push_back(f.at("models").at(k).str());
    auto g = f.at("grid");
    x.from = g.at("from").num(0, 1e6);
    x.to = g.at("to").num(x.from, 1e6);
    x.step = g.at("step").num(1e-12, 1e6);
    if ((x.to - x.from) / x.step > 1000) g.fail("more than 1000 grid points");
    x.prior = f.at("prior").num(0, 1e6);
    out.push_back(x);
  }
  return out;
}

namespace {

double phase_error(const CalResult& r, const std::string& phase) { return phase == "decode" ? r.err_tg : r.err_pp; }
bool has_phase(const CalResult& r, const std::string& phase) {
  return r.c.single_stream && (phase == "decode" ? r.has_tg() : r.has_pp());
}

// A fit's rows: those of its files on its engine (and models) with a measurement of its phase.
struct FitRows {
  std::vector<CalRow> rows;
  std::vector<std::string> hw;  // the device of each row
};

FitRows fit_rows(const CalFit& f) {
  FitRows out;
  for (const auto& file : f.files) {
    const auto rows = read_calibration_csv(file.rfind('/', 0) == 0 ? file : data_path(file));
    const auto base = run_calibration(rows);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const CalResult& r = base[i];
      if (!r.c.skip.empty() || r.c.engine_id != f.engine || !has_phase(r, f.phase)) continue;
      if (!f.models.empty() && std::find(f.models.begin(), f.models.end(), r.c.model_id) == f.models.end()) continue;
      out.rows.push_back(rows[i]);
      out.hw.push_back(r.c.hw_id);
    }
  }
  return out;
}

// Refit every constant in order (each on the rows not on `held_out`; "" holds out nothing),
// minimising the RMS over devices of each device's median error of the fit's phase, so that a
// device with many rows (a depth sweep) does not outvote one with a few.
EngineOverrides refit(const std::vector<CalFit>& fits, const std::vector<FitRows>& rows, const std::string& held_out,
                      std::vector<double>* values) {
  EngineOverrides ov;
  values->clear();
  for (std::size_t k = 0; k < fits.size(); ++k) {
    const CalFit& f = fits[k];
    std::vector<CalRow> sel;
    std::vector<std::string> sel_hw;
    for (std::size_t i = 0; i < rows[k].rows.size(); ++i)
      if (rows[k].hw[i] != held_out) sel.push_back(rows[k].rows[i]), sel_hw.push_back(rows[k].hw[i]);
    double best = f.prior, best_obj = INFINITY;
    if (!sel.empty()) {
      const int n = static_cast<int>(std::floor((f.to - f.from) / f.step + 1e-9));
      for (int g = 0; g <= n; ++g) {
        const double v = f.from + g * f.step;
        EngineOverrides trial = ov;
        for (const auto& key : f.keys) trial[f.engine][key] = v;
        // each device weighs the same: the root mean square over devices of each device's median
        // error (signed: a device whose rows all sit on one side pulls the constant its way)
        std::map<std::string, std::vector<double>> by_dev;
        const auto res = run_calibration(sel, trial);
        for (std::size_t i = 0; i < res.size(); ++i)
          if (res[i].c.skip.empty() && has_phase(res[i], f.phase)) by_dev[sel_hw[i]].push_back(phase_error(res[i], f.phase));
        std::vector<double> e;
        double ss = 0;
        for (const auto& [dev, v] : by_dev) {
          const double m = median(v);
          e.push_back(m);
          ss += m * m;
        }
        const double obj = e.empty() ? 0 : std::sqrt(ss / static_cast<double>(e.size()));
        if (!e.empty() && obj < best_obj - 1e-12) best_obj = obj, best = v;
      }
    }
    for (const auto& key : f.keys) ov[f.engine][key] = best;
    values->push_back(best);
  }
  return ov;
}

}  // namespace

LodoResult run_lodo(const std::vector<CalRow>& rows, const std::vector<CalFit>& fits,
                    const std::function<void(int, int)>& progress) {
  LodoResult out;
  out.fits = fits;
  std::vector<FitRows> frows;
  for (const auto& f : fits) frows.push_back(fit_rows(f));
  // The fit on all rows, used for every device that has no row in any fit.
  const EngineOverrides all = refit(fits, frows, "", &out.all_values);
  const auto base = run_calibration(rows, all);
  std::set<std::string> fit_devices;
  for (const auto& fr : frows) fit_devices.insert(fr.hw.begin(), fr.hw.end());
  std::vector<std::string> devices;
  for (const auto& r : base)
    if (r.c.skip.empty() && fit_devices.count(r.c.hw_id) &&
        std::find(devices.begin(), devices.end(), r.c.hw_id) == devices.end())
      devices.push_back(r.c.hw_id);
  out.results = base;
  int done = 0;
  for (const auto& d : devices) {
    LodoDevice ld;
    ld.hw_id = d;
    const EngineOverrides ov = refit(fits, frows, d, &ld.values);
    std::vector<CalRow> mine;
    std::vector<std::size_t> where;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (base[i].c.skip.empty() && base[i].c.hw_id == d) mine.push_back(rows[i]), where.push_back(i);
    const auto res = run_calibration(mine, ov);
    for (std::size_t i = 0; i < res.size(); ++i) out.results[where[i]] = res[i];
    out.devices.push_back(ld);
    if (progress) progress(++done, static_cast<int>(devices.size()));
  }
  return out;
}

json lodo_to_json(const LodoResult& l) {
  json fits = json::array();
  for (std::size_t k = 0; k < l.fits.size(); ++k) {
    json per = json::object();
    for (const auto& d : l.devices) per[d.hw_id] = d.values[k];
    fits.push_back({{"engine", l.fits[k].engine}, {"keys", l.fits[k].keys}, {"phase", l.fits[k].phase},
                    {"value_all_rows", l.all_values[k]}, {"value_without_device", per}});
  }
  return json{{"fits", fits}};
}

}  // namespace gs
