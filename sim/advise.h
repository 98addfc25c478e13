// advise.h: which Gemma 4 variant, quantization, hardware and split to run.
//
// enumerate -> filter -> rank, a pure function of its inputs (no file I/O: the
// caller loads systems, models, recipes, engine profiles and memory rules).
// Every (system, model, quant) is evaluated once:
//   1. modality: image/audio need the model's encoder (audio: E2B/E4B only); the
//      encoder weights are reserved on the first GPU (or host) and its tokens are
//      added to the context and the prompt;
//   2. placement: all layers on the GPU(s); else, for an MoE model, the fewest
//      --n-cpu-moe N that fits; else the largest --gpu-layers N; CPU-only systems
//      run everything in host memory; vLLM (bf16 on CUDA/ROCm) must fit whole;
//   3. speed: the throughput model (sim/roofline.h) at the use case's prompt and
//      reply lengths with `users` concurrent sequences;
//   4. filter: does not fit, context beyond the model's limit, slower than the
//      required decode / prefill tok/s;
//   4b. serving (--users N > 1, --rate R or --slo, or a use case with a serving block): the
//      candidate is simulated as a server under that load (sim/serve: vLLM or llama-server
//      continuous batching, closed-loop users with a think time or Poisson arrivals) and must
//      meet the SLO (TTFT and TPOT percentiles);
//   5. rank: quality proxy (sim/quality.h, compared at 0.1 points, the precision
//      of the published scores) desc, then decode tok/s desc, then price asc; or speed
//      first, or balanced (Requirements::rank).
// Speeds are those of the use case's last reply in a full context: the prompt at depth
// context - prompt - reply, decode averaged over the reply (the mean depth of its tokens).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine.h"
#include "hardware.h"
#include "json_util.h"
#include "memory_fit.h"
#include "model.h"
#include "quality.h"
#include "quant.h"

