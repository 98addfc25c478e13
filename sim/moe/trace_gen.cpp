// trace_gen.cpp: synthetic routing traces (see trace_gen.h for the model).
#include "moe/trace_gen.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "error.h"

namespace gs::moe {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}
std::uint64_t Rng::next() {
  const std::uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return r;
}
double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

Trace generate_trace(const TraceGenParams& p) {
  const TraceShape& sh = p.shape;
  if (sh.n_layer <= 0 || sh.n_expert <= 0 || sh.n_expert > 65535 || sh.top_k <= 0 || sh.top_k > sh.n_expert)
    input_error("trace-gen: model is not a MoE model (expected experts > 0 and 0 < top_k <= experts)");
  std::vector<int> layers = p.moe_layers;
  if (layers.empty()) {
    layers.resize(static_cast<std::size_t>(sh.n_layer));
    std::iota(layers.begin(), layers.end(), 0);
  }
  const std::size_t nl = layers.size(), e = static_cast<std::size_t>(sh.n_expert), k = static_cast<std::size_t>(sh.top_k);
  if (p.n_tokens == 0) input_error("trace-gen: --tokens: 0 (expected at least 1 token)");
  if (p.n_prompt > p.n_tokens)
    input_error("trace-gen: --prompt " + std::to_string(p.n_prompt) + " exceeds --tokens " + std::to_string(p.n_tokens));
  if (!(p.locality >= 0.0 && p.locality <= 1.0))
    input_error("trace-gen: --locality " + std::to_string(p.locality) + " (expected a probability in [0, 1])");
  if (p.skew.size() != 1 && p.skew.size() != nl)
    input_error("trace-gen: --skew-per-layer has " + std::to_string(p.skew.size()) + " values (expected " +
                std::to_string(nl) + ", one per MoE layer)");
  for (double z : p.skew)
    if (!(z >= 0.0 && z <= 100.0))
      input_error("trace-gen: skew " + std::to_string(z) + " (expected a Zipf exponent in [0, 100])");

  Rng rng(p.seed), pop(p.popularity_seed ^ 0x706f70756c6172ull);
  // Popularity weight of each expert per layer: w[s*E + pi_s[r]] = (r+1)^-z_s.
  std::vector<double> w(nl * e);
  std::vector<std::uint16_t> perm(e);
  for (std::size_t s = 0; s < nl; ++s) {
    std::iota(perm.begin(), perm.end(), 0);
    for (std::size_t i = e - 1; i > 0; --i) std::swap(perm[i], perm[pop.next() % (i + 1)]);
    const double z = p.skew.size() == 1 ? p.skew[0] : p.skew[s];
    for (std::size_t r = 0; r < e; ++r) w[s * e + perm[r]] = std::pow(static_cast<double>(r + 1), -z);
  }

  Trace tr;
  tr.shape = sh;
  tr.layers = layers;
  tr.source = "synthetic";
  tr.token_ids.resize(p.n_tokens);
  tr.phase.resize(p.n_tokens);
  tr.experts.resize(p.n_tokens * nl * k);
  if (p.with_weights) tr.weights.resize(tr.experts.size());
  std::vector<double> key(e);
  std::vector<std::uint16_t> order(e), pick(k);
  const double inf = std::numeric_limits<double>::infinity();
  for (std::size_t t = 0; t < p.n_tokens; ++t) {
    tr.token_ids[t] = static_cast<std::uint32_t>(t);
    tr.phase[t] = t < p.n_prompt ? Phase::Prefill : Phase::Decode;
    for (std::size_t s = 0; s < nl; ++s) {
      const double* ws = &w[s * e];
      std::size_t n = 0;
      std::fill(key.begin(), key.end(), 0.0);
      if (t > 0 && p.locality > 0.0) {
        const std::uint16_t* prev = tr.row(t - 1, static_cast<int>(s));
        for (std::size_t i = 0; i < k; ++i)
          if (rng.uniform() < p.locality) {
            pick[n++] = prev[i];
            key[prev[i]] = inf;  // excluded from the draw
          }
      }
      if (n < k) {
        for (std::size_t i = 0; i < e; ++i)
          key[i] = key[i] == inf ? inf : -std::log1p(-rng.uniform()) / ws[i];
        std::iota(order.begin(), order.end(), 0);
        const std::size_t need = k - n;
        std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(need - 1), order.end(),
                         [&](std::uint16_t a, std::uint16_t b) { return key[a] < key[b] || (key[a] == key[b] && a < b); });
        std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(need),
                  [&](std::uint16_t a, std::uint16_t b) { return key[a] < key[b] || (key[a] == key[b] && a < b); });
        for (std::size_t i = 0; i < need; ++i) pick[n++] = order[i];
      }
      std::uint16_t* out = tr.experts.data() + (t * nl + s) * k;
      std::copy(pick.begin(), pick.end(), out);
      if (p.with_weights) {
        double sum = 0;
        for (std::size_t i = 0; i < k; ++i) sum += ws[out[i]];
        for (std::size_t i = 0; i < k; ++i) tr.weights[(t * nl + s) * k + i] = static_cast<float>(ws[out[i]] / sum);
      }
    }
  }
  return tr;
}

std::string trace_gen_meta(const TraceGenParams& p, const std::string& model_id) {
  nlohmann::json m = {{"generator", "gemmasim trace-gen"},
                      {"model", model_id},
                      {"n_layer", p.shape.n_layer},
                      {"n_expert", p.shape.n_expert},
                      {"top_k", p.shape.top_k},
                      {"tokens", p.n_tokens},
                      {"prompt", p.n_prompt},
                      {"skew", p.skew},
                      {"locality", p.locality},
                      {"seed", p.seed},
                      {"popularity_seed", p.popularity_seed}};
  return m.dump();
}

}  // namespace gs::moe
