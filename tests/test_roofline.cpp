// sim/roofline: binding limits, splits and tensor parallelism behave as the physics says.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine.h"
#include "hardware.h"
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
