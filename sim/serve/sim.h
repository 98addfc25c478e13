// sim.h: a server running one model, step by step, under continuous batching.
//
// Engines (their schedulers as their sources describe them):
//   vLLM (v1 scheduler)  each step has a token budget (max_num_batched_tokens); running
//                        requests go first (one decode token each, or the next chunk of a
//                        prompt), then waiting requests in arrival order while fewer than
//                        max_num_seqs run and their blocks fit. The KV cache is paged
//                        (block_size tokens per block; sliding-window layers keep only the
//                        window's blocks). A request that cannot grow preempts the most
//                        recently admitted one (recompute: its blocks are freed and it
//                        starts over from the head of the queue); no new request is
//                        admitted in a step that preempted.
//   llama-server         --parallel N slots; a slot holds n_ctx / N cells (or shares all
//                        n_ctx with --kv-unified); a request waits for a free slot (FIFO).
//                        Each step batches one token per generating slot, then prompt
//                        tokens of the slots still reading their prompts, up to -b tokens,
//                        computed in forward passes of -ub tokens. No preemption.
//   Ollama               llama-server's scheduler with OLLAMA_NUM_PARALLEL slots of the
//                        context each, and at most OLLAMA_MAX_QUEUE waiting requests (more
//                        are rejected, HTTP 503).
// Step times come from serve::StepCost. Replicas sit behind a router (round robin or least
// outstanding requests); closed-loop users send their next request a think time after the
// previous one finished.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "step_cost.h"
#include "workload.h"

namespace gs::serve {

enum class Policy { Vllm, LlamaServer, Ollama };
enum class Router { RoundRobin, LeastOutstanding };

struct KvLayout {
  double global_bytes_per_token = 0;   // every full-attention layer that owns a cache
  double sliding_bytes_per_token = 0;  // every sliding-window layer that owns a cache
  i64 window_tokens = 0;               // 0: no sliding layers
};

struct ServerConfig {
  Policy policy = Policy::Vllm;
  KvLayout kv;
  // vLLM
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  int block_size = 16;
  bool chunked_prefill = true;
  double kv_pool_bytes = 0;     // memory left for KV blocks (gpu_memory_utilization applied)
  // Automatic prefix caching (vLLM --enable-prefix-caching, on by default in the v1 engine):
  // a request whose leading prefix blocks were computed before (and are still cached) skips
  // their prefill. The cache keeps the most recently used blocks, as many as the KV pool holds.
  bool prefix_caching = true;
  i64 max_model_len = 0;        // longest request (prompt + output)
  // llama-server / Ollama
  int slots = 4;
  i64 n_ctx = 0;                // all slots together
  bool kv_unified = false;
  int n_batch = 2048;
  int max_queue = 0;            // waiting requests beyond this are rejected (0: no limit)
  // speculative decoding: K draft tokens per step, each accepted with probability
  // spec_acceptance (independently, until the first rejection; Leviathan et al. 2023), the
  // target verifying K + 1 tokens per sequence; the draft model's K decode steps cost `draft`
  int spec_tokens = 0;
  double spec_acceptance = 0;
  const StepCost* draft = nullptr;
  // cluster
  int replicas = 1;
  Router router = Router::RoundRobin;
};

struct ClosedLoop {
  int users = 0;                // 0: open loop (the requests' own arrival times)
  double think_time_s = 0;      // mean of an exponential think time
};

struct RequestRecord {
  double arrival_s = 0, start_s = -1, first_token_s = -1, finish_s = -1;
  i64 prompt_tokens = 0, gen_tokens = 0;  // as asked
  i64 generated = 0;                      // as served (a slot's context may cut it short)
  int preemptions = 0;
  int replica = 0;
  bool rejected = false;
  double ttft_s() const { return first_token_s - arrival_s; }
  double e2e_s() const { return finish_s - arrival_s; }
  double queue_s() const { return start_s - arrival_s; }
  double tpot_s() const { return generated > 1 ? (finish_s - first_token_s) / static_cast<double>(generated - 1) : 0; }
};

struct Dist {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  i64 n = 0;
};

struct TimePoint {
  double t_s = 0;
  int running = 0, waiting = 0;
  double kv_used_fraction = 0;  // the fullest replica
  i64 preemptions = 0;          // so far, all replicas
};

struct ServeResult {
  std::vector<RequestRecord> records;  // in arrival order
  Dist ttft_s, tpot_s, itl_s, e2e_s, queue_s;
  i64 completed = 0, rejected = 0, truncated = 0, preemptions = 0, steps = 0;
  i64 prefix_hit_tokens = 0, prefix_lookup_tokens = 0;  // prompt tokens found in / looked up in the prefix cache
  double first_arrival_s = 0, last_arrival_s = 0, last_finish_s = 0;
  double offered_rate_per_s = 0;       // open loop: requests / arrival span
  double throughput_req_per_s = 0;     // completed / (last finish - first arrival)
  double output_tok_per_s = 0, input_tok_per_s = 0;
  double kv_peak_fraction = 0;
  double mean_batch_tokens = 0;        // tokens per step
  bool saturated = false;              // a queue built up beyond what the server runs at once
  std::vector<TimePoint> timeline;
};

// What one scheduled step runs, per request: `tokens` new tokens after the `depth` it has
// cached (a prompt chunk, or one decode token fed back), and whether its last one's logits are
// needed (a decode step, or the chunk that ends the prompt).
struct StepItem {
  int request = 0;    // index in the simulated requests (records)
  i64 depth = 0;
  i64 tokens = 0;
  bool decode = false;
  bool emits = false;
};
// Runs steps for real instead of costing them (serve-run: the reference kernel). The
// scheduler is the same; the clock advances by the seconds run() reports.
class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  virtual double run(const std::vector<StepItem>& items) = 0;
  virtual void release(int request) = 0;  // finished or preempted: its cache can go
};

// Simulates the requests (open loop: their arrival times; closed loop: `users` users whose
// first requests come after a think time, then one per finished request until all were
// sent). With an executor, each step is run by it and takes the time it measured.
ServeResult simulate(const StepCost& cost, const ServerConfig& cfg, std::vector<Request> requests, const ClosedLoop& users,
                     std::uint64_t seed, StepExecutor* exec = nullptr);

// A quantile summary sorted once (linear interpolation between order statistics, as gs::quantile).
Dist summarize(std::vector<double> v);

// Service-level objective: limits on percentiles of ttft, tpot, itl or e2e (seconds).
struct SloLimit {
  std::string metric;  // "ttft" "tpot" "itl" "e2e"
  double quantile = 0.99;
  double limit_s = 0;
};
struct Slo {
  std::vector<SloLimit> limits;
  bool empty() const { return limits.empty(); }
};
// "ttft_p99=0.5,tpot_p99=0.05" (p50, p90, p99 or mean; seconds).
Slo parse_slo(const std::string& s, const std::string& flag);
struct SloCheck {
  bool met = false;
  double goodput_req_per_s = 0;  // requests within every limit, per second
  double good_fraction = 0;      // of the completed requests
  std::vector<std::pair<SloLimit, double>> observed;  // each limit and the run's value
};
SloCheck check_slo(const ServeResult& r, const Slo& slo);

}  // namespace gs::serve
