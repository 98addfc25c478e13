// validate --serving: serve-sim against serve-run on this machine. Each row serves seeded
// requests with the reference kernel (continuous batching, 4 slots) in a child
// `gemmasim serve-run --json`, which also simulates the same requests with this machine's
// probe; the row's errors are serve-sim's against the execution, per rate up to saturation.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "data_paths.h"
#include "json_util.h"
#include "options.h"
#include "stats.h"
#include "table.h"
#include "validate_serving.h"

namespace gs::cli {

namespace {

// A row at a request rate (open loop), or with `users` closed-loop users and no think time: the
// 4 slots always full, so its request throughput is the server's saturation rate (the largest
// rate it holds before the queue grows).
struct ServingRow {
  std::string model, quant;
  double rate = 0;
  int requests = 16;
  int users = 0;
};

std::vector<ServingRow> serving_matrix(bool quick) {
  if (quick) return {{"gemma4-e2b", "q4_0", 0.3, 16}, {"gemma4-e2b", "q4_0", 1.0, 24}, {"gemma4-e2b", "q4_0", 0, 16, 4}};
  return {{"gemma4-e2b", "q4_0", 0.2, 16}, {"gemma4-e2b", "q4_0", 0.5, 20}, {"gemma4-e2b", "q4_0", 1.0, 24},
          {"gemma4-e2b", "q4_0", 0, 24, 4},  {"gemma4-e4b", "q4_0", 0.1, 12}, {"gemma4-e4b", "q4_0", 0.4, 16},
          {"gemma4-e4b", "q4_0", 0, 16, 4},  {"gemma4-26b-a4b", "q4_0", 0.1, 10}};
}

std::string self_path() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gemmasim") : p.string();
}

std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

double err(const json& pred, const json& meas, const char* metric, const char* q) {
  const double m = meas.at(metric).at(q).get<double>(), p = pred.at(metric).at(q).get<double>();
  return m > 0 ? (p - m) / m : 0;
}

}  // namespace

int validate_serving(const std::string& probe_path, bool quick, bool as_json, const std::string& out_dir) {
  const bool tty = ::isatty(2) != 0;
  json rows = json::array();
  report::Table t({"model", "quant", "load", "measured tok/s", "TTFT p50", "TTFT p99", "TPOT p50", "throughput", "saturated (run / sim)"});
  t.right_align_from(2);
  std::vector<double> e_ttft, e_tpot, e_thr, e_sat;
  std::vector<std::string> sat_names;
  const auto matrix = serving_matrix(quick);
  for (std::size_t i = 0; i < matrix.size(); ++i) {
    const ServingRow& r = matrix[i];
    char load[64];
    if (r.users > 0) std::snprintf(load, sizeof load, "%d users", r.users);
    else std::snprintf(load, sizeof load, "%.2g req/s", r.rate);
    if (tty) std::fprintf(stderr, "validate --serving: %zu/%zu %s %s, %s\n", i + 1, matrix.size(), r.model.c_str(), r.quant.c_str(), load);
    char workload[64];
    if (r.users > 0) std::snprintf(workload, sizeof workload, "--users %d --think-time 0", r.users);
    else std::snprintf(workload, sizeof workload, "--rate %g", r.rate);
    char args[320];
    std::snprintf(args, sizeof args, " serve-run --model %s --quant %s %s --requests %d --prompt-dist 64 --gen-dist 32"
                  " --parallel 4 --ubatch-size 256 --json --probe ", r.model.c_str(), r.quant.c_str(), workload, r.requests);
    const std::string cmd = quote(self_path()) + args + quote(probe_path) + " 2>/dev/null";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      const int st = ::pclose(p);
      if (st != 0) out.clear();
    }
    json row{{"model", r.model}, {"quant", r.quant}, {"requests", r.requests}};
    if (r.users > 0) row["users"] = r.users;
    else row["rate_per_s"] = r.rate;
    json j;
    try {
      j = json::parse(out);
    } catch (const std::exception&) {
      j = json();
    }
    if (!j.is_object() || !j.contains("measured") || !j.contains("predicted")) {
      row["skip"] = "serve-run failed or did not compare";
      rows.push_back(row);
      t.add({r.model, r.quant, load, "-", "-", "-", "-", "-", "skipped"});
      continue;
    }
    const json& me = j["measured"];
    const json& pr = j["predicted"];
    const double et = err(pr, me, "ttft_s", "p50"), et99 = err(pr, me, "ttft_s", "p99"), ep = err(pr, me, "tpot_s", "p50");
    const double mt = me["output_tok_per_s"].get<double>(), pt = pr["output_tok_per_s"].get<double>();
    const double eh = mt > 0 ? (pt - mt) / mt : 0;
    const bool ms = me["saturated"].get<bool>(), ps = pr["saturated"].get<bool>();
    row["measured"] = me;
    row["predicted"] = pr;
    row["error"] = {{"ttft_p50", et}, {"ttft_p99", et99}, {"tpot_p50", ep}, {"output_tok_per_s", eh}};
    if (r.users > 0) {
      const double mr = me["throughput_req_per_s"].get<double>(), prr = pr["throughput_req_per_s"].get<double>();
      row["saturation_rate_per_s"] = {{"measured", mr}, {"predicted", prr}};
      row["error"]["saturation_rate"] = mr > 0 ? (prr - mr) / mr : 0;
      e_sat.push_back(row["error"]["saturation_rate"].get<double>());
      sat_names.push_back(r.model + " " + r.quant);
    }
    rows.push_back(row);
    if (!ms && r.users == 0) {
      e_ttft.push_back(std::abs(et));
      e_tpot.push_back(std::abs(ep));
      e_thr.push_back(std::abs(eh));
    }
    auto pct = [](double e) { return (e >= 0 ? "+" : "") + report::fmt_num(100 * e, 1) + "%"; };
    t.add({r.model, r.quant, load, report::fmt_num(mt, 1), pct(et), pct(et99), pct(ep), pct(eh),
           std::string(ms ? "yes" : "no") + " / " + (ps ? "yes" : "no")});
  }
  json doc{{"probe", probe_path}, {"rows", rows},
           {"below_saturation", {{"rows", e_ttft.size()}, {"ttft_p50_median_abs", median(e_ttft)},
                                 {"tpot_p50_median_abs", median(e_tpot)}, {"throughput_median_abs", median(e_thr)}}},
           {"saturation_rate_errors", e_sat}};
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  write_output(out_dir + "/validate-serving.json", doc.dump(2) + "\n");
  if (as_json) {
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  std::printf("serve-sim vs serve-run (the reference kernel serving on this machine; errors are serve-sim's)\n");
  std::fputs(t.text().c_str(), stdout);
  std::printf("below saturation (%zu rows): median |error| TTFT p50 %.1f%%, TPOT p50 %.1f%%, throughput %.1f%%\n",
              e_ttft.size(), 100 * median(e_ttft), 100 * median(e_tpot), 100 * median(e_thr));
  for (std::size_t k = 0; k < e_sat.size(); ++k)
    std::printf("saturation rate of %s (4 slots always full: requests/s served): %+.1f%%\n", sat_names[k].c_str(), 100 * e_sat[k]);
  std::printf("report: %s/validate-serving.json\n", out_dir.c_str());
  return 0;
}

}  // namespace gs::cli
