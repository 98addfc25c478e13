// expert_cache.cpp: tournament-tree eviction (see expert_cache.h).
#include "moe/expert_cache.h"

#include <algorithm>
#include <limits>

namespace gs::moe {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

void ExpertCache::rebuild() {
  for (std::uint32_t i = n_leaves_ - 1; i >= 1; --i) tree_[i] = better(tree_[2 * i], tree_[2 * i + 1]);
}

void ExpertCache::reset(std::vector<double> key_bytes, double capacity_bytes) {
  bytes_ = std::move(key_bytes);
  n_keys_ = static_cast<std::uint32_t>(bytes_.size());
  score_.assign(n_keys_, 0.0);
  resident_.assign(n_keys_, 0);
  n_leaves_ = 1;
  while (n_leaves_ < n_keys_) n_leaves_ *= 2;
  tree_.assign(2 * static_cast<std::size_t>(n_leaves_), Node{kInf, 0});
  for (std::uint32_t k = 0; k < n_leaves_; ++k) tree_[n_leaves_ + k] = Node{kInf, k};
  rebuild();
  cap_ = capacity_bytes;
  used_ = peak_ = 0;
}

void ExpertCache::raised(std::uint32_t k) {
  for (std::uint32_t i = (n_leaves_ + k) / 2; i >= 1 && tree_[i].k == k; i /= 2) tree_[i] = better(tree_[2 * i], tree_[2 * i + 1]);
}

void ExpertCache::lowered(std::uint32_t k) {
  const Node leaf = tree_[n_leaves_ + k];
  for (std::uint32_t i = (n_leaves_ + k) / 2; i >= 1; i /= 2) {
    if (tree_[i].k != k && better(tree_[i], leaf).k != k) break;
    tree_[i] = leaf;
  }
}

bool ExpertCache::access(std::uint32_t key, double score) {
  score_[key] = score;
  if (resident_[key]) {
    set_leaf(key, score);  // inner nodes may now hold a lower, stale value: fixed lazily below
    return true;
  }
  const double b = bytes_[key];
  if (b > cap_) return false;
  while (used_ + b > cap_) {
    // Inner values are lower bounds of their subtree's true minimum (scores only grow), so
    // a root whose value equals its key's leaf is the true minimum; otherwise refresh
    // that key's path and look again.
    while (tree_[1].v != tree_[n_leaves_ + tree_[1].k].v) raised(tree_[1].k);
    const std::uint32_t victim = tree_[1].k;
    resident_[victim] = 0;
    used_ -= bytes_[victim];
    set_leaf(victim, kInf);
    raised(victim);
  }
  resident_[key] = 1;
  used_ += b;
  peak_ = std::max(peak_, used_);
  set_leaf(key, score);
  lowered(key);
  return false;
}

void ExpertCache::rescale(double f) {
  for (double& s : score_) s *= f;
  for (std::uint32_t k = 0; k < n_keys_; ++k)
    if (resident_[k]) set_leaf(k, score_[k]);
  rebuild();  // order is preserved up to rounding; rebuilding keeps the tree exact
}

}  // namespace gs::moe
