// test_attention.cpp: the attention loop's ISA forms (SSE2, AVX2, AVX-512 FMA) against a
// naive double-precision product, and against each other.
#include <doctest/doctest.h>

#include "isa_here.h"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "layers/attention.h"
#include "layers/elementwise.h"
#include "kernels/fp16.h"
#include "qmatrix.h"

using namespace gs::ref;

namespace {

struct Case {
  int Dh = 0, nh = 0;
  std::int64_t nk = 0;
  std::vector<float> k, v, q, o;  // q, o: [nh][Dh]
};

Case make_case(int Dh, int nh, std::int64_t nk, std::uint32_t seed) {
  Case c;
  c.Dh = Dh;
  c.nh = nh;
  c.nk = nk;
  std::uint32_t s = seed;
  auto rnd = [&] {
    s = s * 1664525u + 1013904223u;
    return static_cast<float>((s >> 8) % 20001) / 10000.0f - 1.0f;
  };
  c.k.resize(static_cast<std::size_t>(nk * Dh));
  c.v.resize(c.k.size());
  c.q.resize(static_cast<std::size_t>(nh * Dh));
  for (auto& x : c.k) x = rnd();
  for (auto& x : c.v) x = rnd();
  for (auto& x : c.q) x = rnd();
  c.o.assign(c.q.size(), -7.0f);  // garbage: every form must overwrite o
  return c;
}

// The form of isa on c's rows: floats, or (f16) the rows rounded to f16; split: rows from
// split on come from a second pair of buffers (a ring read across its end).
void run(Isa isa, Case& c, float scale, bool f16 = false, std::int64_t split = -1, std::int64_t key_block = 0) {
  const float* q[4];
  float* o[4];
  for (int h = 0; h < c.nh; ++h) {
    q[h] = c.q.data() + h * c.Dh;
    o[h] = c.o.data() + h * c.Dh;
  }
  const std::int64_t n1 = split < 0 ? c.nk : split;
  const std::size_t cut = static_cast<std::size_t>(n1 * c.Dh);
  std::vector<float> k1(c.k.begin(), c.k.begin() + static_cast<std::ptrdiff_t>(cut)), k2(c.k.begin() + static_cast<std::ptrdiff_t>(cut), c.k.end());
  std::vector<float> v1(c.v.begin(), c.v.begin() + static_cast<std::ptrdiff_t>(cut)), v2(c.v.begin() + static_cast<std::ptrdiff_t>(cut), c.v.end());
  auto half = [](const std::vector<float>& x) {
    std::vector<std::uint16_t> h(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) h[i] = f32_to_fp16(x[i]);
    return h;
  };
  const auto hk1 = half(k1), hk2 = half(k2), hv1 = half(v1), hv2 = half(v2);
  AttnRows r;
  r.Dh = c.Dh;
  r.nk = c.nk;
  r.n1 = n1;
  r.esize = f16 ? 2 : 4;
  r.k = f16 ? static_cast<const void*>(hk1.data()) : k1.data();
  r.v = f16 ? static_cast<const void*>(hv1.data()) : v1.data();
  r.k2 = f16 ? static_cast<const void*>(hk2.data()) : k2.data();
  r.v2 = f16 ? static_cast<const void*>(hv2.data()) : v2.data();
  attend_heads_isa(isa, r, scale, c.nh, q, o, key_block);
}

// The case with its K and V rounded to f16 (what an f16 cache holds).
Case rounded(Case c) {
  for (auto& x : c.k) x = fp16_to_f32(f32_to_fp16(x));
  for (auto& x : c.v) x = fp16_to_f32(f32_to_fp16(x));
  return c;
}

// softmax(scale q.K^T) V in double.
std::vector<double> naive(const Case& c, float scale) {
  std::vector<double> out(static_cast<std::size_t>(c.nh * c.Dh), 0.0);
  for (int h = 0; h < c.nh; ++h) {
    std::vector<double> sc(static_cast<std::size_t>(c.nk));
    double mx = -1e300;
    for (std::int64_t j = 0; j < c.nk; ++j) {
      double d = 0;
      for (int i = 0; i < c.Dh; ++i) d += static_cast<double>(c.q[h * c.Dh + i]) * c.k[j * c.Dh + i];
      sc[j] = scale * d;
      mx = std::max(mx, sc[j]);
    }
    double sum = 0;
    for (auto& x : sc) sum += (x = std::exp(x - mx));
    for (std::int64_t j = 0; j < c.nk; ++j)
      for (int i = 0; i < c.Dh; ++i) out[h * c.Dh + i] += sc[j] / sum * c.v[j * c.Dh + i];
  }
  return out;
}

}  // namespace

