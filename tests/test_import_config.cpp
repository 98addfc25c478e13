// Tests for sim/import_config: Hugging Face config.json -> models/ schema.
// The check that matters: an imported public config describes the same decoder as the
// bundled, hand-written model file (same per-layer structure, same parameter counts).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "import_config.h"
#include "model.h"

namespace {

const std::string kSrc = GEMMASIM_SOURCE_DIR;

std::string hf_path(const std::string& name) { return kSrc + "/tests/data/hf-configs/" + name + ".json"; }

gs::ModelSpec import_spec(const gs::json& hf, const std::string& file, const std::string& id = "") {
  gs::ImportOptions opt;
  opt.id = id;
  const auto out = gs::import_hf_config(hf, file, opt);
  return gs::parse_model(gs::json::parse(out.dump()), file);
}

gs::ModelSpec import_file(const std::string& name) {
  const std::string p = hf_path(name);
  return import_spec(gs::read_json_file(p), p);
}

gs::ModelSpec bundled(const std::string& id) { return gs::load_model_file(kSrc + "/models/" + id + ".json"); }

void check_same_attn(const gs::AttnSpec& a, const gs::AttnSpec& b) {
  CHECK(a.n_head == b.n_head);
  CHECK(a.n_head_kv == b.n_head_kv);
  CHECK(a.head_dim == b.head_dim);
  CHECK(a.rope_theta == doctest::Approx(b.rope_theta));
  CHECK(a.rope_fraction == doctest::Approx(b.rope_fraction));
  CHECK(a.k_eq_v == b.k_eq_v);
}

gs::json llama_cfg() { return gs::read_json_file(hf_path("llama-3.1-8b")); }
gs::json gemma4_cfg() { return gs::read_json_file(hf_path("gemma4-31b")); }

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("an imported public config describes the same decoder as the bundled model file") {
  for (const char* id : {"llama-2-7b", "llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "mixtral-8x7b", "gemma-3-4b",
                         "gemma-3-27b", "gemma4-e2b", "gemma4-26b-a4b", "gemma4-31b"}) {
    SUBCASE(id) {
      const gs::ModelSpec im = import_file(id), ref = bundled(id);
      CHECK(im.arch == ref.arch);
      CHECK(im.n_embd == ref.n_embd);
      CHECK(im.n_layer == ref.n_layer);
      CHECK(im.n_vocab == ref.n_vocab);
      CHECK(im.n_ctx_max == ref.n_ctx_max);
      CHECK(im.tied_embeddings == ref.tied_embeddings);
      CHECK(im.sliding_window == ref.sliding_window);
      CHECK(im.layer_type == ref.layer_type);
      CHECK(im.kv_source == ref.kv_source);
      CHECK(im.ffn_width == ref.ffn_width);
      CHECK(im.moe_layer == ref.moe_layer);
      CHECK(im.moe.n_expert == ref.moe.n_expert);
      CHECK(im.moe.n_expert_used == ref.moe.n_expert_used);
      CHECK(im.moe.expert_ffn == ref.moe.expert_ffn);
      CHECK(im.ple.dim == ref.ple.dim);
      CHECK(im.qk_norm == ref.qk_norm);
      CHECK(im.attn_bias == ref.attn_bias);
      CHECK(im.attn_sinks == ref.attn_sinks);
      CHECK(im.post_norms == ref.post_norms);
      CHECK(im.attn_scale == doctest::Approx(ref.attn_scale));
      CHECK(im.final_logit_softcap == doctest::Approx(ref.final_logit_softcap));
      check_same_attn(im.global, ref.global);
      if (ref.n_sliding_layers() > 0) check_same_attn(im.sliding, ref.sliding);

      const gs::ParamCounts a = gs::count_params(im), b = gs::count_params(ref);
      CHECK(a.total == b.total);
      CHECK(a.effective == b.effective);
      CHECK(a.active == b.active);
    }
  }
}

TEST_CASE("imported Gemma 4 configs carry KV sharing, double-wide FFN, PLE, K=V and MoE") {
  const gs::ModelSpec e2b = import_file("gemma4-e2b");
  CHECK(e2b.owns_kv(14));
  CHECK_FALSE(e2b.owns_kv(15));
  CHECK(e2b.kv_source[15] == 13);  // sliding shared layer reads the last non-shared sliding layer
  CHECK(e2b.kv_source[34] == 14);  // global shared layer reads layer 14
  CHECK(e2b.ffn(14) == 6144);
  CHECK(e2b.ffn(15) == 12288);
  CHECK(e2b.ple.dim == 256);
  CHECK(e2b.head_dim(4) == 512);
  CHECK(e2b.head_dim(0) == 256);

  const gs::ModelSpec m26 = import_file("gemma4-26b-a4b");
  CHECK(m26.k_eq_v(5));
  CHECK_FALSE(m26.k_eq_v(0));
  CHECK(m26.n_head_kv(5) == 2);
  CHECK(m26.n_head_kv(0) == 8);
  CHECK(m26.is_moe(0));
  CHECK(m26.moe.dense_ffn == 2112);
  CHECK(m26.moe.gate_up_fused);
}

TEST_CASE("fields a config omits take the architecture's defaults and are listed") {
  const std::string p = hf_path("gemma-3-4b");
  const auto out = gs::import_hf_config(gs::read_json_file(p), p);
  const auto& used = out["sources"]["defaults_used"];
  CHECK(used["num_attention_heads"] == 8);
  CHECK(used["head_dim"] == 256);
  CHECK(used["vocab_size"] == 262208);
  CHECK_FALSE(used.contains("hidden_size"));  // read from the file
  CHECK(out["sources"]["imported_from"] == p);

  // Llama 2 has no rope_theta: the LlamaConfig default 10000 applies.
  const gs::ModelSpec l2 = import_file("llama-2-7b");
  CHECK(l2.global.rope_theta == doctest::Approx(10000.0));
}

TEST_CASE("the model id comes from --id, _name_or_path or the file name") {
  const gs::json hf = llama_cfg();
  CHECK(gs::default_model_id(hf, "x/anything.json") == "llama-3.1-8b");
  gs::json anon = hf;
  anon.erase("_name_or_path");
  CHECK(gs::default_model_id(anon, "/tmp/My-Model/config.json") == "my-model");
  CHECK(gs::default_model_id(anon, "/tmp/some-thing.json") == "some-thing");
  CHECK(import_spec(hf, "f.json", "custom").id == "custom");
}

TEST_CASE("malformed configs are rejected with the file and field named") {
  const std::string f = "bad-config.json";
  auto throws_with = [&](const gs::json& j, const std::string& what) {
    CHECK_THROWS_WITH_AS(gs::import_hf_config(j, f), doctest::Contains(what.c_str()), gs::InputError);
  };
  SUBCASE("not an object") { throws_with(gs::json::array({1, 2}), "bad-config.json"); }
  SUBCASE("no architectures") {
    gs::json j = llama_cfg();
    j.erase("architectures");
    throws_with(j, "/architectures: required key missing");
  }
  SUBCASE("unknown architecture") {
    gs::json j = llama_cfg();
    j["architectures"] = {"BertForMaskedLM"};
    throws_with(j, "unsupported architecture 'BertForMaskedLM'");
  }
  SUBCASE("missing hidden_size") {
    gs::json j = llama_cfg();
    j.erase("hidden_size");
    throws_with(j, "/hidden_size: required key missing");
  }
  SUBCASE("wrong type") {
    gs::json j = llama_cfg();
    j["num_hidden_layers"] = "32";
    throws_with(j, "/num_hidden_layers: expected a number");
  }
  SUBCASE("negative value") {
    gs::json j = llama_cfg();
    j["num_attention_heads"] = -32;
    throws_with(j, "/num_attention_heads: value -32 out of range");
  }
  SUBCASE("fractional value") {
    gs::json j = llama_cfg();
    j["intermediate_size"] = 14336.5;
    throws_with(j, "/intermediate_size: expected an integer");
  }
  SUBCASE("heads not a multiple of KV heads") {
    gs::json j = llama_cfg();
    j["num_key_value_heads"] = 5;
    throws_with(j, "not a multiple of the KV heads 5");
  }
  SUBCASE("Gemma 4 wrapper without text_config") {
    gs::json j = gemma4_cfg();
    j.erase("text_config");
    throws_with(j, "/text_config: required key missing");
  }
  SUBCASE("layer_types of the wrong length") {
    gs::json j = gemma4_cfg();
    j["text_config"]["layer_types"].erase(0);
    throws_with(j, "/text_config/layer_types: has 59 entries, expected num_hidden_layers = 60");
  }
  SUBCASE("unknown layer type") {
    gs::json j = gemma4_cfg();
    j["text_config"]["layer_types"][3] = "chunked_attention";
    throws_with(j, "/text_config/layer_types/3: unknown layer type 'chunked_attention'");
  }
  SUBCASE("MoE enabled without experts") {
    gs::json j = gemma4_cfg();
    j["text_config"]["enable_moe_block"] = true;
    throws_with(j, "/text_config/num_experts: required key missing");
  }
  SUBCASE("more shared layers than layers") {
    gs::json j = gemma4_cfg();
    j["text_config"]["num_kv_shared_layers"] = 60;
    throws_with(j, "/text_config/num_kv_shared_layers: value 60 out of range");
  }
}

TEST_CASE("gemmasim import-config writes a loadable file, and fails with exit code 2 on bad input") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gs_import_" + std::to_string(std::rand()));
  fs::create_directories(dir);
  const std::string out = (dir / "imported.json").string(), err = (dir / "err.txt").string();
  const std::string bin = GEMMASIM_BINARY;

  const std::string ok = bin + " import-config " + hf_path("qwen3-30b-a3b") + " --id qwen-test -o " + out + " 2>" + err;
  REQUIRE(std::system(ok.c_str()) == 0);
  const gs::ModelSpec m = gs::load_model_file(out);
  CHECK(m.id == "qwen-test");
  CHECK(gs::count_params(m).total == gs::count_params(bundled("qwen3-30b-a3b")).total);
  fs::remove(out);

  for (const std::string& bad : {hf_path("malformed"), hf_path("does-not-exist")}) {
    const std::string cmd = bin + " import-config " + bad + " -o " + out + " 2>" + err;
    const int rc = std::system(cmd.c_str());
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 2);
    const std::string msg = slurp(err);
    CHECK(msg.find(bad) != std::string::npos);
    CHECK(std::count(msg.begin(), msg.end(), '\n') == 1);  // one line
    CHECK_FALSE(fs::exists(out));                           // nothing half-written
  }
  fs::remove_all(dir);
}
