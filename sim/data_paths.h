// data_paths.h: where the bundled data (models/, hwdb/, quants/) lives.
// $GEMMASIM_DATA overrides; otherwise the source tree the binary was built from.
#pragma once
#include <string>

namespace gs {
std::string data_root();
std::string data_path(const std::string& rel);  // data_root() + "/" + rel
}  // namespace gs
