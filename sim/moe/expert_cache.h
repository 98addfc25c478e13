// expert_cache.h: a byte-bounded GPU cache of experts that evicts the lowest score.
//
// Keys are (slot, expert) pairs, key = slot * E + expert. The caller gives each access a
// score that never decreases for a key (LFU: count and clock; decay: a growing
// accumulator). Eviction removes the resident key with the lowest current score (ties:
// the lowest key). The minimum is kept by a tournament tree over all keys (leaf value =
// score when resident, +inf otherwise; each inner node holds the min below it and its key):
//   hit     only the leaf grows, O(1): inner nodes may keep a stale, lower value, so every
//           inner value stays a lower bound of the true minimum below it;
//   insert  a value falls from +inf: walk up while it beats the node;
//   evict   while the root's value is stale (differs from its key's leaf), recompute that
//           key's path; then the root is the true minimum: set its leaf to +inf and
//           recompute its path, O(log N). Each stale path is refreshed at most once per hit.
#pragma once
#include <cstdint>
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
  struct Node {
    double v;          // leaf: score if resident, +inf otherwise; inner: the min below
    std::uint32_t k;   // the key holding v
  };
  static Node better(const Node& a, const Node& b) { return b.v < a.v || (b.v == a.v && b.k < a.k) ? b : a; }
  void set_leaf(std::uint32_t key, double v) { tree_[n_leaves_ + key].v = v; }
  void raised(std::uint32_t key);               // key's value grew: fix ancestors
  void lowered(std::uint32_t key);              // key's value fell: fix ancestors
  void rebuild();
  std::vector<double> bytes_, score_;
  std::vector<std::uint8_t> resident_;
  std::vector<Node> tree_;  // [2N]: leaves at N + key, tree_[i] = better(tree_[2i], tree_[2i+1])
  std::uint32_t n_leaves_ = 1, n_keys_ = 0;
  double cap_ = 0, used_ = 0, peak_ = 0;
};

}  // namespace gs::moe
