// sample.h: random draws that are the same on every platform.
//
// std::mt19937_64 is specified bit for bit, but the standard library's distributions are not:
// libstdc++ (the CLI), libc++ (the WebAssembly page) and MSVC turn the same engine output into
// different exponential, normal and gamma draws. A simulated workload must be the same
// wherever it runs, so every draw goes through these functions, written from the engine's raw
// 64-bit output with textbook methods.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace gs::serve {

// Uniform on [0, 1): the top 53 bits of one engine output.
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Exponential with this rate (mean 1/rate): inversion.
inline double exponential(std::mt19937_64& rng, double rate) { return -std::log1p(-uniform01(rng)) / rate; }

// Standard normal: Box-Muller (one of the pair; two engine outputs per draw).
inline double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng);  // (0, 1]: log is finite
  const double u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

// Lognormal: exp(mu + sigma x standard normal).
inline double lognormal(std::mt19937_64& rng, double mu, double sigma) { return std::exp(mu + sigma * standard_normal(rng)); }

// Gamma with shape k and scale theta: Marsaglia and Tsang (2000); k < 1 by boosting
// (Gamma(k) = Gamma(k + 1) x U^(1/k)).
inline double gamma(std::mt19937_64& rng, double k, double theta) {
  if (k < 1) return gamma(rng, k + 1, theta) * std::pow(1.0 - uniform01(rng), 1.0 / k);
  const double d = k - 1.0 / 3, c = 1.0 / std::sqrt(9 * d);
  for (;;) {
    double x, v;
    do {
      x = standard_normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - uniform01(rng);
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v * theta;
  }
}

// An index in [0, n) (n >= 1).
inline std::size_t index_below(std::mt19937_64& rng, std::size_t n) {
  const auto i = static_cast<std::size_t>(uniform01(rng) * static_cast<double>(n));
  return i < n ? i : n - 1;
}

// True with probability p.
inline bool bernoulli(std::mt19937_64& rng, double p) { return uniform01(rng) < p; }

}  // namespace gs::serve
