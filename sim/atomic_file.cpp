#include "atomic_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "error.h"

namespace gs {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) input_error(path + ": cannot open for writing (check that the directory exists and is writable)");
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
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) input_error(path + ": cannot open for writing (check that the directory exists and is writable)");
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
