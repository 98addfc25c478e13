// Model JSON (models/*.json, --model FILE): parse and derive the tensor list.
#include "fuzz_input.h"
#include "json_util.h"
#include "model.h"
#include "tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] {
    const gs::ModelSpec m = gs::parse_model(gs::read_json_file(path), path);
    (void)gs::weight_tensors(m);
  });
}
