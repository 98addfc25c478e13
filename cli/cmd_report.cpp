// gemmasim report: one HTML page with the comparison charts (PNG + SVG via
// gnuplot, each with its CSV data and .gp script), and the advisor's answer.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "atomic_file.h"
#include "advise_input.h"
#include "data_paths.h"
#include "html.h"
#include "report_charts.h"
#include "serve_charts.h"
#include "table.h"

namespace gs::cli {

namespace {

std::string p(const std::string& s) { return "<p>" + report::html_escape(s) + "</p>\n"; }

}  // namespace

int cmd_report(const Args& a) {
  namespace fs = std::filesystem;
  std::string out = default_report_dir(), validate;
  bool no_render = false;
  AdviseFlags f;
  f.top = 5;
  po::options_description d("gemmasim report options");
  d.add_options()("out", po::value(&out)->default_value(out), "output directory")(
      "budget", po::value(&f.budget_usd)->default_value(f.budget_usd), "USD: the advisor's budget and the cost chart's Pareto front")(
      "validate", po::value(&validate), "validate results JSON (default: OUT/validate.json when it exists)")(
      "no-render", po::bool_switch(&no_render), "write CSV and .gp files only (no gnuplot)");
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim report [--out DIR] [--budget USD] [--validate FILE] [--no-render]")) return 0;
  // Everything goes to a staging directory inside OUT and is moved into OUT at the end: a
  // failure (a chart gnuplot cannot render, a full disk, a bad --validate file) or Ctrl-C
  // leaves OUT as it was.
  const std::string vpath = validate.empty() ? out + "/validate.json" : validate;
  bool have_validate = false;
  std::optional<report::ChartSpec> validate_chart;  // read before anything is written
  if (!validate.empty() || fs::exists(vpath)) {
    check_input_file(vpath, 256e6, "validate results");
    validate_chart = report::chart_validate(read_json_file(vpath));
    have_validate = true;
  }
  OutputDir staged(out);
  const std::string dir = staged.path();
  const bool render = !no_render && report::gnuplot_available();

  // The advisor on the defaults (its files go beside the report).
  AdviseInput in = load_advise_input(f);
  auto prog = progress_reporter("report");
  const int steps = 10;
  int step = 0;
  const AdviseResult r = advise(in);
  write_advise_files(r, f.top, dir, render);
  prog(++step, steps);

  // Chart inputs: the headline hardware; the cost chart uses every priced system.
  const std::vector<System> headline = report::headline_systems();
  add_engines_for(in, headline);
  AdviseInput all = in;
  all.systems.clear();
  for (auto& s : all_systems())
    if (s.price_usd > 0 || s.rental_usd_per_hour > 0) all.systems.push_back(std::move(s));
  add_engines_for(all, all.systems);

  std::vector<report::HtmlSection> secs;
  {
    report::HtmlSection s{"Recommendation for $" + report::fmt_num(f.budget_usd, 0) + " (gemmasim advise, defaults)",
                          p(r.winner_reason), false, {}};
    if (!r.ranked.empty()) {
      s.html += "<pre>";
      for (const auto& cmd : run_commands(r.ranked.front(), r.req)) s.html += report::html_escape(cmd) + "\n";
      s.html += "</pre>\n";
    }
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < std::min<std::size_t>(f.top, r.ranked.size()); ++i) {
      const Candidate& c = r.ranked[i];
      rows.push_back({std::to_string(i + 1), c.system_id, "$" + report::fmt_num(c.price_usd, 0), c.model_name, c.quant_id, c.split,
                      report::fmt_tokens(c.context_fits), report::fmt_num(c.prefill_tok_per_s, 0),
                      report::fmt_num(c.decode_tok_per_s, 1), report::fmt_num(c.quality, 1)});
    }
    s.html += report::html_table({"#", "system", "price", "variant", "quant", "split", "context fits", "prefill tok/s",
                                  "decode tok/s", "quality proxy"}, rows);
    s.html += "<ul>\n";
    for (const auto& v : r.variants)
      s.html += "<li><b>" + report::html_escape(v.model_name) + "</b>: " + report::html_escape(v.reason) + "</li>\n";
    s.html += "</ul>\n<p>Details, charts and JSON of this answer: <a href=\"advise.html\">advise.html</a>.</p>\n";
    secs.push_back(s);
  }
  secs.push_back({"Decode speed across the headline hardware",
                  p("Batch 1, Q4_K_M, prompt 512 then 256 generated tokens, 8K context, the advisor's placement (all layers on the GPU when "
                    "they fit, else --n-cpu-moe for the 26B A4B MoE or the largest -ngl). The split of each bar is in decode.csv."),
                  true, report::write_chart(dir, report::chart_decode(in, headline), render)});
  prog(++step, steps);
  secs.push_back({"Where the memory goes",
                  p("Weights, KV cache (f16), compute buffers and runtime overhead with llama.cpp's CUDA rules at 8K context, "
                    "against the GPU memory of each headline device (unified chips: the share their GPU may use)."),
                  true, report::write_chart(dir, report::chart_memory(in, headline), render)});
  prog(++step, steps);
  secs.push_back({"Memory vs context",
                  p("Gemma 4 interleaves sliding-window layers (window 512 or 1024 tokens) with global layers. llama.cpp keeps "
                    "window + micro-batch cells for sliding layers, so their cache stops growing early; an ideal engine keeps "
                    "exactly the window; without the window every layer would grow with the context."),
                  true, report::write_chart(dir, report::chart_context(in), render)});
  prog(++step, steps);
  secs.push_back({"Price vs speed",
                  p("Each priced system in hwdb/systems (prices with sources and dates in the system files). The lines join the "
                    "Pareto front of the systems within the budget: each is faster than every cheaper one for that variant."),
                  true, report::write_chart(dir, report::chart_cost(all, f.budget_usd), render)});
  prog(++step, steps);
  secs.push_back({"Running cost",
                  p("What a million output tokens cost on each system at batch 1: owned hardware at the electricity price "
                    "(package power from each device's tdp_w and the phase's bound, docs/energy.md), rented systems at their "
                    "hourly price. Serving many users at once divides both by the batch's speed-up."),
                  true, report::write_chart(dir, report::chart_running_cost(all), render)});
  secs.push_back({"Energy per token",
                  p("Joules per output token against decode speed: faster systems at the same power spend less per token; "
                    "CPUs and small boards draw little but take long per token."),
                  true, report::write_chart(dir, report::chart_energy(all), render)});
  prog(++step, steps);

