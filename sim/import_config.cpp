// import_config.cpp: dispatch on `architectures`, shared helpers, and the Llama-family
// importers (Llama, Qwen3-MoE, gpt-oss, Mixtral). Gemma 3/4: import_config_gemma.cpp.
#include "import_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "import_config_impl.h"

namespace gs {
namespace import_detail {

long long Importer::opt(const char* key, long long def, long long lo, long long hi) {
  if (r.has(key)) return r.at(key).integer(lo, hi);
  defaults_used[key] = def;
  return def;
}

double Importer::optf(const char* key, double def, double lo, double hi) {
  if (r.has(key)) return r.at(key).num(lo, hi);
  defaults_used[key] = def;
  return def;
}

bool Importer::optb(const char* key, bool def) {
  if (r.has(key)) return r.at(key).boolean();
  defaults_used[key] = def;
  return def;
}

void Importer::fail_at(const char* key, const std::string& what) const {
  if (r.has(key)) r.at(key).fail(what);
  r.fail(std::string(key) + ": " + what);
}

std::string parse_layer_types(const Importer& im, long long n_layer) {
  auto lt = im.r.at("layer_types");
  if (static_cast<long long>(lt.size()) != n_layer)
    lt.fail("has " + std::to_string(lt.size()) + " entries, expected num_hidden_layers = " + std::to_string(n_layer));
  std::string s;
  for (std::size_t i = 0; i < lt.size(); ++i) {
    const std::string t = lt.at(i).str();
    if (t == "sliding_attention") s += 'S';
    else if (t == "full_attention") s += 'G';
    else lt.at(i).fail("unknown layer type '" + t + "' (expected sliding_attention or full_attention)");
  }
  return s;
}

ojson attn_shape(const Importer& im, long long H, long long Hkv, long long Dh, double theta, double fraction) {
  if (H % Hkv != 0)
    im.r.fail("num_attention_heads " + std::to_string(H) + " is not a multiple of the KV heads " + std::to_string(Hkv));
  return ojson{{"num_heads", H}, {"num_kv_heads", Hkv}, {"head_dim", Dh}, {"rope_theta", theta}, {"rope_fraction", fraction}};
}

ojson model_head(const std::string& id, const std::string& arch, long long D, long long L, long long V, long long ctx,
                 bool tied, double eps) {
  return ojson{{"schema_version", 1}, {"id", id},          {"name", id},
               {"arch", arch},        {"hidden_size", D},  {"num_layers", L},
               {"vocab_size", V},     {"context_length", ctx}, {"tie_word_embeddings", tied},
               {"norm_eps", eps}};
}

void add_sources(ojson& m, const Importer& im) {
  const std::string from = std::filesystem::path(im.file).filename().string();
  ojson s = ojson::object();
  s["all"] = "imported by `gemmasim import-config` from " + from + " (architectures: " + im.hf_arch +
             "); fields the config omits take the transformers " + im.config_class + " defaults listed in defaults_used";
  s["imported_from"] = im.file;
  s["defaults_used"] = im.defaults_used;
  m["sources"] = s;
}

// ---- Llama ------------------------------------------------------------------------------
ojson import_llama(Importer& im, const std::string& id) {
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long H = im.req("num_attention_heads", 1, kMaxHeads);
  const long long Hkv = im.opt("num_key_value_heads", H, 1, kMaxHeads);
  const long long Dh = im.opt("head_dim", D / H, 1, kMaxHeadDim);
  const long long F = im.req("intermediate_size", 1, kMaxFfn);
  if (im.optb("mlp_bias", false)) im.fail_at("mlp_bias", "MLP biases are not supported by the model schema");
  ojson m = model_head(id, "llama", D, L, im.req("vocab_size", 1, kMaxVocab), im.req("max_position_embeddings", 1, kMaxCtx),
                       im.optb("tie_word_embeddings", false), im.optf("rms_norm_eps", 1e-6, 0, 1));
  m["attention"] = {{"qk_norm", false}, {"v_norm", false}, {"bias", im.optb("attention_bias", false)}, {"sinks", false},
                    {"global", attn_shape(im, H, Hkv, Dh, im.optf("rope_theta", 10000.0, 1, 1e12), 1.0)}};
  m["ffn"] = {{"width", F}, {"gated", true}, {"activation", "silu"}};
  return m;
}

// ---- Qwen3-MoE --------------------------------------------------------------------------
ojson import_qwen3moe(Importer& im, const std::string& id) {
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long H = im.req("num_attention_heads", 1, kMaxHeads);
  const long long Hkv = im.req("num_key_value_heads", 1, kMaxHeads);
  const long long Dh = im.opt("head_dim", D / H, 1, kMaxHeadDim);
  const long long E = im.req("num_experts", 1, kMaxExperts);
  const long long K = im.req("num_experts_per_tok", 1, E);
  const long long Fe = im.req("moe_intermediate_size", 1, kMaxFfn);
  const long long step = im.opt("decoder_sparse_step", 1, 1, L);
  std::vector<bool> dense_only(static_cast<std::size_t>(L), false);
  if (im.has("mlp_only_layers")) {
    auto mo = im.r.at("mlp_only_layers");
    for (std::size_t i = 0; i < mo.size(); ++i) dense_only[static_cast<std::size_t>(mo.at(i).integer(0, L - 1))] = true;
  } else {
    im.defaults_used["mlp_only_layers"] = ojson::array();
  }
  std::string layers;
  for (long long il = 0; il < L; ++il) layers += (!dense_only[il] && (il + 1) % step == 0) ? 'M' : 'D';
  const bool all_moe = layers.find('D') == std::string::npos;

  ojson m = model_head(id, "qwen3moe", D, L, im.req("vocab_size", 1, kMaxVocab), im.req("max_position_embeddings", 1, kMaxCtx),
                       im.optb("tie_word_embeddings", false), im.optf("rms_norm_eps", 1e-6, 0, 1));
  m["attention"] = {{"qk_norm", true}, {"v_norm", false}, {"bias", im.optb("attention_bias", false)}, {"sinks", false},
                    {"global", attn_shape(im, H, Hkv, Dh, im.optf("rope_theta", 10000.0, 1, 1e12), 1.0)}};
  if (all_moe) {
    m["ffn"] = {{"width", 0}, {"gated", true}, {"activation", "silu"}};
  } else {
    const long long F = im.req("intermediate_size", 1, kMaxFfn);  // width of the dense-only layers
    ojson w = ojson::array();
    for (char c : layers) w.push_back(c == 'D' ? F : 0);
    m["ffn"] = {{"width", w}, {"gated", true}, {"activation", "silu"}};
  }
  ojson moe = {{"num_experts", E}, {"experts_per_token", K}, {"expert_width", Fe}, {"dense_width", 0},
               {"shared_expert_width", 0}, {"expert_bias", false}, {"router_bias", false}, {"router_scale", false},
               {"per_expert_scale", false}, {"gate_up_fused", false}};
  if (!all_moe) moe["layers"] = layers;
  m["moe"] = moe;
  return m;
}

// ---- gpt-oss ----------------------------------------------------------------------------
ojson import_gpt_oss(Importer& im, const std::string& id) {
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long H = im.req("num_attention_heads", 1, kMaxHeads);
  const long long Hkv = im.req("num_key_value_heads", 1, kMaxHeads);
  const long long Dh = im.opt("head_dim", D / H, 1, kMaxHeadDim);
  const long long E = im.req("num_local_experts", 1, kMaxExperts);
  const long long K = im.has("num_experts_per_tok") ? im.req("num_experts_per_tok", 1, E) : im.req("experts_per_token", 1, E);
  const long long Fe = im.req("intermediate_size", 1, kMaxFfn);
  std::string lt;
  if (im.has("layer_types")) {
    lt = parse_layer_types(im, L);
  } else {  // GptOssConfig default: sliding on even layers, full on odd ones
    for (long long il = 0; il < L; ++il) lt += il % 2 == 0 ? 'S' : 'G';
    im.defaults_used["layer_types"] = "alternating, sliding first";
  }
  const double theta = im.optf("rope_theta", 150000.0, 1, 1e12);
  ojson m = model_head(id, "gpt-oss", D, L, im.req("vocab_size", 1, kMaxVocab), im.req("max_position_embeddings", 1, kMaxCtx),
                       im.optb("tie_word_embeddings", false), im.optf("rms_norm_eps", 1e-5, 0, 1));
  ojson a = {{"layer_types", lt}, {"qk_norm", false}, {"v_norm", false}, {"bias", im.optb("attention_bias", true)},
             {"sinks", true}};
  if (lt.find('S') != std::string::npos) {
    a["sliding_window"] = im.req("sliding_window", 1, kMaxCtx);
    a["sliding"] = attn_shape(im, H, Hkv, Dh, theta, 1.0);
  }
  a["global"] = attn_shape(im, H, Hkv, Dh, theta, 1.0);
  m["attention"] = a;
  m["ffn"] = {{"width", 0}, {"gated", true}, {"activation", "swiglu_oai"}};
  m["moe"] = {{"num_experts", E}, {"experts_per_token", K}, {"expert_width", Fe}, {"dense_width", 0},
              {"shared_expert_width", 0}, {"expert_bias", true}, {"router_bias", true}, {"router_scale", false},
              {"per_expert_scale", false}, {"gate_up_fused", false}};
  return m;
}

// ---- Mixtral ----------------------------------------------------------------------------
ojson import_mixtral(Importer& im, const std::string& id) {
  const long long D = im.req("hidden_size", 1, kMaxWidth), L = im.req("num_hidden_layers", 1, kMaxLayers);
  const long long H = im.req("num_attention_heads", 1, kMaxHeads);
  const long long Hkv = im.opt("num_key_value_heads", H, 1, kMaxHeads);
  const long long Dh = im.opt("head_dim", D / H, 1, kMaxHeadDim);
  const long long E = im.req("num_local_experts", 1, kMaxExperts);
  const long long K = im.req("num_experts_per_tok", 1, E);
  const long long Fe = im.req("intermediate_size", 1, kMaxFfn);
  const double theta = im.optf("rope_theta", 1e6, 1, 1e12);
  ojson m = model_head(id, "mixtral", D, L, im.req("vocab_size", 1, kMaxVocab), im.req("max_position_embeddings", 1, kMaxCtx),
                       im.optb("tie_word_embeddings", false), im.optf("rms_norm_eps", 1e-5, 0, 1));
  ojson a = {{"qk_norm", false}, {"v_norm", false}, {"bias", false}, {"sinks", false}};
  if (im.has("sliding_window")) {  // Mistral-style: every layer slides
    a["sliding_window"] = im.req("sliding_window", 1, kMaxCtx);
    a["layer_types"] = std::string(static_cast<std::size_t>(L), 'S');
    a["sliding"] = attn_shape(im, H, Hkv, Dh, theta, 1.0);
  }
  a["global"] = attn_shape(im, H, Hkv, Dh, theta, 1.0);
  m["attention"] = a;
  m["ffn"] = {{"width", 0}, {"gated", true}, {"activation", "silu"}};
  m["moe"] = {{"num_experts", E}, {"experts_per_token", K}, {"expert_width", Fe}, {"dense_width", 0},
              {"shared_expert_width", 0}, {"expert_bias", false}, {"router_bias", false}, {"router_scale", false},
              {"per_expert_scale", false}, {"gate_up_fused", false}};
  return m;
}

}  // namespace import_detail

const char* supported_hf_architectures() {
  return "Gemma4ForConditionalGeneration, Gemma4ForCausalLM, Gemma3ForConditionalGeneration, Gemma3ForCausalLM, "
         "LlamaForCausalLM, Qwen3MoeForCausalLM, GptOssForCausalLM, MixtralForCausalLM";
}

std::string default_model_id(const json& hf, const std::string& file) {
  std::string id;
  if (hf.is_object() && hf.contains("_name_or_path") && hf["_name_or_path"].is_string())
    id = std::filesystem::path(hf["_name_or_path"].get<std::string>()).filename().string();
  if (id.empty()) {
    const std::filesystem::path p(file);
    id = p.stem().string();
    if (id == "config" && p.has_parent_path()) id = std::filesystem::absolute(p).parent_path().filename().string();
  }
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return id.empty() ? std::string("imported-model") : id;
}

nlohmann::ordered_json import_hf_config(const json& hf, const std::string& file, const ImportOptions& opt) {
  using namespace import_detail;
  JsonReader root(hf, file);
  if (!hf.is_object()) root.fail("expected a Hugging Face config.json object");
  auto archs = root.at("architectures");
  if (archs.size() == 0) archs.fail("empty list (expected one of " + std::string(supported_hf_architectures()) + ")");
  const std::string arch = archs.at(0).str();

  const bool gemma4 = arch == "Gemma4ForConditionalGeneration" || arch == "Gemma4ForCausalLM";
  const bool gemma3 = arch == "Gemma3ForConditionalGeneration" || arch == "Gemma3ForCausalLM";
  const bool nested = arch == "Gemma4ForConditionalGeneration" || arch == "Gemma3ForConditionalGeneration";
  // Multimodal wrappers keep the decoder in text_config; the CausalLM classes may too.
  JsonReader text = nested || ((gemma4 || gemma3) && root.has("text_config")) ? root.at("text_config") : root;
  if (!text.is_object()) text.fail("expected an object");

  Importer im{text, file, arch, "", ojson::object()};
  const std::string id = opt.id.empty() ? default_model_id(hf, file) : opt.id;
  ojson m;
  if (gemma4) {
    im.config_class = "Gemma4TextConfig";
    m = import_gemma4(im, id);
  } else if (gemma3) {
    im.config_class = "Gemma3TextConfig";
    m = import_gemma3(im, id);
  } else if (arch == "LlamaForCausalLM") {
    im.config_class = "LlamaConfig";
    m = import_llama(im, id);
  } else if (arch == "Qwen3MoeForCausalLM") {
    im.config_class = "Qwen3MoeConfig";
    m = import_qwen3moe(im, id);
  } else if (arch == "GptOssForCausalLM") {
    im.config_class = "GptOssConfig";
    m = import_gpt_oss(im, id);
  } else if (arch == "MixtralForCausalLM") {
    im.config_class = "MixtralConfig";
    m = import_mixtral(im, id);
  } else {
    archs.at(0).fail("unsupported architecture '" + arch + "' (expected one of " + supported_hf_architectures() + ")");
  }
  add_sources(m, im);
  return m;
}

}  // namespace gs
