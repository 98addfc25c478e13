// weights.cpp: bind GGUF tensors (or seeded in-memory ones) to the forward pass's slots.
#include "weights.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "data_paths.h"

#include "error.h"

namespace gs::ref {

namespace {

struct Slot {
  QMatrix* mat = nullptr;
  Vec* vec = nullptr;
};

// Where a tensor of the list goes. Roles the forward pass does not use
// (biases, sinks, shared experts of other architectures) map to no slot.
Slot slot_for(ModelWeights& w, const TensorInfo& t) {
  if (t.layer < 0) {
    switch (t.role) {
      case TensorRole::TokenEmbd: return {&w.token_embd, nullptr};
      case TensorRole::Output: return {&w.output, nullptr};
      case TensorRole::OutputNorm: return {nullptr, &w.output_norm};
      case TensorRole::PleTable: return {&w.ple_table, nullptr};
      case TensorRole::PleModelProj: return {&w.ple_model_proj, nullptr};
      case TensorRole::PleProjNorm: return {nullptr, &w.ple_proj_norm};
      default: return {};
    }
  }
  LayerWeights& l = w.layers[static_cast<std::size_t>(t.layer)];
  switch (t.role) {
    case TensorRole::AttnNorm: return {nullptr, &l.attn_norm};
    case TensorRole::AttnQ: return {&l.wq, nullptr};
    case TensorRole::AttnK: return {&l.wk, nullptr};
    case TensorRole::AttnV: return {&l.wv, nullptr};
    case TensorRole::AttnOut: return {&l.wo, nullptr};
    case TensorRole::AttnQNorm: return {nullptr, &l.q_norm};
    case TensorRole::AttnKNorm: return {nullptr, &l.k_norm};
    case TensorRole::PostAttnNorm: return {nullptr, &l.post_attn_norm};
    case TensorRole::FfnNorm: return {nullptr, &l.ffn_norm};
    case TensorRole::FfnGate: return {&l.ffn_gate, nullptr};
    case TensorRole::FfnUp: return {&l.ffn_up, nullptr};
    case TensorRole::FfnDown: return {&l.ffn_down, nullptr};
    case TensorRole::PostFfnNorm: return {nullptr, &l.post_ffn_norm};
    case TensorRole::MoeRouter: return {&l.router, nullptr};
    case TensorRole::MoeRouterScale: return {nullptr, &l.router_scale};
    case TensorRole::MoeGateUpExps: return {&l.gate_up_exps, nullptr};
    case TensorRole::MoeGateExps: return {&l.gate_exps, nullptr};
    case TensorRole::MoeUpExps: return {&l.up_exps, nullptr};
    case TensorRole::MoeDownExps: return {&l.down_exps, nullptr};
    case TensorRole::MoeExpertScale: return {nullptr, &l.expert_scale};
    case TensorRole::MoePreNorm2: return {nullptr, &l.pre_ffn_norm_2};
    case TensorRole::MoePostNorm1: return {nullptr, &l.post_ffn_norm_1};
    case TensorRole::MoePostNorm2: return {nullptr, &l.post_ffn_norm_2};
    case TensorRole::PleInpGate: return {&l.ple_gate, nullptr};
    case TensorRole::PleProj: return {&l.ple_proj, nullptr};
    case TensorRole::PlePostNorm: return {nullptr, &l.ple_post_norm};
    case TensorRole::LayerScalar: return {nullptr, &l.layer_scalar};
    default: return {};
  }
}

std::size_t row_bytes_of(GgmlType type, std::int64_t ne0) { return static_cast<std::size_t>(tensor_bytes(type, ne0)); }

void check_supported(const ModelSpec& m) {
  if (m.arch != "gemma4" && m.arch != "gemma3")
    input_error(m.file + ": arch '" + m.arch + "': the reference kernel runs gemma4 (and gemma3-style) models only");
  if (m.attn_bias || m.attn_sinks || m.moe.expert_bias || m.moe.router_bias || m.moe.shared_expert_ffn > 0)
    input_error(m.file + ": attention bias/sinks, expert biases and shared experts are not supported by the reference kernel");
}

void finish(const ModelSpec& m, ModelWeights& w) {
  if (m.tied_embeddings) w.output = w.token_embd;
}

// splitmix64: a tiny seeded generator, identical on every platform.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }  // [-1, 1)
};

void fill_vector(const TensorInfo& t, Rng& rng, Vec& v) {
  v.resize(static_cast<std::size_t>(t.n_elements()));
  float center = 1.0f, spread = 0.25f;
  if (t.role == TensorRole::LayerScalar) spread = 0.2f;
  // q/k norm weights near 0.3: attention scores (scale 1.0 in Gemma 4) of order 1 instead of
  // sqrt(Dh), so softmax is not near-argmax and small rounding differences stay small.
  if (t.role == TensorRole::AttnQNorm || t.role == TensorRole::AttnKNorm) center = 0.3f, spread = 0.1f;
  if (t.role == TensorRole::MoeExpertScale) spread = 0.5f;
  for (auto& x : v) x = center + spread * rng.uniform();
}

}  // namespace

