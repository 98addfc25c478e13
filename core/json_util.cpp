#include "json_util.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomic_file.h"

namespace gs {

json read_json_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) input_error(path + ": is a directory (expected a JSON file)");
  if (!std::filesystem::exists(path, ec)) input_error(path + ": cannot open file");
  check_input_file(path, kMaxJsonFileBytes, "JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_json_text(ss.str(), path);
}

json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // e.byte is the position; keep the message to one line.
    input_error(where + ": malformed JSON at byte " + std::to_string(e.byte) + " (expected a valid JSON document)");
  } catch (const json::out_of_range&) {
    input_error(where + ": a number beyond the range of a double (e.g. 1e400)");
  } catch (const json::exception& e) {
    input_error(where + ": malformed JSON (" + std::string(e.what()) + ")");
  }
}

static std::string type_name(const json& j) { return j.type_name(); }

JsonReader JsonReader::at(const std::string& key) const {
  if (!j_.is_object()) fail("expected an object, found " + type_name(j_));
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) input_error(file_ + ": " + ptr_ + "/" + key + ": required key missing");
  return JsonReader(*it, file_, ptr_ + "/" + key);
}

JsonReader JsonReader::at(std::size_t i) const {
  if (!j_.is_array()) fail("expected an array, found " + type_name(j_));
  if (i >= j_.size()) fail("expected at least " + std::to_string(i + 1) + " elements");
  return JsonReader(j_[i], file_, ptr_ + "/" + std::to_string(i));
}

std::size_t JsonReader::size() const {
  if (!j_.is_array()) fail("expected an array, found " + type_name(j_));
  return j_.size();
}

std::string JsonReader::str() const {
  if (!j_.is_string()) fail("expected a string, found " + type_name(j_));
  return j_.get<std::string>();
}

double JsonReader::num() const {
  if (!j_.is_number()) fail("expected a number, found " + type_name(j_));
  double v = j_.get<double>();
  if (!std::isfinite(v)) fail("expected a finite number");
  return v;
}

double JsonReader::num(double lo, double hi) const {
  double v = num();
  if (v < lo || v > hi) {
    std::ostringstream os;
    os << "value " << v << " out of range (expected " << lo << " .. " << hi << ")";
    fail(os.str());
  }
  return v;
}

long long JsonReader::integer(long long lo, long long hi) const {
  double v = num();
  if (std::floor(v) != v) fail("expected an integer, found " + j_.dump());
  if (v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    fail("value " + j_.dump() + " out of range (expected " + std::to_string(lo) + " .. " + std::to_string(hi) + ")");
  }
  return static_cast<long long>(v);
}

bool JsonReader::boolean() const {
  if (!j_.is_boolean()) fail("expected true or false, found " + type_name(j_));
  return j_.get<bool>();
}

std::vector<std::pair<int, double>> token_count_table(const JsonReader& m, int min_tokens, int max_tokens, double lo,
                                                      double hi) {
  if (!m.is_object()) m.fail("expected an object of token count -> number");
  std::vector<std::pair<int, double>> out;
  for (auto it = m.raw().begin(); it != m.raw().end(); ++it) {
    const std::string& k = it.key();
    const bool digits = !k.empty() && k.size() <= 9 && k.find_first_not_of("0123456789") == std::string::npos;
    const long long n = digits ? std::stoll(k) : -1;
    if (n < min_tokens || n > max_tokens)
      m.fail("key '" + k + "': expected a token count in " + std::to_string(min_tokens) + ".." + std::to_string(max_tokens));
    out.emplace_back(static_cast<int>(n), m.at(k).num(lo, hi));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace gs
