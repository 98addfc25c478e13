// synth.cpp: the synthetic tensor plan (storage type per tensor) and the
// counter-based value generator (see synth.h for the distributions).
#include "synth.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <numeric>
#include <random>

#include "error.h"
#include "kernels/block_layouts.h"

namespace gs::ref {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform with unit variance: [-sqrt(3), sqrt(3)).
inline float unit_uniform(std::uint64_t key, std::uint64_t e) {
  const std::uint64_t z = splitmix64(key + e * 0xD1B54A32D192ED03ull);
  return (static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f) * 1.7320508f;
}

bool fits(GgmlType t, i64 ne0) { return ne0 % block_geom(t).weights == 0; }

// Nearest type the kernels execute, for a recipe type they do not.
GgmlType nearest_supported(GgmlType t, i64 ne0) {
  GgmlType want = t;
  switch (t) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0:
    case GgmlType::Q4_0: case GgmlType::Q4_K: case GgmlType::Q6_K:
      break;
    case GgmlType::Q4_1: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS: case GgmlType::MXFP4:
      want = GgmlType::Q4_0; break;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::IQ2_XXS: case GgmlType::IQ2_XS: case GgmlType::IQ2_S:
    case GgmlType::IQ3_XXS: case GgmlType::IQ3_S: case GgmlType::IQ1_S: case GgmlType::IQ1_M:
      want = GgmlType::Q4_K; break;
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q5_K:
      want = GgmlType::Q6_K; break;
    case GgmlType::Q8_1: case GgmlType::Q8_K:
      want = GgmlType::Q8_0; break;
    default:
      want = GgmlType::F16; break;
  }
  // Row does not hold whole blocks: K-quants -> Q8_0 (32) -> F16.
  if (!fits(want, ne0)) want = (want == GgmlType::Q4_K || want == GgmlType::Q6_K) ? GgmlType::Q8_0 : want;
  if (!fits(want, ne0)) want = GgmlType::F16;
  return want;
}

bool is_norm_like(TensorRole r) {
  switch (r) {
    case TensorRole::OutputNorm: case TensorRole::PleProjNorm: case TensorRole::AttnNorm: case TensorRole::AttnQNorm:
    case TensorRole::AttnKNorm: case TensorRole::PostAttnNorm: case TensorRole::FfnNorm: case TensorRole::PostFfnNorm:
    case TensorRole::MoePreNorm2: case TensorRole::MoePostNorm1: case TensorRole::MoePostNorm2:
    case TensorRole::PlePostNorm: case TensorRole::LayerScalar: case TensorRole::MoeExpertScale:
    case TensorRole::MoeRouterScale:
      return true;
    default:
      return false;
  }
}

