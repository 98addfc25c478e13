// gemmasim trace-gen: synthetic MoE routing traces (JSON Lines or CSV) with controlled
// Zipf skew per layer, temporal locality and prompt/decode phases (sim/moe/trace_gen.h);
// with --requests N, a request trace for serve-sim instead (arrival times and lengths, in
// the Azure trace's CSV columns).
#include <cstdio>
#include <iostream>
#include <sstream>

#include "moe/replay_inputs.h"
#include "moe_flags.h"
#include "moe/trace_gen.h"
#include "options.h"
#include "serve/workload.h"

namespace gs::cli {

// "0.5,1,1.2" -> {0.5, 1, 1.2}; InputError naming the flag on a bad value.
std::vector<double> parse_number_list(const std::string& s, const std::string& flag) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string cell;
  while (std::getline(ss, cell, ',')) {
    std::size_t pos = 0;
    double x = 0;
    try {
      x = std::stod(cell, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos == 0 || cell.find_first_not_of(" \t", pos) != std::string::npos)
      input_error(flag + ": '" + cell + "' is not a number (expected a comma-separated list such as 0.8,1.0,1.2)");
    v.push_back(x);
  }
  if (v.empty()) input_error(flag + ": empty list");
  return v;
}

void add_gen_flags(po::options_description& d, GenFlags& g) {
  d.add_options()
      ("tokens", po::value(&g.tokens)->default_value(g.tokens), "tokens in the trace (prompt + generated)")
      ("prompt", po::value(&g.prompt)->default_value(g.prompt), "first P tokens are the prompt (prefill phase)")
      ("skew", po::value(&g.skew)->default_value(g.skew), "Zipf exponent of expert popularity, every layer (0 = uniform)")
      ("skew-per-layer", po::value(&g.skew_per_layer), "Zipf exponents, one per MoE layer: z0,z1,...")
      ("locality", po::value(&g.locality)->default_value(g.locality), "probability of reusing each of the previous token's experts")
      ("seed", po::value(&g.seed)->default_value(g.seed), "random seed of the token routing")
      ("popularity-seed", po::value(&g.popularity_seed)->default_value(g.popularity_seed),
       "seed of each layer's expert popularity order (keep it to pair a profile and an evaluation trace)");
}

moe::TraceGenParams gen_params(const GenFlags& g, const ModelSpec& m) {
  if (g.tokens <= 0) input_error("--tokens: " + std::to_string(g.tokens) + " (expected at least 1)");
  if (g.prompt < 0) input_error("--prompt: " + std::to_string(g.prompt) + " (expected >= 0)");
  if (g.tokens > 50'000'000) input_error("--tokens: " + std::to_string(g.tokens) + " (expected at most 50,000,000)");
  moe::TraceGenParams p;
  p.shape = moe::trace_shape(m);
  p.moe_layers = moe::moe_layers(m);
  p.n_tokens = static_cast<std::size_t>(g.tokens);
  p.n_prompt = static_cast<std::size_t>(g.prompt);
  p.skew = g.skew_per_layer.empty() ? std::vector<double>{g.skew} : parse_number_list(g.skew_per_layer, "--skew-per-layer");
  p.locality = g.locality;
  p.seed = g.seed;
  p.popularity_seed = g.popularity_seed;
  return p;
}

int cmd_trace_gen(const Args& a) {
  std::string model = "gemma4-26b-a4b", out;
  GenFlags g;
  bool no_weights = false;
  long long n_requests = 0;
  double rate = 1;
  std::string arrival = "poisson", prompt_dist = "1024", gen_dist = "256";
  po::options_description d("gemmasim trace-gen options");
  d.add_options()
      ("requests", po::value(&n_requests), "write a request trace of N requests (serve-sim --trace) instead of a routing trace")
      ("rate", po::value(&rate)->default_value(rate), "request trace: mean requests per second")
      ("arrival", po::value(&arrival)->default_value(arrival), "request trace: poisson | gamma:CV | constant")
      ("prompt-dist", po::value(&prompt_dist)->default_value(prompt_dist), "request trace: N | uniform:A:B | lognormal:MEDIAN:SIGMA | trace:FILE")
      ("gen-dist", po::value(&gen_dist)->default_value(gen_dist), "request trace: N | uniform:A:B | lognormal:MEDIAN:SIGMA | trace:FILE")
      ("model,m", po::value(&model)->default_value(model), "MoE model id or model JSON file")
      ("output,o", po::value(&out), "output file: .jsonl (JSON Lines) or .csv; '-' for stdout (JSON Lines)")
      ("no-weights", po::bool_switch(&no_weights), "leave out the router weights");
  add_gen_flags(d, g);
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim trace-gen --model gemma4-26b-a4b --tokens N [--skew Z | --skew-per-layer z0,z1,...] "
             "[--locality p] [--prompt P] [--seed S] -o FILE.jsonl\n"
             "       gemmasim trace-gen --requests N [--rate R] [--arrival poisson|gamma:CV|constant] [--prompt-dist D] "
             "[--gen-dist D] [--seed S] -o FILE.csv"))
    return 0;
  if (out.empty()) input_error("-o: output file required (FILE.jsonl, FILE.csv or - for stdout)");
  if (vm.count("requests")) {
    if (n_requests < 1 || n_requests > 20'000'000)
      input_error("--requests: expected 1 .. 20,000,000, got " + std::to_string(n_requests));
    if (!(rate > 0 && rate <= 1e6)) input_error("--rate: expected a number in (0, 1e6] requests per second");
    const serve::ArrivalProcess arr = serve::parse_arrival(arrival, "--arrival");
    const serve::LengthDist pd = serve::parse_length_dist(prompt_dist, "--prompt-dist");
    const serve::LengthDist gd = serve::parse_length_dist(gen_dist, "--gen-dist");
    check_output(out);
    const auto rq = serve::draw_requests(rate, arr, pd, gd, n_requests, 0, g.seed);
    write_output(out, serve::trace_csv(rq));
    if (out != "-")
      std::fprintf(stderr, "trace-gen: %lld requests over %.1f s -> %s\n", n_requests, rq.back().arrival_s, out.c_str());
    return 0;
  }
  if (vm.count("skew-per-layer") && !vm["skew"].defaulted()) input_error("--skew and --skew-per-layer: give one of them");
  const ModelSpec m = find_model(model);
  moe::TraceGenParams p = gen_params(g, m);
  p.with_weights = !no_weights;
  const moe::Trace tr = moe::generate_trace(p);
  if (out == "-") {
    moe::write_trace_jsonl(tr, std::cout, moe::trace_gen_meta(p, m.id));
    return 0;
  }
  moe::write_trace(tr, out, moe::trace_gen_meta(p, m.id));
  std::fprintf(stderr, "trace-gen: %zu tokens x %d MoE layers x top-%d = %zu routing events -> %s\n", tr.n_tokens(),
               tr.n_slots(), tr.k(), tr.n_events(), out.c_str());
  return 0;
}

}  // namespace gs::cli
