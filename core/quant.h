// quant.h: weight formats with exact bits per weight, llama.cpp's mixed
// recipes, GPU formats and KV-cache types.
//
// Block layouts (ggml-common.h) are the definition: a type stores
// block_weights weights in block_bytes bytes, so bits per weight is exact:
//   Q4_0: d (f16, 2 B) + qs (32 x 4 bit = 16 B) = 18 B / 32 w = 4.5 bpw.
// The table lives in sim/quant_types.cpp, one row per type with its fields.
// Recipes (which tensor gets which type) are data: quants/recipes.json.
#pragma once
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "tensors.h"
#include "units.h"

namespace gs {

// GGUF type ids (ggml.h enum ggml_type). Non-GGUF GPU formats use ids >= 1000.
enum class GgmlType : int {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
  MXFP4 = 39,
  // GPU checkpoint formats (not GGUF): sizes from their storage layouts.
  FP8 = 1000,        // e4m3, one scale per tensor (or per channel): 8 bpw
  INT4_AWQ = 1001,   // 4-bit, group 128, f16 scale + 4-bit zero per group
  INT4_GPTQ = 1002,  // 4-bit, group 128, f16 scale + 4-bit zero per group (+ g_idx ignored)
  NVFP4 = 1003,      // e2m1, one e4m3 scale per 16 weights (+ per-tensor f32)
  MXFP8 = 1004,      // e4m3, one e8m0 scale per 32 weights
  NF4_BNB = 1005,    // bitsandbytes NF4 (load_in_4bit): 4-bit, one f32 absmax per 64 weights
  INT8_BNB = 1006,   // bitsandbytes LLM.int8 (load_in_8bit): int8 rows, per-row scale ignored
};

struct BlockField {
  const char* name;  // "d", "qs", "scales", ...
  int bits;          // bits this field takes in one block
};

struct TypeInfo {
  GgmlType id;
  const char* name;       // lowercase llama.cpp name: "q4_k", "bf16", "fp8"
  int block_weights;      // weights per block
  int block_bytes;        // bytes per block (== sum of field bits / 8)
  std::vector<BlockField> fields;
  bool gguf;              // a GGUF tensor type
  bool quantized;
  double bits_per_weight() const { return 8.0 * block_bytes / block_weights; }
};

const std::vector<TypeInfo>& all_types();
const TypeInfo& type_info(GgmlType t);
std::optional<GgmlType> type_from_name(const std::string& name);  // case-insensitive
// Bytes of a tensor with n elements; n_per_row must be a multiple of the block size.
i64 tensor_bytes(GgmlType t, i64 n_elements);
bool row_compatible(GgmlType t, i64 n_per_row);

// A quantization: a recipe assigning a type to each weight tensor.
struct QuantRecipe {
  std::string id;          // "q4_k_m", "q8_0", "bf16", "fp8", "awq-int4" ...
  std::string name;        // "Q4_K_M"
  std::string kind;        // "gguf" | "gpu" (Hugging Face checkpoint formats) | "bnb" (bitsandbytes, quantized at load)
  std::vector<std::string> aliases;  // other names it is known by ("load_in_4bit")
  int ftype = -1;          // llama_ftype (general.file_type) for GGUF recipes
  json rules;              // the recipe as data (see quants/recipes.json)
  std::string source;
};

// Load recipes from quants/recipes.json (path resolved by data_paths).
const std::vector<QuantRecipe>& all_recipes();
const QuantRecipe& find_recipe(const std::string& id);  // by id or alias; throws InputError listing known ids

// The type a recipe gives each tensor (llama.cpp's llama_tensor_get_type logic, as data).
GgmlType tensor_type(const QuantRecipe& r, const ModelSpec& m, const TensorInfo& t);
// All at once, in the order of ts (= weight_tensors(m)); use this in loops.
std::vector<GgmlType> tensor_types(const QuantRecipe& r, const ModelSpec& m, const std::vector<TensorInfo>& ts);
// Bytes one tensor takes in type t (GGUF: whole blocks; GPU formats: exact bits rounded up).
i64 tensor_storage_bytes(GgmlType t, const TensorInfo& ti);

struct WeightBytes {
  double total_bytes = 0;        // every text weight (a GGUF file's tensor data)
  double ple_table_bytes = 0;    // per_layer_token_embd (lives in host memory / mmap)
  double token_embd_bytes = 0;
  double output_bytes = 0;       // untied head (0 when tied)
  double experts_bytes = 0;      // all routed experts
  std::vector<double> layer_bytes;          // per layer, all tensors of blk.N
  std::vector<double> layer_expert_bytes;   // per layer, routed experts only
  double bits_per_weight = 0;    // total_bytes * 8 / params
};
WeightBytes weight_bytes(const ModelSpec& m, const QuantRecipe& r);

// Predicted GGUF file size: tensor data (each aligned to 32 B) + header/metadata estimate.
double gguf_file_bytes(const ModelSpec& m, const QuantRecipe& r);

// A model's weights under a recipe: the tensor list, each tensor's type and bytes, and the
// totals above. Computed once per (weight shape, recipe rules) and shared: the advisor asks for
// the same pair thousands of times (every fit of every system, context and split), and applying
// the recipe's rules tensor by tensor is most of the cost of a fit.
struct WeightLayout {
  std::vector<TensorInfo> tensors;  // weight_tensors(m)
  std::vector<GgmlType> types;      // tensor_types(r, m, tensors)
  std::vector<i64> bytes;           // tensor_storage_bytes per tensor
  WeightBytes totals;
  double gguf_file_bytes = 0;
};
std::shared_ptr<const WeightLayout> weight_layout(const ModelSpec& m, const QuantRecipe& r);

// KV-cache element types.
struct KvType {
  std::string id;          // "f16", "bf16", "q8_0", "q4_0", "f32"
  double bytes_per_element;  // q8_0: 34/32, q4_0: 18/32
};
const KvType& find_kv_type(const std::string& id);
// A ggml block-quantized cache type (q8_0, q4_0, iq4_nl ...), as opposed to f32/f16/bf16/fp8.
bool kv_type_is_block_quantized(const std::string& id);
const std::vector<KvType>& all_kv_types();

}  // namespace gs
