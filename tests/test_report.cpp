// Report: chart files (CSV, .gp, PNG, SVG) are written and hold the plotted
// series; the memory-vs-context data shows the sliding-window plateau; the HTML
// links only files that exist.
#include <doctest/doctest.h>

#include <filesystem>
#include <algorithm>
#include <regex>
#include <sstream>
#include <set>

#include "advise.h"
#include "charts.h"
#include "cli_run.h"
#include "html.h"
#include "report_charts.h"
#include "serve_charts.h"

using namespace gs;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / ("gemmasim_report_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

AdviseInput chart_input() {
  AdviseInput in;
  for (const char* m : {"gemma4-e2b", "gemma4-e4b", "gemma4-26b-a4b", "gemma4-31b"}) in.models.push_back(find_model(m));
  in.quants.push_back(find_recipe("q4_k_m"));
  in.penalties = quality_penalties();
  in.book = use_case_book();
  for (const char* id : {"llama.cpp-cuda", "llama.cpp-cpu", "llama.cpp-metal", "llama.cpp-vulkan", "llama.cpp-rocm"}) {
    in.engines.emplace(id, resolve_engine(id));
    in.rules.emplace(id, load_memory_rules(id));
  }
  return in;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\n') out.push_back(cur), cur.clear();
    else cur += c;
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool q = false;
  for (char c : line) {
    if (c == '"') q = !q;
    else if (c == ',' && !q) out.push_back(cur), cur.clear();
    else cur += c;
  }
  out.push_back(cur);
  return out;
}

}  // namespace

TEST_CASE("memory vs context: llama.cpp and the ideal engine plateau below the full cache") {
  const AdviseInput in = chart_input();
  const report::ChartSpec c = report::chart_context(in);
  const auto rows = lines(c.csv);
  REQUIRE(rows.size() == 1 + 9);  // header + 1K .. 256K
  const auto head = fields(rows[0]);
  REQUIRE(head.size() == 1 + 3 * in.models.size());
  CHECK(head[1].find("llama.cpp") != std::string::npos);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto f = fields(rows[r]);
    REQUIRE(f.size() == head.size());
    for (std::size_t i = 0; i < in.models.size(); ++i) {
      if (f[1 + 3 * i] == "NaN") {
        CHECK(std::stoll(f[0]) > in.models[i].n_ctx_max);
        continue;
      }
      const double llama = std::stod(f[1 + 3 * i]), ideal = std::stod(f[2 + 3 * i]), full = std::stod(f[3 + 3 * i]);
      CHECK(ideal <= llama + 1e-9);
      CHECK(llama <= full + 1e-9);
    }
  }
  // Going 64K -> 128K, the full cache grows by more than llama.cpp's (global layers only).
  const auto a = fields(rows[7]), b = fields(rows[8]);
  for (std::size_t i = 0; i < in.models.size(); ++i)
    CHECK(std::stod(b[3 + 3 * i]) - std::stod(a[3 + 3 * i]) > std::stod(b[1 + 3 * i]) - std::stod(a[1 + 3 * i]));
}

