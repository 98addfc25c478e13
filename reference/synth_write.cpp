// synth_write.cpp: gemma4 GGUF metadata (the keys llama.cpp's gemma4 loader
// reads, with the value types it expects), a minimal placeholder vocabulary, and
// the streaming write of the synthetic tensors.
#include <cmath>
#include <cstdio>
#include <vector>

#include "error.h"
#include "gguf_write.h"
#include "qmatrix.h"
#include "synth.h"

namespace gs::ref {
namespace {

using gguf::ValueType;

template <class F>
GgufArray per_layer(const ModelSpec& m, F f) {
  GgufArray a;
  for (int il = 0; il < m.n_layer; ++il) a.emplace_back(static_cast<std::int64_t>(f(il)));
  return a;
}

bool all_same(const GgufArray& a) {
  for (const auto& v : a) {
    if (v != a.front()) return false;
  }
  return true;
}

// u32 when every layer agrees, else an i32 array per layer (llama.cpp get_key_or_arr).
void set_u32_or_array(GgufWriter& w, const std::string& key, const GgufArray& a) {
  if (all_same(a)) w.set_u32(key, static_cast<std::uint32_t>(std::get<std::int64_t>(a.front())));
  else w.set_array(key, ValueType::I32, a);
}

void set_model_metadata(GgufWriter& w, const ModelSpec& m, const QuantRecipe& r) {
  if (m.arch != "gemma4") input_error(m.file + ": synth writes gemma4 models only (arch is '" + m.arch + "')");
  const std::string a = "gemma4.";
  w.set_string("general.architecture", "gemma4");
  w.set_string("general.name", m.name + " (gemmasim synthetic)");
  w.set_u32("general.file_type", static_cast<std::uint32_t>(std::max(0, r.ftype)));
  w.set_u32("general.quantization_version", 2);
  w.set_u32(a + "context_length", static_cast<std::uint32_t>(m.n_ctx_max));
  w.set_u32(a + "embedding_length", static_cast<std::uint32_t>(m.n_embd));
  w.set_u32(a + "block_count", static_cast<std::uint32_t>(m.n_layer));
  set_u32_or_array(w, a + "feed_forward_length", per_layer(m, [&](int il) { return m.ffn(il); }));
  set_u32_or_array(w, a + "attention.head_count", per_layer(m, [&](int il) { return m.n_head(il); }));
  set_u32_or_array(w, a + "attention.head_count_kv", per_layer(m, [&](int il) { return m.n_head_kv(il); }));
  w.set_u32(a + "attention.key_length", static_cast<std::uint32_t>(m.global.head_dim));
  w.set_u32(a + "attention.value_length", static_cast<std::uint32_t>(m.global.head_dim));
  w.set_u32(a + "attention.key_length_swa", static_cast<std::uint32_t>(m.sliding.head_dim));
  w.set_u32(a + "attention.value_length_swa", static_cast<std::uint32_t>(m.sliding.head_dim));
  w.set_u32(a + "attention.sliding_window", static_cast<std::uint32_t>(m.sliding_window));
  GgufArray swa;
  for (int il = 0; il < m.n_layer; ++il) swa.emplace_back(m.is_sliding(il));
  w.set_array(a + "attention.sliding_window_pattern", ValueType::BOOL, swa);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(m.norm_eps));
  w.set_f32(a + "rope.freq_base", static_cast<float>(m.global.rope_theta));
  w.set_f32(a + "rope.freq_base_swa", static_cast<float>(m.sliding.rope_theta));
  w.set_u32(a + "rope.dimension_count", static_cast<std::uint32_t>(m.global.head_dim));
  w.set_u32(a + "rope.dimension_count_swa", static_cast<std::uint32_t>(m.sliding.head_dim));
  if (m.final_logit_softcap > 0) w.set_f32(a + "final_logit_softcapping", static_cast<float>(m.final_logit_softcap));
  w.set_u32(a + "embedding_length_per_layer_input", static_cast<std::uint32_t>(m.ple.dim));
  // llama.cpp: the last shared_kv_layers layers read an earlier layer's cache.
  int shared = 0;
  for (int il = 0; il < m.n_layer; ++il) shared += m.owns_kv(il) ? 0 : 1;
  for (int il = m.n_layer - shared; il < m.n_layer; ++il) {
    if (m.owns_kv(il)) input_error(m.file + ": KV-shared layers must be the last ones for llama.cpp's gemma4 layout");
  }
  w.set_u32(a + "attention.shared_kv_layers", static_cast<std::uint32_t>(shared));
  if (m.moe.n_expert > 0) {
    w.set_u32(a + "expert_count", static_cast<std::uint32_t>(m.moe.n_expert));
    w.set_u32(a + "expert_used_count", static_cast<std::uint32_t>(m.moe.n_expert_used));
    w.set_u32(a + "expert_feed_forward_length", static_cast<std::uint32_t>(m.moe.expert_ffn));
  }
}

// Placeholder SentencePiece-style vocabulary of V tokens: <pad> <eos> <bos> <unk>,
// the 256 byte tokens <0xXX> when V allows, then "tok_N".
void set_vocab(GgufWriter& w, const ModelSpec& m) {
  const i64 V = m.n_vocab;
  if (V < 4) input_error(m.file + ": vocab_size must be at least 4 for a GGUF vocabulary");
  GgufArray tokens, scores, types;
  tokens.reserve(static_cast<std::size_t>(V));
  scores.reserve(static_cast<std::size_t>(V));
  types.reserve(static_cast<std::size_t>(V));
  const char* special[] = {"<pad>", "<eos>", "<bos>", "<unk>"};
  const bool bytes = V >= 4 + 256;
  for (i64 t = 0; t < V; ++t) {
    std::string s;
    int type = 1;  // normal
    if (t < 4) {
      s = special[t];
      type = t == 3 ? 2 : 3;  // unknown / control
    } else if (bytes && t < 4 + 256) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(t - 4));
      s = buf;
      type = 6;  // byte
    } else {
      s = "tok_" + std::to_string(t);
    }
    tokens.emplace_back(std::move(s));
    scores.emplace_back(-static_cast<double>(t));
    types.emplace_back(static_cast<std::int64_t>(type));
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_array("tokenizer.ggml.tokens", ValueType::STRING, tokens);
  w.set_array("tokenizer.ggml.scores", ValueType::F32, scores);
  w.set_array("tokenizer.ggml.token_type", ValueType::I32, types);
  w.set_u32("tokenizer.ggml.padding_token_id", 0);
  w.set_u32("tokenizer.ggml.eos_token_id", 1);
  w.set_u32("tokenizer.ggml.bos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 3);
}

bool has_global_layer(const ModelSpec& m) { return m.n_global_layers() > 0; }

}  // namespace

