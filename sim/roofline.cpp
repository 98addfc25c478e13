// roofline.cpp: op costs -> times on devices; placement; prefill and decode phases.
#include "roofline.h"

#include <algorithm>
#include <cmath>

namespace gs {

namespace {

// Peak for a dtype with fallbacks (int8 -> fp16, fp8 -> fp16, fp4 -> fp8 -> fp16, bf16 -> fp16 -> fp32).
double peak(const Device& d, Dtype t) {
  double f = d.flops(dtype_name(t));
  if (f <= 0 && t == Dtype::F4) f = d.flops("fp8");
  if (f <= 0 && t != Dtype::F32) f = d.flops("fp16");
  if (f <= 0) f = d.flops("fp32");
  return f;
}

// CPU cores of a unified chip or a CPU without a stated peak: cores x 3 GHz x 16 FP32 FLOP/cycle
// (two 128-bit FMA pipes), an [estimate] documented in docs/calibration.md.
double cpu_fp32_estimate(const Device& d) { return std::max(d.cores, 4) * 3e9 * 16; }

DeviceRates cpu_rates(const Device& host, const EngineThroughput& t, bool cpu_engine) {
  DeviceRates r;
  r.id = host.id;
  r.gpu = false;
  r.memory_bytes = host.memory_bytes;
  const double bw_eff = cpu_engine ? t.bandwidth_efficiency : t.host_bandwidth_efficiency;
  r.bandwidth_bytes_per_s = host.memory_bandwidth_bytes_per_s * bw_eff;
  // A unified chip's peak table is its GPU's unless the chip has no GPU backend (Raspberry Pi).
  // Its CPU cores then have their own table (cpu_peak_flops_per_s), or an estimate from the cores.
  const bool table_is_gpu = host.is_unified() && host.backend != "cpu";
  const auto& cpu_table = host.cpu_peak_flops_per_s;
  auto cpu_stated = [&](const std::string& k) {
    const auto it = cpu_table.find(k);
    return it == cpu_table.end() ? 0.0 : it->second;
  };
  double fp32 = table_is_gpu ? cpu_stated("fp32") : host.flops("fp32");
  if (fp32 <= 0) fp32 = cpu_fp32_estimate(host);
  auto eff = [&](Dtype d) { return cpu_engine ? t.compute_efficiency[static_cast<int>(d)] : t.host_compute_efficiency; };
  auto cpu_peak = [&](Dtype d) {
    double f = d == Dtype::F32 ? fp32 : table_is_gpu ? cpu_stated(dtype_name(d)) : host.flops(dtype_name(d));
    if (table_is_gpu && f <= 0 && d == Dtype::BF16) f = cpu_stated("fp16");
    return f > 0 ? f : fp32;
  };
  const Dtype by_class[kNumWeightClasses] = {Dtype::F32, Dtype::F16, Dtype::BF16, t.quantized_matmul_dtype,
                                             Dtype::F32, Dtype::F32, Dtype::F32};
  for (int c = 0; c < kNumWeightClasses; ++c) r.matmul_flops_per_s[static_cast<std::size_t>(c)] = cpu_peak(by_class[c]) * eff(by_class[c]);
  r.attn_flops_per_s = fp32 * eff(Dtype::F32) * t.attention_compute_efficiency;
  r.vector_flops_per_s = fp32 * eff(Dtype::F32);
  r.moe_efficiency = t.moe_prefill_efficiency;
  r.dequant_flops_per_weight = cpu_engine ? t.dequant_flops_per_weight : t.host_dequant_flops_per_weight;
  return r;
}

DeviceRates gpu_rates(const Device& g, const EngineThroughput& t) {
  DeviceRates r;
  r.id = g.id;
  r.gpu = true;
  r.memory_bytes = g.is_unified() ? g.memory_bytes * g.gpu_memory_fraction : g.memory_bytes;
  r.bandwidth_bytes_per_s = g.memory_bandwidth_bytes_per_s * t.bandwidth_efficiency;
  const auto& ce = t.compute_efficiency_for(g.vendor);
  const double acc16 = t.f16_gemm_fp16_accumulate ? g.flops("fp16_acc16") : 0;  // FP16-accumulate GEMM peak
  auto rate = [&](Dtype d) {
    const double p = (d == Dtype::F16 && acc16 > 0) ? acc16 : peak(g, d);
    return p * ce[static_cast<std::size_t>(d)];
  };
  const Dtype by_class[kNumWeightClasses] = {Dtype::F32, Dtype::F16, Dtype::BF16, t.quantized_matmul_dtype,
                                             Dtype::F8, Dtype::F4, Dtype::F16};
  for (int c = 0; c < kNumWeightClasses; ++c) r.matmul_flops_per_s[static_cast<std::size_t>(c)] = rate(by_class[c]);
  r.attn_flops_per_s = peak(g, Dtype::F16) * ce[static_cast<std::size_t>(Dtype::F16)] * t.attention_compute_efficiency;
  r.vector_flops_per_s = peak(g, Dtype::F32) * ce[0];
  r.moe_efficiency = t.moe_prefill_efficiency;
  r.dequant_flops_per_weight = t.dequant_flops_per_weight;
  if (!t.graph_archs.empty() && std::find(t.graph_archs.begin(), t.graph_archs.end(), g.arch) == t.graph_archs.end())
    r.overhead_factor = t.no_graph_overhead_factor;
  return r;
}

enum class OpClass { Matmul, Attention, Elementwise, Link };

OpClass op_class(Op op) {
  switch (op) {
    case Op::AttnQ: case Op::AttnK: case Op::AttnV: case Op::AttnOut: case Op::FfnGate: case Op::FfnUp:
    case Op::FfnDown: case Op::MoeRouter: case Op::MoeExperts: case Op::PleGate: case Op::PleProj:
    case Op::PleModelProj: case Op::OutputHead:
      return OpClass::Matmul;
    case Op::AttnScores: case Op::AttnValues: case Op::AttnSoftmax: return OpClass::Attention;
    case Op::WeightUpload: case Op::LayerTransfer: case Op::AllReduce: return OpClass::Link;
    default: return OpClass::Elementwise;
  }
}

bool is_attention(Op op) { return op == Op::AttnScores || op == Op::AttnValues || op == Op::AttnSoftmax; }

int op_wtype(const LayerInfo& li, Op op) {
  switch (op) {
    case Op::AttnQ: return static_cast<int>(li.q.type);
    case Op::AttnK: return static_cast<int>(li.k.type);
    case Op::AttnV: return static_cast<int>(li.v.type);
    case Op::AttnOut: return static_cast<int>(li.o.type);
    case Op::FfnGate: return static_cast<int>(li.gate.present() ? li.gate.type : li.sh_gate.type);
    case Op::FfnUp: return static_cast<int>(li.up.present() ? li.up.type : li.sh_up.type);
    case Op::FfnDown: return static_cast<int>(li.down.present() ? li.down.type : li.sh_down.type);
    case Op::MoeRouter: return static_cast<int>(li.router.type);
    case Op::MoeExperts: return static_cast<int>(li.exp_type);
    case Op::PleGate: return static_cast<int>(li.ple_gate.type);
    case Op::PleProj: return static_cast<int>(li.ple_proj.type);
    default: return -1;
  }
}

WeightClass op_wclass(const LayerInfo& li, Op op) {
  switch (op) {
    case Op::AttnQ: return li.q.wclass;
    case Op::AttnK: return li.k.wclass;
    case Op::AttnV: return li.v.wclass;
    case Op::AttnOut: return li.o.wclass;
    case Op::FfnGate: return li.gate.present() ? li.gate.wclass : li.sh_gate.wclass;
    case Op::FfnUp: return li.up.present() ? li.up.wclass : li.sh_up.wclass;
    case Op::FfnDown: return li.down.present() ? li.down.wclass : li.sh_down.wclass;
    case Op::MoeRouter: return li.router.wclass;
    case Op::MoeExperts: return li.exp_wclass;
    case Op::PleGate: return li.ple_gate.wclass;
    case Op::PleProj: return li.ple_proj.wclass;
    default: return WeightClass::F32;
  }
}

struct PhaseAcc {
  PhaseResult& ph;
  const HardwareRates& hw;
  int matvec_max;
  double pq;  // prefill_dequant_flops_per_flop
  bool dq_f16 = false;  // prefill_dequant_to_f16

