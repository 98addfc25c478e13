// gemmasim serve-sim: a server running one model for many users, simulated step by step
// (continuous batching, paged or slotted KV cache, queueing); latency percentiles,
// throughput, goodput at an SLO, and the largest load that meets it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "data_paths.h"
#include "engine.h"
#include "engine_check.h"
#include "options.h"
#include "power.h"
#include "roofline.h"
#include "serve/capacity.h"
#include "serve/setup.h"
#include "serve_report.h"
#include "table.h"
#include "text.h"

namespace gs::cli {

namespace {

struct ServeFlags {
  std::string model = "gemma4-e4b", quant = "q4_k_m", hw = "rtx-4090", engine, kv_type = "f16";
  int tp = 1;
  double usd_per_kwh = -1, rental_usd_per_hour = -1;  // < 0: hwdb/power.json's, the system's
  double rate = 0;
  std::string arrival = "poisson";
  int users = 0;
  double think_time = 0;
  std::string trace, prompt_dist = "1024", gen_dist = "256";
  long long requests = 0;
  double duration = 0;
  long long seed = 1;
  std::string slo;
  bool find_max_rate = false, find_max_users = false;
  std::string requests_out;
  bool json = false, csv = false, timeline = false;
  std::string router = "round-robin";
};

// Bundled traces by name, or a file.
std::string trace_path(const std::string& t) {
  if (t == "azure-conv") return data_path("data/traces/azure-llm-2023-conv.csv");
  if (t == "azure-code") return data_path("data/traces/azure-llm-2023-code.csv");
  return t;
}

void check_range(const char* flag, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi))
    input_error(std::string(flag) + ": expected " + num_text(lo) + " .. " + num_text(hi) + ", got " + num_text(v));
}

}  // namespace

