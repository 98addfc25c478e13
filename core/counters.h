// counters.h: what the reference kernel counts, per op and per layer, and the
// exact rule for each count. Header-only on purpose: the simulator
// (sim/ops.cpp) includes this file and calls the same count_* functions with
// the same integers, so predicted and executed counts are equal with no tolerance.
//
// Dimension letters (sim/model.h): T tokens in the step, D model width,
// H query heads, Hkv kv heads, Dh head dim, F ffn width, E experts,
// K experts per token, W sliding window, V vocabulary, L layers, P PLE width.
//
// Units: FLOP; bytes. Fields of OpCount:
//   flops           floating-point operations (a multiply-add is 2)
//   weight_bytes    weight bytes read, type-exact (whole rows of the GGUF type)
//   kv_read_bytes   KV-cache bytes read (each cache position read once per step)
//   kv_write_bytes  KV-cache bytes written
//   act_bytes       activation bytes (f32) read and written by the op
//
// THE RULES (every op of one forward step over T tokens at positions p0..p0+T-1):
//
// Matmul ops  y[T, ne1] = W[ne1, ne0] x[T, ne0]    count_matmul(T, ne0, ne1, row_bytes)
//   flops = 2*T*ne0*ne1; weight_bytes = ne1*row_bytes (whole matrix, once per step);
//   act_bytes = 4*T*(ne0 + ne1).
//   "attn_q" (D -> H*Dh), "attn_k" (D -> Hkv*Dh, KV-owning layers only),
//   "attn_v" (D -> Hkv*Dh, KV-owning layers without K=V; on K=V layers the op
//    has no matmul and only its KV write), "attn_out" (H*Dh -> D),
//   "ffn_gate", "ffn_up" (D -> F), "ffn_down" (F -> D) of the dense MLP,
//   "moe_router" (D -> E), "ple_gate" (D -> P), "ple_proj" (P -> D),
//   "ple_model_proj" (model level, D -> L*P), "output_head" (D -> V, on the
//   tokens whose logits are produced: T_out = 1 in prefill, every token in a
//   test that asks for all logits).
//
// "moe_experts": count_moe_experts(T, K, D, Fe, n_distinct, gate_up_row_bytes, down_row_bytes)
//   flops = T*K*(2*D*2*Fe + 2*Fe*D) (fused gate_up then down, per routed token);
//   weight_bytes = n_distinct*(2*Fe*gate_up_row_bytes + D*down_row_bytes), where
//   n_distinct is the number of distinct experts routed to by any token of the
//   step (K in decode; in prefill read from the routing trace);
//   act_bytes = 4*T*K*(D + 2*Fe + Fe + D).
//
// KV cache (element bytes b: 2 for f16, 4 for f32):
//   KV write: attn_k and attn_v each write T*Hkv*Dh*b bytes (KV-owning layers).
//   "attn_scores": flops = 2*Dh*H*S where S = sum over the T queries of the
//     number of keys each one sees (global: p+1; sliding: min(p+1, W));
//     kv_read_bytes = Hkv*Dh*b*U where U = distinct cache positions read in the step
//     (global: p0+T; sliding: p0+T - max(0, p0-W+1)); act_bytes = 4*T*H*Dh.
//   "attn_softmax": flops = 5*H*S (max, subtract, exp, sum, divide).
//   "attn_values": flops = 2*Dh*H*S; kv_read_bytes as attn_scores (V instead of K);
//     act_bytes = 4*T*H*Dh.
//   KV-shared layers (kv_source != il) read the source layer's cache: attn_scores,
//   attn_softmax and attn_values are counted in the reading layer.
//
// Elementwise ops: count_elementwise(n, flops_per_element, weight_bytes):
//   flops = n*flops_per_element; act_bytes = 8*n (one f32 read and one write);
//   weight_bytes = bytes of the weight vector used (1-D tensors are F32: 4 per value), 0 if none.
//   "norms": every RMSNorm, count_rms_norm(rows*n, weighted, 4*n): kFlopsRmsNorm per
//     element, +1 with a weight vector. Model level: PLE projection norm (rows T*L, n P),
//     final norm (rows T_out, n D). Per layer: attn_norm, post_attention_norm, ffn_norm,
//     post_ffw_norm, ple post_norm (rows T, n D); q_norm (rows T*H, n Dh); k_norm and
//     the unweighted v_norm (rows T*Hkv, n Dh, KV-owning layers); MoE layers also
//     pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2 and the unweighted router-input norm.
//     A norm whose tensor the model lacks is not run and not counted.
//   "rope": kFlopsRopePerElement per rotated element, T*(H + Hkv)*R rotated elements on
//     KV-owning layers, T*H*R on shared layers; R = 2*floor(rope_fraction*Dh/2).
//   "act": GELU (kFlopsGelu) times up (+1) = 10 per element: T*F (dense MLP),
//     T*K*Fe (experts), T*P (PLE gate times the layer's PLE slice).
//   "residual": 1 FLOP per element: per layer T*D (attention residual add) + T*D (FFN
//     residual add) + T*D (PLE add, PLE models) + T*D (MoE layers: dense + expert sum)
//     + T*D with weight_bytes 4 (layer scalar, layer_scalar models);
//     model level: T*D (embedding scale) and, PLE models, T*L*P (projection scale,
//     1 per element) + T*L*P with 3 per element (table scale, add, 2^-0.5 scale).
//   "moe_route": count_elementwise(T, 5*E + 2*D + E + 2*K, router_scale ? 4*D : 0):
//     per token softmax over E, router-input scaling (2*D), top-K selection (E),
//     renormalise and expert scale (2*K); act_bytes = 8*T by the elementwise rule.
//   "embed": gather: weight_bytes = T*row_bytes(token_embd); flops 0; act 4*T*D.
//   "ple_embed": gather: weight_bytes = T*row_bytes(per_layer_token_embd); act 4*T*L*P.
//   "softcap": count_elementwise(T_out*V, kFlopsSoftcap).
// Every record adds calls = 1 (KV writes are separate records under attn_k/attn_v
// with calls 0); calls and time_s are not part of the equality check.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace gs::ref {

