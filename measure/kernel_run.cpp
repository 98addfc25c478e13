// kernel_run.cpp: one timed run of the reference kernel (kernel_run.h).
#include "kernel_run.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <variant>

#include "error.h"
#include "forward.h"
#include "gguf.h"
#include "stats.h"
#include "text.h"
#include "weights.h"

namespace gs::measure {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

PeakMemory peak_memory() {
  PeakMemory p;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) p.ru_maxrss_bytes = static_cast<long long>(ru.ru_maxrss) * 1024;  // Linux: KiB
  std::ifstream st("/proc/self/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("VmHWM:", 0) == 0) p.vm_hwm_bytes = std::atoll(line.c_str() + 6) * 1024;  // "VmHWM:  1234 kB"
    else if (line.rfind("RssAnon:", 0) == 0) p.rss_anon_bytes = std::atoll(line.c_str() + 8) * 1024;
    else if (line.rfind("RssFile:", 0) == 0) p.rss_file_bytes = std::atoll(line.c_str() + 8) * 1024;
  return p;
}

void append_trace(std::string& out, const char* phase, const std::vector<ref::Route>& routes) {
  for (const auto& r : routes) {
    json j = {{"token", r.token}, {"layer", r.layer}, {"experts", r.experts}, {"weights", r.weights}, {"phase", phase}};
    out += j.dump() + "\n";
  }
}

// Text of token ids with the vocabulary a GGUF stores (tokenizer.ggml.tokens and, when
// present, tokenizer.ggml.token_type), SentencePiece conventions as llama.cpp's
// llama_token_to_piece for SPM vocabularies: U+2581 is a space, byte tokens "<0xNN>"
// (type 6) are that byte, control tokens (type 3) print nothing. Returns false when the
// file has no vocabulary (or an id is outside it).
bool detokenize(const ref::GgufFile& file, const std::vector<std::int32_t>& ids, std::string& text) {
  const ref::GgufValue* tv = file.find("tokenizer.ggml.tokens");
  if (tv == nullptr || !std::holds_alternative<ref::GgufArray>(*tv)) return false;
  const auto& toks = std::get<ref::GgufArray>(*tv);
  const ref::GgufArray* types = nullptr;
  if (const ref::GgufValue* ty = file.find("tokenizer.ggml.token_type"); ty && std::holds_alternative<ref::GgufArray>(*ty))
    types = &std::get<ref::GgufArray>(*ty);
  text.clear();
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= toks.size() || !std::holds_alternative<std::string>(toks[id])) return false;
    const std::string& piece = std::get<std::string>(toks[static_cast<std::size_t>(id)]);
    std::int64_t type = 1;
    if (types && static_cast<std::size_t>(id) < types->size() && std::holds_alternative<std::int64_t>((*types)[id]))
      type = std::get<std::int64_t>((*types)[static_cast<std::size_t>(id)]);
    if (type == 3) continue;  // control
    if (type == 6 && piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece[5] == '>') {
      text += static_cast<char>(std::strtol(piece.substr(3, 2).c_str(), nullptr, 16));
      continue;
    }
    for (std::size_t i = 0; i < piece.size(); ++i) {
      if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
        text += ' ';
        i += 2;
      } else {
        text += piece[i];
      }
    }
  }
  return true;
}

// --pause-every: the parent sees the stop, measures the machine while nothing of this process
// runs, and sends SIGCONT; the timers run only between stops.
void pause_for_parent(const KernelRunOptions& o) {
  if (o.pause_every > 0) ::raise(SIGSTOP);
}

// The prompt, prefill_reps times; each rep but the last is undone (Forward::rewind), its counts
// and routes dropped: the run keeps the last rep's counts and the median rep's time.
std::vector<float> time_prefill(ref::Forward& f, const std::vector<std::int32_t>& toks, const KernelRunOptions& o,
                                int ubatch, KernelRun& run) {
  const long long P = static_cast<long long>(toks.size());
  pause_for_parent(o);
  if (o.progress) o.progress("prefill " + std::to_string(P) + " tokens...\n");
  if (o.prefill_reps > 1 && P > ubatch)
    input_error("--prefill-reps " + std::to_string(o.prefill_reps) + " needs a prompt of at most --ubatch (" +
                std::to_string(ubatch) + ") tokens: a longer prefill cannot be undone (got " + std::to_string(P) + ")");
  std::vector<float> logits;
  for (int r = 0; r < o.prefill_reps; ++r) {
    if (r > 0) {
      f.rewind(P);
      f.counters().reset();
      f.clear_routes();
    }
    const auto t0 = Clock::now();
    logits = f.step(toks);
    run.prefill_reps_s.push_back(seconds(t0, Clock::now()));
  }
  run.prefill_s = gs::median(run.prefill_reps_s);
  run.prefill = f.counters();
  append_trace(run.trace_jsonl, "prefill", f.routes());
  f.counters().reset();
  f.clear_routes();
  return logits;
}

// gen greedy steps from the prefill's logits, each timed.
void time_decode(ref::Forward& f, std::vector<float> logits, const KernelRunOptions& o, KernelRun& run) {
  const int vocab = static_cast<int>(run.model.n_vocab);
  std::int32_t next = ref::argmax(logits.data(), vocab);
  run.tokens = {next};
  for (long long i = 0; i < o.gen; ++i) {
    if (o.pause_every > 0 && i % o.pause_every == 0) pause_for_parent(o);
    const auto t0 = Clock::now();
    logits = f.step({next});
    run.decode_step_s.push_back(seconds(t0, Clock::now()));
    next = ref::argmax(logits.data(), vocab);
    run.tokens.push_back(next);
    if (o.progress && (i % 8 == 7 || i + 1 == o.gen)) {
      double spent = 0;
      for (const double x : run.decode_step_s) spent += x;
      o.progress("\rdecode " + std::to_string(i + 1) + "/" + std::to_string(o.gen) +
                 eta_text(spent, static_cast<double>(i + 1) / static_cast<double>(o.gen)) + "   ");
    }
  }
  run.decode = f.counters();
  append_trace(run.trace_jsonl, "decode", f.routes());
}

