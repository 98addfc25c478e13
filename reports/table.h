// table.h: plain-text tables (aligned columns) and CSV, for every command's output.
#pragma once
#include <string>
#include <vector>

namespace gs::report {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void right_align_from(std::size_t col) { right_from_ = col; }  // numeric columns
  std::string text() const;  // aligned, with a rule under the header
  std::string csv() const;   // RFC 4180 quoting
  std::size_t size() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::size_t right_from_ = 1000;
};

// Human-readable numbers at the edge: bytes in GB (1e9) or GiB, rates, counts.
std::string fmt_gb(double bytes, int decimals = 2);     // "3.41 GB"
std::string fmt_gib(double bytes, int decimals = 2);    // "3.18 GiB"
std::string fmt_bytes(double bytes);                    // picks B/KB/MB/GB
std::string fmt_num(double v, int decimals = 1);        // "1234.5"
std::string fmt_count(double v);                        // "4.63B", "153M", "512K"
std::string fmt_tokens(long long tokens);               // "8K", "128K", "131072" when not a multiple

std::string csv_escape(const std::string& s);

}  // namespace gs::report
