// workload.cpp: request distributions, arrival processes and trace readers.
#include "workload.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "error.h"
#include "atomic_file.h"
#include "json_util.h"
#include "sample.h"
#include "text.h"

namespace gs::serve {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cell;
  std::stringstream ss(s);
  while (std::getline(ss, cell, sep)) out.push_back(cell);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// A finite number; false on anything else.
bool to_num(const std::string& s, double* out) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  std::size_t pos = 0;
  try {
    *out = std::stod(t, &pos);
  } catch (const std::exception&) {
    return false;
  }
  return pos == t.size() && std::isfinite(*out);
}

double num_arg(const std::string& s, const std::string& flag, const std::string& what, double lo, double hi) {
  double v = 0;
  if (!to_num(s, &v) || v < lo || v > hi)
    input_error(flag + ": " + what + " '" + s + "' (expected a number in " + num_text(lo) + " .. " + num_text(hi) + ")");
  return v;
}

constexpr double kMaxTokens = 16.0 * 1024 * 1024;

}  // namespace

i64 LengthDist::draw(std::mt19937_64& rng) const {
  double v = a;
  switch (kind) {
    case Kind::Fixed: v = a; break;
    case Kind::Uniform: v = std::floor(a + (b + 1 - a) * serve::uniform01(rng)); break;
    case Kind::Lognormal: v = std::round(a * std::exp(b * serve::standard_normal(rng))); break;
    case Kind::Empirical:
      return values[serve::index_below(rng, values.size())];
  }
  return static_cast<i64>(std::clamp(v, 1.0, kMaxTokens));
}

double LengthDist::mean() const {
  switch (kind) {
    case Kind::Fixed: return a;
    case Kind::Uniform: return 0.5 * (a + b);
    case Kind::Lognormal: return a * std::exp(0.5 * b * b);
    case Kind::Empirical: {
      double s = 0;
      for (i64 v : values) s += static_cast<double>(v);
      return values.empty() ? 0 : s / static_cast<double>(values.size());
    }
  }
  return a;
}

LengthDist parse_length_dist(const std::string& s, const std::string& flag) {
  LengthDist d;
  const auto parts = split(s, ':');
  const std::string kind = parts.empty() ? "" : parts[0];
  auto want = [&](std::size_t n, const char* form) {
    if (parts.size() != n) input_error(flag + ": '" + s + "' (expected " + form + ")");
  };
  if (parts.size() == 1 && !kind.empty() && std::isdigit(static_cast<unsigned char>(kind[0]))) {
    d.a = num_arg(kind, flag, "length", 1, kMaxTokens);
  } else if (kind == "fixed") {
    want(2, "fixed:N");
    d.a = num_arg(parts[1], flag, "length", 1, kMaxTokens);
  } else if (kind == "uniform") {
    want(3, "uniform:MIN:MAX");
    d.kind = LengthDist::Kind::Uniform;
    d.a = num_arg(parts[1], flag, "minimum", 1, kMaxTokens);
    d.b = num_arg(parts[2], flag, "maximum", d.a, kMaxTokens);
  } else if (kind == "lognormal") {
    want(3, "lognormal:MEDIAN:SIGMA");
    d.kind = LengthDist::Kind::Lognormal;
    d.a = num_arg(parts[1], flag, "median", 1, kMaxTokens);
    d.b = num_arg(parts[2], flag, "sigma", 0, 5);
  } else if (kind == "trace") {
    // trace:FILE (the column the flag is about) or trace:FILE:prompt|gen
    if (parts.size() < 2) input_error(flag + ": '" + s + "' (expected trace:FILE)");
    std::string which = flag.find("prompt") != std::string::npos ? "prompt" : "gen";
    std::string path = s.substr(6);
    const auto last = path.rfind(':');
    if (last != std::string::npos && (path.substr(last + 1) == "prompt" || path.substr(last + 1) == "gen")) {
      which = path.substr(last + 1);
      path = path.substr(0, last);
    }
    const Trace t = read_trace(path);
    if (t.requests.empty()) input_error(flag + ": " + path + ": no requests");
    d.kind = LengthDist::Kind::Empirical;
    for (const auto& r : t.requests) d.values.push_back(which == "prompt" ? std::max<i64>(r.prompt_tokens, 1) : r.gen_tokens);
  } else {
    input_error(flag + ": '" + s + "' (expected N, fixed:N, uniform:MIN:MAX, lognormal:MEDIAN:SIGMA or trace:FILE)");
  }
  return d;
}

