// kv_cache.h: the KV cache of one layer, f16 (default, as llama.cpp) or f32.
//
// Layout per layer: K and V each [cap slots][Hkv][Dh]; position p lives in
// slot p % cap. Global layers: cap = n_ctx (every position kept). Sliding
// layers: a ring of cap = min(n_ctx, W + n_ubatch) slots: a step of up to
// n_ubatch tokens writes its keys before its queries read, and the oldest
// query of the step still needs the W-1 keys before it (llama.cpp keeps
// W + n_ubatch cells for the same reason). KV-shared layers own no cache.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gs::ref {

enum class KvCacheType { F16, F32 };
KvCacheType kv_type_from_name(const std::string& s);  // "f16" | "f32", else InputError
const char* kv_type_name(KvCacheType t);
inline int kv_type_bytes(KvCacheType t) { return t == KvCacheType::F16 ? 2 : 4; }

// n floats to IEEE halves, round to nearest even: F16C (8 per instruction) where the CPU has
// it, else f32_to_fp16 per element; the same bits either way (a NaN stays a quiet NaN).
// The KV cache's store: the scalar conversion took 1-1.7 ms per 26B layer at a 64-token
// prefill (262144 values), more than the K projection itself (docs/performance.md).
void f32_to_fp16_row(const float* src, std::uint16_t* dst, std::size_t n);

class LayerKv {
 public:
  LayerKv() = default;
  LayerKv(KvCacheType type, std::int64_t cap, int n_head_kv, int head_dim);

  // Store the K and V rows ([Hkv*Dh] floats each) of position p.
  void store(std::int64_t p, const float* k, const float* v);
  // Read the K (or V) row of kv head g at position p into dst[Dh] (floats).
  void read_k(std::int64_t p, int g, float* dst) const { read(k_, p, g, dst); }
  void read_v(std::int64_t p, int g, float* dst) const { read(v_, p, g, dst); }
  // Oldest position still held when the newest stored one is `newest`.
  std::int64_t oldest_held(std::int64_t newest) const { return newest + 1 > cap_ ? newest + 1 - cap_ : 0; }

  // Raw rows for readers that convert in place: slot s, kv head g at element (s * Hkv + g) * Dh.
  const std::uint8_t* k_data() const { return k_.data(); }
  const std::uint8_t* v_data() const { return v_.data(); }
  std::int64_t capacity() const { return cap_; }
  std::int64_t bytes() const { return static_cast<std::int64_t>(k_.size() + v_.size()); }
  int n_head_kv() const { return hkv_; }
  int head_dim() const { return dh_; }
  KvCacheType type() const { return type_; }

 private:
  void read(const std::vector<std::uint8_t>& buf, std::int64_t p, int g, float* dst) const;
  std::size_t offset(std::int64_t p, int g) const;

  KvCacheType type_ = KvCacheType::F16;
  std::int64_t cap_ = 0;
  int hkv_ = 0, dh_ = 0;
  std::vector<std::uint8_t> k_, v_;  // [cap][Hkv][Dh] elements of type_
};

}  // namespace gs::ref
