// ops.h: what one forward step costs, per operation and per layer.
//
// A step runs T tokens at positions p0..p0+T-1 (KV depth p0). Every op gets
// FLOPs, weight bytes read, KV bytes read/written and activation bytes, by the
// exact rules of reference/counters.h (the reference kernel counts the same
// ops with the same functions, so for small configs the counts are equal).
// Dimension letters as in sim/model.h: T D H Hkv Dh F E K W V L P.
//
// prepare_ops() walks gs::weight_tensors once with the recipe's tensor types
// and keeps, per distinct layer shape ("class"), the row bytes of each weight;
// the per-step functions below are then plain arithmetic (no allocation), so
// sim/roofline can evaluate hundreds of thousands of estimates per second.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"
#include "model.h"
#include "quant.h"
#include "counters.h"

namespace gs {

// Op kinds. The first group is the reference kernel's (names from counters.h);
// the last group exists only in the simulator (host work and data movement).
enum class Op : int {
  Embed, PleEmbed, PleModelProj, Norms, AttnQ, AttnK, AttnV, Rope, AttnScores, AttnSoftmax,
  AttnValues, AttnOut, FfnGate, FfnUp, FfnDown, Act, MoeRouter, MoeRoute, MoeExperts,
  PleGate, PleProj, Residual, OutputHead, Softcap,
  // simulator-only
  Sampling, WeightUpload, LayerTransfer, AllReduce, StepOverhead,
};
inline constexpr int kNumOps = static_cast<int>(Op::StepOverhead) + 1;
inline constexpr int kNumKernelOps = static_cast<int>(Op::Softcap) + 1;
const char* op_name(Op op);

// How a weight's matmul is computed: its storage class, resolved to a compute
// dtype per engine (sim/roofline.cpp).
enum class WeightClass : int { F32 = 0, F16, BF16, Quant, FP8, FP4, Int4 };
inline constexpr int kNumWeightClasses = 7;
WeightClass weight_class(GgmlType t);

// One op's counts for one step (doubles: sums over many steps stay exact
// below 2^53; the kernel comparison converts back to integers).
struct OpCost {
  double flops = 0;
  double weight_bytes = 0;
  double kv_read_bytes = 0;
  double kv_write_bytes = 0;
  double act_bytes = 0;
  double quant_weights = 0;  // weights of quantized types read (dequantization work in mat-vecs)
  OpCost& operator+=(const OpCost& o) {
    flops += o.flops; weight_bytes += o.weight_bytes; kv_read_bytes += o.kv_read_bytes;
    kv_write_bytes += o.kv_write_bytes; act_bytes += o.act_bytes; quant_weights += o.quant_weights;
    return *this;
  }
  OpCost scaled(double s) const {
    return {flops * s, weight_bytes * s, kv_read_bytes * s, kv_write_bytes * s, act_bytes * s, quant_weights * s};
  }
  double memory_bytes() const { return weight_bytes + kv_read_bytes + kv_write_bytes + act_bytes; }
};
using OpCosts = std::array<OpCost, kNumOps>;

// A weight matrix [ne1 rows of ne0] as stored.
struct MatInfo {
  i64 ne0 = 0, ne1 = 0;
  double row_bytes = 0;  // bytes of one row in its type (exact for GGUF types)
  WeightClass wclass = WeightClass::F32;
  bool quantized = false;
  GgmlType type = GgmlType::F32;  // storage type (per-format mat-vec rates of CPU engines)
  bool present() const { return ne1 > 0; }
  double bytes() const { return row_bytes * static_cast<double>(ne1); }
  bool operator==(const MatInfo&) const = default;
};

// Everything the cost of one layer depends on. Layers with equal LayerInfo share a class.
struct LayerInfo {
  bool sliding = false, owns_kv = true, moe = false, k_eq_v = false, v_norm = false, qk_norm = false;
  bool post_norms = false, ple = false, layer_scalar = false, moe_extra_norms = false, router_norm = false;
  int H = 0, Hkv = 0, Dh = 0, rot = 0;  // rot: rotated elements per head, 2*floor(rope_fraction*Dh/2)
  i64 F = 0;                             // dense FFN width (0: none)
  MatInfo q, k, v, o, gate, up, down, router, sh_gate, sh_up, sh_down, ple_gate, ple_proj;
  // Routed experts: E experts of width Fe; row bytes of the (fused) gate_up and down matrices.
  int E = 0, K = 0;
  i64 Fe = 0;
  double exp_gate_up_row_bytes = 0, exp_down_row_bytes = 0;
  WeightClass exp_wclass = WeightClass::F32;
  bool exp_quantized = false;
  GgmlType exp_type = GgmlType::F32;
  // Norm weight bytes (type-exact; 0 where the norm has no weight).
  double attn_norm_bytes = 0, q_norm_bytes = 0, k_norm_bytes = 0, post_attn_norm_bytes = 0, ffn_norm_bytes = 0,
         post_ffn_norm_bytes = 0, pre_ffn_norm2_bytes = 0, post_ffn_norm1_bytes = 0, post_ffn_norm2_bytes = 0,
         ple_post_norm_bytes = 0, layer_scalar_bytes = 0, router_scale_bytes = 0;
  double weight_bytes = 0;   // all tensors of the layer (memory), experts included
  double expert_bytes = 0;   // routed experts only (all E)
  bool operator==(const LayerInfo&) const = default;
};

// Per (model, recipe): computed once, then reused by every estimate.
struct ModelOps {
  std::string model_id, recipe_id;
  i64 D = 0, V = 0;
  int L = 0, P = 0, W = 0;
  bool has_ple = false, tied = false, softcap = false;
  std::vector<LayerInfo> classes;
  std::vector<int> layer_class;   // per layer -> index in classes
  double token_embd_row_bytes = 0, ple_row_bytes = 0;
  double output_norm_bytes = 0, ple_proj_norm_bytes = 0;
  MatInfo output_head;            // tied: the token embedding (duplicated on the GPU by llama.cpp)
  MatInfo ple_model_proj;
  double weights_total_bytes = 0; // every tensor
  double token_embd_bytes = 0, ple_table_bytes = 0, output_bytes = 0;
  const LayerInfo& layer(int il) const { return classes[static_cast<std::size_t>(layer_class[static_cast<std::size_t>(il)])]; }
};

ModelOps prepare_ops(const ModelSpec& m, const QuantRecipe& r);

// Expected distinct experts touched by T tokens routing K of E each, uniform routing:
//   E * (1 - (1 - K/E)^T)        (closed form; exact expectation under uniform top-K).
double expected_distinct_experts(int E, int K, double T);

// Keys seen by queries at positions p0..p0+T-1 (window W, 0 = global) and the
// distinct cache positions one step reads: closed forms of reference/counters.h.
using ref::attn_keys_seen;       // core/counters.h: the kernel counts with the same formula
using ref::attn_positions_read;

// Costs of one layer for one step of T tokens at positions p0.. (T >= 1).
// n_distinct: distinct experts touched (MoE layers). kv_bytes: KV element bytes.
// Adds into out (does not clear it).
void add_layer_step(const ModelOps& mo, const LayerInfo& li, double T, double p0, double kv_bytes, double n_distinct,
                    OpCosts& out);
// The same split in two: everything but the attention over the cache (projections,
// KV writes, rope, FFN, experts, PLE, norms, residual) ...
void add_layer_proj_step(const ModelOps& mo, const LayerInfo& li, double T, double kv_bytes, double n_distinct,
                         OpCosts& out);
// ... and attn_scores, attn_softmax, attn_values of T queries at positions p0..p0+T-1.
void add_layer_attention_step(const ModelOps& mo, const LayerInfo& li, double T, double p0, double kv_bytes,
                              OpCosts& out);
// The attention part only (rope excluded) for a whole prefill of P tokens at
// depth D0 in micro-batches of ub tokens: sums of attn_scores / attn_softmax /
// attn_values / KV writes over the micro-batches, in closed form.
void add_layer_attention_prefill(const ModelOps& mo, const LayerInfo& li, double D0, double P, double ub,
                                 double kv_bytes, OpCosts& out);
// Model-level ops of a step: embeddings, PLE inputs, final norm, output head on
// T_out tokens, softcap.
void add_model_step(const ModelOps& mo, double T, double T_out, OpCosts& out);

// Kernel-comparable counts of one step, keyed (op name, layer) like ref::Counters
// (n_distinct per MoE layer given; empty: K). For issue 5's equality tests.
std::map<std::pair<std::string, int>, ref::OpCount> step_counts(const ModelOps& mo, std::int64_t T, std::int64_t p0,
                                                                double kv_bytes, std::int64_t T_out,
                                                                const std::vector<int>& n_distinct = {});

}  // namespace gs
