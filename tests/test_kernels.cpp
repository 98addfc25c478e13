// test_kernels.cpp: weight formats (round trips, hand-computed blocks, geometry
// vs sim's type table), SIMD paths vs the scalar path, matmul vs a naive loop.
#include <doctest/doctest.h>

#include "isa_here.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "error.h"
#include "kernels/block_layouts.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kv_cache.h"
#include "qmatrix.h"
#include "quant.h"

using namespace gs;
using namespace gs::ref;

namespace {

const GgmlType kTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K};

bool integer_type(GgmlType t) { return act_kind(t) != ActKind::F32; }

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

std::size_t row_bytes(GgmlType t, std::int64_t n) {
  const BlockGeom g = block_geom(t);
  return static_cast<std::size_t>(n / g.weights) * g.bytes;
}

// Quantize a (rows x n) float matrix into a buffer of GGUF rows.
std::vector<std::uint8_t> quantize_matrix(GgmlType t, const std::vector<float>& w, std::int64_t rows, std::int64_t n) {
  std::vector<std::uint8_t> q(row_bytes(t, n) * rows);
  for (std::int64_t r = 0; r < rows; ++r) quantize_row(t, w.data() + r * n, q.data() + r * row_bytes(t, n), n);
  return q;
}

// The activations an integer dot product really sees: x quantized then dequantized.
std::vector<float> act_as_seen(GgmlType t, const float* x, std::int64_t n) {
  const ActKind k = act_kind(t);
  std::vector<float> out(x, x + n);
  if (k == ActKind::F32) return out;
  std::vector<std::uint8_t> buf(act_row_bytes(k, n));
  quantize_act_row(k, x, buf.data(), n);
  dequantize_act_row(k, buf.data(), out.data(), n);
  return out;
}

}  // namespace

TEST_CASE("kernel block geometry agrees with sim's type table") {
  for (GgmlType t : kTypes) {
    CAPTURE(static_cast<int>(t));
    const TypeInfo& ti = type_info(t);
    CHECK(block_geom(t).weights == ti.block_weights);
    CHECK(block_geom(t).bytes == ti.block_bytes);
  }
  CHECK_THROWS_AS(block_geom(GgmlType::Q5_0), InputError);
}

TEST_CASE("the vectorised half-to-float row conversion equals the scalar one on all 65536 halves") {
  std::vector<std::uint16_t> h(65536);
  for (int i = 0; i < 65536; ++i) h[static_cast<std::size_t>(i)] = static_cast<std::uint16_t>(i);
  std::vector<float> f(h.size());
  fp16_to_f32_row(h.data(), f.data(), static_cast<std::int64_t>(h.size()));
  int bad = 0;
  for (int i = 0; i < 65536; ++i)
    if (f32_to_bits(f[static_cast<std::size_t>(i)]) != f32_to_bits(fp16_to_f32(h[static_cast<std::size_t>(i)]))) ++bad;
  CHECK(bad == 0);
}

TEST_CASE("fp16 and bf16 conversions are exact on known values and round trips") {
  CHECK(f32_to_fp16(1.0f) == 0x3C00);
  CHECK(f32_to_fp16(-2.0f) == 0xC000);
  CHECK(f32_to_fp16(65504.0f) == 0x7BFF);
  CHECK(f32_to_fp16(65520.0f) == 0x7C00);        // halfway to the next: rounds to even = inf
  CHECK(f32_to_fp16(0.1f) == 0x2E66);
  CHECK(f32_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(f32_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even (0)
  CHECK(f32_to_fp16(std::ldexp(3.0f, -26)) == 0x0001);  // above the tie
  CHECK(fp16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_f32(0x3555) == 0.333251953125f);
  int bad = 0;
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    if (f32_to_fp16(f) != h) ++bad;
  }
  CHECK(bad == 0);
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(bits_to_f32(0x3F808000u)) == 0x3F80);  // tie -> even
  CHECK(f32_to_bf16(bits_to_f32(0x3F818000u)) == 0x3F82);  // tie -> even (up)
  CHECK(bf16_to_f32(0xC040) == -3.0f);
}

