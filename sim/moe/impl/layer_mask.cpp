// layer_mask.cpp: "layers" — the slots flagged in ctx.cpu_layer_mask keep their experts on
// the CPU (what an -ot "blk\.(i|j)\.ffn_(gate_up|down)_exps=CPU" line does). Used to replay
// the llama.cpp-realisable variant of a per-expert static placement.
#include "moe/impl/static_base.h"
#include "error.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class LayerMask final : public impl::LayerPolicy {
 public:
  std::string name() const override { return "layers"; }
  void reset(const PolicyContext& ctx) override {
    if (ctx.cpu_layer_mask.size() != static_cast<std::size_t>(ctx.n_slots()))
      input_error("policy layers: cpu_layer_mask has " + std::to_string(ctx.cpu_layer_mask.size()) +
                  " entries (expected one per MoE layer, " + std::to_string(ctx.n_slots()) + ")");
    set_layers(ctx, ctx.cpu_layer_mask);
  }
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_layer_mask() { return std::make_unique<LayerMask>(); }
}  // namespace gs::moe
