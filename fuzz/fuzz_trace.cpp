// Request traces: Azure CSV, BurstGPT CSV, Mooncake JSON Lines (serve-sim --trace).
#include "fuzz_input.h"
#include "serve/workload.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] { (void)gs::serve::read_trace(path); });
}
