// lru.cpp: "lru" — evicts the expert used least recently. Recency order: accesses in trace
// order (steps, then layers, then the order of uses within a layer). O(1) per access: an
// intrusive doubly linked list over the NL x E keys, most recent at the head.
#include <algorithm>

#include "moe/policies.h"

namespace gs::moe {
namespace {
class Lru final : public PlacementPolicy {
 public:
  std::string name() const override { return "lru"; }
  void reset(const PolicyContext& ctx) override {
    e_ = static_cast<std::uint32_t>(ctx.n_expert());
    const std::size_t n = static_cast<std::size_t>(ctx.n_slots()) * e_;
    bytes_.resize(n);
    for (std::size_t k = 0; k < n; ++k) bytes_[k] = ctx.cost.expert_bytes[k / e_];
    prev_.assign(n + 1, kNil);
    next_.assign(n + 1, kNil);
    res_.assign(n, 0);
    head_ = static_cast<std::uint32_t>(n);  // sentinel: next_[head_] = most recent, prev_[head_] = least recent
    next_[head_] = prev_[head_] = head_;
    cap_ = ctx.vram_budget_bytes;
    used_ = peak_ = 0;
    if (ctx.cache_warm_start && !ctx.profile_counts.empty()) {
      const auto warm = frequency_placement(ctx, false);
      for (std::uint32_t k = 0; k < n; ++k)
        if (warm[k]) access(k);
    }
  }
  double place(const StepInfo&, int slot, const ExpertUse* uses, int n, Where* where) override {
    const std::uint32_t base = static_cast<std::uint32_t>(slot) * e_;
    for (int i = 0; i < n; ++i) where[i] = access(base + uses[i].expert) ? Where::Gpu : Where::Transfer;
    return 0.0;
  }
  double expert_vram_bytes() const override { return peak_; }

 private:
  static constexpr std::uint32_t kNil = ~0u;
  void unlink(std::uint32_t k) {
    next_[prev_[k]] = next_[k];
    prev_[next_[k]] = prev_[k];
  }
  void push_front(std::uint32_t k) {
    prev_[k] = head_;
    next_[k] = next_[head_];
    prev_[next_[head_]] = k;
    next_[head_] = k;
  }
  bool access(std::uint32_t k) {
    if (res_[k]) {
      unlink(k);
      push_front(k);
      return true;
    }
    if (bytes_[k] > cap_) return false;  // cannot be cached: streamed
    while (used_ + bytes_[k] > cap_) {
      const std::uint32_t victim = prev_[head_];
      unlink(victim);
      res_[victim] = 0;
      used_ -= bytes_[victim];
    }
    res_[k] = 1;
    used_ += bytes_[k];
    peak_ = std::max(peak_, used_);
    push_front(k);
    return false;
  }
  std::vector<double> bytes_;
  std::vector<std::uint32_t> prev_, next_;
  std::vector<std::uint8_t> res_;
  std::uint32_t head_ = 0, e_ = 0;
  double cap_ = 0, used_ = 0, peak_ = 0;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_lru() { return std::make_unique<Lru>(); }
}  // namespace gs::moe