bool is_bias(TensorRole r) {
  switch (r) {
    case TensorRole::AttnQBias: case TensorRole::AttnKBias: case TensorRole::AttnVBias: case TensorRole::AttnOutBias:
    case TensorRole::MoeRouterBias: case TensorRole::MoeExpsBias: case TensorRole::AttnSinks:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::vector<SynthTensor> synth_plan(const ModelSpec& m, const SynthOptions& o) {
  static const char* kQuants[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m"};
  if (std::find(std::begin(kQuants), std::end(kQuants), o.quant) == std::end(kQuants)) {
    input_error("--quant " + o.quant + ": synth supports f32, f16, bf16, q8_0, q4_0, q4_k_m");
  }
  if (!(o.router_skew >= 0 && o.router_skew <= 10)) input_error("--router-skew: expected a value in [0, 10]");
  const QuantRecipe& r = find_recipe(o.quant);
  const auto infos = weight_tensors(m);
  const auto types = tensor_types(r, m, infos);
  std::vector<SynthTensor> plan;
  plan.reserve(infos.size() + 1);
  for (std::size_t i = 0; i < infos.size(); ++i) {
    SynthTensor s{infos[i], nearest_supported(types[i], infos[i].ne[0]), ""};
    if (s.type != types[i]) {
      s.note = std::string(type_info(types[i]).name) + " -> " + type_info(s.type).name;
    }
    plan.push_back(std::move(s));
  }
  return plan;
}

std::vector<double> router_sigmas(int E, int K, double Z) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, double>, std::vector<double>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({E, K, Z});
  if (it != cache.end()) return it->second;
  std::vector<double> sigma(static_cast<std::size_t>(E), 1.0);
  if (Z <= 0 || E <= K || K <= 0) return sigma;
  // Target top-K frequency of the expert of rank r: proportional to (r+1)^-Z,
  // summing to K. Zero-mean logits put an expert in the top K at most about half
  // the time (when its logit is positive), so targets are capped at 0.45 and the
  // rest rescaled (ranks below the cap keep exact Zipf ratios).
  std::vector<double> target(static_cast<std::size_t>(E));
  for (int e = 0; e < E; ++e) target[e] = std::pow(e + 1.0, -Z);
  for (int pass = 0; pass < 100; ++pass) {
    double capped = 0, free_sum = 0;
    for (auto t : target) (t >= 0.45 ? capped : free_sum) += t >= 0.45 ? 0.45 : t;
    for (auto& t : target) t = t >= 0.45 ? 0.45 : std::min(0.45, t * (K - capped) / free_sum);
  }
  // Mean-field start: the K-th largest logit sits near a threshold tau (= 1, the
  // scale is free), so P(e in top K) ~ P(sigma_e z > 1) = Phic(1 / sigma_e).
  auto phic_inv = [](double f) {  // x with P(z > x) = f, f in (0, 0.5)
    double lo = 0, hi = 40;
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (0.5 * std::erfc(mid / std::sqrt(2.0)) > f ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  };
  for (int e = 0; e < E; ++e) sigma[e] = 1.0 / phic_inv(std::max(1e-9, target[e]));
  // Then a fixed-point correction on one fixed sample of isotropic inputs (logits
  // independent N(0, sigma_e^2)): raise sigma where an expert is picked too rarely.
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> nd;
  const int samples = 4000;
  std::vector<double> z(static_cast<std::size_t>(samples) * E);
  for (auto& v : z) v = nd(rng);
  std::vector<double> logit(static_cast<std::size_t>(E));
  std::vector<int> idx(static_cast<std::size_t>(E));
  for (int it = 0; it < 40; ++it) {
    std::vector<double> freq(static_cast<std::size_t>(E), 0.0);
    for (int s = 0; s < samples; ++s) {
      for (int e = 0; e < E; ++e) logit[e] = sigma[e] * z[static_cast<std::size_t>(s) * E + e];
      std::iota(idx.begin(), idx.end(), 0);
      std::nth_element(idx.begin(), idx.begin() + (K - 1), idx.end(), [&](int a, int b) { return logit[a] > logit[b]; });
      for (int k = 0; k < K; ++k) freq[idx[k]] += 1.0 / samples;
    }
    for (int e = 0; e < E; ++e) {
      const double ratio = (target[e] + 2.0 / samples) / (freq[e] + 2.0 / samples);
      sigma[e] = std::clamp(sigma[e] * std::pow(ratio, 0.3), 1e-3, 1e3);
    }
    // Only ratios of sigmas matter for the selection: keep their geometric mean at 1.
    double log_mean = 0;
    for (double v : sigma) log_mean += std::log(v) / E;
    for (double& v : sigma) v /= std::exp(log_mean);
  }
  cache[{E, K, Z}] = sigma;
  return sigma;
}

void synth_rows(const ModelSpec& m, const SynthOptions& o, const std::vector<SynthTensor>& plan, std::size_t index,
                std::int64_t r0, std::int64_t r1, float* out) {
  const TensorInfo& t = plan[index].info;
  const i64 ne0 = t.ne[0];
  const std::uint64_t key = splitmix64(splitmix64(o.seed) ^ splitmix64(0xA5A5A5A5ull + index));
  const TensorRole role = t.role;
  std::vector<double> sig;  // router: per-expert sd, in a seeded per-layer rank order
  if (role == TensorRole::MoeRouter) {
    const auto s = router_sigmas(static_cast<int>(t.ne[1]), m.moe.n_expert_used, o.router_skew);
    std::vector<int> perm(s.size());
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(splitmix64(o.seed * 31 + static_cast<std::uint64_t>(t.layer) + 7));
    std::shuffle(perm.begin(), perm.end(), rng);
    sig.resize(s.size());
    for (std::size_t e = 0; e < s.size(); ++e) sig[perm[e]] = s[e];
  }
  float sd = 1.0f / std::sqrt(static_cast<float>(ne0));
  if (role == TensorRole::PleTable) sd = 1.0f / std::sqrt(static_cast<float>(std::max(1, m.ple.dim)));
#pragma omp parallel for schedule(static) if (r1 - r0 > 1 && (r1 - r0) * ne0 > 65536)
  for (std::int64_t r = r0; r < r1; ++r) {
    float* row = out + (r - r0) * ne0;
    const std::uint64_t base = static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(ne0);
    if (is_bias(role)) {
      std::fill(row, row + ne0, 0.0f);
    } else if (is_norm_like(role)) {
      for (i64 c = 0; c < ne0; ++c) row[c] = 1.0f + 0.05f * unit_uniform(key, base + c);
    } else if (role == TensorRole::MoeRouter) {
      const float s = static_cast<float>(sig[static_cast<std::size_t>(r % t.ne[1])]);
      for (i64 c = 0; c < ne0; ++c) row[c] = s * unit_uniform(key, base + c);
    } else {
      for (i64 c = 0; c < ne0; ++c) row[c] = sd * unit_uniform(key, base + c);
    }
  }
}

}  // namespace gs::ref