// tok/s from the median and the mean decode step; bytes per decoded token from the counts.
void compute_figures(KernelRun& run, long long gen) {
  const double median_s = gs::median(run.decode_step_s);
  double sum_s = 0;
  for (double s : run.decode_step_s) sum_s += s;
  const double G = static_cast<double>(std::max<long long>(gen, 1));
  const ref::OpCount dt = run.decode.total();
  run.weight_bytes_per_token = static_cast<double>(dt.weight_bytes) / G;
  run.kv_bytes_per_token = static_cast<double>(dt.kv_read_bytes + dt.kv_write_bytes) / G;
  run.decode_tok_per_s = median_s > 0 ? 1.0 / median_s : 0;
  run.decode_tok_per_s_mean = sum_s > 0 ? static_cast<double>(gen) / sum_s : 0;
  run.prefill_tok_per_s = run.prefill_s > 0 ? static_cast<double>(run.prompt_tokens) / run.prefill_s : 0;
  run.achieved_bytes_per_s = (run.weight_bytes_per_token + run.kv_bytes_per_token) * run.decode_tok_per_s;
}

}  // namespace

std::vector<std::int32_t> make_prompt(const std::string& p, const ModelSpec& m, unsigned long long seed) {
  std::vector<std::int32_t> t;
  if (p.find(',') != std::string::npos) {
    std::stringstream ss(p);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      char* end = nullptr;
      const long long v = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v >= m.n_vocab)
        input_error("--prompt: token id '" + item + "' (expected 0.." + std::to_string(m.n_vocab - 1) + ")");
      t.push_back(static_cast<std::int32_t>(v));
    }
    return t;
  }
  char* end = nullptr;
  const long long n = std::strtoll(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || n < 1 || n > (1LL << 24))
    input_error("--prompt: '" + p + "' (expected a token count >= 1, or comma-separated token ids)");
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 12345;
  for (long long i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t.push_back(static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(m.n_vocab)));
  }
  return t;
}

KernelRun run_kernel(const KernelRunOptions& o) {
  KernelRun run;
  // Load: bind the file's tensors, lay the matrices out as the kernels read them, and fault
  // every page of the mapped ones in before anything is timed.
  const ref::GgufFile file(o.gguf_path);
  run.model = ref::model_for_gguf(file, o.spec);
  const ModelSpec& m = run.model;
  ref::ModelWeights w = ref::bind_weights(m, file);
  run.interleaved_bytes = o.repack ? ref::interleave_weights(w, &file) : 0;
  if (o.huge_pages) ref::huge_page_weights(w, &file);
  ref::prefault_weights(w);
  const auto toks = make_prompt(o.prompt, m, o.seed);
  run.prompt_tokens = static_cast<long long>(toks.size());

  ref::ForwardOptions fo;
  const int ubatch = o.ubatch > 0 ? o.ubatch : fo.n_ubatch;
  fo.n_ctx = o.depth + run.prompt_tokens + o.gen;
  fo.n_ubatch = ubatch;
  fo.kv_type = ref::kv_type_from_name(o.kv_type);
  fo.trace = o.trace;
  ref::Forward f(m, w, fo);  // throws InputError beyond the model's context

  // Depth: D filler tokens (seeded), or seeded K / V rows (fill_seeded); not timed, not counted.
  if (o.depth > 0) {
    if (o.progress) o.progress("filling KV to depth " + std::to_string(o.depth) + " (" + (o.fill_seeded ? "seeded" : "prefill") + ")...\n");
    if (o.fill_seeded) f.fill_kv_seeded(o.depth, o.seed + 1);
    else f.step(make_prompt(std::to_string(o.depth), m, o.seed + 1));
    f.counters().reset();
    f.clear_routes();
  }
  // Warm-up, as llama-bench warms up (Forward::warm_up: the prompt's first micro-batch, then one
  // token, each undone). The first step of a process pays costs outside every op (page faults
  // of fresh activation buffers, the OpenMP start), which any 1-token step removes; a long
  // prompt's [T, ...] buffers fault in at their first T-token step, hence the prompt-sized
  // warm-up.
  if (o.warm_up) f.warm_up(toks);

  std::vector<float> logits = time_prefill(f, toks, o, ubatch, run);
  time_decode(f, std::move(logits), o, run);
  if (o.progress && o.gen > 0) o.progress("\n");

  compute_figures(run, o.gen);
  run.memory = peak_memory();
  run.has_text = detokenize(file, run.tokens, run.text);
  run.peak_rss_bytes = std::max(run.memory.vm_hwm_bytes, run.memory.ru_maxrss_bytes);
  run.file_bytes = static_cast<long long>(file.file_bytes());
  run.weights_bytes = w.total_bytes;
  run.isa = ref::isa_name(ref::active_isa());
  run.threads = omp_get_max_threads();
  run.kv_type = ref::kv_type_name(fo.kv_type);
  run.kv_cache_bytes = static_cast<long long>(f.kv_bytes());
  return run;
}

}  // namespace gs::measure
