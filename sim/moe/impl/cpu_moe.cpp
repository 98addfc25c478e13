// cpu_moe.cpp: "cpu-moe" — llama.cpp --cpu-moe: every layer's experts in host memory.
#include "moe/impl/static_base.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class CpuMoe final : public impl::LayerPolicy {
 public:
  std::string name() const override { return "cpu-moe"; }
  void reset(const PolicyContext& ctx) override {
    set_layers(ctx, std::vector<std::uint8_t>(static_cast<std::size_t>(ctx.n_slots()), 1));
  }
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_cpu_moe() { return std::make_unique<CpuMoe>(); }
}  // namespace gs::moe