TEST_CASE("f32_to_fp16_row (the KV cache's store, F16C where the CPU has it) gives f32_to_fp16's bits") {
  // Every half, each midpoint between neighbouring halves (the ties), a value on each side of
  // every midpoint, overflow, infinities and a spread of random magnitudes; the length is not a
  // multiple of 8, so the tail runs too.
  std::vector<float> x;
  for (std::uint32_t h = 0; h < 0x7C00; ++h) {
    const float a = fp16_to_f32(static_cast<std::uint16_t>(h)), b = fp16_to_f32(static_cast<std::uint16_t>(h + 1));
    const float mid = bits_to_f32((f32_to_bits(a) + f32_to_bits(b)) / 2);  // exact midpoint for same-exponent pairs
    for (const float v : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
      x.push_back(v);
      x.push_back(-v);
    }
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> e(-30.0f, 20.0f);
  for (int i = 0; i < 4099; ++i) x.push_back((i % 2 ? -1.0f : 1.0f) * std::exp2(e(rng)));
  for (const float v : {65519.0f, 65520.0f, 1e6f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    x.push_back(v);
  x.push_back(1.0f);  // an odd length
  REQUIRE(x.size() % 8 != 0);
  std::vector<std::uint16_t> row(x.size());
  f32_to_fp16_row(x.data(), row.data(), x.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) bad += row[i] != f32_to_fp16(x[i]);
  CHECK(bad == 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> nans(9, nan);
  std::vector<std::uint16_t> hn(9);
  f32_to_fp16_row(nans.data(), hn.data(), 9);
  for (const auto h : hn) CHECK(std::isnan(fp16_to_f32(h)));
}

TEST_CASE("Q4_0 and Q4_K dequantize hand-built blocks as ggml does") {
  BlockQ4_0 b{};
  b.d = f32_to_fp16(0.5f);
  b.qs[0] = 0x3F;  // weight 0: 15 -> (15-8)*0.5 = 3.5; weight 16: 3 -> -2.5
  b.qs[1] = 0x80;  // weight 1: 0 -> -4; weight 17: 8 -> 0
  float y[32];
  dequantize_row(GgmlType::Q4_0, &b, y, 32);
  CHECK(y[0] == 3.5f);
  CHECK(y[16] == -2.5f);
  CHECK(y[1] == -4.0f);
  CHECK(y[17] == 0.0f);

  BlockQ4_K k{};
  k.d = f32_to_fp16(1.0f);
  k.dmin = f32_to_fp16(0.25f);
  // sub-block 0: scale 5, min 4 (6-bit fields in bytes 0 and 4)
  k.scales[0] = 5;
  k.scales[4] = 4;
  // sub-block 5: scale = low nibble of byte 9 | (byte 1 >> 6) << 4; min = high nibble of byte 9 | (byte 5 >> 6) << 4
  k.scales[9] = 0x72;          // scale low 2, min low 7
  k.scales[1] = 0x40;          // scale high bits 01 -> scale 2 + 16 = 18
  k.scales[5] = 0x80;          // min high bits 10 -> min 7 + 32 = 39
  k.qs[0] = 0x03;              // weight 0 (sub-block 0): q = 3
  k.qs[64 + 5] = 0x90;         // sub-block 5 = high nibbles of qs[64..95]; weight 160+5: q = 9
  std::vector<float> w(256);
  dequantize_row(GgmlType::Q4_K, &k, w.data(), 256);
  CHECK(w[0] == 5.0f * 3 - 0.25f * 4);            // 14
  CHECK(w[1] == -1.0f);                           // q 0: -min
  CHECK(w[165] == 18.0f * 9 - 0.25f * 39);        // 152.25
  CHECK(w[160] == -0.25f * 39);
}

TEST_CASE("Q6_K dequantizes a hand-built block as ggml does") {
  BlockQ6_K b{};
  b.d = f32_to_fp16(0.5f);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<std::int8_t>(g - 4);
  // weight 0: low nibble of ql[0], bits 0-1 of qh[0]; weight 64+3: high nibble of ql[3], bits 4-5 of qh[3]
  b.ql[0] = 0x0A;                 // q low 10
  b.qh[0] = 0x02;                 // q high 2 -> 10 + 32 = 42 -> 42-32 = 10
  b.ql[3] = 0x50;                 // weight 67: low 5
  b.qh[3] = 0x10;                 // high 1 -> 5 + 16 = 21 -> -11
  b.ql[64 + 33] = 0x0F;           // second half, weight 128+32+1 = 161: low 15, high 0 -> -17
  std::vector<float> w(256);
  dequantize_row(GgmlType::Q6_K, &b, w.data(), 256);
  CHECK(w[0] == 0.5f * -4 * 10);   // group 0 scale -4
  CHECK(w[67] == 0.5f * 0 * -11);  // group 4 scale 0
  CHECK(w[161] == 0.5f * 6 * -17); // group 10 scale 6
  CHECK(w[2] == 0.5f * -4 * -32);  // all-zero bits: q = -32
}

TEST_CASE("quantize -> dequantize round trip stays within each format's bound") {
  const std::int64_t n = 4096;
  const auto x = gaussian(n, 7);
  // Bounds: per-element relative for float formats; RMS error / RMS(x) for block
  // formats (uniform step s gives RMS s/sqrt(12): Q8_0 s = amax/127, Q4_0 s = amax/8,
  // Q6_K s ~ amax/31, Q4_K s ~ range/15 over 32 weights; amax of 32 N(0,1) ~ 2.1).
  struct Case { GgmlType t; double bound; };
  const Case cases[] = {{GgmlType::F32, 0}, {GgmlType::F16, 1.0 / 2048}, {GgmlType::BF16, 1.0 / 256},
                        {GgmlType::Q8_0, 0.01}, {GgmlType::Q4_0, 0.12}, {GgmlType::Q4_K, 0.12},
                        {GgmlType::Q6_K, 0.03}};
  for (const auto& c : cases) {
    CAPTURE(static_cast<int>(c.t));
    std::vector<std::uint8_t> q(row_bytes(c.t, n));
    std::vector<float> y(n);
    quantize_row(c.t, x.data(), q.data(), n);
    dequantize_row(c.t, q.data(), y.data(), n);
    double se = 0, sx = 0, worst_rel = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      se += (y[i] - x[i]) * double(y[i] - x[i]);
      sx += x[i] * double(x[i]);
      worst_rel = std::max(worst_rel, std::fabs(y[i] - x[i]) / std::max(1e-4, double(std::fabs(x[i]))));
    }
    if (!integer_type(c.t)) {
      CHECK(worst_rel <= c.bound);
    } else {
      CHECK(std::sqrt(se / sx) <= c.bound);
      CHECK(std::sqrt(se / sx) > 0);  // really quantized
    }
  }
}

TEST_CASE("matmul equals a naive loop over dequantized weights and seen activations") {
  const std::int64_t n = 512, rows = 37;  // rows not a multiple of 8 or 16
  const auto w = gaussian(rows * n, 11, 0.05f);
  for (GgmlType t : kTypes) {
    for (int T : {1, 3, 17}) {
      CAPTURE(static_cast<int>(t));
      CAPTURE(T);
      const auto q = quantize_matrix(t, w, rows, n);
      const auto x = gaussian(T * n, 100 + T);
      QMatrix W{t, n, rows, 1, q.data(), row_bytes(t, n)};
      std::vector<float> y(T * rows);
      matmul(W, x.data(), T, y.data());
      std::vector<float> wr(n);
      for (int tk = 0; tk < T; ++tk) {
        const auto xa = act_as_seen(t, x.data() + tk * n, n);
        for (std::int64_t r = 0; r < rows; ++r) {
          dequantize_row(t, q.data() + r * row_bytes(t, n), wr.data(), n);
          double ref = 0, mag = 0;
          for (std::int64_t c = 0; c < n; ++c) {
            ref += double(wr[c]) * xa[c];
            mag += std::fabs(double(wr[c]) * xa[c]);
          }
          // float accumulation of n terms: relative to the sum of magnitudes
          CHECK(std::fabs(y[tk * rows + r] - ref) <= 1e-5 * mag + 1e-7);
        }
      }
    }
  }
}

TEST_CASE("every SIMD path equals the scalar path (bit-exact for integer formats)") {
  const Isa saved = active_isa();
  const std::int64_t n = 768, rows = 45;
  const auto w = gaussian(rows * n, 21, 0.05f);
  const auto x = gaussian(70 * n, 22);  // 70 tokens: crosses the 64-token tile
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    for (GgmlType t : kTypes) {
      for (int T : {1, 3, 17, 70}) {
        CAPTURE(std::string(isa_name(isa)));
        CAPTURE(static_cast<int>(t));
        CAPTURE(T);
        const auto q = quantize_matrix(t, w, rows, n);
        QMatrix W{t, n, rows, 1, q.data(), row_bytes(t, n)};
        std::vector<float> ys(T * rows), yv(T * rows);
        set_isa(Isa::Scalar);
        matmul(W, x.data(), T, ys.data());
        set_isa(isa);
        matmul(W, x.data(), T, yv.data());
        int mismatches = 0;
        for (std::size_t i = 0; i < ys.size(); ++i) {
          if (integer_type(t) ? ys[i] != yv[i] : std::fabs(ys[i] - yv[i]) > 1e-5f * (1 + std::fabs(ys[i]))) ++mismatches;
        }
        CHECK(mismatches == 0);
      }
    }
  }
  // Odd block counts (13 blocks: one group of 8, a tail of 5, an unpaired last block).
  const std::int64_t n2 = 13 * 32;
  for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::F16}) {
      CAPTURE(std::string(isa_name(isa)));
      CAPTURE(static_cast<int>(t));
      const auto w2 = gaussian(rows * n2, 23, 0.05f);
      const auto q = quantize_matrix(t, w2, rows, n2);
      QMatrix W{t, n2, rows, 1, q.data(), row_bytes(t, n2)};
      const int T = 9;
      std::vector<float> ys(T * rows), yv(T * rows), wr(n2);
      set_isa(Isa::Scalar);
      matmul(W, x.data(), T, ys.data());
      set_isa(isa);
      matmul(W, x.data(), T, yv.data());
      int mismatches = 0;
      for (std::size_t i = 0; i < ys.size(); ++i) {
        if (integer_type(t) ? ys[i] != yv[i] : std::fabs(ys[i] - yv[i]) > 1e-5f * (1 + std::fabs(ys[i]))) ++mismatches;
      }
      CHECK(mismatches == 0);
      // and against the naive loop (token 8, row 44)
      const auto xa = act_as_seen(t, x.data() + 8 * n2, n2);
      dequantize_row(t, q.data() + 44 * row_bytes(t, n2), wr.data(), n2);
      double ref = 0, mag = 0;
      for (std::int64_t c = 0; c < n2; ++c) {
        ref += double(wr[c]) * xa[c];
        mag += std::fabs(double(wr[c]) * xa[c]);
      }
      CHECK(std::fabs(yv[8 * rows + 44] - ref) <= 1e-5 * mag + 1e-7);
    }
  }
  set_isa(saved);
}

