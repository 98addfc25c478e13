// moe_flags.h: synthetic-trace flags shared by `trace-gen` and `place` (defined in cmd_trace_gen.cpp).
#pragma once
#include <string>
#include <vector>

#include "model.h"
#include "moe/trace_gen.h"
#include "options.h"

namespace gs::cli {

struct GenFlags {
  long long tokens = 2048, prompt = 0;
  double skew = 1.0, locality = 0.0;
  std::string skew_per_layer;
  unsigned long long seed = 1, popularity_seed = 0;
};

// --tokens --prompt --skew --skew-per-layer --locality --seed, defaults from g.
void add_gen_flags(po::options_description& d, GenFlags& g);
// Checked generator parameters for model m (InputError on bad values).
moe::TraceGenParams gen_params(const GenFlags& g, const ModelSpec& m);
// "0.5,1,1.2" -> {0.5, 1, 1.2}.
std::vector<double> parse_number_list(const std::string& s, const std::string& flag);

}  // namespace gs::cli
