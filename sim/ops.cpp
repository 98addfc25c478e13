// ops.cpp: per-op FLOP and byte counts of one forward step (rules: reference/counters.h).
#include "ops.h"

#include <cmath>

namespace gs {

namespace {

const char* const kOpNames[kNumOps] = {
    ref::op::kEmbed, ref::op::kPleEmbed, ref::op::kPleModelProj, ref::op::kNorms, ref::op::kAttnQ, ref::op::kAttnK,
    ref::op::kAttnV, ref::op::kRope, ref::op::kAttnScores, ref::op::kAttnSoftmax, ref::op::kAttnValues,
    ref::op::kAttnOut, ref::op::kFfnGate, ref::op::kFfnUp, ref::op::kFfnDown, ref::op::kAct, ref::op::kMoeRouter,
    ref::op::kMoeRoute, ref::op::kMoeExperts, ref::op::kPleGate, ref::op::kPleProj, ref::op::kResidual,
    ref::op::kOutputHead, ref::op::kSoftcap,
    "sampling", "weight_upload", "layer_transfer", "allreduce", "step_overhead"};

double row_bytes_of(GgmlType t, i64 ne0) {
  const auto& info = type_info(t);
  if (info.gguf) return static_cast<double>(tensor_bytes(t, ne0));
  return static_cast<double>(ne0) * info.bits_per_weight() / 8.0;
}

MatInfo mat(const TensorInfo& t, GgmlType ty) {
  MatInfo m;
  m.ne0 = t.ne[0];
  m.ne1 = t.ne[1];
  m.row_bytes = row_bytes_of(ty, t.ne[0]);
  m.wclass = weight_class(ty);
  m.quantized = type_info(ty).quantized;
  m.type = ty;
  return m;
}

OpCost& at(OpCosts& c, Op op) { return c[static_cast<std::size_t>(op)]; }

// y[T, ne1] = W x[T, ne0]  (counters.h count_matmul).
void matmul(OpCost& c, double T, const MatInfo& w) {
  if (!w.present()) return;
  const double ne0 = static_cast<double>(w.ne0), ne1 = static_cast<double>(w.ne1);
  c.flops += 2 * T * ne0 * ne1;
  c.weight_bytes += ne1 * w.row_bytes;
  c.act_bytes += 4 * T * (ne0 + ne1);
  if (w.quantized) c.quant_weights += ne0 * ne1;
}

// counters.h count_elementwise / count_rms_norm.
void elementwise(OpCost& c, double n, double flops_per_element, double weight_bytes = 0) {
  c.flops += n * flops_per_element;
  c.act_bytes += 8 * n;
  c.weight_bytes += weight_bytes;
}
void rms_norm(OpCost& c, double n, double weight_bytes) {
  // weight_bytes > 0 <=> the norm has a weight vector.
  elementwise(c, n, static_cast<double>(ref::kFlopsRmsNorm) + (weight_bytes > 0 ? 1 : 0), weight_bytes);
}

}  // namespace

const char* op_name(Op op) { return kOpNames[static_cast<int>(op)]; }

WeightClass weight_class(GgmlType t) {
  switch (t) {
    case GgmlType::F32: case GgmlType::F64: return WeightClass::F32;
    case GgmlType::F16: return WeightClass::F16;
    case GgmlType::BF16: return WeightClass::BF16;
    case GgmlType::FP8: case GgmlType::MXFP8: return WeightClass::FP8;
    case GgmlType::NVFP4: return WeightClass::FP4;
    case GgmlType::INT4_AWQ: case GgmlType::INT4_GPTQ: case GgmlType::NF4_BNB: return WeightClass::Int4;
    default: return WeightClass::Quant;
  }
}

double expected_distinct_experts(int E, int K, double T) {
  if (E <= 0 || K <= 0 || T <= 0) return 0;
  const double p_miss = 1.0 - static_cast<double>(K) / E;  // one token does not pick a given expert
  return E * (1.0 - std::pow(p_miss, T));
}

ModelOps prepare_ops(const ModelSpec& m, const QuantRecipe& r) {
  ModelOps mo;
  mo.model_id = m.id;
  mo.recipe_id = r.id;
  mo.D = m.n_embd;
  mo.V = m.n_vocab;
  mo.L = m.n_layer;
  mo.P = m.ple.dim;
  mo.W = m.sliding_window;
  mo.has_ple = m.has_ple();
  mo.tied = m.tied_embeddings;
  mo.softcap = m.final_logit_softcap > 0;

  const auto layout = weight_layout(m, r);
  const auto& ts = layout->tensors;
  const auto& types = layout->types;
  std::vector<LayerInfo> layers(static_cast<std::size_t>(m.n_layer));
  for (int il = 0; il < m.n_layer; ++il) {
    auto& li = layers[static_cast<std::size_t>(il)];
    const auto& a = m.attn(il);
    li.sliding = m.is_sliding(il);
    li.owns_kv = m.owns_kv(il);
    li.moe = m.is_moe(il);
    li.k_eq_v = m.k_eq_v(il);
    li.v_norm = m.v_norm;
    li.qk_norm = m.qk_norm;
    li.post_norms = m.post_norms;
    li.ple = m.has_ple();
    li.layer_scalar = m.layer_scalar;
    li.router_norm = li.moe && m.moe.router_scale;
    li.moe_extra_norms = li.moe && m.post_norms && m.moe.dense_ffn > 0;
    li.H = a.n_head;
    li.Hkv = a.n_head_kv;
    li.Dh = a.head_dim;
    li.rot = 2 * static_cast<int>(std::floor(a.rope_fraction * a.head_dim / 2));
    li.F = m.ffn(il);
    if (li.moe) {
      li.E = m.moe.n_expert;
      li.K = m.moe.n_expert_used;
      li.Fe = m.moe.expert_ffn;
    }
  }
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    const GgmlType ty = types[i];
    const double bytes = static_cast<double>(layout->bytes[i]);
    mo.weights_total_bytes += bytes;
    if (t.layer < 0) {
      switch (t.role) {
        case TensorRole::TokenEmbd:
          mo.token_embd_bytes = bytes;
          mo.token_embd_row_bytes = row_bytes_of(ty, t.ne[0]);
          if (m.tied_embeddings) mo.output_head = mat(t, ty);
          break;
        case TensorRole::Output: mo.output_head = mat(t, ty); mo.output_bytes = bytes; break;
        case TensorRole::OutputNorm: mo.output_norm_bytes = bytes; break;
        case TensorRole::PleTable: mo.ple_table_bytes = bytes; mo.ple_row_bytes = row_bytes_of(ty, t.ne[0]); break;
        case TensorRole::PleModelProj: mo.ple_model_proj = mat(t, ty); break;
        case TensorRole::PleProjNorm: mo.ple_proj_norm_bytes = bytes; break;
        default: break;
      }
      continue;
    }
    auto& li = layers[static_cast<std::size_t>(t.layer)];
    li.weight_bytes += bytes;
    if (t.is_expert()) li.expert_bytes += bytes;
    switch (t.role) {
      case TensorRole::AttnQ: li.q = mat(t, ty); break;
      case TensorRole::AttnK: li.k = mat(t, ty); break;
      case TensorRole::AttnV: li.v = mat(t, ty); break;
      case TensorRole::AttnOut: li.o = mat(t, ty); break;
      case TensorRole::FfnGate: li.gate = mat(t, ty); break;
      case TensorRole::FfnUp: li.up = mat(t, ty); break;
      case TensorRole::FfnDown: li.down = mat(t, ty); break;
      case TensorRole::SharedExpGate: li.sh_gate = mat(t, ty); break;
      case TensorRole::SharedExpUp: li.sh_up = mat(t, ty); break;
      case TensorRole::SharedExpDown: li.sh_down = mat(t, ty); break;
      case TensorRole::MoeRouter: li.router = mat(t, ty); break;
      case TensorRole::PleInpGate: li.ple_gate = mat(t, ty); break;
      case TensorRole::PleProj: li.ple_proj = mat(t, ty); break;
      case TensorRole::MoeGateUpExps: case TensorRole::MoeGateExps: case TensorRole::MoeUpExps:
        // fused [D, 2Fe, E] or separate gate/up [D, Fe, E]: per-row bytes of a D-wide row
        li.exp_gate_up_row_bytes = row_bytes_of(ty, t.ne[0]);
        li.exp_wclass = weight_class(ty);
        li.exp_quantized = type_info(ty).quantized;
        li.exp_type = ty;
        break;
      case TensorRole::MoeDownExps: li.exp_down_row_bytes = row_bytes_of(ty, t.ne[0]); break;
      case TensorRole::AttnNorm: li.attn_norm_bytes = bytes; break;
      case TensorRole::AttnQNorm: li.q_norm_bytes = bytes; break;
      case TensorRole::AttnKNorm: li.k_norm_bytes = bytes; break;
      case TensorRole::PostAttnNorm: li.post_attn_norm_bytes = bytes; break;
      case TensorRole::FfnNorm: li.ffn_norm_bytes = bytes; break;
      case TensorRole::PostFfnNorm: li.post_ffn_norm_bytes = bytes; break;
      case TensorRole::MoePreNorm2: li.pre_ffn_norm2_bytes = bytes; break;
      case TensorRole::MoePostNorm1: li.post_ffn_norm1_bytes = bytes; break;
      case TensorRole::MoePostNorm2: li.post_ffn_norm2_bytes = bytes; break;
      case TensorRole::PlePostNorm: li.ple_post_norm_bytes = bytes; break;
      case TensorRole::LayerScalar: li.layer_scalar_bytes = bytes; break;
      case TensorRole::MoeRouterScale: li.router_scale_bytes = bytes; break;
      default: break;
    }
  }
  for (const auto& li : layers) {
    int idx = -1;
    for (std::size_t c = 0; c < mo.classes.size(); ++c)
      if (mo.classes[c] == li) idx = static_cast<int>(c);
    if (idx < 0) {
      idx = static_cast<int>(mo.classes.size());
      mo.classes.push_back(li);
    }
    mo.layer_class.push_back(idx);
  }
  return mo;
}