namespace gs {

// A documented preset (data/use-cases.json).
struct UseCase {
  std::string id, description, reasoning;
  i64 context_tokens = 8192, prompt_tokens = 512, gen_tokens = 256;
  double min_decode_tok_per_s = 0, min_prefill_tok_per_s = 0;
  std::vector<std::string> benchmarks;
  // A server shared by many users (the `team` use case): their number, think time and SLO.
  int serving_users = 0;          // 0: a single user
  double think_time_s = 0;
  std::string slo;                // "ttft_p99=1,tpot_p99=0.1"
  // Hardware it is for (system form factors: "phone", "board" ...); empty: any.
  std::vector<std::string> form_factors;
};

struct ModalitySpec {
  std::string id;          // "text" | "image" | "audio"
  std::string encoder;     // encoder name in models/*.json ("" for text)
  i64 extra_tokens = 0;    // fixed tokens per request (audio); image: from the encoder's tokens_per_item
  int items = 1;
  std::string reasoning;
};

struct UseCaseBook {
  std::vector<UseCase> use_cases;
  std::string default_id = "chat";
  std::map<std::string, ModalitySpec> modalities;
  double encoder_bytes_per_param = 2;
  double default_ttft_p99_s = 2, default_think_time_s = 30;  // serving_defaults
  const UseCase& find(const std::string& id) const;  // InputError listing the known ids
};
UseCaseBook parse_use_cases(const json& j, const std::string& file);
const UseCaseBook& use_case_book();  // data/use-cases.json, loaded once

struct Requirements {
  std::string use_case = "chat";
  i64 context_tokens = 8192;   // per sequence, text tokens (modality tokens are added)
  i64 prompt_tokens = 512, gen_tokens = 256;
  double min_decode_tok_per_s = 0, min_prefill_tok_per_s = 0;
  std::string modality = "text";
  int users = 1;               // concurrent sequences (serving: closed-loop users)
  std::vector<std::string> benchmarks;  // quality proxy scores (empty: every *_pct score)
  // Serving: each candidate is simulated as a server (sim/serve) and must meet the SLO.
  bool serving = false;
  double rate_per_s = 0;       // open loop (Poisson); 0: `users` closed-loop users
  double think_time_s = 30;    // closed loop: mean pause between a user's requests
  std::string slo;             // e.g. "ttft_p99=1,tpot_p99=0.1"
  int serve_requests = 400;    // requests simulated per candidate
  // Running cost (sim/power.h): a day's use, as hours of generation or as output tokens (tokens
  // win when > 0), at an electricity price; rented systems cost their hourly price.
  double hours_per_day = 8;
  double tokens_per_day = 0;
  double electricity_usd_per_kwh = 0.17;
  // The order of the ranked list: "quality" (quality, then speed, then price), "speed" (decode
  // tok/s first), "balanced" (quality points + kBalancedPointsPerDoubling x log2 decode tok/s).
  std::string rank = "quality";
};

// --rank balanced: how many quality-proxy points one doubling of decode speed is worth. A user
// preference, not a measurement: 2 points is about the gap between neighbouring quantizations
// of one variant (Q4_K_M vs Q8_0), so halving speed must buy at least that much quality.
inline constexpr double kBalancedPointsPerDoubling = 2.0;

struct AdviseInput {
  std::vector<System> systems;
  std::vector<ModelSpec> models;
  std::vector<QuantRecipe> quants;
  QualityPenalties penalties;
  std::map<std::string, EngineProfile> engines;  // id -> profile (every engine default_engine may pick)
  std::map<std::string, MemoryRules> rules;      // id -> memory rules
  UseCaseBook book;                              // modalities
  Requirements req;
};

enum class Verdict { Ok, NoEncoder, ContextTooLong, DoesNotFit, TooSlow, NoScores, EngineCannotRun };
// "ok" "no-encoder" "context-too-long" "does-not-fit" "too-slow" "no-scores" "engine-cannot-run"
const char* verdict_name(Verdict v);

struct Candidate {
  std::string system_id, system_name, model_id, model_name, quant_id, engine;
  std::string form_factor;      // the system's (desktop, server, board, phone)
  double price_usd = 0;
  double rental_usd_per_hour = 0;  // a cloud system: priced by the hour (price_usd is 0)
  // Running cost at the requirements' daily use: watts while generating, J per output token,
  // the month's electricity (owned) or rent, and the months until buying beats renting the
  // cheapest cloud system that meets the same requirements (-1: never, or nothing to compare).
  double decode_w = 0, j_per_output_token = 0;
  double monthly_usd = 0;
  double breakeven_months = -1;
  Placement placement;          // gpu_layers -1: all on GPU; n_cpu_moe N
  std::string split;            // "full GPU", "--n-cpu-moe 12", "-ngl 20 of 60", "CPU only", "unified"
  bool cpu_only = false;
  int tp = 1;
  i64 context_needed = 0;       // text + modality tokens
  i64 context_fits = 0;         // largest context that fits with this placement (0: none)
  double prefill_tok_per_s = 0, decode_tok_per_s = 0, decode_tok_per_s_aggregate = 0;
  i64 decode_mean_depth_tokens = 0;  // the context depth the decode speed is taken at
  double quality = 0, base_quality = 0, penalty = 0;
  double encoder_bytes = 0;
  FitResult fit;                // at context_needed with the placement
  // Serving (Requirements::serving): the simulated load's latencies and the server's settings.
  bool served = false;
  double ttft_p99_s = 0, tpot_p99_s = 0, served_output_tok_per_s = 0, served_req_per_s = 0;
  int serve_slots = 0;          // llama-server -np / vLLM max-num-seqs as simulated
  i64 serve_ctx = 0;            // llama-server -c / vLLM max-model-len as simulated
  Verdict verdict = Verdict::Ok;
  std::string why;              // one line for rejections
};

struct VariantSummary {
  std::string model_id, model_name;
  bool ranked = false;          // has at least one candidate that passes
  int best_rank = -1;           // index in ranked (-1 none)
  std::string reason;           // plain-language standing or why it was ruled out
};

struct AdviseResult {
  Requirements req;
  std::vector<Candidate> ranked;    // passes, best first
  std::vector<Candidate> rejected;  // all others
  std::vector<VariantSummary> variants;
  std::string winner_reason;
  // A much faster option within a small quality difference of the winner ("" when none).
  std::string faster_option;
  // The cheapest rented system per month among the ranked (index into ranked, -1: none), and
  // buy vs rent for the best system to buy against it ("" when there is no pair).
  int cheapest_rented = -1;
  std::string buy_vs_rent;
  int evaluated = 0;
};

// The ranking rule: true when a ranks before b (mode: Requirements::rank).
bool ranks_before(const Candidate& a, const Candidate& b, const std::string& mode = "quality");

// Evaluate one (system, model, quant).
Candidate evaluate(const System& s, const ModelSpec& m, const QuantRecipe& q, const AdviseInput& in);

// Whole sweep; progress(done, total) is called after each system (may be empty).
AdviseResult advise(const AdviseInput& in, const std::function<void(int, int)>& progress = {});

// The command that runs a candidate: llama-server / ollama / vllm lines.
std::vector<std::string> run_commands(const Candidate& c, const Requirements& req);
// GGUF file name as published (lmstudio-community / unsloth naming): gemma-4-31B-it-Q4_K_M.gguf
std::string gguf_file_name(const std::string& model_id, const std::string& quant_name);

json candidate_to_json(const Candidate& c, const Requirements& req);
json advise_to_json(const AdviseResult& r, std::size_t top);

}  // namespace gs
