// GGUF reader and weight binding: a file, its metadata as a model (matched by shape, and named
// with --spec as the model it is and as one of another shape), its tensors bound.
#include "fuzz_input.h"
#include "gguf.h"
#include "weights.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] {
    const gs::ref::GgufFile f(path);
    for (const char* spec : {"gemma4-micro", "gemma4-e2b-tiny"})
      gs::fuzz::expect_input_error_only([&] { (void)gs::ref::model_for_gguf(f, spec); });
    const gs::ModelSpec m = gs::ref::model_for_gguf(f, "");
    (void)gs::ref::bind_weights(m, f);
  });
}
