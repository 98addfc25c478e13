// gemmasim serve-run: the reference kernel serves requests on this CPU with continuous
// batching (llama-server's scheduler: slots, prompt chunks joining decode steps, one forward
// pass per step over every sequence), and records what serve-sim reports; with this
// machine's probe it also runs serve-sim on the same requests and prints both.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "data_paths.h"
#include "engine.h"
#include "gguf.h"
#include "model_files.h"
#include "options.h"
#include "probe.h"
#include "serve/setup.h"
#include "serve_report.h"
#include "serve_run.h"
#include "table.h"
#include "text.h"
#include "weights.h"

namespace gs::cli {

namespace {

// Progress on a terminal every second or so: steps, seconds of serving, requests done and the
// time left (requests finished so far against the wall time they took).
class ProgressExecutor : public serve::StepExecutor {
 public:
  ProgressExecutor(measure::KernelExecutor& k, std::size_t requests) : k_(k), tty_(::isatty(2) != 0), requests_(requests) {}
  double run(const std::vector<serve::StepItem>& items) override {
    const double dt = k_.run(items);
    clock_s_ += dt;
    const auto now = std::chrono::steady_clock::now();
    if (tty_ && std::chrono::duration<double>(now - last_).count() > 1.0) {
      const double el = std::chrono::duration<double>(now - t0_).count();
      const double done = requests_ ? static_cast<double>(std::min(released_, requests_ - 1)) / static_cast<double>(requests_) : 0;
      std::fprintf(stderr, "\rserve-run: %lld steps, %.1f s of serving, %zu/%zu requests%s   ",
                   static_cast<long long>(k_.steps()), clock_s_, released_, requests_, eta_text(el, done).c_str());
      last_ = now;
      shown_ = true;
    }
    return dt;
  }
  // a request's cache goes when it finishes (llama-server's slots do not preempt)
  void release(int r) override {
    k_.release(r);
    ++released_;
  }
  ~ProgressExecutor() override {
    if (shown_) std::fprintf(stderr, "\n");
  }

 private:
  measure::KernelExecutor& k_;
  bool tty_, shown_ = false;
  std::size_t requests_, released_ = 0;
  double clock_s_ = 0;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), last_ = t0_;
};

double rel_err(double pred, double meas) { return meas > 0 ? (pred - meas) / meas : 0; }

}  // namespace

