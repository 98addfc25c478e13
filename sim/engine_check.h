// engine_check.h: which engine / weight format / KV type / device combinations can run at all.
//
// An engine only does what it can: vLLM and TensorRT-LLM load Hugging Face checkpoints (not
// GGUF files), need a CUDA/ROCm GPU of a supported generation and the data type the checkpoint
// computes in, keep every layer on the GPUs (no CPU layer offload), and have their own KV-cache
// types; llama.cpp loads GGUF files only. The rules are data in the engine files
// (hwdb/engines/README.md: weight_formats, kv_types, cpu_layer_offload, min_gpu_archs ...).
#pragma once
#include <string>

#include "engine.h"
#include "hardware.h"
#include "memory_fit.h"
#include "quant.h"

namespace gs {

struct RunRequest {
  const EngineProfile* engine = nullptr;
  const System* hw = nullptr;
  const QuantRecipe* quant = nullptr;
  std::string kv_type = "f16";
  int tp = 1;
  Placement placement;  // gpu_layers -1: all
  int n_layer = 0;      // the model's layers (gpu_layers >= n_layer keeps them all on the GPU)
};

// "" when the engine can run it; otherwise one line saying why not (what to use instead).
std::string engine_cannot_run(const RunRequest& r);
// engine_cannot_run as an InputError (exit 2).
void check_engine_can_run(const RunRequest& r);

}  // namespace gs
