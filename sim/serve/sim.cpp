// sim.cpp: the discrete-event serving simulator (see sim.h).
#include "sim.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <list>
#include <unordered_map>
#include <queue>
#include <random>
#include <sstream>

#include "error.h"
#include "sample.h"

namespace gs::serve {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Inter-token latencies: too many to keep (a million requests x hundreds of tokens), so a
// histogram with 0.5% wide logarithmic bins from 1 us to ~3 h; the mean is exact.
class LatencyHistogram {
 public:
  LatencyHistogram() : bins_(static_cast<std::size_t>(std::log(1e10) / std::log(kRatio)) + 2, 0) {}
  void add(double s, i64 count = 1) {
    if (count <= 0) return;
    sum_ += s * static_cast<double>(count);
    n_ += count;
    mx_ = std::max(mx_, s);
    const double x = s <= kLo ? 0 : std::log(s / kLo) / std::log(kRatio) + 1;
    bins_[std::min(bins_.size() - 1, static_cast<std::size_t>(x))] += count;
  }
  double quantile(double q) const {
    if (n_ == 0) return 0;
    const double want = q * static_cast<double>(n_);
    double acc = 0;
    for (std::size_t i = 0; i < bins_.size(); ++i) {
      acc += static_cast<double>(bins_[i]);
      if (acc >= want) return i == 0 ? kLo : std::min(mx_, kLo * std::pow(kRatio, static_cast<double>(i) - 0.5));
    }
    return mx_;
  }
  Dist dist() const {
    Dist d;
    d.n = n_;
    if (n_ == 0) return d;
    d.mean = sum_ / static_cast<double>(n_);
    d.p50 = quantile(0.5), d.p90 = quantile(0.9), d.p99 = quantile(0.99), d.max = mx_;
    return d;
  }

 private:
  static constexpr double kLo = 1e-6, kRatio = 1.005;
  std::vector<i64> bins_;
  double sum_ = 0, mx_ = 0;
  i64 n_ = 0;
};

struct Seq {
  int req = 0;
  i64 target_prefill = 0;  // tokens to compute before the next token comes out
  i64 computed = 0;        // tokens in the KV cache
  i64 gen_target = 1;      // tokens this request will generate in all
  double kv = 0;           // vLLM: bytes allocated; llama.cpp: cells reserved
  double last_token_s = -1;
};

struct PlanEntry {
  int seq = 0;   // index in running
  i64 tokens = 0;
};

struct Replica {
  std::deque<int> waiting;
  std::list<std::uint32_t> prefix_lru;  // cached prefix blocks, most recently used first
  std::unordered_map<std::uint32_t, std::list<std::uint32_t>::iterator> prefix_pos;
  std::vector<Seq> running;
  std::vector<PlanEntry> plan;
  double kv_used = 0, kv_capacity = 0;
  bool busy = false;
  int outstanding() const { return static_cast<int>(waiting.size() + running.size()); }
};

class Simulator {
 public:
  Simulator(const StepCost& cost, const ServerConfig& cfg, std::vector<Request> reqs, const ClosedLoop& users,
            std::uint64_t seed, StepExecutor* exec)
      : cost_(cost), cfg_(cfg), reqs_(std::move(reqs)), users_(users), rng_(seed), exec_(exec) {
    if (cfg_.replicas < 1) input_error("--replicas: expected at least 1");
    reps_.resize(static_cast<std::size_t>(cfg_.replicas));
    for (auto& r : reps_)
      r.kv_capacity = cfg_.policy == Policy::Vllm ? cfg_.kv_pool_bytes : static_cast<double>(cfg_.n_ctx);
    if (cfg_.kv.window_tokens > 0)
      window_blocks_ = (cfg_.kv.window_tokens + cfg_.block_size - 1) / cfg_.block_size + 1;
    res_.records.reserve(reqs_.size());
  }

