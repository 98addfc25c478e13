#include "data_paths.h"

#include <cstdlib>
#include <filesystem>

#ifndef GEMMASIM_DATA_DIR
#define GEMMASIM_DATA_DIR "."
#endif

namespace gs {

namespace {
// <prefix>/share/gemmasim when this binary is <prefix>/bin/gemmasim and that folder holds hwdb/.
std::string installed_root() {
  static const std::string root = [] {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::string();
    const auto share = exe.parent_path().parent_path() / "share" / "gemmasim";
    return std::filesystem::is_directory(share / "hwdb", ec) ? share.string() : std::string();
  }();
  return root;
}
bool env_set(const char* name) {
  const char* e = std::getenv(name);
  return e && *e;
}
}  // namespace

std::string data_root() {
  if (env_set("GEMMASIM_DATA")) return std::getenv("GEMMASIM_DATA");
  if (const std::string r = installed_root(); !r.empty()) return r;
  return GEMMASIM_DATA_DIR;
}

bool installed_data() { return !env_set("GEMMASIM_DATA") && !installed_root().empty(); }

std::string data_path(const std::string& rel) { return data_root() + "/" + rel; }

std::string synth_cache_dir() {
  if (env_set("XDG_CACHE_HOME")) return std::string(std::getenv("XDG_CACHE_HOME")) + "/gemmasim";
  if (installed_data() && env_set("HOME")) return std::string(std::getenv("HOME")) + "/.cache/gemmasim";
  return data_root() + "/.cache/gemmasim";
}

bool path_exists(const std::string& path) noexcept {
  std::error_code ec;
  return std::filesystem::exists(path, ec) && !ec;
}

std::string default_report_dir() { return installed_data() ? std::string("reports/out") : data_root() + "/reports/out"; }

}  // namespace gs