  int phase = 0;          // 0 prefill, 1 decode (hw.cpu_op_flops_per_s)
  double moe_calls = 1;   // matmul calls of one MoE layer's experts (2 per distinct expert)
  double attn_calls = 1;  // attention calls per charge of an attention op (per layer: sequences x micro-batches)
  int wtype = -1;         // GgmlType of the weight of the op being charged (-1: unknown)
  double attn_scale = 1;  // x GPU attention rate (the engine's fallback attention backend)

  // Charge one op's cost (mult repetitions) on device d; T tokens per repetition.
  void charge(Op op, const OpCost& c, double mult, int d, WeightClass wc, double T, double link_bytes,
              double link_bw) {
    if (mult <= 0) return;
    const DeviceRates& dv = hw.dev[static_cast<std::size_t>(d)];
    double compute = 0;
    switch (op_class(op)) {
      case OpClass::Matmul: {
        // The mat-vec rate (T = 1 kernels): the vector rate, or the host kernel's measured one
        // for this weight format (for experts, the expert mat-vec's).
        auto matvec_rate = [&] {
          double vr = dv.vector_flops_per_s;
          if (!dv.gpu && wtype >= 0 && wtype < 64 && hw.matvec_flops_per_s_by_type[static_cast<std::size_t>(wtype)] > 0)
            vr = hw.matvec_flops_per_s_by_type[static_cast<std::size_t>(wtype)];
          if (op == Op::MoeExperts && !dv.gpu && hw.moe_matvec_flops_per_s > 0) vr = hw.moe_matvec_flops_per_s;
          return vr;
        };
        const auto* ratio = !dv.gpu && op != Op::MoeExperts && T > 1 && T < 64 && wtype >= 0 && wtype < 64 &&
                                    !hw.batch_time_ratio_by_type[static_cast<std::size_t>(wtype)].empty()
                                ? &hw.batch_time_ratio_by_type[static_cast<std::size_t>(wtype)]
                                : nullptr;
        if (ratio) {
          // A step of a few tokens on a CPU kernel that measured it: the T = 1 product of the
          // same weights (its mat-vec rate and weight stream, as a one-token step charges it)
          // times the measured ratio. The kernel overlaps the weights' stream with the dot
          // products at T = 1 and much less at a few tokens: neither max(compute, memory) nor
          // the T = 64 rate holds there.
          const double c1 = (c.flops / T + c.quant_weights * dv.dequant_flops_per_weight) / matvec_rate();
          const double wbw = hw.weight_bytes_per_s_by_type[static_cast<std::size_t>(wtype)] > 0
                                 ? hw.weight_bytes_per_s_by_type[static_cast<std::size_t>(wtype)]
                                 : dv.bandwidth_bytes_per_s;
          const double other = c.memory_bytes() - c.act_bytes * (1 - hw.act_bytes_scale) - c.weight_bytes;
          const double m1 = c.weight_bytes / wbw + other / T / dv.bandwidth_bytes_per_s;
          compute = std::max(c1, m1) * batch_time_ratio_at(*ratio, T);
        } else if (T <= matvec_max) {
          compute = (c.flops + c.quant_weights * dv.dequant_flops_per_weight) / matvec_rate();
        } else {
          double rate = dv.matmul_flops_per_s[static_cast<std::size_t>(wc)];
          if (!dv.gpu && wtype >= 0 && wtype < 64 && hw.matmul_flops_per_s_by_type[static_cast<std::size_t>(wtype)] > 0) {
            rate = hw.matmul_flops_per_s_by_type[static_cast<std::size_t>(wtype)];
            // A rate measured at 64 tokens: used up to 64, blended in log2(T) up to 512 (not for
            // experts: moe_efficiency is their rate relative to the 512-token one).
            const double r64 = hw.matmul64_flops_per_s_by_type[static_cast<std::size_t>(wtype)];
            if (r64 > 0 && T < 512 && op != Op::MoeExperts) {
              const double w = std::clamp((std::log2(T) - 6.0) / 3.0, 0.0, 1.0);
              rate = r64 + w * (rate - r64);
            }
          }
          if (op == Op::MoeExperts) rate *= dv.moe_efficiency;
          compute = c.flops / rate;
          // quantized tiles are unpacked on the vector units before the tensor-core product
          if (wc == WeightClass::Quant) compute += c.flops * pq / dv.vector_flops_per_s;
          // or (old llama.cpp CUDA) dequantized to an F16 scratch copy by a separate kernel before
          // cuBLAS: read the quantized weights, write 2 B per weight; sequential with the product
          if (wc == WeightClass::Quant && dq_f16) compute += (c.weight_bytes + 2 * c.quant_weights) / dv.bandwidth_bytes_per_s;
        }
        break;
      }
      case OpClass::Attention: compute = c.flops / (dv.attn_flops_per_s * (dv.gpu ? attn_scale : 1.0)); break;
      case OpClass::Elementwise: compute = c.flops / dv.vector_flops_per_s; break;
      case OpClass::Link: break;
    }
    // Measured per-op rates of a CPU engine's kernel replace the vector rate; a matmul
    // call adds its fixed cost (activation quantization, fork/join of the threads).
    double fixed = 0;
    if (!dv.gpu) {
      const double r = hw.cpu_op_flops_per_s[static_cast<std::size_t>(phase)][static_cast<std::size_t>(op)];
      if (r > 0 && op_class(op) != OpClass::Matmul) compute = c.flops / r;
      if (op_class(op) == OpClass::Matmul) fixed = hw.matmul_call_s * (op == Op::MoeExperts ? moe_calls : 1.0);
      if (op_class(op) == OpClass::Attention)
        fixed = hw.cpu_op_call_s[static_cast<std::size_t>(phase)][static_cast<std::size_t>(op)] * attn_calls;
    }
    // activations move in the engine's activation type (llama.cpp f32, vLLM bf16): the op counts are f32
    const double mem_bytes = c.memory_bytes() - c.act_bytes * (1 - hw.act_bytes_scale);
    double memory = mem_bytes / dv.bandwidth_bytes_per_s;
    // A host matmul's weights stream at their format's share of the bandwidth (CPU engines that
    // measured one); its other bytes at the device's.
    if (!dv.gpu && op_class(op) == OpClass::Matmul && wtype >= 0 && wtype < 64 &&
        hw.weight_bytes_per_s_by_type[static_cast<std::size_t>(wtype)] > 0)
      memory = c.weight_bytes / hw.weight_bytes_per_s_by_type[static_cast<std::size_t>(wtype)] +
               (mem_bytes - c.weight_bytes) / dv.bandwidth_bytes_per_s;
    const double link = link_bytes > 0 ? link_bytes / link_bw : 0;
    OpRow& row = ph.ops[static_cast<std::size_t>(op)];
    row.cost += c.scaled(mult);
    row.link_bytes += link_bytes * mult;
    row.compute_s += compute * mult;
    row.memory_s += memory * mult;
    row.link_s += link * mult;
    row.time_s += (std::max(compute, memory) + link + fixed) * mult;
    row.device_mask |= 1u << d;
  }
  void link(Op op, double bytes, double bw, double latency, double mult, int d) {
    if (mult <= 0 || bytes <= 0) return;
    OpRow& row = ph.ops[static_cast<std::size_t>(op)];
    const double t = bytes / bw + latency;
    row.link_bytes += bytes * mult;
    row.link_s += t * mult;
    row.time_s += t * mult;
    row.device_mask |= 1u << d;
  }
  void overhead(double s) {
    OpRow& row = ph.ops[static_cast<std::size_t>(Op::StepOverhead)];
    row.time_s += s;
  }
};

// Where each layer runs: dev index (0 = CPU, 1.. GPUs); tensor parallel groups report their first GPU.
struct Layout {
  int L = 0, n_gpu = 0, gpu_layers = 0, tp = 1;
  int first_gpu_layer = 0;
  std::array<double, 18> cum{};  // cumulative split shares over GPUs (layer split)
  int dev_of(int il) const {
    if (il < first_gpu_layer || n_gpu == 0) return 0;
    if (tp > 1 || n_gpu == 1) return 1;
    const double f = (il - first_gpu_layer + 0.5) / gpu_layers;
    for (int g = 0; g < n_gpu; ++g)
      if (f < cum[static_cast<std::size_t>(g) + 1]) return g + 1;
    return n_gpu;
  }
};

void finish_phase(PhaseResult& ph) {
  double by_bound[5] = {0, 0, 0, 0, 0};
  for (auto& r : ph.ops) {
    ph.time_s += r.time_s;
    ph.compute_s += r.compute_s;
    ph.memory_s += r.memory_s;
    ph.link_s += r.link_s;
    by_bound[static_cast<int>(r.bound())] += r.time_s;
  }
  ph.overhead_s = ph.ops[static_cast<std::size_t>(Op::StepOverhead)].time_s;
  int best = 0;
  for (int b = 1; b < 5; ++b)
    if (by_bound[b] > by_bound[best]) best = b;
  ph.bound = static_cast<Bound>(best);
  ph.tok_per_s = ph.time_s > 0 ? ph.tokens / ph.time_s : 0;
}

}  // namespace

const char* bound_name(Bound b) {
  switch (b) {
    case Bound::Compute: return "compute";
    case Bound::Memory: return "memory";
    case Bound::Link: return "link";
    case Bound::Overhead: return "overhead";
    default: return "none";
  }
}

Bound OpRow::bound() const {
  if (time_s <= 0) return Bound::None;
  if (compute_s == 0 && memory_s == 0 && link_s == 0) return Bound::Overhead;
  if (link_s >= compute_s && link_s >= memory_s) return Bound::Link;
  return compute_s > memory_s ? Bound::Compute : Bound::Memory;
}

double batch_time_ratio_at(const std::vector<std::pair<int, double>>& table, double T) {
  if (T <= 1 || table.empty()) return 1.0;
  double t0 = 1, r0 = 1;
  for (const auto& [n, r] : table) {
    if (T <= n) {
      const double w = (std::log2(T) - std::log2(t0)) / (std::log2(static_cast<double>(n)) - std::log2(t0));
      return r0 + w * (r - r0);
    }
    t0 = n;
    r0 = r;
  }
  return r0 * T / t0;
}

HardwareRates prepare_hardware(const System& s, const EngineProfile& e) {
  HardwareRates hw;
  hw.system_id = s.id;
  hw.engine_id = e.id;
  hw.thr = e.thr;
  hw.ubatch_tokens = e.memory.ubatch_tokens;
  hw.act_bytes_scale = e.memory.activation_bytes_per_value / 4.0;
  hw.output_head_on_gpu_only_if_all_layers = e.memory.output_on_gpu_only_if_all_layers;
  hw.ple_on_host = e.memory.ple_location == "host";
  hw.embd_on_host = e.memory.input_embedding_on_host;
  const bool cpu_engine = e.backend == "cpu";
  hw.unified = s.unified();
  hw.dev.push_back(cpu_rates(s.host, e.thr, cpu_engine));
  if (!cpu_engine) {
    if (!s.gpus.empty()) {
      for (const auto& g : s.gpus) hw.dev.push_back(gpu_rates(g, e.thr));
    } else if (s.host.is_unified()) {
      // a chip whose default backend is its CPU (an Android phone) runs a GPU engine on its GPU's
      // own peaks when the device states them (LiteRT-LM's GPU back end, llama.cpp's OpenCL)
      Device g = s.host;
      if (g.backend == "cpu" && !g.gpu_peak_flops_per_s.empty()) g.peak_flops_per_s = g.gpu_peak_flops_per_s;
      hw.dev.push_back(gpu_rates(g, e.thr));
      hw.dev.back().memory_bytes = s.gpu_memory_bytes();
    }
  }
  hw.gpu_backend = hw.dev.size() > 1;
  if (cpu_engine && !e.thr.cpu_kernel.empty()) {
    double fp32 = s.host.flops("fp32");
    if (fp32 <= 0) fp32 = cpu_fp32_estimate(s.host);
    const double cores = std::max(1, s.host.cores);
    for (const auto& r : e.thr.cpu_kernel.cpu_ops) {
      int k = 0;
      while (k < kNumOps && r.op != op_name(static_cast<Op>(k))) ++k;
      if (k == kNumOps) input_error(e.file + ": throughput.cpu_ops." + r.phase + ": unknown op '" + r.op + "'");
      hw.cpu_op_flops_per_s[r.phase == "decode" ? 1 : 0][static_cast<std::size_t>(k)] = r.efficiency * fp32 / (r.serial ? cores : 1.0);
      hw.cpu_op_call_s[r.phase == "decode" ? 1 : 0][static_cast<std::size_t>(k)] = cores > 1 ? r.call_parallel_s : r.call_s;
    }
    hw.matmul_call_s = cores > 1 ? e.thr.cpu_kernel.matmul_call_parallel_s : e.thr.cpu_kernel.matmul_call_s;
    const double int8 = s.host.flops("int8") > 0 ? s.host.flops("int8") : fp32;
    // The quantized mat-vec's peak: the int8 loop's where the profile says so and the device has one.
    const double qmv = e.thr.cpu_kernel.quantized_matvec_peak == "int8" && s.host.flops("int8") > 0 ? int8 : fp32;
    hw.moe_matvec_flops_per_s = (cores > 1 && e.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel > 0
                                     ? e.thr.cpu_kernel.moe_matvec_compute_efficiency_parallel
                                     : e.thr.cpu_kernel.moe_matvec_compute_efficiency) *
                                qmv;
    // Per weight format: efficiency (by format name) x the peak it is a fraction of (the
    // mat-vec tables: fp32 for float formats, qmv for quantized ones).
    auto by_type = [&](const auto& effs, double peak_flops_per_s, auto& table, const char* key, double quant_peak = 0) {
      for (const auto& [name, eff] : effs) {
        const auto ty = type_from_name(name);
        if (!ty || static_cast<int>(*ty) < 0 || static_cast<int>(*ty) >= 64)
          input_error(e.file + ": throughput.cpu_ops." + key + ": unknown weight format '" + name + "'");
        const double peak = quant_peak > 0 && type_info(*ty).quantized ? quant_peak : peak_flops_per_s;
        table[static_cast<std::size_t>(*ty)] = eff * peak;
      }
    };
    by_type(e.thr.cpu_kernel.matvec_compute_efficiency, fp32, hw.matvec_flops_per_s_by_type, "matvec_compute_efficiency", qmv);
    if (cores > 1)  // formats measured at more than one thread replace their 1-thread rate
      by_type(e.thr.cpu_kernel.matvec_compute_efficiency_parallel, fp32, hw.matvec_flops_per_s_by_type, "matvec_compute_efficiency_parallel", qmv);
    by_type(e.thr.cpu_kernel.matmul_int8_efficiency, int8, hw.matmul_flops_per_s_by_type, "matmul_int8_efficiency");
    by_type(e.thr.cpu_kernel.matmul_int8_efficiency_t64, int8, hw.matmul64_flops_per_s_by_type, "matmul_int8_efficiency_t64");
    auto ratio_tables = [&](const auto& tables, const char* key) {
      for (const auto& [name, table] : tables) {
        const auto ty = type_from_name(name);
        if (!ty || static_cast<int>(*ty) < 0 || static_cast<int>(*ty) >= 64)
          input_error(e.file + ": throughput.cpu_ops." + key + ": unknown weight format '" + name + "'");
        hw.batch_time_ratio_by_type[static_cast<std::size_t>(*ty)] = table;
      }
    };
    ratio_tables(e.thr.cpu_kernel.matmul_batch_time_ratio, "matmul_batch_time_ratio");
    if (cores > 1) ratio_tables(e.thr.cpu_kernel.matmul_batch_time_ratio_parallel, "matmul_batch_time_ratio_parallel");
    by_type(e.thr.cpu_kernel.bandwidth_efficiency_by_format, s.host.memory_bandwidth_bytes_per_s, hw.weight_bytes_per_s_by_type,
            "bandwidth_efficiency_by_format");
    if (cores > 1)
      by_type(e.thr.cpu_kernel.bandwidth_efficiency_by_format_parallel, s.host.memory_bandwidth_bytes_per_s, hw.weight_bytes_per_s_by_type,
              "bandwidth_efficiency_by_format_parallel");
    // A stream measured on the machine itself, for its thread count, replaces ratio x bandwidth.
    for (const auto& [name, rate] : s.host.weight_stream_bytes_per_s) {
      const auto ty = type_from_name(name);
      if (!ty || static_cast<int>(*ty) < 0 || static_cast<int>(*ty) >= 64)
        input_error(s.host.id + ": weight_stream_bytes_per_s: unknown weight format '" + name + "'");
      if (rate > 0) hw.weight_bytes_per_s_by_type[static_cast<std::size_t>(*ty)] = rate;
    }
  }
  hw.host_link_bytes_per_s = (s.host_link.bytes_per_s > 0 ? s.host_link.bytes_per_s : 12.15e9) * e.thr.host_link_efficiency;
  hw.gpu_link_bytes_per_s = s.gpu_link.bytes_per_s > 0 ? s.gpu_link.bytes_per_s * e.thr.gpu_link_efficiency : 0;
  return hw;
}

namespace {

// One estimate's model of a step: where each layer and model-level op runs (the placement),
// how many layers of each class sit on each device, and the costs of one step of T tokens
// through them. estimate() builds one and asks it for the prefill and the decode phase.
class StepModel {
 public:
  StepModel(const ModelOps& mo, const HardwareRates& hw, const RunPlacement& pl, const Workload& wl)
      : mo_(mo), hw_(hw), t_(hw.thr), pl_(pl), wl_(wl), b_(wl.kv_bytes_per_element) {
    place_layers();
    count_layers();
    layer_overhead_s_ = per_step_layer_overhead_s();
    attn_scale_ = attention_fallback_scale();
  }

