// gemmasim bench: how fast is the estimator? Times estimate() over every
// model x quant x hardware x 8 contexts on one core and prints estimates per
// second (target: >= 200,000), then the serving simulator: the 1-hour Azure
// conversation trace (target: >= 100,000 simulated requests per second) and a
// million requests over 8 replicas (memory: < 1 GiB). A benchmark, not a test:
// nothing is asserted.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "data_paths.h"
#include "engine.h"
#include "memory_fit.h"
#include "options.h"
#include "text.h"
#include "roofline.h"
#include "serve/setup.h"
#include "stats.h"

namespace gs::cli {

int cmd_bench(const Args& a) {
  int repeat = 3;
  bool as_json = false;
  po::options_description d("gemmasim bench options");
  d.add_options()("repeat", po::value(&repeat)->default_value(repeat), "passes over the sweep (best pass is reported)")(
      "json", po::bool_switch(&as_json), "JSON output");
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim bench [--repeat N] [--json]")) return 0;
  if (repeat < 1 || repeat > 1000) input_error("--repeat: expected 1 .. 1000, got " + std::to_string(repeat));
  const bool tty = isatty(2);

  // Setup (not timed): every model x recipe prepared once, every hardware x its default engine once.
  const auto t_setup = std::chrono::steady_clock::now();
  std::vector<ModelOps> models;
  for (const auto& m : all_models())
    for (const auto& r : all_recipes()) models.push_back(prepare_ops(m, r));
  std::vector<HardwareRates> hws;
  std::vector<std::string> hw_ids;
  for (const auto& dv : all_devices()) hw_ids.push_back(dv.id);
  for (const auto& s : all_systems()) hw_ids.push_back(s.id);
  for (const auto& id : hw_ids) {
    const System s = resolve_hardware(id);
    hws.push_back(prepare_hardware(s, resolve_engine(default_engine(s, all_recipes().front()))));
  }
  const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_setup).count();
  const i64 contexts[8] = {512, 2048, 4096, 8192, 16384, 32768, 65536, 131072};

  double best = 1e300, checksum = 0;
  long long n = 0;
  const auto t_all = std::chrono::steady_clock::now();
  std::size_t models_done = 0;
  for (int pass = 0; pass < repeat; ++pass) {
    n = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& mo : models) {
      for (const auto& hw : hws)
        for (i64 ctx : contexts) {
          Workload wl;
          wl.depth_tokens = ctx - 512;
          wl.prompt_tokens = 512;
          wl.gen_tokens = 128;
          const Estimate e = estimate(mo, hw, RunPlacement{}, wl);
          checksum += e.decode_tok_per_s;
          ++n;
        }
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
      if (tty)
        std::fprintf(stderr, "\rpass %d/%d: %lld estimates%s   ", pass + 1, repeat, n,
                     eta_text(el, static_cast<double>(++models_done) / static_cast<double>(repeat * models.size())).c_str());
    }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (tty) std::fprintf(stderr, "\n");
  const double rate = n / best;

  // Serving simulator: Gemma 4 E4B BF16 on an H100 under vLLM, the Azure conversation trace
  // (setup and trace parsing not timed), median of `repeat` runs; then a million requests.
  const serve::ServeSetup su = serve::setup_server(find_model("gemma4-e4b"), resolve_hardware("h100-sxm"),
                                                   find_recipe("bf16"), resolve_engine("vllm"), serve::ServeKnobs{});
  const serve::Trace conv = serve::read_trace(data_path("data/traces/azure-llm-2023-conv.csv"));
  std::vector<double> sim_s;
  i64 sim_steps = 0;
  for (int pass = 0; pass < std::max(repeat, 3); ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    const serve::ServeResult r = serve::simulate(*su.cost, su.cfg, conv.requests, {}, 1);
    sim_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    sim_steps = r.steps;
    checksum += r.ttft_s.p99;
  }
  const double sim_med = median(sim_s);
  serve::ServerConfig big = su.cfg;
  big.replicas = 8;
  const auto rq = serve::draw_requests(8 * 5.5, serve::ArrivalProcess{}, serve::parse_length_dist("lognormal:1020:0.8", "-"),
                                       serve::parse_length_dist("lognormal:129:0.9", "-"), 1'000'000, 0, 1);
  const auto t1 = std::chrono::steady_clock::now();
  const serve::ServeResult rb = serve::simulate(*su.cost, big, rq, {}, 1);
  const double big_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_rss_bytes = static_cast<double>(ru.ru_maxrss) * 1024.0;
  checksum += rb.ttft_s.p99;
  if (as_json) {
    std::cout << json{{"estimates", n}, {"models_x_quants", models.size()}, {"hardware", hws.size()}, {"contexts", 8},
                      {"best_pass_s", best}, {"estimates_per_s", rate}, {"setup_s", setup_s}, {"target_per_s", 200000},
                      {"checksum", checksum},
                      {"serve_sim", {{"trace", "azure-llm-2023-conv"}, {"requests", conv.requests.size()}, {"steps", sim_steps},
                                     {"median_s", sim_med}, {"requests_per_s", conv.requests.size() / sim_med},
                                     {"target_requests_per_s", 100000}, {"million_requests_s", big_s},
                                     {"million_requests_steps", rb.steps}, {"peak_rss_bytes", peak_rss_bytes}}}}
                     .dump(2)
              << "\n";
  } else {
    std::printf("sweep: %zu model x quant pairs x %zu hardware x 8 contexts = %lld estimates (prompt 512, gen 128)\n",
                models.size(), hws.size(), n);
    std::printf("setup (prepare_ops + prepare_hardware, once): %.3f s\n", setup_s);
    std::printf("best of %d passes: %.3f s -> %.0f estimates/s on one core (target 200,000)\n", repeat, best, rate);
    std::printf("serve-sim, Azure conversation trace (%zu requests, %lld steps; E4B BF16, H100, vLLM): median of %zu "
                "runs %.3f s -> %.0f simulated requests/s (target 100,000)\n",
                conv.requests.size(), static_cast<long long>(sim_steps), sim_s.size(), sim_med,
                conv.requests.size() / sim_med);
    std::printf("serve-sim, 1,000,000 requests on 8 replicas: %.2f s (%lld steps); peak memory of this process %.2f GiB "
                "(target < 1 GiB)\n",
                big_s, static_cast<long long>(rb.steps), peak_rss_bytes / (1024.0 * 1024 * 1024));
  }
  return 0;
}

}  // namespace gs::cli
