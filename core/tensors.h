// tensors.h: the weight tensors of a model, named as llama.cpp names them in GGUF.
//
// This list is the single source for parameter counts, predicted file sizes
// (with a quantization recipe), the synthetic GGUF writer and the reference
// kernel's loader. Shapes use ggml's order: ne[0] is the row length (the
// input dimension of y = W x), ne[1] the number of rows, ne[2] the experts.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model.h"

namespace gs {

enum class TensorRole {
  TokenEmbd,     // token_embd [D, V]; also the output head when tied
  Output,        // output [D, V] (untied lm head)
  OutputNorm,    // output_norm [D]
  PleTable,      // per_layer_token_embd [L*P, V_ple]
  PleModelProj,  // per_layer_model_proj [D, L*P]
  PleProjNorm,   // per_layer_proj_norm [P]
  AttnNorm, AttnQ, AttnK, AttnV, AttnOut, AttnQNorm, AttnKNorm,
  AttnQBias, AttnKBias, AttnVBias, AttnOutBias, AttnSinks,
  PostAttnNorm,
  FfnNorm, FfnGate, FfnUp, FfnDown, PostFfnNorm,
  // MoE (Gemma 4 26B names where they differ; gate/up fused for gemma4)
  MoeRouter,        // ffn_gate_inp [D, E]
  MoeRouterBias,    // ffn_gate_inp.bias [E]
  MoeRouterScale,   // ffn_gate_inp.scale [D]
  MoeGateUpExps,    // ffn_gate_up_exps [D, 2*F_exp, E]
  MoeGateExps,      // ffn_gate_exps [D, F_exp, E]
  MoeUpExps,        // ffn_up_exps [D, F_exp, E]
  MoeDownExps,      // ffn_down_exps [F_exp, D, E]
  MoeExpsBias,      // biases of expert matrices (gpt-oss), [rows, E]
  MoeExpertScale,   // ffn_down_exps.scale [E] (Gemma 4 per_expert_scale)
  MoePreNorm2, MoePostNorm1, MoePostNorm2,  // Gemma 4 26B extra FFN norms
  SharedExpGate, SharedExpUp, SharedExpDown,
  PleInpGate,    // inp_gate [D, P]
  PleProj,       // proj [P, D]
  PlePostNorm,   // post_norm [D]
  LayerScalar,   // layer_output_scale [1]
};

struct TensorInfo {
  std::string name;          // e.g. "blk.3.attn_q.weight"
  TensorRole role;
  int layer = -1;            // -1 for model-level tensors
  std::array<i64, 3> ne{1, 1, 1};
  i64 n_elements() const { return ne[0] * ne[1] * ne[2]; }
  bool is_matrix() const { return ne[1] > 1; }  // quantizable 2-D/3-D weight
  bool is_expert() const { return ne[2] > 1; }  // holds E experts along ne[2]
};

std::vector<TensorInfo> weight_tensors(const ModelSpec& m);
// A 64-bit hash of every field of m that weight_tensors() or a recipe's rules read: specs that
// differ there hash apart (but for a 2^-64 chance), so it keys weight_layout's cache (quant.h).
// A field read by either must be added here.
std::uint64_t weight_shape_hash(const ModelSpec& m);

const char* role_name(TensorRole r);

}  // namespace gs