  int gpu_layers() const { return lay_.gpu_layers; }

  // B prompts of P tokens at depth D0, in micro-batches of `ubatch` tokens.
  void prefill(Estimate& est, double B, double P, double D0, double ubatch) {
    PhaseAcc acc{est.prefill, hw_, t_.matvec_max_tokens, t_.prefill_dequant_flops_per_flop, t_.prefill_dequant_to_f16};
    acc.phase = 0;
    acc.attn_scale = attn_scale_;
    const double n_full = std::floor(P / ubatch), r = P - n_full * ubatch;
    bool first_chunk = true;
    for (int part = 0; part < 2; ++part) {
      const double T = part == 0 ? ubatch : r;
      const double reps = part == 0 ? n_full : (r > 0 ? 1 : 0);
      if (reps <= 0) continue;
      const bool upload = can_upload_ && T >= t_.weight_upload_min_tokens;
      const double nd_exp = distinct_experts(T);
      if (part == 0) est.expert_distinct_prefill = nd_exp;
      acc.moe_calls = 2 * nd_exp;
      attn_tokens_per_call_ = T;
      // attention is added once for the whole prompt, with the first group of chunks
      const bool with_attn = first_chunk;
      // ... as one attention call per micro-batch: (n_full + a partial one) calls over these reps
      acc.attn_calls = with_attn ? (n_full + (r > 0 ? 1 : 0)) / reps : 1;
      auto attention = [&](const LayerInfo& li, OpCosts& oc) {
        if (!with_attn) return;
        OpCosts a{};
        add_layer_attention_prefill(mo_, li, D0, P, ubatch, b_, a);
        for (int k : {static_cast<int>(Op::AttnScores), static_cast<int>(Op::AttnSoftmax), static_cast<int>(Op::AttnValues)})
          oc[static_cast<std::size_t>(k)] += a[static_cast<std::size_t>(k)].scaled(1.0 / reps);
      };
      run_layers(acc, T, B * reps, nd_exp, upload, attention);
      first_chunk = false;
    }
    // Model-level ops: embeddings and PLE on every token; logits on the last token of each prompt.
    run_model_level(acc, ubatch, 0, B * n_full, can_upload_ && ubatch >= t_.weight_upload_min_tokens);
    if (r > 0) run_model_level(acc, r, 0, B, can_upload_ && r >= t_.weight_upload_min_tokens);
    last_token_logits(acc, B);
    est.prefill.tokens = B * P;
    finish_phase(est.prefill);
  }