TEST_CASE("each chart file is written, non-empty, and its data holds the plotted series") {
  const std::string dir = temp_dir("charts");
  AdviseInput in = chart_input();
  in.req.context_tokens = 8192;
  std::vector<System> hw = {resolve_hardware("budget-pc-gtx1650"), resolve_hardware("rtx-4090")};
  const bool render = report::gnuplot_available();
  if (!render) MESSAGE("gnuplot not found: skipping the PNG/SVG rendering checks (install gnuplot-nox)");
  for (const report::ChartSpec& spec : {report::chart_decode(in, hw), report::chart_memory(in, hw)}) {
    const report::ChartFiles f = report::write_chart(dir, spec, render);
    for (const auto& file : f.files) {
      CHECK_MESSAGE(fs::exists(dir + "/" + file), file);
      CHECK_MESSAGE(fs::file_size(dir + "/" + file) > 0, file);
    }
    const std::string gp = slurp(dir + "/" + spec.name + ".gp");
    CHECK(gp.find(spec.name + ".csv") != std::string::npos);
    // Every column the script plots exists in the CSV's header.
    const auto head = fields(lines(slurp(dir + "/" + spec.name + ".csv"))[0]);
    std::regex using_col("using ([0-9]+)");
    for (auto it = std::sregex_iterator(gp.begin(), gp.end(), using_col); it != std::sregex_iterator(); ++it)
      CHECK(std::stoul((*it)[1]) <= head.size());
    if (render) {
      CHECK(f.rendered);
      for (const char* ext : {".png", ".svg"}) {
        const std::string p = dir + "/" + spec.name + ext;
        REQUIRE_MESSAGE(fs::exists(p), p);
        CHECK(fs::file_size(p) > 1000);
      }
      CHECK(slurp(dir + "/" + spec.name + ".png").substr(1, 3) == "PNG");
    }
  }
  // decode.csv: one row per hardware, one column per variant; the GTX 1650 cannot hold 31B on its GPU alone.
  const auto rows = lines(slurp(dir + "/decode.csv"));
  REQUIRE(rows.size() == 1 + hw.size());
  const auto r4090 = fields(rows[2]);
  CHECK(r4090[0] == "rtx-4090");
  for (std::size_t i = 1; i <= in.models.size(); ++i) CHECK(std::stod(r4090[i]) > 0);
  CHECK(std::stod(r4090[1]) > std::stod(r4090[4]));  // E2B decodes faster than 31B
  fs::remove_all(dir);
}

TEST_CASE("charts render into a directory given by a relative path (as README command 1 does)") {
  if (!report::gnuplot_available()) {
    MESSAGE("gnuplot not found: skipping (install gnuplot-nox)");
    return;
  }
  const fs::path base = temp_dir("relative");
  fs::create_directories(base);
  const fs::path cwd = fs::current_path();
  fs::current_path(base);
  AdviseInput in = chart_input();
  in.req.context_tokens = 8192;
  const report::ChartFiles f = report::write_chart("out/sub", report::chart_decode(in, {resolve_hardware("rtx-4090")}), true);
  fs::current_path(cwd);
  CHECK_MESSAGE(f.rendered, f.note);
  for (const char* ext : {".png", ".svg"}) CHECK(fs::file_size(base / "out/sub" / (std::string("decode") + ext)) > 1000);
  for (const auto& e : fs::directory_iterator(base / "out/sub")) CHECK(e.path().filename().string().find(".log") == std::string::npos);
  fs::remove_all(base);
}