  ServeResult run() {
    // arrivals: open loop in the requests' order; closed loop from a heap of user wake-ups
    using Ev = std::pair<double, int>;
    std::priority_queue<Ev, std::vector<Ev>, std::greater<>> busy;  // (step end, replica)
    std::vector<double> step_end(reps_.size(), 0);
    const bool closed = users_.users > 0;
    std::priority_queue<double, std::vector<double>, std::greater<>> wakeups;
    wake_heap_ = closed ? &wakeups : nullptr;  // rejections send a closed-loop user back to thinking too
    if (closed)
      // users start in the steady state: each one's first request after a think time (the
      // exponential's residual is itself; with no think time all start at once, as a
      // benchmark's --max-concurrency does)
      for (int u = 0; u < users_.users && u < static_cast<int>(reqs_.size()); ++u) wakeups.push(think());
    std::size_t next = 0;  // next request to send
    if (!reqs_.empty()) {
      const double span = closed ? 0 : reqs_.back().arrival_s - reqs_.front().arrival_s;
      sample_dt_ = span > 0 ? span / 200 : 1.0;
    }

    auto next_arrival = [&] {
      if (next >= reqs_.size()) return kInf;
      if (closed) return wakeups.empty() ? kInf : wakeups.top();
      return reqs_[next].arrival_s;
    };
    auto start_step = [&](int ri, double t) {
      Replica& rp = reps_[static_cast<std::size_t>(ri)];
      for (;;) {
        plan(rp, t);
        if (!rp.plan.empty() || rp.waiting.empty() || !rp.running.empty()) break;
        // nothing runs and the head of the queue can never be admitted: reject it
        reject(rp.waiting.front(), t);
        rp.waiting.pop_front();
      }
      if (rp.plan.empty()) {
        rp.busy = false;
        return;
      }
      rp.busy = true;
      double dt = exec_ ? execute(rp) : step_time(rp);
      // Decode-only stretches: while nothing arrives and nobody finishes, k identical steps
      // (each sequence one token deeper) are taken at once.
      double horizon = next_arrival();
      if (closed && !busy.empty()) horizon = std::min(horizon, busy.top().first);
      if (const i64 k = exec_ ? 0 : fast_forward_steps(rp, t, dt, horizon); k > 1) {
        const double dt_last = step_time(rp, static_cast<double>(k - 1), false);
        const double total = 0.5 * (dt + dt_last) * static_cast<double>(k);
        if (t + total < horizon) {
          apply_fast_forward(rp, t, k, dt, total);
          rp.plan.clear();  // the step end only re-plans
          dt = total;
        }
      }
      step_end[static_cast<std::size_t>(ri)] = t + dt;
      busy.push({step_end[static_cast<std::size_t>(ri)], ri});
    };

    // every request arriving at this instant joins before an idle replica starts a step
    auto deliver = [&](double ta) {
      std::vector<int> wake_reps;
      while (next_arrival() == ta) {
        if (closed) wakeups.pop();
        const int ri = route();
        arrive(static_cast<int>(next), ta, ri);
        ++next;
        if (!reps_[static_cast<std::size_t>(ri)].busy) wake_reps.push_back(ri);
      }
      for (int ri : wake_reps)
        if (!reps_[static_cast<std::size_t>(ri)].busy) start_step(ri, ta);
    };

    for (;;) {
      const double ta = next_arrival();
      const double tb = busy.empty() ? kInf : busy.top().first;
      if (ta == kInf && tb == kInf) break;
      if (ta <= tb) {
        sample(ta);
        deliver(ta);
      } else {
        const int ri = busy.top().second;
        busy.pop();
        sample(tb);
        Replica& rp = reps_[static_cast<std::size_t>(ri)];
        finish_step(rp, tb, closed ? &wakeups : nullptr);
        rp.busy = false;
        // a closed-loop user's next request (zero think time) joins the next step
        if (next_arrival() == tb) deliver(tb);
        if (!rp.busy) start_step(ri, tb);
      }
    }
    return finish();
  }

