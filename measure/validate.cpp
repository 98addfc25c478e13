// validate.cpp: the matrix, predictions on a probed machine, error statistics,
// per-op comparison, llama-bench predictions (reports: validate_report.cpp).
#include "validate.h"

#include <map>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "engine.h"
#include "error.h"
#include "memory_fit.h"
#include "model.h"
#include "ops.h"
#include "quant.h"
#include "units.h"
#include "stats.h"
#include "tensors.h"

namespace gs {

std::string ValidateConfig::label() const {
  return model + " " + quant + " p" + std::to_string(prompt) + " d" + std::to_string(depth) + " t" + std::to_string(threads);
}

std::vector<ValidateConfig> validate_matrix(bool quick) {
  const std::string e2b = "gemma4-e2b", e4b = "gemma4-e4b", moe = "gemma4-26b-a4b", dense = "gemma4-31b";
  if (quick) {
    // CI: the smallest variant, two formats, both thread counts (files cached after the first run).
    return {{e2b, "q4_0", 64, 0, 8, 2}, {e2b, "q8_0", 64, 0, 8, 1}};
  }
  // Configurations whose predicted run time exceeds the budget (--max-run-s) are skipped
  // with that reason by the caller (the 4096-token KV fill is seeded: ValidateConfig::seeded_fill).
  // Decode steps: 8 reps of 4 for E2B / E4B, 4 for the 26B, 2 for the 31B. On a shared VM one
  // rep's tok/s can move +-15-25% against the triad measured around it (the bandwidth changes
  // faster than it is sampled), and the row's error is the median of its reps' errors: a few
  // reps are not enough.
  return {
      // E2B: every format, both prompts, both thread counts, depth 4096.
      {e2b, "q4_0", 64, 0, 32, 2}, {e2b, "q8_0", 64, 0, 32, 2}, {e2b, "q4_k_m", 64, 0, 32, 2},
      {e2b, "q4_0", 64, 0, 32, 1}, {e2b, "q8_0", 64, 0, 32, 1}, {e2b, "q4_k_m", 64, 0, 32, 1},
      {e2b, "q4_0", 512, 0, 32, 2}, {e2b, "q8_0", 512, 0, 32, 1}, {e2b, "q4_0", 64, 4096, 32, 2},
      // E4B.
      {e4b, "q4_0", 64, 0, 32, 2}, {e4b, "q4_k_m", 64, 0, 32, 2}, {e4b, "q4_0", 64, 0, 32, 1},
      {e4b, "q4_k_m", 64, 0, 32, 1}, {e4b, "q4_0", 512, 0, 32, 2},
      // 26B A4B (MoE): Q8_0 does not fit 24 GiB.
      {moe, "q4_0", 64, 0, 16, 2}, {moe, "q4_0", 64, 0, 16, 1}, {moe, "q8_0", 64, 0, 16, 2},
      // 31B dense: Q8_0 does not fit.
      {dense, "q4_0", 64, 0, 8, 2}, {dense, "q8_0", 64, 0, 8, 2},
  };
}

System machine_system(const MachineRates& r) {
  if (r.bandwidth_bytes_per_s <= 0) input_error("validate: no measured bandwidth for " + std::to_string(r.threads) + " thread(s)");
  Device d;
  d.id = "this-machine-t" + std::to_string(r.threads);
  d.name = r.cpu_name + " (" + std::to_string(r.threads) + " threads, probed)";
  d.kind = "cpu";
  d.backend = "cpu";
  d.memory_bytes = r.memory_bytes;
  d.memory_bandwidth_bytes_per_s = r.bandwidth_bytes_per_s;
  if (r.fp32_flops_per_s > 0) d.peak_flops_per_s["fp32"] = r.fp32_flops_per_s;
  if (r.int8_ops_per_s > 0) d.peak_flops_per_s["int8"] = r.int8_ops_per_s;
  d.cores = r.threads;
  d.weight_stream_bytes_per_s = r.weight_stream_bytes_per_s;
  d.probed_engine_constants = r.engine_constants;
  d.attention_reads_f16 = r.attention_reads_f16;
  d.probed_isa = r.isa;
  d.probed_tag = r.probe_tag;
  d.sources = {{"all", "measured: gemmasim probe / validate (STREAM triad, FMA and int8 loops: VNNI, or AVX2 maddubs) at " + std::to_string(r.threads) + " threads"}};
  System s;
  s.id = d.id;
  s.name = d.name;
  s.host = d;
  s.host_memory_bytes = r.memory_bytes;
  s.host_link = {"none", 0, 0, 0};
  s.gpu_link = {"none", 0, 0, 0};
  s.sources = d.sources;
  return s;
}

double ple_resident_bytes(double table_bytes, double row_bytes, double rows, double fault_bytes) {
  if (table_bytes <= 0 || rows <= 0) return 0;
  const double unit = std::max(fault_bytes, 4096.0) + row_bytes;
  if (unit >= table_bytes) return table_bytes;
  return table_bytes * (1.0 - std::pow(1.0 - unit / table_bytes, rows));
}

i64 largest_step_tokens(const ValidateConfig& c, int ubatch_tokens) {
  const i64 ub = std::max(1, ubatch_tokens);
  return std::max({std::min(c.prompt, ub), c.seeded_fill ? i64{1} : std::min(c.depth, ub), i64{1}});
}

namespace {

FitResult fit_run(const ValidateConfig& c, double memory_bytes, const std::string& engine_id, const System* sys) {
  const ModelSpec m = find_model(c.model);
  const QuantRecipe& q = find_recipe(c.quant);
  MachineRates r;
  r.memory_bytes = memory_bytes;
  r.bandwidth_bytes_per_s = 1e9;  // irrelevant to memory
  const System s = sys ? *sys : machine_system(r);
  const MemoryRules rules = load_memory_rules(engine_id);
  FitOptions o;
  o.context_tokens = c.depth + c.prompt + c.gen;
  o.kv_type = "f16";
  o.step_tokens = largest_step_tokens(c, rules.ubatch_tokens);
  return fit(m, s, q, rules, o);
}

// PLE table bytes the run never makes resident: the table minus ple_resident_bytes() for
// the tokens it sees (depth filler unless the fill is seeded + prompt + generated tokens + the first one).
double ple_not_resident(const ModelSpec& m, const QuantRecipe& q, const ValidateConfig& c, double fault_bytes) {
  const WeightBytes wb = weight_bytes(m, q);
  if (wb.ple_table_bytes <= 0 || m.ple.vocab <= 0) return 0;
  const double row = wb.ple_table_bytes / static_cast<double>(m.ple.vocab);
  const i64 fill = c.seeded_fill ? 0 : c.depth;
  const double rows = std::min<double>(static_cast<double>(m.ple.vocab), static_cast<double>(fill + c.prompt + c.gen + 1));
  return std::max(0.0, wb.ple_table_bytes - ple_resident_bytes(wb.ple_table_bytes, row, rows, fault_bytes));
}

}  // namespace

Prediction predict_run(const ValidateConfig& c, const MachineRates& r, const std::string& engine_id) {
  const ModelSpec m = find_model(c.model);
  const QuantRecipe& q = find_recipe(c.quant);
  const System s = machine_system(r);
  const EngineProfile e = resolve_engine_for(engine_id, s);  // the reference profile with this machine's probe
  Workload wl;
  wl.prompt_tokens = c.prompt;
  wl.gen_tokens = c.gen;
  wl.depth_tokens = c.depth;
  wl.kv_bytes_per_element = 2;
  wl.decode_after_prompt = true;
  Prediction p;
  p.est = estimate(m, s, q, e, RunPlacement{}, wl);
  p.prefill_tok_per_s = p.est.prefill_tok_per_s;
  p.decode_tok_per_s = p.est.decode_tok_per_s;
  const FitResult f = fit_run(c, r.memory_bytes, engine_id, &s);
  p.fit_total_bytes = f.total_bytes;
  p.fits = f.fits;
  p.ple_not_resident_bytes = ple_not_resident(m, q, c, r.fault_bytes);
  p.peak_bytes = f.total_bytes - p.ple_not_resident_bytes;
  if (r.page_cache_room_bytes > 0 && r.disk_read_bytes_per_s > 0 && p.peak_bytes > r.page_cache_room_bytes) {
    double decode_weights = 0, prefill_weights = 0;
    for (const auto& o : p.est.decode.ops) decode_weights += o.cost.weight_bytes;
    for (const auto& o : p.est.prefill.ops) prefill_weights += o.cost.weight_bytes;
    const double excess = p.peak_bytes - r.page_cache_room_bytes;
    p.disk_bytes_per_pass = excess;
    p.disk_s_per_token = std::min(excess, decode_weights) / r.disk_read_bytes_per_s;
    p.disk_s_prefill = std::min(excess, prefill_weights) / r.disk_read_bytes_per_s;  // prefill_weights: every micro-batch's
    if (p.decode_tok_per_s > 0) p.decode_tok_per_s = 1.0 / (1.0 / p.decode_tok_per_s + p.disk_s_per_token);
    if (p.prefill_tok_per_s > 0)
      p.prefill_tok_per_s = static_cast<double>(c.prompt) / (static_cast<double>(c.prompt) / p.prefill_tok_per_s + p.disk_s_prefill);
  }
  return p;
}

std::vector<std::string> streamed_formats(const ValidateConfig& c, double min_share) {
  const ModelSpec m = find_model(c.model);
  const QuantRecipe& q = find_recipe(c.quant);
  const auto layout = weight_layout(m, q);
  const std::vector<TensorInfo>& ts = layout->tensors;
  const std::vector<GgmlType>& types = layout->types;
  bool untied = false;
  for (const auto& t : ts) untied = untied || t.role == TensorRole::Output;
  std::map<std::string, double> bytes;
  double total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const TensorInfo& t = ts[i];
    if (!t.is_matrix() || t.role == TensorRole::PleTable || (t.role == TensorRole::TokenEmbd && untied)) continue;
    double b = static_cast<double>(layout->bytes[i]);
    if (t.is_expert() && m.moe.n_expert > 0) b *= static_cast<double>(m.moe.n_expert_used) / static_cast<double>(m.moe.n_expert);
    bytes[type_info(types[i]).name] += b;
    total += b;
  }
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [f, b] : bytes)
    if (total > 0 && b >= min_share * total) order.push_back({b, f});
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (const auto& [b, f] : order) out.push_back(f);
  return out;
}

