// weights.h: a model's weights bound to the slots the forward pass reads.
//
// Matrices stay in their GGUF type (QMatrix views into the mmap, or into
// buffers owned here for in-memory test models); 1-D tensors (norm weights,
// scales) are dequantized to float once at bind time (they are tiny).
// Binding goes by TensorRole over gs::weight_tensors(m), so tensor names and
// shapes come from one place (sim/tensors.cpp).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "gguf.h"
#include "model.h"
#include "huge_pages.h"
#include "qmatrix.h"
#include "tensors.h"

namespace gs::ref {

using Vec = std::vector<float>;  // empty: tensor absent (the op is skipped)

struct LayerWeights {
  Vec attn_norm;                  // [D]
  QMatrix wq, wk, wv, wo;         // [D -> H*Dh], [D -> Hkv*Dh] x2, [H*Dh -> D]; wk/wv absent on KV-shared layers, wv on K=V layers
  Vec q_norm, k_norm;             // [Dh]
  Vec post_attn_norm;             // [D]
  Vec ffn_norm;                   // [D] (pre-norm of the dense MLP)
  QMatrix ffn_gate, ffn_up, ffn_down;  // [D -> F], [D -> F], [F -> D]
  Vec post_ffn_norm;              // [D]
  // MoE (Gemma 4 26B)
  QMatrix router;                 // ffn_gate_inp [D -> E]
  Vec router_scale;               // [D]
  QMatrix gate_up_exps;           // [D -> 2*Fe] x E (gate rows first, then up rows)
  QMatrix gate_exps, up_exps;     // unfused form: [D -> Fe] x E each
  QMatrix down_exps;              // [Fe -> D] x E
  Vec expert_scale;               // [E]
  Vec pre_ffn_norm_2, post_ffn_norm_1, post_ffn_norm_2;  // [D]
  // Per-Layer Embeddings
  QMatrix ple_gate;               // inp_gate [D -> P]
  QMatrix ple_proj;               // proj [P -> D]
  Vec ple_post_norm;              // [D]
  Vec layer_scalar;               // [1]
};

struct ModelWeights {
  QMatrix token_embd;             // [V rows of D]
  QMatrix output;                 // [D -> V] (== token_embd when tied)
  Vec output_norm;                // [D]
  QMatrix ple_table;              // per_layer_token_embd [V_ple rows of L*P]
  QMatrix ple_model_proj;         // [D -> L*P]
  Vec ple_proj_norm;              // [P]
  std::vector<LayerWeights> layers;
  std::vector<std::unique_ptr<std::uint8_t[]>> owned;  // storage of in-memory weights
  std::vector<HugeBuffer> arenas;  // interleaved copies (interleave_weights)
  std::int64_t total_bytes = 0;   // bytes of every bound tensor (type-exact)
};

// Bind the tensors of a GGUF file to the model's slots. Throws InputError
// naming the file and tensor when one is missing or has the wrong shape/type.
ModelWeights bind_weights(const ModelSpec& m, const GgufFile& f);

// In-memory seeded weights for tests: matrices in `type` (F32 when a row does
// not fit the type's block size), vectors in F32. Values: matrices uniform in
// +-sqrt(3/ne0) (unit-variance outputs), norm weights 1 +- 0.25, scales near 1.
ModelWeights random_weights(const ModelSpec& m, GgmlType type, std::uint64_t seed);

// The bundled model (models/, models/tiny/) a GGUF file holds: `spec` (an id
// or JSON path) when given, else the gemma4 model whose layer count, width,
// vocabulary, PLE width and expert count equal the file's metadata. Throws
// InputError naming the file when none (or the wrong one) matches.
ModelSpec model_for_gguf(const GgufFile& f, const std::string& spec = "");

// Interleave every Q4_0, Q8_0, Q4_K and Q6_K matrix the forward pass multiplies by (not the gathered
// tables: the PLE table, an untied token embedding) into owned memory in the
// 16-row layout of qmatrix.h, where the active ISA has the kernel for that type
// (AVX-512: Q4_0, Q8_0, Q4_K and Q6_K; AVX2: Q4_0, Q8_0 and Q6_K; scalar: none).
// `file`, when given, is where the matrices were mapped: their pages are released
// as they are copied, so the resident set holds each weight once. Returns the
// bytes interleaved.
std::int64_t interleave_weights(ModelWeights& w, const GgufFile* file);

// Copy every other matrix the forward pass multiplies by (those still mapped from the file:
// F16, Q4_K without the AVX-512 kernel, and any left in GGUF order ..., not the gathered tables) into owned transparent
// huge pages, as interleave_weights does for the interleaved formats, releasing the file's pages
// as it goes. A file mapping is only partly mapped in 2 MiB pages (FilePmdMapped 1.47 of 2.39 GB in an E2B Q8_0 run) and a
// 4 KiB-mapped stretch streams slower (docs/performance.md);
// the probe measures its mat-vec rates on huge pages. Returns the bytes copied.
std::int64_t huge_page_weights(ModelWeights& w, const GgufFile* file);

// Read one byte of every page of the matrices the forward pass multiplies by that are still
// mapped from the file (not interleaved), as llama.cpp's MAP_POPULATE mapping does: a timed
// step then never waits for the disk for pages a memory-tight load pushed out of the page
// cache (a memory-tight 31B run otherwise times disk reads in its prefill). The gathered
// tables (PLE, an untied embedding) are left alone: a run touches only its tokens' rows.
// Returns the bytes covered.
std::int64_t prefault_weights(ModelWeights& w);

// Dequantize one row of a QMatrix (expert e, row r) into dst[ne0].
void dequantize_matrix_row(const QMatrix& w, std::int64_t e, std::int64_t r, float* dst);

}  // namespace gs::ref
