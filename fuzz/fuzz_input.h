// fuzz_input.h: what every libFuzzer target shares. The loaders read paths, so each input is
// written to an in-memory file (memfd: a regular file, as the loaders require) and its
// /proc/self/fd path handed over. A loader may reject an input only with an InputError (one
// line, exit 2 in the CLI); any other exception escapes and libFuzzer reports it as a crash,
// as it does a signal or a sanitizer finding.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "error.h"

namespace gs::fuzz {

// One memfd per process, rewritten for each input.
inline std::string as_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = [] {
    const int f = ::memfd_create("gemmasim-fuzz", 0);
    if (f < 0) std::abort();
    return f;
  }();
  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) std::abort();
  std::size_t done = 0;
  while (done < size) {
    const ssize_t w = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (w <= 0) std::abort();
    done += static_cast<std::size_t>(w);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

// Run f; an InputError is the loader saying no, anything else escapes.
template <class F>
int expect_input_error_only(F&& f) {
  try {
    f();
  } catch (const InputError&) {
  }
  return 0;
}

}  // namespace gs::fuzz
