// serve_run.cpp: the kernel executor of serve-run (see serve_run.h).
#include "serve_run.h"

#include <chrono>

namespace gs::measure {

KernelExecutor::KernelExecutor(const ModelSpec& m, const ref::ModelWeights& w, ref::KvCacheType kv, int max_step_tokens,
                               const std::vector<serve::Request>& requests, std::uint64_t seed)
    : m_(m), w_(w), reqs_(requests), seed_(seed) {
  seq_opts_.kv_type = kv;
  seq_opts_.n_ubatch = std::max(1, max_step_tokens);
  ref::ForwardOptions d = seq_opts_;
  d.n_ctx = 1;  // the driver holds no sequence of its own
  driver_ = std::make_unique<ref::Forward>(m_, w_, d);
}

std::int32_t KernelExecutor::prompt_token(int request, i64 position) const {
  std::uint64_t x = seed_ ^ (static_cast<std::uint64_t>(request) * 0x9e3779b97f4a7c15ULL) ^
                    (static_cast<std::uint64_t>(position) * 0xbf58476d1ce4e5b9ULL);
  x ^= x >> 31;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 29;
  return static_cast<std::int32_t>(x % static_cast<std::uint64_t>(m_.n_vocab));
}

double KernelExecutor::run(const std::vector<serve::StepItem>& items) {
  std::vector<ref::Forward::BatchItem> batch;
  batch.reserve(items.size());
  for (const auto& it : items) {
    auto& seq = seqs_[it.request];
    if (!seq) {  // a new sequence: its cache, allocated before the step is timed
      const serve::Request& r = reqs_[static_cast<std::size_t>(it.request)];
      ref::ForwardOptions o = seq_opts_;
      o.n_ctx = std::min<i64>(m_.n_ctx_max, std::max<i64>(r.prompt_tokens, 1) + std::max<i64>(r.gen_tokens, 1) + 1);
      seq = std::make_unique<ref::Forward>(m_, w_, o);
    }
    ref::Forward::BatchItem b;
    b.seq = seq.get();
    b.want_logits = it.emits;
    if (it.decode) {
      b.tokens = {last_token_[it.request]};
    } else {
      for (i64 p = it.depth; p < it.depth + it.tokens; ++p) b.tokens.push_back(prompt_token(it.request, p));
    }
    batch.push_back(std::move(b));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto logits = driver_->step_batch(batch);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (std::size_t i = 0; i < items.size(); ++i)
    if (items[i].emits) last_token_[items[i].request] = ref::argmax(logits[i].data(), m_.n_vocab);
  ++steps_;
  return dt;
}

void KernelExecutor::release(int request) {
  seqs_.erase(request);
  last_token_.erase(request);
}

void KernelExecutor::warm_up() {
  ref::ForwardOptions o = seq_opts_;
  o.n_ctx = seq_opts_.n_ubatch + 1;
  ref::Forward f(m_, w_, o);
  std::vector<std::int32_t> toks;
  for (int i = 0; i < seq_opts_.n_ubatch; ++i) toks.push_back(prompt_token(-1, i));
  driver_->step_batch({{&f, toks, true}});
  driver_->step_batch({{&f, {toks[0]}, true}});
}

}  // namespace gs::measure