void dequantize_matrix_row(const QMatrix& w, std::int64_t e, std::int64_t r, float* dst) {
  if (!w.interleaved) return dequantize_row(w.type, w.row(e, r), dst, w.ne0);
  const std::int64_t row = e * w.ne1 + r;
  thread_local std::vector<std::uint8_t> rows;
  rows.resize(kInterleaveRows * w.row_bytes);
  deinterleave_group(w, row / kInterleaveRows, rows.data());
  dequantize_row(w.type, rows.data() + (row % kInterleaveRows) * w.row_bytes, dst, w.ne0);
}

namespace {
// The matrices the forward pass multiplies by (every step reads all of their bytes).
std::vector<QMatrix*> matmul_matrices(ModelWeights& w) {
  std::vector<QMatrix*> v = {&w.output, &w.ple_model_proj};
  for (LayerWeights& l : w.layers)
    for (QMatrix* q : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down, &l.router, &l.gate_up_exps,
                       &l.gate_exps, &l.up_exps, &l.down_exps, &l.ple_gate, &l.ple_proj})
      v.push_back(q);
  return v;
}

std::size_t matrix_bytes(const QMatrix& q) { return q.row_bytes * static_cast<std::size_t>(q.ne1 * q.ne2); }

// One arena for the copies of `mats`, each 64-byte aligned (the kernel's loads stay inside cache
// lines), as transparent huge pages: with 4 KiB pages the hardware prefetchers stop at every
// page boundary, and large matrices stream markedly slower than from a huge-page mapping.
// Pages are touched as they are written. Returns each matrix's destination (none: empty).
std::vector<std::uint8_t*> huge_arena(ModelWeights& w, const std::vector<QMatrix*>& mats) {
  std::size_t total = 0;
  for (const QMatrix* q : mats) total += (matrix_bytes(*q) + 63) / 64 * 64;
  if (total == 0) return {};
  w.arenas.push_back(alloc_huge_pages(total));
  std::uint8_t* at = w.arenas.back().get();
  std::vector<std::uint8_t*> dst;
  for (const QMatrix* q : mats) {
    dst.push_back(at);
    at += (matrix_bytes(*q) + 63) / 64 * 64;
  }
  return dst;
}
}  // namespace

std::int64_t prefault_weights(ModelWeights& w) {
  std::int64_t n = 0;
  std::vector<const void*> seen;
  for (const QMatrix* q : matmul_matrices(w)) {
    if (q->data == nullptr || q->interleaved || std::find(seen.begin(), seen.end(), q->data) != seen.end()) continue;
    seen.push_back(q->data);
    const std::size_t bytes = q->row_bytes * static_cast<std::size_t>(q->ne1 * q->ne2);
    const auto* p = static_cast<const volatile std::uint8_t*>(q->data);
    std::uint8_t sink = 0;
    for (std::size_t i = 0; i < bytes; i += 4096) sink = static_cast<std::uint8_t>(sink + p[i]);
    if (bytes > 0) sink = static_cast<std::uint8_t>(sink + p[bytes - 1]);
    (void)sink;
    n += static_cast<std::int64_t>(bytes);
  }
  return n;
}

