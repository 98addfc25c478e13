#include "data_paths.h"

#include <cstdlib>

#ifndef GEMMASIM_DATA_DIR
#define GEMMASIM_DATA_DIR "."
#endif

namespace gs {
std::string data_root() {
  if (const char* e = std::getenv("GEMMASIM_DATA"); e && *e) return e;
  return GEMMASIM_DATA_DIR;
}
std::string data_path(const std::string& rel) { return data_root() + "/" + rel; }
std::string synth_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/gemmasim";
  return data_root() + "/.cache/gemmasim";
}
}  // namespace gs
