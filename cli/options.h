// options.h: the model/quant/hardware/split/workload flags shared by fit,
// estimate, place and advise, parsed the same way everywhere.
#pragma once
#include <boost/program_options.hpp>

#include <functional>
#include <string>

#include "commands.h"
#include "hardware.h"
#include "memory_fit.h"
#include "model.h"
#include "quant.h"

namespace gs::cli {

namespace po = boost::program_options;

struct Common {
  std::string model = "gemma4-e4b", quant = "q4_k_m", hw = "rtx-4090", engine, kv_type = "f16";
  long long ctx = 8192;
  int gpu_layers = -1;
  int n_cpu_moe = 0;
  bool cpu_moe = false;
  int batch = 1;
  int tp = 1;                     // tensor parallel GPUs (vLLM --tensor-parallel-size)
  std::string modality = "text";  // text | image | audio
  bool json = false, csv = false;
  bool ctx_given = true;          // false: --ctx was left at its default (an engine may bring its own)
  std::vector<std::string> override_tensor;  // llama.cpp -ot PATTERN=BUFFER[,...]
  bool check_engine = true;       // false: the command checks its own engine (serve-sim)
  std::string reserve;            // --reserve BYTES: host memory the OS keeps ("" = the system's)
  std::string display_reserve;    // --display-reserve BYTES: VRAM the display keeps on the first GPU
};

// Adds --model --quant --hw --engine --ctx --kv-type --gpu-layers --n-cpu-moe --cpu-moe --reserve --batch --tp
// --modality --json --csv.
void add_common(po::options_description& d, Common& c);
// Parses args into vm; prints help and returns false when --help was given.
bool parse(const Args& a, po::options_description& d, po::variables_map& vm, const char* usage);

// Loaded and checked inputs.
struct Inputs {
  ModelSpec model;
  QuantRecipe quant;
  System hw;
  MemoryRules rules;
  FitOptions fit;
  EngineProfile engine;  // the engine as it runs on hw (resolve_engine_for)
};
Inputs load_inputs(const Common& c);
// llama.cpp -ot PATTERN=BUFFER[,...] over a model: how many MoE layers have an expert tensor
// (blk.N.ffn_{gate_up,gate,up,down}_exps.weight) that a PATTERN=CPU matches (regex search, as
// llama.cpp); a pattern that would move other tensors to the CPU, a bad regex or one that
// matches no expert is an InputError.
int cpu_expert_layers(const ModelSpec& m, const std::vector<std::string>& overrides);

// --threads for the kernel: 0 (OpenMP's default) .. 8 x this machine's hardware threads
// (at most 1024); beyond, OpenMP cannot start them: a one-line InputError naming the flag.
void check_threads(int threads);

// Parse a byte size with an optional unit: "12GB", "12 GiB", "1.5e9", "512MiB". Throws on negatives.
double parse_bytes(const std::string& s, const std::string& flag);
// --hw as resolve_hardware reads it, its warnings (unsourced numbers) printed on stderr;
// reserve: --reserve's text ("" keeps the system's own reserve).
System load_hw(const std::string& id_or_path, const std::string& reserve = "", const std::string& display_reserve = "");

// --electricity-usd-per-kwh / --rental-usd-per-hour when given (vm): a positive price, or an
// InputError naming the flag.
void check_price_flags(const po::variables_map& vm, double usd_per_kwh, double rental_usd_per_hour);

// Write text to a file atomically (temp + rename), or to stdout when path is "" or "-".
void write_output(const std::string& path, const std::string& text);
// Fail fast (exit code 2) when write_output(path, ...) would fail at the end of long work.
void check_output(const std::string& path);

// Progress on stderr (a terminal only) once the work has taken more than a second: "what:
// done/total, time left" (every long command uses it).
std::function<void(int, int)> progress_reporter(const char* what);

}  // namespace gs::cli
