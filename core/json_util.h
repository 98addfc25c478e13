// json_util.h: typed, checked access to JSON data files.
//
// Every accessor takes the file name and a JSON pointer so that a bad value
// reports "file: /pointer: what is wrong (expected ...)". Used by every loader
// (models/, hwdb/, traces, calibration) so error messages look the same.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "error.h"

namespace gs {

using json = nlohmann::json;

// Parse a whole file; throws InputError naming the file on a missing file, a file that is
// not regular (a device, a FIFO) or larger than kMaxJsonFileBytes, or a parse error
// (numbers beyond a double included).
inline constexpr double kMaxJsonFileBytes = 256.0 * 1024 * 1024;
inline constexpr double kMaxTraceFileBytes = 16.0 * 1024 * 1024 * 1024;  // routing and request traces
json read_json_file(const std::string& path);
// The same for text in memory (a JSON Lines row); `where` names it in errors ("FILE:LINE").
json parse_json_text(const std::string& text, const std::string& where);

class JsonReader {
 public:
  JsonReader(const json& j, std::string file, std::string pointer = "")
      : j_(j), file_(std::move(file)), ptr_(std::move(pointer)) {}

  bool has(const std::string& key) const { return j_.is_object() && j_.contains(key) && !j_.at(key).is_null(); }
  JsonReader at(const std::string& key) const;  // required object member
  JsonReader at(std::size_t i) const;           // required array element
  std::size_t size() const;                     // array size (throws if not array)
  bool is_array() const { return j_.is_array(); }
  bool is_object() const { return j_.is_object(); }
  bool is_number() const { return j_.is_number(); }
  bool is_string() const { return j_.is_string(); }

  std::string str() const;
  double num() const;                              // any finite number
  double num(double lo, double hi) const;          // finite, in [lo, hi]
  long long integer(long long lo, long long hi) const;  // integral value in [lo, hi]
  bool boolean() const;

  // Convenience: member with default when absent.
  std::string str_or(const std::string& key, const std::string& def) const { return has(key) ? at(key).str() : def; }
  double num_or(const std::string& key, double def, double lo = -std::numeric_limits<double>::max(),
                double hi = std::numeric_limits<double>::max()) const {
    return has(key) ? at(key).num(lo, hi) : def;
  }
  long long int_or(const std::string& key, long long def, long long lo, long long hi) const {
    return has(key) ? at(key).integer(lo, hi) : def;
  }
  bool bool_or(const std::string& key, bool def) const { return has(key) ? at(key).boolean() : def; }

  const json& raw() const { return j_; }
  const std::string& file() const { return file_; }
  std::string where() const { return file_ + ": " + (ptr_.empty() ? std::string("/") : ptr_); }
  [[noreturn]] void fail(const std::string& what) const { input_error(where() + ": " + what); }

 private:
  const json& j_;
  std::string file_;
  std::string ptr_;
};

// An object of token count -> number ({"2": 1.4, "4": 2.1}): counts integers in [min_tokens,
// max_tokens], values in [lo, hi]; sorted by count. A bad key or value fails naming it.
std::vector<std::pair<int, double>> token_count_table(const JsonReader& m, int min_tokens, int max_tokens, double lo,
                                                      double hi);

}  // namespace gs
