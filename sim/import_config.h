// import_config.h: a Hugging Face config.json -> a gemmasim model description.
//
// Pure: JSON in, JSON out (the models/ schema, documented in models/README.md).
// Supported `architectures`: Gemma4ForConditionalGeneration / Gemma4ForCausalLM,
// Gemma3ForConditionalGeneration / Gemma3ForCausalLM, LlamaForCausalLM,
// Qwen3MoeForCausalLM, GptOssForCausalLM, MixtralForCausalLM. Multimodal configs are read
// from their nested text_config (the text decoder only; encoders are not imported).
// An unknown architecture, a missing required field, a wrong type or an absurd value
// throws InputError naming the file and the JSON pointer. Fields a config may omit take
// the transformers default of that architecture's config class; each default used is
// listed under sources.defaults_used, so the output says what was read and what was assumed.
#pragma once
#include <string>

#include "json_util.h"

namespace gs {

struct ImportOptions {
  std::string id;  // model id; empty: default_model_id()
};

// `hf` is the parsed config.json, `file` its path (used in messages and in `sources`).
nlohmann::ordered_json import_hf_config(const json& hf, const std::string& file, const ImportOptions& opt = {});

// Default id: the last component of `_name_or_path` if present, else the file's stem (its
// directory name when the file is called config.json), lowercased.
std::string default_model_id(const json& hf, const std::string& file);

// The architectures import_hf_config understands, for messages and --help.
const char* supported_hf_architectures();

}  // namespace gs
