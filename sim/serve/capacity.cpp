// capacity.cpp: bracket and bisect (see capacity.h).
#include "capacity.h"

#include <cmath>

namespace gs::serve {

CapacityResult find_max_load(const std::function<ServeResult(double)>& run, const Slo& slo, double start,
                             double min_load, double max_load, bool integer, double rel_tol) {
  CapacityResult c;
  auto probe = [&](double x) {
    if (integer) x = std::round(x);
    CapacityProbe p;
    p.load = x;
    ServeResult r = run(x);
    p.met = check_slo(r, slo).met;
    if (p.met && x >= c.best) {
      c.found = true;
      c.best = x;
      c.at_best = r;
    }
    r.records.clear();
    r.records.shrink_to_fit();
    p.result = std::move(r);
    c.probes.push_back(std::move(p));
    return c.probes.back().met;
  };
  double lo = 0, hi = 0;
  double x = std::clamp(start, min_load, max_load);
  if (probe(x)) {
    lo = x;
    while (lo < max_load) {
      const double up = std::min(max_load, lo * 2);
      if (!probe(up)) {
        hi = up;
        break;
      }
      lo = up;
    }
    if (hi == 0) return c;  // holds up to max_load
  } else {
    hi = x;
    while (hi > min_load) {
      const double down = std::max(min_load, hi / 2);
      if (probe(down)) {
        lo = down;
        break;
      }
      hi = down;
      if (down <= min_load) return c;  // not even the smallest load
    }
    if (lo == 0) return c;
  }
  for (int it = 0; it < 40; ++it) {
    if (integer ? hi - lo <= 1 : (hi - lo) <= rel_tol * lo) break;
    const double mid = integer ? std::floor((lo + hi) / 2) : 0.5 * (lo + hi);
    if (mid <= lo) break;
    if (probe(mid)) lo = mid; else hi = mid;
  }
  return c;
}

}  // namespace gs::serve