TEST_CASE("matmul selects the expert slice of a 3-D weight") {
  const std::int64_t n = 256, rows = 5, E = 3;
  const auto w = gaussian(E * rows * n, 31, 0.1f);
  const auto q = quantize_matrix(GgmlType::Q4_0, w, E * rows, n);
  const auto x = gaussian(n, 32);
  QMatrix all{GgmlType::Q4_0, n, rows, E, q.data(), row_bytes(GgmlType::Q4_0, n)};
  QMatrix third{GgmlType::Q4_0, n, rows, 1, q.data() + 2 * rows * all.row_bytes, all.row_bytes};
  std::vector<float> a(rows), b(rows);
  matmul(all, x.data(), 1, a.data(), 2);
  matmul(third, x.data(), 1, b.data());
  CHECK(a == b);
  CHECK_THROWS_AS(matmul(all, x.data(), 1, a.data(), 3), InputError);
  QMatrix bad = all;
  bad.type = GgmlType::Q5_K;
  CHECK_THROWS_AS(matmul(bad, x.data(), 1, a.data()), InputError);
}

TEST_CASE("ISA names and selection") {
  CHECK(std::string(isa_name(Isa::Scalar)) == "scalar");
  CHECK(std::string(isa_name(Isa::Avx2)) == "avx2");
  CHECK(std::string(isa_name(Isa::Avx512)) == "avx512");
  const Isa saved = active_isa();
  set_isa(Isa::Scalar);
  CHECK(active_isa() == Isa::Scalar);
  set_isa(best_isa());
  CHECK(active_isa() == best_isa());
  set_isa(saved);
}