std::string memory_skip_reason(const ValidateConfig& c, double memory_bytes, double fault_bytes, const std::string& engine_id) {
  const FitResult f = fit_run(c, memory_bytes, engine_id, nullptr);
  const ModelSpec m = find_model(c.model);
  const double need = f.total_bytes - ple_not_resident(m, find_recipe(c.quant), c, fault_bytes);
  // Keep 10% of physical memory (at least 2 GiB) for the OS, the page cache of the
  // probe arrays and the other processes of a shared machine.
  const double margin = std::max(2 * kGiB, 0.10 * memory_bytes);
  if (need + margin <= memory_bytes) return "";
  char b[256];
  std::snprintf(b, sizeof b, "needs %.1f GiB (memory model, %s engine) + %.1f GiB margin > %.1f GiB of memory", need / kGiB,
                engine_id.c_str(), margin / kGiB, memory_bytes / kGiB);
  return b;
}

std::vector<double> rep_tok_per_s(const std::vector<double>& step_s, i64 every) {
  std::vector<double> out;
  if (every <= 0) return out;
  for (std::size_t i = 0; i < step_s.size(); i += static_cast<std::size_t>(every)) {
    const std::vector<double> rep(step_s.begin() + static_cast<std::ptrdiff_t>(i),
                                  step_s.begin() + static_cast<std::ptrdiff_t>(std::min(step_s.size(), i + static_cast<std::size_t>(every))));
    const double m = median(rep);
    out.push_back(m > 0 ? 1.0 / m : 0);
  }
  return out;
}

