// atomic_file.h: output files are never left half-written.
// Text goes to a temporary file in the same directory, which is renamed over the
// target only once everything is written; on any failure the temporary is removed
// and an InputError names the path.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace gs {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& body);
void write_file_atomic(const std::string& path, const std::string& text);

// Before long work: that write_file_atomic(path, ...) will be able to create its temporary
// file (a probe file created and removed in the target's directory); else the same one-line
// InputError it would give at the end.
void check_writable(const std::string& path);

// create_directories, with a one-line InputError (exit code 2) instead of an exception.
void make_output_dir(const std::string& dir);

}  // namespace gs
