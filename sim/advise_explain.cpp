// The advisor's words: the reason for the winner and for each variant ruled out,
// the command that runs a candidate, and JSON.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "advise.h"

namespace gs {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string price(double usd) { return usd > 0 ? "$" + fmt("%.0f", usd) : "price unknown"; }
// what a candidate costs: its price, or its hourly rent
std::string cost(const Candidate& c) { return c.rental_usd_per_hour > 0 ? "$" + fmt("%.2f", c.rental_usd_per_hour) + "/h" : price(c.price_usd); }

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string quant_name(const std::string& id) {
  // GGUF file names use upper case with a lower-case K-quant size letter kept upper: Q4_K_M, IQ4_XS, BF16.
  return upper(id);
}

std::string where(const Candidate& c) { return c.model_name + " " + quant_name(c.quant_id) + " on " + c.system_id; }

}  // namespace

std::string gguf_file_name(const std::string& model_id, const std::string& qname) {
  const std::string pre = "gemma4-";
  if (model_id.rfind(pre, 0) == 0) return "gemma-4-" + upper(model_id.substr(pre.size())) + "-it-" + qname + ".gguf";
  return model_id + "-" + qname + ".gguf";
}

std::vector<std::string> run_commands(const Candidate& c, const Requirements& req) {
  std::vector<std::string> out;
  const i64 ctx = c.context_needed;  // what the requirements need (context_fits is the most that would fit)
  const std::string pre = "gemma4-";
  const bool gemma4 = c.model_id.rfind(pre, 0) == 0;
  const std::string size = gemma4 ? upper(c.model_id.substr(pre.size())) : c.model_id;
  if (c.engine == "vllm") {
    std::string cmd = "vllm serve " + (gemma4 ? "google/gemma-4-" + size + "-it" : c.model_id) + " --max-model-len " +
                      std::to_string(c.served ? c.serve_ctx : ctx) + " --max-num-seqs " +
                      std::to_string(c.served ? c.serve_slots : req.users);
    if (c.tp > 1) cmd += " --tensor-parallel-size " + std::to_string(c.tp);
    if (req.modality == "text") cmd += " --limit-mm-per-prompt '{\"image\": 0, \"audio\": 0}'";
    out.push_back(cmd);
    return out;
  }
  // llama.cpp: -c is the total over all slots (-np), each slot gets c / np.
  std::string cmd = "llama-server -m " + gguf_file_name(c.model_id, quant_name(c.quant_id));
  if (req.modality != "text") cmd += " --mmproj mmproj-" + (gemma4 ? "gemma-4-" + size + "-it" : c.model_id) + "-F16.gguf";
  if (c.cpu_only) cmd += " -ngl 0";
  else if (c.placement.gpu_layers >= 0) cmd += " -ngl " + std::to_string(c.placement.gpu_layers);
  else cmd += " -ngl 99";
  if (c.placement.n_cpu_moe > 0) cmd += " --n-cpu-moe " + std::to_string(c.placement.n_cpu_moe);
  if (c.served) {  // the server as simulated: slots sharing one unified cache
    cmd += " -c " + std::to_string(c.serve_ctx) + " -np " + std::to_string(c.serve_slots) + " --kv-unified";
  } else {
    cmd += " -c " + std::to_string(ctx * req.users);
    if (req.users > 1) cmd += " -np " + std::to_string(req.users);
  }
  cmd += " -fa on";
  out.push_back(cmd);
  // Ollama publishes q4_K_M, q8_0 and bf16 tags of each variant; it picks the split itself.
  static const std::map<std::string, std::string> ollama_tag = {{"q4_k_m", "q4_K_M"}, {"q8_0", "q8_0"}, {"bf16", "bf16"}};
  auto it = ollama_tag.find(c.quant_id);
  if (gemma4 && it != ollama_tag.end()) {
    std::string tag = c.model_id.substr(pre.size());
    out.push_back("OLLAMA_CONTEXT_LENGTH=" + std::to_string(ctx) + (req.users > 1 ? " OLLAMA_NUM_PARALLEL=" + std::to_string(req.users) : "") +
                  " ollama run gemma4:" + tag + "-it-" + it->second);
  }
  // On Apple silicon, MLX (engine mlx) runs the same variant from an MLX checkpoint: 4-bit for
  // the 4-bit GGUF formats, 8-bit for Q8_0, bf16 as is; its KV cache grows with the context.
  static const std::map<std::string, std::string> mlx_bits = {{"q4_0", "4bit"}, {"q4_k_m", "4bit"}, {"q8_0", "8bit"}, {"bf16", "bf16"}};
  auto mb = mlx_bits.find(c.quant_id);
  if (gemma4 && c.engine == "llama.cpp-metal" && mb != mlx_bits.end())
    out.push_back("mlx_lm.server --model mlx-community/gemma-4-" + c.model_id.substr(pre.size()) + "-it-" + mb->second);
  return out;
}