  const auto servers = report::headline_servers();
  secs.push_back({"Latency vs load",
                  p("Each server replays the Azure LLM conversation trace (its prompt and reply lengths and its bursts), "
                    "rescaled to each request rate, simulated step by step by serve-sim (continuous batching as vLLM or "
                    "llama-server schedule it, docs/serving.md). TTFT and TPOT at the 99th percentile; the circles mark the "
                    "knee, the last rate before the queue grows without bound."),
                  true, report::write_chart(dir, report::chart_serving_latency(servers), render)});
  prog(++step, steps);
  secs.push_back({"Throughput vs concurrency",
                  p("Output tokens per second with N users each sending the next request as soon as the last reply "
                    "ends: batching reads each weight once for all sequences, until compute, the KV cache or the "
                    "engine's slots stop the growth."),
                  true, report::write_chart(dir, report::chart_serving_throughput(servers), render)});
  prog(++step, steps);

  if (have_validate) {
    if (validate_chart)
      secs.push_back({"Predicted vs measured", p("From " + vpath + "."), true, report::write_chart(dir, *validate_chart, render)});
    else secs.push_back({"Predicted vs measured", p(vpath + " holds no rows with predicted_/measured_ decode or prefill tok/s."), false, {}});
  } else {
    secs.push_back({"Predicted vs measured",
                    p("gemmasim validate has not been run: no " + vpath + ". Run it to add predicted-vs-measured speeds here."), false, {}});
  }
  prog(++step, steps);

  std::string notes =
      p("Quality proxy = mean of the variant's published benchmark scores (models/*.json, the instruction-tuned bf16 "
        "checkpoints) x (1 - penalty of the quantization). Penalties: " + quality_penalties().source +
        "; quants/quality-penalty.json explains the method. A proxy for ranking, not a predicted benchmark score.");
  for (const auto& m : in.models)
    if (!base_quality(m, percent_benchmarks(m))) notes += p(m.name + " has no published benchmark scores: the advisor cannot rank it.");
  notes += p("Speeds come from gemmasim's roofline model (sim/roofline.h) with engine efficiencies calibrated on published "
             "measurements; memory from sim/memory_fit.h. Every chart has its data (.csv) and gnuplot script (.gp) beside it.");
  if (!render) notes += p(no_render ? "Rendering was skipped (--no-render)." : "gnuplot was not found: charts were not rendered.");
  secs.push_back({"How these numbers are made", notes, false, {}});

  const std::string page = out + "/index.html";
  report::write_file_atomic(dir + "/index.html", report::html_page("gemmasim report: Gemma 4 on your hardware",
                                                                   p("Generated by gemmasim report. " + std::to_string(r.evaluated) +
                                                                     " configurations evaluated for the advisor."),
                                                                   secs, dir));
  staged.commit();
  prog(++step, steps);
  std::printf("report: %s (charts: PNG, SVG, CSV and .gp beside it)\n", page.c_str());
  return 0;
}

}  // namespace gs::cli