 private:
  // --- KV accounting ---------------------------------------------------------
  double vllm_bytes(i64 tokens) const {
    const i64 blocks = (tokens + cfg_.block_size - 1) / cfg_.block_size;
    const i64 swa_blocks = window_blocks_ > 0 ? std::min(blocks, window_blocks_) : 0;
    return static_cast<double>(blocks * cfg_.block_size) * cfg_.kv.global_bytes_per_token +
           static_cast<double>(swa_blocks * cfg_.block_size) * cfg_.kv.sliding_bytes_per_token;
  }

  int route() {
    if (reps_.size() == 1) return 0;
    if (cfg_.router == Router::RoundRobin) return static_cast<int>(rr_++ % reps_.size());
    int best = 0;
    for (std::size_t i = 1; i < reps_.size(); ++i)
      if (reps_[i].outstanding() < reps_[static_cast<std::size_t>(best)].outstanding()) best = static_cast<int>(i);
    return best;
  }

  void arrive(int q, double t, int ri) {
    RequestRecord rec;
    rec.arrival_s = t;
    rec.prompt_tokens = std::max<i64>(reqs_[static_cast<std::size_t>(q)].prompt_tokens, 1);
    rec.gen_tokens = std::max<i64>(reqs_[static_cast<std::size_t>(q)].gen_tokens, 1);
    rec.replica = ri;
    res_.records.push_back(rec);
    Replica& rp = reps_[static_cast<std::size_t>(ri)];
    if (cfg_.policy == Policy::Ollama && cfg_.max_queue > 0 && static_cast<int>(rp.waiting.size()) >= cfg_.max_queue) {
      reject(q, t);
      return;
    }
    if (cfg_.policy == Policy::Vllm && rec.prompt_tokens >= cfg_.max_model_len) {
      reject(q, t);
      return;
    }
    rp.waiting.push_back(q);
  }

  void reject(int q, double t) {
    RequestRecord& r = res_.records[static_cast<std::size_t>(q)];
    r.rejected = true;
    r.finish_s = t;
    ++res_.rejected;
    if (users_.users > 0 && wake_heap_) wake_heap_->push(t + think());  // the user tries again after thinking
  }

  double think() {
    return users_.think_time_s > 0 ? exponential(rng_, 1.0 / users_.think_time_s) : 0.0;
  }

  // --- scheduling --------------------------------------------------------------
  void plan(Replica& rp, double t) {
    rp.plan.clear();
    if (cfg_.policy == Policy::Vllm)
      plan_vllm(rp, t);
    else
      plan_llama(rp, t);
  }

  void plan_vllm(Replica& rp, double t) {
    i64 budget = cfg_.max_num_batched_tokens;
    bool preempted = false;
    for (std::size_t i = 0; i < rp.running.size() && budget > 0; ++i) {
      Seq& s = rp.running[i];
      const i64 need = s.computed < s.target_prefill ? std::min(s.target_prefill - s.computed, budget) : 1 + cfg_.spec_tokens;
      const double want = vllm_bytes(s.computed + need);
      bool self_preempted = false;
      while (rp.kv_used - s.kv + want > rp.kv_capacity) {
        const std::size_t victim = rp.running.size() - 1;
        preempt(rp, victim);
        preempted = true;
        if (victim == i) {
          self_preempted = true;
          break;
        }
      }
      if (self_preempted) break;
      rp.kv_used += want - s.kv;
      s.kv = want;
      rp.plan.push_back({static_cast<int>(i), need});
      budget -= need;
    }
    if (preempted) return;
    while (!rp.waiting.empty() && budget > 0 && static_cast<int>(rp.running.size()) < cfg_.max_num_seqs) {
      const int q = rp.waiting.front();
      RequestRecord& rec = res_.records[static_cast<std::size_t>(q)];
      Seq s;
      s.req = q;
      s.target_prefill = rec.prompt_tokens + rec.generated;  // a preempted request recomputes its output too
      const i64 hit = prefix_hit(rp, q, rec);
      s.computed = hit;
      s.gen_target = std::min(rec.gen_tokens, cfg_.max_model_len - rec.prompt_tokens);
      if (s.gen_target < rec.gen_tokens && rec.generated == 0) ++res_.truncated;
      if (!cfg_.chunked_prefill && s.target_prefill - hit > budget) break;
      const i64 n = std::min(s.target_prefill - hit, budget);
      const double want = vllm_bytes(hit + n);
      if (rp.kv_used + want > rp.kv_capacity) break;
      rp.waiting.pop_front();
      s.kv = want;
      rp.kv_used += want;
      prefix_insert(rp, q);
      if (rec.start_s < 0) rec.start_s = t;
      rp.running.push_back(s);
      rp.plan.push_back({static_cast<int>(rp.running.size() - 1), n});
      budget -= n;
    }
  }

