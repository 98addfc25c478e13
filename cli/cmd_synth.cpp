// gemmasim synth: write a seeded synthetic GGUF at a model's real shapes.
//   gemmasim synth --model ID|FILE.json --quant Q -o FILE.gguf [--seed S] [--router-skew Z] [--json]
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "options.h"
#include "synth.h"
#include "units.h"

namespace gs::cli {

int cmd_synth(const Args& a) {
  std::string model, quant = "q4_0", out;
  unsigned long long seed = 1;
  double skew = 0;
  bool as_json = false;
  po::options_description d("options");
  d.add_options()
      ("model", po::value(&model)->required(), "model id (models/, models/tiny/) or a model JSON file")
      ("quant", po::value(&quant)->default_value("q4_0"), "f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_m")
      ("output,o", po::value(&out)->required(), "GGUF file to write (written to FILE.tmp, then renamed)")
      ("seed", po::value(&seed)->default_value(1), "seed of the synthetic weights")
      ("router-skew", po::value(&skew)->default_value(0.0), "Zipf exponent Z of expert popularity (MoE; 0 = uniform)")
      ("json", po::bool_switch(&as_json), "print the result as JSON");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim synth --model ID|FILE.json --quant Q -o FILE.gguf [--seed S] [--router-skew Z] [--json]")) {
    return 0;
  }
  const ModelSpec m = find_model(model);
  ref::SynthOptions o;
  o.quant = quant;
  o.seed = seed;
  o.router_skew = skew;
  o.progress = ::isatty(2) != 0;
  const auto plan = ref::synth_plan(m, o);  // validates quant and skew before any writing
  std::map<std::string, int> notes;  // "q5_0 -> q6_k" -> count
  for (const auto& t : plan) {
    if (!t.note.empty()) ++notes[t.note];
  }
  for (const auto& [n, c] : notes) {
    std::fprintf(stderr, "note: %d tensors stored as %s (the recipe's type is not executable here or does not fit the row)\n",
                 c, n.c_str());
  }
  const std::uint64_t bytes = ref::synth_gguf(m, o, out);
  if (as_json) {
    json j = {{"path", out}, {"model", m.id}, {"quant", quant}, {"seed", seed}, {"router_skew", skew},
              {"tensors", plan.size()}, {"file_bytes", bytes}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("wrote %s: %s %s, seed %llu, %zu tensors, %.3f GB\n", out.c_str(), m.id.c_str(), quant.c_str(), seed,
                plan.size(), static_cast<double>(bytes) / kGB);
  }
  return 0;
}

}  // namespace gs::cli
