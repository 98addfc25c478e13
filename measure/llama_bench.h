// llama_bench.h: import the JSON that `llama-bench -o json` writes (an array of
// runs) and map each run to a model / quant / hardware / engine / placement /
// workload that gemmasim can estimate.
//
// Fields read (llama.cpp tools/llama-bench): model_filename, model_type ("gemma4 ?B
// Q4_K - Medium": llama.cpp arch, size label, file type), model_size, model_n_params,
// n_prompt, n_gen, n_depth, n_threads, n_gpu_layers, type_k, type_v, n_ubatch,
// backends, gpu_info, cpu_info, avg_ts, stddev_ts. Older files lack n_depth (0),
// backends (from the cuda/metal/... booleans) and type_k (f16_kv).
//
// Mapping rules:
//   model     a models/ file of the same llama.cpp arch (first word of model_type)
//             whose total parameter count is within 3% of model_n_params (the closest)
//   quant     the file type in model_type ("Q4_K - Medium" -> q4_k_m, "Q8_0" -> q8_0,
//             "all F32" -> f32, ...), else a _Q4_K_M-style tag in model_filename
//   hardware  --hw when given; else gpu_info (first GPU; "N x" counted) or, for
//             CPU runs, cpu_info, through hwdb/aliases.json, then device names and ids
//   engine    backends: CUDA, Metal, Vulkan, ROCm/HIP -> llama.cpp-<backend>; CPU
//             (or n_gpu_layers 0) -> llama.cpp-cpu
//   workload  pp test (n_gen 0): prefill tok/s = avg_ts; tg test (n_prompt 0): decode
//             tok/s = avg_ts at depth n_depth (llama-bench semantics); pp+tg runs skipped
// A run that does not map is kept with `skip` saying why (never an exception);
// a file that is not llama-bench JSON at all throws InputError naming the file.
#pragma once
#include <string>
#include <vector>

#include "json_util.h"

namespace gs {

struct LlamaBenchRun {
  int index = 0;                 // position in the array
  std::string model_filename, model_type, gpu_info, cpu_info, backends, type_k = "f16", type_v = "f16";
  double model_size_bytes = 0, model_n_params = 0;
  long long n_prompt = 0, n_gen = 0, n_depth = 0;
  int n_threads = 0, n_gpu_layers = 99, n_ubatch = 512;
  double avg_ts = 0, stddev_ts = 0;
};

struct LlamaBenchCase {
  LlamaBenchRun run;
  std::string model_id, recipe_id, hw_id, engine_id, test;  // test: "pp512", "tg128 @ d4096"
  bool cpu_only = false;
  int gpu_layers = -1;           // -1: all (n_gpu_layers >= layers)
  bool prefill = false;          // pp test (else tg)
  std::string skip;              // non-empty: why this run is not estimated
  std::vector<std::string> notes;
};

// Parse a llama-bench JSON file (array of runs, or JSON Lines). Throws InputError on a
// file that is not JSON or not an array of objects; a run with a missing or bad field
// is kept with skip set.
std::vector<LlamaBenchRun> read_llama_bench(const std::string& path, std::vector<std::string>* bad_runs = nullptr);
std::vector<LlamaBenchRun> parse_llama_bench(const json& j, const std::string& file, std::vector<std::string>* bad_runs = nullptr);

// Map one run. hw_override: a --hw id or file ("" = from gpu_info / cpu_info).
LlamaBenchCase map_llama_bench_run(const LlamaBenchRun& r, const std::string& hw_override = "");

// "Q4_K - Medium" -> "q4_k_m"; "" when unknown.
std::string recipe_from_file_type(const std::string& model_type, const std::string& filename);
// Hardware string -> device or system id via hwdb/aliases.json and device names; "" when unknown.
std::string hardware_from_info(const std::string& info);

}  // namespace gs
