// trace.cpp: building, reading (JSON Lines, CSV) and writing routing traces.
#include "moe/trace.h"

#include "atomic_file.h"
#include "json_util.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <unistd.h>

#include "error.h"

namespace gs::moe {

using json = nlohmann::json;

const char* phase_name(Phase p) { return p == Phase::Prefill ? "prefill" : "decode"; }

std::size_t Trace::n_prefill_tokens() const {
  return static_cast<std::size_t>(std::count(phase.begin(), phase.end(), Phase::Prefill));
}

namespace {

std::string at_line(const std::string& file, std::size_t line) { return file + ":" + std::to_string(line) + ": "; }

void check_shape(const TraceShape& s) {
  if (s.n_layer <= 0 || s.n_expert <= 0 || s.n_expert > 65535 || s.top_k <= 0 || s.top_k > s.n_expert)
    input_error("trace: model shape L=" + std::to_string(s.n_layer) + " E=" + std::to_string(s.n_expert) +
                " K=" + std::to_string(s.top_k) + " is not a MoE shape (expected L > 0, 0 < K <= E <= 65535)");
}

// Checks one record's experts/weights against the shape; msg prefix names file:line.
void check_record(const TraceRecord& r, const TraceShape& s, const std::string& where) {
  if (r.layer < 0 || r.layer >= s.n_layer)
    input_error(where + "layer " + std::to_string(r.layer) + " out of range (expected 0 .. " +
                std::to_string(s.n_layer - 1) + ")");
  if (static_cast<int>(r.experts.size()) != s.top_k)
    input_error(where + "\"experts\" has " + std::to_string(r.experts.size()) + " entries (expected top_k = " +
                std::to_string(s.top_k) + ")");
  if (!r.weights.empty() && r.weights.size() != r.experts.size())
    input_error(where + "\"weights\" has " + std::to_string(r.weights.size()) + " entries but \"experts\" has " +
                std::to_string(r.experts.size()) + " (expected equal lengths)");
  for (std::size_t i = 0; i < r.experts.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (r.experts[i] == r.experts[j])
        input_error(where + "expert " + std::to_string(r.experts[i]) + " listed twice (expected K distinct experts)");
}

long long json_int(const json& v, long long lo, long long hi, const std::string& where, const std::string& field) {
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
    input_error(where + field + ": expected an integer, found " + v.dump());
  long long x = v.is_number_unsigned() ? static_cast<long long>(std::min<unsigned long long>(v.get<unsigned long long>(), 1ull << 62))
                                        : v.is_number_integer() ? v.get<long long>() : static_cast<long long>(v.get<double>());
  if (x < lo || x > hi)
    input_error(where + field + ": value " + std::to_string(x) + " out of range (expected " + std::to_string(lo) +
                " .. " + std::to_string(hi) + ")");
  return x;
}

Phase parse_phase(const std::string& s, const std::string& where) {
  if (s == "prefill" || s == "prompt") return Phase::Prefill;
  if (s == "decode" || s == "gen" || s.empty()) return Phase::Decode;
  input_error(where + "phase: unknown value '" + s + "' (expected \"prefill\" or \"decode\")");
}

void check_meta(const json& m, const TraceShape& s, const std::string& where) {
  if (!m.is_object()) input_error(where + "meta: expected an object");
  auto same = [&](const char* key, int want) {
    if (m.contains(key) && !m[key].is_null()) {
      long long v = json_int(m[key], 0, 1 << 30, where, std::string("meta/") + key);
      if (v != want)
        input_error(where + "meta/" + key + ": trace was recorded with " + std::to_string(v) + " but the model has " +
                    std::to_string(want) + " (expected a trace of this model)");
    }
  };
  same("n_layer", s.n_layer);
  same("n_expert", s.n_expert);
  same("top_k", s.top_k);
}


bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && std::equal(suf.rbegin(), suf.rend(), s.rbegin(),
                                              [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

}  // namespace

Trace build_trace(std::vector<TraceRecord> recs, const TraceShape& shape, const std::string& file) {
  check_shape(shape);
  if (recs.empty()) input_error(file + ": trace has no routing records (expected at least one token)");
  std::vector<std::size_t> idx(recs.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    return recs[a].token != recs[b].token ? recs[a].token < recs[b].token : recs[a].layer < recs[b].layer;
  });
  Trace tr;
  tr.shape = shape;
  tr.source = file;
  // Layer slots: the layers of the first token; every token must have exactly these.
  const std::uint32_t t0 = recs[idx[0]].token;
  for (std::size_t i = 0; i < idx.size() && recs[idx[i]].token == t0; ++i) tr.layers.push_back(recs[idx[i]].layer);
  const std::size_t nl = tr.layers.size(), k = static_cast<std::size_t>(shape.top_k);
  bool has_w = !recs[idx[0]].weights.empty();
  for (std::size_t i = 0; i < idx.size(); ++i) {
    const TraceRecord& r = recs[idx[i]];
    std::size_t slot = i % nl;
    std::string where = at_line(file, r.line);
    if (i > 0 && r.token == recs[idx[i - 1]].token && r.layer == recs[idx[i - 1]].layer)
      input_error(where + "token " + std::to_string(r.token) + " layer " + std::to_string(r.layer) +
                  " appears twice (first at line " + std::to_string(recs[idx[i - 1]].line) + ")");
    if (r.layer != tr.layers[slot] || (slot > 0 && r.token != recs[idx[i - 1]].token) ||
        (slot == 0 && i > 0 && r.token == recs[idx[i - 1]].token))
      input_error(where + "token " + std::to_string(r.token) + " does not have the same MoE layers as token " +
                  std::to_string(t0) + " (expected a record for each of its " + std::to_string(nl) + " layers)");
    if (r.weights.empty() == has_w)
      input_error(where + "\"weights\" present on some records only (expected on all or none)");
    if (slot == 0) {
      tr.token_ids.push_back(r.token);
      tr.phase.push_back(r.phase);
    } else if (r.phase != tr.phase.back()) {
      input_error(where + "token " + std::to_string(r.token) + " has phase " + phase_name(r.phase) +
                  " here but " + phase_name(tr.phase.back()) + " on its other layers");
    }
    tr.experts.insert(tr.experts.end(), r.experts.begin(), r.experts.end());
    if (has_w) tr.weights.insert(tr.weights.end(), r.weights.begin(), r.weights.end());
  }
  if (idx.size() % nl != 0)
    input_error(file + ": last token " + std::to_string(recs[idx.back()].token) + " is missing some of its " +
                std::to_string(nl) + " MoE layers (expected complete tokens)");
  (void)k;
  return tr;
}

Trace read_trace_jsonl(const std::string& path, const TraceShape& shape) {
  check_shape(shape);
  check_input_file(path, kMaxTraceFileBytes, "routing trace");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path + ": cannot open trace file");
  std::vector<TraceRecord> recs;
  std::string line;
  std::size_t ln = 0;
  bool seen_record = false;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = at_line(path, ln);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      input_error(where + "malformed JSON at column " + std::to_string(e.byte) + " (expected one JSON object per line)");
    } catch (const json::exception&) {
      input_error(where + "a number beyond the range of a double (expected one JSON object per line)");
    }
    if (!j.is_object()) input_error(where + "expected a JSON object, found " + std::string(j.type_name()));
    if (j.contains("meta")) {
      if (seen_record) input_error(where + "\"meta\" header after routing records (expected it on the first line)");
      check_meta(j["meta"], shape, where);
      continue;
    }
    seen_record = true;
    TraceRecord r;
    r.line = ln;
    for (const char* key : {"token", "layer", "experts"})
      if (!j.contains(key)) input_error(where + "required key \"" + key + "\" missing");
    r.token = static_cast<std::uint32_t>(json_int(j["token"], 0, 0xFFFFFFFFll, where, "token"));
    r.layer = static_cast<int>(json_int(j["layer"], 0, shape.n_layer - 1, where, "layer"));
    const json& ex = j["experts"];
    if (!ex.is_array()) input_error(where + "experts: expected an array of expert ids");
    for (std::size_t i = 0; i < ex.size(); ++i)
      r.experts.push_back(static_cast<std::uint16_t>(
          json_int(ex[i], 0, shape.n_expert - 1, where, "experts/" + std::to_string(i))));
    if (j.contains("weights") && !j["weights"].is_null()) {
      const json& w = j["weights"];
      if (!w.is_array()) input_error(where + "weights: expected an array of numbers");
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (!w[i].is_number() || !std::isfinite(w[i].get<double>()))
          input_error(where + "weights/" + std::to_string(i) + ": expected a finite number, found " + w[i].dump());
        r.weights.push_back(w[i].get<float>());
      }
    }
    if (j.contains("phase") && !j["phase"].is_null()) {
      if (!j["phase"].is_string()) input_error(where + "phase: expected a string");
      r.phase = parse_phase(j["phase"].get<std::string>(), where);
    }
    check_record(r, shape, where);
    recs.push_back(std::move(r));
  }
  return build_trace(std::move(recs), shape, path);
}