inline constexpr std::int64_t kFlopsRmsNorm = 3;         // square-accumulate, (rsqrt once per row), multiply
inline constexpr std::int64_t kFlopsRopePerElement = 3;  // 2 multiplies + 1 add per output element
inline constexpr std::int64_t kFlopsGelu = 9;            // tanh approximation, tanh counted as 1
inline constexpr std::int64_t kFlopsSoftmax = 5;
inline constexpr std::int64_t kFlopsSoftcap = 3;

struct OpCount {
  std::int64_t flops = 0;
  std::int64_t weight_bytes = 0;
  std::int64_t kv_read_bytes = 0;
  std::int64_t kv_write_bytes = 0;
  std::int64_t act_bytes = 0;
  std::int64_t calls = 0;
  double time_s = 0;  // measured wall time (the profile), not part of the equality check

  OpCount& operator+=(const OpCount& o) {
    flops += o.flops;
    weight_bytes += o.weight_bytes;
    kv_read_bytes += o.kv_read_bytes;
    kv_write_bytes += o.kv_write_bytes;
    act_bytes += o.act_bytes;
    calls += o.calls;
    time_s += o.time_s;
    return *this;
  }
  bool same_counts(const OpCount& o) const {
    return flops == o.flops && weight_bytes == o.weight_bytes && kv_read_bytes == o.kv_read_bytes &&
           kv_write_bytes == o.kv_write_bytes && act_bytes == o.act_bytes;
  }
};

inline OpCount count_matmul(std::int64_t T, std::int64_t ne0, std::int64_t ne1, std::int64_t row_bytes) {
  OpCount c;
  c.flops = 2 * T * ne0 * ne1;
  c.weight_bytes = ne1 * row_bytes;
  c.act_bytes = 4 * T * (ne0 + ne1);
  c.calls = 1;
  return c;
}

inline OpCount count_elementwise(std::int64_t n, std::int64_t flops_per_element, std::int64_t weight_bytes = 0) {
  OpCount c;
  c.flops = n * flops_per_element;
  c.act_bytes = 8 * n;
  c.weight_bytes = weight_bytes;
  c.calls = 1;
  return c;
}

