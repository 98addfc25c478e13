// llama-bench JSON (validate --llama-bench FILE).
#include "fuzz_input.h"
#include "llama_bench.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] {
    std::vector<std::string> bad;
    (void)gs::read_llama_bench(path, &bad);
  });
}
