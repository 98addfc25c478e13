// error.h: the one error type that reaches the CLI edge.
//
// Loaders and validators throw InputError with a message that names the file,
// the JSON pointer (or flag) and what was expected, e.g.
//   "hwdb/devices/rtx-4090.json: /memory_bandwidth_bytes_per_s: required key missing".
// cli/main.cpp prints what() as one line on stderr and exits with code 2.
#pragma once
#include <stdexcept>
#include <string>

namespace gs {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void input_error(const std::string& msg) { throw InputError(msg); }

}  // namespace gs