TEST_CASE("every attention form matches a naive product; AVX2 is bit-identical to SSE2") {
  const float scale = 0.125f;
  for (int Dh : {32, 36, 37, 40, 64, 80, 256, 512})
    for (int nh : {1, 2, 3, 4})
      for (std::int64_t nk : {1, 2, 7, 9, 130, 513}) {
        CAPTURE(Dh);
        CAPTURE(nh);
        CAPTURE(nk);
        Case base = make_case(Dh, nh, nk, static_cast<std::uint32_t>(Dh * 131 + nh * 17 + nk));
        const std::vector<double> ref = naive(base, scale);
        Case sse = base;
        run(Isa::Scalar, sse, scale);
        double worst = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(sse.o[i] - ref[i]));
        CHECK(worst < 2e-5);
        if (!isa_here(Isa::Avx2)) continue;
        Case avx2 = base;
        run(Isa::Avx2, avx2, scale);
        CHECK(avx2.o == sse.o);
        if (attention_reads_f16(Isa::Avx2, Dh)) {
          // f16 rows read in place (F16C): bit-identical to SSE2 on the rows rounded to f16
          Case r16 = rounded(base), h16 = base;
          run(Isa::Scalar, r16, scale);
          run(Isa::Avx2, h16, scale, true);
          CHECK(h16.o == r16.o);
        }
        if (!isa_here(Isa::Avx512)) continue;
        Case avx512 = base;
        run(Isa::Avx512, avx512, scale);
        double w512 = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) w512 = std::max(w512, std::abs(avx512.o[i] - ref[i]));
        CHECK(w512 < 2e-5);
        if (!attention_reads_f16(Isa::Avx512, Dh)) continue;
        // f16 rows read in place, against the naive product of the rounded rows
        Case r16 = rounded(base);
        const std::vector<double> ref16 = naive(r16, scale);
        Case h = base;
        run(Isa::Avx512, h, scale, true);
        double wh = 0;
        for (std::size_t i = 0; i < ref16.size(); ++i) wh = std::max(wh, std::abs(h.o[i] - ref16[i]));
        CHECK(wh < 2e-5);
      }
}

TEST_CASE("rows split over two segments (a ring read across its end) give the contiguous result") {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    for (std::int64_t split : {0, 1, 5, 129}) {
      Case a = make_case(64, 4, 130, 9), b = a;
      run(isa, a, 0.2f);
      run(isa, b, 0.2f, false, split);
      CHECK(a.o == b.o);
      if (attention_reads_f16(isa, 64)) {
        Case c = a, d = a;
        run(isa, c, 0.2f, true);
        run(isa, d, 0.2f, true, split);
        CHECK(c.o == d.o);
      }
    }
  }
}

TEST_CASE("the passes cut into key blocks (as Forward::attend cuts them) give the whole-range result bit for bit") {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    for (int nh : {1, 3, 4})
      for (std::int64_t kb : {1, 3, 32, 33, 129}) {
        CAPTURE(nh);
        CAPTURE(kb);
        Case a = make_case(64, nh, 130, 21), b = a;
        run(isa, a, 0.2f);
        run(isa, b, 0.2f, false, 77, kb);  // with a ring split that does not fall on a block edge
        CHECK(a.o == b.o);
        if (attention_reads_f16(isa, 64)) {
          Case c = a, d = a;
          run(isa, c, 0.2f, true);
          run(isa, d, 0.2f, true, 77, kb);
          CHECK(c.o == d.o);
        }
      }
  }
}

