// The advisor's sweep: evaluate each (system, model, quant) once, filter, rank.
#include "advise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>

#include "engine_check.h"
#include "power.h"
#include "roofline.h"
#include "serve/sample.h"
#include "serve/setup.h"

namespace gs {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Ok: return "ok";
    case Verdict::NoEncoder: return "no-encoder";
    case Verdict::ContextTooLong: return "context-too-long";
    case Verdict::DoesNotFit: return "does-not-fit";
    case Verdict::TooSlow: return "too-slow";
    case Verdict::NoScores: return "no-scores";
    case Verdict::EngineCannotRun: return "engine-cannot-run";
  }
  return "?";
}

// Scores are published with one decimal: proxies closer than that are a tie.
static long long quality_key(double q) { return std::llround(q * 10.0); }

static double balanced_score(const Candidate& c) {
  return c.quality + kBalancedPointsPerDoubling * std::log2(std::max(c.decode_tok_per_s, 1e-9));
}

bool ranks_before(const Candidate& a, const Candidate& b, const std::string& mode) {
  const long long qa = quality_key(a.quality), qb = quality_key(b.quality);
  if (mode == "speed") {
    if (a.decode_tok_per_s != b.decode_tok_per_s) return a.decode_tok_per_s > b.decode_tok_per_s;
    if (qa != qb) return qa > qb;
  } else if (mode == "balanced") {
    const long long sa = std::llround(balanced_score(a) * 10), sb = std::llround(balanced_score(b) * 10);
    if (sa != sb) return sa > sb;
    if (qa != qb) return qa > qb;
    if (a.decode_tok_per_s != b.decode_tok_per_s) return a.decode_tok_per_s > b.decode_tok_per_s;
  } else {
    if (qa != qb) return qa > qb;
    if (a.decode_tok_per_s != b.decode_tok_per_s) return a.decode_tok_per_s > b.decode_tok_per_s;
  }
  // a rented system (no purchase price) after an owned one on a tie, then the cheaper
  if ((a.rental_usd_per_hour > 0) != (b.rental_usd_per_hour > 0)) return b.rental_usd_per_hour > 0;
  if (a.price_usd != b.price_usd) return a.price_usd < b.price_usd;
  return std::tie(a.system_id, a.model_id, a.quant_id) < std::tie(b.system_id, b.model_id, b.quant_id);
}

