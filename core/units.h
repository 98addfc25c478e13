// units.h: the one unit system inside gemmasim.
//
// Rule: every quantity inside sim/ is a double (or int64) in SI base units
// — bytes, seconds, FLOP, FLOP/s, bytes/s, tokens — and the unit is in the
// variable name: weight_bytes, time_s, bandwidth_bytes_per_s, tok_per_s.
// Conversions happen only at the edges (printing, parsing user input),
// through the named constants below. Never 2^40 for "tera" FLOP/s.
#pragma once
#include <cstdint>
#include <string>

namespace gs {

inline constexpr double kKB = 1e3;
inline constexpr double kMB = 1e6;
inline constexpr double kGB = 1e9;
inline constexpr double kTB = 1e12;
inline constexpr double kKiB = 1024.0;
inline constexpr double kMiB = 1024.0 * 1024.0;
inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
inline constexpr double kTiB = 1024.0 * 1024.0 * 1024.0 * 1024.0;
inline constexpr double kGFLOP = 1e9;
inline constexpr double kTFLOP = 1e12;

using i64 = std::int64_t;

// Quantities people type (flags, inline hardware specs), each to the one unit inside; `what`
// names the flag or key in the one-line error (exit 2) for a bad number, unit or sign.
//   bytes:       "12GB", "11.5 GiB", "512MiB", "8e9" (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)
//   bytes/s:     the same units with an optional "/s": "360GB/s", "1.5TB/s"
//   FLOP/s:      "82.6TFLOPS", "82.6 TFLOP/s", "82.6T", "900G", "1.9e15" (K, M, G, T, P, with
//                an optional FLOPS, FLOP/s or OPS)
double parse_bytes_text(const std::string& s, const std::string& what);
double parse_bytes_per_s_text(const std::string& s, const std::string& what);
double parse_flops_per_s_text(const std::string& s, const std::string& what);

}  // namespace gs
