// serve_report.cpp: presentation of serving simulations (see serve_report.h).
#include "serve_report.h"

#include <cstdio>

#include "table.h"

namespace gs::report {

namespace {

json dist_json(const serve::Dist& d) {
  return json{{"mean", d.mean}, {"p50", d.p50}, {"p90", d.p90}, {"p99", d.p99}, {"max", d.max}, {"n", d.n}};
}

std::string ms(double s) { return fmt_num(s * 1e3, s < 0.1 ? 2 : 1); }

std::string slo_name(const serve::SloLimit& l) {
  return l.metric + "_" + (l.quantile < 0 ? std::string("mean") : l.quantile == 0.5 ? "p50" : l.quantile == 0.9 ? "p90" : "p99");
}

}  // namespace

json serve_config_json(const serve::ServeSetup& s) {
  const serve::ServerConfig& c = s.cfg;
  json j{{"engine", s.engine_id}, {"scheduler", s.policy_name}, {"replicas", c.replicas},
         {"kv_pool_bytes", s.kv_pool_bytes}, {"kv_bytes_per_token_global", c.kv.global_bytes_per_token},
         {"kv_bytes_per_token_sliding", c.kv.sliding_bytes_per_token}, {"sliding_window_tokens", c.kv.window_tokens}};
  if (c.policy == serve::Policy::Vllm) {
    j["max_num_seqs"] = c.max_num_seqs;
    j["max_num_batched_tokens"] = c.max_num_batched_tokens;
    j["block_size"] = c.block_size;
    j["enable_chunked_prefill"] = c.chunked_prefill;
    j["enable_prefix_caching"] = c.prefix_caching;
    j["max_model_len"] = c.max_model_len;
  } else {
    j[c.policy == serve::Policy::Ollama ? "num_parallel" : "parallel"] = c.slots;
    j["ctx_size"] = c.n_ctx;
    j["kv_unified"] = c.kv_unified;
    j["batch_size"] = c.n_batch;
    j["ubatch_size"] = s.cost ? s.cost->ubatch_tokens() : 0;
    if (c.policy == serve::Policy::Ollama) j["max_queue"] = c.max_queue;
    if (s.gpu_layers >= 0) j["gpu_layers"] = s.gpu_layers;
  }
  j["notes"] = s.notes;
  return j;
}

json serve_result_json(const serve::ServeResult& r, const serve::Slo& slo, bool timeline) {
  json j{{"requests", r.records.size()}, {"completed", r.completed}, {"rejected", r.rejected},
         {"truncated", r.truncated}, {"preemptions", r.preemptions}, {"steps", r.steps},
         {"ttft_s", dist_json(r.ttft_s)}, {"tpot_s", dist_json(r.tpot_s)}, {"itl_s", dist_json(r.itl_s)},
         {"e2e_s", dist_json(r.e2e_s)}, {"queue_s", dist_json(r.queue_s)},
         {"offered_rate_per_s", r.offered_rate_per_s}, {"throughput_req_per_s", r.throughput_req_per_s},
         {"output_tok_per_s", r.output_tok_per_s}, {"input_tok_per_s", r.input_tok_per_s},
         {"kv_peak_fraction", r.kv_peak_fraction}, {"mean_step_tokens", r.mean_batch_tokens},
         {"saturated", r.saturated}, {"duration_s", r.last_finish_s - r.first_arrival_s},
         {"prefix_hit_tokens", r.prefix_hit_tokens}, {"prefix_lookup_tokens", r.prefix_lookup_tokens}};
  if (!slo.empty()) {
    const serve::SloCheck c = serve::check_slo(r, slo);
    json lim = json::array();
    for (const auto& [l, v] : c.observed)
      lim.push_back({{"limit", slo_name(l)}, {"limit_s", l.limit_s}, {"observed_s", v}, {"met", v <= l.limit_s}});
    j["slo"] = {{"met", c.met}, {"limits", lim}, {"goodput_req_per_s", c.goodput_req_per_s},
                {"good_fraction", c.good_fraction}};
  }
  if (timeline) {
    json t = json::array();
    for (const auto& p : r.timeline)
      t.push_back({{"t_s", p.t_s}, {"running", p.running}, {"waiting", p.waiting},
                   {"kv_used_fraction", p.kv_used_fraction}, {"preemptions", p.preemptions}});
    j["timeline"] = t;
  }
  return j;
}

std::string serve_result_text(const ServeHeader& h, const serve::ServeSetup& s, const serve::ServeResult& r,
                              const serve::Slo& slo) {
  std::string out = h.title + "\n" + h.workload + "\n";
  const serve::ServerConfig& c = s.cfg;
  char buf[512];
  if (c.policy == serve::Policy::Vllm)
    std::snprintf(buf, sizeof buf,
                  "vLLM: max_num_seqs %d, max_num_batched_tokens %d, block_size %d, chunked prefill %s, prefix caching %s, "
                  "max_model_len %lld; "
                  "KV cache %s\n",
                  c.max_num_seqs, c.max_num_batched_tokens, c.block_size, c.chunked_prefill ? "on" : "off",
                  c.prefix_caching ? "on" : "off",
                  static_cast<long long>(c.max_model_len), fmt_gib(s.kv_pool_bytes).c_str());
  else
    std::snprintf(buf, sizeof buf, "%s: %d slots, -c %lld (%s), -b %d, -ub %d%s; KV cache %s\n",
                  c.policy == serve::Policy::Ollama ? "Ollama" : "llama-server", c.slots,
                  static_cast<long long>(c.n_ctx), c.kv_unified ? "unified" : "split per slot", c.n_batch,
                  s.cost ? s.cost->ubatch_tokens() : 0,
                  c.policy == serve::Policy::Ollama ? (", max queue " + std::to_string(c.max_queue)).c_str() : "",
                  fmt_gib(s.kv_pool_bytes).c_str());
  out += buf;
  if (c.replicas > 1) out += std::to_string(c.replicas) + " replicas behind a " +
                             (c.router == serve::Router::RoundRobin ? "round-robin" : "least-outstanding-requests") + " router\n";
  for (const auto& n : s.notes) out += "note: " + n + "\n";
  Table t({"metric", "mean", "p50", "p90", "p99", "max"});
  t.right_align_from(1);
  auto row = [&](const char* name, const serve::Dist& d, bool in_ms) {
    auto f = [&](double v) { return in_ms ? ms(v) : fmt_num(v, v < 10 ? 3 : 1); };
    t.add({name, f(d.mean), f(d.p50), f(d.p90), f(d.p99), f(d.max)});
  };
  row("TTFT s", r.ttft_s, false);
  row("TPOT ms", r.tpot_s, true);
  row("ITL ms", r.itl_s, true);
  row("E2E s", r.e2e_s, false);
  row("queue s", r.queue_s, false);
  out += t.text();
  const std::string offered = r.offered_rate_per_s > 0 ? " (offered " + fmt_num(r.offered_rate_per_s, 3) + " req/s)" : "";
  std::snprintf(buf, sizeof buf, "throughput: %.3g req/s, %.4g output tok/s, %.4g prompt tok/s%s; %.1f tokens per step\n",
                r.throughput_req_per_s, r.output_tok_per_s, r.input_tok_per_s, offered.c_str(), r.mean_batch_tokens);
  out += buf;
  std::snprintf(buf, sizeof buf, "requests: %lld completed, %lld rejected, %lld cut short; preemptions %lld; peak KV use %.1f%%\n",
                static_cast<long long>(r.completed), static_cast<long long>(r.rejected),
                static_cast<long long>(r.truncated), static_cast<long long>(r.preemptions), 100 * r.kv_peak_fraction);
  out += buf;
  if (r.prefix_lookup_tokens > 0) {
    std::snprintf(buf, sizeof buf, "prefix cache: %.1f%% of the prompt tokens looked up were cached (not recomputed)\n",
                  100.0 * static_cast<double>(r.prefix_hit_tokens) / static_cast<double>(r.prefix_lookup_tokens));
    out += buf;
  }
  if (r.saturated) out += "SATURATED: the queue keeps growing (requests arrive faster than they are served)\n";
  if (!slo.empty()) {
    const serve::SloCheck sc = serve::check_slo(r, slo);
    std::string lims;
    for (const auto& [l, v] : sc.observed) {
      std::snprintf(buf, sizeof buf, "%s%s %.3g s (limit %.3g) %s", lims.empty() ? "" : ", ", slo_name(l).c_str(), v,
                    l.limit_s, v <= l.limit_s ? "ok" : "MISSED");
      lims += buf;
    }
    std::snprintf(buf, sizeof buf, "SLO %s: %s; goodput %.3g req/s (%.1f%% of requests within every limit)\n",
                  sc.met ? "met" : "NOT met", lims.c_str(), sc.goodput_req_per_s, 100 * sc.good_fraction);
    out += buf;
  }
  return out;
}

std::string serve_result_csv(const serve::ServeResult& r, const serve::Slo& slo) {
  Table t({"requests", "completed", "rejected", "preemptions", "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s",
           "tpot_mean_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "itl_p50_s", "itl_p99_s", "e2e_p50_s", "e2e_p99_s",
           "queue_p50_s", "queue_p99_s", "throughput_req_per_s", "output_tok_per_s", "kv_peak_fraction", "saturated",
           "slo_met", "goodput_req_per_s"});
  auto g = [](double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    return std::string(b);
  };
  const serve::SloCheck sc = serve::check_slo(r, slo);
  t.add({std::to_string(r.records.size()), std::to_string(r.completed), std::to_string(r.rejected),
         std::to_string(r.preemptions), g(r.ttft_s.mean), g(r.ttft_s.p50), g(r.ttft_s.p90), g(r.ttft_s.p99),
         g(r.tpot_s.mean), g(r.tpot_s.p50), g(r.tpot_s.p90), g(r.tpot_s.p99), g(r.itl_s.p50), g(r.itl_s.p99),
         g(r.e2e_s.p50), g(r.e2e_s.p99), g(r.queue_s.p50), g(r.queue_s.p99), g(r.throughput_req_per_s),
         g(r.output_tok_per_s), g(r.kv_peak_fraction), r.saturated ? "1" : "0", slo.empty() ? "" : (sc.met ? "1" : "0"),
         slo.empty() ? "" : g(sc.goodput_req_per_s)});
  return t.csv();
}

std::string serve_requests_csv(const serve::ServeResult& r) {
  std::string s = "id,arrival_s,start_s,first_token_s,finish_s,prompt_tokens,gen_tokens,generated,ttft_s,tpot_s,e2e_s,queue_s,preemptions,replica,rejected\n";
  char buf[384];
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    const auto& q = r.records[i];
    const bool ok = !q.rejected;
    std::snprintf(buf, sizeof buf, "%zu,%.6f,%.6f,%.6f,%.6f,%lld,%lld,%lld,%.6f,%.6f,%.6f,%.6f,%d,%d,%d\n", i, q.arrival_s,
                  q.start_s, q.first_token_s, q.finish_s, static_cast<long long>(q.prompt_tokens),
                  static_cast<long long>(q.gen_tokens), static_cast<long long>(q.generated), ok ? q.ttft_s() : 0,
                  ok ? q.tpot_s() : 0, ok ? q.e2e_s() : 0, ok && q.start_s >= 0 ? q.queue_s() : 0, q.preemptions,
                  q.replica, q.rejected ? 1 : 0);
    s += buf;
  }
  return s;
}