double ArrivalProcess::next_gap_s(double rate, std::mt19937_64& rng) const {
  switch (kind) {
    case Kind::Constant: return 1.0 / rate;
    case Kind::Poisson: return serve::exponential(rng, rate);
    case Kind::Gamma: {
      // shape k = 1/CV^2, mean k x theta = 1/rate
      const double k = 1.0 / (cv * cv);
      return serve::gamma(rng, k, 1.0 / (rate * k));
    }
  }
  return 1.0 / rate;
}

ArrivalProcess parse_arrival(const std::string& s, const std::string& flag) {
  ArrivalProcess a;
  if (s == "poisson") return a;
  if (s == "constant") {
    a.kind = ArrivalProcess::Kind::Constant;
    return a;
  }
  if (s.rfind("gamma:", 0) == 0) {
    a.kind = ArrivalProcess::Kind::Gamma;
    a.cv = num_arg(s.substr(6), flag, "coefficient of variation", 0.01, 100);
    return a;
  }
  input_error(flag + ": '" + s + "' (expected poisson, gamma:CV or constant)");
}

std::vector<Request> draw_requests(double rate, const ArrivalProcess& arr, const LengthDist& prompt,
                                   const LengthDist& gen, i64 n, double duration_s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::mt19937_64 len_rng(seed ^ 0x9e3779b97f4a7c15ULL);  // lengths independent of the arrival draws
  std::vector<Request> out;
  double t = 0;
  for (i64 i = 0; n > 0 ? i < n : true; ++i) {
    if (i > 0) t += arr.next_gap_s(rate, rng);
    if (n == 0 && t > duration_s) break;
    Request r;
    r.arrival_s = t;
    r.prompt_tokens = prompt.draw(len_rng);
    r.gen_tokens = gen.draw(len_rng);
    out.push_back(r);
  }
  return out;
}

