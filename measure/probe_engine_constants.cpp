// probe_engine_constants.cpp: the reference engine's throughput constants derived from a probe
// (hwdb/engines/reference.json quotes them; docs/validation.md explains each rule).
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "probe.h"
#include "probe_constants.h"
#include "quant.h"
#include "stats.h"

namespace gs::measure {

using namespace gs::ref;  // the kernel the probe runs and times

namespace {

// The non-matmul ops of the kernel that get a measured rate; the three attention ops
// share one (the kernel times scores and values together, softmax inside them).
const char* kRatedOps[] = {"norms", "rope", "act", "residual", "softcap", "moe_route", "attention"};

double op_group(const ProbeResult& r, const std::string& op, std::string phase, int threads, double* time_s) {
  // Attention: from the steps at the sliding window's depth when the probe has them (near
  // depth 0 its fixed costs per call weigh more than in the runs where attention matters,
  // and the 2-thread split may not pay off yet).
  // Prefill attention: from the attention probe model's prompt at the far depth when the probe
  // has it (prefill_attn_far, attention_depth_rates), where the deepest validated rows spend it.
  if (op == "attention" && phase == "prefill" && r.op_rate_at("attn_scores", "prefill_attn_far", threads))
    phase = "prefill_attn_far";
  else if (op == "attention" && r.op_rate_at("attn_scores", phase + "_deep", threads))
    phase += "_deep";
  double f = 0, t = 0;
  auto add = [&](const std::string& n) {
    if (const auto* x = r.op_rate_at(n, phase, threads)) f += x->flops, t += x->time_s;
  };
  if (op == "attention") {
    add("attn_scores");
    add("attn_softmax");
    add("attn_values");
  } else {
    add(op);
  }
  *time_s = t;
  return f;
}

}  // namespace

// Decode attention as time = calls x call_s + FLOP / rate, fitted on the attention probe
// model's steps at two depths (phases decode_attn_near / decode_attn_far, attention_depth_rates):
// scores + softmax + values together, calls = the attend() calls (attn_scores' count). Two
// equations in call_s and 1 / rate; where noise makes a term non-positive, call_s = 0 and the
// far steps' own rate (the single-rate rule at the depth where attention weighs most).
AttentionFit fit_attention(const ProbeResult& r, int threads) {
  AttentionFit a;
  double c[2] = {0, 0}, f[2] = {0, 0}, t[2] = {0, 0};
  const char* phases[2] = {"decode_attn_near", "decode_attn_far"};
  for (int i = 0; i < 2; ++i) {
    for (const char* n : {"attn_scores", "attn_softmax", "attn_values"})
      if (const auto* x = r.op_rate_at(n, phases[i], threads)) f[i] += x->flops, t[i] += x->time_s;
    if (const auto* x = r.op_rate_at("attn_scores", phases[i], threads)) c[i] = static_cast<double>(x->calls);
    if (c[i] <= 0 || f[i] <= 0 || t[i] <= 0) return a;
  }
  const double det = c[0] * f[1] - c[1] * f[0];  // > 0: the far steps do more FLOP per call
  if (det <= 0) return a;
  double call_s = (t[0] * f[1] - t[1] * f[0]) / det, s_per_flop = (c[0] * t[1] - c[1] * t[0]) / det;
  a.clamped = call_s < 0 || s_per_flop <= 0;
  if (a.clamped) call_s = 0, s_per_flop = t[1] / f[1];
  a.ok = true;
  a.call_s = call_s;
  a.flops_per_s = 1.0 / s_per_flop;
  return a;
}

namespace {

// The peaks a kernel rate is a share of: those measured next to it, else the probe's at its threads.
double fp32_peak_next_to(const ProbeResult& r, const KernelRate& k) {
  if (k.fp32_flops_per_s > 0) return k.fp32_flops_per_s;
  const auto* pk = r.peaks_at(k.threads);
  return pk ? pk->fp32_flops_per_s : 0;
}
double int8_peak_next_to(const ProbeResult& r, const KernelRate& k) {
  if (k.int8_ops_per_s > 0) return k.int8_ops_per_s;
  const auto* pk = r.peaks_at(k.threads);
  return pk ? pk->int8_ops_per_s : 0;
}

}  // namespace

bool is_dot_bound_matvec(const std::string& format) { return format == "q4_0" || format == "q4_k"; }

double matvec_of_triad(const ProbeResult& r, const KernelRate& k) {
  if (k.matvec_of_triad > 0) return k.matvec_of_triad;
  const auto* tr = r.triad_at(k.threads);
  const double tb = k.triad_bytes_per_s > 0 ? k.triad_bytes_per_s : (tr ? tr->best_bytes_per_s : 0);
  return tb > 0 ? k.matvec_weight_bytes_per_s / tb : 0;
}

bool is_dot_bound_matvec(const ProbeResult& r, const std::string& format) {
  for (const auto& k : r.kernels)
    if (k.format == format && k.threads == 1 && k.matvec_cached_weight_bytes_per_s > 0 && k.matvec_weight_bytes_per_s > 0)
      return k.matvec_cached_weight_bytes_per_s < 1.5 * k.matvec_weight_bytes_per_s;
  return is_dot_bound_matvec(format);
}

// The reference engine's throughput.cpu_ops from a probe (docs/validation.md): per op and
// phase, efficiency = achieved FLOP/s / fp32 FMA peak of the threads it uses; serial when
// the op gains less than half of the ideal speed-up from 1 to N threads (then the 1-thread
// figure against one core's peak); matmul_call_s / _parallel_s = the tiny-matmul call cost
// at 1 / N threads; decode attention from the two-depth fit (fit_attention) when the probe has
// both depths at 1 and N threads: efficiency from the fitted rate, call_s / call_parallel_s
// from the fitted call cost. Empty object when the probe has no op rates.
json reference_cpu_ops(const ProbeResult& r) {
  json j = json::object();
  if (r.op_rates.empty() || r.peaks.empty()) return j;
  const int N = r.peaks.back().threads;
  const auto* p1 = r.peaks_at(1);
  const auto* pN = r.peaks_at(N);
  if (!p1 || !pN || p1->fp32_flops_per_s <= 0) return j;
  for (const char* phase : {"prefill", "decode"}) {
    for (const char* op : kRatedOps) {
      const bool attention = std::string(op) == "attention";
      double r1 = 0, rN = 0, call1 = 0, callN = 0;
      bool fitted = false;
      if (attention && std::string(phase) == "decode") {
        // Decode attention: the two-depth fit per thread count when the probe has both depths.
        const AttentionFit a1 = fit_attention(r, 1), aN = fit_attention(r, N);
        if (a1.ok && aN.ok) fitted = true, r1 = a1.flops_per_s, rN = aN.flops_per_s, call1 = a1.call_s, callN = aN.call_s;
      }
      if (!fitted) {  // one rate: FLOP / time of the phase (attention: of the deep steps, op_group)
        double t1 = 0, tN = 0;
        const double f1 = op_group(r, op, phase, 1, &t1), fN = op_group(r, op, phase, N, &tN);
        if (f1 <= 0 || t1 <= 0 || fN <= 0 || tN <= 0) continue;
        r1 = f1 / t1, rN = fN / tN;
      }
      const bool serial = N > 1 && rN / r1 < 1 + 0.5 * (N - 1);
      const double eff = serial || N == 1 ? r1 / p1->fp32_flops_per_s : rN / pN->fp32_flops_per_s;
      // The fitted call cost: the kernel books one attend() call's time half to scores and half
      // to values (softmax runs inside them), so each of the two carries half of it.
      auto put = [&](const std::string& name) {
        json& o = j[phase][name];
        o = {{"efficiency", std::max(1e-6, std::min(1.0, eff))}, {"serial", serial}};
        if (fitted && name != "attn_softmax") o["call_s"] = call1 / 2, o["call_parallel_s"] = callN / 2;
      };
      if (attention) {
        put("attn_scores");
        put("attn_softmax");
        put("attn_values");
      } else {
        put(op);
      }
    }
  }
  // MoE experts: decode (T=1) as a mat-vec of (2 + dequant 4) FLOP per weight against the
  // int8 peak (fp32 on a CPU without one), per thread count as the dense formats: the 1-thread figure, and the N-thread one
  // as moe_matvec_compute_efficiency_parallel (the roofline uses it on more than one core).
  // The mean of the two over-predicts the 26B at 2 threads where 2 vCPUs share one core's
  // vector units (the 2-thread share of the peak is then far below the 1-thread one).
  // Prefill (T=4 per expert) against the int8 peak, mean over 1..N threads.
  // Quantized mat-vecs (the experts here, the quantized formats below) against the int8 peak
  // where the probe measured one: the integer dot product runs on that unit, and its speed moves
  // with the int8 loop's, not the FMA loop's (engine.h quantized_matvec_peak).
  const bool int8_mv = p1->int8_ops_per_s > 0 && pN->int8_ops_per_s > 0;
  j["quantized_matvec_peak"] = int8_mv ? "int8" : "fp32";
  double pf = 0;
  int n = 0;
  for (const auto& c : r.call_costs) {
    const auto* pk = r.peaks_at(c.threads);
    if (!pk || pk->fp32_flops_per_s <= 0 || pk->int8_ops_per_s <= 0 || c.expert_matvec_bytes_per_s <= 0) continue;
    const double mv = c.expert_matvec_bytes_per_s / 18.0 * 32.0 * 6.0 / (int8_mv ? pk->int8_ops_per_s : pk->fp32_flops_per_s);
    if (c.threads == 1) j["moe_matvec_compute_efficiency"] = mv;
    if (c.threads == N && N > 1) j["moe_matvec_compute_efficiency_parallel"] = mv;
    pf += c.expert_t4_flops_per_s / pk->int8_ops_per_s;
    ++n;
  }
  if (n > 0) j["moe_prefill_int8_efficiency"] = pf / n;
  // The matmul constants (docs/validation.md): bandwidth_efficiency = median over the formats
  // memory-bound in a mat-vec (f32 f16 bf16 q8_0 q6_k) of the best over thread counts of T=1
  // weight GB/s / the triad measured next to it; int8 = median over q8_0 q4_0 q4_k q6_k of T=512 GFLOP/s / VNNI peak.
  // Per format the best ratio over thread counts: on a shared machine another process only
  // ever slows a measurement down (the same reason the triad keeps its best repetition).
  std::vector<double> bw, i8;
  std::map<std::string, double> best_of_triad, at1_of_triad, atN_of_triad;
  for (const auto& k : r.kernels) {
    if (const double ratio = matvec_of_triad(r, k); ratio > 0) {
      best_of_triad[k.format] = std::max(best_of_triad[k.format], ratio);
      if (k.threads == 1) at1_of_triad[k.format] = ratio;
      if (k.threads == N && N > 1) atN_of_triad[k.format] = ratio;
    }
    if (const double p8 = int8_peak_next_to(r, k); p8 > 0 && k.format[0] == 'q') i8.push_back(k.matmul_flops_per_s / p8);
  }
  // Per format (bandwidth_efficiency_by_format): the same best ratio of each memory-bound
  // format, for its own weight bytes. The dot-bound formats (is_dot_bound_matvec) get no entry: their
  // mat-vec stops at the dot product's rate, below the stream, so its ratio is a compute limit
  // (matvec_compute_efficiency) and says nothing about how fast their bytes would stream; where
  // memory binds them they keep the median (bandwidth_efficiency).
  // The table is per thread count (1 thread here, N in bandwidth_efficiency_by_format_parallel):
  // one thread's stream reads more of its own triad than N threads do of theirs (the best of the
  // two would over-predict decode at N threads).
  for (const auto& [f, v] : best_of_triad) {
    if (is_dot_bound_matvec(r, f)) continue;
    bw.push_back(v);
    if (at1_of_triad.count(f)) j["bandwidth_efficiency_by_format"][f] = at1_of_triad[f];
    if (atN_of_triad.count(f)) j["bandwidth_efficiency_by_format_parallel"][f] = atN_of_triad[f];
  }
  const double bw_eff = bw.empty() ? 0.0 : median(bw);
  if (!bw.empty()) j["bandwidth_efficiency"] = bw_eff;
  // Mat-vec rate per format: weights/s x (2 + dequant 4 when quantized) / the peak of its unit
  // (quantized formats: int8 where measured, quantized_matvec_peak; float formats: fp32).
  // Formats memory-bound in a mat-vec: their DRAM figure is the stream's rate, not the dot
  // product's, so their compute limit comes from the same product on an L2-resident matrix
  // (matvec_cached_weight_bytes_per_s): the 1-thread figure, and the N-thread one as
  // matvec_compute_efficiency_parallel. (The best DRAM figure over thread counts would cap a
  // format at twice the 1-thread stream at 2 threads, under what a run reaches.) A probe without
  // cached figures keeps that rule.
  // Formats the dot product limits (q4_0, q4_k): the 1-thread figure, and the N-thread one as
  // matvec_compute_efficiency_parallel (their share of the peak changes with the thread count).
  for (const char* f : {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"}) {
    const auto ty = type_from_name(f);
    if (!ty) continue;
    const double bpw = static_cast<double>(tensor_bytes(*ty, 4096)) / 4096.0;
    const double fpw = type_info(*ty).quantized ? 6.0 : 2.0;
    const bool dot_bound = is_dot_bound_matvec(r, f);
    std::vector<double> v, mm, mm64;
    double at1 = 0, atN = 0, cached1 = 0, cachedN = 0;
    for (const auto& k : r.kernels) {
      const double p32 = fp32_peak_next_to(r, k), p8 = int8_peak_next_to(r, k);
      const double pmv = int8_mv && type_info(*ty).quantized ? p8 : p32;  // the mat-vec's peak
      const auto* tr = r.triad_at(k.threads);
      if (k.format != f || pmv <= 0 || !tr) continue;
      const double e = k.matvec_weight_bytes_per_s / bpw * fpw / pmv;
      v.push_back(e);
      if (k.threads == 1) at1 = e;
      if (k.threads == N) atN = e;
      const double ec = k.matvec_cached_weight_bytes_per_s / bpw * fpw / pmv;
      if (k.threads == 1 && ec > 0) cached1 = ec;
      if (k.threads == N && ec > 0) cachedN = ec;
      if (p8 > 0) mm.push_back(k.matmul_flops_per_s / p8);
      if (p8 > 0 && k.matmul64_flops_per_s > 0) mm64.push_back(k.matmul64_flops_per_s / p8);
    }
    if (v.empty()) continue;
    // Dot-bound formats: the 1-thread and N-thread DRAM figures, always: what the streaming
    // kernel reaches, below its L2 ceiling (the dot product and the stream do not overlap
    // fully), and it does not follow the triad. (Setting no limit where a figure reads close to
    // the bandwidth would leave twice the 1-thread figure at 2 threads and over-predict decode.)
    if (!dot_bound && cached1 > 0) {
      j["matvec_compute_efficiency"][f] = std::min(4.0, cached1);
      if (N > 1 && cachedN > 0) j["matvec_compute_efficiency_parallel"][f] = std::min(4.0, cachedN);
    } else {
      j["matvec_compute_efficiency"][f] = dot_bound && at1 > 0 ? at1 : *std::max_element(v.begin(), v.end());
      if (dot_bound && N > 1 && atN > 0) j["matvec_compute_efficiency_parallel"][f] = atN;
    }
    if (type_info(*ty).quantized && !mm.empty()) j["matmul_int8_efficiency"][f] = median(mm);
    if (type_info(*ty).quantized && !mm64.empty()) j["matmul_int8_efficiency_t64"][f] = median(mm64);
    // Steps of a few tokens: the time of a T-token product over the T = 1 time, at 1 thread and at N.
    for (const auto& k : r.kernels) {
      if (k.format != f || k.batch_time_ratio.empty() || (k.threads != 1 && k.threads != N)) continue;
      const char* key = k.threads == 1 ? "matmul_batch_time_ratio" : "matmul_batch_time_ratio_parallel";
      for (const auto& [T, ratio] : k.batch_time_ratio) j[key][f][std::to_string(T)] = ratio;
    }
  }
  // The expert probe is Q4_0: its T=4 rate relative to the Q4_0 T=512 rate.
  if (j.contains("moe_prefill_int8_efficiency") && j.contains("matmul_int8_efficiency") && j["matmul_int8_efficiency"].contains("q4_0"))
    j["moe_prefill_efficiency"] =
        std::min(1.0, j["moe_prefill_int8_efficiency"].get<double>() / j["matmul_int8_efficiency"]["q4_0"].get<double>());
  if (!i8.empty()) {
    j["compute_efficiency_int8"] = median(i8);
  }
  if (const auto* c = r.call_cost_at(1)) j["matmul_call_s"] = c->matmul_call_s;
  if (const auto* c = r.call_cost_at(N)) j["matmul_call_parallel_s"] = c->matmul_call_s;
  return j;
}

json median_constants(const std::vector<json>& runs) {
  if (runs.empty()) return json::object();
  if (runs.size() == 1) return runs.front();
  std::function<json(const std::vector<const json*>&)> merge = [&](const std::vector<const json*>& v) -> json {
    const json& first = *v.front();
    if (first.is_object()) {
      json out = json::object();
      std::map<std::string, std::vector<const json*>> by_key;
      std::vector<std::string> order;
      for (const json* x : v)
        for (auto it = x->begin(); it != x->end(); ++it) {
          if (!by_key.count(it.key())) order.push_back(it.key());
          by_key[it.key()].push_back(&it.value());
        }
      for (const auto& k : order)  // a key counts when most runs have it
        if (2 * by_key[k].size() > runs.size()) out[k] = merge(by_key[k]);
      return out;
    }
    if (first.is_number()) {
      std::vector<double> n;
      for (const json* x : v)
        if (x->is_number()) n.push_back(x->get<double>());
      return median(n);
    }
    if (first.is_boolean()) {
      std::size_t yes = 0;
      for (const json* x : v) yes += x->is_boolean() && x->get<bool>();
      return 2 * yes > v.size();
    }
    return first;
  };
  std::vector<const json*> v;
  for (const json& r : runs) v.push_back(&r);
  return merge(v);
}

json reference_engine_json(const json& base, const json& ops, const ProbeResult& r, const std::string& id) {
  const std::string tag = "measured: gemmasim probe " + r.date_utc + " on " + r.hostname + " (" + r.cpu_name +
                          "), the rules of reference_cpu_ops (measure/probe_engine_constants.cpp, docs/validation.md)";
  json e = engine_json_with_probe(base, ops, r.attention_reads_f16, r.isa, tag);
  e.erase("throughput_from");  // this file is the machine's constants: nothing to take from a device file
  e["id"] = id;
  e["name"] = base.value("name", std::string("reference")) + " (probed on " + r.hostname + ", " + r.date_utc + ")";
  return e;
}

}  // namespace gs::measure
