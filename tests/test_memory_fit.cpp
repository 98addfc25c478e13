// Memory model: KV cache by hand, splits, fit decisions, largest context.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "memory_fit.h"

using namespace gs;

// Rules of an ideal engine: sliding layers hold exactly W tokens, no padding.
static MemoryRules window_rules() {
  MemoryRules r = load_memory_rules("llama.cpp-cpu");
  r.swa_cache = "window";
  r.kv_pad_tokens = 1;
  return r;
}

static double kv_total(const ModelSpec& m, i64 ctx, const MemoryRules& r, const std::string& kv = "f16") {
  const KvType& t = find_kv_type(kv);
  double s = 0;
  for (int il = 0; il < m.n_layer; ++il) s += kv_bytes_per_cell(m, il, t, false) * kv_cells(m, il, ctx, 1, r);
  return s;
}

TEST_CASE("KV cache bytes match the hand computation of each variant") {
  // From the configs (../shared/gemma4-architecture.md, "KV cache per token"):
  // bytes/token of the global layers (all of them) and of the sliding layers, and W.
  struct Row { const char* id; double global_bpt, sliding_bpt; i64 w; };
  const Row rows[] = {
      {"gemma4-e2b", 3 * 2 * 1 * 512 * 2, 12 * 2 * 1 * 256 * 2, 512},       // 15 layers own a cache
      {"gemma4-e4b", 4 * 2 * 2 * 512 * 2, 20 * 2 * 2 * 256 * 2, 512},       // 24 layers own a cache
      {"gemma4-26b-a4b", 5 * 2 * 2 * 512 * 2, 25 * 2 * 8 * 256 * 2, 1024},  // K=V layers still store K and V
      {"gemma4-31b", 10 * 2 * 4 * 512 * 2, 50 * 2 * 16 * 256 * 2, 1024},
  };
  const MemoryRules r = window_rules();
  for (const auto& row : rows) {
    CAPTURE(row.id);
    const ModelSpec m = find_model(row.id);
    for (i64 ctx : {8192LL, 131072LL, 262144LL}) {
      CAPTURE(ctx);
      if (ctx > m.n_ctx_max) continue;
      const double expected = row.global_bpt * ctx + row.sliding_bpt * std::min(ctx, row.w);
      CHECK(kv_total(m, ctx, r) == expected);
    }
  }
  // Spot values printed in the notes: E2B 54 MiB at 8K, 31B 1,440 MiB at 8K, 26B 5.20 GiB at 256K.
  CHECK(kv_total(find_model("gemma4-e2b"), 8192, r) / kMiB == doctest::Approx(54.0));
  CHECK(kv_total(find_model("gemma4-31b"), 8192, r) / kMiB == doctest::Approx(1440.0));
  CHECK(kv_total(find_model("gemma4-26b-a4b"), 262144, r) / kGiB == doctest::Approx(5.195).epsilon(0.001));
}

TEST_CASE("sliding layers hold at most W tokens of KV cache") {
  const ModelSpec m = find_model("gemma4-31b");
  const MemoryRules r = window_rules();
  CHECK(kv_cells(m, 0, 2000, 1, r) == 1024);
  CHECK(kv_cells(m, 0, 200000, 1, r) == 1024);
  CHECK(kv_cells(m, 5, 200000, 1, r) == 200000);  // global layer grows
  // llama.cpp keeps W + n_ubatch cells, padded to 256, for sliding layers.
  const MemoryRules lc = load_memory_rules("llama.cpp-cpu");
  CHECK(kv_cells(m, 0, 100000, 1, lc) == 1536);
  CHECK(kv_cells(m, 0, 1000, 1, lc) == 1024);  // never more than the (padded) context
  CHECK(kv_cells(m, 5, 1000, 1, lc) == 1024);
}

TEST_CASE("quantized KV caches scale by their block sizes") {
  const ModelSpec m = find_model("gemma4-e4b");
  const MemoryRules r = window_rules();
  CHECK(kv_total(m, 8192, r, "q8_0") == doctest::Approx(kv_total(m, 8192, r) * 34.0 / 64.0));
  CHECK(kv_total(m, 8192, r, "q4_0") == doctest::Approx(kv_total(m, 8192, r) * 18.0 / 64.0));
}

