// validate_report.cpp: validate.json, validate.md, the chart's CSV and gnuplot script.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "units.h"
#include "validate.h"

#include <algorithm>

namespace gs {

namespace {

std::string pct(double e) {
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f%%", 100 * e);
  return b;
}
std::string num(double v, int d = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", d, v);
  return b;
}

}  // namespace

json stats_json(const ErrorStats& s) {
  return {{"n", s.n}, {"median_abs_error", s.median_abs}, {"max_abs_error", s.max_abs}, {"worst", s.worst}};
}

json validate_to_json(const std::vector<ValidateRow>& rows, const ValidateSummary& s, const json& extra) {
  json j = extra;
  j["summary"] = {{"executed", s.executed}, {"skipped", s.skipped}, {"prefill", stats_json(s.prefill)},
                  {"decode", stats_json(s.decode)}, {"peak_memory", stats_json(s.peak)}};
  if (s.decode_stream.n > 0) j["summary"]["decode_stream"] = stats_json(s.decode_stream);
  j["rows"] = json::array();
  for (const auto& r : rows) {
    json x = {{"label", r.c.label()}, {"model", r.c.model}, {"quant", r.c.quant}, {"prompt", r.c.prompt},
              {"depth", r.c.depth}, {"gen", r.c.gen}, {"threads", r.c.threads}};
    if (!r.skip.empty()) {
      x["skipped"] = r.skip;
      j["rows"].push_back(x);
      continue;
    }
    x["bandwidth_bytes_per_s"] = r.rates.bandwidth_bytes_per_s;
    x["page_cache_room_bytes"] = r.rates.page_cache_room_bytes;
    x["file_resident_share"] = r.file_resident_share;
    x["prefill_wall_s"] = r.prefill_wall_s;
    x["prefill_other_cpu_s"] = r.prefill_other_cpu_s;
    x["predicted"] = {{"prefill_tok_per_s", r.pred.prefill_tok_per_s}, {"decode_tok_per_s", r.pred.decode_tok_per_s},
                      {"peak_bytes", r.pred.peak_bytes}, {"fit_total_bytes", r.pred.fit_total_bytes},
                      {"ple_not_resident_bytes", r.pred.ple_not_resident_bytes},
                      {"disk_bytes_per_pass", r.pred.disk_bytes_per_pass}, {"disk_s_per_token", r.pred.disk_s_per_token},
                      {"prefill_bound", bound_name(r.pred.est.prefill.bound)},
                      {"decode_bound", bound_name(r.pred.est.decode.bound)}};
    x["measured"] = {{"prefill_tok_per_s", r.meas.prefill_tok_per_s}, {"decode_tok_per_s", r.meas.decode_tok_per_s},
                     {"peak_bytes", r.meas.peak_bytes}, {"wall_s", r.meas.wall_s}};
    x["error"] = {{"prefill", r.err_prefill}, {"decode", r.err_decode}, {"peak_memory", r.err_peak}};
    if (r.has_stream) x["error"]["decode_stream"] = r.err_decode_stream;
    if (!r.rates.weight_stream_bytes_per_s.empty()) x["weight_stream_bytes_per_s"] = r.rates.weight_stream_bytes_per_s;
    if (r.passes.size() > 1) {
      x["passes"] = json::array();
      for (const PassFigures& f : r.passes) {
        if (!f.skip.empty()) {
          x["passes"].push_back({{"skipped", f.skip}});
          continue;
        }
        x["passes"].push_back({{"bandwidth_bytes_per_s", f.bandwidth_bytes_per_s},
                               {"predicted", {{"prefill_tok_per_s", f.pred_prefill_tok_per_s}, {"decode_tok_per_s", f.pred_decode_tok_per_s}, {"peak_bytes", f.pred_peak_bytes}}},
                               {"measured", {{"prefill_tok_per_s", f.meas_prefill_tok_per_s}, {"decode_tok_per_s", f.meas_decode_tok_per_s}, {"peak_bytes", f.meas_peak_bytes}}},
                               {"error", {{"prefill", f.err_prefill}, {"decode", f.err_decode}, {"peak_memory", f.err_peak}}}});
        if (f.has_stream) x["passes"].back()["error"]["decode_stream"] = f.err_decode_stream;
      }
    }
    x["decode_reps"] = json::array();
    for (const DecodeRep& d : r.decode_reps) {
      json rep = {{"measured_tok_per_s", d.meas_tok_per_s}, {"predicted_tok_per_s", d.pred_tok_per_s},
                  {"bandwidth_bytes_per_s", d.bandwidth_bytes_per_s}, {"wall_s", d.wall_s}, {"steal_s", d.steal_s},
                  {"other_cpu_s", d.other_cpu_s}};
      if (r.has_stream) {
        rep["predicted_stream_tok_per_s"] = d.pred_stream_tok_per_s;
        rep["weight_stream_bytes_per_s"] = d.weight_stream_bytes_per_s;
      }
      x["decode_reps"].push_back(rep);
    }
    // Per-op predicted vs measured time (prefill: the whole prompt; decode: per step).
    for (const char* phase : {"prefill", "decode"}) {
      const bool dec = std::string(phase) == "decode";
      const json mops = r.meas.counters.contains(phase) ? r.meas.counters[phase].value("ops", json::object()) : json::object();
      if (mops.empty()) continue;
      json arr = json::array();
      for (const auto& op : compare_ops(dec ? r.pred.est.decode : r.pred.est.prefill, mops, 1.0,
                                        dec ? static_cast<double>(std::max<i64>(r.c.gen, 1)) : 1.0))
        arr.push_back({{"op", op.op}, {"pred_s", op.pred_s}, {"meas_s", op.meas_s}});
      x["ops"][phase] = arr;
    }
    j["rows"].push_back(x);
  }
  return j;
}

std::string validate_markdown(const std::vector<ValidateRow>& rows, const ValidateSummary& s, const json& extra) {
  std::ostringstream o;
  o << "# gemmasim validate: predicted vs measured on this machine\n\n";
  if (extra.contains("machine")) o << "Machine: " << extra["machine"].value("cpu", std::string("?")) << ", "
                                   << extra["machine"].value("memory_gib", 0.0) << " GiB. ";
  if (extra.contains("command")) o << "Command: `" << extra["command"].get<std::string>() << "`. ";
  if (extra.contains("date_utc")) o << "Date: " << extra["date_utc"].get<std::string>() << ".";
  o << "\n\nPrediction: `" << extra.value("engine", std::string("reference"))
    << "` engine profile on a CPU device with the STREAM triad bandwidth measured "
       "at the run's thread count with its FMA/VNNI peaks while the run is stopped: before its prefill, between "
       "reps of 4 decode steps and after it (the prefill is predicted from the figures around it, each decode rep "
       "from its own; the triad column is the mean of all). Errors are predicted / measured - 1; a decode error is "
       "the median of its reps' errors, and decode pred / meas are the medians of the reps' figures.";
  bool streams = false;
  for (const auto& r : rows) streams = streams || r.has_stream;
  if (streams)
    o << " `--stream-witness`: \"err stream\" is the decode error of a second prediction that charges the weight "
         "formats a step reads (5% of its weight bytes or more) at the kernel's own mat-vec stream, measured at the "
         "same stops, instead of the profile's ratio x the triad.";
  const int repeat = extra.value("repeat", 1);
  if (repeat > 1)
    o << " Each row is the median of " << repeat << " passes over the whole matrix (`--repeat " << repeat
      << "`): its errors are the medians of its passes' errors, its figures the medians of theirs (the passes are listed below).";
  o << "\n\n";
  o << "| configuration | triad GB/s | prefill pred | prefill meas | err | decode pred | decode meas | err |" << (streams ? " err stream |" : "")
    << " peak pred GiB | peak meas GiB | err |\n";
  o << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" << (streams ? " ---: |" : "") << " ---: | ---: | ---: |\n";
  for (const auto& r : rows) {
    if (!r.skip.empty()) continue;
    o << "| " << r.c.label() << " | " << num(r.rates.bandwidth_bytes_per_s / kGB, 1) << " | " << num(r.pred.prefill_tok_per_s)
      << " | " << num(r.meas.prefill_tok_per_s) << " | " << pct(r.err_prefill) << " | " << num(r.pred.decode_tok_per_s) << " | "
      << num(r.meas.decode_tok_per_s) << " | " << pct(r.err_decode) << " | "
      << (streams ? (r.has_stream ? pct(r.err_decode_stream) : std::string("-")) + " | " : std::string()) << num(r.pred.peak_bytes / kGiB) << " | "
      << num(r.meas.peak_bytes / kGiB) << " | " << pct(r.err_peak) << " |\n";
  }
  o << "\n| phase | n | median abs error | max abs error | worst configuration |\n| --- | ---: | ---: | ---: | --- |\n";
  auto line = [&](const char* name, const ErrorStats& e) {
    o << "| " << name << " | " << e.n << " | " << num(100 * e.median_abs, 1) << "% | " << num(100 * e.max_abs, 1) << "% | "
      << e.worst << " |\n";
  };
  line("prefill", s.prefill);
  line("decode", s.decode);
  line("peak memory", s.peak);
  if (s.decode_stream.n > 0) line("decode (kernel's stream, --stream-witness)", s.decode_stream);
  if (extra.contains("pass_summaries")) {
    o << "\nEach pass on its own (one measurement per configuration):\n\n| pass | prefill median | prefill max | decode median | decode max | peak memory max |\n"
         "| ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const auto& p : extra["pass_summaries"]) {
      auto f = [&](const char* phase, const char* k) { return num(100 * p[phase].value(k, 0.0), 1) + "%"; };
      o << "| " << p.value("pass", 0) << " | " << f("prefill", "median_abs_error") << " | " << f("prefill", "max_abs_error") << " | "
        << f("decode", "median_abs_error") << " | " << f("decode", "max_abs_error") << " | " << f("peak_memory", "max_abs_error") << " |\n";
    }
    o << "\n| configuration | prefill errors by pass | decode errors by pass |\n| --- | --- | --- |\n";
    for (const auto& r : rows) {
      if (!r.skip.empty() || r.passes.size() < 2) continue;
      std::string ep, ed;
      for (const PassFigures& f : r.passes) {
        if (!ep.empty()) ep += ", ", ed += ", ";
        ep += f.skip.empty() ? pct(f.err_prefill) : "-";
        ed += f.skip.empty() ? pct(f.err_decode) : "-";
      }
      o << "| " << r.c.label() << " | " << ep << " | " << ed << " |\n";
    }
  }
  bool any_skip = false;
  for (const auto& r : rows)
    if (!r.skip.empty()) {
      if (!any_skip) o << "\nSkipped (the memory model decides):\n\n";
      any_skip = true;
      o << "- " << r.c.label() << ": " << r.skip << "\n";
    }
  if (extra.contains("op_compare")) {
    const json& oc = extra["op_compare"];
    o << "\nPer-op comparison, " << oc.value("phase", std::string("")) << " of " << oc.value("label", std::string(""))
      << " (the largest " << oc.value("phase", std::string("")) << " error; times per step, ms):\n\n";
    o << "| op | predicted ms | measured ms | pred FLOP | meas FLOP | pred bytes | meas bytes |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const auto& x : oc["ops"])
      o << "| " << x.value("op", std::string("")) << " | " << num(1e3 * x.value("pred_s", 0.0), 3) << " | "
        << num(1e3 * x.value("meas_s", 0.0), 3) << " | " << num(x.value("pred_flops", 0.0), 0) << " | "
        << num(x.value("meas_flops", 0.0), 0) << " | " << num(x.value("pred_bytes", 0.0), 0) << " | "
        << num(x.value("meas_bytes", 0.0), 0) << " |\n";
  }
  o << "\nChart: validate.png / validate.svg (log-log, predicted vs measured tok/s, y = x dashed).\n";
  return o.str();
}