  // One step of B tokens (one per sequence) at the sequences' mean depth over G steps.
  void decode(Estimate& est, double B, double mean_depth) {
    PhaseAcc acc{est.decode, hw_, t_.matvec_max_tokens, t_.prefill_dequant_flops_per_flop, t_.prefill_dequant_to_f16};
    acc.phase = 1;
    acc.attn_scale = attn_scale_;
    const double nd_exp = distinct_experts(B);
    est.expert_distinct_decode = nd_exp;
    acc.moe_calls = 2 * nd_exp;
    acc.attn_calls = B;  // one attention call per layer per sequence
    attn_tokens_per_call_ = 1;
    auto attention = [&](const LayerInfo& li, OpCosts& oc) {
      OpCosts a{};
      add_layer_attention_step(mo_, li, 1, mean_depth, b_, a);
      for (int k : {static_cast<int>(Op::AttnScores), static_cast<int>(Op::AttnSoftmax), static_cast<int>(Op::AttnValues)})
        oc[static_cast<std::size_t>(k)] += a[static_cast<std::size_t>(k)].scaled(B);
    };
    run_layers(acc, B, 1, nd_exp, can_upload_ && B >= t_.weight_upload_min_tokens, attention);
    run_model_level(acc, B, wl_.decode_logits ? B : 0, 1, can_upload_ && B >= t_.weight_upload_min_tokens);
    est.decode.tokens = B;
    finish_phase(est.decode);
  }

