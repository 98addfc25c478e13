// data_paths.h: where the bundled data (models/, hwdb/, quants/, data/, calibration/) lives,
// and where caches and default outputs go.
// The data: $GEMMASIM_DATA; else an installed copy beside the binary (<prefix>/share/gemmasim
// for <prefix>/bin/gemmasim, `cmake --install`); else the source tree the binary was built from.
#pragma once
#include <string>

namespace gs {
std::string data_root();
std::string data_path(const std::string& rel);  // data_root() + "/" + rel
// data_root() is an installed copy (read-only for users): caches and outputs go elsewhere.
bool installed_data();
// Folder of the synthetic GGUFs and the cached probe: $XDG_CACHE_HOME/gemmasim; else
// <data_root>/.cache/gemmasim in a source tree, ~/.cache/gemmasim when installed.
std::string synth_cache_dir();
// Default folder of validate's and report's files: <data_root>/reports/out in a source tree,
// reports/out under the current directory when installed.
std::string default_report_dir();
// Whether a path exists, false for names the filesystem cannot take (too long, a file on the
// way) instead of throwing: ids and paths people type are looked up with it.
bool path_exists(const std::string& path) noexcept;
}  // namespace gs
