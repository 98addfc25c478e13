// Weight formats, llama.cpp recipes and predicted file sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "model.h"
#include "quant.h"

using namespace gs;

TEST_CASE("bits per weight follow from the GGUF block layouts") {
  struct Row { const char* name; double bpw; };
  // Hand-computed from ggml-common.h: e.g. q4_K = (2+2+12+128) B / 256 = 4.5.
  const Row rows[] = {{"f32", 32},      {"f16", 16},     {"bf16", 16},       {"q8_0", 8.5},     {"q4_0", 4.5},
                      {"q4_1", 5.0},    {"q5_0", 5.5},   {"q5_1", 6.0},      {"q2_k", 2.625},   {"q3_k", 3.4375},
                      {"q4_k", 4.5},    {"q5_k", 5.5},   {"q6_k", 6.5625},   {"q8_k", 9.125},   {"iq4_xs", 4.25},
                      {"iq4_nl", 4.5},  {"mxfp4", 4.25}, {"iq2_xxs", 2.0625}, {"iq3_xxs", 3.0625}, {"fp8", 8},
                      {"int4_awq", 4.15625}, {"nvfp4", 4.5}, {"mxfp8", 8.25}};
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto t = type_from_name(r.name);
    REQUIRE(t);
    CHECK(type_info(*t).bits_per_weight() == doctest::Approx(r.bpw).epsilon(1e-12));
  }
}

TEST_CASE("every type's block fields add up to its block size") {
  for (const auto& t : all_types()) {
    CAPTURE(t.name);
    int bits = 0;
    for (const auto& f : t.fields) bits += f.bits;
    CHECK(bits == 8 * t.block_bytes);
  }
}

TEST_CASE("tensor bytes are whole blocks; partial blocks are an error") {
  CHECK(tensor_bytes(GgmlType::Q4_0, 64) == 36);
  CHECK(tensor_bytes(GgmlType::Q6_K, 512) == 420);
  CHECK_THROWS_AS(tensor_bytes(GgmlType::Q4_K, 300), InputError);
}

static std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) { cells.push_back(cell); cell.clear(); }
      else cell += c;
    }
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

TEST_CASE("predicted GGUF sizes are within 3% of published files") {
  const auto rows = read_csv(std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/published-gguf-sizes.csv");
  REQUIRE(rows.size() >= 15);
  for (const auto& r : rows) {
    CAPTURE(r[0]);
    CAPTURE(r[1]);
    const double published = std::stod(r[2]);
    const double predicted = gguf_file_bytes(find_model(r[0]), find_recipe(r[1]));
    CHECK(std::fabs(predicted - published) / published < 0.03);
  }
}

static GgmlType type_of(const ModelSpec& m, const QuantRecipe& q, const std::string& name) {
  const auto ts = weight_tensors(m);
  const auto types = tensor_types(q, m, ts);
  for (std::size_t i = 0; i < ts.size(); ++i)
    if (ts[i].name == name) return types[i];
  FAIL("no tensor " << name);
  return GgmlType::F32;
}

TEST_CASE("Q4_K_M gives each Gemma 4 tensor llama.cpp's type") {
  const ModelSpec e2b = find_model("gemma4-e2b");
  const QuantRecipe& q = find_recipe("q4_k_m");
  CHECK(type_of(e2b, q, "token_embd.weight") == GgmlType::Q6_K);           // tied: quantized as the output head
  CHECK(type_of(e2b, q, "per_layer_token_embd.weight") == GgmlType::Q6_K);
  CHECK(type_of(e2b, q, "per_layer_model_proj.weight") == GgmlType::F16);
  CHECK(type_of(e2b, q, "blk.0.attn_norm.weight") == GgmlType::F32);
  CHECK(type_of(e2b, q, "blk.0.attn_q.weight") == GgmlType::Q4_K);
  // use_more_bits(i, n) over the 35 ffn_down tensors: i < 4, i >= 30, (i - 4) % 3 == 2.
  CHECK(type_of(e2b, q, "blk.0.ffn_down.weight") == GgmlType::Q6_K);
  CHECK(type_of(e2b, q, "blk.4.ffn_down.weight") == GgmlType::Q4_K);
  CHECK(type_of(e2b, q, "blk.6.ffn_down.weight") == GgmlType::Q6_K);
  CHECK(type_of(e2b, q, "blk.34.ffn_down.weight") == GgmlType::Q6_K);

  const ModelSpec moe = find_model("gemma4-26b-a4b");
  // Expert down projections have rows of 704 = 2.75 x 256: llama.cpp falls back Q4_K -> Q5_0, Q6_K -> Q8_0.
  CHECK(type_of(moe, q, "blk.4.ffn_down_exps.weight") == GgmlType::Q5_0);
  CHECK(type_of(moe, q, "blk.0.ffn_down_exps.weight") == GgmlType::Q8_0);
  CHECK(type_of(moe, q, "blk.4.ffn_gate_up_exps.weight") == GgmlType::Q4_K);
  CHECK(type_of(moe, q, "blk.4.ffn_gate_inp.weight") == GgmlType::F32);  // routers are never quantized
}

TEST_CASE("weight bytes split into layers, experts and the PLE table") {
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const WeightBytes w = weight_bytes(m, find_recipe("q8_0"));
  double layers = 0, experts = 0;
  for (double b : w.layer_bytes) layers += b;
  for (double b : w.layer_expert_bytes) experts += b;
  CHECK(experts == doctest::Approx(w.experts_bytes));
  // 128 experts x 3 x 2816 x 704 weights per layer at 34/32 bytes each.
  CHECK(w.layer_expert_bytes[0] == 128.0 * 3 * 2816 * 704 * 34 / 32);
  CHECK(w.total_bytes == doctest::Approx(layers + w.token_embd_bytes + 2816 * 4));
  CHECK(w.ple_table_bytes == 0);
  const WeightBytes e2b = weight_bytes(find_model("gemma4-e2b"), find_recipe("q8_0"));
  CHECK(e2b.ple_table_bytes == 262144.0 * 35 * 256 * 34 / 32);
}

TEST_CASE("unknown recipes and KV types are input errors listing what is known") {
  CHECK_THROWS_AS(find_recipe("q4_k_xl"), InputError);
  CHECK_THROWS_AS(find_kv_type("q3_k"), InputError);
  CHECK(find_kv_type("q8_0").bytes_per_element == doctest::Approx(34.0 / 32));
  CHECK(find_kv_type("q4_0").bytes_per_element == doctest::Approx(18.0 / 32));
}

// A naive total: every tensor of the list, typed by the recipe, summed without the cache.
static double naive_total_bytes(const ModelSpec& m, const QuantRecipe& r) {
  const auto ts = weight_tensors(m);
  const auto types = tensor_types(r, m, ts);
  double b = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) b += static_cast<double>(tensor_storage_bytes(types[i], ts[i]));
  return b;
}