 private:
  const ModelOps& mo_;
  const HardwareRates& hw_;
  const EngineThroughput& t_;
  const RunPlacement& pl_;
  const Workload& wl_;
  const double b_;  // KV bytes per element

  Layout lay_;
  int n_cpu_moe_ = 0;        // MoE layers (from the first) whose experts stay on the CPU
  int last_dev_ = 0, head_dev_ = 0;
  double tp_ = 1;            // work per GPU divides by tp on tensor-parallel layers
  bool can_upload_ = false;  // CPU-resident weights may be copied to a GPU for large batches
  double host_link_bytes_per_s_ = 0, gpu_link_bytes_per_s_ = 0;
  // layers per (class, device, experts on CPU); a fixed array for the usual sizes
  int nc_ = 0, nd_ = 0;
  int counts_small_[512] = {};
  std::vector<int> counts_big_;
  int* counts_ = counts_small_;
  int transfers_host_ = 0, transfers_gpu_ = 0;  // activation hand-overs per step
  double layer_overhead_s_ = 0;
  double attn_scale_ = 1;
  // Tokens of one sequence per attention call (decode: 1; prefill: the micro-batch), for the
  // flash-attention kernel choice in run_layers.
  double attn_tokens_per_call_ = 1;

  // Which device runs each layer, the output head's device, tensor parallelism, the links.
  void place_layers() {
    const int L = mo_.L;
    lay_.L = L;
    lay_.n_gpu = hw_.gpu_backend ? hw_.n_gpus() : 0;
    lay_.gpu_layers = lay_.n_gpu == 0 ? 0 : ((pl_.gpu_layers < 0 || pl_.gpu_layers > L) ? L : pl_.gpu_layers);
    if (lay_.gpu_layers == 0) lay_.n_gpu = 0;
    lay_.first_gpu_layer = L - lay_.gpu_layers;
    lay_.tp = std::max(1, pl_.tp);
    if (lay_.tp > 1 && lay_.tp > lay_.n_gpu)
      input_error("--tp " + std::to_string(lay_.tp) + ": the system has " + std::to_string(hw_.n_gpus()) + " GPU(s) for the layers");
    if (lay_.n_gpu > 17) input_error("more than 17 GPUs are not supported");
    if (lay_.tp == 1 && lay_.n_gpu > 1) {  // layer split: shares by --split or by memory
      auto share = [&](int g) {
        return g < static_cast<int>(pl_.split.size()) ? pl_.split[static_cast<std::size_t>(g)]
                                                      : hw_.dev[static_cast<std::size_t>(g) + 1].memory_bytes;
      };
      double tot = 0;
      for (int g = 0; g < lay_.n_gpu; ++g) tot += share(g);
      double acc = 0;
      for (int g = 0; g < lay_.n_gpu; ++g) {
        acc += share(g);
        lay_.cum[static_cast<std::size_t>(g) + 1] = acc / tot;
      }
    }
    n_cpu_moe_ = pl_.n_cpu_moe < 0 ? L : pl_.n_cpu_moe;
    const bool all_on_gpu = lay_.gpu_layers == L && lay_.n_gpu > 0;
    last_dev_ = lay_.n_gpu > 0 ? lay_.dev_of(L - 1) : 0;
    const bool head_gpu = lay_.n_gpu > 0 && (!hw_.output_head_on_gpu_only_if_all_layers ||
                                             (all_on_gpu && (pl_.gpu_layers < 0 || pl_.gpu_layers > L)));
    head_dev_ = head_gpu ? last_dev_ : 0;
    tp_ = lay_.tp;
    can_upload_ = lay_.n_gpu > 0 && !hw_.unified && t_.weight_upload_min_tokens > 0;
    host_link_bytes_per_s_ = hw_.host_link_bytes_per_s;
    gpu_link_bytes_per_s_ = hw_.gpu_link_bytes_per_s > 0 ? hw_.gpu_link_bytes_per_s : host_link_bytes_per_s_;
  }