void explain(AdviseResult& r, const AdviseInput& in) {
  const Requirements& q = r.req;
  std::string need = "context " + std::to_string(q.context_tokens) + " tokens";
  if (q.serving)
    need += q.rate_per_s > 0 ? ", " + fmt("%.3g", q.rate_per_s) + " requests/s within " + q.slo
                             : ", " + std::to_string(q.users) + " users within " + q.slo;
  else if (q.users > 1)
    need += " x " + std::to_string(q.users) + " users";
  if (q.min_decode_tok_per_s > 0) need += ", decode >= " + fmt("%.1f", q.min_decode_tok_per_s) + " tok/s";
  if (q.min_prefill_tok_per_s > 0) need += ", prefill >= " + fmt("%.0f", q.min_prefill_tok_per_s) + " tok/s";
  if (q.modality != "text") need += ", " + q.modality + " input";

  if (r.ranked.empty()) {
    r.winner_reason = "Nothing meets the requirements (" + need + ") on the hardware considered; see each variant below.";
  } else {
    const Candidate& w = r.ranked.front();
    const std::string quality = fmt("%.1f", w.quality) + ": published scores " + fmt("%.1f", w.base_quality) +
                                " less " + fmt(w.penalty < 0.01 ? "%.2f" : "%.1f", 100 * w.penalty) + "% for " + quant_name(w.quant_id);
    const std::string lead = r.req.rank == "speed"      ? "is the fastest (quality proxy " + quality + ")"
                             : r.req.rank == "balanced" ? "has the best balance of quality and speed (quality proxy " + quality + ")"
                                                        : "has the highest quality proxy (" + quality + ")";
    r.winner_reason = where(w) + " (" + cost(w) + ") " + lead + " of the " + std::to_string(r.ranked.size()) +
                      " configurations that fit and meet the requirements (" + need + "). It runs " + w.split + " with " +
                      w.engine + ", decodes " + fmt("%.1f", w.decode_tok_per_s) + " tok/s, reads prompts at " +
                      fmt("%.0f", w.prefill_tok_per_s) + " tok/s, and fits up to " + std::to_string(w.context_fits) +
                      " tokens of context.";
    if (r.ranked.size() > 1) {
      const Candidate& n = r.ranked[1];
      const bool tie = std::llround(n.quality * 10) == std::llround(w.quality * 10);
      r.winner_reason += " Runner-up: " + where(n) + " (" + cost(n) + ", quality " + fmt("%.1f", n.quality) +
                         ", " + fmt("%.1f", n.decode_tok_per_s) + " tok/s)" +
                         (tie ? (n.decode_tok_per_s == w.decode_tok_per_s ? ": same quality and speed, costs more."
                                                                           : ": same quality, slower.")
                              : ".");
    }
  }

  // A much faster option close in quality: what --rank speed / balanced would put first. "Much"
  // and "close" are what a reader notices: 1.5x the speed for at most 1 quality point.
  if (r.ranked.size() > 1) {
    const Candidate& w = r.ranked.front();
    const Candidate* best = nullptr;
    for (const auto& c : r.ranked)
      if (c.quality >= w.quality - 1.0 && c.decode_tok_per_s >= 1.5 * w.decode_tok_per_s &&
          (!best || c.decode_tok_per_s > best->decode_tok_per_s))
        best = &c;
    if (best)
      r.faster_option = where(*best) + " (" + cost(*best) + ") decodes " + fmt("%.1f", best->decode_tok_per_s) +
                        " tok/s, " + fmt("%.1f", best->decode_tok_per_s / std::max(w.decode_tok_per_s, 1e-9)) +
                        "x the recommendation, for " + fmt("%.1f", w.quality - best->quality) +
                        " quality points less (--rank speed or balanced puts speed first).";
  }

  // Buy vs rent for the recommendation.
  if (!r.ranked.empty()) {
    // the best system to buy against the cheapest one to rent, both meeting the requirements
    const Candidate* owned = nullptr;
    for (const auto& c : r.ranked)
      if (c.rental_usd_per_hour <= 0 && c.price_usd > 0) {
        owned = &c;
        break;
      }
    const Candidate* cloud = r.cheapest_rented < 0 ? nullptr : &r.ranked[static_cast<std::size_t>(r.cheapest_rented)];
    const std::string use = r.req.tokens_per_day > 0 ? fmt("%.0f", r.req.tokens_per_day) + " output tokens a day"
                                                     : fmt("%.3g", r.req.hours_per_day) + " hours of generation a day";
    if (cloud && owned) {
      const Candidate& w = *owned;
      r.buy_vs_rent = "At " + use + ", " + where(w) + " costs " + price(w.price_usd) + " plus " + fmt("%.2f", w.monthly_usd) +
                      " USD a month of electricity (" + fmt("%.0f", w.decode_w) + " W); the cheapest rented system that meets the "
                      "requirements, " + cloud->system_id + " at " + fmt("%.2f", cloud->rental_usd_per_hour) + " USD/h, costs " +
                      fmt("%.0f", cloud->monthly_usd) + " USD a month" +
                      (w.breakeven_months > 0 ? ": buying pays off after " + fmt("%.1f", w.breakeven_months) + " months."
                                              : ": renting stays cheaper.");
    }
  }

  for (const auto& m : in.models) {
    VariantSummary v;
    v.model_id = m.id;
    v.model_name = m.name;
    for (std::size_t i = 0; i < r.ranked.size(); ++i)
      if (r.ranked[i].model_id == m.id) {
        v.ranked = true;
        v.best_rank = static_cast<int>(i);
        break;
      }
    if (v.ranked) {
      const Candidate& b = r.ranked[static_cast<std::size_t>(v.best_rank)];
      if (v.best_rank == 0) {
        v.reason = "the recommendation.";
      } else {
        const Candidate& w = r.ranked.front();
        std::string why = b.base_quality < w.base_quality - 0.05 ? "lower published scores (" + fmt("%.1f", b.base_quality) +
                                                                       " vs " + fmt("%.1f", w.base_quality) + ")"
                          : b.penalty > w.penalty ? "needs a coarser quantization to fit or to be fast enough"
                                                  : "slower or costlier at the same quality";
        v.reason = "best option ranks #" + std::to_string(v.best_rank + 1) + ": " + quant_name(b.quant_id) + " on " +
                   b.system_id + ", quality " + fmt("%.1f", b.quality) + ", " + fmt("%.1f", b.decode_tok_per_s) +
                   " tok/s; " + why + ".";
      }
    } else {
      // Ruled out: the most telling rejection, in the order a user would fix it.
      const Candidate* slow = nullptr;
      const Candidate* tight = nullptr;
      const Candidate* other = nullptr;
      for (const auto& c : r.rejected) {
        if (c.model_id != m.id) continue;
        if (c.verdict == Verdict::TooSlow && (!slow || c.decode_tok_per_s > slow->decode_tok_per_s)) slow = &c;
        if (c.verdict == Verdict::DoesNotFit &&
            (!tight || c.fit.total_bytes - c.fit.capacity_bytes < tight->fit.total_bytes - tight->fit.capacity_bytes))
          tight = &c;
        if (c.verdict != Verdict::TooSlow && c.verdict != Verdict::DoesNotFit && !other) other = &c;
      }
      if (other && !slow && !tight) v.reason = "ruled out: " + other->why + ".";
      else if (slow)
        v.reason = "ruled out: too slow. It fits, but the fastest option (" + quant_name(slow->quant_id) + " on " + slow->system_id +
                   ", " + slow->split + ") gives " + slow->why + ".";
      else if (tight)
        v.reason = "ruled out: does not fit. The closest option (" + quant_name(tight->quant_id) + " on " + tight->system_id +
                   ") " + tight->why + ".";
      else v.reason = "ruled out: no configuration was evaluated.";
    }
    r.variants.push_back(v);
  }
}

