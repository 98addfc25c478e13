// forward.cpp: the Gemma 4 forward pass, top to bottom.
//
//   x = embed(tokens) * sqrt(D)                          [T, D]
//   ple = per-layer inputs (E2B/E4B)                     [T, L*P]
//   for each layer il:
//     x = x + post_attn_norm(attention(attn_norm(x)))
//     x = x + post_ffn_norm(ffn(x))                      (dense GeGLU, or dense + MoE)
//     x = x + ple_post_norm(ple_proj(gelu(ple_gate(x)) * ple[il]))   (PLE models)
//     x = x * layer_scalar
//   logits = softcap(output(final_norm(x)))             [T_out, V]
//
// Sources: llama.cpp src/models/gemma4-iswa.cpp, transformers modular_gemma4.py and the
// models' config.json (models/gemma4-*.json cite each value). Blocks: layers/attention.cpp, layers/ffn.cpp, layers/ple.cpp.
#include "forward.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "layers/elementwise.h"
#include "error.h"

namespace gs::ref {

using Clock = std::chrono::steady_clock;

Forward::Forward(const ModelSpec& m, const ModelWeights& w, ForwardOptions o) : m_(m), w_(w), o_(o) {
  if (o_.n_ctx < 1 || o_.n_ctx > m.n_ctx_max)
    input_error("context of " + std::to_string(o_.n_ctx) + " tokens is beyond the limit of " + m.id + " (" +
                std::to_string(m.n_ctx_max) + " tokens)");
  if (o_.n_ubatch < 1 || o_.n_ubatch > 65536)
    input_error("micro-batch of " + std::to_string(o_.n_ubatch) + " tokens (expected 1..65536)");
  if (static_cast<int>(w.layers.size()) != m.n_layer) input_error(m.id + ": weights bound for another layer count");
  kv_.resize(static_cast<std::size_t>(m.n_layer));
  kv_float_.resize(static_cast<std::size_t>(m.n_layer));
  for (int il = 0; il < m.n_layer; ++il) {
    if (!m.owns_kv(il)) continue;
    const bool ring = m.is_sliding(il) && m.sliding_window > 0;
    const std::int64_t cap = ring ? std::min<std::int64_t>(o_.n_ctx, m.sliding_window + o_.n_ubatch) : o_.n_ctx;
    kv_[static_cast<std::size_t>(il)] = LayerKv(o_.kv_type, cap, m.n_head_kv(il), m.head_dim(il));
  }
}

std::int64_t Forward::kv_bytes() const {
  std::int64_t b = 0;
  for (const auto& k : kv_) b += k.bytes();
  return b;
}

std::vector<float> Forward::step(const std::vector<std::int32_t>& tokens) {
  const std::int64_t T = static_cast<std::int64_t>(tokens.size());
  if (pos_ + T > o_.n_ctx)
    input_error("sequence of " + std::to_string(pos_ + T) + " tokens is beyond the context of " +
                std::to_string(o_.n_ctx) + " tokens");
  for (std::int32_t t : tokens)
    if (t < 0 || t >= m_.n_vocab)
      input_error("token id " + std::to_string(t) + " outside the vocabulary 0.." + std::to_string(m_.n_vocab - 1));
  std::vector<float> logits;
  for (std::int64_t t0 = 0; t0 < T; t0 += o_.n_ubatch) {
    const int n = static_cast<int>(std::min<std::int64_t>(o_.n_ubatch, T - t0));
    const bool last = t0 + n == T;
    ubatch(tokens.data() + t0, n, o_.all_logits || last, logits);
  }
  return logits;
}

void Forward::rewind(std::int64_t n) {
  if (n < 0 || n > pos_ || n > o_.n_ubatch)
    input_error("rewind of " + std::to_string(n) + " positions at position " + std::to_string(pos_) + " (expected 0.." +
                std::to_string(std::min<std::int64_t>(pos_, o_.n_ubatch)) + ")");
  pos_ -= n;
  for (auto& f : kv_float_) f.upto = std::min(f.upto, pos_);  // mirrors convert those positions again
}

void Forward::warm_up(const std::vector<std::int32_t>& prompt) {
  if (prompt.empty()) return;
  const std::size_t chunk = std::min<std::size_t>(prompt.size(), static_cast<std::size_t>(o_.n_ubatch));
  step(std::vector<std::int32_t>(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(chunk)));
  rewind(static_cast<std::int64_t>(chunk));
  step({prompt.front()});
  rewind(1);
  counters_.reset();
  routes_.clear();
}

void Forward::fill_kv_seeded(std::int64_t depth, std::uint64_t seed) {
  if (depth < pos_ || depth > o_.n_ctx)
    input_error("KV fill to depth " + std::to_string(depth) + " at position " + std::to_string(pos_) + " (expected " +
                std::to_string(pos_) + ".." + std::to_string(o_.n_ctx) + ")");
  for (int il = 0; il < m_.n_layer; ++il) {
    if (!m_.owns_kv(il)) continue;
    LayerKv& c = kv_[static_cast<std::size_t>(il)];
    const std::size_t row = static_cast<std::size_t>(c.n_head_kv()) * static_cast<std::size_t>(c.head_dim());
    std::vector<float> k(row), v(row);
    // Only the positions the cache still holds at `depth` (a sliding ring keeps its last slots).
    for (std::int64_t p = std::max(pos_, c.oldest_held(depth - 1)); p < depth; ++p) {
      std::uint64_t s = seed ^ (static_cast<std::uint64_t>(il) << 40) ^ (static_cast<std::uint64_t>(p) * 0x9E3779B97F4A7C15ull);
      auto next = [&s] {  // splitmix64 -> uniform in [-sqrt(3), sqrt(3))
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        return static_cast<float>((static_cast<double>(z >> 11) / 9007199254740992.0 * 2.0 - 1.0) * 1.7320508075688772);
      };
      for (auto& x : k) x = next();
      for (auto& x : v) x = next();
      c.store(p, k.data(), v.data());
    }
  }
  pos_ = depth;
}

void Forward::ubatch(const std::int32_t* tokens, int T, bool want_logits, std::vector<float>& logits) {
  const std::int64_t D = m_.n_embd;
  std::vector<float> x(static_cast<std::size_t>(T * D));  // [T, D] residual stream
  embed(tokens, T, x.data());
  std::vector<float> ple;                                 // [T, L*P] per-layer inputs
  if (m_.has_ple()) {
    ple.resize(static_cast<std::size_t>(T) * m_.n_layer * m_.ple.dim);
    ple_inputs(tokens, T, x.data(), ple.data());
  }
  for (int il = 0; il < m_.n_layer; ++il) layer(il, T, x.data(), ple.data());
  if (want_logits) {
    const int T_out = o_.all_logits ? T : 1;
    const std::size_t at = logits.size();
    logits.resize(at + static_cast<std::size_t>(T_out * m_.n_vocab));
    head(T, x.data(), logits.data() + at);
  }
  pos_ += T;
}

std::vector<std::span<const float>> Forward::step_batch(const std::vector<BatchItem>& items) {
  std::vector<std::int32_t> tokens;
  std::vector<Segment> segs;
  for (const auto& it : items) {
    if (!it.seq || &it.seq->m_ != &m_ || &it.seq->w_ != &w_)
      throw std::logic_error("step_batch: every item must be a sequence of the driver's model and weights");
    const int T = static_cast<int>(it.tokens.size());
    if (T < 1) throw std::logic_error("step_batch: an item without tokens");
    if (it.seq->pos_ + T > it.seq->o_.n_ctx)
      input_error("sequence of " + std::to_string(it.seq->pos_ + T) + " tokens is beyond the context of " +
                  std::to_string(it.seq->o_.n_ctx) + " tokens");
    if (T > it.seq->o_.n_ubatch) throw std::logic_error("step_batch: an item beyond its sequence's micro-batch");
    for (const Segment& sg : segs)
      if (sg.f == it.seq) throw std::logic_error("step_batch: a sequence twice in one step");
    for (std::int32_t t : it.tokens)
      if (t < 0 || t >= m_.n_vocab)
        input_error("token id " + std::to_string(t) + " outside the vocabulary 0.." + std::to_string(m_.n_vocab - 1));
    segs.push_back({it.seq, static_cast<int>(tokens.size()), T});
    tokens.insert(tokens.end(), it.tokens.begin(), it.tokens.end());
  }
  const int T = static_cast<int>(tokens.size());
  if (T > o_.n_ubatch) throw std::logic_error("step_batch: more rows than the driver's micro-batch");
  std::vector<std::span<const float>> out(items.size());
  if (T == 0) return out;
  const std::int64_t D = m_.n_embd;
  float* x = grow(buf_x_, T * D);
  embed(tokens.data(), T, x);
  float* ple = nullptr;
  if (m_.has_ple()) {
    ple = grow(buf_ple_, static_cast<std::int64_t>(T) * m_.n_layer * m_.ple.dim);
    ple_inputs(tokens.data(), T, x, ple);
  }
  segs_ = &segs;
  try {
    for (int il = 0; il < m_.n_layer; ++il) layer(il, T, x, ple);
  } catch (...) {
    segs_ = nullptr;
    throw;
  }
  segs_ = nullptr;
  // Output head on the last row of each item that wants logits, all in one matmul.
  std::vector<std::size_t> want;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (items[i].want_logits) want.push_back(i);
  if (!want.empty()) {
    const int n = static_cast<int>(want.size());
    float* h = grow(buf_head_, n * D);
    float* logits = grow(buf_logits_, static_cast<std::int64_t>(n) * m_.n_vocab);
    for (int r = 0; r < n; ++r) {
      const Segment& sg = segs[want[static_cast<std::size_t>(r)]];
      std::copy_n(x + (sg.row0 + sg.T - 1) * D, D, h + r * D);
    }
    norm(kModelLayer, h, n, D, w_.output_norm);
    mm(op::kOutputHead, kModelLayer, w_.output, h, n, logits);
    if (m_.final_logit_softcap > 0) {
      auto t0 = Clock::now();
      softcap(logits, static_cast<std::int64_t>(n) * m_.n_vocab, static_cast<float>(m_.final_logit_softcap));
      record(op::kSoftcap, kModelLayer, count_elementwise(static_cast<std::int64_t>(n) * m_.n_vocab, kFlopsSoftcap), t0);
    }
    for (int r = 0; r < n; ++r)
      out[want[static_cast<std::size_t>(r)]] =
          std::span<const float>(logits + static_cast<std::ptrdiff_t>(r) * m_.n_vocab, static_cast<std::size_t>(m_.n_vocab));
  }
  for (const Segment& sg : segs) sg.f->pos_ += sg.T;
  return out;
}

// Token embedding: dequantize each token's row, scale by sqrt(D) (embed_scale).
void Forward::embed(const std::int32_t* tokens, int T, float* x) {
  auto t0 = Clock::now();
  const std::int64_t D = m_.n_embd;
  for (int t = 0; t < T; ++t) dequantize_matrix_row(w_.token_embd, 0, tokens[t], x + t * D);
  OpCount c;
  c.weight_bytes = T * static_cast<std::int64_t>(w_.token_embd.row_bytes);
  c.act_bytes = 4 * T * D;
  c.calls = 1;
  record(op::kEmbed, kModelLayer, c, t0);
  t0 = Clock::now();
  const float s = static_cast<float>(m_.embed_scale);
  for (std::int64_t i = 0; i < T * D; ++i) x[i] *= s;
  record(op::kResidual, kModelLayer, count_elementwise(T * D, 1), t0);
}

// One decoder layer on the residual stream x [T, D].
void Forward::layer(int il, int T, float* x, const float* ple) {
  const LayerWeights& lw = w_.layers[static_cast<std::size_t>(il)];
  const std::int64_t D = m_.n_embd, n = T * D;
  float* h = grow(buf_h_, n);  // [T, D] each
  float* a = grow(buf_a_, n);
  std::copy(x, x + n, h);

  // Attention block: pre-norm, attention, post-norm, residual.
  norm(il, h, T, D, lw.attn_norm);
  attention(il, T, h, a);
  norm(il, a, T, D, lw.post_attn_norm);
  auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) x[i] += a[i];
  record(op::kResidual, il, count_elementwise(n, 1), t0);

