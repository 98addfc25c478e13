// gemmasim estimate: memory (as fit) and speed: prefill / decode tok/s, TTFT,
// time per output token, the binding limit of each phase and the ops that cost most.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "engine.h"
#include "options.h"
#include "power.h"
#include "roofline.h"
#include "table.h"

namespace gs::cli {

namespace {

struct EstimateFlags {
  long long prompt = 512, gen = 128, depth = 0;
  int ubatch = 0;
  bool ops = false, nkvo = false, after_prompt = false;
  double usd_per_kwh = -1, rental_usd_per_hour = -1;  // < 0: not given (hwdb/power.json's, the system's)
};

std::string devices_of(unsigned mask, const HardwareRates& hw) {
  std::string s;
  for (int d = 0; d < static_cast<int>(hw.dev.size()); ++d)
    if (mask & (1u << d)) s += (s.empty() ? "" : "+") + (d == 0 ? std::string("cpu") : "gpu" + std::to_string(d - 1));
  return s.empty() ? "-" : s;
}

json op_json(Op op, const OpRow& r, const HardwareRates& hw) {
  return json{{"op", op_name(op)},
              {"device", devices_of(r.device_mask, hw)},
              {"flops", r.cost.flops},
              {"weight_bytes", r.cost.weight_bytes},
              {"kv_read_bytes", r.cost.kv_read_bytes},
              {"kv_write_bytes", r.cost.kv_write_bytes},
              {"activation_bytes", r.cost.act_bytes},
              {"link_bytes", r.link_bytes},
              {"compute_s", r.compute_s},
              {"memory_s", r.memory_s},
              {"link_s", r.link_s},
              {"time_s", r.time_s},
              {"bound", bound_name(r.bound())}};
}

std::vector<int> ops_by_time(const PhaseResult& ph) {
  std::vector<int> idx;
  for (int k = 0; k < kNumOps; ++k)
    if (ph.ops[static_cast<std::size_t>(k)].time_s > 0) idx.push_back(k);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) {
    return ph.ops[static_cast<std::size_t>(a)].time_s > ph.ops[static_cast<std::size_t>(b)].time_s;
  });
  return idx;
}

void print_ops(const char* title, const PhaseResult& ph, const HardwareRates& hw, bool all) {
  std::printf("\n%s (%s-bound, %.3g ms):\n", title, bound_name(ph.bound), ph.time_s * 1e3);
  report::Table t({"op", "device", "GFLOP", "weights MB", "KV MB", "act MB", "compute ms", "memory ms", "link ms",
                   "time ms", "share", "bound"});
  t.right_align_from(2);
  auto idx = ops_by_time(ph);
  const std::size_t n = all ? idx.size() : std::min<std::size_t>(idx.size(), 8);
  for (std::size_t i = 0; i < n; ++i) {
    const OpRow& r = ph.ops[static_cast<std::size_t>(idx[i])];
    t.add({op_name(static_cast<Op>(idx[i])), devices_of(r.device_mask, hw), report::fmt_num(r.cost.flops / 1e9, 2),
           report::fmt_num(r.cost.weight_bytes / 1e6, 1),
           report::fmt_num((r.cost.kv_read_bytes + r.cost.kv_write_bytes) / 1e6, 1),
           report::fmt_num(r.cost.act_bytes / 1e6, 1), report::fmt_num(r.compute_s * 1e3, 3),
           report::fmt_num(r.memory_s * 1e3, 3), report::fmt_num(r.link_s * 1e3, 3), report::fmt_num(r.time_s * 1e3, 3),
           report::fmt_num(100 * r.time_s / ph.time_s, 1) + "%", bound_name(r.bound())});
  }
  std::fputs(t.text().c_str(), stdout);
  if (!all && idx.size() > n) std::printf("(%zu more ops; --ops lists all)\n", idx.size() - n);
}

}  // namespace

