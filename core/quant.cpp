// Recipes and byte counts. The recipe rules are data (quants/recipes.json);
// this file only interprets them the way llama.cpp's llama_tensor_get_type does.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>

#include "data_paths.h"
#include "quant.h"
#include "text.h"

namespace gs {

namespace {

struct RecipeDb {
  std::vector<QuantRecipe> recipes;
  std::vector<KvType> kv_types;
};

const RecipeDb& db() {
  static const RecipeDb d = [] {
    RecipeDb out;
    const std::string path = data_path("quants/recipes.json");
    const json j = read_json_file(path);
    JsonReader r(j, path);
    auto rs = r.at("recipes");
    for (std::size_t i = 0; i < rs.size(); ++i) {
      auto ri = rs.at(i);
      QuantRecipe q;
      q.id = ri.at("id").str();
      q.name = ri.at("name").str();
      q.kind = ri.at("kind").str();
      q.ftype = static_cast<int>(ri.int_or("ftype", -1, -1, 1000));
      q.source = ri.at("source").str();
      q.rules = ri.raw();
      if (ri.has("aliases"))
        for (std::size_t k = 0; k < ri.at("aliases").size(); ++k) q.aliases.push_back(ri.at("aliases").at(k).str());
      if (!type_from_name(ri.at("default").str())) ri.at("default").fail("unknown type");
      out.recipes.push_back(q);
    }
    auto ks = r.at("kv_types");
    for (std::size_t i = 0; i < ks.size(); ++i) {
      auto ki = ks.at(i);
      out.kv_types.push_back({ki.at("id").str(), ki.at("bytes_per_element").num(0.01, 16)});
    }
    return out;
  }();
  return d;
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// llama.cpp's fallback when a type's block does not divide the row width.
GgmlType fallback(GgmlType t, i64 ne0) {
  if (row_compatible(t, ne0)) return t;
  GgmlType f = GgmlType::F16;
  switch (t) {
    case GgmlType::Q4_K: f = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: f = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: f = GgmlType::Q8_0; break;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::IQ4_XS: f = GgmlType::IQ4_NL; break;
    default: f = GgmlType::F16; break;
  }
  return row_compatible(f, ne0) ? f : GgmlType::F16;
}

std::string rule_role(const ModelSpec& m, const TensorInfo& t) {
  if (t.role == TensorRole::TokenEmbd && m.tied_embeddings) return "token_embd_as_output";
  return role_name(t.role);
}

bool matches(const json& when, const ModelSpec& m, const TensorInfo& t, const std::string& role, int index, int count) {
  if (when.contains("roles")) {
    bool any = false;
    for (const auto& r : when.at("roles"))
      if (r.get<std::string>() == role) any = true;
    if (!any) return false;
  }
  if (when.contains("more_bits") && when.at("more_bits").get<bool>() != use_more_bits(index, count)) return false;
  if (when.contains("index_lt") && !(index < when.at("index_lt").get<int>())) return false;
  if (when.contains("layer_frac_lt") && !(t.layer >= 0 && t.layer < when.at("layer_frac_lt").get<double>() * m.n_layer))
    return false;
  if (when.contains("n_expert") && m.moe.n_expert != when.at("n_expert").get<int>()) return false;
  return true;
}

GgmlType type_by_rules(const QuantRecipe& r, const ModelSpec& m, const TensorInfo& t, int index, int count) {
  if (!t.is_matrix() || t.role == TensorRole::MoeRouter) return GgmlType::F32;
  const std::string role = rule_role(m, t);
  GgmlType ty = *type_from_name(r.rules.at("default").get<std::string>());
  for (const auto& rule : r.rules.at("rules")) {
    if (matches(rule.at("when"), m, t, role, index, count)) {
      auto named = type_from_name(rule.at("type").get<std::string>());
      if (!named) input_error("quants/recipes.json: recipe " + r.id + ": unknown type " + rule.at("type").dump());
      ty = *named;
      break;
    }
  }
  return type_info(ty).gguf ? fallback(ty, t.ne[0]) : ty;
}

}  // namespace

const std::vector<QuantRecipe>& all_recipes() { return db().recipes; }

const QuantRecipe& find_recipe(const std::string& id) {
  const std::string l = lower(id);
  for (const auto& r : all_recipes())
    if (r.id == l) return r;
  for (const auto& r : all_recipes())
    for (const auto& a : r.aliases)
      if (lower(a) == l) return r;
  std::string known;
  for (const auto& r : all_recipes()) known += (known.empty() ? "" : ", ") + r.id;
  input_error("unknown quantization '" + id + "' (known: " + known + ")");
}

std::vector<GgmlType> tensor_types(const QuantRecipe& r, const ModelSpec& m, const std::vector<TensorInfo>& ts) {
  std::map<TensorRole, int> count, seen;
  for (const auto& t : ts) ++count[t.role];
  std::vector<GgmlType> out;
  out.reserve(ts.size());
  for (const auto& t : ts) {
    const int idx = seen[t.role]++;
    out.push_back(type_by_rules(r, m, t, idx, count[t.role]));
  }
  return out;
}

GgmlType tensor_type(const QuantRecipe& r, const ModelSpec& m, const TensorInfo& t) {
  const auto l = weight_layout(m, r);
  for (std::size_t i = 0; i < l->tensors.size(); ++i)
    if (l->tensors[i].name == t.name) return l->types[i];
  input_error("tensor " + t.name + " is not a weight of model " + m.id);
}

i64 tensor_storage_bytes(GgmlType t, const TensorInfo& ti) {
  const auto& info = type_info(t);
  if (info.gguf) return tensor_bytes(t, ti.n_elements());
  // GPU formats: exact bits, rounded up to whole bytes per tensor.
  return static_cast<i64>(std::ceil(ti.n_elements() * info.bits_per_weight() / 8.0));
}

namespace {

std::shared_ptr<const WeightLayout> compute_layout(const ModelSpec& m, const QuantRecipe& r) {
  auto l = std::make_shared<WeightLayout>();
  l->tensors = weight_tensors(m);
  l->types = tensor_types(r, m, l->tensors);
  const auto& ts = l->tensors;
  WeightBytes& w = l->totals;
  w.layer_bytes.assign(m.n_layer, 0.0);
  w.layer_expert_bytes.assign(m.n_layer, 0.0);
  // GGUF layout (ggml docs/gguf.md): header (magic, version, n_tensors, n_kv: 24 B), metadata,
  // tensor infos, padding to general.alignment (32), tensor data each starting at a 32-byte
  // aligned offset.
  constexpr double kAlign = 32;
  double params = 0, data = 0, infos = 0;
  l->bytes.reserve(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    const i64 stored = tensor_storage_bytes(l->types[i], t);
    l->bytes.push_back(stored);
    const double b = static_cast<double>(stored);
    params += static_cast<double>(t.n_elements());
    w.total_bytes += b;
    if (t.layer >= 0) w.layer_bytes[t.layer] += b;
    if (t.is_expert()) {
      w.experts_bytes += b;
      w.layer_expert_bytes[t.layer] += b;
    }
    if (t.role == TensorRole::PleTable) w.ple_table_bytes += b;
    if (t.role == TensorRole::TokenEmbd) w.token_embd_bytes += b;
    if (t.role == TensorRole::Output) w.output_bytes += b;
    data += std::ceil(b / kAlign) * kAlign;
    infos += 8 + t.name.size() + 4 + 8 * 3 + 4 + 8;  // name, n_dims, ne[], type, offset
  }
  w.bits_per_weight = params > 0 ? w.total_bytes * 8.0 / params : 0.0;
  // Metadata is dominated by the tokenizer: per token a string (8 B length + ~7 B text), a f32
  // score and an i32 type: about 23 B per vocabulary entry, plus ~2 KB of hyper-parameters. An
  // estimate (<0.3% of any file here).
  const double metadata = 23.0 * static_cast<double>(m.n_vocab) + 2048;
  l->gguf_file_bytes = 24 + metadata + infos + kAlign + data;
  return l;
}

}  // namespace

std::shared_ptr<const WeightLayout> weight_layout(const ModelSpec& m, const QuantRecipe& r) {
  // keyed by content, never by id: a spec or recipe edited in memory (a test, a user's file with
  // a known id) gets its own entry
  static std::mutex mu;
  // (shape hash, rules hash, recipe id): content hashes, 128 bits in all
  using Key = std::tuple<std::uint64_t, std::size_t, std::string>;
  static std::map<Key, std::shared_ptr<const WeightLayout>> cache;
  Key key{weight_shape_hash(m), std::hash<json>{}(r.rules), r.id};
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto l = compute_layout(m, r);  // may throw (a recipe naming an unknown type): nothing cached
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 512) cache.clear();  // bounded: distinct (shape, recipe) pairs are few in practice
  cache.emplace(std::move(key), l);
  return l;
}

WeightBytes weight_bytes(const ModelSpec& m, const QuantRecipe& r) { return weight_layout(m, r)->totals; }

double gguf_file_bytes(const ModelSpec& m, const QuantRecipe& r) { return weight_layout(m, r)->gguf_file_bytes; }

const std::vector<KvType>& all_kv_types() { return db().kv_types; }

bool kv_type_is_block_quantized(const std::string& id) { return id.rfind("q", 0) == 0 || id.rfind("iq", 0) == 0; }

const KvType& find_kv_type(const std::string& id) {
  const std::string l = lower(id);
  for (const auto& k : all_kv_types())
    if (k.id == l) return k;
  std::string known;
  for (const auto& k : all_kv_types()) known += (known.empty() ? "" : ", ") + k.id;
  input_error("unknown KV-cache type '" + id + "' (known: " + known + ")");
}

}  // namespace gs
