// gemmasim run: execute a model with the reference kernel and measure it.
//   gemmasim run --model FILE.gguf|ID --quant Q --prompt P --gen G [--depth D] [--threads T]
//                [--seed S] [--json] [--trace-out FILE] [--profile FILE]
// With an ID, a seeded synthetic GGUF is written first into the cache folder
// ($XDG_CACHE_HOME/gemmasim, else <repo>/.cache/gemmasim) as <id>-<quant>-<seed>.gguf.
// Prefill runs the prompt in micro-batches (--ubatch, 512); decode runs G greedy
// steps of one token; --depth D prefills D tokens first (not timed). The generated ids
// are also printed as text with the file's vocabulary (tokenizer.ggml.tokens), when it has one.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <variant>

#include "data_paths.h"
#include "forward.h"
#include "gguf.h"
#include "model_files.h"
#include "options.h"
#include "stats.h"
#include "synth.h"
#include "text.h"
#include "units.h"
#include "weights.h"

namespace gs::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

}  // namespace

std::string cache_dir() { return synth_cache_dir(); }

bool is_gguf_path(const std::string& s) { return s.size() > 5 && s.substr(s.size() - 5) == ".gguf"; }

// The GGUF to run: the file itself, or the cached synthetic file for an id (written when missing).
std::string resolve_gguf(const std::string& model, const std::string& quant, unsigned long long seed) {
  if (is_gguf_path(model)) {
    if (!fs::exists(model)) input_error("--model: " + model + ": no such file");
    return model;
  }
  const ModelSpec m = find_model(model);
  const std::string path = cache_dir() + "/" + m.id + "-" + quant + "-" + std::to_string(seed) + ".gguf";
  if (fs::exists(path)) return path;
  fs::create_directories(cache_dir());
  ref::SynthOptions o;
  o.quant = quant;
  o.seed = seed;
  o.progress = ::isatty(2) != 0;
  std::fprintf(stderr, "synthesising %s (%s, seed %llu) into %s\n", m.id.c_str(), quant.c_str(), seed, path.c_str());
  ref::synth_gguf(m, o, path);
  return path;
}

