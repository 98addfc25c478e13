#include "table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace gs::report {

std::string Table::text() const {
  std::vector<std::size_t> w(header_.size(), 0);
  auto widen = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  };
  widen(header_);
  for (const auto& r : rows_) widen(r);
  std::ostringstream os;
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::string cell = i < r.size() ? r[i] : "";
      const std::string pad(w[i] - cell.size(), ' ');
      s += (i >= right_from_ ? pad + cell : cell + pad);
      if (i + 1 < w.size()) s += "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    os << s << "\n";
  };
  line(header_);
  std::size_t total = 0;
  for (auto x : w) total += x + 2;
  os << std::string(total > 2 ? total - 2 : 0, '-') << "\n";
  for (const auto& r : rows_) line(r);
  return os.str();
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += (c == '"' ? std::string("\"\"") : std::string(1, c));
  return o + "\"";
}

std::string Table::csv() const {
  std::ostringstream os;
  auto line = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size(); ++i) os << (i ? "," : "") << csv_escape(r[i]);
    os << "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return os.str();
}

static std::string fmt(double v, int decimals, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v, unit);
  return buf;
}

std::string fmt_gb(double bytes, int decimals) { return fmt(bytes / 1e9, decimals, " GB"); }
std::string fmt_gib(double bytes, int decimals) { return fmt(bytes / (1024.0 * 1024.0 * 1024.0), decimals, " GiB"); }
std::string fmt_bytes(double bytes) {
  const double a = std::fabs(bytes);
  if (a >= 1e9) return fmt(bytes / 1e9, 2, " GB");
  if (a >= 1e6) return fmt(bytes / 1e6, 1, " MB");
  if (a >= 1e3) return fmt(bytes / 1e3, 1, " KB");
  return fmt(bytes, 0, " B");
}
std::string fmt_num(double v, int decimals) { return fmt(v, decimals, ""); }
std::string fmt_count(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt(v / 1e9, 2, "B");
  if (a >= 1e6) return fmt(v / 1e6, 1, "M");
  if (a >= 1e3) return fmt(v / 1e3, 1, "K");
  return fmt(v, 0, "");
}
std::string fmt_tokens(long long t) {
  if (t >= 1024 && t % 1024 == 0) return std::to_string(t / 1024) + "K";
  if (t >= 1024) return fmt(static_cast<double>(t) / 1024.0, 1, "K");
  return std::to_string(t);
}

}  // namespace gs::report