namespace {

const EncoderSpec* find_encoder(const ModelSpec& m, const std::string& name) {
  for (const auto& e : m.encoders)
    if (e.name == name) return &e;
  return nullptr;
}

std::string fmt_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

std::string fmt_gib1(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  return buf;
}

int n_gpu_devices(const FitResult& f) {
  int n = 0;
  for (const auto& d : f.devices) n += d.role != "host";
  return n;
}

// Shared per-sweep caches: ops per (model, quant), rates per (system, engine).
struct Sweep {
  const AdviseInput& in;
  std::map<std::string, ModelOps> ops;
  std::map<std::string, HardwareRates> rates;
  const ModelOps& ops_for(const ModelSpec& m, const QuantRecipe& q) {
    const std::string k = m.id + "|" + q.id;
    auto it = ops.find(k);
    if (it == ops.end()) it = ops.emplace(k, prepare_ops(m, q)).first;
    return it->second;
  }
  const HardwareRates& rates_for(const System& s, const EngineProfile& e) {
    const std::string k = s.id + "|" + e.id;
    auto it = rates.find(k);
    if (it == rates.end()) it = rates.emplace(k, prepare_hardware(s, e)).first;
    return it->second;
  }
};

// The candidate as a server under the requirement's load: must meet the SLO.
void serve_check(Candidate& c, const System& s, const ModelSpec& m, const QuantRecipe& q, const EngineProfile& eng,
                 const Requirements& req, i64 extra_tokens, const ModelOps& mo, const HardwareRates& hr) {
  serve::ServeKnobs k;
  k.tp = c.tp;
  const serve::Policy pol = serve::policy_for(eng);
  if (pol == serve::Policy::Vllm) {
    k.max_model_len = c.context_needed;
  } else {
    k.parallel = std::clamp(req.rate_per_s > 0 ? 16 : req.users, 1, 64);
    k.kv_unified = 1;
    k.ctx_size = std::min<i64>(c.context_fits, m.n_ctx_max);  // -c: the most that fits (as llama.cpp's --fit)
    k.gpu_layers = c.placement.gpu_layers;
    k.n_cpu_moe = c.placement.n_cpu_moe;
  }
  serve::ServeSetup su;
  try {
    su = serve::setup_server(m, s, q, eng, k, &mo, &hr);
  } catch (const InputError& e) {
    c.verdict = Verdict::DoesNotFit;
    c.why = std::string("as a server: ") + e.what();
    return;
  }
  // lengths spread around the use case's (lognormal, sigma 0.5), within the context
  std::mt19937_64 rng(1);
  const double mu_prompt = std::log(static_cast<double>(req.prompt_tokens + extra_tokens));
  const double mu_gen = std::log(static_cast<double>(req.gen_tokens));
  const double rate = req.rate_per_s > 0 ? req.rate_per_s : 1.0;
  std::vector<serve::Request> rq(static_cast<std::size_t>(req.serve_requests));
  double t = 0;
  for (auto& r : rq) {
    r.gen_tokens = std::clamp<i64>(static_cast<i64>(serve::lognormal(rng, mu_gen, 0.5)), 1, std::max<i64>(1, c.context_needed / 4));
    r.prompt_tokens = std::clamp<i64>(static_cast<i64>(serve::lognormal(rng, mu_prompt, 0.5)), 1,
                                      std::max<i64>(1, c.context_needed - r.gen_tokens - 1));
    r.arrival_s = t;
    t += serve::exponential(rng, rate);
  }
  serve::ClosedLoop users;
  if (req.rate_per_s <= 0) users = {req.users, req.think_time_s};
  const serve::ServeResult r = serve::simulate(*su.cost, su.cfg, std::move(rq), users, 1);
  const serve::SloCheck chk = serve::check_slo(r, serve::parse_slo(req.slo, "--slo"));
  c.served = true;
  c.ttft_p99_s = r.ttft_s.p99;
  c.tpot_p99_s = r.tpot_s.p99;
  c.served_output_tok_per_s = r.output_tok_per_s;
  c.served_req_per_s = r.throughput_req_per_s;
  c.serve_slots = pol == serve::Policy::Vllm ? su.cfg.max_num_seqs : su.cfg.slots;
  c.serve_ctx = pol == serve::Policy::Vllm ? su.cfg.max_model_len : su.cfg.n_ctx;
  if (!chk.met) {
    c.verdict = Verdict::TooSlow;
    std::string lims;
    for (const auto& [l, v] : chk.observed) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s%s %s %.3g s (limit %.3g)", lims.empty() ? "" : ", ", l.metric.c_str(),
                    l.quantile < 0 ? "mean" : l.quantile == 0.5 ? "p50" : l.quantile == 0.9 ? "p90" : "p99", v, l.limit_s);
      lims += buf;
    }
    const std::string load = req.rate_per_s > 0 ? fmt_num(req.rate_per_s) + " requests/s"
                                                : std::to_string(req.users) + " users";
    c.why = "as a server for " + load + ": " + lims + (r.saturated ? " (saturated)" : "") +
            (r.rejected > 0 ? ", " + std::to_string(r.rejected) + " requests rejected" : "");
  }
}

template <class Map>
const typename Map::mapped_type& lookup(const Map& m, const std::string& id, const char* what) {
  auto it = m.find(id);
  if (it == m.end()) input_error(std::string("advise: no ") + what + " '" + id + "' loaded");
  return it->second;
}