Trace read_trace_csv(const std::string& path, const TraceShape& shape) {
  check_shape(shape);
  check_input_file(path, kMaxTraceFileBytes, "routing trace");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path + ": cannot open trace file");
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream is(s);
    while (std::getline(is, cell, ',')) {
      auto a = cell.find_first_not_of(" \t\""), b = cell.find_last_not_of(" \t\"");
      out.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
    }
    if (!s.empty() && s.back() == ',') out.emplace_back();
    return out;
  };
  std::string line;
  std::size_t ln = 0;
  std::vector<std::string> head;
  while (head.empty() && std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) head = split(line);
  }
  if (head.empty()) input_error(path + ": empty CSV (expected a header token,layer,expert_0..)");
  int c_tok = -1, c_layer = -1, c_phase = -1;
  std::vector<int> c_exp(static_cast<std::size_t>(shape.top_k), -1), c_w(static_cast<std::size_t>(shape.top_k), -1);
  int n_w = 0;
  for (int c = 0; c < static_cast<int>(head.size()); ++c) {
    const std::string& h = head[static_cast<std::size_t>(c)];
    int i = -1;
    if (h == "token") c_tok = c;
    else if (h == "layer") c_layer = c;
    else if (h == "phase") c_phase = c;
    else if (h.rfind("expert_", 0) == 0 || h.rfind("weight_", 0) == 0) {
      try {
        std::size_t used = 0;
        i = std::stoi(h.substr(7), &used);
        if (used != h.size() - 7) i = -1;
      } catch (...) {
        i = -1;
      }
      if (i < 0 || i >= shape.top_k)
        input_error(at_line(path, ln) + "column '" + h + "': index out of range (expected 0 .. " +
                    std::to_string(shape.top_k - 1) + " for top_k " + std::to_string(shape.top_k) + ")");
      (h[0] == 'e' ? c_exp : c_w)[static_cast<std::size_t>(i)] = c;
      if (h[0] == 'w') ++n_w;
    } else {
      input_error(at_line(path, ln) + "unknown column '" + h + "' (expected token,layer,expert_0..expert_" +
                  std::to_string(shape.top_k - 1) + "[,weight_0..][,phase])");
    }
  }
  if (c_tok < 0 || c_layer < 0) input_error(at_line(path, ln) + "header lacks 'token' or 'layer' column");
  for (int k = 0; k < shape.top_k; ++k)
    if (c_exp[static_cast<std::size_t>(k)] < 0)
      input_error(at_line(path, ln) + "header lacks column 'expert_" + std::to_string(k) + "' (expected K = " +
                  std::to_string(shape.top_k) + " expert columns)");
  if (n_w != 0 && n_w != shape.top_k)
    input_error(at_line(path, ln) + "header has " + std::to_string(n_w) + " weight columns (expected 0 or " +
                std::to_string(shape.top_k) + ")");
  auto integer = [&](const std::string& s, long long lo, long long hi, const std::string& where, const std::string& f) {
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0') input_error(where + f + ": '" + s + "' is not an integer");
    if (v < lo || v > hi)
      input_error(where + f + ": value " + std::to_string(v) + " out of range (expected " + std::to_string(lo) +
                  " .. " + std::to_string(hi) + ")");
    return v;
  };
  std::vector<TraceRecord> recs;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = at_line(path, ln);
    auto cells = split(line);
    if (cells.size() != head.size())
      input_error(where + std::to_string(cells.size()) + " cells (expected " + std::to_string(head.size()) + ")");
    TraceRecord r;
    r.line = ln;
    r.token = static_cast<std::uint32_t>(integer(cells[static_cast<std::size_t>(c_tok)], 0, 0xFFFFFFFFll, where, "token"));
    r.layer = static_cast<int>(integer(cells[static_cast<std::size_t>(c_layer)], 0, shape.n_layer - 1, where, "layer"));
    for (int k = 0; k < shape.top_k; ++k)
      r.experts.push_back(static_cast<std::uint16_t>(integer(cells[static_cast<std::size_t>(c_exp[static_cast<std::size_t>(k)])],
                                                             0, shape.n_expert - 1, where, "expert_" + std::to_string(k))));
    for (int k = 0; k < n_w; ++k) {
      const std::string& s = cells[static_cast<std::size_t>(c_w[static_cast<std::size_t>(k)])];
      char* end = nullptr;
      double v = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0' || !std::isfinite(v))
        input_error(where + "weight_" + std::to_string(k) + ": '" + s + "' is not a finite number");
      r.weights.push_back(static_cast<float>(v));
    }
    if (c_phase >= 0) r.phase = parse_phase(cells[static_cast<std::size_t>(c_phase)], where);
    check_record(r, shape, where);
    recs.push_back(std::move(r));
  }
  return build_trace(std::move(recs), shape, path);
}

