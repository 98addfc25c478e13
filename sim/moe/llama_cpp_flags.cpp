// llama_cpp_flags.cpp: rounding a per-expert placement to llama.cpp's whole-layer placements.
#include "moe/llama_cpp_flags.h"

#include <algorithm>
#include <numeric>

namespace gs::moe {

std::string llama_cpp_args(const std::vector<std::uint8_t>& cpu, const PolicyContext& ctx, bool fused) {
  const int nl = ctx.n_slots();
  int n_cpu = 0;
  for (auto c : cpu) n_cpu += c;
  if (n_cpu == 0) return "-ngl 99";
  if (n_cpu == nl) return "-ngl 99 --cpu-moe";
  // --n-cpu-moe N: CPU exactly on the MoE layers below model layer N, N = last CPU layer + 1.
  int last_cpu = -1;
  for (int s = 0; s < nl; ++s)
    if (cpu[static_cast<std::size_t>(s)]) last_cpu = s;
  bool prefix = true;
  for (int s = 0; s < nl; ++s) prefix = prefix && (cpu[static_cast<std::size_t>(s)] != 0) == (s <= last_cpu);
  if (prefix) return "-ngl 99 --n-cpu-moe " + std::to_string(ctx.layers[static_cast<std::size_t>(last_cpu)] + 1);
  std::string alt;
  for (int s = 0; s < nl; ++s)
    if (cpu[static_cast<std::size_t>(s)]) alt += (alt.empty() ? "" : "|") + std::to_string(ctx.layers[static_cast<std::size_t>(s)]);
  return std::string("-ngl 99 -ot \"blk\\.(") + alt + ")\\.ffn_(" + (fused ? "gate_up" : "gate|up") + "|down)_exps=CPU\"";
}

Realisation realise_llama_cpp(const std::vector<std::uint8_t>& res, const PolicyContext& ctx, bool fused) {
  const std::size_t nl = static_cast<std::size_t>(ctx.n_slots()), e = static_cast<std::size_t>(ctx.n_expert());
  Realisation r;
  std::vector<int> on(nl, 0);
  for (std::size_t s = 0; s < nl; ++s)
    for (std::size_t x = 0; x < e; ++x) on[s] += res[s * e + x];
  r.exact = std::all_of(on.begin(), on.end(), [&](int n) { return n == 0 || n == static_cast<int>(e); });
  r.cpu_layer.assign(nl, 1);
  if (r.exact) {
    for (std::size_t s = 0; s < nl; ++s) r.cpu_layer[s] = on[s] == 0;
  } else {
    std::vector<std::size_t> order(nl);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return on[a] != on[b] ? on[a] > on[b] : a > b;
    });
    double used = 0;
    for (std::size_t s : order) {
      const double b = ctx.layer_bytes(static_cast<int>(s));
      if (used + b <= ctx.vram_budget_bytes) {
        r.cpu_layer[s] = 0;
        used += b;
      }
    }
  }
  for (std::size_t s = 0; s < nl; ++s) {
    if (!r.cpu_layer[s]) r.gpu_expert_bytes += ctx.layer_bytes(static_cast<int>(s));
    r.experts_moved += r.cpu_layer[s] ? on[s] : static_cast<int>(e) - on[s];
  }
  r.args = llama_cpp_args(r.cpu_layer, ctx, fused);
  return r;
}

}  // namespace gs::moe
