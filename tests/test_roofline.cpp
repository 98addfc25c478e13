// sim/roofline: binding limits, splits and tensor parallelism behave as the physics says.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli_run.h"
#include "engine.h"
#include "hardware.h"
#include "memory_fit.h"
#include "model.h"
#include "quant.h"
#include "roofline.h"

using namespace gs;

namespace {

Estimate run(const std::string& model, const std::string& quant, const std::string& hw, const std::string& engine,
             RunPlacement pl = {}, Workload wl = {}) {
  return estimate(prepare_ops(find_model(model), find_recipe(quant)),
                  prepare_hardware(resolve_hardware(hw), resolve_engine(engine)), pl, wl);
}
const OpRow& row(const PhaseResult& p, Op op) { return p.ops[static_cast<std::size_t>(op)]; }

}  // namespace

TEST_CASE("dense model on an RTX 4090: decode at batch 1 is memory-bound, prefill of 512 compute-bound") {
  for (const char* m : {"gemma4-e4b", "gemma4-31b", "llama-3.1-8b"}) {
    CAPTURE(m);
    Workload wl;
    wl.prompt_tokens = 512;
    const Estimate e = run(m, "q4_k_m", "rtx-4090", "llama.cpp-cuda", {}, wl);
    CHECK(e.decode.bound == Bound::Memory);
    CHECK(e.prefill.bound == Bound::Compute);
    CHECK(e.prefill_tok_per_s > 10 * e.decode_tok_per_s);
    // every op's time is at least each of its roofline terms
    for (const auto& r : e.decode.ops) CHECK(r.time_s >= std::max(r.compute_s, r.memory_s) - 1e-15);
  }
}

TEST_CASE("decode time per token is at least the weights read over peak bandwidth") {
  const ModelSpec m = find_model("gemma4-31b");
  const QuantRecipe& q = find_recipe("q8_0");
  const System s = resolve_hardware("rtx-4090");
  const ModelOps mo = prepare_ops(m, q);
  const Estimate e = estimate(mo, prepare_hardware(s, resolve_engine("llama.cpp-cuda")), {}, {});
  double layer_bytes = 0;
  for (int il = 0; il < mo.L; ++il) layer_bytes += mo.layer(il).weight_bytes;
  CHECK(e.tpot_s >= layer_bytes / s.gpus[0].memory_bandwidth_bytes_per_s);
}

TEST_CASE("a GPU/CPU split is never faster than the same model fully on the GPU") {
  for (const char* m : {"gemma4-e4b", "gemma4-26b-a4b"}) {
    CAPTURE(m);
    const ModelSpec ms = find_model(m);
    const Estimate full = run(m, "q4_k_m", "rtx-4090", "llama.cpp-cuda");
    for (int ngl : {0, 1, ms.n_layer / 2, ms.n_layer - 1, ms.n_layer}) {
      CAPTURE(ngl);
      RunPlacement pl;
      pl.gpu_layers = ngl;
      const Estimate e = run(m, "q4_k_m", "rtx-4090", "llama.cpp-cuda", pl);
      CHECK(e.tpot_s >= full.tpot_s);
      CHECK(e.ttft_s >= full.ttft_s);
    }
    if (ms.moe.n_expert > 0) {
      for (int ncm : {1, 10, -1}) {
        RunPlacement pl;
        pl.n_cpu_moe = ncm;
        const Estimate e = run(m, "q4_k_m", "rtx-4090", "llama.cpp-cuda", pl);
        CHECK(e.tpot_s > full.tpot_s);
        CHECK(e.ttft_s >= full.ttft_s);
        CHECK((row(e.decode, Op::MoeExperts).device_mask & 1u) != 0);  // experts ran on the CPU
      }
    }
  }
}

TEST_CASE("prompt batches of 32+ tokens copy CPU-resident weights to the GPU (llama.cpp)") {
  RunPlacement pl;
  pl.gpu_layers = 20;
  const Estimate e = run("gemma4-e4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda", pl);
  CHECK(row(e.prefill, Op::FfnUp).link_bytes > 0);   // uploaded over PCIe
  CHECK(row(e.decode, Op::FfnUp).link_bytes == 0);   // decode (T = 1) multiplies on the CPU
  CHECK((row(e.decode, Op::FfnUp).device_mask & 1u) != 0);
}

