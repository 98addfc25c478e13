// roofline.h: time per op from bytes and FLOPs, per phase, on a placement of
// the model over the host CPU and the GPUs; estimate() is the throughput model.
//
// Overlap rule (per op, per device it runs on):
//   compute_s = flops / (peak_flops[dtype] x compute_efficiency[dtype])
//   memory_s  = (weight + KV read + KV write + activation bytes) / (bandwidth x bandwidth_efficiency)
//               (a CPU engine's host matmul: weight bytes / (bandwidth x its format's
//               cpu_ops.bandwidth_efficiency_by_format) + the other bytes as above)
//   link_s    = bytes over PCIe / NVLink / (link x link_efficiency) (+ latency per all-reduce)
//   time_s    = max(compute_s, memory_s) + link_s        (compute and memory overlap, transfers do not)
// The op's dtype: matmuls with T <= matvec_max_tokens run as mat-vecs on the vector
// units (fp32 peak) and add dequant_flops_per_weight per quantized weight; larger
// matmuls run in the dtype of the weight (F16 -> fp16, BF16 -> bf16, FP8 -> fp8,
// NVFP4 -> fp4, GGUF quantized -> the engine's quantized_matmul_dtype, INT4 -> fp16);
// attention products in fp16 on GPUs (fp32 on CPUs) x attention_compute_efficiency;
// expert matmuls x moe_prefill_efficiency when T > matvec_max_tokens; elementwise ops
// at the fp32 peak. Per step: step_overhead_s + per_layer_overhead_s x layers (launches).
// A CPU engine's measured op rates (cpu_ops) replace the vector rate of the ops they list;
// its matmuls add matmul_call_s per call and its attention ops their call_s per call (one
// attend() per layer per sequence per decode step, per micro-batch in prefill):
//   attention time = calls x call_s + max(FLOP / (efficiency x fp32 peak), KV and activation bytes / bandwidth)
// (the fixed cost outside the max, as a matmul's call cost).
// Devices run one after another (layer split, CPU layers, offloaded experts): a step's
// time is the sum of its ops' times; tensor parallel GPUs run a layer together
// (1/N of the work each) and add 2 all-reduces per layer.
//
// Workload semantics: prefill = the P prompt tokens at KV depth D, in micro-batches of
// the engine's ubatch_tokens; decode = G tokens, one step per token (B sequences per
// step with --batch B), starting at depth D + P (decode_after_prompt, default) or at
// depth D (llama-bench's tg at -d D, used by calibrate). Decode time per token is
// evaluated at the mean KV length of the G steps.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "engine.h"
#include "hardware.h"
#include "ops.h"