json capacity_json(const serve::CapacityResult& c, const serve::Slo& slo, const char* load_name) {
  json probes = json::array();
  for (const auto& p : c.probes) {
    json j = serve_result_json(p.result, slo, false);
    j[load_name] = p.load;
    j["met"] = p.met;
    probes.push_back(j);
  }
  json j{{"found", c.found}, {std::string("max_") + load_name, c.found ? json(c.best) : json(nullptr)}, {"probes", probes}};
  if (c.found) j["at_max"] = serve_result_json(c.at_best, slo, false);
  return j;
}

std::string capacity_text(const ServeHeader& h, const serve::ServeSetup& s, const serve::CapacityResult& c,
                          const serve::Slo& slo, const char* load_name) {
  std::string out = h.title + "\n" + h.workload + "\n";
  for (const auto& n : s.notes) out += "note: " + n + "\n";
  Table t({load_name, "TTFT p99 s", "TPOT p99 ms", "E2E p99 s", "out tok/s", "saturated", "meets"});
  t.right_align_from(1);
  for (const auto& p : c.probes)
    t.add({fmt_num(p.load, p.load < 10 ? 3 : 1), fmt_num(p.result.ttft_s.p99, 3), ms(p.result.tpot_s.p99),
           fmt_num(p.result.e2e_s.p99, 2), fmt_num(p.result.output_tok_per_s, 1), p.result.saturated ? "yes" : "no",
           p.met ? "yes" : "no"});
  out += t.text();
  std::string what = slo.empty() ? "without saturating" : "within the SLO";
  if (c.found)
    out += std::string("largest ") + load_name + " " + what + ": " + fmt_num(c.best, c.best < 10 ? 3 : 1) + "\n";
  else
    out += std::string("no ") + load_name + " tried holds " + what + "\n";
  return out;
}

std::string capacity_csv(const serve::CapacityResult& c, const char* load_name) {
  Table t({load_name, "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "output_tok_per_s", "saturated", "met"});
  for (const auto& p : c.probes) {
    char b[6][40];
    std::snprintf(b[0], 40, "%.6g", p.load);
    std::snprintf(b[1], 40, "%.6g", p.result.ttft_s.p99);
    std::snprintf(b[2], 40, "%.6g", p.result.tpot_s.p99);
    std::snprintf(b[3], 40, "%.6g", p.result.e2e_s.p99);
    std::snprintf(b[4], 40, "%.6g", p.result.output_tok_per_s);
    t.add({b[0], b[1], b[2], b[3], b[4], p.result.saturated ? "1" : "0", p.met ? "1" : "0"});
  }
  return t.csv();
}

}  // namespace gs::report
