// expert_cache.h: a byte-bounded GPU cache of experts that evicts the lowest score.
//
// Keys are (slot, expert) pairs, key = slot * E + expert. The caller gives each access a
// score that never decreases for a key (LRU: the access clock; LFU: count and clock;
// decay: a growing accumulator). Eviction removes the resident key with the lowest
// current score. The heap is lazy: a hit only updates score[key] (O(1)); when a popped
// heap entry is stale (its score grew since it was pushed) it is pushed back with the
// current score. Every resident key has exactly one heap entry, so each hit costs at most
// one later re-push: O(log C) amortised per miss, O(1) per hit.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace gs::moe {

class ExpertCache {
 public:
  // key_bytes[key]: bytes of each key; capacity in bytes.
  void reset(std::vector<double> key_bytes, double capacity_bytes);
  bool resident(std::uint32_t key) const { return resident_[key] != 0; }
  // Hit: updates the score, returns true. Miss: inserts (evicting lowest scores until it fits)
  // unless the key alone exceeds the capacity, returns false.
  bool access(std::uint32_t key, double score);
  double used_bytes() const { return used_; }
  double peak_bytes() const { return peak_; }
  // Multiply every score by f > 0 (order preserved); used to keep decayed scores finite.
  void rescale(double f);
  double score(std::uint32_t key) const { return score_[key]; }

 private:
  void push(std::uint32_t key);
  std::vector<double> bytes_, score_;
  std::vector<std::uint8_t> resident_;
  std::vector<std::pair<double, std::uint32_t>> heap_;  // min-heap on (score at push, key)
  double cap_ = 0, used_ = 0, peak_ = 0;
};

}  // namespace gs::moe
