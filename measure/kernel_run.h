// kernel_run.h: one timed run of a GGUF with the reference kernel (`gemmasim run`): load and
// lay out the weights, fill the KV cache to a depth, warm up as llama-bench does, time the
// prefill (median of reps) and each greedy decode step, and read the process's peak memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "counters.h"
#include "model.h"

namespace gs::measure {

struct KernelRunOptions {
  std::string gguf_path;             // the file to run
  std::string spec;                  // model id or JSON describing it (empty: matched by shape)
  std::string prompt = "32";         // a token count (seeded ids) or comma-separated ids
  long long gen = 32;                // greedy decode steps
  long long depth = 0;               // tokens in the KV cache before the prompt (not timed)
  bool fill_seeded = false;          // depth as seeded K / V rows instead of a prefill
  unsigned long long seed = 1;       // seeds the prompt and the depth's tokens
  int ubatch = 0;                    // largest micro-batch of a prefill step (0: the kernel's default)
  std::string kv_type = "f16";
  bool repack = true;                // interleave quantized matrices by 16 rows where a kernel exists
  bool huge_pages = true;            // copy the other matrices into huge pages (false: run from the mapping)
  bool warm_up = true;               // llama-bench's untimed warm-up
  bool trace = false;                // record MoE routes
  long long pause_every = 0;         // SIGSTOP before the prefill and every N-th decode step (validate)
  int prefill_reps = 1;              // time the prefill N times (median); N > 1 needs P <= ubatch
  std::function<void(const std::string&)> progress;  // status lines (a terminal); may be empty
};

struct PeakMemory {
  long long ru_maxrss_bytes = 0, vm_hwm_bytes = 0;
  long long rss_anon_bytes = 0, rss_file_bytes = 0;  // at the end of the run: heap vs mapped file pages
};

struct KernelRun {
  ModelSpec model;
  std::string isa;
  int threads = 0;
  long long file_bytes = 0, weights_bytes = 0, interleaved_bytes = 0, kv_cache_bytes = 0;
  std::string kv_type;
  long long prompt_tokens = 0;
  double prefill_s = 0;                  // the median rep
  std::vector<double> prefill_reps_s, decode_step_s;
  ref::Counters prefill, decode;         // the last prefill rep's counts; every decode step's
  std::string trace_jsonl;               // MoE routes, one JSON object a line (opts.trace)
  std::vector<std::int32_t> tokens;      // every generated token (gen + 1)
  bool has_text = false;                 // the file has a vocabulary: text is the tokens' text
  std::string text;
  PeakMemory memory;
  // Figures: decode from the median step (and the mean), bytes per decoded token from the counts.
  double prefill_tok_per_s = 0, decode_tok_per_s = 0, decode_tok_per_s_mean = 0;
  double weight_bytes_per_token = 0, kv_bytes_per_token = 0, achieved_bytes_per_s = 0;
  long long peak_rss_bytes = 0;
};

KernelRun run_kernel(const KernelRunOptions& o);

// Prompt: "N" = N seeded token ids; "a,b,c" = these ids (each checked against the vocabulary).
std::vector<std::int32_t> make_prompt(const std::string& p, const ModelSpec& m, unsigned long long seed);

}  // namespace gs::measure