Trace read_trace(const std::string& path, const TraceShape& shape) {
  return ends_with(path, ".csv") ? read_trace_csv(path, shape) : read_trace_jsonl(path, shape);
}

void write_trace_jsonl(const Trace& tr, std::ostream& out, const std::string& meta_json) {
  if (!meta_json.empty()) out << "{\"meta\":" << meta_json << "}\n";
  const int k = tr.k();
  char buf[32];
  for (std::size_t t = 0; t < tr.n_tokens(); ++t)
    for (int s = 0; s < tr.n_slots(); ++s) {
      const std::uint16_t* e = tr.row(t, s);
      out << "{\"token\":" << tr.token_ids[t] << ",\"layer\":" << tr.layers[static_cast<std::size_t>(s)]
          << ",\"experts\":[";
      for (int i = 0; i < k; ++i) out << (i ? "," : "") << e[i];
      out << "]";
      if (!tr.weights.empty()) {
        out << ",\"weights\":[";
        const float* w = tr.weights.data() + (e - tr.experts.data());
        for (int i = 0; i < k; ++i) {
          std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(w[i]));
          out << (i ? "," : "") << buf;
        }
        out << "]";
      }
      out << ",\"phase\":\"" << phase_name(tr.phase[t]) << "\"}\n";
    }
}

