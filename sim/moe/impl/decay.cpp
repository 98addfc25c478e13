// decay.cpp: "decay" — frequency with exponential decay: an expert's score is
//   S_k(t) = sum over its uses i of 2^(-(t - t_i) / h)        (h: half-life in tokens)
// and the lowest is evicted. All scores shrink by the same factor as t grows, so the order
// is that of A_k = sum_i 2^(t_i / h): each use adds 2^((t - t0) / h) to A_k, and when that
// increment grows past 2^500 every score is rescaled (order unchanged) and t0 moves to t.
#include <cmath>

#include "moe/impl/cache_base.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class Decay final : public impl::CachePolicy {
 public:
  std::string name() const override { return "decay"; }

 protected:
  void on_reset(const PolicyContext& ctx) override {
    h_ = ctx.decay_half_life_tokens > 0 ? ctx.decay_half_life_tokens : 128.0;
    t0_ = 0;
    last_t_ = ~0ull;
    inc_ = 1.0;
  }
  double score(std::uint32_t key, const StepInfo& st, std::uint32_t) override {
    if (st.tokens_before != last_t_) {
      last_t_ = st.tokens_before;
      double ex = static_cast<double>(st.tokens_before - t0_) / h_;
      if (ex > 500.0) {
        cache_.rescale(std::exp2(-ex));
        t0_ = st.tokens_before;
        ex = 0.0;
      }
      inc_ = std::exp2(ex);
    }
    return cache_.score(key) + inc_;
  }

 private:
  double h_ = 128.0, inc_ = 1.0;
  std::uint64_t t0_ = 0, last_t_ = 0;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_decay() { return std::make_unique<Decay>(); }
}  // namespace gs::moe