json candidate_to_json(const Candidate& c, const Requirements& req) {
  json j{{"system", c.system_id},
         {"system_name", c.system_name},
         {"form_factor", c.form_factor},
         {"rental_usd_per_hour", c.rental_usd_per_hour},
         {"decode_w", c.decode_w},
         {"j_per_output_token", c.j_per_output_token},
         {"monthly_usd", c.monthly_usd},
         {"breakeven_months", c.breakeven_months},
         {"price_usd", c.price_usd},
         {"model", c.model_id},
         {"quant", c.quant_id},
         {"engine", c.engine},
         {"split", c.split},
         {"gpu_layers", c.placement.gpu_layers},
         {"n_cpu_moe", c.placement.n_cpu_moe},
         {"tp", c.tp},
         {"context_needed_tokens", c.context_needed},
         {"context_fits_tokens", c.context_fits},
         {"prefill_tok_per_s", c.prefill_tok_per_s},
         {"decode_tok_per_s", c.decode_tok_per_s},
         {"decode_tok_per_s_aggregate", c.decode_tok_per_s_aggregate},
         {"decode_mean_depth_tokens", c.decode_mean_depth_tokens},
         {"quality_proxy", c.quality},
         {"quality_published_mean", c.base_quality},
         {"quality_penalty", c.penalty},
         {"memory_bytes", c.fit.total_bytes + c.encoder_bytes},
         {"encoder_bytes", c.encoder_bytes},
         {"verdict", verdict_name(c.verdict)}};
  if (c.served)
    j["serving"] = {{"ttft_p99_s", c.ttft_p99_s}, {"tpot_p99_s", c.tpot_p99_s}, {"output_tok_per_s", c.served_output_tok_per_s},
                    {"requests_per_s", c.served_req_per_s}, {"slots", c.serve_slots}, {"ctx", c.serve_ctx}};
  if (c.verdict == Verdict::Ok) {
    j["commands"] = run_commands(c, req);
    j["fit"] = fit_to_json(c.fit, c.context_fits);  // where every byte lives, at the context needed
  } else {
    j["why"] = c.why;
  }
  return j;
}