Candidate evaluate_in(Sweep& sw, const System& s0, const ModelSpec& m, const QuantRecipe& q) {
  const AdviseInput& in = sw.in;
  const Requirements& req = in.req;
  Candidate c;
  c.system_id = s0.id;
  c.system_name = s0.name;
  c.form_factor = s0.form_factor;
  c.rental_usd_per_hour = s0.rental_usd_per_hour;
  c.model_id = m.id;
  c.model_name = m.name;
  c.quant_id = q.id;
  c.price_usd = s0.price_usd;

  // Quality first (cheap): no scores or no penalty -> cannot be ranked.
  const auto bench = req.benchmarks.empty() ? percent_benchmarks(m) : req.benchmarks;
  const auto base = base_quality(m, bench);
  const QuantPenalty* pen = in.penalties.find(q.id);
  if (!base || !pen) {
    c.verdict = Verdict::NoScores;
    c.why = !base ? m.id + " has no published benchmark scores (models/*.json quality)"
                  : "no quality penalty for " + q.id + " in quants/quality-penalty.json";
    return c;
  }
  c.base_quality = *base;
  c.penalty = pen->penalty;
  c.quality = quality_proxy(*base, pen->penalty);

  // Modality: encoder present? its weights and tokens.
  auto mit = in.book.modalities.find(req.modality);
  if (mit == in.book.modalities.end()) input_error("--modality: unknown '" + req.modality + "' (expected text, image or audio)");
  const ModalitySpec& mod = mit->second;
  i64 extra_tokens = mod.extra_tokens;
  System s = s0;
  if (!mod.encoder.empty()) {
    const EncoderSpec* enc = find_encoder(m, mod.encoder);
    if (!enc) {
      c.verdict = Verdict::NoEncoder;
      c.why = m.name + " has no " + mod.encoder + " encoder";
      return c;
    }
    if (extra_tokens == 0) extra_tokens = static_cast<i64>(enc->tokens_per_item) * mod.items;
    c.encoder_bytes = enc->params * in.book.encoder_bytes_per_param;
    if (!s.gpus.empty()) s.gpus[0].memory_bytes = std::max(0.0, s.gpus[0].memory_bytes - c.encoder_bytes);
    else s.host_memory_bytes = std::max(0.0, s.host_memory_bytes - c.encoder_bytes);
  }
  c.context_needed = req.context_tokens + extra_tokens;
  if (c.context_needed > m.n_ctx_max) {
    c.verdict = Verdict::ContextTooLong;
    c.why = "context " + std::to_string(c.context_needed) + " tokens is beyond " + m.name + "'s limit of " +
            std::to_string(m.n_ctx_max);
    return c;
  }

  // Placement.
  c.engine = default_engine(s, q);
  const MemoryRules& rules = lookup(in.rules, c.engine, "memory rules for engine");
  const EngineProfile& eng = lookup(in.engines, c.engine, "engine profile");
  FitOptions o;
  o.context_tokens = c.context_needed;
  o.n_seq = req.serving ? 1 : req.users;  // a server's KV cache is judged by the simulation
  const bool vllm = eng.memory.tensor_parallel;
  if (vllm && s.gpus.size() > 1) o.tp = static_cast<int>(s.gpus.size());  // --tensor-parallel-size: every GPU
  {
    // never propose what the engine cannot run (BF16 in vLLM on a GPU without BF16, Pascal ...)
    const EngineProfile on = engine_on_backend(eng, s.backend());
    RunRequest rr;
    rr.engine = &on;
    rr.hw = &s;
    rr.quant = &q;
    rr.kv_type = "f16";
    if (!on.kv_types.empty() && !on.supports_kv_type(rr.kv_type)) rr.kv_type = on.kv_types.front();
    rr.tp = o.tp;
    rr.n_layer = m.n_layer;
    const std::string why = engine_cannot_run(rr);
    if (!why.empty()) {
      c.verdict = Verdict::EngineCannotRun;
      c.why = why;
      return c;
    }
  }
  FitResult fr = fit(m, s, q, rules, o);
  const int n_gpu = n_gpu_devices(fr);
  c.cpu_only = n_gpu == 0;
  c.split = c.cpu_only ? "CPU only" : (s.unified() ? "unified, all layers" : "full GPU");
  if (!fr.fits && !c.cpu_only && !vllm) {
    const FitResult full = fr;
    bool placed = false;
    if (m.moe.n_expert > 0) {
      FitOptions t = o;
      t.placement.n_cpu_moe = m.n_layer;
      if (fit(m, s, q, rules, t).fits) {
        int lo = 1, hi = m.n_layer;  // smallest N that fits
        while (lo < hi) {
          const int mid = (lo + hi) / 2;
          t.placement.n_cpu_moe = mid;
          if (fit(m, s, q, rules, t).fits) hi = mid;
          else lo = mid + 1;
        }
        o.placement.n_cpu_moe = lo;
        c.split = "--n-cpu-moe " + std::to_string(lo);
        placed = true;
      }
    }
    if (!placed) {
      const int ngl = max_gpu_layers(m, s, q, rules, o);
      if (ngl >= 0 && ngl <= m.n_layer) {
        o.placement.gpu_layers = ngl;
        c.split = ngl == m.n_layer ? "-ngl " + std::to_string(ngl) + " (output head on CPU)"
                                   : "-ngl " + std::to_string(ngl) + " of " + std::to_string(m.n_layer);
        placed = true;
      }
    }
    fr = placed ? fit(m, s, q, rules, o) : full;
  }
  c.placement = o.placement;
  c.fit = fr;
  if (!fr.fits) {
    c.verdict = Verdict::DoesNotFit;
    c.why = "needs " + fmt_gib1(fr.total_bytes + c.encoder_bytes) + " at " + std::to_string(c.context_needed) +
            " tokens x " + std::to_string(req.users) + (vllm ? " (vLLM: all on the GPU)" : "") + ", has " +
            fmt_gib1(fr.capacity_bytes + c.encoder_bytes);
    return c;
  }
  c.context_fits = max_context(m, s, q, rules, o);
  if (vllm && n_gpu > 1) c.tp = n_gpu;

  // Speed.
  RunPlacement pl;
  pl.gpu_layers = o.placement.gpu_layers;
  pl.n_cpu_moe = o.placement.n_cpu_moe;
  pl.tp = c.tp;
  Workload wl;
  wl.prompt_tokens = std::max<i64>(1, std::min(req.prompt_tokens, req.context_tokens - req.gen_tokens)) + extra_tokens;
  wl.gen_tokens = req.gen_tokens;
  // the last reply of a full context: the prompt read at the depth the conversation reached
  wl.depth_tokens = std::max<i64>(0, c.context_needed - wl.prompt_tokens - wl.gen_tokens);
  wl.decode_after_prompt = true;
  c.decode_mean_depth_tokens = wl.depth_tokens + wl.prompt_tokens + wl.gen_tokens / 2;
  wl.batch = req.serving ? 1 : req.users;
  const Estimate e = estimate(sw.ops_for(m, q), sw.rates_for(s, eng), pl, wl);
  c.prefill_tok_per_s = e.prefill_tok_per_s;
  c.decode_tok_per_s = e.decode_tok_per_s;
  c.decode_tok_per_s_aggregate = e.decode_tok_per_s_aggregate;
  if (c.decode_tok_per_s < req.min_decode_tok_per_s || c.prefill_tok_per_s < req.min_prefill_tok_per_s) {
    c.verdict = Verdict::TooSlow;
    char buf[96];
    std::snprintf(buf, sizeof buf, "decode %.1f tok/s (needs %.1f)", c.decode_tok_per_s, req.min_decode_tok_per_s);
    c.why = buf;
    if (req.min_prefill_tok_per_s > 0) {
      std::snprintf(buf, sizeof buf, ", prefill %.0f tok/s (needs %.0f)", c.prefill_tok_per_s, req.min_prefill_tok_per_s);
      c.why += buf;
    }
  }
  if (req.serving && c.verdict == Verdict::Ok)
    serve_check(c, s, m, q, eng, req, extra_tokens, sw.ops_for(m, q), sw.rates_for(s, eng));
  // Running cost: the hours a day of generation (or those the daily tokens take at this speed).
  const bool host_computes = s.gpus.empty() || o.placement.gpu_layers >= 0 || o.placement.n_cpu_moe > 0;
  const SystemPower pw = system_power(s, e, host_computes);
  const double agg = req.serving && c.served_output_tok_per_s > 0 ? c.served_output_tok_per_s : c.decode_tok_per_s_aggregate;
  if (pw.known && agg > 0) {
    c.decode_w = pw.decode_w;
    c.j_per_output_token = pw.decode_w / agg;
    const double hours = req.tokens_per_day > 0 ? req.tokens_per_day / agg / 3600.0 : req.hours_per_day;
    c.monthly_usd = c.rental_usd_per_hour > 0 ? c.rental_usd_per_hour * hours * kDaysPerMonth
                                              : pw.decode_w / 1000.0 * hours * kDaysPerMonth * req.electricity_usd_per_kwh;
  }
  return c;
}

}  // namespace

