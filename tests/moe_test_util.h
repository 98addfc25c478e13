// moe_test_util.h: small builders shared by the MoE tests.
#pragma once
#include <vector>

#include "moe/placement_policy.h"
#include "moe/trace.h"

namespace moetest {

// A decode-only trace of one MoE layer with K = 1: token t routes seq[t].
inline gs::moe::Trace one_layer_trace(int n_expert, const std::vector<int>& seq) {
  std::vector<gs::moe::TraceRecord> recs;
  for (std::size_t t = 0; t < seq.size(); ++t) {
    gs::moe::TraceRecord r;
    r.token = static_cast<std::uint32_t>(t);
    r.layer = 0;
    r.experts = {static_cast<std::uint16_t>(seq[t])};
    r.line = t + 1;
    recs.push_back(r);
  }
  return gs::moe::build_trace(recs, {1, n_expert, 1}, "hand-made");
}

// A context where every expert is `expert_bytes` and every rate is given (GPU faster than CPU).
inline gs::moe::PolicyContext context_for(const gs::moe::Trace& tr, double expert_bytes, double budget_bytes) {
  gs::moe::PolicyContext c;
  c.shape = tr.shape;
  c.layers = tr.layers;
  c.cost.expert_bytes.assign(tr.layers.size(), expert_bytes);
  c.cost.flops_per_token = 6.0 * 2816 * 704;
  c.cost.gpu_bytes_per_s = 800e9;
  c.cost.gpu_flops_per_s = 100e12;
  c.cost.cpu_bytes_per_s = 60e9;
  c.cost.cpu_flops_per_s = 1e12;
  c.cost.link_bytes_per_s = 20e9;
  c.vram_budget_bytes = budget_bytes;
  return c;
}

}  // namespace moetest