  // Prompt tokens of request q already in the prefix cache: its leading blocks found there
  // (at most the prompt less one token, which must be computed for the first logits).
  i64 prefix_hit(const Replica& rp, int q, const RequestRecord& rec) {
    const auto& blocks = reqs_[static_cast<std::size_t>(q)].prefix_blocks;
    if (!cfg_.prefix_caching || blocks.empty() || rec.generated > 0) return 0;
    i64 n = 0;
    for (std::uint32_t b : blocks) {
      if (!rp.prefix_pos.count(b)) break;
      ++n;
    }
    res_.prefix_lookup_tokens += rec.prompt_tokens;
    const i64 hit = std::min(n * kPrefixBlockTokens, rec.prompt_tokens - 1);
    res_.prefix_hit_tokens += std::max<i64>(hit, 0);
    return std::max<i64>(hit, 0);
  }

  // The request's blocks become the most recently used; the least recently used go when
  // more blocks are cached than the KV pool holds.
  void prefix_insert(Replica& rp, int q) {
    const auto& blocks = reqs_[static_cast<std::size_t>(q)].prefix_blocks;
    if (!cfg_.prefix_caching || blocks.empty()) return;
    if (prefix_capacity_ == 0) {
      const double per_block = vllm_bytes(kPrefixBlockTokens);
      prefix_capacity_ = per_block > 0 ? std::max<std::size_t>(1, static_cast<std::size_t>(cfg_.kv_pool_bytes / per_block)) : 1;
    }
    for (std::uint32_t b : blocks) {
      auto it = rp.prefix_pos.find(b);
      if (it != rp.prefix_pos.end()) rp.prefix_lru.erase(it->second);
      rp.prefix_lru.push_front(b);
      rp.prefix_pos[b] = rp.prefix_lru.begin();
    }
    while (rp.prefix_lru.size() > prefix_capacity_) {
      rp.prefix_pos.erase(rp.prefix_lru.back());
      rp.prefix_lru.pop_back();
    }
  }

  void preempt(Replica& rp, std::size_t j) {
    Seq& s = rp.running[j];
    rp.kv_used -= s.kv;
    RequestRecord& rec = res_.records[static_cast<std::size_t>(s.req)];
    ++rec.preemptions;
    ++res_.preemptions;
    if (exec_) exec_->release(s.req);
    rp.waiting.push_front(s.req);
    rp.running.erase(rp.running.begin() + static_cast<std::ptrdiff_t>(j));
  }

  void plan_llama(Replica& rp, double t) {
    const i64 slot_ctx = cfg_.kv_unified ? cfg_.n_ctx : cfg_.n_ctx / std::max(1, cfg_.slots);
    while (!rp.waiting.empty() && static_cast<int>(rp.running.size()) < cfg_.slots) {
      const int q = rp.waiting.front();
      RequestRecord& rec = res_.records[static_cast<std::size_t>(q)];
      if (rec.prompt_tokens >= slot_ctx) {  // "the request exceeds the available context size"
        rp.waiting.pop_front();
        reject(q, t);
        continue;
      }
      Seq s;
      s.req = q;
      s.target_prefill = rec.prompt_tokens;
      s.gen_target = std::min(rec.gen_tokens, slot_ctx - rec.prompt_tokens);
      if (s.gen_target < rec.gen_tokens) ++res_.truncated;
      s.kv = static_cast<double>(cfg_.kv_unified ? s.target_prefill + s.gen_target : slot_ctx);
      if (cfg_.kv_unified && rp.kv_used + s.kv > rp.kv_capacity) break;  // waits for cells to free
      rp.waiting.pop_front();
      rp.kv_used += s.kv;
      rec.start_s = t;
      rp.running.push_back(s);
    }
    i64 budget = cfg_.n_batch;
    for (std::size_t i = 0; i < rp.running.size(); ++i)
      if (rp.running[i].computed >= rp.running[i].target_prefill) {
        rp.plan.push_back({static_cast<int>(i), 1 + cfg_.spec_tokens});
        budget -= 1 + cfg_.spec_tokens;
      }
    for (std::size_t i = 0; i < rp.running.size() && budget > 0; ++i) {
      const Seq& s = rp.running[i];
      if (s.computed >= s.target_prefill) continue;
      const i64 n = std::min(s.target_prefill - s.computed, budget);
      rp.plan.push_back({static_cast<int>(i), n});
      budget -= n;
    }
  }

