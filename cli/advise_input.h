// advise_input.h: the advisor's flags and inputs, shared by `advise` and `report`.
#pragma once
#include <functional>
#include <string>

#include "advise.h"
#include "options.h"

namespace gs::cli {

struct AdviseFlags {
  double budget_usd = 2000;
  std::string hw;               // hardware already owned (overrides the budget)
  long long ctx = 0;            // 0: the use case's
  static constexpr double kUnset = -1e300;
  double min_decode = kUnset, min_prefill = kUnset;  // not given: the use case's
  std::string use_case, modality = "text";
  int users = kUsersUnset;      // not given: the use case's (1, or its serving block's)
  static constexpr int kUsersUnset = -2147483647;
  double rate = 0, think_time = -1;  // serving: open-loop requests/s; closed-loop think time (< 0: the use case's)
  std::string slo;              // serving: e.g. ttft_p99=1,tpot_p99=0.1 (empty: the use case's)
  std::size_t top = 10;
  std::string models = "gemma4-e2b,gemma4-e4b,gemma4-26b-a4b,gemma4-31b";
  std::string quants;           // empty: every quant marked advise in quants/quality-penalty.json
  std::string rank = "quality"; // quality | speed | balanced
  double hours_per_day = 8, tokens_per_day = 0, usd_per_kwh = -1;
  double rent_months = 12;      // a rented system is considered when this many months of its rent fit the budget  // running cost (< 0: hwdb/power.json's price)
  std::string reserve;          // --reserve BYTES: host memory the OS keeps, for every system considered
};

// --budget --hw --ctx --min-decode-tok-per-s --min-prefill-tok-per-s --use-case --modality --users --top --models --quants
void add_advise_flags(po::options_description& d, AdviseFlags& f);
// Checks the flags and loads everything advise() needs (InputError on bad values).
AdviseInput load_advise_input(const AdviseFlags& f);
// All priced systems (for the cost chart), with the same engines/rules loaded.
void add_engines_for(AdviseInput& in, const std::vector<System>& systems);

std::vector<std::string> split_list(const std::string& s);

// Progress on stderr (a terminal only) once the work has taken more than a second.
std::function<void(int, int)> progress_reporter(const char* what);
// advise.json, the advise charts and advise.html in dir (cmd_advise.cpp); returns the page path.
std::string write_advise_files(const AdviseResult& r, std::size_t top, const std::string& dir, bool render);

}  // namespace gs::cli