namespace {

// Prompt: "N" = N seeded token ids; "a,b,c" = these ids.
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

struct PeakMemory {
  long long ru_maxrss_bytes = 0, vm_hwm_bytes = 0;
  long long rss_anon_bytes = 0, rss_file_bytes = 0;  // at the end of the run: heap vs mapped file pages
};
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

json op_json(const ref::OpCount& c) {
  return {{"flops", c.flops}, {"weight_bytes", c.weight_bytes}, {"kv_read_bytes", c.kv_read_bytes},
          {"kv_write_bytes", c.kv_write_bytes}, {"act_bytes", c.act_bytes}, {"calls", c.calls}, {"time_s", c.time_s}};
}

json counters_json(const ref::Counters& c) {
  json ops = json::object();
  for (const auto& [k, v] : c.all()) {
    if (!ops.contains(k.first)) ops[k.first] = op_json(c.op_total(k.first));
  }
  return {{"total", op_json(c.total())}, {"ops", ops}};
}

void append_profile(std::string& csv, const char* phase, const ref::Counters& c) {
  char buf[512];
  for (const auto& [k, v] : c.all()) {
    std::snprintf(buf, sizeof buf, "%s,%s,%d,%lld,%.9f,%lld,%lld,%lld,%lld,%lld\n", phase, k.first.c_str(), k.second,
                  static_cast<long long>(v.calls), v.time_s, static_cast<long long>(v.flops),
                  static_cast<long long>(v.weight_bytes), static_cast<long long>(v.kv_read_bytes),
                  static_cast<long long>(v.kv_write_bytes), static_cast<long long>(v.act_bytes));
    csv += buf;
  }
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

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

int cmd_run(const Args& a) {
  std::string model, quant = "q4_0", prompt = "32", trace_out, profile_out, spec, kv = "f16", fill = "prefill";
  long long gen = 32, depth = 0;
  int threads = 0, ubatch = ref::ForwardOptions{}.n_ubatch;
  unsigned long long seed = 1;
  bool as_json = false, no_repack = false, no_warmup = false, mmap_weights = false;
  long long pause_every = 0;
  int prefill_reps = 1;
  po::options_description d("options");
  d.add_options()
      ("model", po::value(&model)->required(), "FILE.gguf, or a model id (synthesised into the cache folder first)")
      ("quant", po::value(&quant)->default_value("q4_0"), "quantization of a synthesised model: f32 f16 bf16 q8_0 q4_0 q4_k_m")
      ("prompt", po::value(&prompt)->default_value("32"), "prompt: a token count (seeded ids) or comma-separated token ids")
      ("gen", po::value(&gen)->default_value(32), "decode steps (greedy)")
      ("depth", po::value(&depth)->default_value(0), "tokens prefilled before the prompt (not timed): decode at KV depth D")
      ("fill", po::value(&fill)->default_value("prefill"),
       "how --depth fills the KV cache: prefill (run D seeded tokens) | seeded (store seeded K / V rows directly: the "
       "same cost for what follows, milliseconds instead of minutes; the tokens generated are not those after a prompt)")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0: OpenMP's default)")
      ("seed", po::value(&seed)->default_value(1), "seed of the synthetic weights and prompt")
      ("ubatch", po::value(&ubatch)->default_value(ubatch), "largest micro-batch of a prefill step")
      ("kv-type", po::value(&kv)->default_value("f16"), "KV-cache element type: f16 | f32")
      ("spec", po::value(&spec), "model id or JSON describing a GGUF file (default: matched by shape)")
      ("pause-every", po::value(&pause_every)->default_value(0),
       "stop this process (SIGSTOP) right before the prefill and before every N-th decode step, for a "
       "parent that measures the machine in between and continues it (gemmasim validate); 0: never")
      ("prefill-reps", po::value(&prefill_reps)->default_value(1),
       "time the prefill N times, each but the last undone (as llama-bench -r repeats a test): "
       "prefill_tok_per_s from the median time; N > 1 needs a prompt of at most --ubatch tokens")
      ("no-repack", po::bool_switch(&no_repack),
       "run Q4_0, Q8_0, Q4_K and Q6_K matrices in GGUF order (default: interleaved by 16 rows at load "
       "where the CPU has the kernel for it, as llama.cpp repacks)")
      ("mmap-weights", po::bool_switch(&mmap_weights),
       "run the matrices that are not interleaved (F16, and any in GGUF order ...) from the file mapping (default: "
       "copied into huge pages at load, where they stream as the probe measures them)")
      ("no-warmup", po::bool_switch(&no_warmup),
       "time the very first step of the process (default: the prompt's first min(P, ubatch) tokens "
       "and then one token, untimed, at the prompt's position, each undone, as llama-bench warms up)")
      ("json", po::bool_switch(&as_json), "print the result as JSON")
      ("trace-out", po::value(&trace_out), "write the MoE routing trace (JSON Lines)")
      ("profile", po::value(&profile_out), "write time and counts per op per layer (CSV)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim run --model FILE.gguf|ID --quant Q --prompt P --gen G [--depth D [--fill seeded]] [--threads T] [--seed S]\n"
             "                    [--json] [--trace-out FILE] [--profile FILE] [--no-repack] [--mmap-weights] [--no-warmup]\n"
             "                    [--prefill-reps N]"))
    return 0;
  if (gen < 0 || gen > (1LL << 24)) input_error("--gen: " + std::to_string(gen) + " (expected 0..16777216)");
  if (depth < 0 || depth > (1LL << 28)) input_error("--depth: " + std::to_string(depth) + " (expected >= 0)");
  if (fill != "prefill" && fill != "seeded") input_error("--fill: '" + fill + "' (expected prefill or seeded)");
  if (pause_every < 0) input_error("--pause-every: " + std::to_string(pause_every) + " (expected >= 0)");
  if (prefill_reps < 1 || prefill_reps > 100) input_error("--prefill-reps: " + std::to_string(prefill_reps) + " (expected 1..100)");
  check_threads(threads);
  if (threads > 0) omp_set_num_threads(threads);
  const bool tty = ::isatty(2) != 0;
  check_output(trace_out);  // before the model is synthesised, loaded and run
  check_output(profile_out);

  if (!is_gguf_path(model)) {  // check the context before spending time on synthesis
    const ModelSpec pre = find_model(model);
    const long long n = depth + static_cast<long long>(make_prompt(prompt, pre, seed).size()) + gen;
    if (n > pre.n_ctx_max)
      input_error("--depth + --prompt + --gen = " + std::to_string(n) + " tokens is beyond the context limit of " +
                  pre.id + " (" + std::to_string(pre.n_ctx_max) + ")");
  }
  const std::string path = resolve_gguf(model, quant, seed);
  const ref::GgufFile file(path);
  const ModelSpec m = ref::model_for_gguf(file, spec);
  ref::ModelWeights w = ref::bind_weights(m, file);
  const std::int64_t interleaved_bytes = no_repack ? 0 : ref::interleave_weights(w, &file);
  if (!mmap_weights) ref::huge_page_weights(w, &file);
  ref::prefault_weights(w);  // pages of the mapped matrices resident before anything is timed
  const auto toks = make_prompt(prompt, m, seed);
  const long long P = static_cast<long long>(toks.size());

  ref::ForwardOptions o;
  o.n_ctx = depth + P + gen;
  o.n_ubatch = ubatch;
  o.kv_type = ref::kv_type_from_name(kv);
  o.trace = !trace_out.empty();
  ref::Forward f(m, w, o);  // throws InputError beyond the model's context

  // Depth: D filler tokens (seeded), or seeded K / V rows (--fill seeded); not timed, not counted.
  if (depth > 0) {
    if (tty) std::fprintf(stderr, "filling KV to depth %lld (%s)...\n", depth, fill.c_str());
    if (fill == "seeded") f.fill_kv_seeded(depth, seed + 1);
    else f.step(make_prompt(std::to_string(depth), m, seed + 1));
    f.counters().reset();
    f.clear_routes();
  }

  // Warm-up, as llama-bench warms up (Forward::warm_up: the prompt's first micro-batch, then one
  // token, each undone). The first step of a process pays costs outside every op (page faults
  // of fresh activation buffers, the OpenMP start), which any 1-token step removes; a long
  // prompt's [T, ...] buffers fault in at their first T-token step, hence the prompt-sized
  // warm-up.
  if (!no_warmup) f.warm_up(toks);

  // --pause-every: the parent sees the stop, measures the machine while nothing of this
  // process runs, and sends SIGCONT; the timers below run only between stops.
  auto pause = [&] {
    if (pause_every > 0) ::raise(SIGSTOP);
  };
  // Prefill.
  pause();
  if (tty) std::fprintf(stderr, "prefill %lld tokens...\n", P);
  if (prefill_reps > 1 && P > ubatch)
    input_error("--prefill-reps " + std::to_string(prefill_reps) + " needs a prompt of at most --ubatch (" +
                std::to_string(ubatch) + ") tokens: a longer prefill cannot be undone (got " + std::to_string(P) + ")");
  // Each rep but the last is undone (Forward::rewind), its counts and routes dropped: the
  // figures below are the last rep's counts and the median rep's time.
  std::vector<double> prefill_reps_s;
  std::vector<float> logits;
  auto t0 = Clock::now();
  for (int r = 0; r < prefill_reps; ++r) {
    if (r > 0) {
      f.rewind(P);
      f.counters().reset();
      f.clear_routes();
    }
    t0 = Clock::now();
    logits = f.step(toks);
    prefill_reps_s.push_back(seconds(t0, Clock::now()));
  }
  const double prefill_s = gs::median(prefill_reps_s);
  const ref::Counters prefill = f.counters();
  std::string trace, profile;
  append_trace(trace, "prefill", f.routes());
  f.counters().reset();
  f.clear_routes();

  // Decode: G greedy steps.
  std::int32_t next = ref::argmax(logits.data(), m.n_vocab);
  const std::int32_t first_token = next;
  std::vector<std::int32_t> generated{first_token};  // every generated token, in order (G + 1)
  std::vector<double> step_s;
  for (long long i = 0; i < gen; ++i) {
    if (pause_every > 0 && i % pause_every == 0) pause();
    t0 = Clock::now();
    logits = f.step({next});
    step_s.push_back(seconds(t0, Clock::now()));
    next = ref::argmax(logits.data(), m.n_vocab);
    generated.push_back(next);
    if (tty && (i % 8 == 7 || i + 1 == gen)) {
      double spent = 0;
      for (const double x : step_s) spent += x;
      std::fprintf(stderr, "\rdecode %lld/%lld%s   ", i + 1, gen, eta_text(spent, static_cast<double>(i + 1) / static_cast<double>(gen)).c_str());
    }
  }
  if (tty && gen > 0) std::fprintf(stderr, "\n");
  const ref::Counters& decode = f.counters();
  append_trace(trace, "decode", f.routes());

  // Figures.
  std::vector<double> sorted = step_s;
  std::sort(sorted.begin(), sorted.end());
  const double median_s = sorted.empty() ? 0 : (sorted.size() % 2 ? sorted[sorted.size() / 2]
                                                                  : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]));
  double sum_s = 0;
  for (double s : step_s) sum_s += s;
  const double G = static_cast<double>(std::max<long long>(gen, 1));
  const ref::OpCount dt = decode.total();
  const double weight_bpt = static_cast<double>(dt.weight_bytes) / G;
  const double kv_bpt = static_cast<double>(dt.kv_read_bytes + dt.kv_write_bytes) / G;
  const double decode_tps = median_s > 0 ? 1.0 / median_s : 0;
  const double decode_tps_mean = sum_s > 0 ? static_cast<double>(gen) / sum_s : 0;
  const double prefill_tps = prefill_s > 0 ? static_cast<double>(P) / prefill_s : 0;
  const double achieved = (weight_bpt + kv_bpt) * decode_tps;
  const PeakMemory mem = peak_memory();
  std::string text;
  const bool has_text = detokenize(file, generated, text);
  const long long peak = std::max(mem.vm_hwm_bytes, mem.ru_maxrss_bytes);

  if (!trace_out.empty()) write_output(trace_out, trace);
  if (!profile_out.empty()) {
    profile = "phase,op,layer,calls,time_s,flops,weight_bytes,kv_read_bytes,kv_write_bytes,act_bytes\n";
    append_profile(profile, "prefill", prefill);
    append_profile(profile, "decode", decode);
    write_output(profile_out, profile);
  }

  if (as_json) {
    json j = {{"model", m.id}, {"file", path}, {"file_bytes", file.file_bytes()}, {"weights_bytes", w.total_bytes},
              {"isa", ref::isa_name(ref::active_isa())}, {"threads", omp_get_max_threads()},
              {"interleaved_bytes", interleaved_bytes},
              {"kv_type", ref::kv_type_name(o.kv_type)}, {"kv_cache_bytes", f.kv_bytes()},
              {"prompt_tokens", P}, {"gen_tokens", gen}, {"depth", depth}, {"fill", fill},
              {"prefill_s", prefill_s}, {"prefill_tok_per_s", prefill_tps}, {"prefill_reps_s", prefill_reps_s},
              {"decode_tok_per_s", decode_tps}, {"decode_tok_per_s_mean", decode_tps_mean},
              {"decode_step_s", step_s}, {"weight_bytes_per_token", weight_bpt}, {"kv_bytes_per_token", kv_bpt},
              {"achieved_bytes_per_s", achieved}, {"peak_rss_bytes", peak}, {"ru_maxrss_bytes", mem.ru_maxrss_bytes},
              {"vm_hwm_bytes", mem.vm_hwm_bytes}, {"rss_anon_bytes_at_end", mem.rss_anon_bytes},
              {"rss_file_bytes_at_end", mem.rss_file_bytes}, {"tokens", generated},
              {"text", has_text ? json(text) : json(nullptr)},
              {"counters", {{"prefill", counters_json(prefill)}, {"decode", counters_json(decode)}}}};
    std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("model        %s (%s, %.3f GB file)\n", m.id.c_str(), path.c_str(), static_cast<double>(file.file_bytes()) / kGB);
  std::printf("kernel       %s, %d threads, KV %s (%.1f MiB)\n", ref::isa_name(ref::active_isa()), omp_get_max_threads(),
              ref::kv_type_name(o.kv_type), static_cast<double>(f.kv_bytes()) / kMiB);
  if (interleaved_bytes > 0)
    std::printf("weights      %.3f GB of Q4_0 / Q8_0 / Q4_K / Q6_K interleaved by 16 rows at load (--no-repack: GGUF order)\n",
                static_cast<double>(interleaved_bytes) / kGB);
  std::printf("prefill      %lld tokens at depth %lld: %.3f s, %.2f tok/s\n", P, depth, prefill_s, prefill_tps);
  std::printf("decode       %lld tokens: %.2f tok/s (median step), %.2f tok/s (mean)\n", gen, decode_tps, decode_tps_mean);
  std::printf("per token    weights %.1f MB, KV %.3f MB; achieved %.2f GB/s\n", weight_bpt / kMB, kv_bpt / kMB, achieved / kGB);
  std::printf("peak memory  %.1f MiB (VmHWM %.1f MiB, ru_maxrss %.1f MiB); at the end %.1f MiB heap, %.1f MiB of mapped file\n",
              static_cast<double>(peak) / kMiB, static_cast<double>(mem.vm_hwm_bytes) / kMiB,
              static_cast<double>(mem.ru_maxrss_bytes) / kMiB, static_cast<double>(mem.rss_anon_bytes) / kMiB,
              static_cast<double>(mem.rss_file_bytes) / kMiB);
  std::printf("tokens      ");
  for (auto t : generated) std::printf(" %d", t);
  std::printf("\n");
  if (has_text) std::printf("text         %s\n", text.c_str());
  else std::printf("text         (no vocabulary in the file: tokenizer.ggml.tokens missing)\n");
  return 0;
}

}  // namespace gs::cli