  int& count(int layer_class, int dev, int experts_on_cpu) { return counts_[(layer_class * nd_ + dev) * 2 + experts_on_cpu]; }

  // Layers per (class, device, experts on CPU), and the activation hand-overs of one step.
  void count_layers() {
    nc_ = static_cast<int>(mo_.classes.size());
    nd_ = static_cast<int>(hw_.dev.size());
    const int ncell = nc_ * nd_ * 2;
    if (ncell > 512) {
      counts_big_.assign(static_cast<std::size_t>(ncell), 0);
      counts_ = counts_big_.data();
    }
    int prev = 0;  // the embedding output starts on the host
    for (int il = 0; il < mo_.L; ++il) {
      const int d = lay_.dev_of(il);
      const int cpu_exp = (mo_.layer(il).moe && il < n_cpu_moe_ && d != 0) ? 1 : 0;
      ++count(mo_.layer_class[static_cast<std::size_t>(il)], d, cpu_exp);
      if (d != prev) ((d == 0 || prev == 0) ? transfers_host_ : transfers_gpu_) += 1;
      transfers_host_ += 2 * cpu_exp;
      if (pl_.kv_on_host && d != 0) transfers_host_ += 2;
      prev = d;
    }
    if (prev != head_dev_) ((head_dev_ == 0 || prev == 0) ? transfers_host_ : transfers_gpu_) += 1;
    if (hw_.unified) transfers_host_ = 0;  // one memory: no copies between CPU and GPU
  }