void add_layer_step(const ModelOps& mo, const LayerInfo& li, double T, double p0, double b, double n_distinct,
                    OpCosts& out) {
  add_layer_proj_step(mo, li, T, b, n_distinct, out);
  add_layer_attention_step(mo, li, T, p0, b, out);
}

void add_layer_attention_step(const ModelOps& mo, const LayerInfo& li, double T, double p0, double b, OpCosts& out) {
  const double H = li.H, Hkv = li.Hkv, Dh = li.Dh;
  const double W = li.sliding ? mo.W : 0;
  const double S = attn_keys_seen(p0, T, W), U = attn_positions_read(p0, T, W);
  OpCost& sc = at(out, Op::AttnScores);
  sc.flops += 2 * Dh * H * S;
  sc.kv_read_bytes += Hkv * Dh * b * U;
  sc.act_bytes += 4 * T * H * Dh;
  at(out, Op::AttnSoftmax).flops += static_cast<double>(ref::kFlopsSoftmax) * H * S;
  OpCost& va = at(out, Op::AttnValues);
  va.flops += 2 * Dh * H * S;
  va.kv_read_bytes += Hkv * Dh * b * U;
  va.act_bytes += 4 * T * H * Dh;
}

void add_layer_proj_step(const ModelOps& mo, const LayerInfo& li, double T, double b, double n_distinct,
                         OpCosts& out) {
  const double D = static_cast<double>(mo.D), H = li.H, Hkv = li.Hkv, Dh = li.Dh;
  // norms
  OpCost& nrm = at(out, Op::Norms);
  rms_norm(nrm, T * D, li.attn_norm_bytes);
  if (li.qk_norm) {
    rms_norm(nrm, T * H * Dh, li.q_norm_bytes);
    if (li.owns_kv) rms_norm(nrm, T * Hkv * Dh, li.k_norm_bytes);
  }
  if (li.v_norm && li.owns_kv) rms_norm(nrm, T * Hkv * Dh, 0);
  if (li.post_norms) rms_norm(nrm, T * D, li.post_attn_norm_bytes);
  rms_norm(nrm, T * D, li.ffn_norm_bytes);
  if (li.post_norms) rms_norm(nrm, T * D, li.post_ffn_norm_bytes);
  if (li.moe_extra_norms) {
    rms_norm(nrm, T * D, li.pre_ffn_norm2_bytes);
    rms_norm(nrm, T * D, li.post_ffn_norm1_bytes);
    rms_norm(nrm, T * D, li.post_ffn_norm2_bytes);
  }
  if (li.ple) rms_norm(nrm, T * D, li.ple_post_norm_bytes);
  if (li.router_norm) rms_norm(nrm, T * D, 0);

  // attention projections and KV writes
  matmul(at(out, Op::AttnQ), T, li.q);
  if (li.owns_kv) {
    matmul(at(out, Op::AttnK), T, li.k);
    at(out, Op::AttnK).kv_write_bytes += T * Hkv * Dh * b;
    if (!li.k_eq_v) matmul(at(out, Op::AttnV), T, li.v);
    at(out, Op::AttnV).kv_write_bytes += T * Hkv * Dh * b;
  }
  elementwise(at(out, Op::Rope), T * ((li.owns_kv ? H + Hkv : H) * li.rot), static_cast<double>(ref::kFlopsRopePerElement));

  matmul(at(out, Op::AttnOut), T, li.o);

  // dense MLP (and a shared expert, counted as part of it)
  OpCost& act = at(out, Op::Act);
  const double gelu = static_cast<double>(ref::kFlopsGelu) + 1;
  if (li.F > 0) {
    matmul(at(out, Op::FfnGate), T, li.gate);
    matmul(at(out, Op::FfnUp), T, li.up);
    matmul(at(out, Op::FfnDown), T, li.down);
    elementwise(act, T * static_cast<double>(li.F), gelu);
  }
  if (li.sh_up.present()) {
    matmul(at(out, Op::FfnGate), T, li.sh_gate);
    matmul(at(out, Op::FfnUp), T, li.sh_up);
    matmul(at(out, Op::FfnDown), T, li.sh_down);
    elementwise(act, T * static_cast<double>(li.sh_up.ne1), gelu);
  }

  // routed experts
  double residual = 2 * T * D;
  if (li.moe) {
    const double E = li.E, K = li.K, Fe = static_cast<double>(li.Fe);
    matmul(at(out, Op::MoeRouter), T, li.router);
    // softmax over E, router-input scales, top-K, renormalise and expert scale, per token
    elementwise(at(out, Op::MoeRoute), T, static_cast<double>(ref::kFlopsSoftmax) * E + 2 * D + E + 2 * K,
                li.router_scale_bytes);
    OpCost& ex = at(out, Op::MoeExperts);
    ex.flops += T * K * (2 * D * 2 * Fe + 2 * Fe * D);
    ex.weight_bytes += n_distinct * (2 * Fe * li.exp_gate_up_row_bytes + D * li.exp_down_row_bytes);
    ex.act_bytes += 4 * T * K * (D + 2 * Fe + Fe + D);
    if (li.exp_quantized) ex.quant_weights += n_distinct * 3 * Fe * D;
    elementwise(act, T * K * Fe, gelu);
    residual += T * D;
  }

  // per-layer embeddings
  if (li.ple) {
    matmul(at(out, Op::PleGate), T, li.ple_gate);
    matmul(at(out, Op::PleProj), T, li.ple_proj);
    elementwise(act, T * mo.P, gelu);
    residual += T * D;
  }
  if (li.layer_scalar) residual += T * D;
  elementwise(at(out, Op::Residual), residual, 1, li.layer_scalar_bytes);
}

