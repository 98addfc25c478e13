// fiddler.cpp: "fiddler" — after Fiddler (Kamahori et al., 2024, arXiv:2402.07033): the
// hottest experts (global frequency knapsack on the profiling trace) stay on the GPU; a
// cold expert is not cached. Per step it is either computed on the CPU where its weights
// live, or its weights are copied to the GPU and computed there, whichever the cost model
// says is faster for the number of tokens routed to it: CPU wins at decode (1 token), the
// copy wins for large prompt batches where the CPU would be compute-bound.
#include "moe/impl/static_base.h"
#include "moe/policies.h"

namespace gs::moe {

namespace {
class Fiddler final : public impl::StaticMapPolicy {
 public:
  std::string name() const override { return "fiddler"; }
  bool is_static() const override { return false; }  // cold experts move at run time
  void reset(const PolicyContext& ctx) override {
    cost_ = ctx.cost;
    set_map(ctx, frequency_placement(ctx, false));
  }
  double place(const StepInfo&, int slot, const ExpertUse* uses, int n, Where* where) override {
    const std::uint8_t* r = &res_[static_cast<std::size_t>(slot) * static_cast<std::size_t>(e_)];
    for (int i = 0; i < n; ++i) {
      if (r[uses[i].expert]) {
        where[i] = Where::Gpu;
        continue;
      }
      const double nt = uses[i].n_tokens;
      where[i] = cost_.cpu_s(slot, nt) <= cost_.transfer_s(slot) + cost_.gpu_s(slot, nt) ? Where::Cpu : Where::Transfer;
    }
    return 0.0;
  }

 private:
  ExpertCostModel cost_;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_fiddler() { return std::make_unique<Fiddler>(); }
}  // namespace gs::moe
