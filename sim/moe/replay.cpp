// replay.cpp: the replay loop (see replay.h). Hot path: one policy call per (step, layer),
// no allocation inside the loop.
#include "moe/replay.h"

#include <algorithm>

#include "error.h"

namespace gs::moe {

double SimpleRestModel::operator()(std::uint32_t n_tokens, std::uint64_t) const {
  return std::max(weight_bytes / bytes_per_s, n_tokens * flops_per_token / flops_per_s) + overhead_s;
}

void PhaseStats::add(const PhaseStats& o) {
  tokens += o.tokens;
  steps += o.steps;
  gpu_expert_s += o.gpu_expert_s;
  cpu_expert_s += o.cpu_expert_s;
  transfer_s += o.transfer_s;
  rest_s += o.rest_s;
  transfer_bytes += o.transfer_bytes;
  events += o.events;
  hits += o.hits;
  copies += o.copies;
  cpu_events += o.cpu_events;
}

double ReplayResult::hit_rate() const {
  double ev = decode.events + prefill.events;
  return ev > 0 ? (decode.hits + prefill.hits) / ev : 0.0;
}
double ReplayResult::layer_hit_rate(int s) const {
  auto i = static_cast<std::size_t>(s);
  return layer_events[i] > 0 ? layer_hits[i] / layer_events[i] : 0.0;
}

void validate_context(const Trace& tr, const PolicyContext& ctx) {
  if (ctx.shape.n_expert != tr.shape.n_expert || ctx.shape.top_k != tr.shape.top_k || ctx.layers != tr.layers)
    input_error("replay: trace " + tr.source + " does not have the model's MoE shape (experts, top_k, MoE layers)");
  if (ctx.cost.expert_bytes.size() != tr.layers.size())
    input_error("replay: expert_bytes has " + std::to_string(ctx.cost.expert_bytes.size()) + " entries (expected " +
                std::to_string(tr.layers.size()) + ")");
  if (!(ctx.vram_budget_bytes >= 0)) input_error("replay: VRAM budget is negative (expected >= 0 bytes)");
  const ExpertCostModel& c = ctx.cost;
  for (double r : {c.gpu_bytes_per_s, c.gpu_flops_per_s, c.cpu_bytes_per_s, c.cpu_flops_per_s, c.link_bytes_per_s})
    if (!(r > 0)) input_error("replay: a bandwidth or compute rate is zero or missing (expected > 0)");
  if (!ctx.profile_counts.empty() && ctx.profile_counts.size() != tr.layers.size() * static_cast<std::size_t>(tr.shape.n_expert))
    input_error("replay: profile counts do not match the trace's layers x experts");
}

namespace {

struct LayerAcc {
  double gpu_bytes = 0, gpu_compute_s = 0, cpu_bytes = 0, cpu_compute_s = 0, link_bytes = 0;
};

// One (step, slot): ask the policy, account events and bytes into acc and stats.
inline void run_slot(PlacementPolicy& pol, const PolicyContext& ctx, const StepInfo& st, int s,
                     const ExpertUse* uses, int n, Where* where, PhaseStats& ph, ReplayResult& res) {
  const double extra = pol.place(st, s, uses, n, where);
  const ExpertCostModel& c = ctx.cost;
  const double eb = c.expert_bytes[static_cast<std::size_t>(s)];
  LayerAcc a;
  a.link_bytes = extra;
  double ev = 0, hit = 0, cp = 0, cpu = 0;
  for (int i = 0; i < n; ++i) {
    const double nt = uses[i].n_tokens;
    ev += nt;
    switch (where[i]) {
      case Where::Gpu:
        hit += nt;
        a.gpu_bytes += eb;
        a.gpu_compute_s += c.gpu_compute_s(nt);
        break;
      case Where::Transfer:
        cp += nt;
        a.gpu_bytes += eb;
        a.gpu_compute_s += c.gpu_compute_s(nt);
        a.link_bytes += eb;
        break;
      case Where::Cpu:
        cpu += nt;
        a.cpu_bytes += eb;
        a.cpu_compute_s += c.cpu_compute_s(nt);
        break;
    }
  }
  if (a.gpu_bytes > 0) ph.gpu_expert_s += std::max(a.gpu_bytes / c.gpu_bytes_per_s, a.gpu_compute_s);
  if (a.cpu_bytes > 0) ph.cpu_expert_s += std::max(a.cpu_bytes / c.cpu_bytes_per_s, a.cpu_compute_s);
  ph.transfer_s += a.link_bytes / c.link_bytes_per_s;
  ph.transfer_bytes += a.link_bytes;
  ph.events += ev;
  ph.hits += hit;
  ph.copies += cp;
  ph.cpu_events += cpu;
  res.layer_events[static_cast<std::size_t>(s)] += ev;
  res.layer_hits[static_cast<std::size_t>(s)] += hit;
}

}  // namespace

ReplayResult replay(const Trace& tr, PlacementPolicy& pol, const PolicyContext& ctx, const ReplayConfig& cfg) {
  validate_context(tr, ctx);
  if (cfg.ubatch == 0) input_error("replay: --ubatch 0 (expected at least 1 token per prefill step)");
  pol.reset(ctx);
  ReplayResult res;
  res.policy = pol.name();
  const int nl = tr.n_slots(), k = tr.k();
  const std::size_t e = static_cast<std::size_t>(tr.shape.n_expert);
  res.layer_events.assign(static_cast<std::size_t>(nl), 0.0);
  res.layer_hits.assign(static_cast<std::size_t>(nl), 0.0);
  std::vector<ExpertUse> uses(e);
  std::vector<Where> where(e);
  std::vector<std::uint32_t> count(e, 0);
  const std::size_t T = tr.n_tokens();
  std::size_t t = 0;
  while (t < T) {
    StepInfo st;
    st.tokens_before = t;
    if (tr.phase[t] == Phase::Decode) {  // one token: its K experts are the uses
      PhaseStats& ph = res.decode;
      st.n_tokens = 1;
      for (int s = 0; s < nl; ++s) {
        const std::uint16_t* r = tr.row(t, s);
        for (int i = 0; i < k; ++i) uses[static_cast<std::size_t>(i)] = {r[i], 1};
        run_slot(pol, ctx, st, s, uses.data(), k, where.data(), ph, res);
      }
      ph.tokens += 1;
      ph.steps += 1;
      if (cfg.rest_s) ph.rest_s += cfg.rest_s(1, t);
      ++t;
      continue;
    }
    // Prefill: gather up to ubatch consecutive prefill tokens.
    std::size_t t1 = t;
    while (t1 < T && t1 - t < cfg.ubatch && tr.phase[t1] == Phase::Prefill) ++t1;
    PhaseStats& ph = res.prefill;
    st.n_tokens = static_cast<std::uint32_t>(t1 - t);
    for (int s = 0; s < nl; ++s) {
      int n = 0;
      for (std::size_t u = t; u < t1; ++u) {
        const std::uint16_t* r = tr.row(u, s);
        for (int i = 0; i < k; ++i)
          if (count[r[i]]++ == 0) uses[static_cast<std::size_t>(n++)].expert = r[i];
      }
      for (int i = 0; i < n; ++i) {
        auto& u = uses[static_cast<std::size_t>(i)];
        u.n_tokens = count[u.expert];
        count[u.expert] = 0;
      }
      run_slot(pol, ctx, st, s, uses.data(), n, where.data(), ph, res);
    }
    ph.tokens += static_cast<double>(st.n_tokens);
    ph.steps += 1;
    if (cfg.rest_s) ph.rest_s += cfg.rest_s(st.n_tokens, t);
    t = t1;
  }
  res.expert_vram_bytes = pol.expert_vram_bytes();
  res.budget_exempt = pol.budget_exempt();
  res.is_static = pol.is_static();
  if (res.is_static) res.resident_map = pol.resident_map();
  return res;
}

}  // namespace gs::moe