void write_trace_jsonl(const Trace& tr, const std::string& path, const std::string& meta_json) {
  write_file_atomic(path, [&](std::ostream& out) { write_trace_jsonl(tr, out, meta_json); });
}

void write_trace_csv(const Trace& tr, const std::string& path) {
  write_file_atomic(path, [&](std::ostream& out) {
    const int k = tr.k();
    out << "token,layer";
    for (int i = 0; i < k; ++i) out << ",expert_" << i;
    if (!tr.weights.empty())
      for (int i = 0; i < k; ++i) out << ",weight_" << i;
    out << ",phase\n";
    char buf[32];
    for (std::size_t t = 0; t < tr.n_tokens(); ++t)
      for (int s = 0; s < tr.n_slots(); ++s) {
        const std::uint16_t* e = tr.row(t, s);
        out << tr.token_ids[t] << "," << tr.layers[static_cast<std::size_t>(s)];
        for (int i = 0; i < k; ++i) out << "," << e[i];
        if (!tr.weights.empty()) {
          const float* w = tr.weights.data() + (e - tr.experts.data());
          for (int i = 0; i < k; ++i) {
            std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(w[i]));
            out << "," << buf;
          }
        }
        out << "," << phase_name(tr.phase[t]) << "\n";
      }
  });
}

void write_trace(const Trace& tr, const std::string& path, const std::string& meta_json) {
  if (ends_with(path, ".csv")) write_trace_csv(tr, path);
  else write_trace_jsonl(tr, path, meta_json);
}

std::vector<double> expert_counts(const Trace& tr, std::size_t t0, std::size_t t1) {
  const std::size_t e = static_cast<std::size_t>(tr.shape.n_expert), nl = tr.layers.size();
  std::vector<double> c(nl * e, 0.0);
  t1 = std::min(t1, tr.n_tokens());
  for (std::size_t t = t0; t < t1; ++t)
    for (std::size_t s = 0; s < nl; ++s) {
      const std::uint16_t* r = tr.row(t, static_cast<int>(s));
      for (int i = 0; i < tr.k(); ++i) c[s * e + r[i]] += 1.0;
    }
  return c;
}

}  // namespace gs::moe
