// static_freq.cpp: "static-layer" and "static-global" — per-expert placement by routing
// frequency in the profiling trace under the VRAM budget (knapsack.h). Experts left out
// are computed on the CPU (no copies). "static-global" solves one knapsack over all
// (layer, expert) items; "static-layer" gives each MoE layer budget / NL and solves each
// layer on its own (as an engine that fixes a per-layer expert count would).
#include "moe/impl/static_base.h"
#include "moe/knapsack.h"
#include "moe/policies.h"

namespace gs::moe {

std::vector<std::uint8_t> frequency_placement(const PolicyContext& ctx, bool per_layer) {
  const std::size_t nl = static_cast<std::size_t>(ctx.n_slots()), e = static_cast<std::size_t>(ctx.n_expert());
  auto value = [&](std::size_t s, std::size_t x) {
    return ctx.profile_counts.empty() ? 0.0 : ctx.profile_counts[s * e + x];
  };
  std::vector<std::uint8_t> res(nl * e, 0);
  if (per_layer) {
    const double b = ctx.vram_budget_bytes / static_cast<double>(nl);
    for (std::size_t s = 0; s < nl; ++s) {
      std::vector<KnapsackItem> items(e);
      for (std::size_t x = 0; x < e; ++x) items[x] = {value(s, x), ctx.cost.expert_bytes[s]};
      auto r = knapsack_select(items, b);
      std::copy(r.take.begin(), r.take.end(), res.begin() + static_cast<std::ptrdiff_t>(s * e));
    }
  } else {
    std::vector<KnapsackItem> items(nl * e);
    for (std::size_t s = 0; s < nl; ++s)
      for (std::size_t x = 0; x < e; ++x) items[s * e + x] = {value(s, x), ctx.cost.expert_bytes[s]};
    res = knapsack_select(items, ctx.vram_budget_bytes).take;
  }
  return res;
}

namespace {
class StaticFreq final : public impl::StaticMapPolicy {
 public:
  explicit StaticFreq(bool per_layer) : per_layer_(per_layer) {}
  std::string name() const override { return per_layer_ ? "static-layer" : "static-global"; }
  void reset(const PolicyContext& ctx) override { set_map(ctx, frequency_placement(ctx, per_layer_)); }

 private:
  bool per_layer_;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_static_layer() { return std::make_unique<StaticFreq>(true); }
std::unique_ptr<PlacementPolicy> make_static_global() { return std::make_unique<StaticFreq>(false); }
}  // namespace gs::moe
