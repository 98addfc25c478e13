// model.h: a model's text decoder (and optional encoders), described as data.
//
// One JSON file per model in models/ (schema in models/README.md). The
// dimension vocabulary used across gemmasim (sim/, reference/, formulas):
//   T tokens in a step, D model width (hidden_size), H query heads,
//   Hkv kv heads, Dh head dim, F ffn width, E experts, K experts per token,
//   W sliding window, V vocabulary, L layers, P per-layer-embedding width.
// Per-layer accessors follow llama.cpp's hparams habit: n_head(il), is_sliding(il), owns_kv(il).
#pragma once
#include <string>
#include <vector>

#include "json_util.h"
#include "units.h"

namespace gs {

// Attention shape of one attention type (Gemma 4 has two: sliding and global).
struct AttnSpec {
  int n_head = 0;           // H
  int n_head_kv = 0;        // Hkv
  int head_dim = 0;         // Dh
  double rope_theta = 10000.0;
  double rope_fraction = 1.0;  // fraction of Dh rotated (Gemma 4 global: 0.25, "p-RoPE")
  bool k_eq_v = false;         // no v_proj: V is derived from the K projection (Gemma 4 26B/31B global)
};

struct MoeSpec {
  int n_expert = 0;          // E (0: dense model)
  int n_expert_used = 0;     // K
  i64 expert_ffn = 0;        // F_exp, width of one expert's FFN
  i64 dense_ffn = 0;         // always-on dense MLP beside the experts (Gemma 4 26B: 2112), 0 if none
  i64 shared_expert_ffn = 0; // Qwen/DeepSeek-style shared expert width, 0 if none
  bool expert_bias = false;  // gpt-oss: biases on expert matrices
  bool router_bias = false;
  bool router_scale = false;     // Gemma 4: learned D-vector scale on the router input
  bool per_expert_scale = false; // Gemma 4: learned E-vector scale on the routed weights
  bool gate_up_fused = false;    // llama.cpp stores gate and up experts as one tensor (gemma4)
};

struct PleSpec {  // Per-Layer Embeddings (Gemma 4 E2B/E4B)
  int dim = 0;     // P, hidden_size_per_layer_input (0: no PLE)
  i64 vocab = 0;   // rows of the PLE table
};

struct EncoderSpec {  // vision / audio encoder, an optional part with its size
  std::string name;   // "vision" | "audio"
  double params = 0;  // parameter count
  int tokens_per_item = 0;  // soft tokens per image / per second of audio (0 unknown)
  std::string source;
};

enum class AttnType { Sliding, Global };

struct ModelSpec {
  std::string id, name, arch, file;  // arch: gemma4 | gemma3 | llama | qwen3moe | gpt-oss | mixtral
  i64 n_embd = 0;        // D
  int n_layer = 0;       // L
  i64 n_vocab = 0;       // V
  i64 n_ctx_max = 0;     // context limit, tokens
  bool tied_embeddings = false;
  bool ffn_gated = true;          // gate+up+down (GeGLU/SwiGLU) vs up+down
  std::string ffn_activation;     // "gelu_tanh" | "silu" | "swiglu_oai" ...
  bool attn_bias = false;         // biases on q/k/v/o
  bool attn_sinks = false;        // gpt-oss: learned per-head sink logits
  bool qk_norm = false;           // RMSNorm on q and k per head (Dh-sized weights)
  bool v_norm = false;            // RMSNorm without scale on v (no weights)
  bool layer_scalar = false;      // Gemma 4: per-layer output scalar (1 weight)
  bool post_norms = false;        // Gemma: post-attention and post-FFN norms (sandwich)
  double attn_scale = 0;          // 0: 1/sqrt(Dh); Gemma 4 uses 1.0
  double final_logit_softcap = 0; // 0: none
  double embed_scale = 1.0;       // Gemma: sqrt(D)
  double norm_eps = 1e-6;
  int sliding_window = 0;         // W (0: no sliding layers)
  AttnSpec sliding, global;
  std::vector<AttnType> layer_type;  // per layer
  std::vector<int> kv_source;        // per layer: layer whose KV cache this layer reads (== il when it owns one)
  std::vector<i64> ffn_width;        // per layer dense FFN width F (0 for MoE layers without a dense MLP)
  std::vector<bool> moe_layer;       // per layer: has routed experts
  MoeSpec moe;
  PleSpec ple;
  std::vector<EncoderSpec> encoders;
  json quality;    // published benchmark scores (for the advisor), may be null
  json published;  // published facts used by tests (params, file sizes), may be null
  json sources;    // field -> source

  // Per-layer accessors.
  bool is_sliding(int il) const { return layer_type[il] == AttnType::Sliding; }
  const AttnSpec& attn(int il) const { return is_sliding(il) ? sliding : global; }
  int n_head(int il) const { return attn(il).n_head; }
  int n_head_kv(int il) const { return attn(il).n_head_kv; }
  int head_dim(int il) const { return attn(il).head_dim; }
  bool k_eq_v(int il) const { return !is_sliding(il) && global.k_eq_v; }
  bool owns_kv(int il) const { return kv_source[il] == il; }  // false for KV-shared layers (E2B: 15..34)
  bool is_moe(int il) const { return moe_layer[il]; }
  i64 ffn(int il) const { return ffn_width[il]; }
  bool has_ple() const { return ple.dim > 0; }
  int n_sliding_layers() const;
  int n_global_layers() const;
};

// Load and validate one model file. Throws InputError naming file and field.
ModelSpec load_model_file(const std::string& path);
// Parse from JSON already in memory (file used in messages).
ModelSpec parse_model(const json& j, const std::string& file);
// --model: an id from models/ (or models/tiny/), or a path to a model JSON file.
ModelSpec find_model(const std::string& id_or_path);
// Every model in models/ (not the tiny test configs), sorted by id.
std::vector<ModelSpec> all_models();

// Parameter counts, exactly from the tensor list (sim/tensors.h).
struct ParamCounts {
  double total = 0;       // every text weight, tied embeddings once, PLE tables included
  double effective = 0;   // total without PLE tables
  double active = 0;      // per token: total without unrouted experts
  double embedding = 0;   // token embedding table (and untied output head, separately below)
  double output_head = 0; // untied lm head (0 when tied)
  double ple_table = 0;
  double attention = 0;
  double ffn_dense = 0;
  double experts = 0;     // all routed experts
  double experts_active = 0;
  double other = 0;       // norms, router, scalars, ple projections
};
ParamCounts count_params(const ModelSpec& m);

}  // namespace gs