int cmd_estimate(const Args& a) {
  Common c;
  EstimateFlags f;
  po::options_description d("gemmasim estimate options");
  add_common(d, c);
  d.add_options()
      ("prompt,p", po::value(&f.prompt)->default_value(f.prompt), "prompt tokens P (llama-bench -p)")
      ("gen,n", po::value(&f.gen)->default_value(f.gen), "generated tokens G (llama-bench -n)")
      ("depth,d", po::value(&f.depth)->default_value(f.depth),
       "tokens already in the KV cache D. As llama-bench -p P -n G -d D: the prefill of P tokens and the decode of "
       "G tokens each start from D tokens in the cache; decode is the mean over the G steps, the cache growing from D "
       "to D + G - 1")
      ("decode-after-prompt", po::bool_switch(&f.after_prompt),
       "decode follows the prompt, from D + P (a chat request) instead of from D (llama-bench)")
      ("ubatch", po::value(&f.ubatch)->default_value(0), "micro-batch tokens (0: the engine's)")
      ("no-kv-offload", po::bool_switch(&f.nkvo), "KV cache and attention on the CPU (llama.cpp -nkvo)")
      ("ops", po::bool_switch(&f.ops), "list every op (default: the top 8 per phase)")
      ("electricity-usd-per-kwh", po::value(&f.usd_per_kwh),
       "electricity price for owned hardware (default 0.17, the U.S. residential average: hwdb/power.json)")
      ("rental-usd-per-hour", po::value(&f.rental_usd_per_hour),
       "price the run by the hour instead (default: the system's rental_usd_per_hour, for cloud systems)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim estimate --model M --quant Q --hw H [--engine E] [--prompt P] [--gen G] [--depth D] [--decode-after-prompt]\n"
             "       [--batch B] [--gpu-layers N] [--n-cpu-moe N | --cpu-moe] [--tp N] [--kv-type T] [--ops] [--json]"))
    return 0;
  if (f.prompt < 0 || f.prompt > (1LL << 24)) input_error("--prompt: expected 0 .. 16M tokens, got " + std::to_string(f.prompt));
  if (f.gen < 1 || f.gen > (1LL << 24)) input_error("--gen: expected 1 .. 16M tokens, got " + std::to_string(f.gen));
  if (f.depth < 0 || f.depth > (1LL << 24)) input_error("--depth: expected 0 .. 16M tokens, got " + std::to_string(f.depth));
  if (f.ubatch < 0 || f.ubatch > 65536) input_error("--ubatch: expected 0 .. 65536, got " + std::to_string(f.ubatch));
  if (c.batch < 1 || c.batch > 65536) input_error("--batch: expected 1 .. 65536, got " + std::to_string(c.batch));
  // Memory at the context this workload reaches unless --ctx was given.
  if (vm["ctx"].defaulted()) c.ctx = f.depth + f.prompt + f.gen;
  else if (c.ctx < f.depth + f.prompt + f.gen)
    input_error("--ctx " + std::to_string(c.ctx) + " is shorter than --depth + --prompt + --gen = " +
                std::to_string(f.depth + f.prompt + f.gen) + " tokens");
  const std::string engine_id = c.engine.empty() ? "" : c.engine;
  Inputs in = load_inputs(c);
  const EngineProfile eng = resolve_engine_for(engine_id.empty() ? in.rules.engine : engine_id, in.hw);
  if (in.fit.context_tokens > in.model.n_ctx_max)
    input_error("context " + std::to_string(in.fit.context_tokens) + " (depth + prompt + gen) is beyond " + in.model.id +
                "'s limit of " + std::to_string(in.model.n_ctx_max) + " tokens");

  FitResult fr = fit(in.model, in.hw, in.quant, in.rules, in.fit);
  // Like llama.cpp's automatic fit and Ollama: when everything does not fit on the GPU(s) and
  // no --gpu-layers was given, offload the most layers that fit (not on unified chips:
  // one memory pool, nothing is freed by keeping layers on the CPU).
  std::string placement_note;
  if (!fr.fits && !in.engine.cpu_layer_offload)
    input_error(in.model.id + " " + in.quant.id + " does not fit on " + in.hw.id + " with " + in.engine.id +
                ", which keeps every layer on the GPUs: " + why_not_fits(fr));
  if (!fr.fits && vm["gpu-layers"].defaulted() && !in.hw.gpus.empty() && eng.backend != "cpu") {
    const int n = max_gpu_layers(in.model, in.hw, in.quant, in.rules, in.fit);
    if (n >= 0) {
      c.gpu_layers = n;
      in.fit.placement.gpu_layers = n;
      fr = fit(in.model, in.hw, in.quant, in.rules, in.fit);
      placement_note = "does not fit on the GPU(s): estimated with --gpu-layers " + std::to_string(n) +
                       " (the most that fit)";
    } else {
      placement_note = "does not fit even with every layer on the CPU: speeds assume it did";
    }
  }
  check_price_flags(vm, f.usd_per_kwh, f.rental_usd_per_hour);
  const i64 max_ctx = max_context(in.model, in.hw, in.quant, in.rules, in.fit);

  RunPlacement pl;
  pl.gpu_layers = c.gpu_layers;
  // as load_inputs resolved --n-cpu-moe / --cpu-moe / -ot
  pl.n_cpu_moe = in.fit.placement.cpu_moe ? -1 : in.fit.placement.n_cpu_moe;
  pl.tp = c.tp;
  pl.kv_on_host = f.nkvo;
  Workload wl;
  wl.prompt_tokens = f.prompt;
  wl.gen_tokens = f.gen;
  wl.depth_tokens = f.depth;
  wl.decode_after_prompt = f.after_prompt;
  wl.batch = c.batch;
  wl.kv_bytes_per_element = find_kv_type(c.kv_type).bytes_per_element;
  wl.kv_block_quantized = kv_type_is_block_quantized(c.kv_type);
  wl.ubatch_tokens = f.ubatch;
  const ModelOps mo = prepare_ops(in.model, in.quant);
  const HardwareRates hw = prepare_hardware(in.hw, eng);
  const Estimate e = estimate(mo, hw, pl, wl);

  // Power and money: owned hardware at an electricity price, rented hardware by the hour.
  const bool host_computes = in.hw.gpus.empty() ? true : (e.gpu_layers < in.model.n_layer || pl.n_cpu_moe != 0);
  const SystemPower pw = system_power(in.hw, e, host_computes);
  const double kwh_price = f.usd_per_kwh > 0 ? f.usd_per_kwh : power_rules().electricity_usd_per_kwh;
  const double hourly = f.rental_usd_per_hour > 0 ? f.rental_usd_per_hour : (vm.count("electricity-usd-per-kwh") ? 0.0 : in.hw.rental_usd_per_hour);
  const bool costed = pw.known && e.prefill_tok_per_s > 0 && e.decode_tok_per_s_aggregate > 0;
  const RunCost rc = costed ? run_cost(pw, e.prefill_tok_per_s, e.decode_tok_per_s_aggregate, kwh_price, hourly) : RunCost{};

  if (c.json) {
    json j = fit_to_json(fr, max_ctx);
    if (costed)
      j["energy"] = {{"prefill_w", pw.prefill_w},
                     {"decode_w", pw.decode_w},
                     {"idle_w", pw.idle_w},
                     {"devices", pw.what},
                     {"prefill_j_per_token", rc.prefill_j_per_token},
                     {"decode_j_per_token", rc.decode_j_per_token},
                     {"usd_per_mtok_input", rc.usd_per_mtok_input},
                     {"usd_per_mtok_output", rc.usd_per_mtok_output},
                     {"priced_by", rc.rented ? "rental_usd_per_hour" : "electricity_usd_per_kwh"},
                     {"electricity_usd_per_kwh", rc.rented ? 0.0 : kwh_price},
                     {"rental_usd_per_hour", rc.rented ? hourly : 0.0}};
    j["engine"] = eng.id;
    j["workload"] = {{"prompt_tokens", f.prompt}, {"gen_tokens", f.gen}, {"depth_tokens", f.depth}, {"batch", c.batch},
                     {"tp", c.tp}, {"decode_starts_at_depth", f.depth + (f.after_prompt ? f.prompt : 0)}};
    j["prefill_tok_per_s"] = e.prefill_tok_per_s;
    j["decode_tok_per_s"] = e.decode_tok_per_s;
    j["decode_tok_per_s_aggregate"] = e.decode_tok_per_s_aggregate;
    j["ttft_s"] = e.ttft_s;
    j["tpot_s"] = e.tpot_s;
    j["total_s"] = e.total_s;
    j["prefill_bound"] = bound_name(e.prefill.bound);
    j["decode_bound"] = bound_name(e.decode.bound);
    j["kv_bytes_per_seq"] = e.kv_bytes_per_seq;
    j["gpu_layers_used"] = e.gpu_layers;
    if (!placement_note.empty()) j["placement_note"] = placement_note;
    json ops = json::array();
    for (const char* phase : {"prefill", "decode"}) {
      const PhaseResult& ph = std::string(phase) == "prefill" ? e.prefill : e.decode;
      for (int k : ops_by_time(ph)) {
        json o = op_json(static_cast<Op>(k), ph.ops[static_cast<std::size_t>(k)], hw);
        o["phase"] = phase;
        ops.push_back(o);
      }
    }
    j["ops"] = ops;
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  if (c.csv) {  // one row per phase, numbers only
    report::Table t({"phase", "tok_per_s", "time_s", "bound", "compute_s", "memory_s", "link_s", "overhead_s"});
    auto g = [](double v) {
      char b[40];
      std::snprintf(b, sizeof b, "%.9g", v);
      return std::string(b);
    };
    t.add({"prefill", g(e.prefill_tok_per_s), g(e.ttft_s), bound_name(e.prefill.bound), g(e.prefill.compute_s),
           g(e.prefill.memory_s), g(e.prefill.link_s), g(e.prefill.overhead_s)});
    t.add({"decode", g(e.decode_tok_per_s), g(e.tpot_s), bound_name(e.decode.bound), g(e.decode.compute_s),
           g(e.decode.memory_s), g(e.decode.link_s), g(e.decode.overhead_s)});
    std::fputs(t.csv().c_str(), stdout);
    return 0;
  }

  std::printf("%s  %s  on %s  (engine %s, KV %s)\n", in.model.name.c_str(), in.quant.id.c_str(), in.hw.name.c_str(),
              eng.id.c_str(), c.kv_type.c_str());
  std::printf("workload: prompt %lld tokens at depth %lld; %lld generated from depth %lld%s, batch %d%s\n", f.prompt,
              f.depth, f.gen, f.depth + (f.after_prompt ? f.prompt : 0), f.after_prompt ? " (after the prompt)" : " (llama-bench)", c.batch, c.tp > 1 ? (", tensor parallel " + std::to_string(c.tp)).c_str() : "");
  std::printf("memory: %s of %s at context %lld -> %s (largest context %lld); layers on GPU: %d of %d\n",
              report::fmt_gib(fr.total_bytes).c_str(), report::fmt_gib(fr.capacity_bytes).c_str(),
              static_cast<long long>(fr.context_tokens), fr.fits ? "fits" : "DOES NOT FIT", static_cast<long long>(max_ctx),
              e.gpu_layers, in.model.n_layer);
  if (!placement_note.empty()) std::printf("note: %s\n", placement_note.c_str());
  report::Table t({"phase", "tok/s", "time", "bound", "compute", "memory", "link", "overhead"});
  t.right_align_from(1);
  auto ms = [](double s) { return report::fmt_num(s * 1e3, 2) + " ms"; };
  t.add({"prefill", report::fmt_num(e.prefill_tok_per_s, 1), ms(e.ttft_s) + " (TTFT)", bound_name(e.prefill.bound),
         ms(e.prefill.compute_s), ms(e.prefill.memory_s), ms(e.prefill.link_s), ms(e.prefill.overhead_s)});
  t.add({"decode", report::fmt_num(e.decode_tok_per_s, 1) + (c.batch > 1 ? " /seq" : ""), ms(e.tpot_s) + " (TPOT)",
         bound_name(e.decode.bound), ms(e.decode.compute_s), ms(e.decode.memory_s), ms(e.decode.link_s),
         ms(e.decode.overhead_s)});
  std::fputs(t.text().c_str(), stdout);
  if (c.batch > 1)
    std::printf("batch %d: %.1f tok/s aggregate decode; KV cache %s per sequence\n", c.batch, e.decode_tok_per_s_aggregate,
                report::fmt_gib(e.kv_bytes_per_seq).c_str());
  std::printf("total for the request: %.3f s\n", e.total_s);
  if (costed)
    std::printf("energy: %.0f W prefill, %.0f W decode (%s): %.3g J per output token, %.3g J per prompt token; "
                "$%.3g per million output tokens, $%.3g per million input (%s)\n",
                pw.prefill_w, pw.decode_w, pw.what.c_str(), rc.decode_j_per_token, rc.prefill_j_per_token,
                rc.usd_per_mtok_output, rc.usd_per_mtok_input,
                rc.rented ? ("rented at $" + report::fmt_num(hourly, 2) + "/h").c_str()
                          : ("electricity at $" + report::fmt_num(kwh_price, 3) + "/kWh").c_str());
  else
    std::printf("energy: unknown (a device without tdp_w in hwdb)\n");
  print_ops("prefill ops", e.prefill, hw, f.ops);
  print_ops("decode ops (one step)", e.decode, hw, f.ops);
  return 0;
}

}  // namespace gs::cli
