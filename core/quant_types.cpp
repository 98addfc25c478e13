// The weight formats: one row per type, with its block layout as fields.
// Source: ggml/src/ggml-common.h (block_* structs and their static_asserts)
// for GGUF types; the formats' specifications for the GPU checkpoint formats.
#include <algorithm>
#include <cctype>

#include "quant.h"

namespace gs {

const std::vector<TypeInfo>& all_types() {
  static const std::vector<TypeInfo> t = {
      {GgmlType::F32, "f32", 1, 4, {{"f32", 32}}, true, false},
      {GgmlType::F16, "f16", 1, 2, {{"f16", 16}}, true, false},
      {GgmlType::BF16, "bf16", 1, 2, {{"bf16", 16}}, true, false},
      {GgmlType::F64, "f64", 1, 8, {{"f64", 64}}, true, false},
      {GgmlType::I8, "i8", 1, 1, {{"i8", 8}}, true, false},
      {GgmlType::I16, "i16", 1, 2, {{"i16", 16}}, true, false},
      {GgmlType::I32, "i32", 1, 4, {{"i32", 32}}, true, false},
      {GgmlType::I64, "i64", 1, 8, {{"i64", 64}}, true, false},
      // 32-weight blocks
      {GgmlType::Q4_0, "q4_0", 32, 18, {{"d:f16", 16}, {"qs:32x4", 128}}, true, true},
      {GgmlType::Q4_1, "q4_1", 32, 20, {{"d:f16", 16}, {"m:f16", 16}, {"qs:32x4", 128}}, true, true},
      {GgmlType::Q5_0, "q5_0", 32, 22, {{"d:f16", 16}, {"qh:32x1", 32}, {"qs:32x4", 128}}, true, true},
      {GgmlType::Q5_1, "q5_1", 32, 24, {{"d:f16", 16}, {"m:f16", 16}, {"qh:32x1", 32}, {"qs:32x4", 128}}, true, true},
      {GgmlType::Q8_0, "q8_0", 32, 34, {{"d:f16", 16}, {"qs:32x8", 256}}, true, true},
      {GgmlType::Q8_1, "q8_1", 32, 36, {{"d:f16", 16}, {"s:f16", 16}, {"qs:32x8", 256}}, true, true},
      {GgmlType::IQ4_NL, "iq4_nl", 32, 18, {{"d:f16", 16}, {"qs:32x4", 128}}, true, true},
      {GgmlType::MXFP4, "mxfp4", 32, 17, {{"e:e8m0", 8}, {"qs:32x4", 128}}, true, true},
      // 256-weight super-blocks (k-quants)
      {GgmlType::Q2_K, "q2_k", 256, 84, {{"scales:16x(4+4)", 128}, {"qs:256x2", 512}, {"d:f16", 16}, {"dmin:f16", 16}}, true, true},
      {GgmlType::Q3_K, "q3_k", 256, 110, {{"hmask:256x1", 256}, {"qs:256x2", 512}, {"scales:16x6", 96}, {"d:f16", 16}}, true, true},
      {GgmlType::Q4_K, "q4_k", 256, 144, {{"d:f16", 16}, {"dmin:f16", 16}, {"scales:8x(6+6)", 96}, {"qs:256x4", 1024}}, true, true},
      {GgmlType::Q5_K, "q5_k", 256, 176, {{"d:f16", 16}, {"dmin:f16", 16}, {"scales:8x(6+6)", 96}, {"qh:256x1", 256}, {"qs:256x4", 1024}}, true, true},
      {GgmlType::Q6_K, "q6_k", 256, 210, {{"ql:256x4", 1024}, {"qh:256x2", 512}, {"scales:16x8", 128}, {"d:f16", 16}}, true, true},
      {GgmlType::Q8_K, "q8_k", 256, 292, {{"d:f32", 32}, {"qs:256x8", 2048}, {"bsums:16x16", 256}}, true, true},
      {GgmlType::IQ2_XXS, "iq2_xxs", 256, 66, {{"d:f16", 16}, {"qs:32xu16", 512}}, true, true},
      {GgmlType::IQ2_XS, "iq2_xs", 256, 74, {{"d:f16", 16}, {"qs:32xu16", 512}, {"scales:8x8", 64}}, true, true},
      {GgmlType::IQ2_S, "iq2_s", 256, 82, {{"d:f16", 16}, {"qs:64x8", 512}, {"qh:8x8", 64}, {"scales:8x8", 64}}, true, true},
      {GgmlType::IQ3_XXS, "iq3_xxs", 256, 98, {{"d:f16", 16}, {"qs:96x8", 768}}, true, true},
      {GgmlType::IQ3_S, "iq3_s", 256, 110, {{"d:f16", 16}, {"qs:64x8", 512}, {"qh:8x8", 64}, {"signs:32x8", 256}, {"scales:4x8", 32}}, true, true},
      {GgmlType::IQ1_S, "iq1_s", 256, 50, {{"d:f16", 16}, {"qs:32x8", 256}, {"qh:8xu16", 128}}, true, true},
      {GgmlType::IQ1_M, "iq1_m", 256, 56, {{"qs:32x8", 256}, {"qh:16x8", 128}, {"scales:8x8", 64}}, true, true},
      {GgmlType::IQ4_XS, "iq4_xs", 256, 136, {{"d:f16", 16}, {"scales_h:u16", 16}, {"scales_l:4x8", 32}, {"qs:256x4", 1024}}, true, true},
      {GgmlType::TQ1_0, "tq1_0", 256, 54, {{"qs:48x8", 384}, {"qh:4x8", 32}, {"d:f16", 16}}, true, true},
      {GgmlType::TQ2_0, "tq2_0", 256, 66, {{"qs:256x2", 512}, {"d:f16", 16}}, true, true},
      // GPU checkpoint formats (not GGUF). Per-tensor scales are negligible and ignored.
      {GgmlType::FP8, "fp8", 1, 1, {{"w:e4m3", 8}}, false, true},
      // AWQ/GPTQ int4: group size 128, per group an f16 scale and a 4-bit zero point
      // (two groups per 256-weight block here so the block is a whole number of bytes).
      {GgmlType::INT4_AWQ, "int4_awq", 256, 133, {{"qweight:256x4", 1024}, {"scales:2xf16", 32}, {"qzeros:2x4", 8}}, false, true},
      {GgmlType::INT4_GPTQ, "int4_gptq", 256, 133, {{"qweight:256x4", 1024}, {"scales:2xf16", 32}, {"qzeros:2x4", 8}}, false, true},
      // NVFP4: e2m1 weights, one e4m3 scale per 16 weights.
      {GgmlType::NVFP4, "nvfp4", 16, 9, {{"w:16xe2m1", 64}, {"scale:e4m3", 8}}, false, true},
      // MXFP8 (OCP MX): e4m3 weights, one e8m0 scale per 32 weights.
      {GgmlType::MXFP8, "mxfp8", 32, 33, {{"w:32xe4m3", 256}, {"scale:e8m0", 8}}, false, true},
      // bitsandbytes NF4 (transformers BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")):
      // 4-bit codes, one f32 absmax per block of 64 (blocksize 64, no double quantization: the default).
      {GgmlType::NF4_BNB, "nf4_bnb", 64, 36, {{"w:64x4", 256}, {"absmax:f32", 32}}, false, true},
      // bitsandbytes LLM.int8 (load_in_8bit=True): int8 weights, one f32 scale per row (ignored).
      {GgmlType::INT8_BNB, "int8_bnb", 1, 1, {{"w:i8", 8}}, false, true},
  };
  return t;
}

const TypeInfo& type_info(GgmlType id) {
  for (const auto& t : all_types())
    if (t.id == id) return t;
  input_error("unknown tensor type id " + std::to_string(static_cast<int>(id)));
}

std::optional<GgmlType> type_from_name(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& t : all_types())
    if (n == t.name) return t.id;
  return std::nullopt;
}

bool row_compatible(GgmlType t, i64 n_per_row) { return n_per_row % type_info(t).block_weights == 0; }

i64 tensor_bytes(GgmlType t, i64 n_elements) {
  const auto& ti = type_info(t);
  if (n_elements % ti.block_weights != 0)
    input_error(std::string("tensor of ") + std::to_string(n_elements) + " elements is not a whole number of " + ti.name + " blocks");
  return n_elements / ti.block_weights * ti.block_bytes;
}

}  // namespace gs
