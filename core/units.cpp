// units.cpp: parsing quantities people type (see units.h).
#include "units.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

#include "error.h"

namespace gs {

namespace {
// The number at the front of s and the rest, lower-cased and without spaces.
double split_number(const std::string& s, const std::string& what, const char* example, std::string* unit) {
  std::size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    input_error(what + ": '" + s + "' is not a number with a unit (expected e.g. " + example + ")");
  }
  unit->clear();
  for (std::size_t i = pos; i < s.size(); ++i)
    if (s[i] != ' ') unit->push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))));
  if (!std::isfinite(v) || v < 0) input_error(what + ": expected a non-negative number, got '" + s + "'");
  return v;
}

double byte_unit(const std::string& unit, const std::string& s, const std::string& what) {
  if (unit.empty() || unit == "b") return 1;
  if (unit == "kb") return kKB;
  if (unit == "mb") return kMB;
  if (unit == "gb") return kGB;
  if (unit == "tb") return kTB;
  if (unit == "kib") return kKiB;
  if (unit == "mib") return kMiB;
  if (unit == "gib") return kGiB;
  if (unit == "tib") return kTiB;
  input_error(what + ": unknown unit '" + unit + "' in '" + s + "' (expected B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)");
}
}  // namespace

double parse_bytes_text(const std::string& s, const std::string& what) {
  std::string unit;
  const double v = split_number(s, what, "12GB, 11.5GiB, 8e9", &unit);
  return v * byte_unit(unit, s, what);
}

double parse_bytes_per_s_text(const std::string& s, const std::string& what) {
  std::string unit;
  const double v = split_number(s, what, "360GB/s, 1.5TB/s", &unit);
  if (unit.size() >= 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
  return v * byte_unit(unit, s, what);
}

double parse_flops_per_s_text(const std::string& s, const std::string& what) {
  std::string unit;
  const double v = split_number(s, what, "82.6TFLOPS, 330T, 1.9e15", &unit);
  for (const char* suffix : {"flop/s", "flops", "ops", "op/s"})
    if (const std::string x = suffix; unit.size() >= x.size() && unit.compare(unit.size() - x.size(), x.size(), x) == 0) {
      unit.resize(unit.size() - x.size());
      break;
    }
  double mul = 1;
  if (unit.empty()) mul = 1;
  else if (unit == "k") mul = 1e3;
  else if (unit == "m") mul = 1e6;
  else if (unit == "g") mul = 1e9;
  else if (unit == "t") mul = 1e12;
  else if (unit == "p") mul = 1e15;
  else input_error(what + ": unknown unit in '" + s + "' (expected e.g. 82.6TFLOPS, 330T, 900G)");
  return v * mul;
}

}  // namespace gs
