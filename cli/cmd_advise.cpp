// gemmasim advise: which Gemma 4 variant, quantization, hardware and split to run
// for a budget (priced systems in hwdb/systems) or for hardware already owned.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "atomic_file.h"
#include "advise_input.h"
#include "html.h"
#include "report_charts.h"
#include "table.h"
#include "text.h"

namespace gs::cli {

namespace {

std::string money(double usd) { return usd > 0 ? "$" + report::fmt_num(usd, 0) : "-"; }
std::string money(const Candidate& c) { return c.rental_usd_per_hour > 0 ? "$" + report::fmt_num(c.rental_usd_per_hour, 2) + "/h" : money(c.price_usd); }

// The ranked table: for reading (display strings: "$1599", "19.2K", rounded speeds), or with
// numbers = true for --csv (machine headers, numbers in the one unit system: USD, tokens,
// tok/s, seconds).
report::Table advise_table(const AdviseResult& r, std::size_t top, bool numbers = false) {
  std::vector<std::string> head =
      numbers ? std::vector<std::string>{"rank", "system", "price_usd", "variant", "quant", "split", "engine",
                                         "context_fits_tokens", "prefill_tok_per_s", "decode_tok_per_s"}
              : std::vector<std::string>{"#", "system", "price", "variant", "quant", "split", "engine", "context fits",
                                         "prefill tok/s", "decode tok/s"};
  if (r.req.serving) {
    const std::vector<std::string> more = numbers ? std::vector<std::string>{"ttft_p99_s", "tpot_p99_s", "served_output_tok_per_s"}
                                                  : std::vector<std::string>{"TTFT p99 s", "TPOT p99 ms", "served tok/s"};
    head.insert(head.end(), more.begin(), more.end());
  }
  head.push_back("quality");
  report::Table t(head);
  t.right_align_from(7);
  auto num = [numbers](double v, int digits) { return numbers ? report::csv_num(v) : report::fmt_num(v, digits); };
  for (std::size_t i = 0; i < std::min(top, r.ranked.size()); ++i) {
    const Candidate& c = r.ranked[i];
    std::vector<std::string> row = {std::to_string(i + 1), c.system_id, numbers ? report::csv_num(c.price_usd) : money(c),
                                    c.model_name, c.quant_id, c.split, c.engine,
                                    numbers ? std::to_string(static_cast<long long>(c.context_fits)) : report::fmt_tokens(c.context_fits),
                                    num(c.prefill_tok_per_s, 0), num(c.decode_tok_per_s, 1)};
    if (r.req.serving)
      row.insert(row.end(), {num(c.ttft_p99_s, 2), numbers ? report::csv_num(c.tpot_p99_s) : report::fmt_num(c.tpot_p99_s * 1e3, 1),
                             num(c.served_output_tok_per_s, 0)});
    row.push_back(num(c.quality, 1));
    t.add(row);
  }
  return t;
}

std::string requirements_line(const Requirements& q) {
  std::string s = "use case " + q.use_case + ": context " + std::to_string(q.context_tokens) + " tokens, prompt " +
                  std::to_string(q.prompt_tokens) + ", reply " + std::to_string(q.gen_tokens);
  if (q.min_decode_tok_per_s > 0)
    s += ", decode >= " + report::fmt_num(q.min_decode_tok_per_s, 1) + " tok/s over the last reply of a full context";
  if (q.min_prefill_tok_per_s > 0) s += ", prefill >= " + report::fmt_num(q.min_prefill_tok_per_s, 0) + " tok/s";
  if (q.rank != "quality") s += ", ranked by " + q.rank;
  s += ", " + q.modality + ", ";
  if (!q.serving) return s + std::to_string(q.users) + (q.users == 1 ? " user" : " users");
  if (q.rate_per_s > 0) s += "a server at " + report::fmt_num(q.rate_per_s, 2) + " requests/s (Poisson)";
  else s += "a server for " + std::to_string(q.users) + " users (think time " + report::fmt_num(q.think_time_s, 0) + " s)";
  return s + ", SLO " + q.slo;
}

}  // namespace

// Charts and page for one advise answer, in dir. Returns the page path.
std::string write_advise_files(const AdviseResult& r, std::size_t top, const std::string& dir, bool render) {
  namespace fs = std::filesystem;
  make_output_dir(dir);
  report::write_file_atomic(dir + "/advise.json", advise_to_json(r, top).dump(2) + "\n");
  std::vector<report::HtmlSection> secs;
  report::HtmlSection rec{"Recommendation", "<p>" + report::html_escape(r.winner_reason) + "</p>\n", false, {}};
  if (!r.faster_option.empty()) rec.html += "<p>Faster, nearly as good: " + report::html_escape(r.faster_option) + "</p>\n";
  if (!r.buy_vs_rent.empty()) rec.html += "<p>Buy or rent: " + report::html_escape(r.buy_vs_rent) + "</p>\n";
  if (!r.ranked.empty()) {
    rec.html += "<pre>";
    for (const auto& cmd : run_commands(r.ranked.front(), r.req)) rec.html += report::html_escape(cmd) + "\n";
    rec.html += "</pre>\n";
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < std::min(top, r.ranked.size()); ++i) {
    const Candidate& c = r.ranked[i];
    rows.push_back({std::to_string(i + 1), c.system_id, money(c), c.model_name, c.quant_id, c.split,
                    report::fmt_tokens(c.context_fits), report::fmt_num(c.prefill_tok_per_s, 0),
                    report::fmt_num(c.decode_tok_per_s, 1), report::fmt_num(c.quality, 1)});
  }
  rec.html += report::html_table({"#", "system", "price", "variant", "quant", "split", "context fits", "prefill tok/s",
                                  "decode tok/s", "quality proxy"},
                                 rows);
  std::string vs = "<ul>\n";
  for (const auto& v : r.variants) vs += "<li><b>" + report::html_escape(v.model_name) + "</b>: " + report::html_escape(v.reason) + "</li>\n";
  rec.html += vs + "</ul>\n";
  secs.push_back(rec);
  if (!r.ranked.empty()) {
    secs.push_back({"Speed of the top recommendations", "", true, report::write_chart(dir, report::chart_advise_top(r, top), render)});
    secs.push_back({"Memory of the top recommendations", "", true, report::write_chart(dir, report::chart_advise_memory(r, top), render)});
  }
  const std::string page = dir + "/advise.html";
  report::write_file_atomic(page, report::html_page("gemmasim advise", "<p>" + report::html_escape(requirements_line(r.req)) + "</p>", secs, dir));
  return page;
}

int cmd_advise(const Args& a) {
  AdviseFlags f;
  bool js = false, cs = false;
  std::string out;
  po::options_description d("gemmasim advise options");
  add_advise_flags(d, f);
  d.add_options()("out", po::value(&out), "also write advise.json, charts (PNG, SVG, CSV, .gp) and advise.html to this directory")(
      "json", po::bool_switch(&js), "JSON output")("csv", po::bool_switch(&cs), "CSV output (the ranked table)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim advise [--budget USD | --hw ID|FILE] [--use-case chat|coding|agentic|documents|mobile]\n"
             "       [--ctx N] [--min-decode-tok-per-s X] [--modality text|image|audio] [--users N | --rate R]\n"
             "       [--think-time S] [--slo ttft_p99=1,tpot_p99=0.1] [--top N]\n"
             "       [--out DIR] [--json | --csv]"))
    return 0;
  const AdviseInput in = load_advise_input(f);
  if (!f.hw.empty())
    for (const auto& w : in.systems.front().warnings) std::fprintf(stderr, "gemmasim: warning: %s\n", w.c_str());
  // --out: staged (created before the long work, so a bad directory fails first), moved into
  // place once every file is written; a failure or Ctrl-C leaves the directory as it was
  std::optional<OutputDir> staged;
  if (!out.empty()) staged.emplace(out);
  const AdviseResult r = advise(in, progress_reporter("advise: systems"));
  std::string page;
  if (staged) {
    write_advise_files(r, f.top, staged->path(), report::gnuplot_available());
    staged->commit();
    page = out + "/advise.html";
  }

