// power.h: watts, joules per token and money per million tokens (hwdb/power.json).
//
// A device draws P = idle + (tdp - idle) x u, with u set by what binds the phase: a
// compute-bound prefill runs a GPU at its limit, a memory-bound decode at about two thirds of
// its dynamic power, llama.cpp's CPU threads keep a CPU package at its TDP in both phases, and
// a host beside a GPU that holds every layer runs one busy thread. Energy per token is the
// phase's power over its token rate; cost per million tokens is that energy at an electricity
// price (owned hardware) or the hours a rented system runs at its hourly price.
#pragma once
#include <string>

#include "hardware.h"
#include "roofline.h"

namespace gs {

// An average month, for costs per month.
inline constexpr double kDaysPerMonth = 365.25 / 12;

struct PowerRules {
  double idle_fraction_of_tdp = 0.1;
  double gpu_compute_bound = 1.0, gpu_memory_bound = 0.65, cpu_busy = 1.0, host_feeding_gpu = 0.3;
  double electricity_usd_per_kwh = 0.17;  // default of --electricity-usd-per-kwh
};
PowerRules parse_power_rules(const json& j, const std::string& file);
const PowerRules& power_rules();  // hwdb/power.json, read once

struct SystemPower {
  double idle_w = 0, prefill_w = 0, decode_w = 0;
  bool known = false;  // every device that draws has a tdp_w
  std::string what;    // which devices were counted, for the reader
};

// The system's draw in each phase of this estimate: the GPUs (or the unified chip, or the CPU)
// by each phase's bound, and the host, busy when it computes layers or experts (host_computes).
SystemPower system_power(const System& hw, const Estimate& e, bool host_computes, const PowerRules& r = power_rules());

struct RunCost {
  double prefill_j_per_token = 0, decode_j_per_token = 0;
  double usd_per_mtok_input = 0, usd_per_mtok_output = 0;
  bool rented = false;  // priced by the hour, not by the energy
};

// Energy and money per token at these rates (tokens/s of the whole system: a batch's aggregate).
// Owned: usd_per_kwh > 0. Rented: rental_usd_per_hour > 0 (then usd_per_kwh is not used).
RunCost run_cost(const SystemPower& p, double prefill_tok_per_s, double decode_tok_per_s, double usd_per_kwh,
                 double rental_usd_per_hour);

}  // namespace gs
