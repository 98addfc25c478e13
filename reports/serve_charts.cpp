// serve_charts.cpp: latency vs load and throughput vs concurrency (see serve_charts.h).
#include "serve_charts.h"

#include <sstream>

#include "data_paths.h"
#include "engine.h"
#include "hardware.h"
#include "serve/setup.h"

namespace gs::report {

namespace {

const char* kColors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"};

struct Server {
  ServedConfig cfg;
  serve::ServeSetup setup;
};

std::vector<Server> load_servers(const std::vector<ServedConfig>& list) {
  std::vector<Server> out;
  for (const auto& c : list) {
    try {
      const System s = resolve_hardware(c.hw);
      serve::ServeKnobs k;
      if (c.engine != "vllm") k.parallel = 16;
      out.push_back({c, serve::setup_server(find_model(c.model), s, find_recipe(c.quant), resolve_engine_for(c.engine, s), k)});
    } catch (const InputError&) {
      // a configuration the data no longer holds is left out of the chart
    }
  }
  return out;
}

// The Azure conversation trace's first n requests (its lengths and burstiness), rescaled to a rate.
std::vector<serve::Request> conv_requests(std::size_t n) {
  static const serve::Trace t = serve::read_trace(data_path("data/traces/azure-llm-2023-conv.csv"));
  std::vector<serve::Request> r(t.requests.begin(), t.requests.begin() + static_cast<std::ptrdiff_t>(std::min(n, t.requests.size())));
  return r;
}

}  // namespace

std::vector<ServedConfig> headline_servers() {
  return {{"31B FP8, H100, vLLM", "gemma4-31b", "fp8", "h100-sxm", "vllm"},
          {"26B A4B FP8, H100, vLLM", "gemma4-26b-a4b", "fp8", "h100-sxm", "vllm"},
          {"26B A4B Q4_K_M, RTX 4090, llama-server -np 16", "gemma4-26b-a4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda"},
          {"E4B Q4_K_M, RTX 4090, llama-server -np 16", "gemma4-e4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda"}};
}

ChartSpec chart_serving_latency(const std::vector<ServedConfig>& list) {
  ChartSpec c;
  c.name = "serving_latency";
  c.title = "Latency vs load: TTFT p99 and TPOT p99 (Azure conversation trace rescaled to each rate)";
  const auto servers = load_servers(list);
  std::ostringstream csv, knee;
  csv << "requests per s";
  for (const auto& s : servers) csv << "," << csv_str(s.cfg.label + " TTFT p99 s") << "," << csv_str(s.cfg.label + " TPOT p99 ms");
  csv << "\n";
  knee << "server,requests per s,TTFT p99 s,TPOT p99 ms\n";
  // rates on a log grid from 0.1 to 50 requests/s; a server's points stop after its queue grows
  std::vector<double> rates;
  for (double r = 0.1; r <= 51; r *= 1.25) rates.push_back(r);
  std::vector<std::vector<std::pair<double, double>>> pts(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    bool past = false;
    double knee_rate = 0, knee_ttft = 0, knee_tpot = 0;
    for (double r : rates) {
      if (past) {
        pts[i].push_back({NAN, NAN});
        continue;
      }
      auto rq = conv_requests(1500);
      serve::scale_to_rate(rq, r);
      const serve::ServeResult res = serve::simulate(*servers[i].setup.cost, servers[i].setup.cfg, rq, {}, 1);
      pts[i].push_back({res.ttft_s.p99, res.tpot_s.p99 * 1e3});
      if (res.saturated) past = true;
      else knee_rate = r, knee_ttft = res.ttft_s.p99, knee_tpot = res.tpot_s.p99 * 1e3;
    }
    if (knee_rate > 0)
      knee << csv_str(servers[i].cfg.label) << "," << csv_num(knee_rate) << "," << csv_num(knee_ttft) << "," << csv_num(knee_tpot) << "\n";
  }
  for (std::size_t k = 0; k < rates.size(); ++k) {
    csv << csv_num(rates[k]);
    for (std::size_t i = 0; i < servers.size(); ++i) csv << "," << csv_num(pts[i][k].first) << "," << csv_num(pts[i][k].second);
    csv << "\n";
  }
  c.csv = csv.str();
  c.extra_csv.push_back({"serving_latency_knee.csv", knee.str()});
  std::ostringstream gp;
  gp << "set logscale xy\nset grid\n"
     << "set key top left font \",8\"\nset xlabel \"requests per second (log scale)\"\n"
     << "unset title\nset multiplot layout 1,2 title \"" << c.title << "\" font \",10\"\n";
  for (int panel = 0; panel < 2; ++panel) {
    gp << "set title \"" << (panel == 0 ? "time to first token" : "time per output token") << "\"\nset ylabel \"" << (panel == 0 ? "TTFT p99, s" : "TPOT p99, ms") << " (log scale)\"\nplot ";
    for (std::size_t i = 0; i < servers.size(); ++i)
      gp << (i ? ", \\\n     " : "") << "\"serving_latency.csv\" using 1:" << 2 + 2 * i + panel
         << " skip 1 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"" << kColors[i % 6] << "\" title \"" << servers[i].cfg.label << "\"";
    gp << ", \\\n     \"serving_latency_knee.csv\" using 2:" << 3 + panel
       << " skip 1 with points pt 6 ps 2.5 lc rgb \"#000000\" title \"knee: the last rate before the queue grows\"\n";
  }
  gp << "unset multiplot\n";
  c.body = gp.str();
  return c;
}

ChartSpec chart_serving_throughput(const std::vector<ServedConfig>& list) {
  ChartSpec c;
  c.name = "serving_throughput";
  c.title = "Throughput vs concurrency: output tok/s with N users sending back to back (Azure conversation lengths)";
  const auto servers = load_servers(list);
  std::ostringstream csv;
  csv << "users";
  for (const auto& s : servers) csv << "," << csv_str(s.cfg.label + " output tok/s");
  csv << "\n";
  for (int u = 1; u <= 256; u *= 2) {
    csv << u;
    for (const auto& s : servers) {
      const serve::ServeResult r = serve::simulate(*s.setup.cost, s.setup.cfg, conv_requests(static_cast<std::size_t>(std::max(200, 4 * u))),
                                                   serve::ClosedLoop{u, 0}, 1);
      csv << "," << csv_num(r.output_tok_per_s);
    }
    csv << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  gp << "set logscale x 2\nset grid\nset key top left font \",9\"\n"
     << "set xlabel \"concurrent users (log scale)\"\nset ylabel \"output tokens per second\"\nset title \"" << c.title << "\" font \",10\"\nplot ";
  for (std::size_t i = 0; i < servers.size(); ++i)
    gp << (i ? ", \\\n     " : "") << "\"serving_throughput.csv\" using 1:" << 2 + i << " skip 1 with linespoints lw 2 pt 7 ps 0.7 lc rgb \""
       << kColors[i % 6] << "\" title \"" << servers[i].cfg.label << "\"";
  gp << "\n";
  c.body = gp.str();
  return c;
}

}  // namespace gs::report
