// api.cpp: the WebAssembly module's entry point, over the estimator and data libraries only
// (core/, sim/, the chart data of reports/; no Boost, no OpenMP, no kernel).
//
// One call, JSON in and JSON out:
//   gemmasim_call('{"command": "advise", "args": {"budget": 2000, "use-case": "chat"}}')
// `args` are the command line's flags without the dashes, so a page's inputs and a command line
// ask the same question and get the same JSON (`gemmasim advise --budget 2000 --use-case chat
// --json`). Values may be numbers or the strings a URL carries. The answer is
//   {"ok": true, "result": ...}  or  {"ok": false, "error": "one line naming the problem"}.
// Commands:
//   catalog  systems, devices, use cases, models and quantizations for the page's inputs
//   advise   the advisor's answer: advise --json
//   charts   the report's charts and the advise charts, as their CSV data (the same CSV files
//            `gemmasim report --no-render` and `advise --out` write), for the page to draw
#include <cmath>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>

#include "advise_request.h"
#include "error.h"
#include "json_util.h"
#include "quality.h"
#include "report_charts.h"

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define GEMMASIM_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define GEMMASIM_EXPORT
#endif

namespace gs::web {

namespace {

// A flag's value: a JSON number, or a string holding one (URLs carry strings).
double number(const json& v, const std::string& flag) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  input_error("--" + flag + ": expected a number, got " + v.dump());
}

long long integer(const json& v, const std::string& flag) {
  const double d = number(v, flag);
  if (d != std::floor(d) || std::fabs(d) > 9e15) input_error("--" + flag + ": expected a whole number, got " + v.dump());
  return static_cast<long long>(d);
}

std::string text(const json& v, const std::string& flag) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  input_error("--" + flag + ": expected text, got " + v.dump());
}

// The bundled data never changes inside the module: hwdb/systems is read once.
const std::vector<System>& systems() {
  static const std::vector<System> v = all_systems();
  return v;
}

const std::vector<System>& headline() {
  static const std::vector<System> v = report::headline_systems();
  return v;
}

}  // namespace

AdviseFlags advise_flags(const json& args) {
  if (!args.is_object()) input_error("args: expected an object of flag: value");
  AdviseFlags f;
  for (const auto& [k, v] : args.items()) {
    if (v.is_null()) continue;  // an input left empty: the flag's default
    if (k == "budget") f.budget_usd = number(v, k);
    else if (k == "hw") f.hw = text(v, k);
    else if (k == "use-case") f.use_case = text(v, k);
    else if (k == "ctx") f.ctx = integer(v, k);
    else if (k == "min-decode-tok-per-s") f.min_decode = number(v, k);
    else if (k == "min-prefill-tok-per-s") f.min_prefill = number(v, k);
    else if (k == "modality") f.modality = text(v, k);
    else if (k == "users") {
      const long long u = integer(v, k);
      if (u < 1 || u > 4096) input_error("--users: expected 1 .. 4096, got " + std::to_string(u));
      f.users = static_cast<int>(u);
    } else if (k == "rate") f.rate = number(v, k);
    else if (k == "think-time") f.think_time = number(v, k);
    else if (k == "slo") f.slo = text(v, k);
    else if (k == "top") {
      const long long t = integer(v, k);
      if (t < 1 || t > 1000) input_error("--top: expected 1 .. 1000");
      f.top = static_cast<std::size_t>(t);
    } else if (k == "models") f.models = text(v, k);
    else if (k == "quants") f.quants = text(v, k);
    else if (k == "rank") f.rank = text(v, k);
    else if (k == "hours-per-day") f.hours_per_day = number(v, k);
    else if (k == "tokens-per-day") f.tokens_per_day = number(v, k);
    else if (k == "rent-months") f.rent_months = number(v, k);
    else if (k == "electricity-usd-per-kwh") f.usd_per_kwh = number(v, k);
    else if (k == "reserve") f.reserve = text(v, k);
    else input_error("args: unknown input '" + k + "'");
  }
  return f;
}