void add_layer_attention_prefill(const ModelOps& mo, const LayerInfo& li, double D0, double P, double ub, double b,
                                 OpCosts& out) {
  if (P <= 0) return;
  const double H = li.H, Hkv = li.Hkv, Dh = li.Dh;
  const double W = li.sliding ? mo.W : 0;
  const double S = attn_keys_seen(D0, P, W);  // independent of the micro-batching
  // U summed over micro-batches: per micro-batch c (start D0 + c ub, Tc tokens),
  // global: end_c; sliding: min(end_c, Tc + W - 1).
  const double n_full = std::floor(P / ub), r = P - n_full * ub;
  double U = 0;
  if (W <= 0) {
    U = n_full * D0 + ub * n_full * (n_full + 1) / 2;
    if (r > 0) U += D0 + P;
  } else {
    double m = std::floor((ub + W - 1 - D0) / ub);
    m = m < 0 ? 0 : (m > n_full ? n_full : m);
    U = m * D0 + ub * m * (m + 1) / 2 + (n_full - m) * (ub + W - 1);
    if (r > 0) U += std::min(D0 + P, r + W - 1);
  }
  OpCost& sc = at(out, Op::AttnScores);
  sc.flops += 2 * Dh * H * S;
  sc.kv_read_bytes += Hkv * Dh * b * U;
  sc.act_bytes += 4 * P * H * Dh;
  at(out, Op::AttnSoftmax).flops += static_cast<double>(ref::kFlopsSoftmax) * H * S;
  OpCost& va = at(out, Op::AttnValues);
  va.flops += 2 * Dh * H * S;
  va.kv_read_bytes += Hkv * Dh * b * U;
  va.act_bytes += 4 * P * H * Dh;
}

