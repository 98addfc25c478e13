// report_charts.h: the data and gnuplot scripts of the report's charts and of
// `advise --out`. Each function computes its series with the simulator and
// returns a ChartSpec (reports/charts.h writes and renders it).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "advise.h"
#include "charts.h"

namespace gs::report {

// The hardware the report compares (system or device ids; missing ids are skipped).
std::vector<std::string> headline_hardware();
// The same, loaded (an id missing from hwdb/ is skipped: the page lists what was used).
std::vector<System> headline_systems();
// The four Gemma 4 variants, shortest label first: "E2B", "E4B", "26B A4B", "31B".
std::string variant_label(const ModelSpec& m);

// in: systems are ignored (each chart picks its own); models are the variants; req sets context etc.
ChartSpec chart_decode(const AdviseInput& in, const std::vector<System>& hw);   // (a)
ChartSpec chart_memory(const AdviseInput& in, const std::vector<System>& hw);   // (b)
ChartSpec chart_context(const AdviseInput& in);                                // (c)
ChartSpec chart_cost(const AdviseInput& in, double budget_usd);                // (d) priced systems of in.systems
// Running cost (sim/power.h): $ per million output tokens per variant and system (owned at the
// requirements' electricity price, rented by the hour), and J per output token vs decode speed.
ChartSpec chart_running_cost(const AdviseInput& in);
ChartSpec chart_energy(const AdviseInput& in);
// (e) from `validate` results (JSON rows with predicted_/measured_ decode/prefill tok/s); nullopt if no rows.
std::optional<ChartSpec> chart_validate(const json& validate);

ChartSpec chart_advise_top(const AdviseResult& r, std::size_t top);     // decode tok/s and quality of the top N
ChartSpec chart_advise_memory(const AdviseResult& r, std::size_t top);  // memory of the top N vs capacity

}  // namespace gs::report
