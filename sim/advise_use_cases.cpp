// Use-case presets and modalities (data/use-cases.json) for the advisor.
#include "advise.h"
#include "data_paths.h"

namespace gs {

const UseCase& UseCaseBook::find(const std::string& id) const {
  std::string known;
  for (const auto& u : use_cases) {
    if (u.id == id) return u;
    known += (known.empty() ? "" : ", ") + u.id;
  }
  input_error("--use-case: unknown use case '" + id + "' (expected one of: " + known + ")");
}

UseCaseBook parse_use_cases(const json& j, const std::string& file) {
  JsonReader r(j, file);
  UseCaseBook b;
  b.default_id = r.str_or("default", "chat");
  const JsonReader arr = r.at("use_cases");
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const JsonReader e = arr.at(i);
    UseCase u;
    u.id = e.at("id").str();
    u.description = e.str_or("description", "");
    u.reasoning = e.at("reasoning").str();
    u.context_tokens = e.at("context_tokens").integer(1, 1LL << 24);
    u.prompt_tokens = e.at("prompt_tokens").integer(1, 1LL << 24);
    u.gen_tokens = e.at("gen_tokens").integer(1, 1LL << 24);
    if (u.prompt_tokens + u.gen_tokens > u.context_tokens) e.fail("prompt_tokens + gen_tokens exceed context_tokens");
    u.min_decode_tok_per_s = e.at("min_decode_tok_per_s").num(0, 1e6);
    u.min_prefill_tok_per_s = e.num_or("min_prefill_tok_per_s", 0, 0, 1e7);
    if (e.has("benchmarks")) {
      const JsonReader bs = e.at("benchmarks");
      for (std::size_t k = 0; k < bs.size(); ++k) u.benchmarks.push_back(bs.at(k).str());
    }
    if (e.has("form_factors")) {
      const JsonReader ff = e.at("form_factors");
      for (std::size_t k = 0; k < ff.size(); ++k) u.form_factors.push_back(ff.at(k).str());
    }
    if (e.has("serving")) {
      const JsonReader sv = e.at("serving");
      u.serving_users = static_cast<int>(sv.at("users").integer(1, 100000));
      u.think_time_s = sv.at("think_time_s").num(0, 1e6);
      u.slo = sv.at("slo").str();
    }
    b.use_cases.push_back(u);
  }
  if (b.use_cases.empty()) arr.fail("no use cases");
  b.find(b.default_id);
  if (r.has("serving_defaults")) {
    const JsonReader sd = r.at("serving_defaults");
    b.default_ttft_p99_s = sd.at("ttft_p99_s").num(0.001, 1e4);
    b.default_think_time_s = sd.at("think_time_s").num(0, 1e6);
  }
  const JsonReader mods = r.at("modalities");
  b.encoder_bytes_per_param = mods.num_or("encoder_bytes_per_param", 2, 0.1, 8);
  for (const char* id : {"text", "image", "audio"}) {
    const JsonReader e = mods.at(id);
    ModalitySpec ms;
    ms.id = id;
    ms.encoder = e.str_or("encoder", "");
    ms.extra_tokens = e.int_or("extra_tokens", 0, 0, 1 << 20);
    ms.items = static_cast<int>(e.int_or("items", 1, 1, 1000));
    ms.reasoning = e.str_or("reasoning", "");
    b.modalities[id] = ms;
  }
  return b;
}

const UseCaseBook& use_case_book() {
  static const UseCaseBook b = [] {
    const std::string path = data_path("data/use-cases.json");
    return parse_use_cases(read_json_file(path), path);
  }();
  return b;
}

}  // namespace gs
