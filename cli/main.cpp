// gemmasim: thin CLI. parse -> load -> compute -> report.
// Every InputError (bad file, unknown id, bad flag value) becomes one line on
// stderr and exit code 2.
#include <boost/program_options/errors.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "commands.h"
#include "data_paths.h"
#include "error.h"

namespace {

struct Command {
  std::function<int(const gs::cli::Args&)> run;
  const char* help;
  enum Output { Json = 1, Csv = 2 };
  int output = Json;  // machine formats it offers besides its table: --json, --csv
};

const std::map<std::string, Command>& table() {
  using namespace gs::cli;
  static const std::map<std::string, Command> t = {
      {"advise", {cmd_advise, "which Gemma 4 variant, quant, hardware and split for a budget or your hardware", Command::Json | Command::Csv}},
      {"report", {cmd_report, "HTML report with comparison charts (PNG, SVG, CSV, gnuplot scripts) in reports/out/", 0}},
      {"fit", {cmd_fit, "memory: weights, KV cache, buffers, overhead vs capacity; largest context", Command::Json | Command::Csv}},
      {"matrix", {cmd_fit_matrix, "the fit matrix: variants x quants x headline hardware", Command::Json | Command::Csv}},
      {"models", {cmd_models, "list known models with parameter counts", Command::Json | Command::Csv}},
      {"hw", {cmd_hw, "list known devices and systems", Command::Json | Command::Csv}},
      {"quants", {cmd_quants, "list weight formats, recipes and KV-cache types", Command::Json | Command::Csv}},
      {"import-config", {cmd_import_config, "Hugging Face config.json -> model file (models/ schema)", 0}},
      {"estimate", {cmd_estimate, "speed: prefill/decode tok/s, TTFT, binding limits, per-op breakdown", Command::Json | Command::Csv}},
      {"calibrate", {cmd_calibrate, "estimate published measurements (CSV) and report the errors", Command::Json}},
      {"bench", {cmd_bench, "benchmark the estimator: estimates per second over a full sweep", Command::Json}},
      {"synth", {cmd_synth, "write a seeded synthetic GGUF (llama.cpp-loadable) at a model's real shapes", Command::Json}},
      {"place", {cmd_place, "MoE expert placement: replay a routing trace through GPU/CPU placement policies", Command::Json | Command::Csv}},
      {"serve-sim", {cmd_serve_sim, "many users on one server: continuous batching, TTFT/TPOT percentiles, capacity at an SLO", Command::Json | Command::Csv}},
      {"serve-run", {cmd_serve_run, "the reference kernel serves requests on this CPU with continuous batching (vs serve-sim)", Command::Json | Command::Csv}},
      {"trace-gen", {cmd_trace_gen, "write a synthetic MoE routing trace (Zipf skew, locality, phases)", 0}},
      {"validate", {cmd_validate, "predicted vs measured: execute a matrix with the reference kernel, or read llama-bench JSON", Command::Json}},
      {"probe", {cmd_probe, "measure this machine (memory bandwidth, kernel rates) and write a hwdb device file", Command::Json}},
      {"run", {cmd_run, "execute a model (GGUF or synthetic) with the reference kernel: tok/s, bytes, peak memory", Command::Json}},
  };
  return t;
}

void usage() {
  std::printf("usage: gemmasim <command> [options]   (gemmasim <command> --help for its options)\n\n");
  for (const auto& [name, c] : table()) std::printf("  %-14s %s\n", name.c_str(), c.help);
  std::printf("\nWith no command, gemmasim prints the fit matrix.\n");
}

// The spellings people bring from llama.cpp, vLLM and Ollama, per command, as the flag
// with the same meaning here (a flag that means something else here is not aliased:
// llama.cpp's -np splits one context into slots, gemmasim's --batch gives each sequence one).
std::string alias_for(const std::string& cmd, const std::string& flag) {
  static const std::map<std::string, std::string> model_flags = {
      {"-ngl", "--gpu-layers"},        {"--n-gpu-layers", "--gpu-layers"}, {"--ctx-size", "--ctx"},
      {"-ctk", "--kv-type"},           {"-ctv", "--kv-type"},              {"--cache-type-k", "--kv-type"},
      {"--cache-type-v", "--kv-type"}, {"--max-model-len", "--ctx"},      {"-ot", "--override-tensor"}};
  static const std::map<std::string, std::map<std::string, std::string>> by_cmd = {
      {"estimate", {{"-ub", "--ubatch"}, {"--ubatch-size", "--ubatch"}, {"--tensor-parallel-size", "--tp"}, {"-tp", "--tp"}}},
      {"serve-sim", {{"-np", "--parallel"}, {"-ub", "--ubatch-size"}, {"--tensor-parallel-size", "--tp"}, {"-tp", "--tp"},
                     {"-ctk", "--kv-type"}, {"-ctv", "--kv-type"}, {"--num_ctx", "--num-ctx"}}},
      {"serve-run", {{"-np", "--parallel"}, {"-ub", "--ubatch-size"}, {"-t", "--threads"}, {"-ctk", "--kv-type"}}},
      {"run", {{"-t", "--threads"}, {"-ub", "--ubatch"}, {"-ctk", "--kv-type"}}},
      {"probe", {{"-t", "--threads"}}},
  };
  if (auto c = by_cmd.find(cmd); c != by_cmd.end())
    if (auto a = c->second.find(flag); a != c->second.end()) return a->second;
  if (cmd == "fit" || cmd == "estimate" || cmd == "place")
    if (auto a = model_flags.find(flag); a != model_flags.end()) return a->second;
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = argc > 1 ? argv[1] : "matrix";
  if (name == "--help" || name == "-h" || name == "help") {
    usage();
    return 0;
  }
  if (name == "--version" || name == "version") {
    std::printf("gemmasim %s\n", GEMMASIM_VERSION);
    return 0;
  }
  if (name == "--data-dir") {  // where the data is read from (the shell completion lists hwdb/ there)
    std::printf("%s\n", gs::data_root().c_str());
    return 0;
  }
  gs::cli::Args args;
  bool json = false, csv = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (!a.empty() && a[0] == '-') {
      const auto eq = a.find('=');
      const std::string flag = a.substr(0, eq);
      if (const std::string canon = alias_for(name, flag); !canon.empty())
        a = canon + (eq == std::string::npos ? "" : a.substr(eq));
    }
    json = json || a == "--json";
    csv = csv || a == "--csv";
    args.push_back(a);
  }
  if (json && csv) {
    std::fprintf(stderr, "gemmasim %s: --json and --csv: give one of them\n", name.c_str());
    return 2;
  }
  // Seeds are unsigned: Boost would read "-1" as 2^64 - 1 without a word.
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::string v = a == "--seed" && i + 1 < args.size() ? args[i + 1] : a.rfind("--seed=", 0) == 0 ? a.substr(7) : "";
    if (!v.empty() && v[0] == '-') {
      std::fprintf(stderr, "gemmasim %s: --seed: expected a number >= 0, got %s\n", name.c_str(), v.c_str());
      return 2;
    }
  }
  auto it = table().find(name);
  if (it == table().end()) {
    std::fprintf(stderr, "gemmasim: unknown command '%s' (see gemmasim --help)\n", name.c_str());
    return 2;
  }
  // --csv where a command's answer is one table of numbers; elsewhere it is refused by name
  // rather than by the option parser's "unrecognised option"
  if (csv && !(it->second.output & Command::Csv)) {
    std::fprintf(stderr, "gemmasim %s: --csv: this command has no CSV output%s\n", name.c_str(),
                 it->second.output & Command::Json ? " (--json has its numbers)" : "");
    return 2;
  }
  try {
    return it->second.run(args);
  } catch (const gs::InputError& e) {
    std::fprintf(stderr, "gemmasim %s: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "gemmasim %s: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // a path the user gave that the filesystem refuses (too long, a file on the way, no access)
    std::string path = e.path1().string();
    if (path.size() > 120) path = path.substr(0, 120) + "...";
    std::fprintf(stderr, "gemmasim %s: %s: %s\n", name.c_str(), path.c_str(), e.code().message().c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "gemmasim %s: out of memory\n", name.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gemmasim %s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
