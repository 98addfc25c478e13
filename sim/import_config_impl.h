// import_config_impl.h: helpers shared by the per-architecture importers (internal to
// import_config*.cpp). One Importer reads one (text) config; it remembers every default
// it had to use so that the output's sources say what was assumed.
#pragma once
#include <string>
#include <vector>

#include "import_config.h"

namespace gs::import_detail {

using ojson = nlohmann::ordered_json;

// Limits for "absurd value" checks (inclusive).
constexpr long long kMaxWidth = 1LL << 20;     // hidden size, head dim x heads
constexpr long long kMaxFfn = 1LL << 22;       // FFN / expert width
constexpr long long kMaxLayers = 4096;
constexpr long long kMaxHeads = 1024;
constexpr long long kMaxHeadDim = 4096;
constexpr long long kMaxVocab = 1LL << 24;
constexpr long long kMaxCtx = 1LL << 26;
constexpr long long kMaxExperts = 4096;

struct Importer {
  JsonReader r;                 // the text-decoder config (root or text_config)
  std::string file;             // the imported file
  std::string hf_arch;          // architectures[0]
  std::string config_class;     // transformers class whose defaults apply, e.g. "LlamaConfig"
  ojson defaults_used = ojson::object();

  long long req(const char* key, long long lo, long long hi) const { return r.at(key).integer(lo, hi); }
  long long opt(const char* key, long long def, long long lo, long long hi);
  double optf(const char* key, double def, double lo, double hi);
  bool optb(const char* key, bool def);
  bool has(const char* key) const { return r.has(key); }
  [[noreturn]] void fail_at(const char* key, const std::string& what) const;
};

// "S"/"G" string from a HF layer_types array ("sliding_attention" / "full_attention").
std::string parse_layer_types(const Importer& im, long long n_layer);

// {num_heads, num_kv_heads, head_dim, rope_theta, rope_fraction}
ojson attn_shape(const Importer& im, long long H, long long Hkv, long long Dh, double theta, double fraction);

// The fields every model file starts with.
ojson model_head(const std::string& id, const std::string& arch, long long D, long long L, long long V, long long ctx,
                 bool tied, double eps);

// Adds `sources` (imported file, architecture, defaults used) to a finished model.
void add_sources(ojson& m, const Importer& im);

// Per-architecture importers. `root` is the whole config (for multimodal wrappers).
ojson import_gemma4(Importer& im, const std::string& id);
ojson import_gemma3(Importer& im, const std::string& id);
ojson import_llama(Importer& im, const std::string& id);
ojson import_qwen3moe(Importer& im, const std::string& id);
ojson import_gpt_oss(Importer& im, const std::string& id);
ojson import_mixtral(Importer& im, const std::string& id);

}  // namespace gs::import_detail
