// What an engine and a machine can really do: the memory the OS keeps (hwdb/reserve.json,
// phone app limits, --reserve), vLLM's tensor-parallel split, engine/format/device rules, and
// the advisor's depth and ranking rules.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "advise.h"
#include "engine_check.h"
#include "memory_fit.h"
#include "roofline.h"

using namespace gs;

namespace {


std::string data(const std::string& f) { return std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/limits/" + f; }

const DeviceMemory& role(const FitResult& r, const std::string& name) {
  for (const auto& d : r.devices)
    if (d.role == name) return d;
  FAIL("no device " << name);
  return r.devices.front();
}

std::string cannot(const std::string& engine, const std::string& hw, const std::string& quant, const std::string& kv = "f16",
                   int tp = 1, Placement pl = {}) {
  const System s = resolve_hardware(hw);
  const EngineProfile e = resolve_engine_for(engine, s);
  RunRequest r;
  r.engine = &e;
  r.hw = &s;
  r.quant = &find_recipe(quant);
  r.kv_type = kv;
  r.tp = tp;
  r.placement = pl;
  r.n_layer = 60;
  return engine_cannot_run(r);
}

}  // namespace

TEST_CASE("a desktop keeps 3 GiB of RAM and 0.5 GiB of the display GPU; capacities are what is left") {
  const System s = resolve_hardware("rtx-4090");  // a bare GPU: a desktop with 32 GiB
  CHECK(s.form_factor == "desktop");
  CHECK(s.host_reserve_bytes == 3 * kGiB);
  CHECK(s.display_reserve_bytes == 0.5 * kGiB);
  const ModelSpec m = find_model("gemma4-e4b");
  const FitResult r = fit(m, s, find_recipe("q4_k_m"), load_memory_rules("llama.cpp-cuda"), FitOptions{});
  CHECK(role(r, "gpu0").capacity_bytes == 23.5 * kGiB);
  CHECK(role(r, "gpu0").reserve_bytes == 0.5 * kGiB);
  CHECK(role(r, "host").capacity_bytes == 29 * kGiB);
  CHECK(r.reserve_bytes == 3.5 * kGiB);
  // A datacenter GPU is headless in a server: 2 GiB of host memory, nothing on the GPU.
  const System a = resolve_hardware("a100-80gb");
  CHECK(a.form_factor == "server");
  CHECK(a.host_reserve_bytes == 2 * kGiB);
  CHECK(a.display_reserve_bytes == 0);
}

TEST_CASE("a 16 GB PC does not run the 26B once the OS keeps its share; --reserve 0 says it would") {
  System pc = resolve_hardware("kind=cpu,mem=16GiB,bw=51.2GB/s,fp32=1TFLOPS");
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const QuantRecipe& q = find_recipe("q4_k_s");
  const MemoryRules rules = load_memory_rules("llama.cpp-cpu");
  FitOptions o;
  o.context_tokens = 4096;
  const FitResult r = fit(m, pc, q, rules, o);
  CHECK(role(r, "host").capacity_bytes == 13 * kGiB);
  CHECK(r.total_bytes > 13 * kGiB);
  CHECK(r.total_bytes < 16 * kGiB);
  CHECK_FALSE(r.fits);
  set_host_reserve(pc, 0, "--reserve 0");
  CHECK(fit(m, pc, q, rules, o).fits);
  CHECK_THROWS_AS(set_host_reserve(pc, 16 * kGiB, "--reserve 16GiB"), InputError);
  CHECK_THROWS_AS(set_host_reserve(pc, -1, "--reserve -1"), InputError);
}

TEST_CASE("a Pi 5 8 GB keeps 0.5 GiB for its OS: E4B at 128K no longer fits") {
  const System pi = resolve_hardware("rpi5-8gb");
  CHECK(pi.form_factor == "board");
  const FitResult r = fit(find_model("gemma4-e4b"), pi, find_recipe("q4_k_m"), load_memory_rules("llama.cpp-cpu"),
                          FitOptions{131072});
  CHECK(role(r, "host").capacity_bytes == 7.5 * kGiB);
  CHECK(r.total_bytes > 7.5 * kGiB);
  CHECK_FALSE(r.fits);
}

TEST_CASE("a phone's capacity is the app memory limit, not its RAM") {
  const System p = resolve_hardware(data("phone.json"));
  CHECK(p.form_factor == "phone");
  CHECK(p.host_reserve_bytes == 2 * kGiB);  // 8 GiB - the 6 GiB an app may use
  const FitResult r = fit(find_model("gemma4-e2b"), p, find_recipe("q4_0"), load_memory_rules("llama.cpp-cpu"), FitOptions{4096});
  CHECK(role(r, "host").capacity_bytes == 6 * kGiB);
  CHECK_THROWS_AS(resolve_hardware(data("phone-no-limit.json")), InputError);
}

TEST_CASE("a Mac's GPU gets the smaller of its wired share and what the OS leaves") {
  const System mac = resolve_hardware("m4");  // 16 GiB, GPU may wire 2/3
  const FitResult r = fit(find_model("gemma4-e4b"), mac, find_recipe("q4_k_m"), load_memory_rules("llama.cpp-metal"), FitOptions{});
  const double expect = std::min(mac.host_memory_bytes * mac.host.gpu_memory_fraction, mac.host_memory_bytes - 3 * kGiB);
  CHECK(role(r, "gpu0").capacity_bytes == doctest::Approx(expect));
}

TEST_CASE("systems name GPUs by id and mix them; a system states its own reserve") {
  const System s = resolve_hardware(data("mixed-gpus.json"));
  REQUIRE(s.gpus.size() == 2);
  CHECK(s.gpus[0].id == "rtx-4090");
  CHECK(s.gpus[1].id == "rtx-3060-12gb");
  CHECK(s.host_reserve_bytes == 1 * kGiB);
  CHECK(s.display_reserve_bytes == 0);
  // llama.cpp's default split is by memory: the 24 GiB card holds 2/3 of the layers
  FitOptions o;
  const FitResult r = fit(find_model("gemma4-31b"), s, find_recipe("q4_k_m"), load_memory_rules("llama.cpp-cuda"), o);
  CHECK(role(r, "gpu0").layers == 40);
  CHECK(role(r, "gpu1").layers == 20);
}

TEST_CASE("vLLM --tp 2 splits weights and KV heads per GPU; the per-GPU bytes add up") {
  const System s = resolve_hardware("cal-2x-rtx4090");
  const ModelSpec m = find_model("gemma4-31b");
  const QuantRecipe& q = find_recipe("fp8");
  const MemoryRules rules = load_memory_rules("vllm");
  FitOptions o;
  o.context_tokens = 65536;
  o.tp = 2;
  const FitResult r = fit(m, s, q, rules, o);
  const DeviceMemory& g0 = role(r, "gpu0");
  const DeviceMemory& g1 = role(r, "gpu1");
  CHECK(g0.weights_bytes == doctest::Approx(g1.weights_bytes));
  CHECK(g0.kv_cache_bytes == doctest::Approx(g1.kv_cache_bytes));
  CHECK(g0.layers == m.n_layer);
  double kv_all = 0;
  for (double b : r.kv_layer_bytes) kv_all += b;
  // every layer of the 31B has at least 2 KV heads: each GPU holds exactly half of the cache
  CHECK(g0.kv_cache_bytes + g1.kv_cache_bytes == doctest::Approx(kv_all));
  // weights: half each, but the final norm is on both
  const WeightBytes w = weight_bytes(m, q);
  CHECK(g0.weights_bytes + g1.weights_bytes == doctest::Approx(w.total_bytes).epsilon(1e-4));
  CHECK(role(r, "host").weights_bytes == 0);
  CHECK(g0.total_bytes + g1.total_bytes + role(r, "host").total_bytes == doctest::Approx(r.total_bytes));
  CHECK(r.fits);
  // without --tp vLLM uses one GPU, and 31B FP8 does not fit on one 4090
  o.tp = 1;
  const FitResult one = fit(m, s, q, rules, o);
  CHECK(one.devices.size() == 2);  // gpu0 + host
  CHECK_FALSE(one.fits);
}

TEST_CASE("31B BF16 on 2x RTX 4090 is refused with its 61.4 GB of weights") {
  const System s = resolve_hardware("cal-2x-rtx4090");
  FitOptions o;
  o.context_tokens = 8192;
  o.tp = 2;
  const FitResult r = fit(find_model("gemma4-31b"), s, find_recipe("bf16"), load_memory_rules("vllm"), o);
  CHECK_FALSE(r.fits);
  const std::string why = why_not_fits(r);
  CHECK(why.find("61.4 GB") != std::string::npos);
  CHECK(why.find("of weights") != std::string::npos);
}

TEST_CASE("engines refuse what they cannot run, with the reason") {
  CHECK(cannot("llama.cpp-cuda", "rtx-4090", "q4_k_m").empty());
  CHECK(cannot("vllm", "rtx-4090", "fp8").empty());
  CHECK(cannot("vllm", "gtx-1650", "f16").empty());  // Turing runs FP16
  CHECK(cannot("transformers", "rtx-4090", "bnb-nf4").empty());
  CHECK(cannot("vllm", "cal-2x-rtx4090", "fp8", "f16", 2).empty());
  // formats
  CHECK(cannot("vllm", "rtx-4090", "q4_k_m").find("GGUF") != std::string::npos);
  CHECK(cannot("tensorrt-llm", "rtx-4090", "q4_k_m").find("GGUF") != std::string::npos);
  CHECK(cannot("llama.cpp-cuda", "rtx-4090", "fp8").find("Hugging Face") != std::string::npos);
  CHECK(cannot("vllm", "rtx-4090", "bnb-nf4").find("bitsandbytes") != std::string::npos);
  // devices and data types
  CHECK(cannot("vllm", "gtx-1650", "bf16").find("bf16") != std::string::npos);
  CHECK(cannot("vllm", "gtx-1070", "fp8").find("pascal") != std::string::npos);
  CHECK(cannot("tensorrt-llm", "rtx-2080", "f16").find("turing") != std::string::npos);
  CHECK(cannot("vllm", "m4-max", "bf16").find("cuda") != std::string::npos);
  CHECK(cannot("vllm", "rpi5-8gb", "bf16").find("no GPU") != std::string::npos);
  // KV types
  CHECK(cannot("vllm", "rtx-4090", "fp8", "q4_0").find("q4_0 KV") != std::string::npos);
  // placement and parallelism
  Placement ngl;
  ngl.gpu_layers = 30;
  CHECK(cannot("vllm", "rtx-4090", "fp8", "f16", 1, ngl).find("every layer on the GPUs") != std::string::npos);
  CHECK(cannot("llama.cpp-cuda", "rtx-4090", "q4_k_m", "f16", 1, ngl).empty());
  CHECK(cannot("llama.cpp-cuda", "cal-2x-rtx4090", "q4_k_m", "f16", 2).find("by layers") != std::string::npos);
  CHECK(cannot("vllm", "rtx-4090", "fp8", "f16", 2).find("1 GPU") != std::string::npos);
  CHECK_THROWS_AS(check_engine_can_run([] {
                    static const System s = resolve_hardware("rtx-4090");
                    static const EngineProfile e = resolve_engine_for("vllm", s);
                    RunRequest r;
                    r.engine = &e;
                    r.hw = &s;
                    r.quant = &find_recipe("q4_k_m");
                    r.n_layer = 60;
                    return r;
                  }()),
                  InputError);
}

TEST_CASE("bitsandbytes NF4 and INT8: 4.5 and 8 bits per weight, named as transformers names them") {
  CHECK(find_recipe("load_in_4bit").id == "bnb-nf4");
  CHECK(find_recipe("load_in_8bit").id == "bnb-int8");
  CHECK(type_info(GgmlType::NF4_BNB).bits_per_weight() == 4.5);  // 64 x 4 bits + one f32 absmax
  CHECK(type_info(GgmlType::INT8_BNB).bits_per_weight() == 8.0);
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const WeightBytes nf4 = weight_bytes(m, find_recipe("bnb-nf4"));
  const WeightBytes bf16 = weight_bytes(m, find_recipe("bf16"));
  // the experts are Linear layers: 4.5 / 16 of their BF16 bytes
  CHECK(nf4.experts_bytes == doctest::Approx(bf16.experts_bytes * 4.5 / 16).epsilon(1e-3));
}

TEST_CASE("--rank: quality, speed, or quality + 2 points per doubling of speed") {
  Candidate a, b;
  a.quality = 60, a.decode_tok_per_s = 20, a.system_id = "a";
  b.quality = 58.5, b.decode_tok_per_s = 45, b.system_id = "b";
  CHECK(ranks_before(a, b, "quality"));
  CHECK(ranks_before(b, a, "speed"));
  // balanced: 60 + 2 log2(20) = 68.64 against 58.5 + 2 log2(45) = 69.48
  CHECK(ranks_before(b, a, "balanced"));
  b.decode_tok_per_s = 30;  // 58.5 + 2 log2(30) = 68.31
  CHECK(ranks_before(a, b, "balanced"));
}

TEST_CASE("the advisor takes decode speed at the use case's depth, not at the start of the context") {
  AdviseInput in;
  in.systems.push_back(resolve_hardware("rtx-4090"));
  in.models.push_back(find_model("gemma4-e4b"));
  in.quants.push_back(find_recipe("q4_k_m"));
  in.penalties = quality_penalties();
  in.book = use_case_book();
  const std::string id = default_engine(in.systems[0], in.quants[0]);
  in.engines.emplace(id, resolve_engine(id));
  in.rules.emplace(id, load_memory_rules(id));
  in.req.context_tokens = 131072;
  in.req.prompt_tokens = 32768;
  in.req.gen_tokens = 512;
  const Candidate deep = evaluate(in.systems[0], in.models[0], in.quants[0], in);
  CHECK(deep.decode_mean_depth_tokens == 131072 - 256);
  // the same estimate by hand: the reply's tokens decoded after the prompt, at depth ctx - P - G
  const EngineProfile e = engine_on_backend(in.engines.at(id), in.systems[0].backend());
  Workload wl;
  wl.prompt_tokens = 32768;
  wl.gen_tokens = 512;
  wl.depth_tokens = 131072 - 32768 - 512;
  const Estimate est = estimate(prepare_ops(in.models[0], in.quants[0]), prepare_hardware(in.systems[0], e), RunPlacement{}, wl);
  CHECK(deep.decode_tok_per_s == doctest::Approx(est.decode_tok_per_s));
  in.req.context_tokens = 8192;
  in.req.prompt_tokens = 512;
  const Candidate shallow = evaluate(in.systems[0], in.models[0], in.quants[0], in);
  CHECK(shallow.decode_tok_per_s > deep.decode_tok_per_s);
}

TEST_CASE("a Pi 4 and a Pi 5 differ by their cores' features: no dot product on the Cortex-A72") {
  const Device pi4 = resolve_hardware("rpi4-8gb").host;
  const Device pi5 = resolve_hardware("rpi5-8gb").host;
  // Cortex-A72 (Armv8.0): int8 at the fp32 rate, fp16 falls back to fp32
  CHECK(pi4.flops("int8") == pi4.flops("fp32"));
  CHECK(pi4.flops("fp16") == pi4.flops("fp32"));
  // Cortex-A76 (Armv8.2 + dot product): 4 int8 OP per fp32 FLOP
  CHECK(pi5.flops("int8") == doctest::Approx(4 * pi5.flops("fp32")));
  CHECK(pi5.flops("fp16") == doctest::Approx(2 * pi5.flops("fp32")));
  // the same Q4_0 prefill is compute-bound on both, so the Pi 5 is faster by more than its clock
  const EngineProfile e = resolve_engine_for("llama.cpp-cpu", resolve_hardware("rpi4-8gb"));
  Workload wl;
  wl.prompt_tokens = 256;
  wl.gen_tokens = 16;
  const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q4_0"));
  const double p4 = estimate(mo, prepare_hardware(resolve_hardware("rpi4-8gb"), e), RunPlacement{}, wl).prefill_tok_per_s;
  const double p5 = estimate(mo, prepare_hardware(resolve_hardware("rpi5-8gb"), e), RunPlacement{}, wl).prefill_tok_per_s;
  CHECK(p5 / p4 > 2.4 / 1.8 * 1.5);
}

TEST_CASE("LiteRT-LM on an Android phone: the GPU back end runs on the GPU's peaks, litert-lm-cpu on the cores") {
  const System phone = resolve_hardware("galaxy-s24-ultra");
  REQUIRE(!phone.host.gpu_peak_flops_per_s.empty());
  const ModelOps mo = prepare_ops(find_model("gemma4-e2b"), find_recipe("q4_0"));
  Workload wl;
  wl.prompt_tokens = 512;
  const HardwareRates gpu = prepare_hardware(phone, resolve_engine_for("litert-lm", phone));
  const HardwareRates cpu = prepare_hardware(phone, resolve_engine_for("litert-lm-cpu", phone));
  REQUIRE(gpu.dev.size() == 2);
  REQUIRE(cpu.dev.size() == 1);
  const double ratio = phone.host.gpu_peak_flops_per_s.at("fp16") / phone.host.flops("fp16");
  // the engine computes quantized matmuls in fp16 on both: the GPU's rate over the CPU's is the peaks' ratio
  const auto f16 = static_cast<std::size_t>(WeightClass::F16);
  CHECK(gpu.dev[1].matmul_flops_per_s[f16] / cpu.dev[0].matmul_flops_per_s[f16] == doctest::Approx(ratio).epsilon(1e-9));
  CHECK(estimate(mo, gpu, RunPlacement{}, wl).prefill_tok_per_s > 3 * estimate(mo, cpu, RunPlacement{}, wl).prefill_tok_per_s);
}

TEST_CASE("a unified chip's CPU cores have their own table: stated fp32, int8 from their features") {
  // Jetson Orin Nano: the peak table is the GPU's; the six Cortex-A78AE cores state 163.2 GFLOPS fp32
  // and have the dot product (4 int8 OP per fp32 FLOP)
  const System j = resolve_hardware("jetson-orin-nano");
  REQUIRE(j.host.cpu_peak_flops_per_s.count("fp32"));
  const double fp32 = j.host.cpu_peak_flops_per_s.at("fp32");
  CHECK(j.host.cpu_peak_flops_per_s.at("int8") == doctest::Approx(4 * fp32));
  const EngineProfile e = resolve_engine_for("llama.cpp-cpu", j);
  const HardwareRates hw = prepare_hardware(j, e);
  const auto& t = e.thr;
  CHECK(hw.dev[0].vector_flops_per_s == doctest::Approx(fp32 * t.compute_efficiency[static_cast<int>(Dtype::F32)]));
  const double q = t.quantized_matmul_dtype == Dtype::I8 ? 4 * fp32 : fp32;
  CHECK(hw.dev[0].matmul_flops_per_s[static_cast<std::size_t>(WeightClass::Quant)] ==
        doctest::Approx(q * t.compute_efficiency[static_cast<int>(t.quantized_matmul_dtype)]));
}
