#include "power.h"

#include <algorithm>

#include "data_paths.h"

namespace gs {

PowerRules parse_power_rules(const json& j, const std::string& file) {
  JsonReader r(j, file);
  r.at("schema_version").integer(1, 1);
  PowerRules p;
  p.idle_fraction_of_tdp = r.at("idle_fraction_of_tdp").num(0, 1);
  auto u = r.at("utilisation");
  p.gpu_compute_bound = u.at("gpu_compute_bound").num(0, 1);
  p.gpu_memory_bound = u.at("gpu_memory_bound").num(0, 1);
  p.cpu_busy = u.at("cpu_busy").num(0, 1);
  p.host_feeding_gpu = u.at("host_feeding_gpu").num(0, 1);
  p.electricity_usd_per_kwh = r.at("electricity_usd_per_kwh").num(1e-6, 100);
  if (!r.has("sources")) r.fail("required key 'sources' missing: every number needs its source");
  return p;
}

const PowerRules& power_rules() {
  static const PowerRules p = [] {
    const std::string path = data_path("hwdb/power.json");
    return parse_power_rules(read_json_file(path), path);
  }();
  return p;
}

namespace {

double draw(double tdp, double u, const PowerRules& r) {
  const double idle = r.idle_fraction_of_tdp * tdp;
  return idle + (tdp - idle) * u;
}

double gpu_u(Bound b, const PowerRules& r) { return b == Bound::Compute ? r.gpu_compute_bound : r.gpu_memory_bound; }

}  // namespace

SystemPower system_power(const System& hw, const Estimate& e, bool host_computes, const PowerRules& r) {
  SystemPower p;
  p.known = true;
  auto need = [&p](const Device& d) {
    if (d.tdp_w <= 0) p.known = false;
    return d.tdp_w;
  };
  const bool gpu_backend = hw.backend() != "cpu";
  if (hw.measured_loaded_w > 0) {
    // a published measurement of the whole machine under an LLM load: both phases (the sources
    // do not split them), idle by the rule
    p.idle_w = r.idle_fraction_of_tdp * hw.host.tdp_w;
    p.prefill_w = p.decode_w = hw.measured_loaded_w;
    p.what = hw.id + " (measured at the wall)";
    return p;
  }
  if (hw.unified() || hw.gpus.empty()) {
    // one package: the chip's GPU by the phase's bound, or its CPU cores busy throughout
    const double tdp = need(hw.host);
    p.idle_w = r.idle_fraction_of_tdp * tdp;
    p.prefill_w = gpu_backend ? draw(tdp, gpu_u(e.prefill.bound, r), r) : draw(tdp, r.cpu_busy, r);
    p.decode_w = gpu_backend ? draw(tdp, gpu_u(e.decode.bound, r), r) : draw(tdp, r.cpu_busy, r);
    p.what = hw.host.id + (gpu_backend ? " (GPU)" : " (CPU)");
    return p;
  }
  const int used = e.gpu_layers > 0 ? static_cast<int>(hw.gpus.size()) : 0;
  for (std::size_t g = 0; g < hw.gpus.size(); ++g) {
    const double tdp = need(hw.gpus[g]);
    const bool busy = static_cast<int>(g) < used;
    p.idle_w += r.idle_fraction_of_tdp * tdp;
    p.prefill_w += busy ? draw(tdp, gpu_u(e.prefill.bound, r), r) : r.idle_fraction_of_tdp * tdp;
    p.decode_w += busy ? draw(tdp, gpu_u(e.decode.bound, r), r) : r.idle_fraction_of_tdp * tdp;
    p.what += (p.what.empty() ? "" : " + ") + hw.gpus[g].id;
  }
  const double host_tdp = need(hw.host);
  const double host_w = draw(host_tdp, host_computes ? r.cpu_busy : r.host_feeding_gpu, r);
  p.idle_w += r.idle_fraction_of_tdp * host_tdp;
  p.prefill_w += host_w;
  p.decode_w += host_w;
  p.what += " + " + hw.host.id + (host_computes ? " (computing)" : " (feeding the GPU)");
  return p;
}

RunCost run_cost(const SystemPower& p, double prefill_tok_per_s, double decode_tok_per_s, double usd_per_kwh,
                 double rental_usd_per_hour) {
  if (!(prefill_tok_per_s > 0) || !(decode_tok_per_s > 0)) input_error("run_cost: token rates must be positive");
  if (!(usd_per_kwh > 0) && !(rental_usd_per_hour > 0))
    input_error("an electricity price (USD per kWh) or an hourly price must be positive");
  RunCost c;
  c.prefill_j_per_token = p.prefill_w / prefill_tok_per_s;
  c.decode_j_per_token = p.decode_w / decode_tok_per_s;
  c.rented = rental_usd_per_hour > 0;
  if (c.rented) {
    const double usd_per_s = rental_usd_per_hour / 3600.0;
    c.usd_per_mtok_input = usd_per_s / prefill_tok_per_s * 1e6;
    c.usd_per_mtok_output = usd_per_s / decode_tok_per_s * 1e6;
  } else {
    const double usd_per_j = usd_per_kwh / 3.6e6;
    c.usd_per_mtok_input = c.prefill_j_per_token * 1e6 * usd_per_j;
    c.usd_per_mtok_output = c.decode_j_per_token * 1e6 * usd_per_j;
  }
  return c;
}

}  // namespace gs