TEST_CASE("interleaved Q4_0, Q8_0, Q4_K and Q6_K: the layout round-trips and every ISA's product equals the GGUF layout's, bit for bit") {
  const Isa saved = active_isa();
  // Q4_0 / Q8_0: 66 blocks (E2B's per-layer FFN of 2112: a tail of 2 after 8 groups of 8) and
  // 3 blocks (tail only); Q4_K / Q6_K: 6 super-blocks (1536) and 1; 2 experts of 32 rows each (4 groups).
  for (const GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const bool q8 = type == GgmlType::Q8_0, q6 = type == GgmlType::Q6_K, q4k = type == GgmlType::Q4_K;
    const std::size_t quant_bytes = q8 ? 512 : 256;  // a block's quants for the 16 rows
    for (const std::int64_t n : q6 || q4k ? std::vector<std::int64_t>{6 * 256, 256} : std::vector<std::int64_t>{66 * 32, 3 * 32}) {
      CAPTURE(std::string(type_info(type).name));
      const std::int64_t rows = 32, E = 2;
      const auto w = gaussian(E * rows * n, 41, 0.05f);
      const auto q = quantize_matrix(type, w, E * rows, n);
      QMatrix plain{type, n, rows, E, q.data(), row_bytes(type, n)};
      REQUIRE(can_interleave(plain));
      std::vector<std::uint8_t> il(q.size(), 0), back(q.size(), 0);
      interleave_groups(plain, 0, E * rows / kInterleaveRows, il.data());
      CHECK(il != q);  // a different layout...
      QMatrix inter = plain;
      inter.data = il.data();
      inter.interleaved = true;
      CHECK_FALSE(can_interleave(inter));  // ...and never interleaved twice
      for (std::int64_t g = 0; g < E * rows / kInterleaveRows; ++g)
        deinterleave_group(inter, g, back.data() + g * kInterleaveRows * plain.row_bytes);
      CHECK(back == q);  // ...of the same bytes
      // Hand check of the layout: row 5's block 1, quant bytes 8..11 and its scale, in group 0.
      if (q6 && n > 256) {
        // Row 5's super-block 1, weight 166 = sub-block 10 (quad 2, its 3rd: low nibble of the
        // second 64 bytes, high bits at 6..7), chunk 1 (weights 4..7 of the sub-block), byte 2 of the row's 4.
        const auto* blk = reinterpret_cast<const BlockQ6_K*>(q.data() + 5 * plain.row_bytes) + 1;
        std::uint8_t q6[256];
        q6_k_unpack(*blk, q6);
        const int want = q6[166];
        // by hand from GGUF: half 1, l = 6, quarter 1: ql[64 + 6 + 32] low nibble, qh[32 + 6] bits 2..3
        CHECK(want == ((blk->ql[102] & 0xF) | (((blk->qh[38] >> 2) & 3) << 4)));
        const std::size_t chunk = 3360 * 1 + (4 * 2 + 1) * 192 + 4 * 5 + 2;
        CHECK(((il[chunk + 64] & 0xF) | ((il[chunk + 128] >> 6) << 4)) == want);  // n23 low nibble, l bits 6..7
        // weight 182 = sub-block 11 (quad 2, its 4th: high 4 bits in n23's high nibble, low 2 in l's bits 0..1), same chunk / byte
        CHECK((((il[chunk + 64] >> 4) << 2) | (il[chunk + 128] & 3)) == q6[182]);
        // weight 150 = sub-block 9 (quad 2, its 2nd: n01's high nibble, l's bits 2..3)
        CHECK((((il[chunk] >> 4) << 2) | ((il[chunk + 128] >> 2) & 3)) == q6[150]);
        CHECK(static_cast<std::int8_t>(il[3360 * 1 + 3072 + 16 * 10 + 5]) == blk->scales[10]);
        CHECK(std::memcmp(il.data() + 3360 * 1 + 3328 + 2 * 5, &blk->d, 2) == 0);
      }
      if (q4k && n > 256) {
        // Row 5's super-block 1, quant byte qs[32 * 2 + 4 * 3 + 1] (pair 2, chunk 3, byte 1 of the
        // row's 4), its scale bytes 0 and 11, d and dmin, in group 0 (super-block b at 2304 b).
        const auto* blk = reinterpret_cast<const BlockQ4_K*>(q.data() + 5 * plain.row_bytes) + 1;
        CHECK(il[2304 * 1 + (8 * 2 + 3) * 64 + 4 * 5 + 1] == blk->qs[77]);
        CHECK(il[2304 * 1 + 2048 + 16 * 0 + 5] == blk->scales[0]);
        CHECK(il[2304 * 1 + 2048 + 16 * 11 + 5] == blk->scales[11]);
        CHECK(std::memcmp(il.data() + 2304 * 1 + 2240 + 2 * 5, &blk->d, 2) == 0);
        CHECK(std::memcmp(il.data() + 2304 * 1 + 2272 + 2 * 5, &blk->dmin, 2) == 0);
      }
      const std::size_t nb = n / 32;
      if (!q6 && !q4k && nb > 1) {
        const std::uint8_t* at = il.data() + quant_bytes * 1 + 64 * 2 + 4 * 5;
        std::uint16_t d = 0;
        if (q8) {
          const auto* blk = reinterpret_cast<const BlockQ8_0*>(q.data() + 5 * plain.row_bytes) + 1;
          for (int j = 0; j < 4; ++j) CHECK(static_cast<int>(at[j]) == blk->qs[8 + j] + 128);  // stored + 128, as u8
          d = blk->d;
        } else {
          const auto* blk = reinterpret_cast<const BlockQ4_0*>(q.data() + 5 * plain.row_bytes) + 1;
          CHECK(std::memcmp(at, blk->qs + 8, 4) == 0);
          d = blk->d;
        }
        // its scale after the first column's quants (8 blocks, or all 3 of a 3-block row)
        CHECK(std::memcmp(il.data() + quant_bytes * std::min<std::size_t>(8, nb) + 32 * 1 + 2 * 5, &d, 2) == 0);
      }
      const auto x = gaussian(70 * n, 42);
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
        if (!isa_here(isa)) continue;
        for (int T : {1, 3, 9, 70}) {
          for (std::int64_t e = 0; e < E; ++e) {
            CAPTURE(std::string(isa_name(isa)));
            CAPTURE(n);
            CAPTURE(T);
            CAPTURE(e);
            std::vector<float> ys(T * rows), yi(T * rows);
            set_isa(Isa::Scalar);
            matmul(plain, x.data(), T, ys.data(), e);
            set_isa(isa);
            matmul(inter, x.data(), T, yi.data(), e);
            CHECK(ys == yi);
          }
        }
      }
      set_isa(saved);
    }
  }
  // The kernels each ISA has for the layouts: AVX-512 all four, AVX2 Q4_0, Q8_0 and Q6_K, scalar none.
  auto has = [](const IsaKernels& k, GgmlType t) { return k.interleaved_for(t) != nullptr; };
  CHECK_FALSE(has(kernels_scalar(), GgmlType::Q4_0));
  CHECK_FALSE(has(kernels_scalar(), GgmlType::Q8_0));
  CHECK_FALSE(has(kernels_avx512(), GgmlType::F16));
  if (isa_here(Isa::Avx2)) CHECK(has(kernels_avx2(), GgmlType::Q4_0));
  if (isa_here(Isa::Avx2)) CHECK(has(kernels_avx2(), GgmlType::Q8_0));
  if (isa_here(Isa::Avx512)) CHECK(has(kernels_avx512(), GgmlType::Q8_0));
  if (isa_here(Isa::Avx512)) CHECK(has(kernels_avx512(), GgmlType::Q4_K));
  if (isa_here(Isa::Avx512)) CHECK(has(kernels_avx512(), GgmlType::Q6_K));
  if (isa_here(Isa::Avx2)) CHECK(has(kernels_avx2(), GgmlType::Q6_K));
  if (isa_here(Isa::Avx2)) CHECK_FALSE(has(kernels_avx2(), GgmlType::Q4_K));
  QMatrix odd{GgmlType::Q4_0, 64, 24, 1, nullptr, row_bytes(GgmlType::Q4_0, 64)};
  std::vector<std::uint8_t> buf(row_bytes(GgmlType::Q4_K, 256) * 32);
  odd.data = buf.data();
  CHECK_FALSE(can_interleave(odd));  // 24 rows: not whole groups of 16
  odd.ne1 = 32;
  CHECK(can_interleave(odd));
  odd.type = GgmlType::F16;
  odd.row_bytes = row_bytes(GgmlType::F16, 64);
  CHECK_FALSE(can_interleave(odd));  // Q4_0, Q8_0, Q4_K and Q6_K only
  odd.type = GgmlType::Q4_K;
  odd.ne0 = 256;
  odd.row_bytes = row_bytes(GgmlType::Q4_K, 256);
  CHECK(can_interleave(odd));
  odd.type = GgmlType::Q6_K;
  odd.row_bytes = row_bytes(GgmlType::Q6_K, 256);
  CHECK(can_interleave(odd));
  odd.ne0 = 128;  // not whole super-blocks
  odd.row_bytes = 105;
  CHECK_FALSE(can_interleave(odd));
}

