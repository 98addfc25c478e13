// atomic_file.h: output files are never left half-written, and never replace what is
// not a regular file.
// Text goes to a temporary file in the same directory, which is renamed over the
// target only once everything is written; on any failure the temporary is removed
// and an InputError names the path. A symlink is followed (its target is replaced, the
// link stays); a device or FIFO (/dev/null, /dev/stdout, a pipe) is written in place,
// every write checked (/dev/full is an error), a FIFO without a reader refused.
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

// An input file: must be a regular file (not a directory, device or FIFO: /dev/zero would
// be read forever, a FIFO open blocks) of at most max_bytes; else a one-line InputError.
void check_input_file(const std::string& path, double max_bytes, const char* what = "file");

// create_directories, with a one-line InputError (exit code 2) instead of an exception.
void make_output_dir(const std::string& dir);

}  // namespace gs
