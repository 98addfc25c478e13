// forward.h: the readable Gemma 4 forward pass (reference kernel).
//
// One Forward object is one sequence: it owns the KV caches and the position.
// step(tokens) runs T tokens at positions pos()..pos()+T-1 in micro-batches of
// at most n_ubatch tokens (prefill: T > 1, one batched matmul per weight;
// decode: T = 1) and returns the logits of the last token (or of every token
// with all_logits). Everything is driven by ModelSpec: no per-variant code.
// The layer's parts live in forward.cpp (the layer, top to bottom), layers/attention.cpp,
// layers/ffn.cpp, layers/ple.cpp, layers/elementwise.{h,cpp}.
#pragma once
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "counters.h"
#include "kv_cache.h"
#include "model.h"
#include "weights.h"

namespace gs::ref {

struct ForwardOptions {
  std::int64_t n_ctx = 4096;   // positions this sequence may hold (<= the model's context limit)
  int n_ubatch = 512;          // largest micro-batch (sliding caches hold W + n_ubatch slots)
  KvCacheType kv_type = KvCacheType::F16;
  bool all_logits = false;     // output head on every token (tests); else on the last token only
  bool profile = false;        // measure time per op (OpCount::time_s)
  bool trace = false;          // record MoE routing (routes())
  std::int64_t attn_key_block = 0;  // keys per block of the attention passes (0: 64 KiB of one
                                    // kv head's K rows; tests cut smaller: the result is the same)
};

// One token's routing in one MoE layer.
struct Route {
  std::int64_t token;          // position of the token in the sequence
  int layer;
  std::vector<int> experts;    // K expert ids, by descending router probability
  std::vector<float> weights;  // K gate weights (renormalised, times the per-expert scale)
};

class Forward {
 public:
  // Throws InputError if n_ctx is beyond the model's limit or options are absurd.
  Forward(const ModelSpec& m, const ModelWeights& w, ForwardOptions o);

  // Logits [T_out, V] (T_out = 1, or T with all_logits).
  std::vector<float> step(const std::vector<std::int32_t>& tokens);

  // Continuous batching: several sequences in one forward pass. Each item's tokens run at
  // its own positions against its own KV cache (RoPE, cache writes and attention per
  // sequence); every weight matmul runs once over all the rows, and a MoE layer runs each
  // routed expert once for all the tokens routed to it. Items are distinct Forward objects of
  // the same model and weights; this object drives the step (its buffers; its own cache and
  // position are untouched unless it is one of the items). The rows together are at most
  // this object's n_ubatch. Returns, per item, the logits of its last token ([V]; empty
  // where want_logits is false), in this object's buffer: valid until its next step_batch
  // (a fresh [n, V] vector and a copy per item each step were a fresh mapping, zeroed,
  // paged in and copied every step: about a fifth of a 4-sequence E2B decode step).
  struct BatchItem {
    Forward* seq = nullptr;
    std::vector<std::int32_t> tokens;
    bool want_logits = true;
  };
  std::vector<std::span<const float>> step_batch(const std::vector<BatchItem>& items);

  std::int64_t pos() const { return pos_; }
  // Forget the last n positions (n <= n_ubatch): the next step writes them again, so a
  // step followed by rewind(its token count) leaves the logits of every later step as they
  // were (sliding-window rings hold W + n_ubatch slots, so the positions its writes pushed
  // out are never read again). `gemmasim run` warms up with one such step, untimed, as
  // llama-bench runs a warm-up and clears its cache.
  void rewind(std::int64_t n);
  // llama-bench's warm-up (its warm-up runs the prompt, then one generated token, and clears its
  // cache): the prompt's first min(size, n_ubatch) tokens as one step, then its first token,
  // each undone; counters and routes reset. Nothing timed or counted afterwards changes (the
  // first step of a process pays page faults and OpenMP start outside every op).
  void warm_up(const std::vector<std::int32_t>& prompt);
  // Advance to position `depth` (>= pos()) with seeded K and V rows in every KV-owning layer
  // (each element uniform in +-sqrt(3): RMS 1, as the k / v norms leave real rows) instead of
  // running the tokens: what attention reads at that depth costs the same whatever the values,
  // and a 4096-token fill takes milliseconds instead of minutes of prefill. Logits after it
  // are not those of any prompt (`gemmasim run --fill seeded`; validate and the probe use it).
  void fill_kv_seeded(std::int64_t depth, std::uint64_t seed);
  Counters& counters() { return counters_; }
  const std::vector<Route>& routes() const { return routes_; }
  void clear_routes() { routes_.clear(); }
  std::int64_t kv_bytes() const;  // bytes allocated for all KV caches
  const ModelSpec& model() const { return m_; }