void add_model_step(const ModelOps& mo, double T, double T_out, OpCosts& out) {
  const double D = static_cast<double>(mo.D), V = static_cast<double>(mo.V);
  const double LP = static_cast<double>(mo.L) * mo.P;
  OpCost& e = at(out, Op::Embed);
  e.weight_bytes += T * mo.token_embd_row_bytes;
  e.act_bytes += 4 * T * D;
  double residual = T * D;  // embedding scale
  if (mo.has_ple) {
    OpCost& pe = at(out, Op::PleEmbed);
    pe.weight_bytes += T * mo.ple_row_bytes;
    pe.act_bytes += 4 * T * LP;
    matmul(at(out, Op::PleModelProj), T, mo.ple_model_proj);
    rms_norm(at(out, Op::Norms), T * LP, mo.ple_proj_norm_bytes);
    elementwise(at(out, Op::Residual), T * LP, 1);  // projection scale
    elementwise(at(out, Op::Residual), T * LP, 3);  // table scale, add, combine scale
  }
  elementwise(at(out, Op::Residual), residual, 1);
  if (T_out > 0) {
    rms_norm(at(out, Op::Norms), T_out * D, mo.output_norm_bytes);
    matmul(at(out, Op::OutputHead), T_out, mo.output_head);
    if (mo.softcap) elementwise(at(out, Op::Softcap), T_out * V, static_cast<double>(ref::kFlopsSoftcap));
  }
}

