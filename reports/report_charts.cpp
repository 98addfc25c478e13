#include "report_charts.h"

#include "power.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "memory_fit.h"

namespace gs::report {

std::vector<std::string> headline_hardware() {
  return {"rpi5-16gb-kit", "budget-pc-gtx1650", "rtx-3060-12gb", "desktop-2x-rtx3060-12gb", "desktop-rtx3090-used",
          "desktop-rtx4090", "mac-mini-m4-pro-64gb", "framework-desktop-395-128gb", "cpu-ddr5-128gb", "cloud-a100-80gb"};
}

std::vector<System> headline_systems() {
  std::vector<System> hw;
  for (const auto& id : headline_hardware()) {
    try {
      hw.push_back(resolve_hardware(id));
    } catch (const InputError&) {
      // an id missing from hwdb/ is skipped
    }
  }
  return hw;
}

std::string variant_label(const ModelSpec& m) {
  std::string s = m.name;
  const std::string pre = "Gemma 4 ";
  if (s.rfind(pre, 0) == 0) s = s.substr(pre.size());
  return s;
}

namespace {

const char* kColors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"};

// A variant at Q4_K_M with the advisor's placement search, no speed floor.
Candidate best_q4(const AdviseInput& in, const System& s, const ModelSpec& m) {
  AdviseInput x = in;
  x.req.min_decode_tok_per_s = 0;
  x.req.min_prefill_tok_per_s = 0;
  x.req.modality = "text";
  return evaluate(s, m, find_recipe("q4_k_m"), x);
}

std::string gb(double bytes) { return csv_num(bytes / kGB); }

}  // namespace

ChartSpec chart_decode(const AdviseInput& in, const std::vector<System>& hw) {
  ChartSpec c;
  c.name = "decode";
  c.title = "Decode speed of each Gemma 4 variant (Q4_K_M, " + std::to_string(in.req.context_tokens / 1024) +
            "K context, 1 user); missing bar = does not fit";
  std::ostringstream csv;
  csv << "hardware";
  for (const auto& m : in.models) csv << "," << csv_str(variant_label(m) + " tok/s");
  for (const auto& m : in.models) csv << "," << csv_str(variant_label(m) + " split");
  csv << "\n";
  for (const auto& s : hw) {
    csv << csv_str(s.id);
    std::vector<std::string> splits;
    for (const auto& m : in.models) {
      const Candidate k = best_q4(in, s, m);
      csv << "," << (k.verdict == Verdict::Ok || k.verdict == Verdict::TooSlow ? csv_num(k.decode_tok_per_s) : "NaN");
      splits.push_back(k.verdict == Verdict::Ok || k.verdict == Verdict::TooSlow ? k.split : "does not fit");
    }
    for (const auto& sp : splits) csv << "," << csv_str(sp);
    csv << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  gp << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.9 border rgb \"#333333\"\n"
     << "set boxwidth 0.9\nset logscale y\nset yrange [0.3:*]\nset ytics (0.5,1,2,5,10,20,50,100,200,500)\n"
     << "set ylabel \"decode tokens/s (log scale)\"\nset grid ytics\nset key top left\n"
     << "set xtics rotate by 30 right nomirror\nset bmargin 9\n"
     << "plot ";
  for (std::size_t i = 0; i < in.models.size(); ++i)
    gp << (i ? ", \\\n     " : "") << "\"decode.csv\" using " << i + 2 << (i == 0 ? ":xtic(1)" : "") << " skip 1 title \""
       << variant_label(in.models[i]) << "\" lc rgb \"" << kColors[i % 6] << "\"";
  gp << "\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 620;
  return c;
}

ChartSpec chart_memory(const AdviseInput& in, const std::vector<System>& hw) {
  ChartSpec c;
  c.name = "memory";
  const i64 ctx = in.req.context_tokens;
  c.title = "Memory at " + std::to_string(ctx / 1024) + "K context (llama.cpp CUDA rules, f16 KV) vs device capacity";
  const MemoryRules& rules = in.rules.at("llama.cpp-cuda");
  // One big device so every configuration is computed whole (fits or not).
  const System big = resolve_hardware("a100-80gb");
  std::ostringstream csv;
  csv << "config,weights GB,KV cache GB,compute buffers GB,runtime overhead GB,total GB\n";
  int n = 0;
  for (const auto& m : in.models)
    for (const char* qid : {"q4_k_m", "q8_0", "bf16"}) {
      FitOptions o;
      o.context_tokens = std::min<i64>(ctx, m.n_ctx_max);
      const FitResult f = fit(m, big, find_recipe(qid), rules, o);
      csv << csv_str(variant_label(m) + " " + qid) << "," << gb(f.weights_bytes) << "," << gb(f.kv_cache_bytes) << ","
          << gb(f.compute_buffer_bytes) << "," << gb(f.overhead_bytes) << "," << gb(f.total_bytes) << "\n";
      ++n;
    }
  c.csv = csv.str();
  std::ostringstream cap;
  cap << "device,capacity GB\n";
  // Short labels; devices of (nearly) equal capacity share one line: "rtx-3090 / rtx-4090".
  std::vector<std::pair<double, std::string>> caps;
  for (const auto& s : hw) {
    const double b = s.gpu_memory_bytes();
    if (b <= 0) continue;
    std::string label = !s.gpus.empty() ? s.gpus.front().id
                        : s.id + (s.host.gpu_memory_fraction < 1 ? " (GPU share)" : " (all memory)");
    if (s.gpus.size() > 1) label = std::to_string(s.gpus.size()) + "x " + label;
    auto same = std::find_if(caps.begin(), caps.end(), [&](const auto& p) { return std::fabs(p.first - b) < 0.01 * b; });
    if (same == caps.end()) caps.push_back({b, label});
    else if (same->second.find(label) == std::string::npos) same->second += " / " + label;
  }
  std::sort(caps.begin(), caps.end());
  for (const auto& [b, label] : caps) cap << csv_str(label) << "," << gb(b) << "\n";
  c.extra_csv.push_back({"memory-capacity.csv", cap.str()});
  std::ostringstream gp;
  gp << "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.9 border rgb \"#333333\"\n"
     << "set boxwidth 0.75\nset ylabel \"memory, GB (1e9 bytes)\"\nset grid ytics\nset key outside top center horizontal\n"
     << "set yrange [0:*]\nset xtics rotate by 30 right nomirror\nset bmargin 7\nset rmargin 30\n"
     << "# capacity lines: GPU memory of each headline device (unified chips: the GPU-usable share)\n"
     << "plot \"memory.csv\" using 2:xtic(1) skip 1 title \"weights\" lc rgb \"#4e79a7\", \\\n"
     << "     \"\" using 3 skip 1 title \"KV cache\" lc rgb \"#f28e2b\", \\\n"
     << "     \"\" using 4 skip 1 title \"compute buffers\" lc rgb \"#59a14f\", \\\n"
     << "     \"\" using 5 skip 1 title \"runtime overhead\" lc rgb \"#b07aa1\", \\\n"
     << "     \"memory-capacity.csv\" using (-0.5):2:(" << n << "):(0) skip 1 with vectors nohead dt 2 lw 1.5 lc rgb \"#c0392b\" title \"device capacity\", \\\n"
     << "     \"\" using (" << n << " - 0.4):2:1 skip 1 with labels left font \",9\" tc rgb \"#c0392b\" notitle\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 650;
  return c;
}

ChartSpec chart_context(const AdviseInput& in) {
  ChartSpec c;
  c.name = "context";
  c.title = "Memory vs context (Q4_K_M, f16 KV): sliding-window layers stop growing at the window";
  const MemoryRules& llama = in.rules.at("llama.cpp-cuda");
  MemoryRules ideal = llama, full = llama;
  ideal.swa_cache = "window";
  ideal.kv_pad_tokens = 1;
  full.swa_cache = "full";
  const System big = resolve_hardware("a100-80gb");
  i64 max_ctx = 0;
  for (const auto& m : in.models) max_ctx = std::max(max_ctx, m.n_ctx_max);
  std::ostringstream csv;
  csv << "context tokens";
  for (const auto& m : in.models)
    csv << "," << csv_str(variant_label(m) + " llama.cpp GB") << "," << csv_str(variant_label(m) + " window-only GB") << ","
        << csv_str(variant_label(m) + " no sliding window GB");
  csv << "\n";
  for (i64 ctx = 1024; ctx <= max_ctx; ctx *= 2) {
    csv << ctx;
    for (const auto& m : in.models) {
      const QuantRecipe& q = find_recipe("q4_k_m");
      FitOptions o;
      o.context_tokens = ctx;
      for (const MemoryRules* r : std::initializer_list<const MemoryRules*>{&llama, &ideal, &full})
        csv << "," << (ctx <= m.n_ctx_max ? gb(fit(m, big, q, *r, o).total_bytes) : "NaN");
    }
    csv << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  gp << "set logscale x 2\nset format x \"%.0s%cK\"\nset xtics (\"1K\" 1024, \"4K\" 4096, \"16K\" 16384, \"64K\" 65536, \"256K\" 262144)\n"
     << "set grid\nset key top left font \",9\"\nset xlabel \"context, tokens (log scale)\"\nset ylabel \"total memory, GB\"\n"
     << "unset title\nset multiplot layout 2,2 title \"" << c.title << "\"\n";
  for (std::size_t i = 0; i < in.models.size(); ++i) {
    const int col = 2 + 3 * static_cast<int>(i);
    gp << "set title \"" << variant_label(in.models[i]) << " (window " << in.models[i].sliding_window << ")\"\n"
       << "plot \"context.csv\" using 1:" << col + 2 << " skip 1 with lines lw 2 dt 3 lc rgb \"#888888\" title \"no sliding window (full cache)\", \\\n"
       << "     \"\" using 1:" << col << " skip 1 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"" << kColors[i % 6] << "\" title \"llama.cpp (window + ubatch)\", \\\n"
       << "     \"\" using 1:" << col + 1 << " skip 1 with lines lw 2 dt 2 lc rgb \"#000000\" title \"ideal window-only engine\"\n";
  }
  gp << "unset multiplot\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 800;
  return c;
}

ChartSpec chart_cost(const AdviseInput& in, double budget_usd) {
  ChartSpec c;
  c.name = "cost";
  c.title = "Price vs decode speed (Q4_K_M, 8K context); lines: Pareto front of the systems within $" +
            std::to_string(static_cast<long long>(budget_usd));
  std::vector<System> sys;
  for (const auto& s : in.systems)
    if (s.price_usd > 0) sys.push_back(s);
  std::sort(sys.begin(), sys.end(), [](const System& a, const System& b) { return a.price_usd < b.price_usd; });
  std::ostringstream csv, front;
  csv << "system,price USD";
  for (const auto& m : in.models) csv << "," << csv_str(variant_label(m) + " tok/s");
  csv << ",fastest tok/s\n";
  std::vector<std::vector<double>> dec(in.models.size());
  for (const auto& s : sys) {
    csv << csv_str(s.id) << "," << csv_num(s.price_usd);
    for (std::size_t i = 0; i < in.models.size(); ++i) {
      const Candidate k = best_q4(in, s, in.models[i]);
      const double v = (k.verdict == Verdict::Ok || k.verdict == Verdict::TooSlow) ? k.decode_tok_per_s : NAN;
      dec[i].push_back(v);
      csv << "," << csv_num(v);
    }
    double fastest = NAN;
    for (std::size_t i = 0; i < in.models.size(); ++i)
      if (std::isfinite(dec[i].back()) && !(dec[i].back() <= fastest)) fastest = dec[i].back();
    csv << "," << csv_num(fastest) << "\n";
  }
  // Pareto front within budget: sorted by price, keep a system when it is faster than every cheaper one.
  front << "# Pareto front per variant (systems within budget, by price): one block per variant, separated by two blank lines\n";
  for (std::size_t i = 0; i < in.models.size(); ++i) {
    front << "# " << variant_label(in.models[i]) << ": price USD, decode tok/s, system\n";
    double best = 0;
    for (std::size_t k = 0; k < sys.size(); ++k) {
      if (sys[k].price_usd > budget_usd || !std::isfinite(dec[i][k]) || dec[i][k] <= best) continue;
      best = dec[i][k];
      front << csv_num(sys[k].price_usd) << "," << csv_num(best) << "," << csv_str(sys[k].id) << "\n";
    }
    front << "\n\n";
  }
  c.csv = csv.str();
  c.extra_csv.push_back({"cost-pareto.csv", front.str()});
  std::ostringstream gp;
  // Labels: each system once, above its fastest point (the columns after the variants).
  gp << "set logscale xy\nset ytics (0.5,1,2,5,10,20,50,100,200,500)\nset xtics (200,300,500,1000,2000,3000,5000)\n"
     << "set grid\nset key top left\nset xrange [150:7000]\nset yrange [0.5:1500]\n"
     << "set xlabel \"system price, USD (log scale)\"\nset ylabel \"decode tokens/s, batch 1 (log scale)\"\n"
     << "set arrow from " << budget_usd << ", graph 0 to " << budget_usd << ", graph 1 nohead dt 2 lc rgb \"#c0392b\"\n"
     << "set label \"budget $" << static_cast<long long>(budget_usd) << "\" at " << budget_usd
     << ", graph 0.04 right offset -0.5,0 tc rgb \"#c0392b\"\n"
     << "plot ";
  for (std::size_t i = 0; i < in.models.size(); ++i) {
    gp << (i ? ", \\\n     " : "") << "\"cost.csv\" using 2:" << i + 3 << " skip 1 with points pt 7 ps 1.2 lc rgb \"" << kColors[i % 6]
       << "\" title \"" << variant_label(in.models[i]) << "\", \\\n     \"cost-pareto.csv\" index " << i
       << " using 1:2 with lines lw 2 lc rgb \"" << kColors[i % 6] << "\" notitle";
  }
  gp << ", \\\n     \"cost.csv\" using 2:" << in.models.size() + 3 << ":1 skip 1 with labels rotate by 35 left offset 0.4,0.6 font \",8\" tc rgb \"#333333\" notitle\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 650;
  return c;
}

namespace {

// $ per million output tokens of a candidate: its electricity, or its rent by the hour (sim/power.h).
double usd_per_mtok(const Candidate& k, double usd_per_kwh) {
  if (k.decode_tok_per_s_aggregate <= 0 || k.prefill_tok_per_s <= 0 || (k.decode_w <= 0 && k.rental_usd_per_hour <= 0)) return NAN;
  SystemPower p;
  p.prefill_w = p.decode_w = k.decode_w;
  return run_cost(p, k.prefill_tok_per_s, k.decode_tok_per_s_aggregate, usd_per_kwh, k.rental_usd_per_hour).usd_per_mtok_output;
}

std::vector<System> costed_systems(const AdviseInput& in) {
  std::vector<System> sys;
  for (const auto& s : in.systems)
    if (s.price_usd > 0 || s.rental_usd_per_hour > 0) sys.push_back(s);
  return sys;
}

}  // namespace

ChartSpec chart_running_cost(const AdviseInput& in) {
  ChartSpec c;
  c.name = "running-cost";
  c.title = "Cost per million output tokens (Q4_K_M, batch 1): electricity at $" + csv_num(in.req.electricity_usd_per_kwh) +
            "/kWh for owned systems, the hourly price for rented ones";
  const std::vector<System> sys = costed_systems(in);
  std::ostringstream csv;
  csv << "system";
  for (const auto& m : in.models) csv << "," << csv_str(variant_label(m) + " USD per Mtok");
  csv << "\n";
  for (const auto& s : sys) {
    csv << csv_str(s.id + (s.rental_usd_per_hour > 0 ? " (rented)" : ""));
    for (const auto& m : in.models) {
      const Candidate k = best_q4(in, s, m);
      const bool ran = k.verdict == Verdict::Ok || k.verdict == Verdict::TooSlow;
      csv << "," << csv_num(ran ? usd_per_mtok(k, in.req.electricity_usd_per_kwh) : NAN);
    }
    csv << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  gp << "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
     << "set logscale y\nset grid ytics\nset key top left\nset xtics rotate by 40 right font \",9\"\n"
     << "set ylabel \"USD per million output tokens (log scale)\"\nset datafile missing \"NaN\"\nplot ";
  for (std::size_t i = 0; i < in.models.size(); ++i)
    gp << (i ? ", " : "") << "\"running-cost.csv\" using " << i + 2 << (i ? "" : ":xtic(1)") << " skip 1 lc rgb \""
       << kColors[i % 6] << "\" title \"" << variant_label(in.models[i]) << "\"";
  gp << "\n";
  c.body = gp.str();
  c.width = 1200;
  c.height = 650;
  return c;
}

ChartSpec chart_energy(const AdviseInput& in) {
  ChartSpec c;
  c.name = "energy";
  c.title = "Energy per output token vs decode speed (Q4_K_M, batch 1; package power from tdp_w, docs/energy.md)";
  const std::vector<System> sys = costed_systems(in);
  std::ostringstream csv;
  csv << "system";
  for (const auto& m : in.models) csv << "," << csv_str(variant_label(m) + " tok/s") << "," << csv_str(variant_label(m) + " J/token");
  csv << "\n";
  for (const auto& s : sys) {
    csv << csv_str(s.id);
    for (const auto& m : in.models) {
      const Candidate k = best_q4(in, s, m);
      const bool ran = (k.verdict == Verdict::Ok || k.verdict == Verdict::TooSlow) && k.j_per_output_token > 0;
      csv << "," << csv_num(ran ? k.decode_tok_per_s : NAN) << "," << csv_num(ran ? k.j_per_output_token : NAN);
    }
    csv << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  gp << "set logscale xy\nset grid\nset key top right\nset datafile missing \"NaN\"\n"
     << "set xlabel \"decode tokens/s, batch 1 (log scale)\"\nset ylabel \"joules per output token (log scale)\"\nplot ";
  for (std::size_t i = 0; i < in.models.size(); ++i)
    gp << (i ? ", \\\n     " : "") << "\"energy.csv\" using " << 2 * i + 2 << ":" << 2 * i + 3 << " skip 1 with points pt 7 ps 1.2 lc rgb \""
       << kColors[i % 6] << "\" title \"" << variant_label(in.models[i]) << "\"";
  gp << ", \\\n     \"energy.csv\" using 2:3:1 skip 1 with labels left offset 0.5,0.3 font \",8\" tc rgb \"#333333\" notitle\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 650;
  return c;
}

std::optional<ChartSpec> chart_validate(const json& v) {
  const json* rows = &v;
  if (v.is_object() && v.contains("rows")) rows = &v.at("rows");
  if (!rows->is_array()) return std::nullopt;
  std::ostringstream csv;
  csv << "label,phase,measured tok/s,predicted tok/s\n";
  int n = 0;
  for (const auto& r : *rows) {
    if (!r.is_object()) continue;
    std::string label = r.value("label", r.value("model", std::string("?")) + " / " + r.value("hardware", std::string("?")));
    if (r.contains("skipped")) continue;
    for (const char* ph : {"decode", "prefill"}) {
      // validate.json (reports/validate_report.cpp): {"predicted": {"decode_tok_per_s": ..}, "measured": {..}};
      // flat rows with predicted_decode_tok_per_s / measured_decode_tok_per_s are read too.
      const std::string key = std::string(ph) + "_tok_per_s";
      double pred = NAN, meas = NAN;
      if (r.contains("predicted") && r["predicted"].is_object() && r["predicted"].value(key, json()).is_number())
        pred = r["predicted"][key].get<double>();
      if (r.contains("measured") && r["measured"].is_object() && r["measured"].value(key, json()).is_number())
        meas = r["measured"][key].get<double>();
      if (r.value("predicted_" + key, json()).is_number()) pred = r["predicted_" + key].get<double>();
      if (r.value("measured_" + key, json()).is_number()) meas = r["measured_" + key].get<double>();
      if (!(pred > 0) || !(meas > 0)) continue;
      csv << csv_str(label) << "," << ph << "," << csv_num(meas) << "," << csv_num(pred) << "\n";
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  ChartSpec c;
  c.name = "predicted-vs-measured";  // validate itself writes validate.{csv,gp,png}
  c.title = "Predicted vs measured tokens/s (gemmasim validate)";
  c.csv = csv.str();
  c.body =
      "set logscale xy\nset grid\nset key top left\nset xlabel \"measured tokens/s\"\nset ylabel \"predicted tokens/s\"\n"
      "set size ratio -1\n"
      "plot x with lines lc rgb \"#333333\" title \"predicted = measured\", \\\n"
      "     1.25*x with lines dt 2 lc rgb \"#999999\" title \"+/-25%\", 0.8*x with lines dt 2 lc rgb \"#999999\" notitle, \\\n"
      "     \"predicted-vs-measured.csv\" using 3:(stringcolumn(2) eq \"decode\" ? $4 : 1/0) skip 1 with points pt 7 lc rgb \"#1b9e77\" title \"decode\", \\\n"
      "     \"\" using 3:(stringcolumn(2) eq \"prefill\" ? $4 : 1/0) skip 1 with points pt 5 lc rgb \"#d95f02\" title \"prefill\"\n";
  c.width = 800;
  c.height = 760;
  return c;
}

}  // namespace gs::report