std::int64_t interleave_weights(ModelWeights& w, const GgufFile* file) {
  const bool tied = w.output.data == w.token_embd.data;
  std::vector<QMatrix*> mats;
  for (QMatrix* q : matmul_matrices(w))
    if (can_interleave(*q) && interleaved_kernel_active(q->type)) mats.push_back(q);
  const std::vector<std::uint8_t*> dsts = huge_arena(w, mats);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < dsts.size(); ++i) {
    QMatrix* q = mats[i];
    const std::int64_t groups = q->ne2 * q->ne1 / kInterleaveRows;
    const std::size_t group_bytes = kInterleaveRows * q->row_bytes;
    std::uint8_t* dst = dsts[i];
    total += static_cast<std::int64_t>(matrix_bytes(*q));
    // 8 MiB at a time, each slice's source pages released after its copy: the resident
    // set never holds more than a slice twice.
    const std::int64_t step = std::max<std::int64_t>(1, (std::int64_t{8} << 20) / static_cast<std::int64_t>(group_bytes));
    for (std::int64_t g0 = 0; g0 < groups; g0 += step) {
      const std::int64_t g1 = std::min(groups, g0 + step);
#pragma omp parallel for schedule(static)
      for (std::int64_t g = g0; g < g1; ++g) interleave_groups(*q, g, g + 1, dst);
      if (file)
        file->release(static_cast<const std::uint8_t*>(q->data) + static_cast<std::size_t>(g0) * group_bytes,
                      static_cast<std::size_t>(g1 - g0) * group_bytes);
    }
    q->data = dst;
    q->interleaved = true;
  }
  if (tied) w.token_embd = w.output;  // the embedding gathers its rows from the same copy
  return total;
}

std::int64_t huge_page_weights(ModelWeights& w, const GgufFile* file) {
  const bool tied = w.output.data == w.token_embd.data;
  std::vector<QMatrix*> mats;
  std::vector<const void*> seen;
  for (QMatrix* q : matmul_matrices(w)) {
    if (q->data == nullptr || q->interleaved || std::find(seen.begin(), seen.end(), q->data) != seen.end()) continue;
    seen.push_back(q->data);
    mats.push_back(q);
  }
  const std::vector<std::uint8_t*> dsts = huge_arena(w, mats);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < dsts.size(); ++i) {
    QMatrix* q = mats[i];
    const std::size_t bytes = matrix_bytes(*q);
    std::uint8_t* dst = dsts[i];
    total += static_cast<std::int64_t>(bytes);
    const auto* src = static_cast<const std::uint8_t*>(q->data);
    constexpr std::size_t kSlice = std::size_t{8} << 20;  // source pages released slice by slice
    for (std::size_t o = 0; o < bytes; o += kSlice) {
      const std::size_t n = std::min(kSlice, bytes - o);
      std::memcpy(dst + o, src + o, n);
      if (file) file->release(src + o, n);
    }
    // Every QMatrix viewing the same bytes (the tied output / embedding) follows the copy.
    const void* old = q->data;
    for (QMatrix* other : matmul_matrices(w))
      if (other->data == old) other->data = dst;
    if (tied && w.token_embd.data == old) w.token_embd.data = dst;
  }
  return total;
}

ModelWeights bind_weights(const ModelSpec& m, const GgufFile& f) {
  check_supported(m);
  ModelWeights w;
  w.layers.resize(static_cast<std::size_t>(m.n_layer));
  for (const TensorInfo& t : weight_tensors(m)) {
    Slot s = slot_for(w, t);
    if (!s.mat && !s.vec) continue;
    const GgufTensor& g = f.require(t.name);
    for (int d = 0; d < 3; ++d)
      if (g.ne[d] != t.ne[static_cast<std::size_t>(d)])
        input_error(f.path() + ": tensor " + t.name + ": ne[" + std::to_string(d) + "] = " + std::to_string(g.ne[d]) +
                    ", the model " + m.id + " expects " + std::to_string(t.ne[static_cast<std::size_t>(d)]));
    if (g.ne[3] != 1)  // no Gemma 4 tensor has a fourth dimension; as_matrix would fold it into the experts
      input_error(f.path() + ": tensor " + t.name + ": ne[3] = " + std::to_string(g.ne[3]) + ", the model " + m.id +
                  " expects 1");
    if (!row_compatible(g.type, g.ne[0]))
      input_error(f.path() + ": tensor " + t.name + ": row of " + std::to_string(g.ne[0]) +
                  " weights does not fit type " + type_info(g.type).name);
    w.total_bytes += static_cast<std::int64_t>(g.bytes);
    if (s.mat) {
      *s.mat = g.as_matrix();
    } else {
      s.vec->resize(static_cast<std::size_t>(t.n_elements()));
      dequantize_row(g.type, g.data, s.vec->data(), t.n_elements());
    }
  }
  finish(m, w);
  return w;
}