  // Seconds of the planned step; depth_offset: each decoding sequence that much deeper (the
  // last of a fast-forwarded stretch); count: add its tokens to the step statistics.
  double step_time(const Replica& rp, double depth_offset = 0, bool count = true) const {
    double T = 0, n_out = 0, attn = 0, n_dec = 0, draft_attn = 0;
    const double ub = cost_.ubatch_tokens();
    for (const auto& e : rp.plan) {
      const Seq& s = rp.running[static_cast<std::size_t>(e.seq)];
      T += static_cast<double>(e.tokens);
      if (s.computed >= s.target_prefill) {
        if (cfg_.spec_tokens > 0) {
          // verification of the draft: K + 1 query tokens, logits for each
          attn += cost_.prefill_attn_s(static_cast<double>(s.computed), static_cast<double>(e.tokens));
          n_out += static_cast<double>(e.tokens);
          if (cfg_.draft) draft_attn += cfg_.draft->decode_attn_s(static_cast<double>(s.computed));
          n_dec += 1;
        } else {
          attn += cost_.decode_attn_s(static_cast<double>(s.computed) + depth_offset);
          n_out += 1;
        }
      } else {
        double d = static_cast<double>(s.computed), left = static_cast<double>(e.tokens);
        while (left > 0) {  // one attention call per forward pass
          const double c = std::min(left, ub);
          attn += cost_.prefill_attn_s(d, c);
          d += c;
          left -= c;
        }
        if (s.computed + e.tokens >= s.target_prefill) n_out += 1;
      }
    }
    if (count) res_steps_tokens_ += T;
    double draft = 0;  // K sequential draft steps of the decoding sequences
    if (cfg_.draft && n_dec > 0)
      draft = cfg_.spec_tokens * (cfg_.draft->body_s(n_dec) + cfg_.draft->logits_s(n_dec) + draft_attn);
    return cost_.body_s(T) + cost_.logits_s(n_out) + attn + draft;
  }

  // The planned step, run by the executor; its measured seconds.
  double execute(const Replica& rp) {
    std::vector<StepItem> items;
    double T = 0;
    for (const auto& e : rp.plan) {
      const Seq& s = rp.running[static_cast<std::size_t>(e.seq)];
      StepItem it;
      it.request = s.req;
      it.depth = s.computed;
      it.tokens = e.tokens;
      it.decode = s.computed >= s.target_prefill;
      it.emits = it.decode || s.computed + e.tokens >= s.target_prefill;
      items.push_back(it);
      T += static_cast<double>(e.tokens);
    }
    res_steps_tokens_ += T;
    return exec_->run(items);
  }

