// Hardware JSON (--hw FILE: a device or a system) and inline --hw specs.
#include "fuzz_input.h"
#include "hardware.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  gs::fuzz::expect_input_error_only([&] { (void)gs::resolve_hardware(path); });
  // the same bytes as an inline spec (key=value pairs), as the CLI takes them: text with '=' that
  // names no existing file ("bw=360GB/s" has a '/'; only stat() looks at it as a path)
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find('=') != std::string::npos && text.find('\0') == std::string::npos)
    gs::fuzz::expect_input_error_only([&] { (void)gs::resolve_hardware(text); });
  return 0;
}
