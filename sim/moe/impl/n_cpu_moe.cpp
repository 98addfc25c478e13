// n_cpu_moe.cpp: "n-cpu-moe" — llama.cpp --n-cpu-moe N: the experts of the first N layers
// (model layers 0..N-1) stay in host memory, the rest go to the GPU. With N unset
// (ctx.n_cpu_moe < 0) it takes the smallest N whose GPU experts fit the VRAM budget, as a
// user raising N until the model loads would.
#include "moe/impl/static_base.h"
#include "moe/policies.h"

namespace gs::moe {

int smallest_fitting_n_cpu_moe(const PolicyContext& ctx) {
  const int nl = ctx.n_slots();
  for (int first_gpu = 0; first_gpu <= nl; ++first_gpu) {
    double bytes = 0;
    for (int s = first_gpu; s < nl; ++s) bytes += ctx.layer_bytes(s);
    if (bytes <= ctx.vram_budget_bytes) return first_gpu == 0 ? 0 : ctx.layers[static_cast<std::size_t>(first_gpu - 1)] + 1;
  }
  return ctx.shape.n_layer;
}

namespace {
class NCpuMoe final : public impl::LayerPolicy {
 public:
  std::string name() const override { return "n-cpu-moe"; }
  void reset(const PolicyContext& ctx) override {
    n_ = ctx.n_cpu_moe >= 0 ? ctx.n_cpu_moe : smallest_fitting_n_cpu_moe(ctx);
    std::vector<std::uint8_t> cpu(static_cast<std::size_t>(ctx.n_slots()));
    for (int s = 0; s < ctx.n_slots(); ++s) cpu[static_cast<std::size_t>(s)] = ctx.layers[static_cast<std::size_t>(s)] < n_;
    set_layers(ctx, cpu);
  }
  int n_ = 0;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_n_cpu_moe() { return std::make_unique<NCpuMoe>(); }
}  // namespace gs::moe
