// model_files.h: the GGUF a kernel command runs (cli/cmd_run.cpp): a file, or a seeded
// synthetic GGUF of a model id, written into the cache folder when missing.
#pragma once
#include <string>

namespace gs::cli {

std::string cache_dir();
bool is_gguf_path(const std::string& s);
std::string resolve_gguf(const std::string& model, const std::string& quant, unsigned long long seed);

}  // namespace gs::cli
