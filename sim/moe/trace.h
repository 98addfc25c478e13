// trace.h: MoE routing traces — which experts each token was routed to, per MoE layer.
//
// File format (JSON Lines, written by `gemmasim run --trace-out` and `gemmasim trace-gen`,
// documented in docs/moe-placement.md): one object per token and MoE layer,
//   {"token": 0, "layer": 3, "experts": [17, 4, ...], "weights": [0.21, ...], "phase": "prefill"}
// "weights" and "phase" ("prefill" | "decode", default "decode") are optional. An optional
// header line {"meta": {"model": ..., "n_layer": L, "n_expert": E, "top_k": K, ...}} carries
// provenance; when present its shape must match the model. Blank lines are skipped.
// CSV import: header token,layer,expert_0..expert_{K-1}[,weight_0..weight_{K-1}][,phase].
//
// In memory a trace is dense and token-major, for replay speed:
//   experts [T, NL, K] uint16 (E <= 65535), weights [T, NL, K] float (or empty), phase [T],
// where T is the number of distinct tokens (sorted by token id) and NL the number of
// distinct MoE layers in the trace (`layers` maps slot -> model layer index). Every token
// must carry a record for every one of those layers.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace gs::moe {

enum class Phase : std::uint8_t { Decode = 0, Prefill = 1 };
const char* phase_name(Phase p);

// What the trace must agree with: the model's MoE shape.
struct TraceShape {
  int n_layer = 0;   // L, model layers (layer ids must be < L)
  int n_expert = 0;  // E (expert ids must be < E)
  int top_k = 0;     // K (every record routes exactly K distinct experts)
};

struct Trace {
  TraceShape shape;
  std::vector<int> layers;               // [NL] model layer of each slot, ascending
  std::vector<std::uint32_t> token_ids;  // [T] original token ids, ascending
  std::vector<Phase> phase;              // [T]
  std::vector<std::uint16_t> experts;    // [T, NL, K]
  std::vector<float> weights;            // [T, NL, K], empty when the source had none
  std::string source;                    // file name or "synthetic"

  std::size_t n_tokens() const { return phase.size(); }
  int n_slots() const { return static_cast<int>(layers.size()); }
  int k() const { return shape.top_k; }
  // Experts of token t (dense index) at layer slot s: K ids.
  const std::uint16_t* row(std::size_t t, int s) const {
    return experts.data() + (t * layers.size() + static_cast<std::size_t>(s)) * static_cast<std::size_t>(shape.top_k);
  }
  std::size_t n_events() const { return experts.size(); }  // routing events: T * NL * K
  std::size_t n_prefill_tokens() const;
};

// Readers validate everything and throw gs::InputError("file:line: what (expected ...)").
Trace read_trace_jsonl(const std::string& path, const TraceShape& shape);
Trace read_trace_csv(const std::string& path, const TraceShape& shape);
// By extension: .csv -> CSV, anything else -> JSON Lines.
Trace read_trace(const std::string& path, const TraceShape& shape);

// Writers go through a temporary file and a rename (never a half-written file).
// `meta` (a JSON object as text, may be empty) is written as the header line's "meta".
void write_trace_jsonl(const Trace& tr, const std::string& path, const std::string& meta_json = "");
void write_trace_jsonl(const Trace& tr, std::ostream& out, const std::string& meta_json = "");
void write_trace_csv(const Trace& tr, const std::string& path);
void write_trace(const Trace& tr, const std::string& path, const std::string& meta_json = "");

// Building a trace from records in any order (used by the readers and tests).
struct TraceRecord {
  std::uint32_t token = 0;
  int layer = 0;
  Phase phase = Phase::Decode;
  std::vector<std::uint16_t> experts;
  std::vector<float> weights;
  std::size_t line = 0;  // source line, for messages
};
// Sorts by (token, layer), checks duplicates and completeness; `file` names the source.
Trace build_trace(std::vector<TraceRecord> recs, const TraceShape& shape, const std::string& file);

// Routing count per (layer slot, expert): [NL, E], over tokens [t0, t1).
std::vector<double> expert_counts(const Trace& tr, std::size_t t0 = 0, std::size_t t1 = SIZE_MAX);

}  // namespace gs::moe
