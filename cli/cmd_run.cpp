// gemmasim run: execute a model with the reference kernel and measure it.
//   gemmasim run --model FILE.gguf|ID --quant Q --prompt P --gen G [--depth D] [--threads T]
//                [--seed S] [--json] [--trace-out FILE] [--profile FILE]
// With an ID, a seeded synthetic GGUF is written first into the cache folder
// ($XDG_CACHE_HOME/gemmasim, else <repo>/.cache/gemmasim) as <id>-<quant>-<seed>.gguf.
// Prefill runs the prompt in micro-batches (--ubatch, 512); decode runs G greedy
// steps of one token; --depth D prefills D tokens first (not timed). The generated ids
// are also printed as text with the file's vocabulary (tokenizer.ggml.tokens), when it has one.
#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "data_paths.h"
#include "forward.h"
#include "kernel_run.h"
#include "model_files.h"
#include "options.h"
#include "synth.h"
#include "text.h"
#include "units.h"

namespace gs::cli {

namespace {

namespace fs = std::filesystem;

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

// The run as JSON (validate reads prefill_tok_per_s, decode_step_s, peak_rss_bytes, counters).
void print_run_json(const measure::KernelRun& r, const std::string& path, long long depth, const std::string& fill) {
  const json j = {{"model", r.model.id}, {"file", path}, {"file_bytes", r.file_bytes}, {"weights_bytes", r.weights_bytes},
                  {"isa", r.isa}, {"threads", r.threads}, {"interleaved_bytes", r.interleaved_bytes},
                  {"kv_type", r.kv_type}, {"kv_cache_bytes", r.kv_cache_bytes},
                  {"prompt_tokens", r.prompt_tokens}, {"gen_tokens", static_cast<long long>(r.decode_step_s.size())},
                  {"depth", depth}, {"fill", fill},
                  {"prefill_s", r.prefill_s}, {"prefill_tok_per_s", r.prefill_tok_per_s}, {"prefill_reps_s", r.prefill_reps_s},
                  {"decode_tok_per_s", r.decode_tok_per_s}, {"decode_tok_per_s_mean", r.decode_tok_per_s_mean},
                  {"decode_step_s", r.decode_step_s}, {"weight_bytes_per_token", r.weight_bytes_per_token},
                  {"kv_bytes_per_token", r.kv_bytes_per_token}, {"achieved_bytes_per_s", r.achieved_bytes_per_s},
                  {"peak_rss_bytes", r.peak_rss_bytes}, {"ru_maxrss_bytes", r.memory.ru_maxrss_bytes},
                  {"vm_hwm_bytes", r.memory.vm_hwm_bytes}, {"rss_anon_bytes_at_end", r.memory.rss_anon_bytes},
                  {"rss_file_bytes_at_end", r.memory.rss_file_bytes}, {"tokens", r.tokens},
                  {"text", r.has_text ? json(r.text) : json(nullptr)},
                  {"counters", {{"prefill", counters_json(r.prefill)}, {"decode", counters_json(r.decode)}}}};
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

void print_run_text(const measure::KernelRun& r, const std::string& path, long long depth) {
  std::printf("model        %s (%s, %.3f GB file)\n", r.model.id.c_str(), path.c_str(), static_cast<double>(r.file_bytes) / kGB);
  std::printf("kernel       %s, %d threads, KV %s (%.1f MiB)\n", r.isa.c_str(), r.threads, r.kv_type.c_str(),
              static_cast<double>(r.kv_cache_bytes) / kMiB);
  if (r.interleaved_bytes > 0)
    std::printf("weights      %.3f GB of Q4_0 / Q8_0 / Q4_K / Q6_K interleaved by 16 rows at load (--no-repack: GGUF order)\n",
                static_cast<double>(r.interleaved_bytes) / kGB);
  std::printf("prefill      %lld tokens at depth %lld: %.3f s, %.2f tok/s\n", r.prompt_tokens, depth, r.prefill_s, r.prefill_tok_per_s);
  std::printf("decode       %lld tokens: %.2f tok/s (median step), %.2f tok/s (mean)\n", static_cast<long long>(r.decode_step_s.size()),
              r.decode_tok_per_s, r.decode_tok_per_s_mean);
  std::printf("per token    weights %.1f MB, KV %.3f MB; achieved %.2f GB/s\n", r.weight_bytes_per_token / kMB,
              r.kv_bytes_per_token / kMB, r.achieved_bytes_per_s / kGB);
  std::printf("peak memory  %.1f MiB (VmHWM %.1f MiB, ru_maxrss %.1f MiB); at the end %.1f MiB heap, %.1f MiB of mapped file\n",
              static_cast<double>(r.peak_rss_bytes) / kMiB, static_cast<double>(r.memory.vm_hwm_bytes) / kMiB,
              static_cast<double>(r.memory.ru_maxrss_bytes) / kMiB, static_cast<double>(r.memory.rss_anon_bytes) / kMiB,
              static_cast<double>(r.memory.rss_file_bytes) / kMiB);
  std::printf("tokens      ");
  for (auto t : r.tokens) std::printf(" %d", t);
  std::printf("\n");
  if (r.has_text) std::printf("text         %s\n", r.text.c_str());
  else std::printf("text         (no vocabulary in the file: tokenizer.ggml.tokens missing)\n");
}

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
    const long long n = depth + static_cast<long long>(measure::make_prompt(prompt, pre, seed).size()) + gen;
    if (n > pre.n_ctx_max)
      input_error("--depth + --prompt + --gen = " + std::to_string(n) + " tokens is beyond the context limit of " +
                  pre.id + " (" + std::to_string(pre.n_ctx_max) + ")");
  }
  const std::string path = resolve_gguf(model, quant, seed);
  measure::KernelRunOptions o;
  o.gguf_path = path;
  o.spec = spec;
  o.prompt = prompt;
  o.gen = gen;
  o.depth = depth;
  o.fill_seeded = fill == "seeded";
  o.seed = seed;
  o.ubatch = ubatch;
  o.kv_type = kv;
  o.repack = !no_repack;
  o.huge_pages = !mmap_weights;
  o.warm_up = !no_warmup;
  o.trace = !trace_out.empty();
  o.pause_every = pause_every;
  o.prefill_reps = prefill_reps;
  if (tty) o.progress = [](const std::string& s) { std::fputs(s.c_str(), stderr); };
  const measure::KernelRun run = measure::run_kernel(o);

  if (!trace_out.empty()) write_output(trace_out, run.trace_jsonl);
  if (!profile_out.empty()) {
    std::string profile = "phase,op,layer,calls,time_s,flops,weight_bytes,kv_read_bytes,kv_write_bytes,act_bytes\n";
    append_profile(profile, "prefill", run.prefill);
    append_profile(profile, "decode", run.decode);
    write_output(profile_out, profile);
  }
  if (as_json) print_run_json(run, path, depth, fill);
  else print_run_text(run, path, depth);
  return 0;
}

}  // namespace gs::cli