  // Fixed time per layer per step (kernel launches and their gaps), more for MoE layers, scaled
  // on GPUs that run without launch graphs.
  double per_step_layer_overhead_s() const {
    double s = 0;
    for (int il = 0; il < mo_.L; ++il)
      s += (t_.per_layer_overhead_s + (mo_.layer(il).moe ? t_.moe_layer_overhead_s : 0)) *
           hw_.dev[static_cast<std::size_t>(lay_.dev_of(il))].overhead_factor;
    return s;
  }

  // A model with a head dim beyond the engine's attention backend runs on its fallback backend.
  double attention_fallback_scale() const {
    if (t_.attention_max_head_dim <= 0) return 1;
    int max_dh = 0;
    for (const auto& li : mo_.classes) max_dh = std::max(max_dh, static_cast<int>(li.Dh));
    return max_dh > t_.attention_max_head_dim ? t_.attention_fallback_efficiency / t_.attention_compute_efficiency : 1;
  }

  // Distinct experts T tokens route to (the last MoE class's; 0 without MoE).
  double distinct_experts(double T) const {
    double nd_exp = 0;
    for (const auto& li : mo_.classes)
      if (li.moe) nd_exp = expected_distinct_experts(li.E, li.K, T);
    return nd_exp;
  }

  // One step of T tokens through every layer group, `mult` times; `attention` adds the
  // attention ops of a layer class.
  template <class Attention>
  void run_layers(PhaseAcc& acc, double T, double mult, double n_distinct, bool upload, Attention&& attention) {
    for (int c = 0; c < nc_; ++c) {
      const LayerInfo& li = mo_.classes[static_cast<std::size_t>(c)];
      for (int d = 0; d < nd_; ++d)
        for (int ce = 0; ce < 2; ++ce) {
          const int n = count(c, d, ce);
          if (n == 0) continue;
          OpCosts oc{};
          add_layer_proj_step(mo_, li, T, b_, n_distinct, oc);
          attention(li, oc);
          const double per_gpu = (d != 0 && lay_.tp > 1) ? 1.0 / tp_ : 1.0;
          for (int k = 0; k < kNumKernelOps; ++k) {
            const Op op = static_cast<Op>(k);
            const OpCost& cst = oc[static_cast<std::size_t>(k)];
            if (cst.flops == 0 && cst.memory_bytes() == 0) continue;
            int dev = d;
            if (op == Op::MoeExperts && ce) dev = 0;
            if (pl_.kv_on_host && (is_attention(op))) dev = 0;
            double share = dev == 0 ? 1.0 : per_gpu;
            double up_bytes = 0;
            if (dev == 0 && upload && op_class(op) == OpClass::Matmul && cst.weight_bytes > 0) {
              // llama.cpp copies the CPU-resident weight to the GPU and multiplies there.
              up_bytes = op == Op::MoeExperts ? li.expert_bytes : cst.weight_bytes;
              dev = lay_.n_gpu > 0 ? std::max(1, last_dev_) : 0;
              share = 1.0;
            }
            acc.wtype = op_wtype(li, op);
            OpCost cc = share == 1.0 ? cst : cst.scaled(share);
            if (dev != 0 && is_attention(op) && cc.kv_read_bytes > 0 && t_.flash_attn_quantized_kv_to_f16 &&
                wl_.kv_block_quantized &&
                (li.Dh > t_.flash_attn_vec_max_head_dim || attn_tokens_per_call_ > t_.flash_attn_vec_max_tokens)) {
              // a conversion kernel before the attention kernel (not overlapped with it): reads
              // the quantized view, writes F16; the attention kernel then reads the F16 copy
              OpCost conv;
              conv.kv_read_bytes = cc.kv_read_bytes;
              conv.kv_write_bytes = cc.kv_read_bytes / b_ * 2;
              acc.charge(op, conv, mult * n, dev, WeightClass::F32, T, 0, host_link_bytes_per_s_);
              cc.kv_read_bytes = conv.kv_write_bytes;
            }
            acc.charge(op, cc, mult * n, dev, op_wclass(li, op), T, up_bytes, host_link_bytes_per_s_);
            acc.wtype = -1;
          }
          if (d != 0 && lay_.tp > 1) {
            // two all-reduces per layer (after attention and after the FFN), ring algorithm, bf16 activations
            const double bytes = 2.0 * (tp_ - 1) / tp_ * T * static_cast<double>(mo_.D) * 2;
            acc.link(Op::AllReduce, bytes, gpu_link_bytes_per_s_, t_.allreduce_latency_s, 2 * mult * n, d);
          }
        }
    }
  }