void ValidateRow::compute_errors() {
  auto err = [](double p, double m) { return m > 0 ? p / m - 1 : 0; };
  err_prefill = err(pred.prefill_tok_per_s, meas.prefill_tok_per_s);
  err_decode = err(pred.decode_tok_per_s, meas.decode_tok_per_s);
  if (!decode_reps.empty()) {  // each rep against its own prediction, then the median
    std::vector<double> e;
    for (const DecodeRep& d : decode_reps)
      if (d.meas_tok_per_s > 0) e.push_back(err(d.pred_tok_per_s, d.meas_tok_per_s));
    if (!e.empty()) err_decode = median(e);
  }
  err_peak = err(pred.peak_bytes, meas.peak_bytes);
  std::vector<double> es;
  for (const DecodeRep& d : decode_reps)
    if (d.meas_tok_per_s > 0 && d.pred_stream_tok_per_s > 0) es.push_back(err(d.pred_stream_tok_per_s, d.meas_tok_per_s));
  has_stream = !es.empty();
  err_decode_stream = has_stream ? median(es) : 0;
}

PassFigures pass_figures(const ValidateRow& r) {
  PassFigures f;
  f.skip = r.skip;
  if (!r.skip.empty()) return f;
  f.bandwidth_bytes_per_s = r.rates.bandwidth_bytes_per_s;
  f.pred_prefill_tok_per_s = r.pred.prefill_tok_per_s, f.meas_prefill_tok_per_s = r.meas.prefill_tok_per_s;
  f.pred_decode_tok_per_s = r.pred.decode_tok_per_s, f.meas_decode_tok_per_s = r.meas.decode_tok_per_s;
  f.pred_peak_bytes = r.pred.peak_bytes, f.meas_peak_bytes = r.meas.peak_bytes;
  f.err_prefill = r.err_prefill, f.err_decode = r.err_decode, f.err_peak = r.err_peak;
  f.err_decode_stream = r.err_decode_stream, f.has_stream = r.has_stream;
  return f;
}

