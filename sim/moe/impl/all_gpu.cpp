// all_gpu.cpp: "gpu" — every expert resident on the GPU, whatever the budget. The upper
// bound every other policy is compared with (no policy can beat it: rule checked in tests).
#include "moe/impl/static_base.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class AllGpu final : public impl::StaticMapPolicy {
 public:
  std::string name() const override { return "gpu"; }
  bool budget_exempt() const override { return true; }
  void reset(const PolicyContext& ctx) override {
    set_map(ctx, std::vector<std::uint8_t>(static_cast<std::size_t>(ctx.n_slots() * ctx.n_expert()), 1));
  }
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_all_gpu() { return std::make_unique<AllGpu>(); }
}  // namespace gs::moe