  // The model-level ops of one step of T tokens (logits for T_out of them), `mult` times:
  // embeddings, PLE, output head, sampling, hand-overs between devices, step overheads.
  void run_model_level(PhaseAcc& acc, double T, double T_out, double mult, bool upload) {
    OpCosts oc{};
    add_model_step(mo_, T, T_out, oc);
    const int first_dev = lay_.dev_of(0);
    for (int k = 0; k < kNumKernelOps; ++k) {
      const Op op = static_cast<Op>(k);
      const OpCost& cst = oc[static_cast<std::size_t>(k)];
      if (cst.flops == 0 && cst.memory_bytes() == 0) continue;
      int dev = first_dev;
      if (op == Op::Embed) dev = hw_.embd_on_host ? 0 : first_dev;
      if (op == Op::PleEmbed) dev = hw_.ple_on_host ? 0 : first_dev;
      if (op == Op::OutputHead || op == Op::Softcap) dev = head_dev_;
      if (op == Op::Norms) dev = head_dev_;  // final norm (and the small PLE norm) — negligible either way
      double up_bytes = 0;
      if (dev == 0 && upload && op_class(op) == OpClass::Matmul && cst.weight_bytes > 0) {
        up_bytes = cst.weight_bytes;
        dev = std::max(1, last_dev_);
      }
      const double share = (dev != 0 && lay_.tp > 1 && op == Op::OutputHead) ? 1.0 / tp_ : 1.0;
      const WeightClass wc = op == Op::OutputHead ? mo_.output_head.wclass
                             : op == Op::PleModelProj ? mo_.ple_model_proj.wclass : WeightClass::F32;
      acc.wtype = op == Op::OutputHead ? static_cast<int>(mo_.output_head.type)
                  : op == Op::PleModelProj ? static_cast<int>(mo_.ple_model_proj.type) : -1;
      acc.charge(op, cst.scaled(share), mult, dev, wc, op == Op::OutputHead ? T_out : T, up_bytes, host_link_bytes_per_s_);
      acc.wtype = -1;
    }
    // Sampling on the host: logits copied off the GPU, read a few times (softmax, top-k/p).
    if (T_out > 0) {
      OpCost s;
      s.flops = 5 * T_out * static_cast<double>(mo_.V);
      s.act_bytes = 3 * 4 * T_out * static_cast<double>(mo_.V);
      const double logits_link = (head_dev_ != 0 && !hw_.unified) ? 4 * T_out * static_cast<double>(mo_.V) : 0;
      acc.charge(Op::Sampling, s, mult, 0, WeightClass::F32, T_out, logits_link, host_link_bytes_per_s_);
    }
    // Activation hand-overs between devices.
    const double act = 4 * T * static_cast<double>(mo_.D);
    acc.link(Op::LayerTransfer, act, host_link_bytes_per_s_, t_.device_switch_s, mult * transfers_host_, 0);
    acc.link(Op::LayerTransfer, act, gpu_link_bytes_per_s_, t_.device_switch_s, mult * transfers_gpu_, 1);
    acc.overhead(mult * (t_.step_overhead_s + layer_overhead_s_));
  }

  // The output head of each prompt's last token (T_out = 1) runs once per prompt; its step
  // overhead is already counted.
  void last_token_logits(PhaseAcc& acc, double B) {
    OpCosts oc{};
    add_model_step(mo_, 0, 1, oc);
    for (Op op : {Op::Norms, Op::OutputHead, Op::Softcap}) {
      const OpCost& cst = oc[static_cast<std::size_t>(op)];
      const WeightClass wc = op == Op::OutputHead ? mo_.output_head.wclass : WeightClass::F32;
      acc.wtype = op == Op::OutputHead ? static_cast<int>(mo_.output_head.type) : -1;
      acc.charge(op, cst, B, head_dev_, wc, 1, 0, host_link_bytes_per_s_);
      acc.wtype = -1;
    }
    OpCost s;
    s.flops = 5 * static_cast<double>(mo_.V);
    s.act_bytes = 12 * static_cast<double>(mo_.V);
    acc.charge(Op::Sampling, s, B, 0, WeightClass::F32, 1, (head_dev_ != 0 && !hw_.unified) ? 4 * static_cast<double>(mo_.V) : 0,
               host_link_bytes_per_s_);
  }
};

// KV cache held by one sequence of ctx tokens at its longest (no engine padding).
double kv_bytes_per_sequence(const ModelOps& mo, double ctx, double kv_bytes_per_element) {
  double bytes = 0;
  for (int il = 0; il < mo.L; ++il) {
    const LayerInfo& li = mo.layer(il);
    if (!li.owns_kv) continue;
    const double cells = li.sliding && mo.W > 0 ? std::min(ctx, static_cast<double>(mo.W)) : ctx;
    bytes += cells * 2.0 * li.Hkv * li.Dh * kv_bytes_per_element;
  }
  return bytes;
}

}  // namespace

Estimate estimate(const ModelOps& mo, const HardwareRates& hw, const RunPlacement& pl, const Workload& wl) {
  const double B = std::max(wl.batch, 1);
  const double P = static_cast<double>(std::max<i64>(wl.prompt_tokens, 0));
  const double G = static_cast<double>(std::max<i64>(wl.gen_tokens, 1));
  const double D0 = static_cast<double>(std::max<i64>(wl.depth_tokens, 0));
  const double ubatch = wl.ubatch_tokens > 0 ? wl.ubatch_tokens : hw.ubatch_tokens;

  Estimate est;
  StepModel step(mo, hw, pl, wl);
  est.gpu_layers = step.gpu_layers();
  if (P > 0) step.prefill(est, B, P, D0, ubatch);
  const double decode_start = D0 + (wl.decode_after_prompt ? P : 0);
  step.decode(est, B, decode_start + (G - 1) / 2);

  est.tpot_s = est.decode.time_s;
  est.decode_tok_per_s = est.tpot_s > 0 ? 1.0 / est.tpot_s : 0;
  est.decode_tok_per_s_aggregate = est.tpot_s > 0 ? B / est.tpot_s : 0;
  est.ttft_s = est.prefill.time_s;
  est.prefill_tok_per_s = est.prefill.time_s > 0 ? est.prefill.tokens / est.prefill.time_s : 0;
  est.total_s = est.ttft_s + (G - 1) * est.tpot_s;
  est.kv_bytes_per_seq = kv_bytes_per_sequence(mo, D0 + P + G, wl.kv_bytes_per_element);
  return est;
}

Estimate estimate(const ModelSpec& m, const System& s, const QuantRecipe& r, const EngineProfile& e,
                  const RunPlacement& pl, const Workload& wl) {
  return estimate(prepare_ops(m, r), prepare_hardware(s, e), pl, wl);
}

}  // namespace gs