TEST_CASE("a bare GPU's host link follows its PCIe lanes: x8 has half the bandwidth of x16") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("gemmasim_lanes_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  json j = read_json_file(std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/devices/rtx-4090.json");
  auto write = [&](int lanes) {
    j["pcie"]["lanes"] = lanes;
    const fs::path p = dir / ("gpu-x" + std::to_string(lanes) + ".json");
    std::ofstream(p) << j.dump();
    return resolve_hardware(p.string());
  };
  const System x16 = write(16), x8 = write(8), x4 = write(4);
  CHECK(x16.host_link.lanes == 16);
  CHECK(x8.host_link.lanes == 8);
  CHECK(x8.host_link.bytes_per_s == doctest::Approx(x16.host_link.bytes_per_s / 2));
  CHECK(x4.host_link.bytes_per_s == doctest::Approx(x16.host_link.bytes_per_s / 4));
  // a split prompt uploads CPU-resident weights over that link: fewer lanes, slower prefill
  RunPlacement pl;
  pl.gpu_layers = 20;
  const ModelOps mo = prepare_ops(find_model("gemma4-e4b"), find_recipe("q4_k_m"));
  const EngineProfile e = resolve_engine("llama.cpp-cuda");
  const Estimate a = estimate(mo, prepare_hardware(x16, e), pl, {});
  const Estimate b = estimate(mo, prepare_hardware(x8, e), pl, {});
  CHECK(b.prefill.link_s == doctest::Approx(2 * a.prefill.link_s).epsilon(0.05));
  CHECK(b.prefill_tok_per_s < a.prefill_tok_per_s);
  fs::remove_all(dir);
}

