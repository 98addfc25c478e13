#include "model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data_paths.h"

#include "tensors.h"

namespace gs {

int ModelSpec::n_sliding_layers() const {
  return static_cast<int>(std::count(layer_type.begin(), layer_type.end(), AttnType::Sliding));
}
int ModelSpec::n_global_layers() const { return n_layer - n_sliding_layers(); }

static AttnSpec parse_attn(const JsonReader& r) {
  AttnSpec a;
  a.n_head = static_cast<int>(r.at("num_heads").integer(1, 1024));
  a.n_head_kv = static_cast<int>(r.at("num_kv_heads").integer(1, 1024));
  a.head_dim = static_cast<int>(r.at("head_dim").integer(1, 4096));
  a.rope_theta = r.num_or("rope_theta", 10000.0, 1.0, 1e12);
  a.rope_fraction = r.num_or("rope_fraction", 1.0, 0.0, 1.0);
  a.k_eq_v = r.bool_or("k_eq_v", false);
  if (a.n_head % a.n_head_kv != 0) r.fail("num_heads must be a multiple of num_kv_heads");
  return a;
}

ModelSpec parse_model(const json& j, const std::string& file) {
  JsonReader r(j, file);
  if (!j.is_object()) r.fail("expected a JSON object describing a model");
  r.at("schema_version").integer(1, 1);
  ModelSpec m;
  m.file = file;
  m.id = r.at("id").str();
  m.name = r.str_or("name", m.id);
  m.arch = r.at("arch").str();
  static const char* kArchs[] = {"gemma4", "gemma3", "llama", "qwen3moe", "gpt-oss", "mixtral"};
  if (std::find_if(std::begin(kArchs), std::end(kArchs), [&](const char* a) { return m.arch == a; }) == std::end(kArchs))
    r.at("arch").fail("unknown arch '" + m.arch + "' (expected gemma4, gemma3, llama, qwen3moe, gpt-oss or mixtral)");
  m.n_embd = r.at("hidden_size").integer(1, 1 << 20);
  m.n_layer = static_cast<int>(r.at("num_layers").integer(1, 4096));
  m.n_vocab = r.at("vocab_size").integer(1, 1LL << 24);
  m.n_ctx_max = r.at("context_length").integer(1, 1LL << 26);
  m.tied_embeddings = r.at("tie_word_embeddings").boolean();
  if (r.has("embed_scale")) {
    auto es = r.at("embed_scale");
    if (es.is_string()) {
      if (es.str() != "sqrt_hidden") es.fail("expected \"sqrt_hidden\" or a number");
      m.embed_scale = std::sqrt(static_cast<double>(m.n_embd));
    } else {
      m.embed_scale = es.num(0.0, 1e6);
    }
  }
  m.norm_eps = r.num_or("norm_eps", 1e-6, 0.0, 1.0);
  m.final_logit_softcap = r.num_or("final_logit_softcap", 0.0, 0.0, 1e6);
  m.post_norms = r.bool_or("post_norms", false);
  m.layer_scalar = r.bool_or("layer_scalar", false);

  // Attention.
  auto a = r.at("attention");
  m.global = parse_attn(a.at("global"));
  m.sliding_window = static_cast<int>(a.int_or("sliding_window", 0, 0, 1 << 24));
  std::string types = a.has("layer_types") ? a.at("layer_types").str() : std::string(m.n_layer, 'G');
  if (static_cast<int>(types.size()) != m.n_layer)
    a.at("layer_types").fail("has " + std::to_string(types.size()) + " entries, expected num_layers = " + std::to_string(m.n_layer));
  m.layer_type.resize(m.n_layer);
  bool any_sliding = false;
  for (int il = 0; il < m.n_layer; ++il) {
    if (types[il] == 'S') {
      m.layer_type[il] = AttnType::Sliding;
      any_sliding = true;
    } else if (types[il] == 'G') {
      m.layer_type[il] = AttnType::Global;
    } else {
      a.at("layer_types").fail(std::string("unknown layer type '") + types[il] + "' (expected S or G)");
    }
  }
  if (any_sliding) {
    m.sliding = parse_attn(a.at("sliding"));
    if (m.sliding_window <= 0) a.fail("sliding layers need sliding_window > 0");
  } else {
    m.sliding = m.global;
  }
  m.qk_norm = a.bool_or("qk_norm", false);
  m.v_norm = a.bool_or("v_norm", false);
  m.attn_bias = a.bool_or("bias", false);
  m.attn_sinks = a.bool_or("sinks", false);
  m.attn_scale = a.num_or("scale", 0.0, 0.0, 1e6);

  // KV sharing.
  m.kv_source.resize(m.n_layer);
  for (int il = 0; il < m.n_layer; ++il) m.kv_source[il] = il;
  if (r.has("kv_source")) {
    auto ks = r.at("kv_source");
    if (static_cast<int>(ks.size()) != m.n_layer) ks.fail("expected one entry per layer (" + std::to_string(m.n_layer) + ")");
    for (int il = 0; il < m.n_layer; ++il) {
      int src = static_cast<int>(ks.at(il).integer(0, m.n_layer - 1));
      if (src > il) ks.at(il).fail("a layer can only read the cache of an earlier layer");
      if (src != il && m.kv_source[src] != src) ks.at(il).fail("source layer does not own a cache");
      if (src != il && m.layer_type[src] != m.layer_type[il]) ks.at(il).fail("source layer has a different attention type");
      m.kv_source[il] = src;
    }
  }

  // FFN.
  auto f = r.at("ffn");
  m.ffn_gated = f.bool_or("gated", true);
  m.ffn_activation = f.str_or("activation", "silu");
  m.ffn_width.assign(m.n_layer, 0);
  auto w = f.at("width");
  if (w.is_array()) {
    if (static_cast<int>(w.size()) != m.n_layer) w.fail("expected one width per layer (" + std::to_string(m.n_layer) + ")");
    for (int il = 0; il < m.n_layer; ++il) m.ffn_width[il] = w.at(il).integer(0, 1 << 22);
  } else {
    m.ffn_width.assign(m.n_layer, w.integer(0, 1 << 22));
  }

  // MoE.
  m.moe_layer.assign(m.n_layer, false);
  if (r.has("moe")) {
    auto mo = r.at("moe");
    m.moe.n_expert = static_cast<int>(mo.at("num_experts").integer(1, 4096));
    m.moe.n_expert_used = static_cast<int>(mo.at("experts_per_token").integer(1, m.moe.n_expert));
    m.moe.expert_ffn = mo.at("expert_width").integer(1, 1 << 22);
    m.moe.dense_ffn = mo.int_or("dense_width", 0, 0, 1 << 22);
    m.moe.shared_expert_ffn = mo.int_or("shared_expert_width", 0, 0, 1 << 22);
    m.moe.expert_bias = mo.bool_or("expert_bias", false);
    m.moe.router_bias = mo.bool_or("router_bias", false);
    m.moe.router_scale = mo.bool_or("router_scale", false);
    m.moe.per_expert_scale = mo.bool_or("per_expert_scale", false);
    m.moe.gate_up_fused = mo.bool_or("gate_up_fused", false);
    std::string layers = mo.has("layers") ? mo.at("layers").str() : std::string(m.n_layer, 'M');
    if (static_cast<int>(layers.size()) != m.n_layer) mo.at("layers").fail("expected one char per layer");
    for (int il = 0; il < m.n_layer; ++il) {
      if (layers[il] != 'M' && layers[il] != 'D') mo.at("layers").fail("expected M or D per layer");
      m.moe_layer[il] = layers[il] == 'M';
      // In MoE layers the dense FFN slot holds the always-on dense MLP (0 if none).
      if (m.moe_layer[il]) m.ffn_width[il] = m.moe.dense_ffn;
    }
  }

  // Per-Layer Embeddings.
  if (r.has("ple")) {
    auto p = r.at("ple");
    m.ple.dim = static_cast<int>(p.at("dim").integer(1, 1 << 16));
    m.ple.vocab = p.int_or("vocab_size", m.n_vocab, 1, 1LL << 24);
  }

  if (r.has("encoders")) {
    auto e = r.at("encoders");
    for (std::size_t i = 0; i < e.size(); ++i) {
      auto ei = e.at(i);
      EncoderSpec s;
      s.name = ei.at("name").str();
      s.params = ei.at("params").num(0, 1e12);
      s.tokens_per_item = static_cast<int>(ei.int_or("tokens_per_item", 0, 0, 1 << 20));
      s.source = ei.str_or("source", "");
      m.encoders.push_back(s);
    }
  }
  if (j.contains("quality")) m.quality = j.at("quality");
  if (j.contains("published")) m.published = j.at("published");
  if (!r.has("sources")) r.fail("required key 'sources' missing: every value needs its source");
  m.sources = j.at("sources");
  return m;
}

ModelSpec load_model_file(const std::string& path) { return parse_model(read_json_file(path), path); }

namespace fs = std::filesystem;

ModelSpec find_model(const std::string& id_or_path) {
  if (id_or_path.empty()) input_error("--model: empty model id");
  if (id_or_path.find('/') != std::string::npos ||
      (id_or_path.size() > 5 && id_or_path.substr(id_or_path.size() - 5) == ".json"))
    return load_model_file(id_or_path);
  for (const char* dir : {"models/", "models/tiny/"}) {
    const std::string p = data_path(std::string(dir) + id_or_path + ".json");
    if (path_exists(p)) return load_model_file(p);
  }
  std::string known;
  for (const auto& m : all_models()) known += (known.empty() ? "" : ", ") + m.id;
  input_error("--model: unknown model '" + id_or_path + "' (known: " + known + ")");
}

std::vector<ModelSpec> all_models() {
  std::vector<ModelSpec> v;
  const std::string dir = data_path("models");
  if (!fs::exists(dir)) return v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".json") v.push_back(load_model_file(e.path().string()));
  std::sort(v.begin(), v.end(), [](const ModelSpec& a, const ModelSpec& b) { return a.id < b.id; });
  return v;
}