int cmd_serve_sim(const Args& a) {
  ServeFlags f;
  serve::ServeKnobs k;
  int no_chunked = 0, chunked = 0, unified = 0, no_unified = 0, apc = 0, no_apc = 0;
  long long ctx_size = 0, num_ctx = 0, max_model_len = 0;
  const char* env_np = std::getenv("OLLAMA_NUM_PARALLEL");
  const char* env_mq = std::getenv("OLLAMA_MAX_QUEUE");
  po::options_description d("gemmasim serve-sim options");
  d.add_options()
      ("model,m", po::value(&f.model)->default_value(f.model), "model id or model JSON file")
      ("quant,q", po::value(&f.quant)->default_value(f.quant), "quantization recipe")
      ("hw", po::value(&f.hw)->default_value(f.hw), "system or device id, or a JSON file")
      ("engine", po::value(&f.engine), "vllm | llama.cpp | ollama, or an engine id (default: from the hardware and format)")
      ("kv-type", po::value(&f.kv_type)->default_value(f.kv_type), "KV-cache type")
      ("tp", po::value(&f.tp)->default_value(f.tp), "tensor parallel GPUs (vLLM --tensor-parallel-size)")
      ("rate", po::value(&f.rate), "requests per second (open loop); with --trace: rescale the trace to this mean rate")
      ("arrival", po::value(&f.arrival)->default_value(f.arrival), "poisson | gamma:CV | constant")
      ("users", po::value(&f.users), "closed loop: N users, each sending its next request after a think time")
      ("think-time", po::value(&f.think_time)->default_value(0), "mean think time between a user's requests, seconds (exponential)")
      ("trace", po::value(&f.trace), "request trace: azure-conv, azure-code (bundled), or a file (Azure CSV, BurstGPT CSV, Mooncake JSONL)")
      ("prompt-dist", po::value(&f.prompt_dist)->default_value(f.prompt_dist), "prompt tokens: N | uniform:A:B | lognormal:MEDIAN:SIGMA | trace:FILE")
      ("gen-dist", po::value(&f.gen_dist)->default_value(f.gen_dist), "output tokens: N | uniform:A:B | lognormal:MEDIAN:SIGMA | trace:FILE")
      ("requests", po::value(&f.requests), "number of requests (default 500, or the whole trace)")
      ("duration", po::value(&f.duration), "requests arriving in the first S seconds")
      ("seed", po::value(&f.seed)->default_value(f.seed), "random seed (arrivals, lengths, think times)")
      ("electricity-usd-per-kwh", po::value(&f.usd_per_kwh), "electricity price for owned hardware (default 0.17: hwdb/power.json)")
      ("rental-usd-per-hour", po::value(&f.rental_usd_per_hour), "price by the hour instead (default: the system's, for cloud systems)")
      ("max-num-seqs", po::value(&k.max_num_seqs), "vLLM --max-num-seqs")
      ("max-num-batched-tokens", po::value(&k.max_num_batched_tokens), "vLLM --max-num-batched-tokens")
      ("gpu-memory-utilization", po::value(&k.gpu_memory_utilization), "vLLM --gpu-memory-utilization (0..1)")
      ("block-size", po::value(&k.block_size), "vLLM --block-size (tokens per KV block)")
      ("max-model-len", po::value(&max_model_len), "vLLM --max-model-len")
      ("enable-chunked-prefill", po::bool_switch()->notifier([&](bool v) { chunked = v; }), "vLLM chunked prefill on (the default)")
      ("no-enable-chunked-prefill", po::bool_switch()->notifier([&](bool v) { no_chunked = v; }), "vLLM chunked prefill off")
      ("enable-prefix-caching", po::bool_switch()->notifier([&](bool v) { apc = v; }),
       "vLLM automatic prefix caching on (the default; needs a trace with hash_ids, as Mooncake's)")
      ("no-enable-prefix-caching", po::bool_switch()->notifier([&](bool v) { no_apc = v; }), "vLLM automatic prefix caching off")
      ("parallel", po::value(&k.parallel), "llama-server --parallel N (slots)")
      ("ctx-size,c", po::value(&ctx_size), "llama-server -c: context of all slots together (default: the most that fits)")
      ("kv-unified", po::bool_switch()->notifier([&](bool v) { unified = v; }), "llama-server --kv-unified: slots share the whole context")
      ("no-kv-unified", po::bool_switch()->notifier([&](bool v) { no_unified = v; }), "llama-server: each slot gets n_ctx / N")
      ("batch-size,b", po::value(&k.batch_size), "llama-server -b (tokens per step) / Ollama num_batch")
      ("ubatch-size", po::value(&k.ubatch_size), "llama-server -ub (tokens per forward pass)")
      ("num-parallel", po::value(&k.num_parallel), "Ollama OLLAMA_NUM_PARALLEL (also read from the environment)")
      ("max-queue", po::value(&k.max_queue), "Ollama OLLAMA_MAX_QUEUE (also read from the environment)")
      ("num-ctx", po::value(&num_ctx), "Ollama num_ctx per slot (default: Ollama's, by GPU memory)")
      ("speculative", po::value(&k.speculative), "speculative decoding: K draft tokens per step (needs --acceptance)")
      ("acceptance", po::value(&k.acceptance), "speculative decoding: probability that each draft token is accepted (0..1)")
      ("draft-model", po::value(&k.draft_model), "speculative decoding: the draft model (default gemma4-e2b)")
      ("replicas", po::value(&k.replicas)->default_value(1), "identical servers behind a router")
      ("router", po::value(&f.router)->default_value(f.router), "round-robin | least-outstanding")
      ("slo", po::value(&f.slo), "service-level objective, e.g. ttft_p99=0.5,tpot_p99=0.05 (seconds)")
      ("find-max-rate", po::bool_switch(&f.find_max_rate), "the largest --rate that meets the SLO (bisection)")
      ("find-max-users", po::bool_switch(&f.find_max_users), "the most --users that meet the SLO (bisection)")
      ("requests-out", po::value(&f.requests_out), "write one CSV row per request to FILE")
      ("timeline", po::bool_switch(&f.timeline), "JSON: include running/waiting/KV use over time")
      ("json", po::bool_switch(&f.json), "JSON output")
      ("csv", po::bool_switch(&f.csv), "CSV output");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim serve-sim --model M --quant Q --hw H [--engine vllm|llama.cpp|ollama] [--tp N]\n"
             "       (--rate R [--arrival poisson|gamma:CV|constant] | --users N [--think-time S] | --trace FILE)\n"
             "       [--prompt-dist D] [--gen-dist D] [--requests N | --duration S] [--seed S]\n"
             "       [engine knobs] [--slo ttft_p99=0.5,tpot_p99=0.05] [--find-max-rate | --find-max-users] [--json|--csv]"))
    return 0;
  // --- checks, each naming its flag ---
  if (f.json && f.csv) input_error("--json and --csv: give one of them");
  if (f.find_max_rate && f.find_max_users) input_error("--find-max-rate and --find-max-users: give one of them");
  if (vm.count("rate")) check_range("--rate", f.rate, 1e-6, 1e6);
  if (vm.count("users")) check_range("--users", f.users, 1, 1e6);
  if (vm.count("rate") && vm.count("users")) input_error("--rate and --users: open loop or closed loop, not both");
  check_range("--think-time", f.think_time, 0, 1e6);
  if (vm.count("requests")) check_range("--requests", static_cast<double>(f.requests), 1, 2e7);
  if (vm.count("duration")) check_range("--duration", f.duration, 1e-3, 1e8);
  if (vm.count("requests") && vm.count("duration")) input_error("--requests and --duration: give one of them");
  if (f.seed < 0) input_error("--seed: expected a number >= 0, got " + std::to_string(f.seed));
  check_range("--tp", f.tp, 1, 64);
  check_price_flags(vm, f.usd_per_kwh, f.rental_usd_per_hour);
  check_range("--replicas", k.replicas, 1, 100000);
  if (vm.count("max-num-seqs")) check_range("--max-num-seqs", k.max_num_seqs, 1, 1 << 20);
  if (vm.count("max-num-batched-tokens")) check_range("--max-num-batched-tokens", k.max_num_batched_tokens, 1, 1 << 22);
  if (vm.count("gpu-memory-utilization")) {
    if (!(k.gpu_memory_utilization > 0 && k.gpu_memory_utilization <= 1))
      input_error("--gpu-memory-utilization: expected a fraction in (0, 1], got " + report::fmt_num(k.gpu_memory_utilization, 4));
  }
  if (vm.count("block-size")) check_range("--block-size", k.block_size, 1, 1024);
  if (vm.count("max-model-len")) check_range("--max-model-len", static_cast<double>(max_model_len), 1, 1 << 24);
  if (vm.count("parallel")) check_range("--parallel", k.parallel, 1, 4096);
  if (vm.count("ctx-size")) check_range("--ctx-size", static_cast<double>(ctx_size), 1, 1 << 30);
  if (vm.count("batch-size")) check_range("--batch-size", k.batch_size, 1, 1 << 20);
  if (vm.count("ubatch-size")) check_range("--ubatch-size", k.ubatch_size, 1, 1 << 20);
  if (vm.count("num-ctx")) check_range("--num-ctx", static_cast<double>(num_ctx), 1, 1 << 24);
  if (!vm.count("num-parallel") && env_np) {
    char* end = nullptr;
    const long v = std::strtol(env_np, &end, 10);
    if (*env_np == '\0' || *end != '\0' || v < 1 || v > 4096) input_error(std::string("OLLAMA_NUM_PARALLEL: '") + env_np + "' (expected 1 .. 4096)");
    k.num_parallel = static_cast<int>(v);
  }
  if (!vm.count("max-queue") && env_mq) {
    char* end = nullptr;
    const long v = std::strtol(env_mq, &end, 10);
    if (*env_mq == '\0' || *end != '\0' || v < 0 || v > (1L << 30)) input_error(std::string("OLLAMA_MAX_QUEUE: '") + env_mq + "' (expected 0 .. 2^30)");
    k.max_queue = static_cast<int>(v);
  }
  if (vm.count("num-parallel")) check_range("--num-parallel", k.num_parallel, 1, 4096);
  if (vm.count("max-queue")) check_range("--max-queue", k.max_queue, 0, 1 << 30);
  if (vm.count("speculative")) {
    check_range("--speculative", k.speculative, 1, 16);
    if (!vm.count("acceptance")) input_error("--speculative: give --acceptance A (the probability a draft token is accepted)");
  }
  if (vm.count("acceptance")) {
    if (!vm.count("speculative")) input_error("--acceptance: only with --speculative K");
    check_range("--acceptance", k.acceptance, 0, 1);
  }
  if (vm.count("draft-model") && !vm.count("speculative")) input_error("--draft-model: only with --speculative K");
  if (chunked && no_chunked) input_error("--enable-chunked-prefill and --no-enable-chunked-prefill: give one of them");
  if (unified && no_unified) input_error("--kv-unified and --no-kv-unified: give one of them");
  if (f.router == "round-robin") k.router = serve::Router::RoundRobin;
  else if (f.router == "least-outstanding") k.router = serve::Router::LeastOutstanding;
  else input_error("--router: '" + f.router + "' (expected round-robin or least-outstanding)");
  k.chunked_prefill = chunked ? 1 : no_chunked ? 0 : -1;
  if (apc && no_apc) input_error("--enable-prefix-caching and --no-enable-prefix-caching: give one of them");
  k.prefix_caching = apc ? 1 : no_apc ? 0 : -1;
  k.kv_unified = unified ? 1 : no_unified ? 0 : -1;
  k.ctx_size = ctx_size;
  k.num_ctx = num_ctx;
  k.max_model_len = max_model_len;
  k.tp = f.tp;
  k.kv_type = f.kv_type;
  if (f.find_max_users && !vm.count("users") && vm.count("rate")) input_error("--find-max-users: a closed-loop search (drop --rate)");
  check_output(f.requests_out);

  // --- model, system, engine ---
  Common c;
  c.model = f.model, c.quant = f.quant, c.hw = f.hw, c.kv_type = f.kv_type;
  c.check_engine = false;  // checked below, against the engine it serves with
  std::string engine = f.engine;
  const Inputs in = load_inputs(c);
  if (engine == "llama.cpp") engine = default_engine(in.hw, find_recipe("q4_k_m"));
  if (engine.empty()) engine = default_engine(in.hw, in.quant);
  const EngineProfile eng = resolve_engine_for(engine, in.hw);
  (void)find_kv_type(f.kv_type);
  {
    RunRequest rr;
    rr.engine = &eng;
    rr.hw = &in.hw;
    rr.quant = &in.quant;
    rr.kv_type = f.kv_type;
    rr.tp = f.tp;
    rr.n_layer = in.model.n_layer;
    check_engine_can_run(rr);
  }
  if (vm.count("max-num-seqs") || vm.count("max-num-batched-tokens") || vm.count("gpu-memory-utilization") ||
      vm.count("block-size") || vm.count("max-model-len") || chunked || no_chunked || apc || no_apc)
    if (serve::policy_for(eng) != serve::Policy::Vllm) input_error("--max-num-seqs etc.: vLLM knobs, but the engine is " + eng.id);
  if ((vm.count("num-parallel") || vm.count("max-queue") || vm.count("num-ctx")) && serve::policy_for(eng) != serve::Policy::Ollama)
    input_error("--num-parallel/--max-queue/--num-ctx: Ollama knobs, but the engine is " + eng.id);
  if ((vm.count("parallel") || vm.count("ctx-size") || unified || no_unified) && serve::policy_for(eng) != serve::Policy::LlamaServer)
    input_error("--parallel/-c/--kv-unified: llama-server knobs, but the engine is " + eng.id);
  serve::ServeSetup setup = serve::setup_server(in.model, in.hw, in.quant, eng, k);

  // --- workload ---
  serve::Slo slo;
  if (vm.count("slo")) slo = serve::parse_slo(f.slo, "--slo");
  serve::Trace trace;
  const bool have_trace = vm.count("trace") > 0;
  if (have_trace) {
    trace = serve::read_trace(trace_path(f.trace));
    if (trace.requests.empty()) input_error("--trace: " + f.trace + ": no requests");
    if (vm.count("prompt-dist") && !vm["prompt-dist"].defaulted()) input_error("--prompt-dist: the trace gives the lengths");
  }
  const serve::LengthDist pd = serve::parse_length_dist(f.prompt_dist, "--prompt-dist");
  const serve::LengthDist gd = serve::parse_length_dist(f.gen_dist, "--gen-dist");
  const serve::ArrivalProcess arr = serve::parse_arrival(f.arrival, "--arrival");
  const i64 n_req = vm.count("requests") ? f.requests : (vm.count("duration") || have_trace ? 0 : 500);
  auto make_requests = [&](double rate) {
    std::vector<serve::Request> r;
    if (have_trace) {
      r = trace.requests;
      if (n_req > 0 && static_cast<i64>(r.size()) > n_req) r.resize(static_cast<std::size_t>(n_req));
      if (rate > 0) serve::scale_to_rate(r, rate);
      if (vm.count("duration"))
        r.erase(std::remove_if(r.begin(), r.end(), [&](const serve::Request& q) { return q.arrival_s > f.duration; }), r.end());
    } else {
      const double rr = rate > 0 ? rate : 1.0;
      r = serve::draw_requests(rr, arr, pd, gd, n_req, vm.count("duration") ? f.duration : 0, static_cast<std::uint64_t>(f.seed));
    }
    return r;
  };
  // neither --rate, --users nor --trace: 1 request/s, Poisson
  const bool closed = f.users > 0 || f.find_max_users;
  if (closed && vm.count("duration")) input_error("--duration: with --users give --requests");
  serve::ClosedLoop cl;
  cl.think_time_s = f.think_time;

  std::string wl;
  {
    char buf[512];
    const std::string lengths = have_trace ? "lengths from the trace" : "prompt " + f.prompt_dist + ", output " + f.gen_dist;
    if (f.find_max_rate)
      std::snprintf(buf, sizeof buf, "search: requests/s, %s arrivals, %s", have_trace ? f.trace.c_str() : f.arrival.c_str(), lengths.c_str());
    else if (closed)
      std::snprintf(buf, sizeof buf, "%d users (closed loop, think time %.3g s), %s", f.users, f.think_time, lengths.c_str());
    else if (have_trace)
      std::snprintf(buf, sizeof buf, "trace %s (%s)%s", f.trace.c_str(), trace.format.c_str(),
                    vm.count("rate") ? (", rescaled to " + report::fmt_num(f.rate, 3) + " req/s").c_str() : "");
    else
      std::snprintf(buf, sizeof buf, "%s arrivals at %.4g req/s, %s", f.arrival.c_str(), f.rate > 0 ? f.rate : 1.0,
                    lengths.c_str());
    wl = buf;
  }
  report::ServeHeader h{in.model.name + "  " + in.quant.id + "  on " + in.hw.name + "  (" + eng.id + ", KV " + f.kv_type +
                            (f.tp > 1 ? ", TP " + std::to_string(f.tp) : "") + ")",
                        wl};

  auto run_at = [&](double load, bool users) {
    serve::ClosedLoop u = cl;
    std::vector<serve::Request> r;
    if (users) {
      u.users = static_cast<int>(load);
      r = make_requests(1.0);
    } else {
      r = make_requests(load);
    }
    return serve::simulate(*setup.cost, setup.cfg, std::move(r), u, static_cast<std::uint64_t>(f.seed));
  };

  if (f.find_max_rate || f.find_max_users) {
    const bool users = f.find_max_users;
    const char* name = users ? "users" : "rate";
    const double start = users ? (f.users > 0 ? f.users : 8) : (f.rate > 0 ? f.rate : 1.0);
    const serve::CapacityResult cap = serve::find_max_load([&](double x) { return run_at(x, users); }, slo, start,
                                                           users ? 1 : 1e-3, users ? 1e6 : 1e6, users);
    if (f.json) {
      json j{{"model", in.model.id}, {"quant", in.quant.id}, {"hardware", in.hw.id}, {"config", report::serve_config_json(setup)},
             {"search", report::capacity_json(cap, slo, name)}};
      std::cout << j.dump(2) << "\n";
    } else if (f.csv) {
      std::cout << report::capacity_csv(cap, name);
    } else {
      std::cout << report::capacity_text(h, setup, cap, slo, name);
    }
    if (!f.requests_out.empty() && cap.found) write_output(f.requests_out, report::serve_requests_csv(cap.at_best));
    return 0;
  }

  const serve::ServeResult r = closed ? run_at(f.users, true) : run_at(vm.count("rate") ? f.rate : (have_trace ? 0 : 1.0), false);
  // Energy: the system's draw in a step of the run's mean size (its bound sets the GPU's power),
  // held over the run's span (an upper bound at light load, where the server idles between steps).
  json energy;
  std::string energy_line;
  {
    Workload w;
    w.prompt_tokens = 512;
    w.gen_tokens = 128;
    w.batch = std::max(1, static_cast<int>(std::lround(r.mean_batch_tokens)));
    RunPlacement rp;
    rp.tp = f.tp;
    const Estimate est = estimate(prepare_ops(in.model, in.quant), prepare_hardware(in.hw, eng), rp, w);
    const SystemPower pw = system_power(in.hw, est, in.hw.gpus.empty());
    const double kwh = f.usd_per_kwh > 0 ? f.usd_per_kwh : power_rules().electricity_usd_per_kwh;
    const double hourly = f.rental_usd_per_hour > 0 ? f.rental_usd_per_hour : (vm.count("electricity-usd-per-kwh") ? 0.0 : in.hw.rental_usd_per_hour);
    if (pw.known && r.output_tok_per_s > 0 && r.input_tok_per_s > 0) {
      SystemPower loaded = pw;
      loaded.prefill_w = pw.decode_w;  // one draw for the whole run: its steps mix prompt chunks and decodes
      const RunCost rc = run_cost(loaded, r.input_tok_per_s, r.output_tok_per_s, kwh, hourly);
      energy = {{"loaded_w", pw.decode_w}, {"devices", pw.what}, {"j_per_output_token", rc.decode_j_per_token},
                {"usd_per_mtok_output", rc.usd_per_mtok_output}, {"priced_by", rc.rented ? "rental_usd_per_hour" : "electricity_usd_per_kwh"}};
      char b[320];
      std::snprintf(b, sizeof b, "energy: %.0f W under load (%s): %.3g J per output token, $%.3g per million output tokens (%s)\n",
                    pw.decode_w, pw.what.c_str(), rc.decode_j_per_token, rc.usd_per_mtok_output,
                    rc.rented ? ("rented at $" + report::fmt_num(hourly, 2) + "/h").c_str()
                              : ("electricity at $" + report::fmt_num(kwh, 3) + "/kWh").c_str());
      energy_line = b;
    }
  }
  if (f.json) {
    json j{{"model", in.model.id}, {"quant", in.quant.id}, {"hardware", in.hw.id}, {"workload", wl},
           {"config", report::serve_config_json(setup)}, {"result", report::serve_result_json(r, slo, f.timeline)}};
    if (!energy.is_null()) j["energy"] = energy;
    std::cout << j.dump(2) << "\n";
  } else if (f.csv) {
    std::cout << report::serve_result_csv(r, slo);
  } else {
    std::cout << report::serve_result_text(h, setup, r, slo) << energy_line;
  }
  if (!f.requests_out.empty()) write_output(f.requests_out, report::serve_requests_csv(r));
  return 0;
}

}  // namespace gs::cli
