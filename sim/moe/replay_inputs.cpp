// replay_inputs.cpp: model x quant x hardware -> replay inputs (see replay_inputs.h).
#include "moe/replay_inputs.h"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "engine.h"
#include "error.h"
#include "memory_fit.h"
#include "ops.h"
#include "roofline.h"

namespace gs::moe {

TraceShape trace_shape(const ModelSpec& m) {
  if (m.moe.n_expert <= 0 || m.moe.n_expert_used <= 0)
    input_error("--model " + m.id + ": not a mixture-of-experts model (expected a model with routed experts, e.g. gemma4-26b-a4b)");
  return TraceShape{m.n_layer, m.moe.n_expert, m.moe.n_expert_used};
}

std::vector<int> moe_layers(const ModelSpec& m) {
  std::vector<int> v;
  for (int il = 0; il < m.n_layer; ++il)
    if (m.is_moe(il)) v.push_back(il);
  return v;
}

double fit_gpu_bytes(const FitResult& f) {
  double b = 0;
  for (const auto& d : f.devices)
    if (d.role != "host") b += d.total_bytes;
  return b;
}

namespace {
// Non-expert seconds of one step from the throughput model, memoised per (T, depth / 64).
struct RooflineRest {
  std::shared_ptr<const ModelOps> mo;
  std::shared_ptr<const HardwareRates> hw;
  std::shared_ptr<std::unordered_map<std::uint64_t, double>> memo;
  double operator()(std::uint32_t n_tokens, std::uint64_t depth) const {
    const std::uint64_t bucket = depth / 64, key = (static_cast<std::uint64_t>(n_tokens) << 40) | bucket;
    if (auto it = memo->find(key); it != memo->end()) return it->second;
    Workload wl;
    wl.depth_tokens = static_cast<i64>(bucket * 64);
    wl.decode_after_prompt = false;  // decode at exactly this depth
    wl.gen_tokens = 1;
    wl.prompt_tokens = std::max<std::uint32_t>(n_tokens, 1);
    wl.ubatch_tokens = static_cast<int>(std::max<std::uint32_t>(n_tokens, 1));
    const Estimate e = estimate(*mo, *hw, RunPlacement{}, wl);
    const PhaseResult& ph = n_tokens <= 1 ? e.decode : e.prefill;
    const double t = std::max(0.0, ph.time_s - ph.ops[static_cast<std::size_t>(Op::MoeExperts)].time_s);
    memo->emplace(key, t);
    return t;
  }
};
}  // namespace

MoeSetup make_moe_setup(const ModelSpec& m, const QuantRecipe& q, const System& hw, const MemoryRules& rules, FitOptions fo) {
  MoeSetup s;
  s.shape = trace_shape(m);
  s.moe_layers = moe_layers(m);
  s.model = m.id;
  s.quant = q.id;
  s.hardware = hw.id;
  s.context_tokens = fo.context_tokens;
  if (hw.unified())
    input_error("--hw " + hw.id + ": unified memory (CPU and GPU share one memory), so there is no expert placement "
                "between host and GPU memory to choose (expected a system with a discrete GPU)");
  if (hw.gpus.empty()) input_error("--hw " + hw.id + ": no GPU (expected a system with a discrete GPU)");

  const WeightBytes wb = weight_bytes(m, q);
  const double e = m.moe.n_expert;
  for (int il : s.moe_layers) {
    s.layer_expert_bytes.push_back(wb.layer_expert_bytes[static_cast<std::size_t>(il)]);
    s.cost.expert_bytes.push_back(wb.layer_expert_bytes[static_cast<std::size_t>(il)] / e);
    s.experts_bytes += wb.layer_expert_bytes[static_cast<std::size_t>(il)];
  }
  // One expert, one token: gate (+ up) D x F and down F x D, 2 FLOP per multiply-add.
  const double d = static_cast<double>(m.n_embd), f = static_cast<double>(m.moe.expert_ffn);
  s.cost.flops_per_token = 2.0 * ((m.ffn_gated ? 2.0 : 1.0) * d * f + f * d);

  // Rates: the throughput model's (peaks x the engine profile's efficiencies).
  s.engine = rules.engine.empty() ? default_engine(hw, q) : rules.engine;
  const EngineProfile eng = resolve_engine_for(s.engine, hw);
  const EngineThroughput& t = eng.thr;
  auto ops = std::make_shared<const ModelOps>(prepare_ops(m, q));
  auto rates = std::make_shared<const HardwareRates>(prepare_hardware(hw, eng));
  if (rates->dev.size() < 2) input_error("--hw " + hw.id + ": engine " + s.engine + " runs nothing on the GPU (expected a GPU engine)");
  const DeviceRates &cpu = rates->dev[0], &gpu = rates->dev[1];
  const LayerInfo& li = ops->layer(s.moe_layers.front());
  const auto wc = static_cast<std::size_t>(li.exp_wclass);
  s.cost.gpu_bytes_per_s = gpu.bandwidth_bytes_per_s;
  s.cost.gpu_flops_per_s = gpu.matmul_flops_per_s[wc] * gpu.moe_efficiency;
  s.cost.cpu_bytes_per_s = cpu.bandwidth_bytes_per_s;
  s.cost.cpu_flops_per_s = cpu.matmul_flops_per_s[wc] * cpu.moe_efficiency;
  s.cost.link_bytes_per_s = rates->host_link_bytes_per_s;
  s.cost.matvec_max_tokens = t.matvec_max_tokens;
  s.cost.gpu_vector_flops_per_s = gpu.vector_flops_per_s;
  s.cost.cpu_vector_flops_per_s = cpu.vector_flops_per_s;
  const double expert_weights = s.cost.flops_per_token / 2.0;
  if (li.exp_quantized) {
    s.cost.gpu_dequant_flops_per_token = expert_weights * gpu.dequant_flops_per_weight;
    s.cost.cpu_dequant_flops_per_token = expert_weights * cpu.dequant_flops_per_weight;
    s.cost.matmul_dequant_flops_per_flop = t.prefill_dequant_flops_per_flop;
  }
  s.op_offload_min_tokens = t.weight_upload_min_tokens;
  s.ubatch_tokens = eng.memory.ubatch_tokens;

  // Rest of a step: non-expert weights on the GPU.
  const ParamCounts pc = count_params(m);
  s.rest.weight_bytes = wb.total_bytes - wb.experts_bytes - wb.ple_table_bytes;
  s.rest.flops_per_token = 2.0 * (pc.active - pc.experts_active);
  s.rest.bytes_per_s = s.cost.gpu_bytes_per_s;
  s.rest.flops_per_s = gpu.matmul_flops_per_s[wc];
  s.rest.overhead_s = t.step_overhead_s + t.per_layer_overhead_s * m.n_layer;
  s.rest_fn = RooflineRest{ops, rates, std::make_shared<std::unordered_map<std::uint64_t, double>>()};

  // Budget: fit with every expert on the CPU.
  fo.placement = {};
  fo.placement.cpu_moe = true;
  const FitResult fr = fit(m, hw, q, rules, fo);
  for (const auto& dm : fr.devices)
    if (dm.role != "host") s.gpu_capacity_bytes += dm.capacity_bytes;
  s.non_expert_vram_bytes = fit_gpu_bytes(fr);
  s.default_budget_bytes = std::max(0.0, s.gpu_capacity_bytes - s.non_expert_vram_bytes);
  s.non_expert_fits = s.non_expert_vram_bytes <= s.gpu_capacity_bytes;
  return s;
}

PolicyContext base_context(const MoeSetup& s) {
  PolicyContext c;
  c.shape = s.shape;
  c.layers = s.moe_layers;
  c.cost = s.cost;
  c.vram_budget_bytes = s.default_budget_bytes;
  c.op_offload_min_tokens = s.op_offload_min_tokens;
  return c;
}

}  // namespace gs::moe
