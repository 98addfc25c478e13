// advise_request.h: the advisor's inputs as a person states them (the flags of `advise` and
// `report`, the fields of the web page), checked and turned into an AdviseInput. One place, so
// the command line and the WebAssembly page answer the same question the same way.
#pragma once
#include <string>
#include <vector>

#include "advise.h"

namespace gs {

struct AdviseFlags {
  double budget_usd = 2000;
  std::string hw;               // hardware already owned (overrides the budget)
  long long ctx = 0;            // 0: the use case's
  static constexpr double kUnset = -1e300;
  double min_decode = kUnset, min_prefill = kUnset;  // not given: the use case's
  std::string use_case, modality = "text";
  static constexpr int kUsersUnset = -2147483647;
  int users = kUsersUnset;      // not given: the use case's (1, or its serving block's)
  double rate = 0, think_time = -1;  // serving: open-loop requests/s; closed-loop think time (< 0: the use case's)
  std::string slo;              // serving: e.g. ttft_p99=1,tpot_p99=0.1 (empty: the use case's)
  std::size_t top = 10;
  std::string models = "gemma4-e2b,gemma4-e4b,gemma4-26b-a4b,gemma4-31b";
  std::string quants;           // empty: every quant marked advise in quants/quality-penalty.json
  std::string rank = "quality"; // quality | speed | balanced
  double hours_per_day = 8, tokens_per_day = 0;
  double usd_per_kwh = -1;      // running cost (< 0: hwdb/power.json's price)
  double rent_months = 12;      // a rented system is considered when this many months of its rent fit the budget
  std::string reserve;          // --reserve BYTES: host memory the OS keeps, for every system considered
};

// Checks the request and loads everything advise() needs (InputError naming the flag on a bad
// value). A --hw system's loader warnings stay in systems.front().warnings for the caller.
AdviseInput load_advise_input(const AdviseFlags& f);
// The same over systems already loaded (all_systems(), kept by a caller that answers many
// requests: the web page); nullptr reads hwdb/systems.
AdviseInput load_advise_input(const AdviseFlags& f, const std::vector<System>* catalog);
// Adds the engine profiles and memory rules default_engine picks for these systems.
void add_engines_for(AdviseInput& in, const std::vector<System>& systems);
// "a, b,c" -> {"a", "b", "c"} (spaces dropped, empty items skipped).
std::vector<std::string> split_list(const std::string& s);

}  // namespace gs
