// workload.h: the requests a server sees: arrival time, prompt tokens, output tokens.
//
// Requests come from a trace file (Azure LLM inference traces in the processed CSV form
// arrived_at,num_prefill_tokens,num_decode_tokens; BurstGPT CSV; Mooncake JSON Lines) or are
// drawn: arrivals as a Poisson process, a gamma renewal process of a given coefficient of
// variation, or at a constant rate; prompt and output lengths from fixed, uniform, lognormal
// or empirical (a trace's own lengths) distributions. Closed-loop users are not drawn here:
// the simulator issues a user's next request when the previous one finishes (sim/serve/sim.h).
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "units.h"

namespace gs::serve {

struct Request {
  double arrival_s = 0;
  i64 prompt_tokens = 0;
  i64 gen_tokens = 1;
  // The prompt's blocks of kPrefixBlockTokens tokens as hash ids (Mooncake traces): equal
  // leading ids mean a shared prefix (a system prompt, an earlier turn). Empty: none known.
  std::vector<std::uint32_t> prefix_blocks;
};
inline constexpr i64 kPrefixBlockTokens = 512;  // Mooncake's hash_ids block size

// A length distribution: "fixed:N" (or "N"), "uniform:A:B", "lognormal:MEDIAN:SIGMA"
// (sigma of the log), or empirical: the lengths of a trace, drawn with replacement.
struct LengthDist {
  enum class Kind { Fixed, Uniform, Lognormal, Empirical } kind = Kind::Fixed;
  double a = 0, b = 0;
  std::vector<i64> values;  // empirical
  i64 draw(std::mt19937_64& rng) const;
  double mean() const;
};
// Parses a distribution; flag names the option in errors. "trace:FILE:prompt|gen" reads a trace.
LengthDist parse_length_dist(const std::string& s, const std::string& flag);

// Inter-arrival times: "poisson", "gamma:CV" or "constant".
struct ArrivalProcess {
  enum class Kind { Poisson, Gamma, Constant } kind = Kind::Poisson;
  double cv = 1;
  double next_gap_s(double rate_per_s, std::mt19937_64& rng) const;
};
ArrivalProcess parse_arrival(const std::string& s, const std::string& flag);

// n requests (n > 0) or those arriving before duration_s (n == 0), at rate_per_s.
std::vector<Request> draw_requests(double rate_per_s, const ArrivalProcess& arr, const LengthDist& prompt,
                                   const LengthDist& gen, i64 n, double duration_s, std::uint64_t seed);

struct Trace {
  std::string format;  // "azure" | "burstgpt" | "mooncake"
  std::vector<Request> requests;  // sorted by arrival, the first at 0
  i64 skipped = 0;     // rows without output tokens (BurstGPT failures)
  double span_s() const { return requests.empty() ? 0 : requests.back().arrival_s - requests.front().arrival_s; }
};
// Reads a request trace; a malformed row is an InputError naming the file and line.
Trace read_trace(const std::string& path);
// Writes requests in the Azure processed CSV form read_trace reads.
std::string trace_csv(const std::vector<Request>& r);
// Rescales arrival times so the mean rate is rate_per_s (first arrival stays at 0).
void scale_to_rate(std::vector<Request>& r, double rate_per_s);

}  // namespace gs::serve
