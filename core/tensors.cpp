#include "tensors.h"

#include <cstdint>
#include <string>

namespace gs {

namespace {

struct Builder {
  std::vector<TensorInfo>& out;
  void add(std::string name, TensorRole role, int layer, i64 ne0, i64 ne1 = 1, i64 ne2 = 1) {
    TensorInfo t;
    t.name = std::move(name);
    t.role = role;
    t.layer = layer;
    t.ne = {ne0, ne1, ne2};
    out.push_back(std::move(t));
  }
  void blk(int il, const char* base, const char* suffix, TensorRole role, i64 ne0, i64 ne1 = 1, i64 ne2 = 1) {
    add("blk." + std::to_string(il) + "." + base + "." + suffix, role, il, ne0, ne1, ne2);
  }
};

}  // namespace

// Tensor names follow llama.cpp (src/llama-arch.cpp, LLM_TENSOR_NAMES) and its
// GGUF conversion; shapes are ggml ne order [ne0 = input width, ne1 = rows, ne2 = experts].
std::vector<TensorInfo> weight_tensors(const ModelSpec& m) {
  std::vector<TensorInfo> v;
  v.reserve(static_cast<std::size_t>(m.n_layer) * 24 + 8);
  Builder b{v};
  const i64 D = m.n_embd, V = m.n_vocab;

  b.add("token_embd.weight", TensorRole::TokenEmbd, -1, D, V);
  if (m.has_ple()) {
    const i64 LP = static_cast<i64>(m.n_layer) * m.ple.dim;
    b.add("per_layer_token_embd.weight", TensorRole::PleTable, -1, LP, m.ple.vocab);
    b.add("per_layer_model_proj.weight", TensorRole::PleModelProj, -1, D, LP);
    b.add("per_layer_proj_norm.weight", TensorRole::PleProjNorm, -1, m.ple.dim);
  }

  for (int il = 0; il < m.n_layer; ++il) {
    const i64 H = m.n_head(il), Hkv = m.n_head_kv(il), Dh = m.head_dim(il);
    const bool owns = m.owns_kv(il);
    const bool has_v = owns && !m.k_eq_v(il);

    // Attention.
    b.blk(il, "attn_norm", "weight", TensorRole::AttnNorm, D);
    b.blk(il, "attn_q", "weight", TensorRole::AttnQ, D, H * Dh);
    if (owns) b.blk(il, "attn_k", "weight", TensorRole::AttnK, D, Hkv * Dh);
    if (has_v) b.blk(il, "attn_v", "weight", TensorRole::AttnV, D, Hkv * Dh);
    b.blk(il, "attn_output", "weight", TensorRole::AttnOut, H * Dh, D);
    if (m.attn_bias) {
      b.blk(il, "attn_q", "bias", TensorRole::AttnQBias, H * Dh);
      if (owns) b.blk(il, "attn_k", "bias", TensorRole::AttnKBias, Hkv * Dh);
      if (has_v) b.blk(il, "attn_v", "bias", TensorRole::AttnVBias, Hkv * Dh);
      b.blk(il, "attn_output", "bias", TensorRole::AttnOutBias, D);
    }
    if (m.attn_sinks) b.blk(il, "attn_sinks", "weight", TensorRole::AttnSinks, H);
    if (m.qk_norm) {
      b.blk(il, "attn_q_norm", "weight", TensorRole::AttnQNorm, Dh);
      if (owns) b.blk(il, "attn_k_norm", "weight", TensorRole::AttnKNorm, Dh);
    }
    if (m.post_norms) b.blk(il, "post_attention_norm", "weight", TensorRole::PostAttnNorm, D);

    // Dense FFN (in MoE layers: the always-on dense MLP beside the experts, if any).
    b.blk(il, "ffn_norm", "weight", TensorRole::FfnNorm, D);
    const i64 F = m.ffn(il);
    if (F > 0) {
      if (m.ffn_gated) b.blk(il, "ffn_gate", "weight", TensorRole::FfnGate, D, F);
      b.blk(il, "ffn_up", "weight", TensorRole::FfnUp, D, F);
      b.blk(il, "ffn_down", "weight", TensorRole::FfnDown, F, D);
    }
    if (m.post_norms) b.blk(il, "post_ffw_norm", "weight", TensorRole::PostFfnNorm, D);

    // Routed experts.
    if (m.is_moe(il)) {
      const i64 E = m.moe.n_expert, Fe = m.moe.expert_ffn;
      b.blk(il, "ffn_gate_inp", "weight", TensorRole::MoeRouter, D, E);
      if (m.moe.router_bias) b.blk(il, "ffn_gate_inp", "bias", TensorRole::MoeRouterBias, E);
      if (m.moe.router_scale) b.blk(il, "ffn_gate_inp", "scale", TensorRole::MoeRouterScale, D);
      if (m.moe.gate_up_fused) {
        b.blk(il, "ffn_gate_up_exps", "weight", TensorRole::MoeGateUpExps, D, 2 * Fe, E);
      } else {
        b.blk(il, "ffn_gate_exps", "weight", TensorRole::MoeGateExps, D, Fe, E);
        b.blk(il, "ffn_up_exps", "weight", TensorRole::MoeUpExps, D, Fe, E);
      }
      b.blk(il, "ffn_down_exps", "weight", TensorRole::MoeDownExps, Fe, D, E);
      if (m.moe.expert_bias) {
        b.blk(il, "ffn_gate_exps", "bias", TensorRole::MoeExpsBias, Fe, E);
        b.blk(il, "ffn_up_exps", "bias", TensorRole::MoeExpsBias, Fe, E);
        b.blk(il, "ffn_down_exps", "bias", TensorRole::MoeExpsBias, D, E);
      }
      if (m.moe.per_expert_scale) b.blk(il, "ffn_down_exps", "scale", TensorRole::MoeExpertScale, E);
      if (m.moe.shared_expert_ffn > 0) {
        const i64 Fs = m.moe.shared_expert_ffn;
        b.blk(il, "ffn_gate_shexp", "weight", TensorRole::SharedExpGate, D, Fs);
        b.blk(il, "ffn_up_shexp", "weight", TensorRole::SharedExpUp, D, Fs);
        b.blk(il, "ffn_down_shexp", "weight", TensorRole::SharedExpDown, Fs, D);
      }
      if (m.post_norms && m.moe.dense_ffn > 0) {
        // Gemma 4 26B: dense MLP and experts each get their own pre/post norms.
        b.blk(il, "post_ffw_norm_1", "weight", TensorRole::MoePostNorm1, D);
        b.blk(il, "pre_ffw_norm_2", "weight", TensorRole::MoePreNorm2, D);
        b.blk(il, "post_ffw_norm_2", "weight", TensorRole::MoePostNorm2, D);
      }
    }

    // Per-Layer Embeddings: gate (D -> P), projection (P -> D), norm.
    if (m.has_ple()) {
      b.blk(il, "inp_gate", "weight", TensorRole::PleInpGate, D, m.ple.dim);
      b.blk(il, "proj", "weight", TensorRole::PleProj, m.ple.dim, D);
      b.blk(il, "post_norm", "weight", TensorRole::PlePostNorm, D);
    }
    if (m.layer_scalar) b.blk(il, "layer_output_scale", "weight", TensorRole::LayerScalar, 1);
  }

  b.add("output_norm.weight", TensorRole::OutputNorm, -1, D);
  if (!m.tied_embeddings) b.add("output.weight", TensorRole::Output, -1, D, V);
  return v;
}

std::uint64_t weight_shape_hash(const ModelSpec& m) {
  // each field as a 64-bit word, folded in with splitmix64's finalizer
  std::uint64_t h = 0x9e3779b97f4a7c15ULL;
  auto put = [&h](auto v) {
    std::uint64_t x = h ^ (static_cast<std::uint64_t>(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    h = x ^ (x >> 31);
  };
  put(m.n_embd), put(m.n_layer), put(m.n_vocab);
  for (bool b : {m.tied_embeddings, m.ffn_gated, m.attn_bias, m.attn_sinks, m.qk_norm, m.post_norms, m.layer_scalar})
    put(b);
  for (const AttnSpec* a : {&m.sliding, &m.global}) put(a->n_head), put(a->n_head_kv), put(a->head_dim), put(a->k_eq_v);
  put(m.moe.n_expert), put(m.moe.n_expert_used), put(m.moe.expert_ffn), put(m.moe.dense_ffn), put(m.moe.shared_expert_ffn);
  for (bool b : {m.moe.expert_bias, m.moe.router_bias, m.moe.router_scale, m.moe.per_expert_scale, m.moe.gate_up_fused})
    put(b);
  put(m.ple.dim), put(m.ple.vocab);
  // per layer (sizes first, so vectors of different lengths hash apart)
  put(m.layer_type.size()), put(m.kv_source.size()), put(m.ffn_width.size()), put(m.moe_layer.size());
  for (AttnType t : m.layer_type) put(static_cast<int>(t));
  for (int s : m.kv_source) put(s);
  for (i64 f : m.ffn_width) put(f);
  for (bool b : m.moe_layer) put(b);
  return h;
}

const char* role_name(TensorRole r) {
  switch (r) {
    case TensorRole::TokenEmbd: return "token_embd";
    case TensorRole::Output: return "output";
    case TensorRole::OutputNorm: return "output_norm";
    case TensorRole::PleTable: return "ple_table";
    case TensorRole::PleModelProj: return "ple_model_proj";
    case TensorRole::PleProjNorm: return "ple_proj_norm";
    case TensorRole::AttnNorm: return "attn_norm";
    case TensorRole::AttnQ: return "attn_q";
    case TensorRole::AttnK: return "attn_k";
    case TensorRole::AttnV: return "attn_v";
    case TensorRole::AttnOut: return "attn_output";
    case TensorRole::AttnQNorm: return "attn_q_norm";
    case TensorRole::AttnKNorm: return "attn_k_norm";
    case TensorRole::AttnQBias: return "attn_q_bias";
    case TensorRole::AttnKBias: return "attn_k_bias";
    case TensorRole::AttnVBias: return "attn_v_bias";
    case TensorRole::AttnOutBias: return "attn_output_bias";
    case TensorRole::AttnSinks: return "attn_sinks";
    case TensorRole::PostAttnNorm: return "post_attention_norm";
    case TensorRole::FfnNorm: return "ffn_norm";
    case TensorRole::FfnGate: return "ffn_gate";
    case TensorRole::FfnUp: return "ffn_up";
    case TensorRole::FfnDown: return "ffn_down";
    case TensorRole::PostFfnNorm: return "post_ffw_norm";
    case TensorRole::MoeRouter: return "moe_router";
    case TensorRole::MoeRouterBias: return "moe_router_bias";
    case TensorRole::MoeRouterScale: return "moe_router_scale";
    case TensorRole::MoeGateUpExps: return "ffn_gate_up_exps";
    case TensorRole::MoeGateExps: return "ffn_gate_exps";
    case TensorRole::MoeUpExps: return "ffn_up_exps";
    case TensorRole::MoeDownExps: return "ffn_down_exps";
    case TensorRole::MoeExpsBias: return "exps_bias";
    case TensorRole::MoeExpertScale: return "moe_expert_scale";
    case TensorRole::MoePreNorm2: return "pre_ffw_norm_2";
    case TensorRole::MoePostNorm1: return "post_ffw_norm_1";
    case TensorRole::MoePostNorm2: return "post_ffw_norm_2";
    case TensorRole::SharedExpGate: return "ffn_gate_shexp";
    case TensorRole::SharedExpUp: return "ffn_up_shexp";
    case TensorRole::SharedExpDown: return "ffn_down_shexp";
    case TensorRole::PleInpGate: return "ple_inp_gate";
    case TensorRole::PleProj: return "ple_proj";
    case TensorRole::PlePostNorm: return "ple_post_norm";
    case TensorRole::LayerScalar: return "layer_output_scale";
  }
  return "?";
}

}  // namespace gs
