// engine.h: inference-engine profiles (llama.cpp per backend, vLLM, TensorRT-LLM,
// transformers, LiteRT-LM, the reference kernel), loaded from hwdb/engines/<id>.json
// (schema and every key: hwdb/engines/README.md).
//
// A profile holds what the runtime adds to the model and the hardware:
//   memory rules      runtime overhead, compute buffer, micro-batch, SWA cache rule,
//                     KV padding, supported KV types, where PLE tables live;
//   throughput rules  achieved fractions of peak bandwidth / FLOP/s per dtype and the
//                     fixed per-step and per-layer overheads (sim/roofline.h uses them).
#pragma once
#include <array>
#include <map>
#include <string>
#include <vector>

#include "json_util.h"

namespace gs {

// Data types a matrix product (or any op) runs in; index into per-dtype arrays.
enum class Dtype : int { F32 = 0, F16, BF16, I8, F8, F4 };
inline constexpr int kNumDtypes = 6;
const char* dtype_name(Dtype d);                 // "fp32" "fp16" "bf16" "int8" "fp8" "fp4"
bool dtype_from_name(const std::string& s, Dtype* out);

// What an engine keeps in memory, from its profile (hwdb/engines/<id>.json): the memory model's
// rules (sim/memory_fit). Read with the rest of the profile by one loader (parse_engine).
struct MemoryRules {
  std::string engine;              // engine id
  double runtime_overhead_bytes = 0;   // per GPU (CUDA/ROCm/Metal context, allocator slack)
  double usable_memory_fraction = 1;   // vLLM gpu_memory_utilization (0.9), 1 for llama.cpp
  int ubatch_tokens = 512;             // micro-batch of the compute buffer
  int kv_pad_tokens = 256;             // KV cells padded to this
  std::string swa_cache = "window_plus_ubatch";  // "window_plus_ubatch" | "window" | "full"
  bool kv_single_for_k_eq_v = false;   // engine stores one tensor for K=V global layers
  // Compute buffer = ubatch x (V x logits_bytes + act_bytes x (embd_mult x D + ffn_mult x F_max + q_mult x H x Dh_max))
  double logits_bytes_per_value = 4, activation_bytes_per_value = 4;
  double activation_embd_multiple = 4, activation_ffn_multiple = 2, activation_q_multiple = 2;
  // Reference-kernel buffers (hwdb/engines/reference.json; 0 / false for other engines):
  double logits_tokens = 0;                // > 0: logits of this many tokens, not of the micro-batch
  bool activations_at_step = false;        // activations sized at the run's largest step (FitOptions::step_tokens)
  bool activation_blocks_max = false;      // attention and FFN buffers are not live together: max, not sum
  double activation_ple_multiple = 0;      // per-layer inputs [T, L x P] live through the layers
  double activation_quant_bytes_per_ffn_value = 0;  // the matmul's quantized copy of the widest input
  double kv_float_bytes_per_element = 0;   // float copy of each KV-owning layer's K and V per step
  double kv_float_budget_bytes = 0;        // per layer; beyond it one reused buffer
  double host_bytes_per_vocab_token = 0;   // parsed GGUF vocabulary arrays in host memory
  std::string ple_location = "host";   // "host" (mmap / CPU input layer) | "device"
  bool input_embedding_on_host = true; // llama.cpp: token_embd on CPU (input layer)
  bool output_on_gpu_only_if_all_layers = true;  // llama.cpp: output head offloaded only when -ngl > L
  bool tensor_parallel = false;        // multi_gpu_split "tensor" (vLLM, TensorRT-LLM): --tp splits per GPU
};

// What a CPU engine's own kernel measures of itself on a host (the reference kernel: gemmasim
// probe writes these into the device file; hwdb/engines/reference.json holds the defaults for an
// unprobed host). Empty tables and zeros: not measured, the engine's general rules apply.
struct CpuKernelRates {
  // Measured per-op costs of a CPU engine's own kernel (the reference kernel; gemmasim probe):
  // an op listed here runs at efficiency x the fp32 FMA peak of the threads it uses (one
  // core when serial, else all) instead of the vector rate; a matmul call adds a fixed cost.
  struct CpuOpRule {
    std::string op, phase;                       // ops.h name; "prefill" | "decode"
    double efficiency = 1;                       // achieved FLOP/s / peak of the threads used
    bool serial = false;                         // runs on one thread whatever the thread count
    // Attention ops only: a fixed cost per call (one attend() per layer per step and sequence,
    // per micro-batch in prefill) on top of FLOP / (efficiency x peak): one thread / more.
    double call_s = 0, call_parallel_s = 0;
  };
  std::vector<CpuOpRule> cpu_ops;
  double matmul_call_s = 0;                      // fixed cost per matmul call, one thread
  double matmul_call_parallel_s = 0;             // fixed cost per matmul call, more than one thread
  // The peak the quantized formats' mat-vec fractions (matvec_compute_efficiency of a quantized
  // format, moe_matvec_compute_efficiency) are fractions of: "fp32" (the FMA loop) or "int8" (the
  // VNNI / maddubs loop: the unit the integer dot product runs on; the quantized mat-vec's speed
  // moves with that loop's, not the FMA loop's). Float formats: always fp32.
  std::string quantized_matvec_peak = "fp32";
  double moe_matvec_compute_efficiency = 0;      // expert mat-vecs (T <= matvec): fraction of the peak above (0: fp32's)
  double moe_matvec_compute_efficiency_parallel = 0;  // the same at more than one thread (0: the 1-thread figure)
  // Mat-vec (T <= matvec) rate per weight format (ggml type name): (2 + dequant) FLOP per weight
  // per token as a fraction of the fp32 peak; replaces compute_efficiency.fp32 for that format.
  std::vector<std::pair<std::string, double>> matvec_compute_efficiency;
  // The same at more than one thread, for the formats listed (the others use the table above).
  std::vector<std::pair<std::string, double>> matvec_compute_efficiency_parallel;
  // Matmul (T > matvec) rate per quantized format: fraction of the int8 peak; replaces
  // compute_efficiency.int8 for that format.
  std::vector<std::pair<std::string, double>> matmul_int8_efficiency;
  // The same measured at 64 tokens (a 64-token prompt's matmuls): up to 64 tokens this rate,
  // from 512 the one above, between them interpolated in log2(T).
  std::vector<std::pair<std::string, double>> matmul_int8_efficiency_t64;
  // Steps of a few tokens (1 < T < 64: several sequences decoding together) on a CPU engine's own
  // kernel, per weight format: the time of a T-token product over the time of the T = 1 product of
  // the same weights (gemmasim probe measures T = 2 .. 32; token count -> ratio). Replaces the
  // mat-vec and T = 64 rates there. _parallel: at more than one thread (formats not listed there
  // keep the 1-thread table).
  using TokenTable = std::vector<std::pair<int, double>>;
  std::vector<std::pair<std::string, TokenTable>> matmul_batch_time_ratio;
  std::vector<std::pair<std::string, TokenTable>> matmul_batch_time_ratio_parallel;
  // Achieved / peak bandwidth for a CPU matmul's weight bytes, per weight format; the op's
  // other bytes (KV, activations) and formats not listed use bandwidth_efficiency.
  std::vector<std::pair<std::string, double>> bandwidth_efficiency_by_format;
  // The same at more than one thread, for the formats listed (a 1-thread stream reads a larger
  // share of its triad than N threads do of theirs).
  std::vector<std::pair<std::string, double>> bandwidth_efficiency_by_format_parallel;
  bool empty() const { return cpu_ops.empty() && matmul_call_s == 0 && bandwidth_efficiency_by_format.empty(); }
};

struct EngineThroughput {
  double bandwidth_efficiency = 0.7;             // achieved / peak memory bandwidth
  std::array<double, kNumDtypes> compute_efficiency{0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  Dtype quantized_matmul_dtype = Dtype::F16;     // dtype of T > 1 products with quantized weights
  double dequant_flops_per_weight = 8;           // vector work per quantized weight in a mat-vec
  double step_overhead_s = 0;                    // per forward step
  double per_layer_overhead_s = 0;               // per layer per step
  double moe_layer_overhead_s = 0;               // more per MoE layer per step (router, top-k, expert kernels, their sums)
  // GPU architectures (device "arch") on which the engine replays a step as a graph (CUDA
  // graphs); on the others each kernel is launched from the CPU and the per-layer and MoE-layer
  // overheads are no_graph_overhead_factor times larger. Empty: no distinction.
  std::vector<std::string> graph_archs;
  double no_graph_overhead_factor = 1;
  double moe_prefill_efficiency = 1;             // x compute efficiency for expert matmuls, T > 1
  double attention_compute_efficiency = 1;       // x compute efficiency for scores / values
  double host_link_efficiency = 0.8;
  double gpu_link_efficiency = 0.8;
  double allreduce_latency_s = 10e-6;            // fixed cost of one all-reduce (tensor parallel)
  int weight_upload_min_tokens = 32;             // llama.cpp op offload threshold (0: never)
  int matvec_max_tokens = 8;                     // T up to this: mat-vec kernels (dequant on vector units)
  double prefill_dequant_flops_per_flop = 0;     // T > matvec, quantized weights: vector-unit work per tensor FLOP
  // Per device vendor ("intel", "amd" ...): compute efficiencies that replace compute_efficiency
  // for that vendor's GPUs (its driver / shader compiler), dtypes not listed keep the engine's.
  std::map<std::string, std::array<double, kNumDtypes>> vendor_compute_efficiency;
  const std::array<double, kNumDtypes>& compute_efficiency_for(const std::string& vendor) const {
    auto it = vendor_compute_efficiency.find(vendor);
    return it == vendor_compute_efficiency.end() ? compute_efficiency : it->second;
  }
  bool prefill_dequant_to_f16 = false;           // T > matvec, quantized weights: a separate dequantize-to-F16 pass before the product (old llama.cpp CUDA + cuBLAS)
  // F16 GEMMs (T > matvec) accumulate in FP16 (cuBLAS CUBLAS_COMPUTE_16F): on GPUs that state an
  // FP16-accumulate peak (peak_flops_per_s.fp16_acc16, GeForce: 2x the FP32-accumulate fp16) it replaces fp16
  bool f16_gemm_fp16_accumulate = false;
  double device_switch_s = 2e-5;                 // each hand-over of activations between devices (sync + copy launch)
  // Flash attention with a quantized KV cache (ggml-cuda): only the vector kernel reads
  // quantized K/V in place, and only for head dims up to flash_attn_vec_max_head_dim and up to
  // flash_attn_vec_max_tokens query tokens per sequence; the tile / MMA kernels that run
  // otherwise first convert the whole K and V views to F16 (write 2 B, then read 2 B per
  // element on top of the quantized read). 0 / false: no such pass.
  // An attention backend limited to head dims up to attention_max_head_dim (vLLM's FlashAttention:
  // 256): a model with a larger head dim runs all its attention on the fallback backend (vLLM's
  // Triton attention) at attention_fallback_efficiency instead of attention_compute_efficiency.
  int attention_max_head_dim = 0;                // 0: no limit
  double attention_fallback_efficiency = 0;
  bool flash_attn_quantized_kv_to_f16 = false;
  int flash_attn_vec_max_head_dim = 0;
  int flash_attn_vec_max_tokens = 0;
  // Work a GPU engine leaves on the CPU (-ngl < L, --n-cpu-moe): fractions of the host's peaks.
  double host_bandwidth_efficiency = 0.55;
  double host_compute_efficiency = 0.5;
  double host_dequant_flops_per_weight = 2;      // mat-vec unpacking on the CPU (llama.cpp-cpu's calibrated value)
  // The reference kernel's own rates (throughput.cpu_ops; empty for every other engine).
  CpuKernelRates cpu_kernel;
};

struct EngineProfile {
  std::string id, name, family, backend, file;
  std::string weight_formats;                    // "gguf" | "safetensors" | "litertlm"
  MemoryRules memory;                            // what it keeps in memory (memory.engine: id)
  int batch_tokens = 2048;                       // logical batch (llama.cpp -b)
  std::vector<std::string> kv_types;
  // What the engine can run (sim/engine_check): whether layers may stay on the CPU (llama.cpp
  // -ngl; not vLLM/TensorRT-LLM), the GPU backends it needs (empty: any device, the CPU too),
  // GPU architectures it refuses and why, the data type a checkpoint format computes in (which
  // the GPU must have: vLLM runs BF16 checkpoints in BF16), further weight kinds it loads
  // ("bnb": bitsandbytes, transformers).
  bool cpu_layer_offload = true;
  std::vector<std::string> gpu_backends;
  std::vector<std::string> unsupported_archs;
  std::string unsupported_archs_reason;
  std::map<std::string, std::string> compute_dtype_by_quant;
  std::vector<std::string> extra_weight_kinds;
  // Throughput rules.
  EngineThroughput thr;
  // "llama.cpp": the engine runs llama.cpp's kernels (Ollama), so its throughput is the llama.cpp
  // profile of the device's backend with this file's throughput keys on top (engine_on_backend).
  // "device": the reference kernel, whose constants are the host's own, measured by `gemmasim
  // probe` into the device file; this file's throughput is the default for an unprobed host.
  std::string throughput_from;
  json throughput_json;                          // this file's own throughput object
  json sources;

  bool supports_kv_type(const std::string& id) const;
};

EngineProfile parse_engine(const json& j, const std::string& file);
EngineProfile load_engine_file(const std::string& path);
// --engine: an id in hwdb/engines/ or a path to a JSON file in that schema.
EngineProfile resolve_engine(const std::string& id_or_path);
std::vector<EngineProfile> all_engines();
// The profile as it runs on a device backend ("cuda", "metal", "cpu" ...): itself, or for an
// engine with throughput_from "llama.cpp" the llama.cpp profile of that backend (throughput and
// backend) with the engine's own throughput keys merged over it.
EngineProfile engine_on_backend(const EngineProfile& e, const std::string& device_backend);
std::vector<std::string> engine_ids();
// Default engine for a device backend: cuda -> llama.cpp-cuda, metal -> llama.cpp-metal, ...
std::string default_engine_id(const std::string& backend);

}  // namespace gs
