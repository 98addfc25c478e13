// knapsack.h: choose experts for the GPU under a byte budget (0/1 knapsack).
//
// Items are experts with a value (routing count in the profiling trace: the hits a
// placement earns) and a size in bytes. Maximise total value with total bytes <= budget.
//
// Equal sizes (every expert b bytes): greedy by value is optimal.
//   Proof. Any feasible set holds at most m = floor(budget / b) items. Sort all values
//   v_(1) >= v_(2) >= ... For a feasible set S sorted the same way, s_(i) <= v_(i) for every
//   i (the i-th largest of a subset cannot exceed the i-th largest of the whole set), so
//   value(S) = sum_{i<=|S|} s_(i) <= sum_{i<=m} v_(i) = value(greedy's m largest), and
//   greedy's set is feasible. Hence greedy attains the optimum. (This holds globally across
//   layers too, whenever all layers' experts have the same size.)
// Unequal sizes (e.g. recipes that give some layers' ffn_down_exps Q6_K): dynamic
// programming over capacity units. Sizes are divided by their gcd; when that makes more
// than kMaxUnits capacity units, sizes are rounded UP to units of budget / kMaxUnits (the
// result stays feasible; it may miss the optimum by at most the items that rounding
// excluded), and a final greedy pass fills what is left. `exact` reports which path ran.
#pragma once
#include <cstdint>
#include <vector>

namespace gs::moe {

struct KnapsackItem {
  double value = 0;
  double bytes = 0;
};

struct KnapsackResult {
  std::vector<std::uint8_t> take;  // [n] 1 = chosen
  double value = 0, bytes = 0;
  bool exact = true;               // proven optimal (greedy on equal sizes or exact DP)
};

inline constexpr std::int64_t kKnapsackMaxUnits = 1 << 15;

KnapsackResult knapsack_select(const std::vector<KnapsackItem>& items, double budget_bytes);

}  // namespace gs::moe