  // How many steps of the planned, decode-only step can run back to back before the horizon
  // (the next arrival) with no sequence finishing and, under vLLM, every block allocated.
  i64 fast_forward_steps(const Replica& rp, double t, double dt, double horizon) const {
    if (cfg_.spec_tokens > 0 || rp.plan.empty() || !rp.waiting.empty() || dt <= 0) return 0;
    if (rp.plan.size() != rp.running.size()) return 0;
    i64 k = std::numeric_limits<i64>::max();
    for (const auto& s : rp.running) {
      if (s.computed < s.target_prefill) return 0;
      k = std::min(k, s.gen_target - res_.records[static_cast<std::size_t>(s.req)].generated - 1);
    }
    if (horizon < kInf) k = std::min<i64>(k, static_cast<i64>((horizon - t) / dt));
    k = std::min<i64>(k, 4096);
    if (k > 1 && cfg_.policy == Policy::Vllm) {
      double used = rp.kv_used;
      for (const auto& s : rp.running) used += vllm_bytes(s.computed + k) - s.kv;
      if (used > rp.kv_capacity) return 0;
    }
    return k;
  }

  // k decode steps taking `total` seconds in all, the first of them `dt0`.
  void apply_fast_forward(Replica& rp, double t, i64 k, double dt0, double total) {
    const double mean_dt = total / static_cast<double>(k);
    const double tk = t + total;
    for (auto& s : rp.running) {
      RequestRecord& rec = res_.records[static_cast<std::size_t>(s.req)];
      if (s.last_token_s >= 0) itl_.add(t + dt0 - s.last_token_s);
      itl_.add(mean_dt, k - 1);
      s.computed += k;
      rec.generated += k;
      s.last_token_s = tk;
      if (cfg_.policy == Policy::Vllm) {
        const double want = vllm_bytes(s.computed);
        rp.kv_used += want - s.kv;
        s.kv = want;
      }
    }
    res_.steps += k;
    res_steps_tokens_ += static_cast<double>(k * static_cast<i64>(rp.running.size()));
    kv_peak_ = std::max(kv_peak_, rp.kv_capacity > 0 ? rp.kv_used / rp.kv_capacity : 0);
  }

  void finish_step(Replica& rp, double t, std::priority_queue<double, std::vector<double>, std::greater<>>* wake) {
    wake_heap_ = wake;
    if (rp.plan.empty()) return;  // a fast-forwarded stretch, already applied
    ++res_.steps;
    bool any_done = false;
    for (const auto& e : rp.plan) {
      Seq& s = rp.running[static_cast<std::size_t>(e.seq)];
      RequestRecord& rec = res_.records[static_cast<std::size_t>(s.req)];
      i64 emitted = 0;
      if (s.computed >= s.target_prefill) {
        // decode: one token, or with speculation the accepted draft tokens and one more
        emitted = 1;
        if (cfg_.spec_tokens > 0) {
          while (emitted <= cfg_.spec_tokens && bernoulli(rng_, cfg_.spec_acceptance)) ++emitted;
          emitted = std::min(emitted, s.gen_target - rec.generated);
        }
        s.computed += emitted;
      } else {
        s.computed += e.tokens;
        emitted = s.computed >= s.target_prefill ? 1 : 0;
      }
      if (emitted == 0) continue;
      rec.generated += emitted;
      if (rec.first_token_s < 0)
        rec.first_token_s = t;
      else if (s.last_token_s >= 0)
        itl_.add(t - s.last_token_s);
      s.last_token_s = t;
      if (rec.generated >= s.gen_target) {
        rec.finish_s = t;
        rp.kv_used -= s.kv;
        s.kv = 0;
        if (exec_) exec_->release(s.req);
        s.req = -1 - s.req;  // mark done
        any_done = true;
        if (wake) wake->push(t + think());
      }
    }
    if (any_done)
      rp.running.erase(std::remove_if(rp.running.begin(), rp.running.end(), [](const Seq& s) { return s.req < 0; }),
                       rp.running.end());
    if (rp.running.empty()) rp.kv_used = 0;  // no drift from floating-point sums
    kv_peak_ = std::max(kv_peak_, rp.kv_capacity > 0 ? rp.kv_used / rp.kv_capacity : 0);
  }

  void sample(double t) {
    if (t < next_sample_ || res_.timeline.size() >= 4000) return;
    TimePoint p;
    p.t_s = t;
    for (const auto& r : reps_) {
      p.running += static_cast<int>(r.running.size());
      p.waiting += static_cast<int>(r.waiting.size());
      p.kv_used_fraction = std::max(p.kv_used_fraction, r.kv_capacity > 0 ? r.kv_used / r.kv_capacity : 0);
    }
    p.preemptions = res_.preemptions;
    res_.timeline.push_back(p);
    while (next_sample_ <= t) next_sample_ += sample_dt_;
  }