int cmd_serve_run(const Args& a) {
  std::string model = "gemma4-e2b", quant = "q4_0", kv = "f16", probe, arrival = "poisson", prompt_dist = "128",
              gen_dist = "32", trace_file, slo_s, requests_out;
  unsigned long long seed = 1;
  int threads = 0, parallel = 4, ubatch = 256, users = 0;
  long long n_requests = 40, ctx = 0;
  double rate = 0.5, think = 0;
  bool js = false, cs = false, no_compare = false;
  po::options_description d("gemmasim serve-run options");
  d.add_options()
      ("model", po::value(&model)->default_value(model), "FILE.gguf, or a model id (synthesised into the cache folder first)")
      ("quant", po::value(&quant)->default_value(quant), "quantization of a synthesised model: f32 f16 bf16 q8_0 q4_0 q4_k_m")
      ("seed", po::value(&seed)->default_value(seed), "seed of the synthetic weights, prompts and arrivals")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0: OpenMP's default)")
      ("kv-type", po::value(&kv)->default_value(kv), "KV cache: f16 or f32")
      ("rate", po::value(&rate)->default_value(rate), "requests per second (open loop)")
      ("arrival", po::value(&arrival)->default_value(arrival), "poisson | gamma:CV | constant")
      ("users", po::value(&users), "closed loop: N users instead of --rate")
      ("think-time", po::value(&think)->default_value(0), "closed loop: mean seconds between a user's requests")
      ("trace", po::value(&trace_file), "request trace (Azure CSV, BurstGPT CSV, Mooncake JSONL), rescaled to --rate")
      ("prompt-dist", po::value(&prompt_dist)->default_value(prompt_dist), "prompt tokens: N | uniform:A:B | lognormal:MEDIAN:SIGMA")
      ("gen-dist", po::value(&gen_dist)->default_value(gen_dist), "output tokens: N | uniform:A:B | lognormal:MEDIAN:SIGMA")
      ("requests", po::value(&n_requests)->default_value(n_requests), "number of requests")
      ("parallel", po::value(&parallel)->default_value(parallel), "slots (llama-server --parallel)")
      ("ctx-size,c", po::value(&ctx), "context of all slots together (default: enough for the longest request in each)")
      ("ubatch-size", po::value(&ubatch)->default_value(ubatch), "tokens per step (one forward pass)")
      ("probe", po::value(&probe), "this machine's probe (gemmasim probe -o FILE) for the serve-sim comparison "
                                   "(default: validate's cached probe, when there is one)")
      ("no-compare", po::bool_switch(&no_compare), "measure only")
      ("slo", po::value(&slo_s), "service-level objective, e.g. ttft_p99=2,tpot_p99=0.2")
      ("requests-out", po::value(&requests_out), "write one CSV row per request to FILE")
      ("json", po::bool_switch(&js), "JSON output")
      ("csv", po::bool_switch(&cs), "CSV output (measured, then predicted when compared)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim serve-run --model FILE.gguf|ID [--quant Q] [--rate R | --users N] [--prompt-dist D] [--gen-dist D]\n"
             "       [--requests N] [--parallel N] [--ubatch-size N] [--threads T] [--probe FILE] [--json|--csv]"))
    return 0;
  if (js && cs) input_error("--json and --csv: give one of them");
  if (!(rate > 0 && rate <= 1e4)) input_error("--rate: expected (0, 1e4] requests per second");
  if (vm.count("users") && (users < 1 || users > 4096)) input_error("--users: expected 1 .. 4096");
  if (!(think >= 0 && think <= 1e5)) input_error("--think-time: expected 0 .. 1e5 seconds");
  if (n_requests < 1 || n_requests > 100000) input_error("--requests: expected 1 .. 100000");
  if (parallel < 1 || parallel > 256) input_error("--parallel: expected 1 .. 256");
  if (ubatch < 1 || ubatch > 4096) input_error("--ubatch-size: expected 1 .. 4096");
  check_threads(threads);
  if (vm.count("ctx-size") && (ctx < 1 || ctx > (1LL << 24))) input_error("--ctx-size: expected 1 .. 16M tokens");
  if (threads > 0) omp_set_num_threads(threads);
  check_output(requests_out);
  serve::Slo slo;
  if (vm.count("slo")) slo = serve::parse_slo(slo_s, "--slo");

  // requests
  std::vector<serve::Request> reqs;
  if (vm.count("trace")) {
    reqs = serve::read_trace(trace_file).requests;
    if (reqs.empty()) input_error("--trace: no requests");
    if (static_cast<long long>(reqs.size()) > n_requests) reqs.resize(static_cast<std::size_t>(n_requests));
    serve::scale_to_rate(reqs, rate);
  } else {
    reqs = serve::draw_requests(rate, serve::parse_arrival(arrival, "--arrival"), serve::parse_length_dist(prompt_dist, "--prompt-dist"),
                                serve::parse_length_dist(gen_dist, "--gen-dist"), n_requests, 0, seed);
  }
  i64 longest = 0;
  for (const auto& r : reqs) longest = std::max<i64>(longest, r.prompt_tokens + r.gen_tokens);
  const i64 n_ctx = vm.count("ctx-size") ? ctx : longest * parallel;

  // the model
  if (!is_gguf_path(model)) {
    const ModelSpec pre = find_model(model);
    if (longest > pre.n_ctx_max) input_error("a request of " + std::to_string(longest) + " tokens is beyond " + pre.id + "'s context");
  }
  const std::string path = resolve_gguf(model, quant, seed);
  const ref::GgufFile file(path);
  const ModelSpec m = ref::model_for_gguf(file, "");
  ref::ModelWeights w = ref::bind_weights(m, file);
  ref::interleave_weights(w, &file);
  ref::huge_page_weights(w, &file);
  ref::prefault_weights(w);

  serve::ServerConfig cfg;
  cfg.policy = serve::Policy::LlamaServer;
  cfg.slots = parallel;
  cfg.n_ctx = n_ctx;
  cfg.kv_unified = false;
  cfg.n_batch = ubatch;
  const serve::StepCost unused = serve::StepCost::linear(0, 0, 0, ubatch, n_ctx);
  measure::KernelExecutor kex(m, w, ref::kv_type_from_name(kv), ubatch, reqs, seed);
  kex.warm_up();
  serve::ClosedLoop cl;
  if (users > 0) cl = {users, think};
  serve::ServeResult measured;
  {
    ProgressExecutor pex(kex, reqs.size());
    measured = serve::simulate(unused, cfg, reqs, cl, seed, &pex);
  }

  // serve-sim on the same requests, with this machine's probe and the reference engine
  std::string probe_path = probe, no_probe_why = "no probe of this machine";
  if (probe_path.empty() && !no_compare) {
    const std::string cached = synth_cache_dir() + "/probe-this-machine.json";
    if (std::filesystem::exists(cached)) {
      bool fresh = false;
      try {
        fresh = measure::probe_reusable(read_json_file(cached), measure::this_cpu(), omp_get_max_threads(), std::time(nullptr));
      } catch (const InputError&) {
      }
      if (fresh) probe_path = cached;
      else no_probe_why = "the cached probe " + cached + " is older than an hour, of another machine or by an older gemmasim";
    }
  }
  bool compared = false;
  serve::ServeResult predicted;
  std::string compare_note;
  if (!no_compare && !probe_path.empty()) {
    try {
      const System hw = resolve_hardware(probe_path);
      const EngineProfile eng = resolve_engine_for("reference", hw);
      serve::ServeKnobs k;
      k.parallel = parallel;
      k.ctx_size = n_ctx;
      k.kv_unified = 0;
      k.batch_size = ubatch;
      k.ubatch_size = ubatch;
      k.kv_type = kv;
      const serve::ServeSetup su = serve::setup_server(m, hw, find_recipe(quant == "q4_k_m" ? "q4_k_m" : quant), eng, k);
      predicted = serve::simulate(*su.cost, su.cfg, reqs, cl, seed);
      compared = true;
    } catch (const InputError& e) {
      compare_note = std::string("no serve-sim comparison: ") + e.what();
    }
  } else if (!no_compare) {
    compare_note = "no serve-sim comparison: " + no_probe_why + " (gemmasim probe -o FILE, then --probe FILE; or run validate once)";
  }

  if (js) {
    json j{{"model", m.id}, {"quant", quant}, {"threads", omp_get_max_threads()}, {"parallel", parallel}, {"ctx_size", n_ctx},
           {"ubatch_size", ubatch}, {"measured", report::serve_result_json(measured, slo, false)}};
    if (compared) {
      j["predicted"] = report::serve_result_json(predicted, slo, false);
      j["probe"] = probe_path;
    } else if (!compare_note.empty()) {
      j["compare_note"] = compare_note;
    }
    std::cout << j.dump(2) << "\n";
  } else if (cs) {
    std::cout << report::serve_result_csv(measured, slo);
    if (compared) std::cout << report::serve_result_csv(predicted, slo);
  } else {
    std::printf("serve-run: %s %s, %d threads, %d slots, -c %lld, %d tokens per step; %zu requests%s\n", m.id.c_str(),
                quant.c_str(), omp_get_max_threads(), parallel, static_cast<long long>(n_ctx), ubatch, reqs.size(),
                users > 0 ? (", " + std::to_string(users) + " users").c_str() : (", " + report::fmt_num(rate, 3) + " req/s").c_str());
    report::Table t({"metric", "measured", compared ? "serve-sim" : "", compared ? "error" : ""});
    t.right_align_from(1);
    auto row = [&](const char* name, double mv, double pv, double scale) {
      t.add({name, report::fmt_num(mv * scale, 3), compared ? report::fmt_num(pv * scale, 3) : "",
             compared ? report::fmt_num(100 * rel_err(pv, mv), 1) + "%" : ""});
    };
    row("TTFT p50 s", measured.ttft_s.p50, predicted.ttft_s.p50, 1);
    row("TTFT p99 s", measured.ttft_s.p99, predicted.ttft_s.p99, 1);
    row("TPOT p50 ms", measured.tpot_s.p50, predicted.tpot_s.p50, 1e3);
    row("TPOT p99 ms", measured.tpot_s.p99, predicted.tpot_s.p99, 1e3);
    row("E2E p50 s", measured.e2e_s.p50, predicted.e2e_s.p50, 1);
    row("output tok/s", measured.output_tok_per_s, predicted.output_tok_per_s, 1);
    row("requests/s", measured.throughput_req_per_s, predicted.throughput_req_per_s, 1);
    std::fputs(t.text().c_str(), stdout);
    std::printf("steps %lld, %.1f tokens per step; %s\n", static_cast<long long>(measured.steps), measured.mean_batch_tokens,
                measured.saturated ? "SATURATED (the queue kept growing)" : "not saturated");
    if (compared) std::printf("serve-sim: the same requests and scheduler, steps costed from the probe %s\n", probe_path.c_str());
    if (!compare_note.empty()) std::printf("%s\n", compare_note.c_str());
  }
  if (!requests_out.empty()) write_output(requests_out, report::serve_requests_csv(measured));
  return 0;
}

}  // namespace gs::cli
