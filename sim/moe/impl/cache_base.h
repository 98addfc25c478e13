// cache_base.h: shared body of the dynamic GPU caches (lru, lfu, decay).
// The cache starts empty (cold), or with ctx.cache_warm_start holding the static-global
// placement of the profile (score 0: the first to go once real uses score). A hit computes on the GPU; a miss copies the expert over
// the host link, computes it on the GPU and keeps it, evicting the lowest-scored experts
// (expert_cache.h). A subclass only says how an access scores.
#pragma once
#include "moe/expert_cache.h"
#include "moe/placement_policy.h"
#include "moe/policies.h"

namespace gs::moe::impl {

class CachePolicy : public PlacementPolicy {
 public:
  void reset(const PolicyContext& ctx) override {
    e_ = static_cast<std::uint32_t>(ctx.n_expert());
    std::vector<double> kb(static_cast<std::size_t>(ctx.n_slots()) * e_);
    for (std::size_t k = 0; k < kb.size(); ++k) kb[k] = ctx.cost.expert_bytes[k / e_];
    cache_.reset(std::move(kb), ctx.vram_budget_bytes);
    on_reset(ctx);
    if (ctx.cache_warm_start && !ctx.profile_counts.empty()) {
      const auto res = frequency_placement(ctx, false);
      for (std::uint32_t k = 0; k < res.size(); ++k)
        if (res[k]) cache_.access(k, 0.0);
    }
  }
  double place(const StepInfo& st, int slot, const ExpertUse* uses, int n, Where* where) override {
    const std::uint32_t base = static_cast<std::uint32_t>(slot) * e_;
    for (int i = 0; i < n; ++i) {
      const std::uint32_t key = base + uses[i].expert;
      where[i] = cache_.access(key, score(key, st, uses[i].n_tokens)) ? Where::Gpu : Where::Transfer;
    }
    return 0.0;
  }
  double expert_vram_bytes() const override { return cache_.peak_bytes(); }

 protected:
  virtual void on_reset(const PolicyContext&) {}
  // The key's new score after this access; must never decrease for a key.
  virtual double score(std::uint32_t key, const StepInfo& st, std::uint32_t n_tokens) = 0;
  ExpertCache cache_;
  std::uint32_t e_ = 0;
};

}  // namespace gs::moe::impl