TEST_CASE("interleaved Q8_0 at the extremes: quants of -128 and 127 against activations of +-127 stay exact") {
  // The AVX2 tile multiplies |q| by x with q's sign (maddubs): |pair| <= 2 x 128 x 127 = 32512, so
  // no int16 saturation; a form on u8 q + 128 would saturate (2 x 255 x 127) and so would summing
  // two chunks' int16 pairs. Row r's quants: -128 or 127 in pairs, by a pattern of r; every
  // activation quantizes to +-127 (each block's |x| max is 1), in pairs too, so row 0's first
  // block has pairs of 127 x 127 (u8 255 x 127: saturated) and of -128 x -127 (32512 a pair).
  const Isa saved = active_isa();
  const std::int64_t n = 10 * 32, rows = 32;
  std::vector<std::uint8_t> q(row_bytes(GgmlType::Q8_0, n) * rows);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t b = 0; b < n / 32; ++b) {
      auto* blk = reinterpret_cast<BlockQ8_0*>(q.data() + r * row_bytes(GgmlType::Q8_0, n)) + b;
      blk->d = f32_to_fp16(0.01f * static_cast<float>(1 + (r + b) % 5));
      for (int j = 0; j < 32; ++j) blk->qs[j] = static_cast<std::int8_t>(((j / 2 + r * (b + 1)) % 3 == 0) ? 127 : -128);
    }
  std::vector<float> x(3 * n);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = ((i / 2) % 3 == 0) ? 1.0f : -1.0f;
  QMatrix plain{GgmlType::Q8_0, n, rows, 1, q.data(), row_bytes(GgmlType::Q8_0, n)};
  std::vector<std::uint8_t> il(q.size());
  interleave_groups(plain, 0, rows / kInterleaveRows, il.data());
  QMatrix inter = plain;
  inter.data = il.data();
  inter.interleaved = true;
  std::vector<float> ys(3 * rows), yi(3 * rows);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    for (int T : {1, 3}) {
      CAPTURE(std::string(isa_name(isa)));
      CAPTURE(T);
      set_isa(Isa::Scalar);
      matmul(plain, x.data(), T, ys.data());
      set_isa(isa);
      matmul(inter, x.data(), T, yi.data());
      for (int i = 0; i < T * rows; ++i) CHECK(ys[i] == yi[i]);
      // row 0, token 0 against the naive sum of dequantized weights times the activations (+-1 exactly)
      double want = 0;
      for (std::int64_t c = 0; c < n; ++c) {
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(q.data()) + c / 32;
        want += double(fp16_to_f32(blk->d)) * blk->qs[c % 32] * x[c];
      }
      CHECK(yi[0] == doctest::Approx(want).epsilon(1e-5));
    }
  }
  set_isa(saved);
}