inline OpCount count_rms_norm(std::int64_t n, bool weighted, std::int64_t weight_bytes) {
  return count_elementwise(n, kFlopsRmsNorm + (weighted ? 1 : 0), weighted ? weight_bytes : 0);
}

inline OpCount count_moe_experts(std::int64_t T, std::int64_t K, std::int64_t D, std::int64_t Fe,
                                 std::int64_t n_distinct, std::int64_t gate_up_row_bytes,
                                 std::int64_t down_row_bytes) {
  OpCount c;
  c.flops = T * K * (2 * D * 2 * Fe + 2 * Fe * D);
  c.weight_bytes = n_distinct * (2 * Fe * gate_up_row_bytes + D * down_row_bytes);
  c.act_bytes = 4 * T * K * (D + 2 * Fe + Fe + D);
  c.calls = 1;
  return c;
}

// Keys seen by the T queries at positions p0..p0+T-1 (window W, 0 = global): the sum over
// x = p0+1 .. p0+T of min(x, W) (of x when W <= 0), in closed form. The one formula the kernel
// (integers) and the estimator (doubles, for averaged depths) count attention with; every
// product halved below is even for integers (a sum of consecutive integers).
template <class N>
constexpr N attn_keys_seen(N p0, N T, N W) {
  const N a = p0 + 1, b = p0 + T;
  if (T <= 0) return 0;
  if (W <= 0 || b <= W) return (a + b) * T / 2;
  if (a >= W) return T * W;
  return (a + W) * (W - a + 1) / 2 + (b - W) * W;
}
// Distinct cache positions read by the step.
template <class N>
constexpr N attn_positions_read(N p0, N T, N W) {
  const N first = (W > 0 && p0 - W + 1 > 0) ? p0 - W + 1 : 0;
  return p0 + T - first;
}

// Op names (the contract with sim/ops.cpp).
namespace op {
inline constexpr const char* kEmbed = "embed";
inline constexpr const char* kPleEmbed = "ple_embed";
inline constexpr const char* kPleModelProj = "ple_model_proj";
inline constexpr const char* kNorms = "norms";
inline constexpr const char* kAttnQ = "attn_q";
inline constexpr const char* kAttnK = "attn_k";
inline constexpr const char* kAttnV = "attn_v";
inline constexpr const char* kRope = "rope";
inline constexpr const char* kAttnScores = "attn_scores";
inline constexpr const char* kAttnSoftmax = "attn_softmax";
inline constexpr const char* kAttnValues = "attn_values";
inline constexpr const char* kAttnOut = "attn_out";
inline constexpr const char* kFfnGate = "ffn_gate";
inline constexpr const char* kFfnUp = "ffn_up";
inline constexpr const char* kFfnDown = "ffn_down";
inline constexpr const char* kAct = "act";
inline constexpr const char* kMoeRouter = "moe_router";
inline constexpr const char* kMoeRoute = "moe_route";
inline constexpr const char* kMoeExperts = "moe_experts";
inline constexpr const char* kPleGate = "ple_gate";
inline constexpr const char* kPleProj = "ple_proj";
inline constexpr const char* kResidual = "residual";
inline constexpr const char* kOutputHead = "output_head";
inline constexpr const char* kSoftcap = "softcap";
}  // namespace op

inline constexpr int kModelLayer = -1;  // layer index of model-level ops (embeddings, head)

// Counts keyed by (op, layer). Accumulates over steps until reset().
class Counters {
 public:
  using Key = std::pair<std::string, int>;
  void add(const std::string& op, int layer, const OpCount& c) { map_[{op, layer}] += c; }
  const std::map<Key, OpCount>& all() const { return map_; }
  OpCount total() const {
    OpCount t;
    for (const auto& [k, v] : map_) t += v;
    return t;
  }
  OpCount op_total(const std::string& op) const {
    OpCount t;
    for (const auto& [k, v] : map_)
      if (k.first == op) t += v;
    return t;
  }
  void reset() { map_.clear(); }

 private:
  std::map<Key, OpCount> map_;
};

}  // namespace gs::ref
