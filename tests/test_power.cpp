// Energy and running cost: watts per phase from tdp_w (hwdb/power.json), joules per token,
// money per million tokens owned (electricity) or rented (by the hour).
#include <doctest/doctest.h>

#include "cli_run.h"
#include "power.h"

using namespace gs;

TEST_CASE("joules per token and dollars per million tokens, by hand") {
  SystemPower p;
  p.idle_w = 30, p.prefill_w = 300, p.decode_w = 200, p.known = true;
  // owned, at $0.20 per kWh: decode 200 W / 50 tok/s = 4 J per token; 4e6 J per Mtok = 1.111 kWh = $0.2222
  const RunCost o = run_cost(p, 1000, 50, 0.20, 0);
  CHECK(o.decode_j_per_token == doctest::Approx(4.0));
  CHECK(o.prefill_j_per_token == doctest::Approx(0.3));
  CHECK(o.usd_per_mtok_output == doctest::Approx(4e6 / 3.6e6 * 0.20));
  CHECK(o.usd_per_mtok_input == doctest::Approx(0.3e6 / 3.6e6 * 0.20));
  CHECK_FALSE(o.rented);
  // rented at $3.60 per hour = $0.001 per second: 1e6 / 50 tok/s = 20000 s = $20
  const RunCost r = run_cost(p, 1000, 50, 0.20, 3.6);
  CHECK(r.rented);
  CHECK(r.usd_per_mtok_output == doctest::Approx(20.0));
  CHECK(r.usd_per_mtok_input == doctest::Approx(1.0));
  CHECK_THROWS_AS(run_cost(p, 1000, 50, 0, 0), InputError);
  CHECK_THROWS_AS(run_cost(p, 1000, 50, -0.1, 0), InputError);
  CHECK_THROWS_AS(run_cost(p, 0, 50, 0.2, 0), InputError);
}

TEST_CASE("phase power: a memory-bound decode on a GPU, a busy CPU, a host feeding the GPU") {
  const PowerRules& r = power_rules();
  const System s = resolve_hardware("rtx-4090");  // 450 W card, 65 W desktop CPU host
  Estimate e;
  e.gpu_layers = 42;
  e.prefill.bound = Bound::Compute;
  e.decode.bound = Bound::Memory;
  const SystemPower p = system_power(s, e, false, r);
  REQUIRE(p.known);
  const double gi = r.idle_fraction_of_tdp * 450, hi = r.idle_fraction_of_tdp * 65;
  const double host = hi + (65 - hi) * r.host_feeding_gpu;
  CHECK(p.decode_w == doctest::Approx(gi + (450 - gi) * r.gpu_memory_bound + host));
  CHECK(p.prefill_w == doctest::Approx(450 + host));
  CHECK(p.idle_w == doctest::Approx(gi + hi));
  // the host computing layers (a partial offload) runs busy
  CHECK(system_power(s, e, true, r).decode_w == doctest::Approx(gi + (450 - gi) * r.gpu_memory_bound + 65));
  // a CPU-only board: a published measurement of it under load replaces the rule ...
  System pi = resolve_hardware("rpi5-8gb");
  REQUIRE(pi.measured_loaded_w > 0);
  CHECK(system_power(pi, e, true, r).decode_w == doctest::Approx(pi.measured_loaded_w));
  // ... which would put its package at TDP in both phases
  pi.measured_loaded_w = 0;
  const SystemPower pp = system_power(pi, e, true, r);
  CHECK(pp.decode_w == doctest::Approx(pi.host.tdp_w));
  CHECK(pp.prefill_w == doctest::Approx(pi.host.tdp_w));
}

TEST_CASE("gemmasim estimate reports watts, J/token and $/Mtok; bad prices are input errors") {
  const CliResult ok = run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw rtx-4090 --electricity-usd-per-kwh 0.30 --json");
  REQUIRE(ok.code == 0);
  const json j = json::parse(ok.out);
  REQUIRE(j.contains("energy"));
  const json& en = j["energy"];
  CHECK(en["decode_j_per_token"].get<double>() ==
        doctest::Approx(en["decode_w"].get<double>() / j["decode_tok_per_s_aggregate"].get<double>()));
  CHECK(en["usd_per_mtok_output"].get<double>() == doctest::Approx(en["decode_j_per_token"].get<double>() * 1e6 / 3.6e6 * 0.30));
  CHECK(en["priced_by"] == "electricity_usd_per_kwh");
  // a cloud system is priced by its hour
  const json c = json::parse(run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw cloud-a100-80gb --json").out);
  CHECK(c["energy"]["priced_by"] == "rental_usd_per_hour");
  CHECK(c["energy"]["usd_per_mtok_output"].get<double>() ==
        doctest::Approx(2.45 / 3600 / c["decode_tok_per_s_aggregate"].get<double>() * 1e6));
  for (const char* bad : {"--electricity-usd-per-kwh 0", "--electricity-usd-per-kwh -0.1", "--rental-usd-per-hour 0",
                          "--rental-usd-per-hour -3"}) {
    const CliResult b = run_cli(std::string("estimate --model gemma4-e4b --quant q4_k_m --hw rtx-4090 ") + bad);
    CHECK_MESSAGE(b.code == 2, bad);
    CHECK_MESSAGE(b.err_lines() == 1, bad);
  }
}

TEST_CASE("gemmasim serve-sim: energy per output token at the loaded draw over the run") {
  const CliResult ok = run_cli("serve-sim --model gemma4-e2b --quant q4_k_m --hw rtx-4090 --rate 2 --requests 100 --json");
  REQUIRE(ok.code == 0);
  const json j = json::parse(ok.out);
  REQUIRE(j.contains("energy"));
  CHECK(j["energy"]["j_per_output_token"].get<double>() ==
        doctest::Approx(j["energy"]["loaded_w"].get<double>() / j["result"]["output_tok_per_s"].get<double>()).epsilon(1e-6));
  const CliResult b = run_cli("serve-sim --model gemma4-e2b --quant q4_k_m --hw rtx-4090 --rate 2 --electricity-usd-per-kwh 0");
  CHECK(b.code == 2);
  CHECK(b.err_lines() == 1);
}

TEST_CASE("a negative power in a device file is a one-line input error") {
  const std::string data = std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/bad/";
  for (const char* f : {"negative-power-device.json", "negative-measured-power.json"}) {
    const CliResult b = run_cli("estimate --model gemma4-e2b --quant q4_0 --hw " + data + f);
    CHECK_MESSAGE(b.code == 2, f);
    CHECK_MESSAGE(b.err_lines() == 1, f);
    CHECK_MESSAGE(b.err.find("_w") != std::string::npos, f);
  }
}
