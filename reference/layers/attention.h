// attention.h: the attention loop of one decode-style work item, by the form an ISA
// uses (Forward::attend calls it; tests compare the forms with each other and with a
// naive product).
#pragma once
#include <cstdint>

#include "qmatrix.h"

namespace gs::ref {

// K / V rows of one kv head: Dh elements of esize bytes (4: float, 2: f16), packed (Dh x
// esize bytes apart); rows 0..n1-1 from k / v, rows n1..nk-1 from k2 / v2 (a ring read
// across its end).
struct AttnRows {
  int Dh = 0, esize = 4;
  std::int64_t nk = 0, n1 = 0;
  const void *k = nullptr, *v = nullptr, *k2 = nullptr, *v2 = nullptr;
};

// o_h = softmax(scale * q_h . K^T) V for nh (1..4) query heads that share one kv head;
// q[h], o[h] [Dh]. isa picks the form: Scalar -> SSE2, Avx2 -> AVX2 + F16C (bit-identical
// to SSE2), Avx512 -> AVX-512 FMA (head dims a multiple of 16, else the AVX2 form), falling
// back to what this CPU runs. The AVX-512 form and the AVX2 form (head dims a multiple of 8)
// read f16 rows in place; the SSE2 form reads floats only (f16 rows: logic_error).
// key_block > 0: the scores and values passes run over blocks of that many keys, as
// Forward::attend cuts them (the result does not depend on the cut, bit for bit).
void attend_heads_isa(Isa isa, const AttnRows& rows, float scale, int nh, const float* const* q, float* const* o,
                      std::int64_t key_block = 0);

// Whether attention on this ISA reads an f16 KV cache in place (else through float copies).
bool attention_reads_f16(Isa isa, int head_dim);

}  // namespace gs::ref
