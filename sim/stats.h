// stats.h: the median every report and benchmark quotes (0 for no values).
#pragma once
#include <algorithm>
#include <vector>

namespace gs {

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace gs
