// Engine profile JSON (hwdb/engines/*.json, --engine FILE), and a profile that takes its
// throughput from llama.cpp's (Ollama's) re-resolved for each device backend.
#include "engine.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] {
    const gs::EngineProfile e = gs::load_engine_file(path);
    for (const char* backend : {"cuda", "metal", "rocm", "hip", "vulkan", "cpu"})
      (void)gs::engine_on_backend(e, backend);
  });
}