Candidate evaluate(const System& s, const ModelSpec& m, const QuantRecipe& q, const AdviseInput& in) {
  Sweep sw{in, {}, {}};
  return evaluate_in(sw, s, m, q);
}

void explain(AdviseResult& r, const AdviseInput& in);  // advise_explain.cpp

AdviseResult advise(const AdviseInput& in, const std::function<void(int, int)>& progress) {
  if (in.req.users < 1) input_error("--users: need at least 1 concurrent sequence");
  AdviseResult r;
  r.req = in.req;
  Sweep sw{in, {}, {}};
  const int total = static_cast<int>(in.systems.size());
  for (int i = 0; i < total; ++i) {
    for (const auto& m : in.models)
      for (const auto& q : in.quants) {
        Candidate c = evaluate_in(sw, in.systems[static_cast<std::size_t>(i)], m, q);
        ++r.evaluated;
        (c.verdict == Verdict::Ok ? r.ranked : r.rejected).push_back(std::move(c));
      }
    if (progress) progress(i + 1, total);
  }
  if (in.req.rank != "quality" && in.req.rank != "speed" && in.req.rank != "balanced")
    input_error("--rank: expected quality, speed or balanced, got '" + in.req.rank + "'");
  const std::string mode = in.req.rank;
  std::sort(r.ranked.begin(), r.ranked.end(), [&mode](const Candidate& a, const Candidate& b) { return ranks_before(a, b, mode); });
  // Buy vs rent: the cheapest rented system that meets the requirements against each owned one.
  for (std::size_t i = 0; i < r.ranked.size(); ++i) {
    const Candidate& c = r.ranked[i];
    if (c.rental_usd_per_hour > 0 && c.monthly_usd > 0 &&
        (r.cheapest_rented < 0 || c.monthly_usd < r.ranked[static_cast<std::size_t>(r.cheapest_rented)].monthly_usd))
      r.cheapest_rented = static_cast<int>(i);
  }
  const Candidate* cloud = r.cheapest_rented < 0 ? nullptr : &r.ranked[static_cast<std::size_t>(r.cheapest_rented)];
  if (cloud)
    for (auto& c : r.ranked)
      if (c.rental_usd_per_hour <= 0 && c.price_usd > 0 && cloud->monthly_usd > c.monthly_usd)
        c.breakeven_months = c.price_usd / (cloud->monthly_usd - c.monthly_usd);
  explain(r, in);
  return r;
}

}  // namespace gs
