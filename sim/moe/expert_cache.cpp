// expert_cache.cpp: lazy min-heap eviction (see expert_cache.h).
#include "moe/expert_cache.h"

#include <algorithm>
#include <functional>

namespace gs::moe {

namespace {
constexpr auto kGreater = std::greater<std::pair<double, std::uint32_t>>();
}

void ExpertCache::reset(std::vector<double> key_bytes, double capacity_bytes) {
  bytes_ = std::move(key_bytes);
  score_.assign(bytes_.size(), 0.0);
  resident_.assign(bytes_.size(), 0);
  heap_.clear();
  cap_ = capacity_bytes;
  used_ = peak_ = 0;
}

void ExpertCache::push(std::uint32_t key) {
  heap_.emplace_back(score_[key], key);
  std::push_heap(heap_.begin(), heap_.end(), kGreater);
}

bool ExpertCache::access(std::uint32_t key, double score) {
  score_[key] = score;
  if (resident_[key]) return true;
  const double b = bytes_[key];
  if (b > cap_) return false;
  while (used_ + b > cap_) {
    std::pop_heap(heap_.begin(), heap_.end(), kGreater);
    auto [s, victim] = heap_.back();
    heap_.pop_back();
    if (s != score_[victim]) {  // stale: its score grew since the push
      push(victim);
      continue;
    }
    resident_[victim] = 0;
    used_ -= bytes_[victim];
  }
  resident_[key] = 1;
  used_ += b;
  peak_ = std::max(peak_, used_);
  push(key);
  return false;
}

void ExpertCache::rescale(double f) {
  for (double& s : score_) s *= f;
  for (auto& e : heap_) e.first = score_[e.second];
  std::make_heap(heap_.begin(), heap_.end(), kGreater);
}

}  // namespace gs::moe
