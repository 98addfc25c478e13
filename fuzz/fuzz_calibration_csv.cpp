// Published measurements CSV (calibrate --published FILE).
#include "calibrate.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gs::fuzz::as_file(data, size);
  return gs::fuzz::expect_input_error_only([&] { (void)gs::read_calibration_csv(path); });
}
