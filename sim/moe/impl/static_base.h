// static_base.h: shared pieces of the static policies (a fixed resident map).
#pragma once
#include <algorithm>

#include "moe/placement_policy.h"

namespace gs::moe::impl {

// A fixed set of GPU-resident experts; every other expert is computed on the CPU.
class StaticMapPolicy : public PlacementPolicy {
 public:
  double place(const StepInfo&, int slot, const ExpertUse* uses, int n, Where* where) override {
    const std::uint8_t* r = &res_[static_cast<std::size_t>(slot) * static_cast<std::size_t>(e_)];
    for (int i = 0; i < n; ++i) where[i] = r[uses[i].expert] ? Where::Gpu : Where::Cpu;
    return 0.0;
  }
  double expert_vram_bytes() const override { return bytes_; }
  bool is_static() const override { return true; }
  std::vector<std::uint8_t> resident_map() const override { return res_; }

 protected:
  // Sets the map and the bytes it holds.
  void set_map(const PolicyContext& ctx, std::vector<std::uint8_t> res) {
    e_ = ctx.n_expert();
    res_ = std::move(res);
    bytes_ = 0;
    for (int s = 0; s < ctx.n_slots(); ++s)
      for (int x = 0; x < e_; ++x)
        if (res_[static_cast<std::size_t>(s * e_ + x)]) bytes_ += ctx.cost.expert_bytes[static_cast<std::size_t>(s)];
  }
  int e_ = 0;
  std::vector<std::uint8_t> res_;  // [NL, E]
  double bytes_ = 0;
};

// Whole layers on the GPU or the CPU, as llama.cpp places them (--n-cpu-moe, --cpu-moe, -ot).
// llama.cpp semantics: a CPU layer's experts are computed on the CPU, except in steps of at
// least op_offload_min_tokens tokens, where the scheduler copies the layer's whole expert
// tensors (all E experts) to the GPU and computes there.
class LayerPolicy : public StaticMapPolicy {
 public:
  double place(const StepInfo& st, int slot, const ExpertUse* uses, int n, Where* where) override {
    if (gpu_layer_[static_cast<std::size_t>(slot)]) {
      std::fill(where, where + n, Where::Gpu);
      return 0.0;
    }
    if (offload_min_ > 0 && st.n_tokens >= static_cast<std::uint32_t>(offload_min_)) {
      std::fill(where, where + n, Where::Transfer);
      return (e_ - n) * expert_bytes_[static_cast<std::size_t>(slot)];
    }
    std::fill(where, where + n, Where::Cpu);
    return 0.0;
  }

 protected:
  // cpu[s] = 1: slot s's experts on the CPU.
  void set_layers(const PolicyContext& ctx, const std::vector<std::uint8_t>& cpu) {
    const std::size_t nl = static_cast<std::size_t>(ctx.n_slots()), e = static_cast<std::size_t>(ctx.n_expert());
    std::vector<std::uint8_t> res(nl * e, 0);
    gpu_layer_.assign(nl, 0);
    for (std::size_t s = 0; s < nl; ++s)
      if (!cpu[s]) {
        gpu_layer_[s] = 1;
        std::fill(res.begin() + static_cast<std::ptrdiff_t>(s * e), res.begin() + static_cast<std::ptrdiff_t>((s + 1) * e), 1);
      }
    offload_min_ = ctx.op_offload_min_tokens;
    expert_bytes_ = ctx.cost.expert_bytes;
    set_map(ctx, std::move(res));
  }
  std::vector<std::uint8_t> gpu_layer_;
  std::vector<double> expert_bytes_;
  int offload_min_ = 0;
};

}  // namespace gs::moe::impl
