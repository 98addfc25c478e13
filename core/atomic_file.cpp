#include "atomic_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "error.h"

namespace gs {

namespace {
// The temporary file beside `path` that write_file_atomic writes first, opened (or the one-line error).
std::string temp_path(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }
void open_or_fail(std::ofstream& out, const std::string& tmp, const std::string& path) {
  out.open(tmp, std::ios::binary | std::ios::trunc);
  if (!out) input_error(path + ": cannot open for writing (check that the directory exists and is writable)");
}
}  // namespace

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const std::string tmp = temp_path(path);
  try {
    std::ofstream out;
    open_or_fail(out, tmp, path);
    body(out);
    out.flush();
    if (!out) input_error(path + ": write failed");
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    input_error(path + ": cannot rename the temporary file into place (" + ec.message() + ")");
  }
}

void check_writable(const std::string& path) {
  const std::string tmp = temp_path(path);
  {
    std::ofstream out;
    open_or_fail(out, tmp, path);
  }
  std::remove(tmp.c_str());
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out << text; });
}

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) input_error(dir + ": cannot create the output directory (" + ec.message() + ")");
}

}  // namespace gs