json advise_to_json(const AdviseResult& r, std::size_t top) {
  const Requirements& q = r.req;
  json j;
  j["requirements"] = {{"use_case", q.use_case},
                       {"context_tokens", q.context_tokens},
                       {"prompt_tokens", q.prompt_tokens},
                       {"gen_tokens", q.gen_tokens},
                       {"min_decode_tok_per_s", q.min_decode_tok_per_s},
                       {"min_prefill_tok_per_s", q.min_prefill_tok_per_s},
                       {"modality", q.modality},
                       {"users", q.users},
                       {"serving", q.serving},
                       {"rate_per_s", q.rate_per_s},
                       {"think_time_s", q.think_time_s},
                       {"slo", q.slo},
                       {"benchmarks", q.benchmarks},
                       {"rank", q.rank},
                       {"hours_per_day", q.hours_per_day},
                       {"tokens_per_day", q.tokens_per_day},
                       {"electricity_usd_per_kwh", q.electricity_usd_per_kwh},
                       {"speeds_at", "the last reply of a full context: decode averaged over the reply's tokens"}};
  j["evaluated"] = r.evaluated;
  j["passing"] = r.ranked.size();
  json recs = json::array();
  for (std::size_t i = 0; i < std::min(top, r.ranked.size()); ++i) {
    json c = candidate_to_json(r.ranked[i], q);
    c["rank"] = i + 1;
    recs.push_back(c);
  }
  j["recommendations"] = recs;
  j["winner_reason"] = r.winner_reason;
  if (!r.faster_option.empty()) j["faster_option"] = r.faster_option;
  if (!r.buy_vs_rent.empty()) j["buy_vs_rent"] = r.buy_vs_rent;
  json vs = json::array();
  for (const auto& v : r.variants)
    vs.push_back({{"model", v.model_id}, {"name", v.model_name}, {"ranked", v.ranked}, {"best_rank", v.best_rank + 1}, {"reason", v.reason}});
  j["variants"] = vs;
  // Speed per variant and quantization on each system of the recommendations, in their order:
  // every configuration evaluated there, with its verdict (what a user compares when choosing
  // a quantization for hardware they already picked).
  json grid = json::array();
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < std::min(top, r.ranked.size()); ++i) {
    const std::string& sys = r.ranked[i].system_id;
    if (std::find(seen.begin(), seen.end(), sys) != seen.end()) continue;
    seen.push_back(sys);
    json rows = json::array();
    for (const auto* list : {&r.ranked, &r.rejected})
      for (const Candidate& c : *list) {
        if (c.system_id != sys) continue;
        json row{{"model", c.model_id},
                 {"name", c.model_name},
                 {"quant", c.quant_id},
                 {"engine", c.engine},
                 {"split", c.split},
                 {"prefill_tok_per_s", c.prefill_tok_per_s},
                 {"decode_tok_per_s", c.decode_tok_per_s},
                 {"memory_bytes", c.fit.total_bytes + c.encoder_bytes},
                 {"quality_proxy", c.quality},
                 {"verdict", verdict_name(c.verdict)}};
        if (c.verdict != Verdict::Ok) row["why"] = c.why;
        rows.push_back(row);
      }
    grid.push_back({{"system", sys}, {"system_name", r.ranked[i].system_name}, {"rows", rows}});
  }
  j["speed_grid"] = grid;
  return j;
}

}  // namespace gs
