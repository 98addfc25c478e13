#include "advise_request.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "power.h"
#include "serve/sim.h"
#include "units.h"

namespace gs {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s + ",") {
    if (ch == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (ch != ' ') {
      cur += ch;
    }
  }
  return out;
}

void add_engines_for(AdviseInput& in, const std::vector<System>& systems) {
  std::set<std::string> ids = {"llama.cpp-cuda"};
  for (const auto& s : systems)
    for (const auto& q : in.quants) ids.insert(default_engine(s, q));
  for (const auto& id : ids) {
    if (!in.engines.count(id)) in.engines.emplace(id, resolve_engine(id));
    if (!in.rules.count(id)) in.rules.emplace(id, load_memory_rules(id));
  }
}

AdviseInput load_advise_input(const AdviseFlags& f) { return load_advise_input(f, nullptr); }

AdviseInput load_advise_input(const AdviseFlags& f, const std::vector<System>* catalog) {
  if (!std::isfinite(f.budget_usd) || f.budget_usd <= 0 || f.budget_usd > 1e8)
    input_error("--budget: expected a price in USD between 1 and 1e8, got " + std::to_string(f.budget_usd));
  if (f.ctx < 0 || f.ctx > (1LL << 24)) input_error("--ctx: expected 1 .. 16M tokens, got " + std::to_string(f.ctx));
  if (f.users != AdviseFlags::kUsersUnset && (f.users < 1 || f.users > 4096)) input_error("--users: expected 1 .. 4096, got " + std::to_string(f.users));
  if (f.rate != 0 && !(f.rate > 0 && f.rate <= 1e5)) input_error("--rate: expected requests per second in (0, 1e5]");
  if (f.think_time != -1 && !(f.think_time >= 0 && f.think_time <= 1e6)) input_error("--think-time: expected 0 .. 1e6 seconds");
  if (f.rate > 0 && f.users != AdviseFlags::kUsersUnset) input_error("--rate and --users: open loop or closed loop, not both");
  if (f.min_decode != AdviseFlags::kUnset && !(f.min_decode >= 0 && f.min_decode <= 1e6))
    input_error("--min-decode-tok-per-s: expected 0 .. 1e6 tok/s");
  if (f.min_prefill != AdviseFlags::kUnset && !(f.min_prefill >= 0 && f.min_prefill <= 1e7))
    input_error("--min-prefill-tok-per-s: expected 0 .. 1e7 tok/s");
  if (f.top < 1 || f.top > 1000) input_error("--top: expected 1 .. 1000");
  if (f.modality != "text" && f.modality != "image" && f.modality != "audio")
    input_error("--modality: expected text, image or audio, got '" + f.modality + "'");

  AdviseInput in;
  in.book = use_case_book();
  in.penalties = quality_penalties();
  const UseCase& uc = in.book.find(f.use_case.empty() ? in.book.default_id : f.use_case);
  Requirements& r = in.req;
  r.use_case = uc.id;
  r.context_tokens = f.ctx > 0 ? f.ctx : uc.context_tokens;
  r.gen_tokens = std::min<i64>(uc.gen_tokens, std::max<i64>(1, r.context_tokens / 4));
  r.prompt_tokens = std::max<i64>(1, std::min<i64>(uc.prompt_tokens, r.context_tokens - r.gen_tokens));
  r.min_decode_tok_per_s = f.min_decode >= 0 ? f.min_decode : uc.min_decode_tok_per_s;
  r.min_prefill_tok_per_s = f.min_prefill >= 0 ? f.min_prefill : uc.min_prefill_tok_per_s;
  r.modality = f.modality;
  r.users = f.users > 0 ? f.users : std::max(1, uc.serving_users);
  r.benchmarks = uc.benchmarks;
  r.serving = r.users > 1 || f.rate > 0 || !f.slo.empty() || uc.serving_users > 0;
  if (r.serving) {
    r.rate_per_s = f.rate;
    r.think_time_s = f.think_time >= 0 ? f.think_time : (uc.serving_users > 0 ? uc.think_time_s : in.book.default_think_time_s);
    if (!f.slo.empty()) {
      r.slo = f.slo;
    } else if (!uc.slo.empty()) {
      r.slo = uc.slo;
    } else {
      r.slo = "ttft_p99=" + std::to_string(in.book.default_ttft_p99_s);
      if (r.min_decode_tok_per_s > 0) r.slo += ",tpot_p99=" + std::to_string(1.0 / r.min_decode_tok_per_s);
    }
    (void)serve::parse_slo(r.slo, "--slo");  // a bad SLO is an input error before any work
    r.serve_requests = std::clamp(10 * r.users, 200, 2000);
  }

  for (const auto& id : split_list(f.models)) in.models.push_back(find_model(id));
  if (in.models.empty()) input_error("--models: no model ids given");
  const auto qids = f.quants.empty() ? in.penalties.advise_ids() : split_list(f.quants);
  for (const auto& id : qids) {
    if (!in.penalties.find(id))
      input_error("--quants: '" + id + "' has no quality penalty in quants/quality-penalty.json (cannot be ranked)");
    in.quants.push_back(find_recipe(id));
  }
  if (in.quants.empty()) input_error("--quants: no quantizations given");

  if (f.rank != "quality" && f.rank != "speed" && f.rank != "balanced")
    input_error("--rank: expected quality, speed or balanced, got '" + f.rank + "'");
  r.rank = f.rank;
  if (!(f.hours_per_day > 0 && f.hours_per_day <= 24)) input_error("--hours-per-day: expected (0, 24] hours");
  if (!(f.rent_months > 0 && f.rent_months <= 120)) input_error("--rent-months: expected (0, 120] months");
  if (f.tokens_per_day != 0 && !(f.tokens_per_day > 0 && f.tokens_per_day <= 1e13)) input_error("--tokens-per-day: expected a positive number of tokens");
  if (f.usd_per_kwh != -1 && !(f.usd_per_kwh > 0 && f.usd_per_kwh < 100))
    input_error("--electricity-usd-per-kwh: expected a price in (0, 100) USD per kWh");
  r.hours_per_day = f.hours_per_day;
  r.tokens_per_day = f.tokens_per_day;
  r.electricity_usd_per_kwh = f.usd_per_kwh > 0 ? f.usd_per_kwh : power_rules().electricity_usd_per_kwh;
  if (!f.hw.empty()) {
    System s = resolve_hardware(f.hw);
    if (!f.reserve.empty()) set_host_reserve(s, parse_bytes_text(f.reserve, "--reserve"), "--reserve " + f.reserve);
    in.systems.push_back(std::move(s));
  } else {
    // a use case for some hardware (mobile: phones and boards) considers only that
    auto wanted = [&uc](const System& s) {
      return uc.form_factors.empty() ||
             std::find(uc.form_factors.begin(), uc.form_factors.end(), s.form_factor) != uc.form_factors.end();
    };
    // what the budget buys, and the cloud systems that rent by the hour (no purchase price)
    const double rent_horizon_hours = f.rent_months * kDaysPerMonth * f.hours_per_day;
    std::vector<System> loaded;
    const std::vector<System>& pool = catalog ? *catalog : (loaded = all_systems());
    for (const System& s : pool)
      if (((s.price_usd > 0 && s.price_usd <= f.budget_usd) ||
           (s.rental_usd_per_hour > 0 && s.rental_usd_per_hour * rent_horizon_hours <= f.budget_usd)) &&
          wanted(s)) {
        in.systems.push_back(s);
        if (!f.reserve.empty())
          set_host_reserve(in.systems.back(), parse_bytes_text(f.reserve, "--reserve"), "--reserve " + f.reserve);
      }
    if (in.systems.empty())
      input_error("--budget: no priced system in hwdb/systems" +
                  (uc.form_factors.empty() ? std::string() : " for the " + uc.id + " use case") + " costs $" +
                  std::to_string(static_cast<long long>(f.budget_usd)) + " or less (the cheapest is listed by `gemmasim hw`)");
  }
  add_engines_for(in, in.systems);
  return in;
}

}  // namespace gs
