// setup.cpp: engine defaults, memory left for the KV cache, and the step cost model.
#include "setup.h"

#include <algorithm>
#include <cmath>

#include "data_paths.h"
#include "json_util.h"

namespace gs::serve {

namespace {

KvLayout kv_layout(const ModelSpec& m, const ModelOps& mo, const KvType& kv, bool single_for_k_eq_v) {
  KvLayout l;
  l.window_tokens = mo.W;
  for (int il = 0; il < m.n_layer; ++il) {
    const double b = kv_bytes_per_cell(m, il, kv, single_for_k_eq_v);
    (mo.layer(il).sliding && mo.W > 0 ? l.sliding_bytes_per_token : l.global_bytes_per_token) += b;
  }
  if (l.sliding_bytes_per_token == 0) l.window_tokens = 0;
  return l;
}

// Bytes vLLM's paged cache holds for one sequence of n tokens.
double paged_bytes(const KvLayout& l, int block, i64 n) {
  const i64 blocks = (n + block - 1) / block;
  const i64 swa = l.window_tokens > 0 ? std::min<i64>(blocks, (l.window_tokens + block - 1) / block + 1) : 0;
  return static_cast<double>(blocks * block) * l.global_bytes_per_token +
         static_cast<double>(swa * block) * l.sliding_bytes_per_token;
}

}  // namespace

Policy policy_for(const EngineProfile& e) {
  if (e.family == "vllm" || e.id == "vllm") return Policy::Vllm;
  if (e.id == "ollama") return Policy::Ollama;
  return Policy::LlamaServer;
}

const char* policy_name(Policy p) {
  return p == Policy::Vllm ? "vllm" : p == Policy::Ollama ? "ollama" : "llama-server";
}

ServeSetup setup_server(const ModelSpec& m, const System& hw, const QuantRecipe& q, const EngineProfile& e,
                        const ServeKnobs& k, const ModelOps* mo_in, const HardwareRates* hr_in) {
  ServeSetup s;
  s.engine_id = e.id;
  ServerConfig& c = s.cfg;
  c.policy = policy_for(e);
  s.policy_name = policy_name(c.policy);
  c.replicas = k.replicas;
  c.router = k.router;
  const std::string dpath = data_path("data/serving-defaults.json");
  const json dj = read_json_file(dpath);
  const JsonReader d(dj, dpath);
  const KvType& kv = find_kv_type(k.kv_type);
  MemoryRules rules = load_memory_rules(e.id);
  const ModelOps mo_own = mo_in ? ModelOps{} : prepare_ops(m, q);
  const ModelOps& mo = mo_in ? *mo_in : mo_own;
  c.kv = kv_layout(m, mo, kv, rules.kv_single_for_k_eq_v);
  const double kv_tok = c.kv.global_bytes_per_token + c.kv.sliding_bytes_per_token;
  if (kv_tok <= 0) input_error(m.id + ": no KV cache bytes per token");

  RunPlacement pl;
  pl.tp = k.tp;
  int max_step = 0, ubatch = 0;
  i64 max_depth = 0;
  if (c.policy == Policy::Vllm) {
    const JsonReader v = d.at("vllm");
    const bool large = hw.gpu_memory_bytes() / std::max<std::size_t>(1, hw.gpus.size()) >=
                       v.at("large_gpu_memory_bytes").num(0, 1e15);
    c.max_num_seqs = k.max_num_seqs > 0 ? k.max_num_seqs
                                        : static_cast<int>(v.at(large ? "max_num_seqs_large_gpu" : "max_num_seqs").integer(1, 1 << 20));
    c.max_num_batched_tokens =
        k.max_num_batched_tokens > 0 ? k.max_num_batched_tokens
                                     : static_cast<int>(v.at(large ? "max_num_batched_tokens_large_gpu" : "max_num_batched_tokens").integer(1, 1 << 24));
    c.block_size = k.block_size > 0 ? k.block_size : static_cast<int>(v.at("block_size").integer(1, 1024));
    c.chunked_prefill = k.chunked_prefill >= 0 ? k.chunked_prefill == 1 : v.at("enable_chunked_prefill").boolean();
    c.prefix_caching = k.prefix_caching >= 0 ? k.prefix_caching == 1 : v.at("enable_prefix_caching").boolean();
    rules.usable_memory_fraction = k.gpu_memory_utilization > 0 ? k.gpu_memory_utilization
                                                                 : v.at("gpu_memory_utilization").num(0.01, 1);
    rules.ubatch_tokens = c.max_num_batched_tokens;  // activations of the largest step
    FitOptions fo;
    fo.context_tokens = c.block_size;
    fo.kv_type = k.kv_type;
    fo.tp = k.tp;
    fo.step_tokens = c.max_num_batched_tokens;
    const FitResult fr = fit(m, hw, q, rules, fo);
    // the GPUs' memory only (the host's is not vLLM's to use), unless there is no GPU
    bool any_gpu = false;
    for (const auto& dm : fr.devices) any_gpu = any_gpu || dm.role.rfind("gpu", 0) == 0;
    s.kv_pool_bytes = 0;
    for (const auto& dm : fr.devices)
      if (!any_gpu || dm.role.rfind("gpu", 0) == 0)
        s.kv_pool_bytes += dm.capacity_bytes - (dm.total_bytes - dm.kv_cache_bytes);
    if (s.kv_pool_bytes <= 0)
      input_error(m.id + " " + q.id + " does not fit on " + hw.id + " with vLLM at gpu_memory_utilization " +
                  std::to_string(rules.usable_memory_fraction) + " (weights and activations " +
                  std::to_string((fr.total_bytes - fr.kv_cache_bytes) / (1024.0 * 1024 * 1024)) + " GiB)");
    c.kv_pool_bytes = s.kv_pool_bytes;
    // the longest sequence the pool holds
    i64 lo = 0, hi = m.n_ctx_max;
    while (lo < hi) {
      const i64 mid = (lo + hi + 1) / 2;
      if (paged_bytes(c.kv, c.block_size, mid) <= s.kv_pool_bytes) lo = mid; else hi = mid - 1;
    }
    s.kv_pool_tokens = lo;
    if (k.max_model_len > 0) {
      if (k.max_model_len > m.n_ctx_max)
        input_error("--max-model-len: " + std::to_string(k.max_model_len) + " is beyond " + m.id + "'s " +
                    std::to_string(m.n_ctx_max) + " tokens");
      if (k.max_model_len > lo)
        input_error("--max-model-len: " + std::to_string(k.max_model_len) + " tokens need more KV cache than the " +
                    std::to_string(lo) + " tokens left (vLLM refuses to start)");
      c.max_model_len = k.max_model_len;
    } else {
      c.max_model_len = lo;
      if (lo < m.n_ctx_max)
        s.notes.push_back("max_model_len " + std::to_string(lo) + " (the KV cache holds no longer sequence; the model allows " +
                          std::to_string(m.n_ctx_max) + ")");
    }
    if (c.max_model_len < 16) input_error(m.id + " " + q.id + " on " + hw.id + ": the KV cache holds under 16 tokens");
    max_step = c.max_num_batched_tokens;
    ubatch = c.max_num_batched_tokens;
    max_depth = c.max_model_len;
  } else {
    const bool ollama = c.policy == Policy::Ollama;
    const JsonReader l = d.at(ollama ? "ollama" : "llama-server");
    if (ollama) {
      c.slots = k.num_parallel > 0 ? k.num_parallel : static_cast<int>(l.at("num_parallel").integer(1, 4096));
      c.max_queue = k.max_queue >= 0 ? k.max_queue : static_cast<int>(l.at("max_queue").integer(0, 1 << 30));
      c.kv_unified = false;
      c.n_batch = k.batch_size > 0 ? k.batch_size : static_cast<int>(l.at("batch_size").integer(1, 1 << 20));
      ubatch = k.ubatch_size > 0 ? k.ubatch_size : c.n_batch;
      i64 per = k.num_ctx > 0 ? k.num_ctx : engine_default_context("ollama", hw);
      if (per <= 0) per = 4096;
      per = std::min<i64>(per, m.n_ctx_max);
      c.n_ctx = per * c.slots;
    } else {
      c.slots = k.parallel > 0 ? k.parallel : static_cast<int>(l.at("parallel").integer(1, 4096));
      // -np auto shares one cache; an explicit -np N splits it unless --kv-unified
      c.kv_unified = k.kv_unified >= 0 ? k.kv_unified == 1 : (k.parallel > 0 ? false : l.at("kv_unified").boolean());
      c.n_batch = k.batch_size > 0 ? k.batch_size : static_cast<int>(l.at("batch_size").integer(1, 1 << 20));
      ubatch = k.ubatch_size > 0 ? k.ubatch_size : static_cast<int>(l.at("ubatch_size").integer(1, 1 << 20));
      c.n_ctx = k.ctx_size;
    }
    if (ubatch > c.n_batch) ubatch = c.n_batch;
    rules.ubatch_tokens = ubatch;
    FitOptions fo;
    fo.kv_type = k.kv_type;
    fo.n_seq = c.kv_unified ? 1 : c.slots;
    fo.placement.gpu_layers = k.gpu_layers;
    fo.placement.n_cpu_moe = k.n_cpu_moe;
    pl.gpu_layers = k.gpu_layers;
    pl.n_cpu_moe = k.n_cpu_moe;
    s.gpu_layers = k.gpu_layers;
    if (c.n_ctx <= 0) {
      // -c 0: the model's context, shrunk to what fits (llama.cpp --fit)
      fo.context_tokens = 256;
      const i64 mc = max_context(m, hw, q, rules, fo);
      c.n_ctx = mc > 0 ? (c.kv_unified ? mc : mc * c.slots) : std::min<i64>(m.n_ctx_max, 4096) * (c.kv_unified ? 1 : c.slots);
      if (mc > 0 && mc < m.n_ctx_max)
        s.notes.push_back("-c " + std::to_string(c.n_ctx) + " (the most that fits; the model allows " +
                          std::to_string(m.n_ctx_max) + " per sequence)");
    }
    fo.context_tokens = c.kv_unified ? c.n_ctx : c.n_ctx / c.slots;
    if (fo.context_tokens < 1) input_error("-c " + std::to_string(c.n_ctx) + ": under one token per slot");
    if (fo.context_tokens > m.n_ctx_max)
      input_error("-c: " + std::to_string(fo.context_tokens) + " tokens per slot is beyond " + m.id + "'s " +
                  std::to_string(m.n_ctx_max));
    FitResult fr = fit(m, hw, q, rules, fo);
    if (!fr.fits && !hw.gpus.empty() && e.backend != "cpu") {
      const int n = max_gpu_layers(m, hw, q, rules, fo);
      if (n < 0) input_error(m.id + " " + q.id + " does not fit on " + hw.id + " at -c " + std::to_string(c.n_ctx));
      fo.placement.gpu_layers = n;
      pl.gpu_layers = n;
      s.gpu_layers = n;
      fr = fit(m, hw, q, rules, fo);
      s.notes.push_back("does not fit on the GPU(s): --gpu-layers " + std::to_string(n) + " (the most that fit)");
    } else if (!fr.fits) {
      input_error(m.id + " " + q.id + " does not fit on " + hw.id + " at -c " + std::to_string(c.n_ctx));
    }
    s.kv_pool_bytes = fr.kv_cache_bytes;
    s.kv_pool_tokens = c.n_ctx;
    max_step = c.n_batch;
    max_depth = c.kv_unified ? c.n_ctx : c.n_ctx / c.slots;
  }
  const HardwareRates hr_own = hr_in ? HardwareRates{} : prepare_hardware(hw, e);
  const HardwareRates& hr = hr_in ? *hr_in : hr_own;
  s.cost = std::make_unique<StepCost>(mo, hr, pl, kv.bytes_per_element, kv_type_is_block_quantized(k.kv_type), max_step,
                                      max_depth, ubatch);
  if (k.speculative > 0) {
    s.draft_model = k.draft_model.empty() ? "gemma4-e2b" : k.draft_model;
    const ModelSpec dm = find_model(s.draft_model);
    if (dm.id == m.id) input_error("--draft-model: the draft must be a smaller model than " + m.id);
    const ModelOps dmo = prepare_ops(dm, q);
    if (dmo.weights_total_bytes >= mo.weights_total_bytes)
      input_error("--draft-model: " + dm.id + " is not smaller than " + m.id);
    s.draft_cost = std::make_unique<StepCost>(dmo, hr, pl, kv.bytes_per_element, kv_type_is_block_quantized(k.kv_type),
                                              max_step, max_depth, ubatch);
    c.spec_tokens = k.speculative;
    c.spec_acceptance = k.acceptance;
    c.draft = s.draft_cost.get();
    // the draft's weights share the memory
    if (c.policy == Policy::Vllm) {
      c.kv_pool_bytes -= dmo.weights_total_bytes;
      s.kv_pool_bytes = c.kv_pool_bytes;
      if (c.kv_pool_bytes <= 0) input_error("--draft-model: " + dm.id + " leaves no memory for the KV cache");
    }
    s.notes.push_back("speculative decoding: " + std::to_string(k.speculative) + " draft tokens from " + dm.id +
                      " per step, acceptance " + std::to_string(k.acceptance).substr(0, 4));
  }
  return s;
}

}  // namespace gs::serve
