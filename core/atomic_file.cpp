#include "atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.h"

namespace gs {

namespace {
// The temporary file beside `path` that write_file_atomic writes first, opened (or the one-line error).
std::string temp_path(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }
void open_or_fail(std::ofstream& out, const std::string& tmp, const std::string& path) {
  out.open(tmp, std::ios::binary | std::ios::trunc);
  if (!out) input_error(path + ": cannot open for writing (check that the directory exists and is writable)");
}

// What is at `path` when it exists and is not a regular file: written in place, not replaced.
enum class Target { New, Regular, Special, Directory };
Target target_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Target::New;  // (a dangling symlink: its target is created)
  if (S_ISDIR(st.st_mode)) return Target::Directory;
  return S_ISREG(st.st_mode) ? Target::Regular : Target::Special;
}

// A symlink's target path (the link itself stays); other paths as they are.
std::string resolved(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_symlink(path, ec)) return path;
  const auto t = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : t.string();
}

void write_special(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    input_error(path + ": cannot open for writing (" + (e == ENXIO ? std::string("a FIFO with no reader") : std::strerror(e)) + ")");
  }
  // blocking writes from here on (a pipe with a reader may be full for a moment)
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      input_error(path + ": write failed (" + std::string(n < 0 ? std::strerror(e) : "nothing written") + ")");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) input_error(path + ": write failed (" + std::string(std::strerror(errno)) + ")");
}
}  // namespace

void check_input_file(const std::string& path, double max_bytes, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) input_error(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) input_error(path + ": is a directory (expected a " + what + ")");
  if (!S_ISREG(st.st_mode)) input_error(path + ": not a regular file (expected a " + what + ")");
  if (static_cast<double>(st.st_size) > max_bytes) {
    std::ostringstream m;
    m << path << ": " << st.st_size << " bytes, more than the " << static_cast<long long>(max_bytes) << " a " << what
      << " may have";
    input_error(m.str());
  }
}

namespace {
// The interrupt registry: fixed slots (the handler may not allocate), each a path and a flag.
constexpr int kSlots = 16;
constexpr std::size_t kPathMax = 4096;
char g_paths[kSlots][kPathMax];
std::atomic<bool> g_claimed[kSlots];  // a slot taken by a guard (its path may still be being copied)
std::atomic<bool> g_used[kSlots];     // its path complete: the handler removes it

// Remove a file, or a directory with the files in it (one level: what the staging holds).
void remove_path_raw(const char* p) {
  if (::unlink(p) == 0) return;
  if (DIR* d = ::opendir(p)) {
    char child[kPathMax];
    while (const dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      const std::size_t a = std::strlen(p), b = std::strlen(e->d_name);
      if (a + 1 + b >= kPathMax) continue;
      std::memcpy(child, p, a);
      child[a] = '/';
      std::memcpy(child + a + 1, e->d_name, b + 1);
      ::unlink(child);
    }
    ::closedir(d);
    ::rmdir(p);
  }
}

extern "C" void on_interrupt(int sig) {
  for (int i = 0; i < kSlots; ++i)
    if (g_used[i].load()) remove_path_raw(g_paths[i]);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_interrupt_handler() {
  static const bool installed = [] {
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction sa {};
      sa.sa_handler = on_interrupt;
      sigemptyset(&sa.sa_mask);
      struct sigaction old {};
      // a signal the parent set to be ignored (nohup, a shell's background job) stays ignored
      if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
      ::sigaction(sig, &sa, nullptr);
    }
    return true;
  }();
  (void)installed;
}

void write_regular(const std::string& path, const std::function<void(std::ostream&)>& body) {
  const std::string tmp = temp_path(path);
  const RemoveOnInterrupt guard(tmp);
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
}  // namespace

void write_file_atomic(const std::string& path0, const std::function<void(std::ostream&)>& body) {
  const std::string path = resolved(path0);
  switch (target_kind(path)) {
    case Target::Directory: input_error(path0 + ": is a directory (expected a file to write)");
    case Target::Special: {
      std::ostringstream ss;
      body(ss);
      write_special(path, ss.str());
      return;
    }
    default: write_regular(path, body);
  }
}

void check_writable(const std::string& path0) {
  const std::string path = resolved(path0);
  const Target k = target_kind(path);
  if (k == Target::Directory) input_error(path0 + ": is a directory (expected a file to write)");
  if (k == Target::Special) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      input_error(path0 + ": cannot open for writing (" + (e == ENXIO ? std::string("a FIFO with no reader") : std::strerror(e)) + ")");
    }
    ::close(fd);
    return;
  }
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

RemoveOnInterrupt::RemoveOnInterrupt(const std::string& path) {
  if (path.empty() || path.size() >= kPathMax) return;
  install_interrupt_handler();
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_claimed[i].compare_exchange_strong(expected, true)) continue;
    std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
    g_used[i].store(true);  // the handler reads the path only from here on
    slot_ = i;
    return;
  }
}

RemoveOnInterrupt::~RemoveOnInterrupt() {
  if (slot_ < 0) return;
  g_used[slot_].store(false);
  g_claimed[slot_].store(false);
}

OutputDir::OutputDir(const std::string& dir)
    : dir_(dir), staging_(dir + "/.gemmasim-staging-" + std::to_string(::getpid())), guard_(staging_) {
  make_output_dir(dir_);
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
  if (!std::filesystem::create_directory(staging_, ec) || ec)
    input_error(dir_ + ": cannot create a staging directory in it (" + (ec ? ec.message() : std::string("exists")) + ")");
}

OutputDir::~OutputDir() {
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

void OutputDir::commit() {
  namespace fs = std::filesystem;
  std::error_code list_ec;
  for (const auto& e : fs::directory_iterator(staging_, list_ec)) {
    const fs::path to = fs::path(dir_) / e.path().filename();
    std::error_code ec;
    if (fs::is_directory(to, ec)) input_error(to.string() + ": is a directory (expected a file to write)");
    fs::rename(e.path(), to, ec);
    if (ec) input_error(to.string() + ": cannot move into place (" + ec.message() + ")");
  }
  if (list_ec) input_error(staging_ + ": cannot list (" + list_ec.message() + ")");
}

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) input_error(dir + ": cannot create the output directory (" + ec.message() + ")");
}

}  // namespace gs
