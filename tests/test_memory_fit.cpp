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
  // From the configs (models/gemma4-*.json: heads, head dims, windows, KV sharing):
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
  const QuantRecipe& q = find_recipe("q3_k_m");
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

TEST_CASE("reference engine: buffers sized by the run's step, as the kernel allocates them") {
  // Hand computation from the code (hwdb/engines/reference.json sources), E2B: D 1536, L 35,
  // P 256, F_max 12288, H x Dh_max 8 x 512, V 262144.
  const ModelSpec m = find_model("gemma4-e2b");
  const System hw = resolve_hardware("i5-8500");
  const QuantRecipe& q = find_recipe("q4_0");
  // The float K/V mirrors of a CPU without AVX-512 (4 bytes per element), or none where the
  // attention reads the f16 cache in place (AVX-512). The bundled profile holds the value of
  // the machine that probed it (the probe sets it by ISA): one or the other.
  MemoryRules rules = load_memory_rules("reference");
  CHECK((rules.kv_float_bytes_per_element == 0 || rules.kv_float_bytes_per_element == 4));
  MemoryRules in_place = rules;
  in_place.kv_float_bytes_per_element = 0;
  rules.kv_float_bytes_per_element = 4;
  auto at = [&](i64 step, i64 ctx) {
    FitOptions o;
    o.context_tokens = ctx;
    o.step_tokens = step;
    return fit(m, hw, q, rules, o);
  };
  // Per token: 4 x (3 D + L P) + 4 x 2 F + 1.0625 F + 4 x 2 H Dh bytes (the attention and FFN
  // buffers are Forward's, resident together).
  const double per_token = 4.0 * (3 * 1536 + 35 * 256) + 4.0 * 2 * 12288 + 1.0625 * 12288 + 4.0 * 2 * 8 * 512;
  // Float K/V mirrors: 12 sliding layers (Hkv 1, Dh 256) and 3 global ones (Dh 512) own a
  // cache; a mirror has the cache's slots (sliding: at most W + ubatch = 1024).
  auto kv_float = [](double ctx, double /*step*/) {
    return 12 * 2 * 256 * 4 * std::min(ctx, 1024.0) + 3 * 2 * 512 * 4 * ctx;
  };
  const double logits = 262144 * 4.0;
  const FitResult a = at(64, 80), b = at(512, 528);
  CHECK(a.compute_buffer_bytes == doctest::Approx(64 * per_token + kv_float(80, 64) + logits));
  CHECK(b.compute_buffer_bytes == doctest::Approx(512 * per_token + kv_float(528, 512) + logits));
  // Steps beyond the micro-batch run in micro-batches of 512.
  CHECK(at(4096, 4176).compute_buffer_bytes == doctest::Approx(512 * per_token + kv_float(4176, 512) + logits));
  // In place (AVX-512), or an f32 cache (read in place by every form): no mirrors.
  {
    FitOptions o;
    o.context_tokens = 528;
    o.step_tokens = 512;
    CHECK(fit(m, hw, q, in_place, o).compute_buffer_bytes == doctest::Approx(512 * per_token + logits));
    o.kv_type = "f32";
    CHECK(fit(m, hw, q, rules, o).compute_buffer_bytes == doctest::Approx(512 * per_token + logits));
  }
  // Parsed vocabulary: 3 arrays x 40 bytes per entry, whatever the step.
  CHECK(a.overhead_bytes == doctest::Approx(120.0 * 262144));
  CHECK(b.overhead_bytes == a.overhead_bytes);
  // Sliding layers hold W + ubatch (512 + 512) slots once the context is longer.
  CHECK(kv_cells(m, 0, 4176, 1, rules) == 1024);
  CHECK(kv_cells(m, 0, 528, 1, rules) == 528);
  // An engine that reserves at the full micro-batch ignores the step.
  const MemoryRules lc = load_memory_rules("llama.cpp-cpu");
  FitOptions o;
  o.context_tokens = 528;
  const double full = fit(m, hw, q, lc, o).compute_buffer_bytes;
  o.step_tokens = 64;
  CHECK(fit(m, hw, q, lc, o).compute_buffer_bytes == full);
}

TEST_CASE("reference engine: a float K/V copy beyond the budget is one reused buffer, not one per layer") {
  const ModelSpec m = find_model("gemma4-e2b");
  const System hw = resolve_hardware("i5-8500");
  const QuantRecipe& q = find_recipe("q4_0");
  MemoryRules rules = load_memory_rules("reference");
  rules.kv_float_bytes_per_element = 4;  // float mirrors (a CPU without AVX-512)
  FitOptions o;
  o.context_tokens = 12000;  // a global layer's copy 2 x 512 x 4 x 12000 = 49 MB: within 64 MiB
  o.step_tokens = 512;
  const double kept = fit(m, hw, q, rules, o).compute_buffer_bytes;
  rules.kv_float_budget_bytes = 20e6;  // now the 3 global copies exceed it: one buffer of 49 MB remains
  const double reused = fit(m, hw, q, rules, o).compute_buffer_bytes;
  CHECK(kept - reused == doctest::Approx(2 * 2 * 512 * 4 * 12000.0));
}