std::map<std::pair<std::string, int>, ref::OpCount> step_counts(const ModelOps& mo, std::int64_t T, std::int64_t p0,
                                                                double kv_bytes, std::int64_t T_out,
                                                                const std::vector<int>& n_distinct) {
  std::map<std::pair<std::string, int>, ref::OpCount> out;
  auto put = [&](const OpCosts& c, int layer) {
    for (int k = 0; k < kNumKernelOps; ++k) {
      const OpCost& o = c[static_cast<std::size_t>(k)];
      if (o.flops == 0 && o.memory_bytes() == 0) continue;
      ref::OpCount rc;
      rc.flops = std::llround(o.flops);
      rc.weight_bytes = std::llround(o.weight_bytes);
      rc.kv_read_bytes = std::llround(o.kv_read_bytes);
      rc.kv_write_bytes = std::llround(o.kv_write_bytes);
      rc.act_bytes = std::llround(o.act_bytes);
      out[{kOpNames[k], layer}] += rc;
    }
  };
  OpCosts mc{};
  add_model_step(mo, static_cast<double>(T), static_cast<double>(T_out), mc);
  put(mc, ref::kModelLayer);
  for (int il = 0; il < mo.L; ++il) {
    const auto& li = mo.layer(il);
    const double nd = li.moe ? (il < static_cast<int>(n_distinct.size()) ? n_distinct[static_cast<std::size_t>(il)] : li.K) : 0;
    OpCosts lc{};
    add_layer_step(mo, li, static_cast<double>(T), static_cast<double>(p0), kv_bytes, nd, lc);
    put(lc, il);
  }
  return out;
}

}  // namespace gs
