// memory_fit.h: where every byte lives, and whether it fits.
//
// memory = weights + KV cache + compute buffers + runtime overhead, per device.
// The engine's memory rules (hwdb/engines/<id>.json) decide the KV layout of
// sliding layers, the compute buffer and the fixed overhead. Splits follow
// llama.cpp: --gpu-layers N puts the LAST N layers on the GPU (the output head
// only when N > L), the input embedding (and the PLE table) stay in host memory,
// --n-cpu-moe N keeps the experts of the first N layers in host memory.
#pragma once
#include <string>
#include <vector>

#include "engine.h"
#include "hardware.h"
#include "model.h"
#include "quant.h"

namespace gs {

// The memory rules of an engine id (hwdb/engines/<id>.json) or file: its profile's, with
// `engine` the id or path as given.
MemoryRules load_memory_rules(const std::string& engine_id);
// The engine gemmasim assumes when none is given (see hwdb/engines/README.md).
std::string default_engine(const System& hw, const QuantRecipe& q);
// The context an engine chooses itself on a system when none is given (hwdb/engines/<id>.json
// defaults.context_tokens_by_vram: Ollama's by GPU memory), 0 when the engine states none.
i64 engine_default_context(const std::string& engine_id, const System& hw);
// An engine with throughput_from "device" (the reference kernel) on a host whose device file
// holds a probe's constants: those constants; otherwise the engine as it is.
EngineProfile engine_for_host(const EngineProfile& e, const Device& host);
// --engine ID on a system: the profile as it runs on the system's backend (engine_on_backend).
EngineProfile resolve_engine_for(const std::string& id_or_path, const System& hw);

struct Placement {
  int gpu_layers = -1;   // -1: all layers and the output head (llama.cpp -ngl 99)
  int n_cpu_moe = 0;     // experts of the first N layers on the CPU
  bool cpu_moe = false;  // all experts on the CPU
};

struct FitOptions {
  i64 context_tokens = 8192;   // per sequence
  int n_seq = 1;               // concurrent sequences (each its own context)
  std::string kv_type = "f16";
  bool kv_single_for_k_eq_v = false;  // store one tensor for K=V global layers (card: "unified keys and values")
  Placement placement;
  // Encoders loaded beside the text decoder ("vision", "audio"): F16 weights on the
  // first GPU (llama.cpp's mmproj default), or host memory without a GPU.
  std::vector<std::string> encoders;
  // Tokens of the run's largest forward step (prompt or KV-fill micro-batch); 0: the engine's
  // micro-batch. Used by engines whose buffers follow the step (activations_at_step).
  i64 step_tokens = 0;
  int tp = 1;  // tensor parallel GPUs (engines with tensor_parallel rules; others split by layer)
};

struct DeviceMemory {
  std::string role;    // "gpu0", "gpu1", ..., "host"
  std::string device;  // device id
  double weights_bytes = 0, kv_cache_bytes = 0, compute_buffer_bytes = 0, overhead_bytes = 0;
  double total_bytes = 0, capacity_bytes = 0;  // capacity: what this run may use, after the reserve
  double reserve_bytes = 0;  // kept by the OS / desktop / display (System::host_reserve_bytes ...)
  int layers = 0;      // decoder layers whose attention weights live here
  bool fits = true;
};

struct FitResult {
  std::string model, quant, hardware, engine, kv_type;
  i64 context_tokens = 0;
  int n_seq = 1;
  Placement placement;          // as resolved (gpu_layers never -1 here)
  double weights_bytes = 0, kv_cache_bytes = 0, compute_buffer_bytes = 0, overhead_bytes = 0;
  double total_bytes = 0, capacity_bytes = 0;
  double reserve_bytes = 0;     // kept by the OS, desktop and display, not in capacity_bytes
  std::string reserve_source;
  bool fits = false;
  std::vector<DeviceMemory> devices;
  std::vector<double> kv_layer_bytes;   // per layer (0 for KV-shared layers)
  double ple_table_bytes = 0;           // and where it lives:
  std::string ple_location;
  double gguf_file_bytes = 0;
  double encoder_bytes = 0;
};

// Bytes per encoder parameter: llama.cpp writes mmproj files in F16 by default.
inline constexpr double kEncoderBytesPerParam = 2.0;

// Pure: one configuration.
FitResult fit(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, const FitOptions& o);
// Largest context (tokens, <= model limit) that fits; 0 if none does.
i64 max_context(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, FitOptions o);
// Largest --gpu-layers N (0..L+1) that fits at o.context_tokens; -1 if even 0 does not.
int max_gpu_layers(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, FitOptions o);
// KV bytes of one owning layer for `cells` cached tokens.
double kv_bytes_per_cell(const ModelSpec& m, int il, const KvType& kv, bool single_for_k_eq_v);
// Cached cells a layer holds at this context under these rules.
i64 kv_cells(const ModelSpec& m, int il, i64 ctx, int n_seq, const MemoryRules& rules);

json fit_to_json(const FitResult& r, i64 max_context_tokens);
// Why a configuration does not fit, one line ("" when it fits): the weights alone against what
// the devices may hold, or the first device over its capacity.
std::string why_not_fits(const FitResult& r);

}  // namespace gs