TEST_CASE("the SIMD activation quantizers write the scalar one's bytes, special values included") {
  std::vector<const IsaKernels*> isas;
  if (isa_here(Isa::Avx2)) isas.push_back(&kernels_avx2());
  if (isa_here(Isa::Avx512)) isas.push_back(&kernels_avx512());
  for (const IsaKernels* kern : isas)
  for (const std::int64_t n : {32, 96, 128, 256, 416, 512, 12288}) {
    const auto quant = kern->quantize_q8;
    REQUIRE(static_cast<bool>(quant));
    auto x = gaussian(static_cast<std::size_t>(n), 51 + static_cast<unsigned>(n), 3.0f);
    if (n >= 96) {  // a zero block, a NaN, infinities, a denormal-only block, ties at .5
      for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = 0.0f;
      x[40] = std::numeric_limits<float>::quiet_NaN();
      x[70] = std::numeric_limits<float>::infinity();
      x[71] = -std::numeric_limits<float>::infinity();
    }
    if (n >= 128)
      for (int j = 96; j < 128; ++j) x[static_cast<std::size_t>(j)] = (j % 2 ? 1 : -1) * 1e-40f * static_cast<float>(j - 95);
    if (n >= 416)
      for (int j = 128; j < 160; ++j) x[static_cast<std::size_t>(j)] = 0.5f * static_cast<float>(j - 144);  // amax 8: x*id hits .5 ties
    for (ActKind k : {ActKind::Q8, ActKind::Q8P, ActKind::Q8K}) {
      if (k == ActKind::Q8K && n % kQKK != 0) continue;
      CAPTURE(n);
      CAPTURE(static_cast<int>(k));
      std::vector<std::uint8_t> a(act_row_bytes(k, n), 0xAB), b(act_row_bytes(k, n), 0xCD);
      quantize_act_row(k, x.data(), a.data(), n);
      quant(k, x.data(), b.data(), n);
      CHECK(a == b);
    }
  }
}