TEST_CASE("31B BF16 fits an A100 80GB at 8K with 61.4 GB of weights") {
  const ModelSpec m = find_model("gemma4-31b");
  const System hw = resolve_hardware("a100-80gb");
  const QuantRecipe& q = find_recipe("bf16");
  FitOptions o;
  o.context_tokens = 8192;
  const FitResult r = fit(m, hw, q, load_memory_rules(default_engine(hw, q)), o);
  CHECK(r.fits);
  CHECK(r.weights_bytes / 1e9 == doctest::Approx(61.4).epsilon(0.01));
  CHECK(r.kv_cache_bytes / 1e9 == doctest::Approx(1.51).epsilon(0.02));
}

TEST_CASE("a model too big for the GPU does not fit, and fewer layers do") {
  const ModelSpec m = find_model("gemma4-31b");
  const System hw = resolve_hardware("rtx-4090");
  const QuantRecipe& q = find_recipe("q8_0");
  const MemoryRules rules = load_memory_rules("llama.cpp-cuda");
  FitOptions o;
  CHECK_FALSE(fit(m, hw, q, rules, o).fits);
  const int n = max_gpu_layers(m, hw, q, rules, o);
  REQUIRE(n > 0);
  REQUIRE(n < m.n_layer);
  o.placement.gpu_layers = n;
  const FitResult r = fit(m, hw, q, rules, o);
  CHECK(r.fits);
  CHECK(r.devices.front().layers == n);
  CHECK(r.devices.back().layers == m.n_layer - n);
  o.placement.gpu_layers = n + 1;
  CHECK_FALSE(fit(m, hw, q, rules, o).fits);
}

TEST_CASE("--n-cpu-moe moves exactly the experts of the first N layers to host memory") {
  const ModelSpec m = find_model("gemma4-26b-a4b");
  const System hw = resolve_hardware("rtx-3060-12gb");
  const QuantRecipe& q = find_recipe("q4_k_m");
  const MemoryRules rules = load_memory_rules("llama.cpp-cuda");
  FitOptions o;
  const FitResult all = fit(m, hw, q, rules, o);
  o.placement.n_cpu_moe = 10;
  const FitResult part = fit(m, hw, q, rules, o);
  const WeightBytes w = weight_bytes(m, q);
  double moved = 0;
  for (int il = 0; il < 10; ++il) moved += w.layer_expert_bytes[il];
  CHECK(all.devices.front().weights_bytes - part.devices.front().weights_bytes == doctest::Approx(moved));
  CHECK(part.devices.back().weights_bytes - all.devices.back().weights_bytes == doctest::Approx(moved));
  o.placement.cpu_moe = true;
  const FitResult cpu = fit(m, hw, q, rules, o);
  CHECK(all.devices.front().weights_bytes - cpu.devices.front().weights_bytes == doctest::Approx(w.experts_bytes));
}

TEST_CASE("the largest context is the boundary of fitting") {
  const ModelSpec m = find_model("gemma4-e4b");
  const System hw = resolve_hardware("gtx-1650");
  const QuantRecipe& q = find_recipe("q4_k_m");
  const MemoryRules rules = load_memory_rules("llama.cpp-cuda");
  FitOptions o;
  const i64 mc = max_context(m, hw, q, rules, o);
  REQUIRE(mc > 0);
  REQUIRE(mc < m.n_ctx_max);
  o.context_tokens = mc;
  CHECK(fit(m, hw, q, rules, o).fits);
  o.context_tokens = mc + 1;
  CHECK_FALSE(fit(m, hw, q, rules, o).fits);
}

TEST_CASE("CPU-only and unified-memory machines") {
  const QuantRecipe& q = find_recipe("q4_k_m");
  FitOptions o;
  o.context_tokens = 4096;
  const System pi = resolve_hardware("rpi5-8gb");
  CHECK(fit(find_model("gemma4-e2b"), pi, q, load_memory_rules("llama.cpp-cpu"), o).fits);
  CHECK_FALSE(fit(find_model("gemma4-31b"), pi, q, load_memory_rules("llama.cpp-cpu"), o).fits);
  // A Mac's GPU may wire only part of unified memory (gpu_memory_fraction).
  const System mac = resolve_hardware("m4-max");
  const FitResult r = fit(find_model("gemma4-31b"), mac, q, load_memory_rules("llama.cpp-metal"), o);
  CHECK(r.devices.front().capacity_bytes == doctest::Approx(mac.host_memory_bytes * mac.host.gpu_memory_fraction));
  CHECK(r.fits);
}

