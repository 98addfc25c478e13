#include "advise_input.h"

namespace gs::cli {

void add_advise_flags(po::options_description& d, AdviseFlags& f) {
  d.add_options()
      ("budget", po::value(&f.budget_usd)->default_value(f.budget_usd), "USD: consider the priced systems in hwdb/systems up to this price")
      ("hw", po::value(&f.hw), "hardware already owned: system or device id (gemmasim hw) or a JSON file (ignores --budget)")
      ("use-case", po::value(&f.use_case), "chat | coding | agentic | documents | mobile | team (presets in data/use-cases.json; default chat)")
      ("ctx,c", po::value(&f.ctx), "context per user, tokens (default: the use case's)")
      ("min-decode-tok-per-s", po::value(&f.min_decode), "slowest acceptable decode, tok/s per user (default: the use case's)")
      ("min-prefill-tok-per-s", po::value(&f.min_prefill), "slowest acceptable prompt processing, tok/s (default: the use case's)")
      ("modality", po::value(&f.modality)->default_value(f.modality), "text | image | audio (audio: E2B/E4B only)")
      ("users", po::value(&f.users), "users sharing the box: N > 1 simulates it as a server (closed loop, --think-time) and checks the SLO")
      ("rate", po::value(&f.rate), "serving: requests per second (Poisson) instead of --users")
      ("think-time", po::value(&f.think_time), "serving: mean seconds between a user's requests (default: the use case's, or 30)")
      ("slo", po::value(&f.slo), "serving: limits such as ttft_p99=1,tpot_p99=0.1 (default: the use case's, or TTFT p99 2 s and the decode floor)")
      ("top", po::value(&f.top)->default_value(f.top), "recommendations to show")
      ("models", po::value(&f.models)->default_value(f.models), "comma-separated model ids to consider")
      ("quants", po::value(&f.quants), "comma-separated quantizations (default: those with a quality penalty marked advise)")
      ("rank", po::value(&f.rank)->default_value(f.rank), "order: quality (then speed, price) | speed (decode tok/s first) | "
       "balanced (quality + 2 points per doubling of decode speed)")
      ("hours-per-day", po::value(&f.hours_per_day)->default_value(f.hours_per_day),
       "running cost: hours of generation a day (electricity of owned hardware, rent of cloud systems)")
      ("tokens-per-day", po::value(&f.tokens_per_day), "running cost: output tokens a day instead of hours")
      ("rent-months", po::value(&f.rent_months)->default_value(f.rent_months),
       "a cloud system is considered when this many months of its rent (at --hours-per-day) fit the --budget")
      ("electricity-usd-per-kwh", po::value(&f.usd_per_kwh), "electricity price (default 0.17: hwdb/power.json)")
      ("reserve", po::value(&f.reserve), "host (or unified) memory the OS keeps on every system considered, e.g. 4GiB "
       "(default: by form factor, hwdb/reserve.json)");
}

}  // namespace gs::cli
