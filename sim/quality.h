// quality.h: a quality proxy for ranking (variant, quantization) pairs.
//
//   proxy = mean(the variant's published benchmark scores, %) x (1 - penalty(quant))
//
// The scores are the `quality` object of models/<id>.json (published tables of
// the bf16 instruction-tuned checkpoints). The penalty per quantization is data,
// quants/quality-penalty.json: llama.cpp's measured relative perplexity increase
// over FP16 (Llama 3 8B scoreboard), with its source. A proxy for ranking, not a
// prediction of a benchmark score.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "json_util.h"
#include "model.h"

namespace gs {

struct QuantPenalty {
  std::string id, name;
  double penalty = 0;      // fraction of quality lost, [0, 1)
  bool advise = false;     // enumerated by `gemmasim advise`
  std::string note;
};

struct QualityPenalties {
  std::vector<QuantPenalty> quants;  // file order
  std::string method, source, file;
  const QuantPenalty* find(const std::string& quant_id) const;  // nullptr when absent
  std::vector<std::string> advise_ids() const;                  // quants with advise: true
};

QualityPenalties parse_quality_penalties(const json& j, const std::string& file);
// quants/quality-penalty.json (path resolved by data_paths), loaded once.
const QualityPenalties& quality_penalties();

// Mean of the model's published scores named in `benchmarks` (percent keys).
// Keys the model lacks are skipped; nullopt when it has none of them (no scores).
std::optional<double> base_quality(const ModelSpec& m, const std::vector<std::string>& benchmarks);

// Benchmarks the quality proxy uses when a use case names none: every `*_pct` score.
std::vector<std::string> percent_benchmarks(const ModelSpec& m);

inline double quality_proxy(double base, double penalty) { return base * (1.0 - penalty); }

}  // namespace gs