TEST_CASE("engine mechanisms: dequantize-to-F16 prefill pass and per-vendor compute efficiency") {
  // prefill_dequant_to_f16 slows quantized prompt batches by a memory pass and leaves F16 weights alone
  EngineProfile e = resolve_engine("llama.cpp-cuda-2023");
  REQUIRE(e.thr.prefill_dequant_to_f16);
  EngineProfile off = e;
  off.thr.prefill_dequant_to_f16 = false;
  const System a100 = resolve_hardware("a100-80gb");
  for (const char* q : {"q4_0", "f16"}) {
    CAPTURE(q);
    const ModelOps mo = prepare_ops(find_model("llama-2-7b"), find_recipe(q));
    const Estimate with = estimate(mo, prepare_hardware(a100, e), {}, {});
    const Estimate without = estimate(mo, prepare_hardware(a100, off), {}, {});
    const double extra = with.prefill.time_s - without.prefill.time_s;
    if (std::string(q) == "f16") {
      CHECK(extra == doctest::Approx(0));
    } else {
      // one pass per micro-batch: read the quantized weights, write 2 B per weight, at the engine's bandwidth
      const double w = row(without.prefill, Op::FfnUp).cost.quant_weights;
      CHECK(w > 0);
      CHECK(extra > 0);
      CHECK(with.decode.time_s == doctest::Approx(without.decode.time_s));  // mat-vecs unchanged
    }
  }
  // f16_gemm_fp16_accumulate: F16 products use the FP16-accumulate peak where a GPU states one (GeForce)
  {
    const System g4090 = resolve_hardware("rtx-4090");
    REQUIRE(g4090.gpus.at(0).flops("fp16_acc16") > g4090.gpus.at(0).flops("fp16"));
    REQUIRE(e.thr.f16_gemm_fp16_accumulate);
    const HardwareRates acc16 = prepare_hardware(g4090, e);
    EngineProfile off16 = e;
    off16.thr.f16_gemm_fp16_accumulate = false;
    const HardwareRates no16 = prepare_hardware(g4090, off16);
    const auto f16 = static_cast<std::size_t>(WeightClass::F16);
    CHECK(acc16.dev[1].matmul_flops_per_s[f16] ==
          doctest::Approx(g4090.gpus.at(0).flops("fp16_acc16") * e.thr.compute_efficiency[static_cast<int>(Dtype::F16)]));
    CHECK(no16.dev[1].matmul_flops_per_s[f16] ==
          doctest::Approx(g4090.gpus.at(0).flops("fp16") * e.thr.compute_efficiency[static_cast<int>(Dtype::F16)]));
    // a card without a separate FP16-accumulate figure (A100) keeps its fp16 peak
    CHECK(prepare_hardware(a100, e).dev[1].matmul_flops_per_s[f16] == doctest::Approx(prepare_hardware(a100, off16).dev[1].matmul_flops_per_s[f16]));
  }
  // vendor_compute_efficiency replaces the engine's efficiencies for that vendor's GPUs only
  const EngineProfile vk = resolve_engine("llama.cpp-vulkan");
  REQUIRE(vk.thr.vendor_compute_efficiency.count("intel") == 1);
  const HardwareRates intel = prepare_hardware(resolve_hardware("arc-b580"), vk);
  const HardwareRates amd = prepare_hardware(resolve_hardware("ryzen-ai-max-395"), vk);
  const Device b580 = resolve_hardware("arc-b580").gpus.at(0);
  CHECK(intel.dev[1].vector_flops_per_s ==
        doctest::Approx(b580.flops("fp32") * vk.thr.vendor_compute_efficiency.at("intel")[0]));
  CHECK(amd.dev[1].vector_flops_per_s == doctest::Approx(resolve_hardware("ryzen-ai-max-395").host.flops("fp32") *
                                                         vk.thr.compute_efficiency[0]));
  json j = read_json_file(std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/engines/llama.cpp-vulkan.json");
  j["throughput"]["vendor_compute_efficiency"]["intel"]["fp99"] = 0.5;
  CHECK_THROWS_WITH_AS(parse_engine(j, "x.json"), doctest::Contains("fp99"), InputError);
}

TEST_CASE("a unified host chip driving a discrete GPU is a host + GPU system, not a unified one") {
  const System s = resolve_hardware("cal-pi500plus-arc-b580");
  CHECK(s.host.is_unified());
  CHECK_FALSE(s.unified());
  CHECK(s.gpu_memory_bytes() == doctest::Approx(s.gpus.at(0).memory_bytes));
  // the logits cross the PCIe 3.0 x1 link every token
  const Estimate e = run("llama-3.2-3b", "q4_k_m", "cal-pi500plus-arc-b580", "llama.cpp-vulkan");
  CHECK(row(e.decode, Op::Sampling).link_s > 0);
  CHECK(resolve_hardware("m4-max").unified());
}

TEST_CASE("tensor parallel 2 halves the weight bytes per GPU and adds all-reduce time") {
  RunPlacement one, two;
  two.tp = 2;
  const Estimate a = run("gemma4-31b", "bf16", "cal-2x-rtx4090", "vllm", one);
  const Estimate b = run("gemma4-31b", "bf16", "cal-2x-rtx4090", "vllm", two);
  for (Op op : {Op::AttnQ, Op::FfnUp, Op::FfnDown, Op::OutputHead})
    CHECK(row(b.decode, op).cost.weight_bytes == doctest::Approx(row(a.decode, op).cost.weight_bytes / 2));
  CHECK(row(a.decode, Op::AllReduce).time_s == 0);
  CHECK(row(b.decode, Op::AllReduce).time_s > 0);
  CHECK(row(b.decode, Op::AllReduce).link_bytes > 0);
  CHECK(b.tpot_s < a.tpot_s);  // two GPUs read their halves at the same time
  CHECK_THROWS_AS(run("gemma4-31b", "bf16", "rtx-4090", "vllm", two), InputError);
}

TEST_CASE("batching: aggregate decode rises with B, per-sequence decode falls") {
  double prev_agg = 0, prev_seq = 1e300;
  for (int B : {1, 4, 16, 64}) {
    Workload wl;
    wl.batch = B;
    const Estimate e = run("gemma4-e4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda", {}, wl);
    CHECK(e.decode_tok_per_s_aggregate > prev_agg);
    CHECK(e.decode_tok_per_s <= prev_seq);
    prev_agg = e.decode_tok_per_s_aggregate;
    prev_seq = e.decode_tok_per_s;
  }
}

TEST_CASE("decode slows with depth on global layers and MoE decode reads only routed experts") {
  Workload shallow, deep;
  deep.depth_tokens = 100000;
  const Estimate a = run("gemma4-26b-a4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda", {}, shallow);
  const Estimate b = run("gemma4-26b-a4b", "q4_k_m", "rtx-4090", "llama.cpp-cuda", {}, deep);
  CHECK(b.tpot_s > a.tpot_s);
  CHECK(a.expert_distinct_decode == doctest::Approx(8));
  const ModelOps mo = prepare_ops(find_model("gemma4-26b-a4b"), find_recipe("q4_k_m"));
  double all_experts = 0;
  for (int il = 0; il < mo.L; ++il) all_experts += mo.layer(il).expert_bytes;
  CHECK(row(a.decode, Op::MoeExperts).cost.weight_bytes == doctest::Approx(all_experts * 8 / 128).epsilon(1e-9));
}

TEST_CASE("unified memory: no PCIe copies between the CPU and GPU parts") {
  RunPlacement pl;
  pl.gpu_layers = 10;
  const Estimate e = run("gemma4-e4b", "q4_k_m", "m4-max", "llama.cpp-metal", pl);
  CHECK(e.prefill.link_s == 0);
  CHECK(row(e.prefill, Op::FfnUp).link_bytes == 0);
}

TEST_CASE("engine profiles load, carry sources, and bad ones are rejected") {
  for (const auto& id : engine_ids()) {
    CAPTURE(id);
    const EngineProfile e = resolve_engine(id);
    CHECK(e.id == id);
    CHECK(e.sources.is_object());
    CHECK(e.thr.bandwidth_efficiency > 0);
  }
  CHECK(engine_ids().size() >= 10);
  CHECK(default_engine_id("metal") == "llama.cpp-metal");
  CHECK_THROWS_AS(resolve_engine("no-such-engine"), InputError);
  json j = read_json_file(std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/engines/vllm.json");
  j["throughput"]["bandwidth_efficiency"] = 2.5;
  CHECK_THROWS_WITH_AS(parse_engine(j, "x.json"), doctest::Contains("/throughput/bandwidth_efficiency"), InputError);
  j["throughput"]["bandwidth_efficiency"] = 0.7;
  j["swa_cache"] = "sometimes";
  CHECK_THROWS_AS(parse_engine(j, "x.json"), InputError);
}

namespace {

// A CPU of the given bandwidth, fp32 peak and cores (a device file's figures).
System cpu_box(double bandwidth_bytes_per_s, double fp32_flops_per_s, int cores) {
  System s;
  s.id = s.name = "box";
  s.host.id = "box-cpu";
  s.host.kind = "cpu";
  s.host.backend = "cpu";
  s.host.vendor = "amd";
  s.host.memory_bytes = s.host_memory_bytes = 64e9;
  s.host.memory_bandwidth_bytes_per_s = bandwidth_bytes_per_s;
  s.host.peak_flops_per_s["fp32"] = fp32_flops_per_s;
  s.host.peak_flops_per_s["int8"] = 4 * fp32_flops_per_s;
  s.host.cores = cores;
  return s;
}
json reference_engine_file() { return read_json_file(std::string(GEMMASIM_SOURCE_DIR) + "/hwdb/engines/reference.json"); }
json attn_rule(double efficiency, double call_s, double call_parallel_s) {
  json r = {{"efficiency", efficiency}, {"serial", false}};
  if (call_s >= 0) r["call_s"] = call_s, r["call_parallel_s"] = call_parallel_s;
  return r;
}

}  // namespace

TEST_CASE("CPU attention ops cost calls x call_s + FLOP / rate (one call per layer per sequence and step, per micro-batch in prefill)") {
  json j = reference_engine_file();
  json& c = j["throughput"]["cpu_ops"];
  // rate = 1e-3 x fp32 peak 1e13 = 1e10 FLOP/s; call 0.1 ms at one core, 0.3 ms at more.
  c["decode"]["attn_scores"] = attn_rule(1e-3, 1e-4, 3e-4);
  c["decode"]["attn_values"] = attn_rule(1e-3, 1e-4, 3e-4);
  c["decode"]["attn_softmax"] = attn_rule(1e-3, -1, 0);
  c["prefill"]["attn_scores"] = attn_rule(1e-3, 2e-4, 5e-4);
  const EngineProfile e = parse_engine(j, "t.json");
  const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q8_0"));
  const double L = mo.L;  // every layer calls attention (KV-shared ones read their source's cache)
  Workload wl;
  wl.prompt_tokens = 1100;  // 512 + 512 + 76: three micro-batches of the engine's 512
  wl.gen_tokens = 16;
  wl.depth_tokens = 4096;
  // Bandwidth 1e12 x 0.875: the KV bytes take < 1% of the FLOP time, so time = calls x call_s + FLOP / 1e10.
  const Estimate two = estimate(mo, prepare_hardware(cpu_box(1e12, 1e13, 2), e), {}, wl);
  const OpRow& sc = row(two.decode, Op::AttnScores);
  REQUIRE(sc.cost.flops > 0);
  CHECK(sc.memory_s < 0.01 * sc.compute_s);
  CHECK(sc.time_s == doctest::Approx(L * 3e-4 + sc.cost.flops / 1e10));
  CHECK(row(two.decode, Op::AttnValues).time_s == doctest::Approx(L * 3e-4 + row(two.decode, Op::AttnValues).cost.flops / 1e10));
  CHECK(row(two.decode, Op::AttnSoftmax).time_s == doctest::Approx(row(two.decode, Op::AttnSoftmax).cost.flops / 1e10));  // no call_s
  const OpRow& ps = row(two.prefill, Op::AttnScores);
  CHECK(ps.time_s == doctest::Approx(3 * L * 5e-4 + ps.cost.flops / 1e10));
  // One core: call_s.
  const Estimate one = estimate(mo, prepare_hardware(cpu_box(1e12, 1e13, 1), e), {}, wl);
  CHECK(row(one.decode, Op::AttnScores).time_s == doctest::Approx(L * 1e-4 + row(one.decode, Op::AttnScores).cost.flops / 1e10));
  CHECK(row(one.prefill, Op::AttnScores).time_s == doctest::Approx(3 * L * 2e-4 + row(one.prefill, Op::AttnScores).cost.flops / 1e10));
  // Two sequences per step: two calls per layer.
  Workload b2 = wl;
  b2.batch = 2;
  const Estimate bb = estimate(mo, prepare_hardware(cpu_box(1e12, 1e13, 2), e), {}, b2);
  CHECK(row(bb.decode, Op::AttnScores).time_s == doctest::Approx(2 * L * 3e-4 + row(bb.decode, Op::AttnScores).cost.flops / 1e10));
  // Without call_s the op is FLOP / rate, as before.
  c["decode"]["attn_scores"] = attn_rule(1e-3, -1, 0);
  const Estimate none = estimate(mo, prepare_hardware(cpu_box(1e12, 1e13, 2), parse_engine(j, "t.json")), {}, wl);
  CHECK(row(none.decode, Op::AttnScores).time_s == doctest::Approx(row(none.decode, Op::AttnScores).cost.flops / 1e10));
}

TEST_CASE("CPU matmul weight bytes stream at their format's bandwidth_efficiency_by_format, other bytes and other formats at bandwidth_efficiency") {
  json j = reference_engine_file();
  j["throughput"]["bandwidth_efficiency"] = 0.5;
  j["throughput"]["cpu_ops"]["bandwidth_efficiency_by_format"] = {{"q8_0", 1.0}, {"f16", 0.7}};
  j["throughput"]["cpu_ops"].erase("bandwidth_efficiency_by_format_parallel");  // the bundled file's (tested below)
  const EngineProfile e = parse_engine(j, "t.json");
  const System box = cpu_box(100e9, 1e15, 2);  // compute never binds: a mat-vec's time is its memory term + its call cost
  const double call = e.thr.cpu_kernel.matmul_call_parallel_s;
  {
    const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q8_0"));
    for (int il = 0; il < mo.L; ++il) REQUIRE(mo.layer(il).up.type == GgmlType::Q8_0);
    const Estimate est = estimate(mo, prepare_hardware(box, e), {}, {});
    const OpRow& up = row(est.decode, Op::FfnUp);
    const double w = up.cost.weight_bytes, other = up.cost.memory_bytes() - w;
    REQUIRE(w > 0);
    REQUIRE(other > 0);  // the activations
    CHECK(up.memory_s == doctest::Approx(w / (100e9 * 1.0) + other / (100e9 * 0.5)));
    CHECK(up.time_s == doctest::Approx(up.memory_s + mo.L * call));
    // KV bytes (attention) keep bandwidth_efficiency.
    const OpRow& sc = row(est.decode, Op::AttnScores);
    CHECK(sc.memory_s == doctest::Approx(sc.cost.memory_bytes() / (100e9 * 0.5)));
    // The same engine without the table: the weights at 0.5 too.
    json k = j;
    k["throughput"]["cpu_ops"].erase("bandwidth_efficiency_by_format");
    const Estimate plain = estimate(mo, prepare_hardware(box, parse_engine(k, "k.json")), {}, {});
    CHECK(row(plain.decode, Op::FfnUp).memory_s == doctest::Approx((w + other) / (100e9 * 0.5)));
    // A _parallel table replaces the 1-thread ratios on more than one core, and only there.
    json p = j;
    p["throughput"]["cpu_ops"]["bandwidth_efficiency_by_format_parallel"] = {{"q8_0", 0.8}};
    const EngineProfile ep = parse_engine(p, "p.json");
    CHECK(row(estimate(mo, prepare_hardware(box, ep), {}, {}).decode, Op::FfnUp).memory_s ==
          doctest::Approx(w / (100e9 * 0.8) + other / (100e9 * 0.5)));
    CHECK(row(estimate(mo, prepare_hardware(cpu_box(100e9, 1e15, 1), ep), {}, {}).decode, Op::FfnUp).memory_s ==
          doctest::Approx(w / (100e9 * 1.0) + other / (100e9 * 0.5)));
  }
  {
    // Q4_0 is not in the table: bandwidth_efficiency for its weights.
    const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q4_0"));
    REQUIRE(mo.layer(0).up.type == GgmlType::Q4_0);
    const Estimate est = estimate(mo, prepare_hardware(box, e), {}, {});
    const OpRow& up = row(est.decode, Op::FfnUp);
    CHECK(up.memory_s == doctest::Approx(up.cost.memory_bytes() / (100e9 * 0.5)));
  }
  // A GPU engine's host work is not affected by the reference engine's table (it has none).
  const Estimate g = run("gemma4-e4b", "q8_0", "rtx-4090", "llama.cpp-cuda");
  CHECK(g.decode_tok_per_s > 0);
}

TEST_CASE("engine files: bad attention call costs and per-format bandwidth ratios are input errors") {
  auto bad = [](auto&& edit, const char* what) {
    json j = reference_engine_file();
    edit(j["throughput"]["cpu_ops"]);
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(parse_engine(j, "x.json"), doctest::Contains(what), InputError);
  };
  bad([](json& c) { c["decode"]["attn_scores"]["call_s"] = -1e-6; }, "call_s");
  bad([](json& c) { c["decode"]["attn_scores"]["call_s"] = "fast"; }, "call_s");
  bad([](json& c) { c["decode"]["attn_values"]["call_parallel_s"] = 5.0; }, "call_parallel_s");
  bad([](json& c) { c["decode"]["norms"]["call_s"] = 1e-6; }, "attention ops only");
  bad([](json& c) { c["bandwidth_efficiency_by_format"] = 0.9; }, "weight format");
  bad([](json& c) { c["bandwidth_efficiency_by_format"] = {{"q8_0", 2.5}}; }, "bandwidth_efficiency_by_format");
  bad([](json& c) { c["bandwidth_efficiency_by_format"] = {{"q8_0", 0.0}}; }, "bandwidth_efficiency_by_format");
  bad([](json& c) { c["bandwidth_efficiency_by_format"] = {{"q9_9", 1.0}}; }, "unknown weight format 'q9_9'");
  bad([](json& c) { c["bandwidth_efficiency_by_format_parallel"] = {{"q8_0", 2.5}}; }, "bandwidth_efficiency_by_format_parallel");
  // Accepted: both keys in range, call_parallel_s defaulting to call_s.
  json ok = reference_engine_file();
  ok["throughput"]["cpu_ops"]["decode"]["attn_scores"]["call_s"] = 2e-6;
  ok["throughput"]["cpu_ops"]["decode"]["attn_scores"].erase("call_parallel_s");  // whatever the bundled probe wrote
  ok["throughput"]["cpu_ops"]["bandwidth_efficiency_by_format"] = {{"q6_k", 1.02}};
  const EngineProfile p = parse_engine(ok, "ok.json");
  for (const auto& r : p.thr.cpu_kernel.cpu_ops)
    if (r.op == "attn_scores" && r.phase == "decode") CHECK(r.call_parallel_s == doctest::Approx(2e-6));
  REQUIRE(p.thr.cpu_kernel.bandwidth_efficiency_by_format.size() == 1);
  CHECK(p.thr.cpu_kernel.bandwidth_efficiency_by_format[0].second == doctest::Approx(1.02));
  // On the command line: one line on stderr, exit 2.
  namespace fs = std::filesystem;
  const fs::path f = fs::temp_directory_path() / ("gemmasim_bad_engine_" + std::to_string(::getpid()) + ".json");
  json j = reference_engine_file();
  j["throughput"]["cpu_ops"]["bandwidth_efficiency_by_format"] = {{"q8_0", -1}};
  std::ofstream(f) << j.dump();
  const CliResult r = run_cli("estimate --model gemma4-e2b --quant q8_0 --hw epyc-9654 --engine " + f.string());
  CHECK(r.code == 2);
  CHECK(r.err_lines() == 1);
  CHECK(r.err.find("bandwidth_efficiency_by_format") != std::string::npos);
  fs::remove(f);
}

namespace {

Estimate run_engine(const std::string& model, const std::string& quant, const std::string& hw, const EngineProfile& e,
                    Workload wl = {}) {
  return estimate(prepare_ops(find_model(model), find_recipe(quant)), prepare_hardware(resolve_hardware(hw), e), {}, wl);
}

}  // namespace

TEST_CASE("flash attention's F16 copy of a quantized cache: its bytes, and only where the vector kernel cannot run") {
  // Gemma 4 E4B on an RTX 4070 with a q8_0 cache, decode at depth D: the 7 global layers (head
  // dim 512 > 256) convert their whole K and V views each step; the sliding layers (head dim 256)
  // read q8_0 in place.
  EngineProfile on = resolve_engine("llama.cpp-cuda");
  REQUIRE(on.thr.flash_attn_quantized_kv_to_f16);
  EngineProfile off = on;
  off.thr.flash_attn_quantized_kv_to_f16 = false;
  Workload wl;
  wl.prompt_tokens = 0;
  wl.gen_tokens = 1;
  wl.depth_tokens = 65536;
  wl.decode_after_prompt = false;
  wl.kv_bytes_per_element = 34.0 / 32;
  wl.kv_block_quantized = true;
  const Estimate a = run_engine("gemma4-e4b", "q8_0", "rtx-4070", on, wl);
  const Estimate b = run_engine("gemma4-e4b", "q8_0", "rtx-4070", off, wl);
  // hand count: 7 global layers x (K + V) x 2 KV heads x 512 dims x 65536 positions
  const double elems = 7.0 * 2 * 2 * 512 * 65536;
  const double bw = resolve_hardware("rtx-4070").gpus[0].memory_bandwidth_bytes_per_s * on.thr.bandwidth_efficiency;
  // the conversion reads q8_0 (already counted) and writes F16; the kernel reads F16 instead of q8_0
  CHECK(a.tpot_s - b.tpot_s == doctest::Approx(elems * (2 + 2) / bw).epsilon(0.01).scale(0));
  // an F16 cache has nothing to convert
  wl.kv_bytes_per_element = 2;
  wl.kv_block_quantized = false;
  CHECK(run_engine("gemma4-e4b", "q8_0", "rtx-4070", on, wl).tpot_s ==
        doctest::Approx(run_engine("gemma4-e4b", "q8_0", "rtx-4070", off, wl).tpot_s).scale(0));
  // a model whose every head dim fits the vector kernel converts nothing in decode
  wl.kv_bytes_per_element = 34.0 / 32;
  wl.kv_block_quantized = true;
  CHECK(run_engine("llama-3.1-8b", "q8_0", "rtx-4070", on, wl).tpot_s ==
        doctest::Approx(run_engine("llama-3.1-8b", "q8_0", "rtx-4070", off, wl).tpot_s).scale(0));
  // ... but its prefill (512 tokens a call: tile / MMA kernels) does
  wl.prompt_tokens = 512;
  CHECK(run_engine("llama-3.1-8b", "q8_0", "rtx-4070", on, wl).ttft_s >
        run_engine("llama-3.1-8b", "q8_0", "rtx-4070", off, wl).ttft_s * 1.01);
}

TEST_CASE("MoE layers add their launch cost; GPUs without CUDA graphs pay the no-graph factor") {
  EngineProfile e = resolve_engine("llama.cpp-cuda");
  EngineProfile z = e;
  z.thr.moe_layer_overhead_s = 0;
  REQUIRE(e.thr.moe_layer_overhead_s > 0);
  Workload wl;
  wl.prompt_tokens = 0;
  // Gemma 4 26B A4B: 30 layers, all MoE; the RTX 3090 (Ampere) replays CUDA graphs
  const double d_ampere = run_engine("gemma4-26b-a4b", "q4_0", "rtx-3090", e, wl).tpot_s -
                          run_engine("gemma4-26b-a4b", "q4_0", "rtx-3090", z, wl).tpot_s;
  CHECK(d_ampere == doctest::Approx(30 * e.thr.moe_layer_overhead_s).epsilon(1e-6).scale(0));
  // a dense model pays none of it
  CHECK(run_engine("gemma4-31b", "q4_0", "rtx-3090", e, wl).tpot_s ==
        doctest::Approx(run_engine("gemma4-31b", "q4_0", "rtx-3090", z, wl).tpot_s).scale(0));
  // Pascal is not in graph_archs: every per-layer cost x no_graph_overhead_factor
  REQUIRE(e.thr.no_graph_overhead_factor > 1);
  const double d_pascal = run_engine("gemma4-26b-a4b", "q4_0", "gtx-1070", e, wl).tpot_s -
                          run_engine("gemma4-26b-a4b", "q4_0", "gtx-1070", z, wl).tpot_s;
  CHECK(d_pascal == doctest::Approx(30 * e.thr.moe_layer_overhead_s * e.thr.no_graph_overhead_factor).epsilon(1e-6).scale(0));
  EngineProfile g = z;
  g.thr.graph_archs.clear();  // no distinction: Pascal pays the plain per-layer cost
  const double dense_pascal = run_engine("gemma4-31b", "q4_0", "gtx-1070", z, wl).tpot_s -
                              run_engine("gemma4-31b", "q4_0", "gtx-1070", g, wl).tpot_s;
  CHECK(dense_pascal == doctest::Approx(60 * e.thr.per_layer_overhead_s * (e.thr.no_graph_overhead_factor - 1)).epsilon(1e-6).scale(0));
}

TEST_CASE("decode without logits (a prompt at micro-batch 1) drops the output head and sampling") {
  Workload wl;
  wl.prompt_tokens = 0;
  const Estimate with = run("gemma4-26b-a4b", "q4_0", "rtx-3090", "llama.cpp-cuda", {}, wl);
  wl.decode_logits = false;
  const Estimate without = run("gemma4-26b-a4b", "q4_0", "rtx-3090", "llama.cpp-cuda", {}, wl);
  CHECK(row(without.decode, Op::OutputHead).time_s == 0);
  CHECK(row(without.decode, Op::Sampling).time_s == 0);
  CHECK(with.tpot_s - without.tpot_s ==
        doctest::Approx(row(with.decode, Op::OutputHead).time_s + row(with.decode, Op::Sampling).time_s +
                        row(with.decode, Op::Softcap).time_s +
                        // the final norm runs on the tokens that have logits
                        row(with.decode, Op::Norms).time_s - row(without.decode, Op::Norms).time_s).epsilon(1e-6).scale(0));
  CHECK(row(with.decode, Op::Norms).time_s > row(without.decode, Op::Norms).time_s);
}

TEST_CASE("decode averages over the growing cache: llama-bench depth vs after the prompt") {
  Workload wl;
  wl.prompt_tokens = 4096;
  wl.gen_tokens = 1;
  wl.depth_tokens = 0;
  wl.decode_after_prompt = false;  // llama-bench: tg at depth 0
  const Estimate at0 = run("gemma4-31b", "q4_0", "rtx-4090", "llama.cpp-cuda", {}, wl);
  wl.decode_after_prompt = true;
  const Estimate after = run("gemma4-31b", "q4_0", "rtx-4090", "llama.cpp-cuda", {}, wl);
  CHECK(after.tpot_s > at0.tpot_s);
  // G tokens from depth D read the cache at D + (G-1)/2 on average: the same as 1 token there
  Workload g;
  g.prompt_tokens = 0;
  g.depth_tokens = 1000;
  g.gen_tokens = 2001;
  g.decode_after_prompt = false;
  Workload one = g;
  one.depth_tokens = 2000;
  one.gen_tokens = 1;
  CHECK(run("gemma4-31b", "q4_0", "rtx-4090", "llama.cpp-cuda", {}, g).tpot_s ==
        doctest::Approx(run("gemma4-31b", "q4_0", "rtx-4090", "llama.cpp-cuda", {}, one).tpot_s).scale(0));
}

TEST_CASE("ollama runs on the llama.cpp profile of the device's backend") {
  const EngineProfile o = resolve_engine("ollama");
  CHECK(o.throughput_from == "llama.cpp");
  const EngineProfile cuda = resolve_engine_for("ollama", resolve_hardware("gtx-1070"));
  CHECK(cuda.backend == "cuda");
  CHECK(cuda.thr.bandwidth_efficiency == resolve_engine("llama.cpp-cuda").thr.bandwidth_efficiency);
  CHECK(cuda.thr.moe_layer_overhead_s == resolve_engine("llama.cpp-cuda").thr.moe_layer_overhead_s);
  const EngineProfile pi = resolve_engine_for("ollama", resolve_hardware("rpi5-8gb"));
  CHECK(pi.backend == "cpu");
  CHECK(pi.thr.compute_efficiency[static_cast<int>(Dtype::I8)] ==
        resolve_engine("llama.cpp-cpu").thr.compute_efficiency[static_cast<int>(Dtype::I8)]);
  const EngineProfile mac = resolve_engine_for("ollama", resolve_hardware("m4-pro"));
  CHECK(mac.thr.dequant_flops_per_weight == resolve_engine("llama.cpp-metal").thr.dequant_flops_per_weight);
  // a profile without throughput_from is itself on any backend
  CHECK(resolve_engine_for("vllm", resolve_hardware("rtx-3090")).thr.bandwidth_efficiency ==
        resolve_engine("vllm").thr.bandwidth_efficiency);
}

TEST_CASE("an attention backend's head-dim limit: a model beyond it runs all its attention on the fallback") {
  const EngineProfile v = resolve_engine("vllm");
  REQUIRE(v.thr.attention_max_head_dim == 256);
  EngineProfile nolimit = v;
  nolimit.thr.attention_max_head_dim = 0;
  Workload wl;
  wl.prompt_tokens = 8192;
  const Estimate a = run_engine("gemma4-e4b", "bf16", "h100-sxm", v, wl);
  const Estimate b = run_engine("gemma4-e4b", "bf16", "h100-sxm", nolimit, wl);
  CHECK(row(a.prefill, Op::AttnScores).compute_s / row(b.prefill, Op::AttnScores).compute_s ==
        doctest::Approx(v.thr.attention_compute_efficiency / v.thr.attention_fallback_efficiency).scale(0));
  // head dim 128: FlashAttention runs it
  CHECK(run_engine("llama-3.1-8b", "bf16", "h100-sxm", v, wl).ttft_s ==
        doctest::Approx(run_engine("llama-3.1-8b", "bf16", "h100-sxm", nolimit, wl).ttft_s).scale(0));
}
