#include "quality.h"

#include <algorithm>

#include "data_paths.h"

namespace gs {

const QuantPenalty* QualityPenalties::find(const std::string& quant_id) const {
  for (const auto& q : quants)
    if (q.id == quant_id) return &q;
  return nullptr;
}

std::vector<std::string> QualityPenalties::advise_ids() const {
  std::vector<std::string> ids;
  for (const auto& q : quants)
    if (q.advise) ids.push_back(q.id);
  return ids;
}

QualityPenalties parse_quality_penalties(const json& j, const std::string& file) {
  JsonReader r(j, file);
  QualityPenalties p;
  p.file = file;
  p.method = r.at("method").str();
  p.source = r.at("source").str();
  const double ref_ppl = r.at("reference_ppl").num(1e-9, 1e9);
  const JsonReader qs = r.at("quants");
  if (!qs.is_object()) qs.fail("expected an object of quant id -> penalty entry");
  for (const auto& [id, v] : qs.raw().items()) {
    const JsonReader e = qs.at(id);
    QuantPenalty q;
    q.id = id;
    q.name = e.str_or("name", id);
    q.advise = e.bool_or("advise", false);
    q.note = e.str_or("note", "");
    if (e.has("delta_ppl")) {
      q.penalty = e.at("delta_ppl").num(0, 1e6) / ref_ppl;
    } else if (e.has("ppl")) {
      // another study's own pair: the quantized model's perplexity and its unquantized baseline's,
      // measured in the same table (relative increases compare across studies; absolute ones do not)
      const double base = e.at("ppl_reference").num(1e-9, 1e9);
      const double qp = e.at("ppl").num(1e-9, 1e9);
      if (!e.has("source")) e.fail("a perplexity from another study needs its own 'source'");
      q.penalty = std::max(0.0, qp - base) / base;
    } else if (e.has("penalty")) {
      q.penalty = e.at("penalty").num(0, 1);
    } else {
      e.fail("needs delta_ppl (measured), ppl with ppl_reference (another study) or penalty (stated)");
    }
    if (q.penalty >= 1) e.fail("penalty " + std::to_string(q.penalty) + " leaves no quality (expected < 1)");
    p.quants.push_back(q);
  }
  return p;
}

const QualityPenalties& quality_penalties() {
  static const QualityPenalties p = [] {
    const std::string path = data_path("quants/quality-penalty.json");
    return parse_quality_penalties(read_json_file(path), path);
  }();
  return p;
}

std::vector<std::string> percent_benchmarks(const ModelSpec& m) {
  std::vector<std::string> keys;
  if (!m.quality.is_object()) return keys;
  for (const auto& [k, v] : m.quality.items())
    if (v.is_number() && k.size() > 4 && k.compare(k.size() - 4, 4, "_pct") == 0) keys.push_back(k);
  return keys;
}

std::optional<double> base_quality(const ModelSpec& m, const std::vector<std::string>& benchmarks) {
  if (!m.quality.is_object()) return std::nullopt;
  double sum = 0;
  int n = 0;
  for (const auto& k : benchmarks) {
    if (!m.quality.contains(k) || !m.quality.at(k).is_number()) continue;
    sum += m.quality.at(k).get<double>();
    ++n;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

}  // namespace gs