 private:
  // One micro-batch of T tokens at positions pos_..pos_+T-1.
  void ubatch(const std::int32_t* tokens, int T, bool want_logits, std::vector<float>& logits);
  // Blocks, each over T rows (see the .cpp files for shapes).
  void embed(const std::int32_t* tokens, int T, float* x);
  void ple_inputs(const std::int32_t* tokens, int T, const float* x, float* ple);
  void layer(int il, int T, float* x, const float* ple);
  void attention(int il, int T, const float* h, float* out);
  void rope_store_attend(int il, int T, float* q, float* k, float* v, float* o);  // one sequence's rows
  void attend(int il, int T, const float* q, float* o);
  void dense_ffn(int il, int T, const float* h, float* out);
  void moe_ffn(int il, int T, const float* x_attn, float* out);
  void ple_block(int il, int T, float* x, const float* ple);
  void head(int T, const float* x, float* logits);

  // Instrumented primitives: do the work and record counts (and time) under (op, layer).
  void mm(const char* op, int il, const QMatrix& w, const float* x, int T, float* y);
  void norm(int il, float* x, std::int64_t rows, std::int64_t n, const Vec& w);
  void record(const char* op, int il, OpCount c, std::chrono::steady_clock::time_point t0);

  const ModelSpec& m_;
  const ModelWeights& w_;
  ForwardOptions o_;
  std::vector<LayerKv> kv_;  // per layer; empty for KV-shared layers
  // A KV-owning layer's cache as floats, slot for slot (attend): positions before `upto`
  // are converted; KV-shared layers read it. A speed cache, not counted as KV bytes.
  struct KvFloat {
    std::int64_t upto = 0;
    std::vector<float> k, v;  // [slot][Hkv][Dh], slot = position % cache capacity
  };
  static constexpr std::int64_t kKvFloatBudget = std::int64_t{64} << 20;  // bytes per source layer
  std::vector<KvFloat> kv_float_;  // per layer
  std::int64_t pos_ = 0;
  // During step_batch: the sequences of the step's rows (null: the rows are this sequence's).
  struct Segment {
    Forward* f;
    int row0, T;
  };
  const std::vector<Segment>* segs_ = nullptr;
  // The step's large buffers, kept across layers and steps (grown, never shrunk): h, a [T, D]
  // (layer), g, u [T, F] (dense_ffn), q, o [T, H, Dh] (attention). A fresh vector per layer was
  // a fresh mapping per layer, zeroed and paged in every time: seconds of a long prefill spent
  // outside every op.
  std::vector<float> buf_h_, buf_a_, buf_g_, buf_u_, buf_q_, buf_o_;
  std::vector<float> buf_x_, buf_ple_, buf_head_, buf_logits_;  // step_batch's rows, PLE inputs, head inputs, logits
  static float* grow(std::vector<float>& v, std::int64_t n) {
    if (static_cast<std::int64_t>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
    return v.data();
  }
  // RoPE angles of the step's positions per (head dim, rotated pairs, theta), made by the first
  // layer that needs them and reused by the others (rope_angles is ~0.1 us a pair: E2B's 35
  // layers spent 0.45 ms a decode step on it, recomputing the same two tables).
  struct RopeTable {
    int Dh = 0, pairs = 0, T = 0;
    double theta = 0;
    std::int64_t pos = -1;
    std::vector<float> cs, sn;  // [T][pairs]
  };
  std::vector<RopeTable> rope_tables_;
  const RopeTable& rope_table(int Dh, int pairs, double theta, int T);
  Counters counters_;
  std::vector<Route> routes_;
};

int argmax(const float* logits, std::int64_t n);  // greedy next token (lowest id on ties)

}  // namespace gs::ref