namespace gs {

// Where the work runs (the memory model's gs::Placement plus what only speed needs).
struct RunPlacement {
  int gpu_layers = -1;        // llama.cpp -ngl: the last N layers on the GPU(s); the output head
                              // too only when N > L; -1: all layers and the output head
  int n_cpu_moe = 0;          // experts of the first N layers stay on the CPU; -1: all (--cpu-moe)
  int tp = 1;                 // tensor parallel degree (vLLM --tensor-parallel-size)
  bool kv_on_host = false;    // llama.cpp -nkvo: KV cache (and attention) on the CPU
  std::vector<double> split;  // multi-GPU layer split shares (empty: proportional to GPU memory)
};

struct Workload {
  i64 prompt_tokens = 512;    // P  (llama-bench -p)
  i64 gen_tokens = 128;       // G  (llama-bench -n)
  i64 depth_tokens = 0;       // D  (llama-bench -d): tokens already in the KV cache
  int batch = 1;              // B concurrent sequences
  double kv_bytes_per_element = 2;  // f16
  bool kv_block_quantized = false;  // q8_0, q4_0 ... (flash attention may convert it to F16)
  bool decode_after_prompt = true;  // false: llama-bench semantics (tg at depth D)
  int ubatch_tokens = 0;      // 0: the engine's
  // decode steps compute logits (the output head and sampling); false for a prompt processed
  // one token per micro-batch (llama-bench -ub 1), where only the prompt's last token has logits
  bool decode_logits = true;
};

enum class Bound : int { None = 0, Compute, Memory, Link, Overhead };
const char* bound_name(Bound b);  // "none" "compute" "memory" "link" "overhead"

// Effective rates of one device under one engine (peaks x efficiencies).
struct DeviceRates {
  std::string id;
  bool gpu = false;
  double bandwidth_bytes_per_s = 0;                       // peak x bandwidth_efficiency
  std::array<double, kNumWeightClasses> matmul_flops_per_s{};  // T > matvec, per weight class
  double attn_flops_per_s = 0;
  double vector_flops_per_s = 0;                          // fp32 peak x fp32 efficiency
  double moe_efficiency = 1;
  double dequant_flops_per_weight = 0;                    // mat-vec unpacking work on this device
  double memory_bytes = 0;
  double overhead_factor = 1;                             // x per-layer overheads (no launch graphs on this GPU)
};

// A system under an engine, resolved once; dev[0] is the host CPU, dev[1..] the GPUs
// (a unified chip appears as dev[1] with the host's bandwidth).
struct HardwareRates {
  std::string system_id, engine_id;
  std::vector<DeviceRates> dev;
  bool unified = false;
  bool gpu_backend = false;             // the engine runs layers on GPUs at all
  double host_link_bytes_per_s = 0;     // x host_link_efficiency
  double gpu_link_bytes_per_s = 0;      // x gpu_link_efficiency (0: none, then via host)
  EngineThroughput thr;
  int ubatch_tokens = 512;
  double act_bytes_scale = 1;           // the engine's activation bytes per value / 4 (ops count f32 activations)
  bool output_head_on_gpu_only_if_all_layers = true;
  bool ple_on_host = true;
  bool embd_on_host = true;
  // A CPU engine's measured per-op rates (EngineThroughput::cpu_ops) on the host, by Op and
  // phase (0 prefill, 1 decode): FLOP/s, 0 where no rule; and the fixed cost per matmul call.
  std::array<std::array<double, kNumOps>, 2> cpu_op_flops_per_s{};
  double matmul_call_s = 0;
  double moe_matvec_flops_per_s = 0;  // expert mat-vecs on the host (0: the vector rate)
  std::array<double, 64> matvec_flops_per_s_by_type{};  // by GgmlType value (0: the vector rate)
  std::array<double, 64> matmul_flops_per_s_by_type{};  // T > matvec, by GgmlType value (0: the class rate)
  std::array<double, 64> matmul64_flops_per_s_by_type{};  // the same at T <= 64 (0: none; log2(T) in between)
  // 1 < T < 64: time of a T-token product / its T = 1 time, by GgmlType value (token count ->
  // ratio; empty: the mat-vec and T = 64 rates). EngineThroughput::matmul_batch_time_ratio.
  std::array<std::vector<std::pair<int, double>>, 64> batch_time_ratio_by_type{};
  // Fixed seconds per attention call on the host (cpu_ops call_s / call_parallel_s), by phase and Op.
  std::array<std::array<double, kNumOps>, 2> cpu_op_call_s{};
  // A host matmul's weight bytes stream at this rate, by GgmlType value: host bandwidth x
  // cpu_ops.bandwidth_efficiency_by_format (0: the device's bandwidth_bytes_per_s).
  std::array<double, 64> weight_bytes_per_s_by_type{};
  int n_gpus() const { return static_cast<int>(dev.size()) - 1; }
};

HardwareRates prepare_hardware(const System& s, const EngineProfile& e);
// A batch time ratio table at T tokens: 1 at T = 1, linear in log2(T) between the measured
// counts, and past the last one the per-token time of the last (ratio x T / T_last).
double batch_time_ratio_at(const std::vector<std::pair<int, double>>& table, double T);

struct OpRow {
  OpCost cost;                 // summed over layers and steps of the phase
  double link_bytes = 0;
  double compute_s = 0, memory_s = 0, link_s = 0, time_s = 0;
  unsigned device_mask = 0;    // bit d: ran on dev[d]
  Bound bound() const;
};

struct PhaseResult {
  double tokens = 0;           // tokens processed (all sequences)
  double time_s = 0;
  double compute_s = 0, memory_s = 0, link_s = 0, overhead_s = 0;  // sums over ops
  double tok_per_s = 0;
  Bound bound = Bound::None;   // the term with the largest share of time_s
  std::array<OpRow, kNumOps> ops{};
};

struct Estimate {
  PhaseResult prefill;          // all prompts (B x P tokens)
  PhaseResult decode;           // ONE decode step (B tokens), at the mean KV depth
  double prefill_tok_per_s = 0; // prompt tokens / prefill time
  double decode_tok_per_s = 0;  // per sequence (= 1 / tpot)
  double decode_tok_per_s_aggregate = 0;  // B / step time
  double ttft_s = 0;            // time to first token: prefill (its last micro-batch yields the first logits)
  double tpot_s = 0;            // time per output token
  double total_s = 0;           // ttft + (G - 1) x tpot
  double kv_bytes_per_seq = 0;  // KV cache one sequence holds at depth D + P + G (no padding)
  int gpu_layers = 0;           // layers placed on GPUs
  double expert_distinct_decode = 0, expert_distinct_prefill = 0;  // per MoE layer
};

// The throughput model: a pure function (no I/O, no globals, no allocation beyond the result).
Estimate estimate(const ModelOps& mo, const HardwareRates& hw, const RunPlacement& pl, const Workload& wl);

// Convenience: prepares and estimates (allocates; use the form above in sweeps).
Estimate estimate(const ModelSpec& m, const System& s, const QuantRecipe& r, const EngineProfile& e,
                  const RunPlacement& pl, const Workload& wl);

}  // namespace gs
