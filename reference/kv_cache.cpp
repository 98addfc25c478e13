// kv_cache.cpp: slot arithmetic and f16/f32 conversion of the KV cache.
#include "kv_cache.h"

#include <immintrin.h>

#include <cstring>

#include "error.h"
#include "kernels/fp16.h"

namespace gs::ref {

KvCacheType kv_type_from_name(const std::string& s) {
  if (s == "f16") return KvCacheType::F16;
  if (s == "f32") return KvCacheType::F32;
  input_error("--kv-type: '" + s + "' (expected f16 or f32)");
}

const char* kv_type_name(KvCacheType t) { return t == KvCacheType::F16 ? "f16" : "f32"; }

LayerKv::LayerKv(KvCacheType type, std::int64_t cap, int n_head_kv, int head_dim)
    : type_(type), cap_(cap), hkv_(n_head_kv), dh_(head_dim) {
  const std::size_t n = static_cast<std::size_t>(cap) * static_cast<std::size_t>(n_head_kv) * static_cast<std::size_t>(head_dim) *
                        static_cast<std::size_t>(kv_type_bytes(type));
  k_.assign(n, 0);
  v_.assign(n, 0);
}

std::size_t LayerKv::offset(std::int64_t p, int g) const {
  const std::size_t slot = static_cast<std::size_t>(p % cap_);
  return ((slot * static_cast<std::size_t>(hkv_) + static_cast<std::size_t>(g)) * static_cast<std::size_t>(dh_)) *
         static_cast<std::size_t>(kv_type_bytes(type_));
}

void LayerKv::store(std::int64_t p, const float* k, const float* v) {
  const std::size_t n = static_cast<std::size_t>(hkv_) * static_cast<std::size_t>(dh_);
  const std::size_t off = offset(p, 0);
  if (type_ == KvCacheType::F32) {
    std::memcpy(k_.data() + off, k, n * 4);
    std::memcpy(v_.data() + off, v, n * 4);
    return;
  }
  f32_to_fp16_row(k, reinterpret_cast<std::uint16_t*>(k_.data() + off), n);
  f32_to_fp16_row(v, reinterpret_cast<std::uint16_t*>(v_.data() + off), n);
}

namespace {
const bool kHasF16c = __builtin_cpu_supports("avx") && cpu_has_f16c();

// F16C: 8 halves per instruction, exact (the same values as fp16_to_f32_row).
__attribute__((target("avx,f16c"))) void fp16_row_f16c(const std::uint16_t* h, float* out, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  fp16_to_f32_row(h + i, out + i, n - i);
}

// The other way: _MM_FROUND_TO_NEAREST_INT is IEEE round to nearest even, as f32_to_fp16.
__attribute__((target("avx,f16c"))) void f16_row_f16c(const float* src, std::uint16_t* dst, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) dst[i] = f32_to_fp16(src[i]);
}
}  // namespace

void f32_to_fp16_row(const float* src, std::uint16_t* dst, std::size_t n) {
  if (kHasF16c) return f16_row_f16c(src, dst, n);
  for (std::size_t i = 0; i < n; ++i) dst[i] = f32_to_fp16(src[i]);
}

void LayerKv::read(const std::vector<std::uint8_t>& buf, std::int64_t p, int g, float* dst) const {
  const std::size_t off = offset(p, g);
  if (type_ == KvCacheType::F32) {
    std::memcpy(dst, buf.data() + off, static_cast<std::size_t>(dh_) * 4);
    return;
  }
  const auto* h = reinterpret_cast<const std::uint16_t*>(buf.data() + off);
  if (kHasF16c) fp16_row_f16c(h, dst, dh_);
  else fp16_to_f32_row(h, dst, dh_);
}

}  // namespace gs::ref
