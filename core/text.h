// text.h: the small string helpers the loaders share (ASCII only).
#pragma once
#include <cctype>
#include <cstdio>
#include <string>

namespace gs {

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Without leading and trailing blanks (space, tab, CR, LF).
inline std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// s as one word for /bin/sh: in single quotes, each ' written as '\''.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A number in a message as people write it: "-1", "0.5", "20000000" (no trailing zeros).
inline std::string num_text(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

// Progress lines: the time left when `done` of the work (0..1] took elapsed_s so far, as
// ", 1m23s left" ("" before there is anything to go on).
inline std::string eta_text(double elapsed_s, double done) {
  if (!(done > 0) || done >= 1 || elapsed_s < 0) return "";
  const long left = static_cast<long>(elapsed_s * (1 - done) / done + 0.5);
  char b[48];
  if (left >= 3600) std::snprintf(b, sizeof b, ", %ldh%02ldm left", left / 3600, left / 60 % 60);
  else if (left >= 60) std::snprintf(b, sizeof b, ", %ldm%02lds left", left / 60, left % 60);
  else std::snprintf(b, sizeof b, ", %lds left", left);
  return b;
}

}  // namespace gs
