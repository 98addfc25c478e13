// setup.h: a server's configuration from the model, the system, the engine and its knobs:
// which scheduler, the KV pool or slot context that memory leaves, and the step cost model.
// Knobs left at 0 / -1 take the engine's defaults (data/serving-defaults.json).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "memory_fit.h"
#include "sim.h"

namespace gs::serve {

struct ServeKnobs {
  int tp = 1;
  std::string kv_type = "f16";
  // vLLM
  int max_num_seqs = 0, max_num_batched_tokens = 0, block_size = 0;
  double gpu_memory_utilization = 0;
  int chunked_prefill = -1;      // -1: the engine's default
  int prefix_caching = -1;       // -1: the engine's default
  i64 max_model_len = 0;
  // llama-server
  int gpu_layers = -1;           // -ngl (-1: all, or the most that fit)
  int n_cpu_moe = 0;             // --n-cpu-moe
  int parallel = 0;
  i64 ctx_size = 0;              // -c, all slots together
  int kv_unified = -1;
  int batch_size = 0, ubatch_size = 0;
  // Ollama
  int num_parallel = 0, max_queue = -1;
  i64 num_ctx = 0;               // per slot
  // speculative decoding: K draft tokens per step from draft_model, acceptance per token
  int speculative = 0;
  double acceptance = 0;
  std::string draft_model;   // default: gemma4-e2b (the smallest Gemma 4)
  // cluster
  int replicas = 1;
  Router router = Router::RoundRobin;
};

struct ServeSetup {
  ServerConfig cfg;
  std::unique_ptr<StepCost> cost;
  std::unique_ptr<StepCost> draft_cost;  // speculative decoding's draft model (cfg.draft points here)
  std::string draft_model;
  std::string engine_id, policy_name;
  int gpu_layers = -1;           // llama.cpp layers on the GPU(s) (-1: all)
  double kv_pool_bytes = 0;      // KV memory, all replicas alike
  i64 kv_pool_tokens = 0;        // vLLM: tokens of one sequence the pool holds; llama.cpp: n_ctx
  std::vector<std::string> notes;
};

Policy policy_for(const EngineProfile& e);
const char* policy_name(Policy p);  // "vllm" "llama-server" "ollama"

// mo / hr: the model's ops and the system's rates when the caller has them (sweeps), else built here.
ServeSetup setup_server(const ModelSpec& m, const System& hw, const QuantRecipe& q, const EngineProfile& e,
                        const ServeKnobs& k, const ModelOps* mo = nullptr, const HardwareRates* hr = nullptr);

}  // namespace gs::serve
