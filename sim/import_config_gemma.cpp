// import_config_gemma.cpp: Gemma 3 and Gemma 4 text configs -> model files.
// Both keep the decoder in `text_config` of their ConditionalGeneration wrapper.
#include <cmath>

#include "import_config_impl.h"

namespace gs::import_detail {

namespace {

// Layer types from `layer_types`, or from a period: every `period`-th layer global.
std::string gemma_layer_types(Importer& im, long long L, bool last_global) {
  if (im.has("layer_types")) return parse_layer_types(im, L);
  const long long period = im.opt("sliding_window_pattern", 6, 1, L + 1);
  std::string s;
  for (long long il = 0; il < L; ++il) s += (il + 1) % period == 0 ? 'G' : 'S';
  if (last_global) s.back() = 'G';
  return s;
}

// Gemma 4 KV sharing: the last `n_shared` layers read the cache of the last
// non-shared layer of the same attention type (transformers modular_gemma4.py).
ojson gemma4_kv_source(const Importer& im, const std::string& lt, long long n_shared) {
  const long long L = static_cast<long long>(lt.size()), first = L - n_shared;
  long long last_s = -1, last_g = -1;
  for (long long il = 0; il < first; ++il) (lt[il] == 'S' ? last_s : last_g) = il;
  ojson src = ojson::array();
  for (long long il = 0; il < L; ++il) {
    if (il < first) {
      src.push_back(il);
      continue;
    }
    const long long s = lt[il] == 'S' ? last_s : last_g;
    if (s < 0) im.fail_at("num_kv_shared_layers", "KV-shared layer " + std::to_string(il) + " has no earlier layer of its type to read");
    src.push_back(s);
  }
  return src;
}

}  // namespace

ojson import_gemma4(Importer& im, const std::string& id) {
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long F = im.req("intermediate_size", 1, kMaxFfn);
  const long long H = im.req("num_attention_heads", 1, kMaxHeads);
  const long long Hkv = im.req("num_key_value_heads", 1, kMaxHeads);
  const long long Hkv_g = im.opt("num_global_key_value_heads", Hkv, 1, kMaxHeads);
  const long long Dh = im.req("head_dim", 1, kMaxHeadDim);
  const long long Dh_g = im.opt("global_head_dim", Dh, 1, kMaxHeadDim);
  const long long n_shared = im.opt("num_kv_shared_layers", 0, 0, L - 1);
  const bool double_wide = im.optb("use_double_wide_mlp", false);
  const bool k_eq_v = im.optb("attention_k_eq_v", false);
  const std::string lt = gemma_layer_types(im, L, /*last_global=*/true);

  // RoPE per attention type (rope_parameters.{sliding_attention,full_attention}).
  double theta_s = 10000.0, theta_g = 1e6, frac_g = 0.25;
  if (im.has("rope_parameters")) {
    auto rp = im.r.at("rope_parameters");
    theta_s = rp.at("sliding_attention").at("rope_theta").num(1, 1e12);
    auto full = rp.at("full_attention");
    theta_g = full.at("rope_theta").num(1, 1e12);
    frac_g = full.num_or("partial_rotary_factor", 1.0, 0.0, 1.0);
  } else {
    im.defaults_used["rope_parameters"] = {{"sliding_attention", {{"rope_theta", theta_s}}},
                                           {"full_attention", {{"rope_theta", theta_g}, {"partial_rotary_factor", frac_g}}}};
  }

  ojson m = model_head(id, "gemma4", D, L, im.req("vocab_size", 1, kMaxVocab), im.req("max_position_embeddings", 1, kMaxCtx),
                       im.optb("tie_word_embeddings", true), im.optf("rms_norm_eps", 1e-6, 0, 1));
  m["embed_scale"] = "sqrt_hidden";
  m["final_logit_softcap"] = im.optf("final_logit_softcapping", 0.0, 0, 1e6);
  m["post_norms"] = true;
  m["layer_scalar"] = true;
  ojson a = {{"layer_types", lt}, {"qk_norm", true}, {"v_norm", true}, {"bias", im.optb("attention_bias", false)},
             {"sinks", false}, {"scale", 1.0}};
  if (lt.find('S') != std::string::npos) {
    a["sliding_window"] = im.req("sliding_window", 1, kMaxCtx);
    a["sliding"] = attn_shape(im, H, Hkv, Dh, theta_s, 1.0);
  }
  a["global"] = attn_shape(im, H, Hkv_g, Dh_g, theta_g, frac_g);
  a["global"]["k_eq_v"] = k_eq_v;
  m["attention"] = a;
  if (n_shared > 0) m["kv_source"] = gemma4_kv_source(im, lt, n_shared);

  // FFN: the KV-shared layers get a double-wide MLP when use_double_wide_mlp is set.
  if (double_wide && n_shared > 0) {
    ojson w = ojson::array();
    for (long long il = 0; il < L; ++il) w.push_back(il >= L - n_shared ? 2 * F : F);
    m["ffn"] = {{"width", w}, {"gated", true}, {"activation", "gelu_tanh"}};
  } else {
    m["ffn"] = {{"width", F}, {"gated", true}, {"activation", "gelu_tanh"}};
  }

  // MoE: experts in every layer beside the always-on dense MLP of width intermediate_size.
  if (im.optb("enable_moe_block", false)) {
    const long long E = im.req("num_experts", 1, kMaxExperts);
    const long long K = im.has("top_k_experts") ? im.req("top_k_experts", 1, E) : im.req("num_experts_per_tok", 1, E);
    m["moe"] = {{"num_experts", E}, {"experts_per_token", K}, {"expert_width", im.req("moe_intermediate_size", 1, kMaxFfn)},
                {"dense_width", F}, {"shared_expert_width", 0}, {"expert_bias", false}, {"router_bias", false},
                {"router_scale", true}, {"per_expert_scale", true}, {"gate_up_fused", true}};
  }

  // Per-Layer Embeddings (hidden_size_per_layer_input null or 0: none).
  const long long P = im.opt("hidden_size_per_layer_input", 0, 0, kMaxWidth);
  if (P > 0) m["ple"] = {{"dim", P}, {"vocab_size", im.req("vocab_size_per_layer_input", 1, kMaxVocab)}};
  return m;
}

ojson import_gemma3(Importer& im, const std::string& id) {
  // Gemma 3 configs omit every field equal to its Gemma3TextConfig default, so only the
  // three fields that differ in every released size are required.
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long F = im.req("intermediate_size", 1, kMaxFfn);
  const long long H = im.opt("num_attention_heads", 8, 1, kMaxHeads);
  const long long Hkv = im.opt("num_key_value_heads", 4, 1, kMaxHeads);
  const long long Dh = im.opt("head_dim", 256, 1, kMaxHeadDim);
  const double qpas = im.optf("query_pre_attn_scalar", 256.0, 1e-6, 1e9);
  const std::string lt = gemma_layer_types(im, L, /*last_global=*/false);

  ojson m = model_head(id, "gemma3", D, L, im.opt("vocab_size", 262208, 1, kMaxVocab),
                       im.opt("max_position_embeddings", 131072, 1, kMaxCtx), im.optb("tie_word_embeddings", true),
                       im.optf("rms_norm_eps", 1e-6, 0, 1));
  m["embed_scale"] = "sqrt_hidden";
  m["final_logit_softcap"] = im.optf("final_logit_softcapping", 0.0, 0, 1e6);
  m["post_norms"] = true;
  m["layer_scalar"] = false;
  ojson a = {{"layer_types", lt}, {"qk_norm", true}, {"v_norm", false}, {"bias", im.optb("attention_bias", false)},
             {"sinks", false}};
  if (qpas != static_cast<double>(Dh)) a["scale"] = 1.0 / std::sqrt(qpas);  // query_pre_attn_scalar^-0.5
  if (lt.find('S') != std::string::npos) {
    a["sliding_window"] = im.opt("sliding_window", 4096, 1, kMaxCtx);
    a["sliding"] = attn_shape(im, H, Hkv, Dh, im.optf("rope_local_base_freq", 10000.0, 1, 1e12), 1.0);
  }
  a["global"] = attn_shape(im, H, Hkv, Dh, im.optf("rope_theta", 1e6, 1, 1e12), 1.0);
  a["global"]["k_eq_v"] = false;
  m["attention"] = a;
  m["ffn"] = {{"width", F}, {"gated", true}, {"activation", "gelu_tanh"}};
  return m;
}

}  // namespace gs::import_detail