  ServeResult finish() {
    std::vector<double> ttft, tpot, e2e, qd;
    double out_tok = 0, in_tok = 0;
    res_.first_arrival_s = res_.records.empty() ? 0 : res_.records.front().arrival_s;
    for (const auto& r : res_.records) {
      res_.last_arrival_s = std::max(res_.last_arrival_s, r.arrival_s);
      if (r.rejected) continue;
      ++res_.completed;
      res_.last_finish_s = std::max(res_.last_finish_s, r.finish_s);
      ttft.push_back(r.ttft_s());
      e2e.push_back(r.e2e_s());
      qd.push_back(r.queue_s());
      if (r.generated > 1) tpot.push_back(r.tpot_s());
      out_tok += static_cast<double>(r.generated);
      in_tok += static_cast<double>(r.prompt_tokens);
    }
    res_.ttft_s = summarize(ttft);
    res_.tpot_s = summarize(tpot);
    res_.e2e_s = summarize(e2e);
    res_.queue_s = summarize(qd);
    res_.itl_s = itl_.dist();
    const double span = res_.last_finish_s - res_.first_arrival_s;
    if (span > 0) {
      res_.throughput_req_per_s = static_cast<double>(res_.completed) / span;
      res_.output_tok_per_s = out_tok / span;
      res_.input_tok_per_s = in_tok / span;
    }
    const double aspan = res_.last_arrival_s - res_.first_arrival_s;
    if (users_.users == 0 && aspan > 0) res_.offered_rate_per_s = static_cast<double>(res_.records.size() - 1) / aspan;
    res_.kv_peak_fraction = kv_peak_;
    res_.mean_batch_tokens = res_.steps > 0 ? res_steps_tokens_ / static_cast<double>(res_.steps) : 0;
    // Saturated (open loop): requests arriving in the last third of the arrival window waited
    // more than twice as long as those in the first third, by more than a tenth of a typical
    // service time (a queue that grows with time, not noise around a small wait).
    if (users_.users == 0 && aspan > 0) {
      double q_first = 0, q_last = 0, n_first = 0, n_last = 0;
      std::vector<double> service;
      for (const auto& r : res_.records) {
        if (r.rejected) continue;
        const double x = (r.arrival_s - res_.first_arrival_s) / aspan;
        if (x < 1.0 / 3) q_first += r.queue_s(), n_first += 1;
        if (x > 2.0 / 3) q_last += r.queue_s(), n_last += 1;
        service.push_back(r.e2e_s() - r.queue_s());
      }
      if (n_first > 0 && n_last > 0) {
        q_first /= n_first;
        q_last /= n_last;
        res_.saturated = q_last > 2 * q_first && q_last - q_first > 0.1 * summarize(service).p50;
      }
      // rejections by a full queue mean the same
      if (cfg_.policy == Policy::Ollama && res_.rejected > 0) res_.saturated = true;
    }
    return std::move(res_);
  }

  const StepCost& cost_;
  ServerConfig cfg_;
  std::vector<Request> reqs_;
  ClosedLoop users_;
  std::mt19937_64 rng_;
  std::vector<Replica> reps_;
  ServeResult res_;
  LatencyHistogram itl_;
  i64 window_blocks_ = 0;
  std::size_t rr_ = 0;
  double kv_peak_ = 0, sample_dt_ = 1, next_sample_ = 0;
  mutable double res_steps_tokens_ = 0;
  std::priority_queue<double, std::vector<double>, std::greater<>>* wake_heap_ = nullptr;
  StepExecutor* exec_ = nullptr;
  std::size_t prefix_capacity_ = 0;      // blocks each replica's prefix cache holds
};

}  // namespace

