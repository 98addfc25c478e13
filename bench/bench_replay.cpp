// bench_replay: routing events replayed per second, per policy, on one core.
// Target (issue 6): at least 20 million events/s. An event is one (token, layer, expert)
// routing decision: a trace of T tokens has T x NL x K of them.
// Time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a busy shared machine
// slows the figure less than wall time would; wall time is printed beside it.
// Usage: bench_replay [tokens=40000] [prompt=0] [skew=1.0] [locality=0.3]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "moe/policies.h"
#include "moe/replay.h"
#include "moe/trace_gen.h"

using namespace gs::moe;

static double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int main(int argc, char** argv) {
  const std::size_t tokens = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 40000;
  const std::size_t prompt = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const double skew = argc > 3 ? std::atof(argv[3]) : 1.0;
  const double locality = argc > 4 ? std::atof(argv[4]) : 0.3;
  // Gemma 4 26B A4B shape (models/gemma4-26b-a4b.json): 30 MoE layers, 128 experts, top-8.
  TraceGenParams p;
  p.shape = {30, 128, 8};
  p.n_tokens = tokens;
  p.n_prompt = prompt;
  p.skew = {skew};
  p.locality = locality;
  p.with_weights = false;
  const Trace tr = generate_trace(p);
  p.seed = 2;
  const Trace prof = generate_trace(p);

  PolicyContext c;
  c.shape = tr.shape;
  c.layers = tr.layers;
  c.cost.expert_bytes.assign(tr.layers.size(), 3.94e6);  // Q4_K_M expert (15.13 GB / 3840)
  c.cost.flops_per_token = 6.0 * 2816 * 704;
  c.cost.gpu_bytes_per_s = 806e9;
  c.cost.gpu_flops_per_s = 100e12;
  c.cost.cpu_bytes_per_s = 45e9;
  c.cost.cpu_flops_per_s = 0.9e12;
  c.cost.link_bytes_per_s = 20e9;
  c.cost.matvec_max_tokens = 8;  // decode experts as mat-vecs with dequant work, as place does
  c.cost.gpu_vector_flops_per_s = 40e12;
  c.cost.cpu_vector_flops_per_s = 0.9e12;
  c.cost.gpu_dequant_flops_per_token = 12 * 3.0 * 2816 * 704;
  c.cost.cpu_dequant_flops_per_token = 12 * 3.0 * 2816 * 704;
  c.vram_budget_bytes = 8e9;  // about half the experts
  c.profile_counts = expert_counts(prof);
  ReplayConfig cfg;
  SimpleRestModel rest{1.9e9, 2 * 1.1e9, 806e9, 100e12, 1e-3};
  cfg.rest_s = rest;

  std::printf("trace: %zu tokens (%zu prompt) x %d layers x top-%d = %.1f M events; skew %.2f, locality %.2f\n", tr.n_tokens(),
              prompt, tr.n_slots(), tr.k(), tr.n_events() / 1e6, skew, locality);
  std::printf("%-14s %12s %10s %10s %10s\n", "policy", "M events/s", "cpu ms", "wall ms", "hit %");
  double worst = 1e300;
  for (const auto& name : comparable_policy_names()) {
    auto pol = make_policy(name);
    ReplayResult r = replay(tr, *pol, c, cfg);  // warm-up
    const int reps = 3;
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_s();
    for (int i = 0; i < reps; ++i) r = replay(tr, *pol, c, cfg);
    const double s = (thread_cpu_s() - c0) / reps;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double rate = static_cast<double>(tr.n_events()) / s;
    worst = std::min(worst, rate);
    std::printf("%-14s %12.1f %10.2f %10.2f %10.1f\n", name.c_str(), rate / 1e6, s * 1e3, wall * 1e3, 100 * r.hit_rate());
  }
  std::printf("slowest policy: %.1f M events/s (target >= 20)\n", worst / 1e6);
  return worst >= 20e6 ? 0 : 1;
}