ValidateRow combine_passes(const std::vector<ValidateRow>& passes) {
  if (passes.empty()) throw std::invalid_argument("combine_passes: no pass");
  std::vector<const ValidateRow*> ran;
  for (const auto& p : passes)
    if (p.skip.empty()) ran.push_back(&p);
  ValidateRow out = passes.front();
  if (!ran.empty()) {
    // The median pass by decode error: sorted by it, the lower middle.
    std::vector<const ValidateRow*> by_decode = ran;
    std::stable_sort(by_decode.begin(), by_decode.end(),
                     [](const ValidateRow* a, const ValidateRow* b) { return a->err_decode < b->err_decode; });
    out = *by_decode[(by_decode.size() - 1) / 2];
    auto med_of = [&](auto get) {
      std::vector<double> v;
      for (const auto* p : ran) v.push_back(get(*p));
      return median(v);
    };
    out.err_prefill = med_of([](const ValidateRow& r) { return r.err_prefill; });
    out.err_decode = med_of([](const ValidateRow& r) { return r.err_decode; });
    out.err_peak = med_of([](const ValidateRow& r) { return r.err_peak; });
    std::vector<double> es;
    for (const auto* p : ran)
      if (p->has_stream) es.push_back(p->err_decode_stream);
    out.has_stream = !es.empty();
    out.err_decode_stream = es.empty() ? 0 : median(es);
    out.pred.prefill_tok_per_s = med_of([](const ValidateRow& r) { return r.pred.prefill_tok_per_s; });
    out.meas.prefill_tok_per_s = med_of([](const ValidateRow& r) { return r.meas.prefill_tok_per_s; });
    out.pred.decode_tok_per_s = med_of([](const ValidateRow& r) { return r.pred.decode_tok_per_s; });
    out.meas.decode_tok_per_s = med_of([](const ValidateRow& r) { return r.meas.decode_tok_per_s; });
    out.pred.peak_bytes = med_of([](const ValidateRow& r) { return r.pred.peak_bytes; });
    out.meas.peak_bytes = med_of([](const ValidateRow& r) { return r.meas.peak_bytes; });
    out.rates.bandwidth_bytes_per_s = med_of([](const ValidateRow& r) { return r.rates.bandwidth_bytes_per_s; });
  }
  out.passes.clear();
  for (const auto& p : passes) out.passes.push_back(pass_figures(p));
  return out;
}

ErrorStats error_stats(const std::vector<double>& errs, const std::vector<std::string>& labels) {
  ErrorStats s;
  s.n = static_cast<int>(errs.size());
  std::vector<double> a;
  for (std::size_t i = 0; i < errs.size(); ++i) {
    a.push_back(std::abs(errs[i]));
    if (a.back() >= s.max_abs) {
      s.max_abs = a.back();
      s.worst = i < labels.size() ? labels[i] : "";
    }
  }
  s.median_abs = median(a);
  return s;
}