TEST_CASE("a tied output head is counted once on CPU and unified memory, twice on a discrete GPU") {
  const QuantRecipe& q = find_recipe("q4_0");
  const ModelSpec m = find_model("gemma4-e2b");
  REQUIRE(m.tied_embeddings);
  const WeightBytes wb = weight_bytes(m, q);
  FitOptions o;
  o.context_tokens = 4096;
  // CPU only: every tensor of the file once (the output layer reads the mmap'd embedding).
  const FitResult cpu = fit(m, resolve_hardware("rpi5-8gb"), q, load_memory_rules("llama.cpp-cpu"), o);
  CHECK(cpu.weights_bytes == doctest::Approx(wb.total_bytes).epsilon(1e-12));
  // Unified memory: one pool, one copy.
  const FitResult mac = fit(m, resolve_hardware("m4-max"), q, load_memory_rules("llama.cpp-metal"), o);
  CHECK(mac.weights_bytes == doctest::Approx(wb.total_bytes).epsilon(1e-12));
  // Discrete GPU with every layer offloaded: the embedding stays on the host for the
  // lookup and llama.cpp copies it to the GPU as the output layer.
  const FitResult gpu = fit(m, resolve_hardware("rtx-4090"), q, load_memory_rules("llama.cpp-cuda"), o);
  CHECK(gpu.weights_bytes == doctest::Approx(wb.total_bytes + wb.token_embd_bytes).epsilon(1e-12));
}

TEST_CASE("bad fit options are input errors") {
  const ModelSpec m = find_model("gemma4-e2b");
  const System hw = resolve_hardware("rtx-4090");
  const QuantRecipe& q = find_recipe("q4_k_m");
  const MemoryRules rules = load_memory_rules("llama.cpp-cuda");
  FitOptions o;
  o.context_tokens = 262144;  // E2B's limit is 131072
  CHECK_THROWS_WITH_AS(fit(m, hw, q, rules, o),
                       "--ctx: 262144 tokens is beyond gemma4-e2b's context limit of 131072", InputError);
  o.context_tokens = -1;
  CHECK_THROWS_AS(fit(m, hw, q, rules, o), InputError);
  o.context_tokens = 4096;
  o.placement.n_cpu_moe = 3;  // dense model
  CHECK_THROWS_AS(fit(m, hw, q, rules, o), InputError);
  CHECK_THROWS_AS(resolve_hardware("rtx-9090"), InputError);
  CHECK_THROWS_AS(resolve_hardware(std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/bad/negative-memory-device.json"), InputError);
  CHECK_THROWS_AS(load_memory_rules("llama.cpp-fpga"), InputError);
}

TEST_CASE("an image or audio modality adds the encoder's F16 weights; audio needs E2B/E4B") {
  const System hw = resolve_hardware("rtx-4090");
  const QuantRecipe& q = find_recipe("q4_k_m");
  const MemoryRules rules = load_memory_rules("llama.cpp-cuda");
  const ModelSpec e2b = find_model("gemma4-e2b");
  FitOptions o;
  const FitResult text = fit(e2b, hw, q, rules, o);
  o.encoders = {"audio"};
  const FitResult audio = fit(e2b, hw, q, rules, o);
  double audio_params = 0;
  for (const auto& e : e2b.encoders)
    if (e.name == "audio") audio_params = e.params;
  REQUIRE(audio_params > 0);
  CHECK(audio.devices.front().weights_bytes - text.devices.front().weights_bytes == doctest::Approx(2.0 * audio_params));
  CHECK_THROWS_WITH_AS(fit(find_model("gemma4-31b"), hw, q, rules, o), "--modality: gemma4-31b has no audio encoder",
                       InputError);
}