ParamCounts count_params(const ModelSpec& m) {
  ParamCounts c;
  const double active_frac = m.moe.n_expert > 0 ? static_cast<double>(m.moe.n_expert_used) / m.moe.n_expert : 1.0;
  for (const auto& t : weight_tensors(m)) {
    const double n = static_cast<double>(t.n_elements());
    c.total += n;
    switch (t.role) {
      case TensorRole::TokenEmbd: c.embedding += n; break;
      case TensorRole::Output: c.output_head += n; break;
      case TensorRole::PleTable: c.ple_table += n; break;
      case TensorRole::AttnQ: case TensorRole::AttnK: case TensorRole::AttnV: case TensorRole::AttnOut:
      case TensorRole::AttnQBias: case TensorRole::AttnKBias: case TensorRole::AttnVBias: case TensorRole::AttnOutBias:
      case TensorRole::AttnSinks:
        c.attention += n; break;
      case TensorRole::FfnGate: case TensorRole::FfnUp: case TensorRole::FfnDown:
      case TensorRole::SharedExpGate: case TensorRole::SharedExpUp: case TensorRole::SharedExpDown:
        c.ffn_dense += n; break;
      case TensorRole::MoeGateUpExps: case TensorRole::MoeGateExps: case TensorRole::MoeUpExps:
      case TensorRole::MoeDownExps: case TensorRole::MoeExpsBias:
        c.experts += n;
        c.experts_active += n * active_frac;
        break;
      default: c.other += n; break;
    }
  }
  c.effective = c.total - c.ple_table;
  c.active = c.total - (c.experts - c.experts_active);
  return c;
}

}  // namespace gs