Trace read_trace(const std::string& path) {
  check_input_file(path, kMaxTraceFileBytes, "request trace");
  std::ifstream f(path);
  if (!f) input_error(path + ": cannot open the trace");
  Trace t;
  std::string line;
  i64 lineno = 0;
  auto bad = [&](const std::string& why) { input_error(path + ":" + std::to_string(lineno) + ": " + why); };
  // Format from the first non-empty line: '{' -> Mooncake JSON Lines; a CSV header otherwise.
  int c_time = -1, c_prompt = -1, c_gen = -1;
  double time_scale = 1;
  std::size_t n_cols = 0;
  bool header_done = false;
  while (std::getline(f, line)) {
    ++lineno;
    if (lineno > 50'000'000) bad("more than 50 million lines");
    const std::string s = trim(line);
    if (s.empty()) continue;
    if (!header_done && s[0] == '{') {
      t.format = "mooncake";
      header_done = true;
    }
    if (t.format == "mooncake") {
      json j;
      try {
        j = json::parse(s);
      } catch (const std::exception&) {
        bad("not a JSON object (Mooncake rows: {\"timestamp\": ms, \"input_length\": N, \"output_length\": N})");
      }
      auto field = [&](const char* k) {
        if (!j.is_object() || !j.contains(k) || !j[k].is_number()) bad(std::string("missing number \"") + k + "\"");
        const double v = j[k].get<double>();
        if (!std::isfinite(v) || v < 0) bad(std::string("\"") + k + "\" must be a finite number >= 0");
        return v;
      };
      Request r;
      r.arrival_s = field("timestamp") / 1000.0;
      const double p = field("input_length"), g = field("output_length");
      if (p > kMaxTokens || g > kMaxTokens) bad("token count beyond 16M");
      r.prompt_tokens = static_cast<i64>(p);
      r.gen_tokens = static_cast<i64>(g);
      if (j.contains("hash_ids")) {
        const json& h = j["hash_ids"];
        if (!h.is_array()) bad("\"hash_ids\" must be an array of block ids");
        for (const auto& x : h) {
          if (!x.is_number_integer() || x.get<long long>() < 0 || x.get<long long>() > 0xffffffffLL)
            bad("\"hash_ids\" must hold integers in 0 .. 2^32-1");
          r.prefix_blocks.push_back(static_cast<std::uint32_t>(x.get<long long>()));
        }
      }
      if (r.gen_tokens < 1) {
        ++t.skipped;
        continue;
      }
      t.requests.push_back(r);
      continue;
    }
    const auto cells = split(s, ',');
    if (!header_done) {
      header_done = true;
      for (std::size_t i = 0; i < cells.size(); ++i) {
        const std::string h = trim(cells[i]);
        if (h == "arrived_at") c_time = static_cast<int>(i), t.format = "azure";
        if (h == "num_prefill_tokens") c_prompt = static_cast<int>(i);
        if (h == "num_decode_tokens") c_gen = static_cast<int>(i);
        if (h == "Timestamp") c_time = static_cast<int>(i), t.format = "burstgpt";
        if (h == "Request tokens") c_prompt = static_cast<int>(i);
        if (h == "Response tokens") c_gen = static_cast<int>(i);
      }
      if (c_time < 0 || c_prompt < 0 || c_gen < 0)
        bad("unknown trace header (expected arrived_at,num_prefill_tokens,num_decode_tokens; BurstGPT's "
            "Timestamp,...,Request tokens,Response tokens,...; or Mooncake JSON Lines)");
      n_cols = cells.size();
      continue;
    }
    if (cells.size() != n_cols)
      bad(std::to_string(cells.size()) + " cells, the header has " + std::to_string(n_cols));
    double tv = 0, p = 0, g = 0;
    if (!to_num(cells[static_cast<std::size_t>(c_time)], &tv) || tv < 0) bad("arrival time is not a number >= 0");
    if (!to_num(cells[static_cast<std::size_t>(c_prompt)], &p) || p < 0 || p > kMaxTokens || p != std::floor(p))
      bad("prompt tokens is not a whole number in 0 .. 16M");
    if (!to_num(cells[static_cast<std::size_t>(c_gen)], &g) || g < 0 || g > kMaxTokens || g != std::floor(g))
      bad("output tokens is not a whole number in 0 .. 16M");
    if (g < 1) {
      ++t.skipped;
      continue;
    }
    t.requests.push_back({tv * time_scale, static_cast<i64>(p), static_cast<i64>(g)});
  }
  if (!header_done) input_error(path + ": empty trace");
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; });
  if (!t.requests.empty()) {
    const double t0 = t.requests.front().arrival_s;
    for (auto& r : t.requests) r.arrival_s -= t0;
  }
  return t;
}

std::string trace_csv(const std::vector<Request>& rs) {
  std::string s = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
  char buf[96];
  for (const auto& r : rs) {
    std::snprintf(buf, sizeof buf, "%.6f,%lld,%lld\n", r.arrival_s, static_cast<long long>(r.prompt_tokens),
                  static_cast<long long>(r.gen_tokens));
    s += buf;
  }
  return s;
}

void scale_to_rate(std::vector<Request>& r, double rate) {
  if (r.size() < 2 || rate <= 0) return;
  const double span = r.back().arrival_s - r.front().arrival_s;
  if (span <= 0) return;
  const double k = (static_cast<double>(r.size() - 1) / rate) / span;
  const double t0 = r.front().arrival_s;
  for (auto& q : r) q.arrival_s = t0 + (q.arrival_s - t0) * k;
}

}  // namespace gs::serve