TEST_CASE("the weight layout cache answers for what a spec and a recipe hold, not their ids") {
  const ModelSpec base = find_model("gemma4-e4b");
  const QuantRecipe& q4 = find_recipe("q4_k_m");
  CHECK(weight_bytes(base, q4).total_bytes == naive_total_bytes(base, q4));
  CHECK(weight_layout(base, q4) == weight_layout(base, q4));  // computed once

  // the same id with other shapes: each edit is its own entry, with its own bytes
  std::vector<ModelSpec> edits(8, base);
  edits[0].n_layer -= 1, edits[0].layer_type.pop_back(), edits[0].kv_source.pop_back(), edits[0].ffn_width.pop_back(),
      edits[0].moe_layer.pop_back();
  edits[1].n_embd += 256;
  edits[2].ffn_width[3] += 512;
  edits[3].kv_source[30] = 30;  // a KV-shared layer that owns its cache: k and v weights appear
  edits[4].tied_embeddings = false;
  edits[5].ple.dim = 0;
  edits[6].global.n_head_kv *= 2;
  edits[7].qk_norm = !edits[7].qk_norm;
  for (std::size_t i = 0; i < edits.size(); ++i) {
    CAPTURE(i);
    CHECK(weight_shape_hash(edits[i]) != weight_shape_hash(base));
    CHECK(weight_bytes(edits[i], q4).total_bytes == naive_total_bytes(edits[i], q4));
    CHECK(gguf_file_bytes(edits[i], q4) != gguf_file_bytes(base, q4));
  }
  // fields the weights do not depend on leave the entry shared
  ModelSpec renamed = base;
  renamed.name = "another name";
  renamed.n_ctx_max /= 2;
  CHECK(weight_layout(renamed, q4) == weight_layout(base, q4));

  // a recipe edited in memory under the same id gets its own types
  QuantRecipe all_q8 = q4;
  all_q8.rules["rules"] = json::array();
  all_q8.rules["default"] = "q8_0";
  CHECK(weight_bytes(base, all_q8).total_bytes == naive_total_bytes(base, all_q8));
  CHECK(weight_bytes(base, all_q8).total_bytes > weight_bytes(base, q4).total_bytes);
}
