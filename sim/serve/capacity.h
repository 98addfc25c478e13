// capacity.h: the largest load a server holds within an SLO, by bisection on the simulator.
#pragma once
#include <functional>

#include "sim.h"

namespace gs::serve {

struct CapacityProbe {
  double load = 0;   // requests/s or users
  bool met = false;
  ServeResult result;
};

struct CapacityResult {
  bool found = false;     // some load met the SLO
  double best = 0;        // the largest load that met it
  std::vector<CapacityProbe> probes;  // in the order run (results without per-request records)
  ServeResult at_best;
};

// run(load) simulates at that load; meets the SLO (or, with no limits, is not saturated).
// Starts at `start`, halves down to `min_load` or doubles up to `max_load` to bracket, then
// bisects to a relative width of rel_tol (integer loads: to 1).
CapacityResult find_max_load(const std::function<ServeResult(double)>& run, const Slo& slo, double start,
                             double min_load, double max_load, bool integer, double rel_tol = 0.02);

}  // namespace gs::serve
