// serve_run.h: the reference kernel serving requests for real (gemmasim serve-run), under the
// same scheduler serve-sim simulates: serve::simulate with an executor that runs each planned
// step as one batched forward pass (ref::Forward::step_batch) and reports its wall time.
#pragma once
#include <cstdint>
#include <map>
#include <memory>

#include "forward.h"
#include "serve/sim.h"

namespace gs::measure {

class KernelExecutor : public serve::StepExecutor {
 public:
  // Each request gets its own sequence (KV cache) of prompt + output tokens. Prompt tokens are
  // seeded ids (what attention and the matmuls cost does not depend on them); each decode
  // step feeds back the argmax of the last logits. max_step_tokens: the driver's micro-batch.
  KernelExecutor(const ModelSpec& m, const ref::ModelWeights& w, ref::KvCacheType kv, int max_step_tokens,
                 const std::vector<serve::Request>& requests, std::uint64_t seed);
  double run(const std::vector<serve::StepItem>& items) override;
  void release(int request) override;
  // One untimed step of a throw-away sequence (page faults, thread start-up), as llama-bench warms up.
  void warm_up();
  i64 steps() const { return steps_; }

 private:
  std::int32_t prompt_token(int request, i64 position) const;
  const ModelSpec& m_;
  const ref::ModelWeights& w_;
  ref::ForwardOptions seq_opts_;
  std::unique_ptr<ref::Forward> driver_;
  const std::vector<serve::Request>& reqs_;
  std::uint64_t seed_;
  std::map<int, std::unique_ptr<ref::Forward>> seqs_;
  std::map<int, std::int32_t> last_token_;
  i64 steps_ = 0;
};

}  // namespace gs::measure
