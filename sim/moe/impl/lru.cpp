// lru.cpp: "lru" — evicts the expert used least recently. Clock: one tick per access, in
// trace order (steps, then layers, then the order of uses within a layer).
#include "moe/impl/cache_base.h"
#include "moe/policies.h"

namespace gs::moe {
namespace {
class Lru final : public impl::CachePolicy {
 public:
  std::string name() const override { return "lru"; }

 protected:
  void on_reset(const PolicyContext&) override { clock_ = 0; }
  double score(std::uint32_t, const StepInfo&, std::uint32_t) override { return static_cast<double>(++clock_); }

 private:
  std::uint64_t clock_ = 0;
};
}  // namespace
std::unique_ptr<PlacementPolicy> make_lru() { return std::make_unique<Lru>(); }
}  // namespace gs::moe
