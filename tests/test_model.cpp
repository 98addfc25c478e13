// Model descriptions: parameter counts from the config arithmetic, per-layer
// accessors, and clear errors for malformed model files.
#include <doctest/doctest.h>

#include <cmath>

#include "model.h"
#include "tensors.h"

using namespace gs;

static double B(double x) { return x * 1e9; }

TEST_CASE("Gemma 4 parameter counts match the config arithmetic") {
  // Targets computed by hand from the Hugging Face configs (models/gemma4-*.json), to 0.01B.
  struct Row { const char* id; double total, effective, active; };
  const Row rows[] = {
      {"gemma4-31b", 30.70, 30.70, 30.70},
      {"gemma4-26b-a4b", 25.23, 25.23, 3.82},
      {"gemma4-e2b", 4.63, 2.28, 4.63},
      {"gemma4-e4b", 7.46, 4.64, 7.46},
  };
  for (const auto& r : rows) {
    CAPTURE(r.id);
    const ParamCounts p = count_params(find_model(r.id));
    CHECK(std::fabs(p.total - B(r.total)) < B(0.005));
    CHECK(std::fabs(p.effective - B(r.effective)) < B(0.005));
    CHECK(std::fabs(p.active - B(r.active)) < B(0.005));
  }
}

TEST_CASE("E2B decoder layers hold exactly the hand-computed matrix weights") {
  // Layers 0-14: 12 sliding (q,o 1536x2048; k,v 1536x256; FFN 3x1536x6144; PLE 2x1536x256)
  // and 3 global (q,o 1536x4096; k,v 1536x512); layers 15-34 are KV-shared (no k,v) with
  // FFN width 12288: 16 sliding + 4 global. Sum = 1,863,057,408 (no norms).
  const ModelSpec m = find_model("gemma4-e2b");
  double matrices = 0;
  for (const auto& t : weight_tensors(m))
    if (t.layer >= 0 && t.is_matrix()) matrices += static_cast<double>(t.n_elements());
  CHECK(matrices == 1863057408.0);
}

TEST_CASE("comparison models are within 0.5% of their published parameter counts") {
  for (const auto& m : all_models()) {
    CAPTURE(m.id);
    REQUIRE(m.published.is_object());
    REQUIRE(m.published.contains("params_total"));
    const double published = m.published.at("params_total").get<double>();
    const double total = count_params(m).total;
    CHECK(std::fabs(total - published) / published < 0.005);
  }
  // Active counts where the publisher counts them the same way (embedding and head included).
  for (const char* id : {"gemma4-26b-a4b", "mixtral-8x7b"}) {
    CAPTURE(id);
    const ModelSpec m = find_model(id);
    const double published = m.published.at("params_active").get<double>();
    CHECK(std::fabs(count_params(m).active - published) / published < 0.005);
  }
}

TEST_CASE("per-layer accessors follow the Gemma 4 configs") {
  const ModelSpec e2b = find_model("gemma4-e2b");
  CHECK(e2b.n_layer == 35);
  CHECK(e2b.n_global_layers() == 7);
  CHECK(e2b.is_sliding(0));
  CHECK_FALSE(e2b.is_sliding(4));
  CHECK_FALSE(e2b.is_sliding(34));  // last layer is always global
  CHECK(e2b.owns_kv(14));
  CHECK_FALSE(e2b.owns_kv(15));
  CHECK(e2b.kv_source[15] == 13);  // sliding shared layers read layer 13
  CHECK(e2b.kv_source[19] == 14);  // global shared layers read layer 14
  CHECK(e2b.ffn(14) == 6144);
  CHECK(e2b.ffn(15) == 12288);    // double-wide MLP of KV-shared layers
  CHECK(e2b.head_dim(0) == 256);
  CHECK(e2b.head_dim(4) == 512);
  CHECK(e2b.has_ple());

  const ModelSpec moe = find_model("gemma4-26b-a4b");
  CHECK(moe.is_moe(0));
  CHECK(moe.moe.n_expert == 128);
  CHECK(moe.moe.n_expert_used == 8);
  CHECK(moe.k_eq_v(5));
  CHECK_FALSE(moe.k_eq_v(4));
  CHECK(moe.n_head_kv(4) == 8);
  CHECK(moe.n_head_kv(5) == 2);
  CHECK(moe.sliding_window == 1024);

  const ModelSpec d31 = find_model("gemma4-31b");
  CHECK(d31.n_ctx_max == 262144);
  CHECK(d31.n_global_layers() == 10);
}

static json minimal_model() {
  return json::parse(R"({
    "schema_version": 1, "id": "t", "arch": "llama", "hidden_size": 64, "num_layers": 2,
    "vocab_size": 100, "context_length": 1024, "tie_word_embeddings": false,
    "attention": {"global": {"num_heads": 4, "num_kv_heads": 2, "head_dim": 16}},
    "ffn": {"width": 128}, "sources": {"all": "test"}})");
}

TEST_CASE("a minimal llama-style model counts embedding, layers and head") {
  const ModelSpec m = parse_model(minimal_model(), "mem.json");
  // embd 64x100, output 64x100, per layer: q 64x64, k,v 64x32, o 64x64, ffn 3x64x128, 2 norms x64; final norm 64.
  const double per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128 + 2 * 64;
  CHECK(count_params(m).total == 6400 * 2 + 2 * per_layer + 64);
}

TEST_CASE("malformed model files give errors naming the file and the field") {
  SUBCASE("missing key") {
    json j = minimal_model();
    j.erase("hidden_size");
    CHECK_THROWS_WITH_AS(parse_model(j, "m.json"), "m.json: /hidden_size: required key missing", InputError);
  }
  SUBCASE("wrong type") {
    json j = minimal_model();
    j["num_layers"] = "two";
    CHECK_THROWS_WITH_AS(parse_model(j, "m.json"), "m.json: /num_layers: expected a number, found string", InputError);
  }
  SUBCASE("negative width") {
    json j = minimal_model();
    j["hidden_size"] = -5;
    CHECK_THROWS_AS(parse_model(j, "m.json"), InputError);
  }
  SUBCASE("layer_types of the wrong length") {
    json j = minimal_model();
    j["attention"]["layer_types"] = "GGG";
    CHECK_THROWS_WITH_AS(parse_model(j, "m.json"),
                         "m.json: /attention/layer_types: has 3 entries, expected num_layers = 2", InputError);
  }
  SUBCASE("a KV source that is a later layer") {
    json j = minimal_model();
    j["kv_source"] = {1, 1};
    CHECK_THROWS_AS(parse_model(j, "m.json"), InputError);
  }
  SUBCASE("no sources") {
    json j = minimal_model();
    j.erase("sources");
    CHECK_THROWS_AS(parse_model(j, "m.json"), InputError);
  }
  SUBCASE("unknown id") { CHECK_THROWS_AS(find_model("gemma4-99b"), InputError); }
  SUBCASE("malformed JSON file") {
    CHECK_THROWS_AS(load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/bad/truncated.json"), InputError);
  }
}
