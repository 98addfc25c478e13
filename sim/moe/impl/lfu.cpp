// lfu.cpp: "lfu" — evicts the expert with the fewest uses so far ("perfect" LFU: the count
// of a key survives its eviction), ties broken by least recent use. A use is one step in
// which the expert was routed (whatever its token count), so decode and prefill count alike.
// score = count * 2^32 + access clock (exact in a double while count < 2^21, clock < 2^32).
#include "moe/impl/cache_base.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class Lfu final : public impl::CachePolicy {
 public:
  std::string name() const override { return "lfu"; }

 protected:
  void on_reset(const PolicyContext& ctx) override {
    count_.assign(static_cast<std::size_t>(ctx.n_slots()) * e_, 0);
    clock_ = 0;
  }
  double score(std::uint32_t key, const StepInfo&, std::uint32_t) override {
    return static_cast<double>(++count_[key]) * 4294967296.0 + static_cast<double>(++clock_ & 0xFFFFFFFFu);
  }

 private:
  std::vector<std::uint32_t> count_;
  std::uint64_t clock_ = 0;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_lfu() { return std::make_unique<Lfu>(); }
}  // namespace gs::moe