std::uint64_t synth_gguf(const ModelSpec& m, const SynthOptions& o, const std::string& path) {
  const auto plan = synth_plan(m, o);
  GgufWriter w;
  set_model_metadata(w, m, find_recipe(o.quant));
  set_vocab(w, m);
  for (const auto& t : plan) {
    GgufWriteTensor wt{t.info.name, t.type, {t.info.ne[0], t.info.ne[1], t.info.ne[2], 1}, 1};
    wt.n_dims = t.info.ne[2] > 1 ? 3 : t.info.ne[1] > 1 ? 2 : 1;
    w.add_tensor(wt);
  }
  // rope_freqs for proportional RoPE on global layers: pairs beyond the rotated fraction get 1e30.
  const bool rope_freqs = has_global_layer(m);
  const std::int64_t n_pairs = m.global.head_dim / 2;
  const std::int64_t n_rot_pairs = static_cast<std::int64_t>(std::llround(m.global.rope_fraction * m.global.head_dim)) / 2;
  if (rope_freqs) w.add_tensor({"rope_freqs.weight", GgmlType::F32, {n_pairs, 1, 1, 1}, 1});

  std::vector<float> vals;
  w.write(path, [&](std::size_t i, std::int64_t r0, std::int64_t r1, std::uint8_t* dst) {
    if (i >= plan.size()) {  // rope_freqs
      auto* f = reinterpret_cast<float*>(dst);
      for (std::int64_t p = 0; p < n_pairs; ++p) f[p] = p < n_rot_pairs ? 1.0f : 1e30f;
      return;
    }
    const auto& t = plan[i];
    const std::int64_t ne0 = t.info.ne[0];
    vals.resize(static_cast<std::size_t>((r1 - r0) * ne0));
    synth_rows(m, o, plan, i, r0, r1, vals.data());
    const std::size_t rb = w.tensors()[i].row_bytes();
#pragma omp parallel for schedule(static) if (r1 - r0 > 1)
    for (std::int64_t r = r0; r < r1; ++r) {
      quantize_row(t.type, vals.data() + (r - r0) * ne0, dst + (r - r0) * rb, ne0);
    }
  }, o.progress, std::size_t{8} << 20);
  return w.file_bytes();
}

}  // namespace gs::ref