TEST_CASE("the AVX-512 and AVX2 forms read f16 rows, the SSE2 form does not") {
  Case c = make_case(32, 1, 3, 1);
  CHECK_THROWS_AS(run(Isa::Scalar, c, 1.0f, true), std::logic_error);
  CHECK(attention_reads_f16(Isa::Scalar, 256) == false);
  if (!isa_here(Isa::Avx2)) return;
  const bool f16c = __builtin_cpu_supports("f16c");
  CHECK(attention_reads_f16(Isa::Avx2, 256) == f16c);
  CHECK_FALSE(attention_reads_f16(Isa::Avx2, 36));  // not a multiple of 8: float rows only
  if (f16c) {
    Case d = make_case(36, 2, 5, 2);
    CHECK_THROWS_AS(run(Isa::Avx2, d, 1.0f, true), std::logic_error);
  }
  if (isa_here(Isa::Avx512)) {
    CHECK(attention_reads_f16(Isa::Avx512, 256));
    CHECK(attention_reads_f16(Isa::Avx512, 40) == f16c);  // not a multiple of 16: the AVX2 form
  }
}

TEST_CASE("attention weights follow the scores: a key far ahead of the others takes the whole output") {
  // One key's score dominates: o must equal its value row (every form).
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    Case c = make_case(64, 4, 33, 5);
    for (int h = 0; h < 4; ++h)
      for (int i = 0; i < 64; ++i) c.q[h * 64 + i] = 0.0f;
    for (int h = 0; h < 4; ++h) c.q[h * 64 + h] = 1.0f;  // head h reads dim h of each key
    for (int h = 0; h < 4; ++h) c.k[(10 + h) * 64 + h] = 500.0f;  // key 10+h wins head h
    run(isa, c, 1.0f);
    for (int h = 0; h < 4; ++h)
      for (int i = 0; i < 64; ++i) CHECK(c.o[h * 64 + i] == doctest::Approx(c.v[(10 + h) * 64 + i]).epsilon(1e-5));
  }
}

TEST_CASE("softmax: weights of values more than the floor below the max are exactly 0, the rest sum to 1") {
  std::vector<float> a = {3.0f, 3.0f - 41.0f, 3.0f - 39.0f, 3.0f - 200.0f, 2.0f, -1e30f};
  std::vector<float> b = a;
  softmax(a.data(), static_cast<std::int64_t>(a.size()), -40.0f);
  CHECK(a[1] == 0.0f);
  CHECK(a[3] == 0.0f);
  CHECK(a[5] == 0.0f);
  CHECK(a[2] > 0.0f);  // 39 below: kept (e^-39 of the best)
  CHECK(a[2] < 1e-16f);
  CHECK(a[0] + a[2] + a[4] == doctest::Approx(1.0));
  CHECK(a[4] / a[0] == doctest::Approx(std::exp(-1.0)).epsilon(1e-5));
  // Without a floor nothing is exactly 0 but the value e^-87 clamps: 200 below the max gives a
  // weight at most e^-87, a denormal once normalised (what the floor keeps out of attention).
  softmax(b.data(), static_cast<std::int64_t>(b.size()));
  CHECK(b[1] > 0.0f);
  CHECK(b[3] > 0.0f);
  CHECK(b[3] < 1e-37f);
}

TEST_CASE("attention gives keys scoring 40 or more below the best exactly no weight (every form)") {
  // Key 1 scores 50 below key 0 and carries huge values: with e^-50 of weight it would add
  // ~2e8 to every output; with the floor the output is key 0's values exactly.
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (!isa_here(isa)) continue;
    Case c = make_case(32, 1, 3, 3);
    for (auto& x : c.q) x = 0.0f;
    c.q[0] = 1.0f;
    for (std::int64_t j = 0; j < 3; ++j) c.k[static_cast<std::size_t>(j * 32)] = j == 0 ? 100.0f : (j == 1 ? 50.0f : 60.5f);
    for (int i = 0; i < 32; ++i) {
      c.v[static_cast<std::size_t>(i)] = 0.25f;
      c.v[static_cast<std::size_t>(32 + i)] = 1e30f;
      c.v[static_cast<std::size_t>(64 + i)] = 0.5f;
    }
    run(isa, c, 1.0f);
    // key 2 scores 39.5 below: kept, with e^-39.5 of weight
    for (int i = 0; i < 32; ++i) CHECK(c.o[static_cast<std::size_t>(i)] == doctest::Approx(0.25).epsilon(1e-6));
  }
}