  // FFN block: dense GeGLU, or (MoE layers) dense MLP + routed experts.
  if (m_.is_moe(il)) {
    moe_ffn(il, T, x, a);
  } else {
    std::copy(x, x + n, h);
    norm(il, h, T, D, lw.ffn_norm);
    dense_ffn(il, T, h, a);
  }
  norm(il, a, T, D, lw.post_ffn_norm);
  t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) x[i] += a[i];
  record(op::kResidual, il, count_elementwise(n, 1), t0);

  if (m_.has_ple()) ple_block(il, T, x, ple);

  if (!lw.layer_scalar.empty()) {
    t0 = Clock::now();
    const float s = lw.layer_scalar[0];
    for (std::int64_t i = 0; i < n; ++i) x[i] *= s;
    record(op::kResidual, il, count_elementwise(n, 1, 4), t0);
  }
}

// Final norm, output head (tied: token_embd), final logit softcap.
void Forward::head(int T, const float* x, float* logits) {
  const std::int64_t D = m_.n_embd, V = m_.n_vocab;
  const int T_out = o_.all_logits ? T : 1;
  std::vector<float> h(x + (T - T_out) * D, x + T * D);  // [T_out, D]
  norm(kModelLayer, h.data(), T_out, D, w_.output_norm);
  mm(op::kOutputHead, kModelLayer, w_.output, h.data(), T_out, logits);
  if (m_.final_logit_softcap > 0) {
    auto t0 = Clock::now();
    const float cap = static_cast<float>(m_.final_logit_softcap);
    softcap(logits, T_out * V, cap);
    record(op::kSoftcap, kModelLayer, count_elementwise(T_out * V, kFlopsSoftcap), t0);
  }
}

void Forward::mm(const char* op, int il, const QMatrix& w, const float* x, int T, float* y) {
  auto t0 = Clock::now();
  matmul(w, x, T, y);
  record(op, il, count_matmul(T, w.ne0, w.ne1, static_cast<std::int64_t>(w.row_bytes)), t0);
}

// RMSNorm with a weight vector (skipped when the model has no such tensor).
void Forward::norm(int il, float* x, std::int64_t rows, std::int64_t n, const Vec& w) {
  if (w.empty()) return;
  auto t0 = Clock::now();
  rms_norm_rows(x, rows, n, w.data(), static_cast<float>(m_.norm_eps));
  record(op::kNorms, il, count_rms_norm(rows * n, true, 4 * n), t0);
}

void Forward::record(const char* op, int il, OpCount c, Clock::time_point t0) {
  c.time_s = std::chrono::duration<double>(Clock::now() - t0).count();
  counters_.add(op, il, c);
}

int argmax(const float* logits, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int>(best);
}

}  // namespace gs::ref
