// validate_serving.h: `validate --serving` (cli/validate_serving.cpp).
#pragma once
#include <string>

namespace gs::cli {

// Serves each row with the kernel and with serve-sim (probe_path: this machine's probe);
// writes <out_dir>/validate-serving.json and prints the table (or the JSON).
int validate_serving(const std::string& probe_path, bool quick, bool as_json, const std::string& out_dir);

}  // namespace gs::cli