ModelWeights random_weights(const ModelSpec& m, GgmlType type, std::uint64_t seed) {
  check_supported(m);
  ModelWeights w;
  w.layers.resize(static_cast<std::size_t>(m.n_layer));
  std::uint64_t index = 0;
  for (const TensorInfo& t : weight_tensors(m)) {
    Rng rng{seed * 0x100000001B3ull + (++index) * 0x9E3779B97F4A7C15ull};
    Slot s = slot_for(w, t);
    if (!s.mat && !s.vec) continue;
    if (s.vec) {
      fill_vector(t, rng, *s.vec);
      w.total_bytes += 4 * t.n_elements();
      continue;
    }
    const GgmlType ty = row_compatible(type, t.ne[0]) ? type : GgmlType::F32;
    QMatrix q;
    q.type = ty;
    q.ne0 = t.ne[0];
    q.ne1 = t.ne[1];
    q.ne2 = t.ne[2];
    q.row_bytes = row_bytes_of(ty, q.ne0);
    const std::size_t bytes = q.row_bytes * static_cast<std::size_t>(q.ne1 * q.ne2);
    w.owned.emplace_back(new std::uint8_t[bytes]);
    q.data = w.owned.back().get();
    w.total_bytes += static_cast<std::int64_t>(bytes);
    // Router rows get logits of spread ~2 (its input has unit norm), as a trained
    // router's: near-uniform probabilities would make top-K a coin toss.
    const float amp = t.role == TensorRole::MoeRouter ? 2.0f * std::sqrt(3.0f) : std::sqrt(3.0f / static_cast<float>(q.ne0));
    std::vector<float> row(static_cast<std::size_t>(q.ne0));
    for (std::int64_t e = 0; e < q.ne2; ++e)
      for (std::int64_t r = 0; r < q.ne1; ++r) {
        for (auto& x : row) x = amp * rng.uniform();
        quantize_row(ty, row.data(), const_cast<std::uint8_t*>(q.row(e, r)), q.ne0);
      }
    *s.mat = q;
  }
  finish(m, w);
  return w;
}

ModelSpec model_for_gguf(const GgufFile& f, const std::string& spec) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "gemma4") input_error(f.path() + ": general.architecture is '" + arch + "' (the reference kernel runs gemma4)");
  const std::string a = arch + ".";
  auto get_or = [&](const std::string& key, std::int64_t def) { return f.find(key) ? f.get_int(key) : def; };
  const std::int64_t L = f.get_int(a + "block_count"), D = f.get_int(a + "embedding_length");
  const std::int64_t P = get_or(a + "embedding_length_per_layer_input", 0), E = get_or(a + "expert_count", 0);
  const std::int64_t V = f.require("token_embd.weight").ne[1];
  auto matches = [&](const ModelSpec& m) {
    return m.arch == arch && m.n_layer == L && m.n_embd == D && m.n_vocab == V && m.ple.dim == P && m.moe.n_expert == E;
  };
  const std::string shape = std::to_string(L) + " layers, width " + std::to_string(D) + ", vocabulary " +
                            std::to_string(V) + ", PLE " + std::to_string(P) + ", experts " + std::to_string(E);
  if (!spec.empty()) {
    ModelSpec m = find_model(spec);
    if (!matches(m)) input_error(f.path() + ": does not have the shape of " + m.id + " (file: " + shape + ")");
    return m;
  }
  namespace fs = std::filesystem;
  for (const char* dir : {"models", "models/tiny"}) {
    const std::string d = data_path(dir);
    if (!fs::exists(d)) continue;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const auto& p : files) {
      ModelSpec m = load_model_file(p);
      if (matches(m)) return m;
    }
  }
  input_error(f.path() + ": no bundled gemma4 model has this shape (" + shape + "); pass --spec FILE.json");
}

}  // namespace gs::ref