  if (js) {
    json j = advise_to_json(r, f.top);
    if (!f.hw.empty() && !in.systems.front().warnings.empty()) j["warnings"] = in.systems.front().warnings;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (cs) {
    std::fputs(advise_table(r, f.top, true).csv().c_str(), stdout);
    return 0;
  }
  std::printf("gemmasim advise: %s\n", requirements_line(r.req).c_str());
  if (f.hw.empty())
  {
    std::size_t rented = 0;
    for (const auto& s : in.systems) rented += s.rental_usd_per_hour > 0;
    std::printf("hardware: %zu priced systems up to $%.0f and %zu rented by the hour (hwdb/systems); variants x quantizations x "
                "splits: %d configurations evaluated, %zu pass\n\n",
                in.systems.size() - rented, f.budget_usd, rented, r.evaluated, r.ranked.size());
  }
  else
    std::printf("hardware: %s; %d configurations evaluated, %zu pass\n\n", in.systems.front().name.c_str(), r.evaluated, r.ranked.size());
  if (!r.ranked.empty()) std::fputs(advise_table(r, f.top).text().c_str(), stdout);
  std::printf("\nRecommendation: %s\n", r.winner_reason.c_str());
  if (!r.faster_option.empty()) std::printf("Faster, nearly as good: %s\n", r.faster_option.c_str());
  if (!r.buy_vs_rent.empty()) std::printf("Buy or rent: %s\n", r.buy_vs_rent.c_str());
  if (!r.ranked.empty()) {
    std::printf("\nRun it:\n");
    for (const auto& cmd : run_commands(r.ranked.front(), r.req)) std::printf("  %s\n", cmd.c_str());
  }
  std::printf("\nVariants:\n");
  for (const auto& v : r.variants) std::printf("  %-18s %s\n", v.model_name.c_str(), v.reason.c_str());
  std::printf("\nQuality proxy = mean of the variant's published scores (%s) x (1 - quantization penalty);\n"
              "penalties: llama.cpp's measured perplexity increase per quantization (quants/quality-penalty.json).\n",
              r.req.benchmarks.empty() ? "all" : [&] {
                std::string s;
                for (const auto& b : r.req.benchmarks) s += (s.empty() ? "" : ", ") + b;
                return s;
              }().c_str());
  if (!page.empty()) std::printf("Charts and page: %s\n", page.c_str());
  return 0;
}

}  // namespace gs::cli
