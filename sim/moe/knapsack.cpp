// knapsack.cpp: greedy (equal sizes) and DP (unequal sizes) expert selection.
#include "moe/knapsack.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "error.h"

namespace gs::moe {

namespace {

// Greedy by value (ties: lower index first) while items fit; adds to an existing choice.
void greedy_fill(const std::vector<KnapsackItem>& items, double budget, KnapsackResult& r, bool by_density) {
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    double va = by_density ? items[a].value / items[a].bytes : items[a].value;
    double vb = by_density ? items[b].value / items[b].bytes : items[b].value;
    return va > vb;
  });
  for (std::size_t i : order)
    if (!r.take[i] && r.bytes + items[i].bytes <= budget) {
      r.take[i] = 1;
      r.bytes += items[i].bytes;
      r.value += items[i].value;
    }
}

}  // namespace

KnapsackResult knapsack_select(const std::vector<KnapsackItem>& items, double budget) {
  if (!(budget >= 0)) input_error("knapsack: budget " + std::to_string(budget) + " bytes (expected >= 0)");
  KnapsackResult r;
  const std::size_t n = items.size();
  r.take.assign(n, 0);
  if (n == 0) return r;
  for (const auto& it : items)
    if (!(it.bytes > 0) || !(it.value >= 0)) input_error("knapsack: item with bytes <= 0 or negative value");
  bool equal = std::all_of(items.begin(), items.end(), [&](const KnapsackItem& it) { return it.bytes == items[0].bytes; });
  if (equal) {
    greedy_fill(items, budget, r, false);
    return r;
  }
  // Capacity units: gcd of integral sizes when that is small enough, else budget / kMaxUnits.
  std::int64_t g = 0;
  bool integral = true;
  for (const auto& it : items) {
    if (it.bytes != std::floor(it.bytes) || it.bytes > 9e15) integral = false;
    else g = std::gcd(g, static_cast<std::int64_t>(it.bytes));
  }
  double unit = 0;
  std::int64_t cap = 0;
  if (integral && g > 0 && std::floor(budget / static_cast<double>(g)) <= static_cast<double>(kKnapsackMaxUnits)) {
    unit = static_cast<double>(g);
    cap = static_cast<std::int64_t>(std::floor(budget / unit));
  } else {
    unit = budget / static_cast<double>(kKnapsackMaxUnits);
    cap = kKnapsackMaxUnits;
    r.exact = false;
  }
  if (unit <= 0) return r;  // zero budget
  std::vector<std::int64_t> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<std::int64_t>(std::ceil(items[i].bytes / unit - 1e-9));
  // best[c] = max value with capacity c; keep[i] bit c = item i taken at capacity c.
  const std::size_t words = static_cast<std::size_t>(cap) / 64 + 1;
  std::vector<double> best(static_cast<std::size_t>(cap) + 1, 0.0);
  std::vector<std::uint64_t> keep(n * words, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (w[i] > cap) continue;
    std::uint64_t* k = &keep[i * words];
    for (std::int64_t c = cap; c >= w[i]; --c) {
      double v = best[static_cast<std::size_t>(c - w[i])] + items[i].value;
      if (v > best[static_cast<std::size_t>(c)]) {
        best[static_cast<std::size_t>(c)] = v;
        k[static_cast<std::size_t>(c) / 64] |= 1ull << (c % 64);
      }
    }
  }
  std::int64_t c = cap;
  for (std::size_t i = n; i-- > 0;)
    if (keep[i * words + static_cast<std::size_t>(c) / 64] >> (c % 64) & 1) {
      r.take[i] = 1;
      r.bytes += items[i].bytes;
      r.value += items[i].value;
      c -= w[i];
    }
  if (!r.exact) greedy_fill(items, budget, r, true);
  return r;
}

}  // namespace gs::moe
