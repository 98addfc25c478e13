// step_cost.cpp: tabulates the estimator's step costs (see step_cost.h).
#include "step_cost.h"

#include <algorithm>
#include <cmath>

namespace gs::serve {

namespace {

double attention_s(const PhaseResult& ph) {
  double s = 0;
  for (Op op : {Op::AttnScores, Op::AttnSoftmax, Op::AttnValues}) s += ph.ops[static_cast<std::size_t>(op)].time_s;
  return s;
}

// Index of the grid cell holding x (grid ascending, x clamped into it) and the weight of its upper end.
std::pair<std::size_t, double> locate(const std::vector<double>& g, double x) {
  if (x <= g.front() || g.size() == 1) return {0, 0.0};
  if (x >= g.back()) return {g.size() - 2, 1.0};
  const std::size_t i = static_cast<std::size_t>(std::upper_bound(g.begin(), g.end(), x) - g.begin()) - 1;
  return {i, (x - g[i]) / (g[i + 1] - g[i])};
}

double interp(const std::vector<double>& g, const std::vector<double>& v, double x) {
  if (g.size() == 1) return v[0];
  auto [i, w] = locate(g, x);
  // beyond the last point: extend the last segment linearly
  if (x > g.back()) w = (x - g[i]) / (g[i + 1] - g[i]);
  return v[i] + w * (v[i + 1] - v[i]);
}

// 1, 2, ... 32, then x1.08 up to hi (hi itself included).
std::vector<double> token_grid(double hi) {
  std::vector<double> g;
  for (double t = 1; t <= std::min(32.0, hi); t += 1) g.push_back(t);
  for (double t = 34; t < hi; t = std::ceil(t * 1.15)) g.push_back(t);
  if (g.back() < hi) g.push_back(hi);
  return g;
}

}  // namespace

StepCost::StepCost(const ModelOps& mo, const HardwareRates& hw, const RunPlacement& pl, double kv_bytes_per_element,
                   bool kv_block_quantized, int max_step_tokens, i64 max_depth_tokens, int ubatch_tokens) {
  ub_ = std::max(1, std::min(ubatch_tokens, std::max(1, max_step_tokens)));
  Workload base;
  base.kv_bytes_per_element = kv_bytes_per_element;
  base.kv_block_quantized = kv_block_quantized;
  base.decode_after_prompt = false;
  base.gen_tokens = 1;
  base.prompt_tokens = 0;

  // body and logits: one decode step of T sequences at depth 0, with and without logits
  t_grid_ = token_grid(ub_);
  for (double T : t_grid_) {
    Workload w = base;
    w.batch = static_cast<int>(T);
    w.decode_logits = false;
    const Estimate e0 = estimate(mo, hw, pl, w);
    w.decode_logits = true;
    const Estimate e1 = estimate(mo, hw, pl, w);
    body_.push_back(e0.decode.time_s - attention_s(e0.decode));
    logits_.push_back(std::max(0.0, e1.decode.time_s - e0.decode.time_s));
  }

  // decode attention on two uniform depth grids whose steps are powers of two: a fine one up
  // to a few windows (a power-of-two window lands on a grid point, so the cap is exact) and a
  // coarse one beyond, where every layer's cost is linear in the depth
  const double max_d = static_cast<double>(std::max<i64>(max_depth_tokens, 1));
  const double near = std::min(max_d, std::max(4096.0, 4.0 * mo.W));
  d_step_ = 1;
  while (near / d_step_ > 128) d_step_ *= 2;
  for (double d = 0; d <= near + d_step_; d += d_step_) {
    Workload w = base;
    w.depth_tokens = static_cast<i64>(d);
    dec_attn_.push_back(attention_s(estimate(mo, hw, pl, w).decode));
  }
  near_end_ = static_cast<double>(dec_attn_.size() - 1) * d_step_;
  d_step_far_ = d_step_;
  while ((max_d - near_end_) / d_step_far_ > 128) d_step_far_ *= 2;
  for (double d = near_end_; d <= max_d + d_step_far_; d += d_step_far_) {
    Workload w = base;
    w.depth_tokens = static_cast<i64>(d);
    dec_attn_far_.push_back(attention_s(estimate(mo, hw, pl, w).decode));
  }

  // prefill attention: chunk c (one micro-batch) over depth d
  for (double c = 1; c < ub_; c = std::ceil(c * 1.5)) pc_grid_.push_back(c);
  pc_grid_.push_back(ub_);
  pd_grid_.push_back(0);
  for (double d = 16; d < max_d; d = std::ceil(d * 2)) pd_grid_.push_back(d);
  pd_grid_.push_back(max_d);
  if (mo.W > 0 && mo.W < max_d) pd_grid_.push_back(mo.W);
  std::sort(pd_grid_.begin(), pd_grid_.end());
  pd_grid_.erase(std::unique(pd_grid_.begin(), pd_grid_.end()), pd_grid_.end());
  for (double c : pc_grid_)
    for (double d : pd_grid_) {
      Workload w = base;
      w.prompt_tokens = static_cast<i64>(c);
      w.depth_tokens = static_cast<i64>(d);
      w.ubatch_tokens = static_cast<int>(c);
      pre_attn_.push_back(attention_s(estimate(mo, hw, pl, w).prefill));
    }
}

StepCost StepCost::linear(double fixed_s, double per_token_s, double per_kv_token_s, int ubatch_tokens,
                          i64 max_depth_tokens) {
  StepCost c;
  c.ub_ = std::max(1, ubatch_tokens);
  c.t_grid_ = {1, static_cast<double>(c.ub_) + 1};
  c.body_ = {fixed_s + per_token_s, fixed_s + per_token_s * (c.ub_ + 1)};
  c.logits_ = {0, 0};
  c.d_step_ = static_cast<double>(std::max<i64>(max_depth_tokens, 1));
  c.dec_attn_ = {0, per_kv_token_s * c.d_step_};
  c.near_end_ = c.d_step_;
  c.pc_grid_ = {1};
  c.pd_grid_ = {0, 1};
  c.pre_attn_ = {0, 0};
  return c;
}

double StepCost::body_pass_s(double T) const { return T <= 0 ? 0 : interp(t_grid_, body_, T); }

double StepCost::body_s(double T) const {
  if (T <= 0) return 0;
  const double n_full = std::floor(T / ub_), r = T - n_full * ub_;
  return n_full * body_pass_s(ub_) + body_pass_s(r);
}

double StepCost::logits_s(double n) const { return n <= 0 ? 0 : interp(t_grid_, logits_, n); }

double StepCost::decode_attn_s(double d) const {
  const bool far = d > near_end_ && dec_attn_far_.size() > 1;
  const std::vector<double>& v = far ? dec_attn_far_ : dec_attn_;
  const double x = (far ? d - near_end_ : std::max(0.0, d)) / (far ? d_step_far_ : d_step_);
  std::size_t i = static_cast<std::size_t>(x);
  if (i + 1 >= v.size()) i = v.size() - 2;
  const double w = x - static_cast<double>(i);
  return v[i] + w * (v[i + 1] - v[i]);
}

double StepCost::prefill_attn_s(double d, double c) const {
  if (c <= 0) return 0;
  auto [ic, wc] = locate(pc_grid_, c);
  auto [id, wd] = locate(pd_grid_, d);
  const std::size_t nd = pd_grid_.size();
  auto at = [&](std::size_t a, std::size_t b) { return pre_attn_[a * nd + b]; };
  if (pc_grid_.size() == 1) return (1 - wd) * at(0, id) + wd * at(0, id + 1);
  const double lo = (1 - wd) * at(ic, id) + wd * at(ic, id + 1);
  const double hi = (1 - wd) * at(ic + 1, id) + wd * at(ic + 1, id + 1);
  return (1 - wc) * lo + wc * hi;
}

}  // namespace gs::serve