std::string validate_chart_csv(const std::vector<ValidateRow>& rows) {
  std::ostringstream o;
  o << "label,phase,measured_tok_per_s,predicted_tok_per_s\n";
  for (const auto& r : rows) {
    if (!r.skip.empty()) continue;
    if (r.meas.prefill_tok_per_s > 0)
      o << "\"" << r.c.label() << "\",prefill," << r.meas.prefill_tok_per_s << "," << r.pred.prefill_tok_per_s << "\n";
    if (r.meas.decode_tok_per_s > 0)
      o << "\"" << r.c.label() << "\",decode," << r.meas.decode_tok_per_s << "," << r.pred.decode_tok_per_s << "\n";
  }
  return o.str();
}

std::string validate_gnuplot(const std::string& csv_name, const std::string& out_base) {
  std::ostringstream o;
  o << "# gnuplot script written by gemmasim validate: predicted vs measured tok/s, log-log, y = x.\n"
    << "set datafile separator ','\n"
    << "set key top left\n"
    << "set logscale xy\n"
    << "set grid\n"
    << "set xlabel 'measured tok/s'\n"
    << "set ylabel 'predicted tok/s'\n"
    << "set title 'gemmasim validate: reference kernel on this machine'\n"
    << "stats '" << csv_name << "' using 3 skip 1 nooutput\n"
    << "lo = STATS_min / 2; hi = STATS_max * 2\n"
    << "set xrange [lo:hi]; set yrange [lo:hi]\n"
    << "do for [fmt in 'pngcairo svg'] {\n"
    << "  if (fmt eq 'svg') { set terminal svg size 800,700; set output '" << out_base << ".svg' } "
    << "else { set terminal pngcairo size 800,700; set output '" << out_base << ".png' }\n"
    << "  plot x title 'y = x' with lines dashtype 2 lc rgb 'gray', \\\n"
    << "       '" << csv_name << "' using 3:(stringcolumn(2) eq 'prefill' ? $4 : 1/0) skip 1 title 'prefill' with points pt 7 ps 1.2, \\\n"
    << "       '" << csv_name << "' using 3:(stringcolumn(2) eq 'decode' ? $4 : 1/0) skip 1 title 'decode' with points pt 5 ps 1.2\n"
    << "}\n";
  return o.str();
}

}  // namespace gs