json catalog() {
  json systems = json::array();
  for (const auto& s : web::systems())
    systems.push_back({{"id", s.id}, {"name", s.name}, {"price_usd", s.price_usd}, {"rental_usd_per_hour", s.rental_usd_per_hour},
                       {"form_factor", s.form_factor}, {"gpus", s.gpus.size()}});
  json devices = json::array();
  for (const auto& d : all_devices())
    devices.push_back({{"id", d.id}, {"name", d.name}, {"kind", d.kind}, {"memory_bytes", d.memory_bytes},
                       {"memory_bandwidth_bytes_per_s", d.memory_bandwidth_bytes_per_s}});
  json use_cases = json::array();
  for (const auto& u : use_case_book().use_cases)
    use_cases.push_back({{"id", u.id}, {"description", u.description}, {"context_tokens", u.context_tokens},
                         {"min_decode_tok_per_s", u.min_decode_tok_per_s}, {"serving_users", u.serving_users}});
  json models = json::array();
  for (const auto& id : split_list(AdviseFlags{}.models)) {
    const ModelSpec m = find_model(id);
    models.push_back({{"id", m.id}, {"name", m.name}, {"n_ctx_max", m.n_ctx_max}});
  }
  return {{"systems", systems}, {"devices", devices}, {"use_cases", use_cases}, {"models", models},
          {"quants", quality_penalties().advise_ids()}, {"default_use_case", use_case_book().default_id}};
}

// The charts of `gemmasim report` (at the request's requirements) and of `advise --out`.
json charts(const AdviseFlags& f) {
  AdviseInput in = load_advise_input(f, &systems());
  const AdviseResult r = advise(in);
  add_engines_for(in, headline());
  AdviseInput all = in;
  all.systems.clear();
  for (const auto& s : systems())
    if (s.price_usd > 0 || s.rental_usd_per_hour > 0) all.systems.push_back(s);
  add_engines_for(all, all.systems);
  std::vector<report::ChartSpec> specs;
  if (!r.ranked.empty()) {
    specs.push_back(report::chart_advise_top(r, f.top));
    specs.push_back(report::chart_advise_memory(r, f.top));
  }
  specs.push_back(report::chart_decode(in, headline()));
  specs.push_back(report::chart_memory(in, headline()));
  specs.push_back(report::chart_context(in));
  specs.push_back(report::chart_cost(all, f.budget_usd));
  specs.push_back(report::chart_running_cost(all));
  specs.push_back(report::chart_energy(all));
  json out = json::array();
  for (const auto& c : specs) {
    json extra = json::object();
    for (const auto& [name, csv] : c.extra_csv) extra[name] = csv;
    out.push_back({{"name", c.name}, {"title", c.title}, {"csv", c.csv}, {"extra_csv", extra}});
  }
  return out;
}

json call(const std::string& request) {
  const json q = json::parse(request, nullptr, false);
  if (q.is_discarded() || !q.is_object()) input_error("request: expected a JSON object {\"command\": ..., \"args\": {...}}");
  if (q.contains("command") && !q["command"].is_string()) input_error("request: \"command\" must be text");
  const std::string cmd = q.value("command", "");
  const json args = q.contains("args") ? q["args"] : json::object();
  if (cmd == "catalog") return catalog();
  if (cmd == "advise") {
    const AdviseFlags f = advise_flags(args);
    const AdviseInput in = load_advise_input(f, &systems());
    json j = advise_to_json(advise(in), f.top);
    if (!f.hw.empty() && !in.systems.front().warnings.empty()) j["warnings"] = in.systems.front().warnings;
    return j;
  }
  if (cmd == "charts") return charts(advise_flags(args));
  input_error("request: unknown command '" + cmd + "' (catalog, advise, charts)");
}

}  // namespace gs::web

// The answer stays valid until the next call. Text that is not UTF-8 (an id typed with stray
// bytes, echoed in an error) is replaced, never thrown on.
extern "C" GEMMASIM_EXPORT const char* gemmasim_call(const char* request) {
  static std::string answer;
  auto dump = [](const gs::json& j) { return j.dump(-1, ' ', false, gs::json::error_handler_t::replace); };
  try {
    answer = dump({{"ok", true}, {"result", gs::web::call(request ? request : "")}});
  } catch (const gs::InputError& e) {
    answer = dump({{"ok", false}, {"error", e.what()}});
  } catch (const std::exception& e) {
    answer = dump({{"ok", false}, {"error", std::string("internal error: ") + e.what()}});
  }
  return answer.c_str();
}