ValidateSummary summarize_validate(const std::vector<ValidateRow>& rows) {
  ValidateSummary s;
  std::vector<double> ep, ed, em, es;
  std::vector<std::string> lp, ld, lm, ls;
  for (const auto& r : rows) {
    if (!r.skip.empty()) {
      ++s.skipped;
      continue;
    }
    ++s.executed;
    if (r.meas.prefill_tok_per_s > 0) ep.push_back(r.err_prefill), lp.push_back(r.c.label());
    if (r.meas.decode_tok_per_s > 0) ed.push_back(r.err_decode), ld.push_back(r.c.label());
    if (r.meas.decode_tok_per_s > 0 && r.has_stream) es.push_back(r.err_decode_stream), ls.push_back(r.c.label());
    if (r.meas.peak_bytes > 0) em.push_back(r.err_peak), lm.push_back(r.c.label());
  }
  s.prefill = error_stats(ep, lp);
  s.decode = error_stats(ed, ld);
  s.decode_stream = error_stats(es, ls);
  s.peak = error_stats(em, lm);
  return s;
}

std::vector<OpCompare> compare_ops(const PhaseResult& pred, const json& measured_ops, double pred_steps, double meas_steps) {
  std::vector<OpCompare> out;
  for (int k = 0; k < kNumOps; ++k) {
    const OpRow& row = pred.ops[static_cast<std::size_t>(k)];
    const std::string name = op_name(static_cast<Op>(k));
    OpCompare c;
    c.op = name;
    c.pred_s = row.time_s / pred_steps;
    c.pred_flops = row.cost.flops / pred_steps;
    c.pred_bytes = row.cost.memory_bytes() / pred_steps;
    if (measured_ops.is_object() && measured_ops.contains(name)) {
      const json& m = measured_ops.at(name);
      c.meas_s = m.value("time_s", 0.0) / meas_steps;
      c.meas_flops = m.value("flops", 0.0) / meas_steps;
      c.meas_bytes = (m.value("weight_bytes", 0.0) + m.value("kv_read_bytes", 0.0) + m.value("kv_write_bytes", 0.0) +
                      m.value("act_bytes", 0.0)) / meas_steps;
    }
    if (c.pred_s == 0 && c.meas_s == 0 && c.pred_flops == 0 && c.meas_flops == 0) continue;
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const OpCompare& a, const OpCompare& b) {
    return std::abs(a.pred_s - a.meas_s) > std::abs(b.pred_s - b.meas_s);
  });
  return out;
}

BenchCompare predict_llama_bench(const LlamaBenchCase& c) {
  BenchCompare b;
  b.c = c;
  if (!c.skip.empty()) return b;
  const ModelSpec m = find_model(c.model_id);
  const QuantRecipe& q = find_recipe(c.recipe_id);
  const System s = resolve_hardware(c.hw_id);
  const EngineProfile e = resolve_engine_for(c.engine_id, s);
  Workload wl;
  wl.prompt_tokens = c.prefill ? c.run.n_prompt : 0;
  wl.gen_tokens = c.prefill ? 1 : c.run.n_gen;
  wl.depth_tokens = c.run.n_depth;
  wl.decode_after_prompt = false;  // llama-bench: tg at depth n_depth
  wl.ubatch_tokens = c.run.n_ubatch;
  wl.kv_bytes_per_element = find_kv_type(c.run.type_k).bytes_per_element;
  wl.kv_block_quantized = kv_type_is_block_quantized(c.run.type_k);
  RunPlacement pl;
  pl.gpu_layers = c.gpu_layers;
  const Estimate est = estimate(m, s, q, e, pl, wl);
  b.predicted_tok_per_s = c.prefill ? est.prefill_tok_per_s : est.decode_tok_per_s;
  b.bound = bound_name(c.prefill ? est.prefill.bound : est.decode.bound);
  b.err = c.run.avg_ts > 0 ? b.predicted_tok_per_s / c.run.avg_ts - 1 : 0;
  return b;
}

}  // namespace gs