Dist summarize(std::vector<double> v) {
  Dist d;
  d.n = static_cast<i64>(v.size());
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    const double pos = p * static_cast<double>(v.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(pos);
    const std::size_t hi = lo + 1 < v.size() ? lo + 1 : lo;
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
  double s = 0;
  for (double x : v) s += x;
  d.mean = s / static_cast<double>(v.size());
  d.p50 = q(0.5), d.p90 = q(0.9), d.p99 = q(0.99), d.max = v.back();
  return d;
}

ServeResult simulate(const StepCost& cost, const ServerConfig& cfg, std::vector<Request> requests, const ClosedLoop& users,
                     std::uint64_t seed, StepExecutor* exec) {
  if (cfg.policy == Policy::Vllm && (cfg.kv_pool_bytes <= 0 || cfg.max_model_len <= 0))
    input_error("the KV cache gets no memory: the model does not fit with this memory utilization");
  if (cfg.policy != Policy::Vllm && cfg.n_ctx <= 0) input_error("-c: the context must be at least 1 token");
  return Simulator(cost, cfg, std::move(requests), users, seed, exec).run();
}

Slo parse_slo(const std::string& s, const std::string& flag) {
  Slo slo;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    const auto us = item.find('_');
    if (eq == std::string::npos || us == std::string::npos || us > eq)
      input_error(flag + ": '" + item + "' (expected METRIC_PCT=SECONDS such as ttft_p99=0.5)");
    SloLimit l;
    l.metric = item.substr(0, us);
    const std::string pct = item.substr(us + 1, eq - us - 1);
    if (l.metric != "ttft" && l.metric != "tpot" && l.metric != "itl" && l.metric != "e2e")
      input_error(flag + ": '" + l.metric + "' (expected ttft, tpot, itl or e2e)");
    if (pct == "p50") l.quantile = 0.5;
    else if (pct == "p90") l.quantile = 0.9;
    else if (pct == "p99") l.quantile = 0.99;
    else if (pct == "mean") l.quantile = -1;
    else input_error(flag + ": '" + pct + "' (expected p50, p90, p99 or mean)");
    std::size_t pos = 0;
    const std::string v = item.substr(eq + 1);
    try {
      l.limit_s = std::stod(v, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos == 0 || pos != v.size() || !std::isfinite(l.limit_s) || l.limit_s <= 0 || l.limit_s > 1e6)
      input_error(flag + ": '" + v + "' (expected seconds > 0)");
    slo.limits.push_back(l);
  }
  if (slo.limits.empty()) input_error(flag + ": empty (expected e.g. ttft_p99=0.5,tpot_p99=0.05)");
  return slo;
}

SloCheck check_slo(const ServeResult& r, const Slo& slo) {
  SloCheck c;
  c.met = r.completed > 0 && !r.saturated;
  for (const auto& l : slo.limits) {
    const Dist& d = l.metric == "ttft" ? r.ttft_s : l.metric == "tpot" ? r.tpot_s : l.metric == "itl" ? r.itl_s : r.e2e_s;
    const double v = l.quantile < 0 ? d.mean : l.quantile == 0.5 ? d.p50 : l.quantile == 0.9 ? d.p90 : d.p99;
    c.observed.push_back({l, v});
    if (v > l.limit_s) c.met = false;
  }
  // goodput: requests within every limit taken per request (the limits as thresholds)
  double good = 0;
  for (const auto& q : r.records) {
    if (q.rejected) continue;
    bool ok = true;
    for (const auto& l : slo.limits) {
      const double v = l.metric == "ttft" ? q.ttft_s() : l.metric == "tpot" ? q.tpot_s() : l.metric == "e2e" ? q.e2e_s() : q.tpot_s();
      if (v > l.limit_s) ok = false;
    }
    good += ok ? 1 : 0;
  }
  const double span = r.last_finish_s - r.first_arrival_s;
  c.goodput_req_per_s = span > 0 ? good / span : 0;
  c.good_fraction = r.completed > 0 ? good / static_cast<double>(r.completed) : 0;
  if (r.rejected > 0) c.met = false;
  return c;
}

}  // namespace gs::serve
