// policies.h: the policy factories and the name -> factory table (policies.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "moe/placement_policy.h"

namespace gs::moe {

// Factories, one per impl/<policy>.cpp.
std::unique_ptr<PlacementPolicy> make_all_gpu();        // "gpu": every expert on the GPU (upper bound)
std::unique_ptr<PlacementPolicy> make_cpu_moe();        // "cpu-moe": every expert on the CPU
std::unique_ptr<PlacementPolicy> make_n_cpu_moe();      // "n-cpu-moe": first N layers' experts on the CPU
std::unique_ptr<PlacementPolicy> make_layer_mask();     // "layers": the layers in ctx.cpu_layer_mask on the CPU
std::unique_ptr<PlacementPolicy> make_static_layer();   // "static-layer": per-expert by frequency, budget split per layer
std::unique_ptr<PlacementPolicy> make_static_global();  // "static-global": per-expert by frequency, one global knapsack
std::unique_ptr<PlacementPolicy> make_lru();            // "lru": GPU cache, least recently used evicted
std::unique_ptr<PlacementPolicy> make_lfu();            // "lfu": GPU cache, least frequently used evicted
std::unique_ptr<PlacementPolicy> make_decay();          // "decay": GPU cache, lowest exponentially decayed frequency evicted
std::unique_ptr<PlacementPolicy> make_fiddler();        // "fiddler": static hot set; cold experts on the CPU or moved, whichever is faster

// Resident map [NL, E] of the frequency knapsack on ctx.profile_counts (static_freq.cpp).
std::vector<std::uint8_t> frequency_placement(const PolicyContext& ctx, bool per_layer);

struct PolicyInfo {
  const char* name;
  std::unique_ptr<PlacementPolicy> (*make)();
  const char* help;
};
const std::vector<PolicyInfo>& all_policies();
// Throws InputError listing the known names.
std::unique_ptr<PlacementPolicy> make_policy(const std::string& name);
// The names `--policy all` compares, in table order ("layers" is internal: realisation).
std::vector<std::string> comparable_policy_names();

}  // namespace gs::moe
