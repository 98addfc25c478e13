#include "engine_check.h"

#include <algorithm>

namespace gs {

static std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Hugging Face checkpoint formats: the GPU recipes, and the plain float checkpoints.
static bool hf_checkpoint(const QuantRecipe& q) {
  return q.kind == "gpu" || q.kind == "bnb" || q.id == "bf16" || q.id == "f16" || q.id == "f32";
}

static bool device_has(const Device& d, const std::string& dtype) { return d.peak_flops_per_s.count(dtype) > 0; }

std::string engine_cannot_run(const RunRequest& r) {
  const EngineProfile& e = *r.engine;
  const System& hw = *r.hw;
  const QuantRecipe& q = *r.quant;
  const std::string& who = e.id;
  // Weight formats.
  if (e.weight_formats == "gguf" && q.kind != "gguf")
    return who + " loads GGUF files; " + q.id + " is a Hugging Face checkpoint format (an engine such as vllm or transformers runs it)";
  if (e.weight_formats == "safetensors") {
    if (!hf_checkpoint(q))
      return who + " loads Hugging Face checkpoints; " + q.id + " is a GGUF quantization (llama.cpp or Ollama runs it)";
    if (q.kind == "bnb" && std::find(e.extra_weight_kinds.begin(), e.extra_weight_kinds.end(), "bnb") == e.extra_weight_kinds.end())
      return who + " does not load bitsandbytes (" + q.id + ") weights; transformers does (load_in_4bit / load_in_8bit)";
  }
  // KV-cache types.
  if (!e.kv_types.empty() && !e.supports_kv_type(r.kv_type))
    return who + " has no " + r.kv_type + " KV cache (it has " + join(e.kv_types) + ")";
  // Devices.
  const bool gpu_only = !e.cpu_layer_offload;
  if (!e.gpu_backends.empty()) {
    const std::string& b = hw.backend();
    const bool has_gpu = hw.has_gpu() && b != "cpu";
    if (!has_gpu || std::find(e.gpu_backends.begin(), e.gpu_backends.end(), b) == e.gpu_backends.end())
      return who + " runs on " + join(e.gpu_backends) + " GPUs; " + hw.id + " has " +
             (has_gpu ? "a " + b + " GPU" : std::string("no GPU it can use"));
    const Device& g = hw.gpus.empty() ? hw.host : hw.gpus.front();
    if (std::find(e.unsupported_archs.begin(), e.unsupported_archs.end(), g.arch) != e.unsupported_archs.end())
      return who + " does not support " + g.arch + " GPUs (" + g.name + ": " + e.unsupported_archs_reason + ")";
    // The data type the checkpoint computes in must exist on the GPU.
    const auto need = e.compute_dtype_by_quant.find(q.id);
    if (need != e.compute_dtype_by_quant.end()) {
      for (const auto& gpu : hw.gpus.empty() ? std::vector<Device>{hw.host} : hw.gpus)
        if (!device_has(gpu, need->second))
          return who + " runs " + q.id + " in " + need->second + ", which " + gpu.name + " does not have" +
                 (need->second == "bf16" ? " (use f16: vLLM's --dtype float16)" : "");
    }
  }
  // Placement: an engine without CPU layer offload keeps every layer (and expert) on the GPUs.
  if (gpu_only && !hw.gpus.empty() &&
      ((r.placement.gpu_layers >= 0 && r.placement.gpu_layers < r.n_layer) || r.placement.n_cpu_moe > 0 || r.placement.cpu_moe))
    return who + " keeps every layer on the GPUs: no --gpu-layers below the layer count, --n-cpu-moe or --cpu-moe "
                 "(vLLM's --cpu-offload-gb is not modelled)";
  if (r.tp > 1) {
    if (!e.memory.tensor_parallel)
      return who + " splits a model across GPUs by layers, not tensor parallel (--tp is vLLM's / TensorRT-LLM's)";
    const int n = static_cast<int>(hw.gpus.size());
    if (r.tp > n) return "--tp " + std::to_string(r.tp) + ": " + hw.id + " has " + std::to_string(n) + " GPU(s)";
  }
  return "";
}

void check_engine_can_run(const RunRequest& r) {
  const std::string why = engine_cannot_run(r);
  if (!why.empty()) input_error(why);
}

}  // namespace gs
