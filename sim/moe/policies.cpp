// policies.cpp: the explicit name -> factory table (no static self-registration).
#include "moe/policies.h"

#include "error.h"

namespace gs::moe {

const std::vector<PolicyInfo>& all_policies() {
  static const std::vector<PolicyInfo> t = {
      {"gpu", make_all_gpu, "every expert on the GPU (upper bound; ignores the budget)"},
      {"cpu-moe", make_cpu_moe, "llama.cpp --cpu-moe: every expert on the CPU"},
      {"n-cpu-moe", make_n_cpu_moe, "llama.cpp --n-cpu-moe N: first N layers' experts on the CPU"},
      {"static-layer", make_static_layer, "per-expert by profiled frequency, budget split per layer"},
      {"static-global", make_static_global, "per-expert by profiled frequency, one global knapsack"},
      {"lru", make_lru, "GPU cache, evict least recently used, misses copied over the link"},
      {"lfu", make_lfu, "GPU cache, evict least frequently used, misses copied over the link"},
      {"decay", make_decay, "GPU cache, evict lowest exponentially decayed frequency"},
      {"fiddler", make_fiddler, "hot experts on the GPU; cold ones on the CPU or copied, whichever is faster"},
      {"layers", make_layer_mask, "given layers' experts on the CPU (llama.cpp -ot; used for realisation)"},
  };
  return t;
}

std::unique_ptr<PlacementPolicy> make_policy(const std::string& name) {
  std::string known;
  for (const auto& p : all_policies()) {
    if (name == p.name) return p.make();
    known += std::string(known.empty() ? "" : ", ") + p.name;
  }
  input_error("--policy: unknown policy '" + name + "' (expected one of: " + known + ", all)");
}

std::vector<std::string> comparable_policy_names() {
  std::vector<std::string> v;
  for (const auto& p : all_policies())
    if (std::string(p.name) != "layers") v.emplace_back(p.name);
  return v;
}

}  // namespace gs::moe
