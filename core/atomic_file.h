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

// Outputs of an interrupted command: a path registered here (a temporary file, a staging
// directory and what is in it) is removed when the process gets SIGINT, SIGTERM or SIGHUP,
// which then ends it as the signal would (Ctrl-C on `synth` leaves no temporary GGUF). The
// guard unregisters it when it goes out of scope. At most 16 paths at once (more: not
// registered, left as before).
class RemoveOnInterrupt {
 public:
  explicit RemoveOnInterrupt(const std::string& path);
  ~RemoveOnInterrupt();
  RemoveOnInterrupt(const RemoveOnInterrupt&) = delete;
  RemoveOnInterrupt& operator=(const RemoveOnInterrupt&) = delete;

 private:
  int slot_ = -1;
};

// A directory of outputs that appear together or not at all (report --out, advise --out): every
// file is written into a staging directory inside `dir` (path()), and commit() renames each into
// `dir`, replacing files of the same name and leaving others there. Destroyed without commit (an
// error, an exception, an interrupt): the staging directory and everything in it are removed and
// `dir` is as it was (created if it was missing).
class OutputDir {
 public:
  explicit OutputDir(const std::string& dir);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;
  const std::string& path() const { return staging_; }  // where to write
  const std::string& final_path() const { return dir_; }
  void commit();

 private:
  std::string dir_, staging_;
  RemoveOnInterrupt guard_;
};

}  // namespace gs
