// data_paths.h: where the bundled data (models/, hwdb/, quants/) lives.
// $GEMMASIM_DATA overrides; otherwise the source tree the binary was built from.
#pragma once
#include <string>

namespace gs {
std::string data_root();
std::string data_path(const std::string& rel);  // data_root() + "/" + rel
// Folder of the synthetic GGUFs (gemmasim run): $XDG_CACHE_HOME/gemmasim, else <data_root>/.cache/gemmasim.
std::string synth_cache_dir();
}  // namespace gs