TEST_CASE("the HTML page links only files that exist") {
  const std::string dir = temp_dir("html");
  report::write_file_atomic(dir + "/a.csv", "x,y\n1,2\n");
  report::ChartFiles f;
  f.name = "a";
  f.title = "A";
  f.files = {"a.csv", "a.gp", "a.png", "a.svg"};  // only a.csv was written
  f.note = "gnuplot not found";
  const std::string page = report::html_page("T <&>", "<p>intro</p>", {{"Section", "<p>x</p>", true, f}}, dir);
  CHECK(page.find("href=\"a.csv\"") != std::string::npos);
  CHECK(page.find("a.gp") == std::string::npos);
  CHECK(page.find("<img") == std::string::npos);
  CHECK(page.find("a.svg") == std::string::npos);
  CHECK(page.find("gnuplot not found") != std::string::npos);
  CHECK(page.find("T &lt;&amp;&gt;") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("gemmasim report writes a page whose every link and image exists") {
  const std::string dir = temp_dir("cli");
  const CliResult r = run_cli("report --no-render --out " + dir);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string page = slurp(dir + "/index.html");
  REQUIRE(!page.empty());
  CHECK(page.find("validate has not been run") != std::string::npos);
  std::regex link("(?:href|src)=\"([^\"]+)\"");
  int n = 0;
  for (auto it = std::sregex_iterator(page.begin(), page.end(), link); it != std::sregex_iterator(); ++it, ++n)
    CHECK_MESSAGE(fs::exists(dir + "/" + (*it)[1].str()), (*it)[1].str());
  CHECK(n >= 8);  // csv + gp of four charts at least
  for (const char* f : {"decode.csv", "memory.csv", "memory-capacity.csv", "context.csv", "cost.csv", "cost-pareto.csv", "advise.json",
                        "serving_latency.csv", "serving_latency_knee.csv", "serving_throughput.csv"})
    CHECK_MESSAGE(fs::exists(dir + "/" + f), f);
  // No temporary files left behind.
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().extension() != ".tmp");
  fs::remove_all(dir);
}

TEST_CASE("predicted vs measured reads validate.json rows and skips skipped runs") {
  const json v = {{"rows",
                   {{{"label", "e2b q4_0 t4"},
                     {"predicted", {{"prefill_tok_per_s", 100.0}, {"decode_tok_per_s", 10.0}}},
                     {"measured", {{"prefill_tok_per_s", 80.0}, {"decode_tok_per_s", 12.0}}}},
                    {{"label", "skipped one"}, {"skipped", "no GGUF"}}}}};
  const auto c = report::chart_validate(v);
  REQUIRE(c.has_value());
  const auto rows = lines(c->csv);
  REQUIRE(rows.size() == 3);
  CHECK(rows[1] == "e2b q4_0 t4,decode,12,10");
  CHECK(rows[2] == "e2b q4_0 t4,prefill,80,100");
  CHECK_FALSE(report::chart_validate(json{{"rows", json::array()}}).has_value());
}

TEST_CASE("serving charts: latency rises with load up to a knee; throughput grows with users, then flattens") {
  const std::vector<report::ServedConfig> servers = {
      {"E4B llama-server", "gemma4-e4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda"},
      {"missing", "gemma4-e4b", "q4_k_m", "no-such-gpu", "vllm"}};  // unknown hardware: left out
  const report::ChartSpec lat = report::chart_serving_latency(servers);
  REQUIRE(lat.extra_csv.size() == 1);
  const std::string knee = lat.extra_csv[0].second;
  CHECK(std::count(knee.begin(), knee.end(), '\n') == 2);  // header + the one server
  // the first data rows: TTFT p99 does not fall as the rate rises (before the knee)
  std::istringstream in(lat.csv);
  std::string line;
  std::getline(in, line);
  CHECK(line.find("missing") == std::string::npos);
  double prev = 0;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) {
    const double ttft = std::stod(line.substr(line.find(',') + 1));
    CHECK(ttft >= prev * 0.98);
    prev = ttft;
  }
  const report::ChartSpec thr = report::chart_serving_throughput({servers[0]});
  std::istringstream t(thr.csv);
  std::getline(t, line);
  std::vector<double> tok;
  while (std::getline(t, line)) tok.push_back(std::stod(line.substr(line.find(',') + 1)));
  REQUIRE(tok.size() == 9);  // 1, 2, 4 ... 256 users
  CHECK(tok[4] > 3 * tok[0]);            // 16 users: batching multiplies throughput
  CHECK(tok[8] < 1.2 * tok[4]);          // beyond the 16 slots it flattens
}

TEST_CASE("running-cost chart: $ per Mtok from the energy of owned systems and the rent of cloud ones") {
  AdviseInput in = chart_input();
  in.req.electricity_usd_per_kwh = 0.30;
  in.systems.push_back(resolve_hardware("desktop-rtx4090"));
  in.systems.push_back(resolve_hardware("cloud-l4"));
  const report::ChartSpec c = report::chart_running_cost(in);
  const auto ls = lines(c.csv);
  REQUIRE(ls.size() == 3);
  const report::ChartSpec en = report::chart_energy(in);
  const auto el = lines(en.csv);
  REQUIRE(el.size() == 3);
  // E2B column: owned = J/token x 1e6 / 3.6e6 x $0.30; rented = $/h / 3600 / tok/s x 1e6
  const Candidate own = evaluate(in.systems[0], in.models[0], find_recipe("q4_k_m"), in);
  const Candidate rent = evaluate(in.systems[1], in.models[0], find_recipe("q4_k_m"), in);
  REQUIRE(own.j_per_output_token > 0);
  CHECK(std::stod(fields(ls[1])[1]) == doctest::Approx(own.j_per_output_token * 1e6 / 3.6e6 * 0.30).epsilon(1e-5));
  CHECK(std::stod(fields(ls[2])[1]) ==
        doctest::Approx(in.systems[1].rental_usd_per_hour / 3600 / rent.decode_tok_per_s_aggregate * 1e6).epsilon(1e-5));
  CHECK(fields(ls[2])[0].find("(rented)") != std::string::npos);
  CHECK(std::stod(fields(el[1])[2]) == doctest::Approx(own.j_per_output_token).epsilon(1e-5));
}
