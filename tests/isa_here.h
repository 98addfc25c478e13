// isa_here.h: whether this CPU runs an instruction set's kernels; when it does not, the test
// says so (doctest MESSAGE), so a test never passes silently over forms it could not check.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "qmatrix.h"

inline bool isa_here(gs::ref::Isa isa) {
  using gs::ref::Isa;
  const Isa best = gs::ref::best_isa();
  const bool ok = isa == Isa::Scalar || (isa == Isa::Avx2 && best != Isa::Scalar) || (isa == Isa::Avx512 && best == Isa::Avx512);
  if (!ok) MESSAGE("skipped: " << gs::ref::isa_name(isa) << " is not on this CPU, its forms are not checked here");
  return ok;
}
