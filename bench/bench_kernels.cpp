// bench_kernels: speed of the reference kernel's matmul, per weight format and ISA.
//   decode (T = 1): weight bytes streamed per second (memory-bound: compare with
//                   the machine's STREAM triad bandwidth)
//   prefill (T = 512): GFLOP/s (2 FLOP per weight per token)
//   triad:          STREAM-style a[i] = b[i] + s*c[i] over 3 x 256 MiB, bytes/s
//   model sweep:    with a GGUF file, one T = 1 matmul over every matrix a decode step
//                   reads (all but the PLE table; the tied embedding as the output
//                   head; Q4_0 / Q8_0 / Q4_K / Q6_K interleaved as the forward pass runs them, the others copied
//                   into huge pages as `gemmasim run` does; GS_SWEEP_MMAP=1: the file's
//                   pages), as weight bytes/s next to the triad, then per shape (those
//                   matrices swept alone, in GS_ROUNDS rounds each with a triad and the
//                   probe's mat-vec stream of each format: medians of rates and of ratios to
//                   the round's triad; shapes of < ~100 MB in all read partly from L3);
//                   GS_SWEEP_MERGE=1 also copies each shape's matrices back to back into one
//                   buffer and compares one call per matrix with one call over all (the cost
//                   of a call: each call's start-up and ramp of the stream, which small
//                   matrices pay more of)
// Usage: bench_kernels [rows ne1] [cols ne0] [threads] [type]   (default 12288 x 6144: larger than L3 at every format, all threads)
//        bench_kernels --gguf FILE.gguf [threads]
//        bench_kernels --widths TYPE [threads]   (the T = 1 stream against the row length, per layout)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "gguf.h"
#include "huge_pages.h"
#include "kernels/block_layouts.h"
#include "probe.h"
#include "qmatrix.h"
#include "stats.h"
#include "units.h"

using namespace gs;
using namespace gs::ref;
using namespace gs::measure;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median-free simple timing: repeat until at least min_s elapsed, report the best rep.
template <class F>
double best_time_s(F f, double min_s) {
  double best = 1e30, start = now_s();
  int reps = 0;
  while (reps < 3 || now_s() - start < min_s) {
    const double t0 = now_s();
    f();
    best = std::min(best, now_s() - t0);
    ++reps;
  }
  return best;
}

// CPU seconds per call on one thread (process CPU time / reps): per-core rates
// that stay meaningful when other work shares the machine.
template <class F>
double cpu_time_s(F f, int reps) {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  f();
  timespec a{}, b{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  for (int i = 0; i < reps; ++i) f();
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  omp_set_num_threads(threads);
  return ((b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec)) / reps;
}

double triad_bytes_per_s() {
  const std::size_t n = std::size_t{64} << 20;  // 64 Mi floats = 256 MiB per array
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  const float s = 3.0f;
  const double t = best_time_s([&] {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
  }, 2.0);
  return 3.0 * n * sizeof(float) / t;
}

// A read-only stream over 768 MiB (the triad's three arrays' bytes): sum of 64-bit words,
// bytes/s; prefetch > 0: with a software prefetch that many bytes ahead, as the Q4_0 decode
// tile streams its weights (a stream as latency-tolerant as the kernel's).
double read_bytes_per_s(std::size_t prefetch = 0) {
  static std::vector<std::uint64_t> a((std::size_t{768} << 20) / sizeof(std::uint64_t), 1);
  std::uint64_t sink = 0;
  const std::size_t pf = prefetch / sizeof(std::uint64_t);
  const double t = best_time_s([&] {
    std::uint64_t s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (std::size_t i = 0; i < a.size(); i += 32) {  // 256 bytes a step
      if (pf > 0) for (int l = 0; l < 4; ++l) __builtin_prefetch(a.data() + i + pf + 8 * l, 0, 3);
      for (int k = 0; k < 32; ++k) s += a[i + k];
    }
    sink += s;
  }, 2.0);
  if (sink == 42) std::printf(" ");
  return static_cast<double>(a.size() * sizeof(std::uint64_t)) / t;
}

int model_sweep(const char* path) {
  GgufFile f(path);
  std::vector<QMatrix> mats;
  double bytes = 0;
  std::int64_t max_ne0 = 0, max_ne1 = 0;
  for (const auto& t : f.tensors()) {
    if (t.n_dims < 2 || t.name == "per_layer_token_embd.weight" || !kernel_supports(t.type)) continue;
    QMatrix m = t.as_matrix();
    mats.push_back(m);
    bytes += static_cast<double>(t.bytes);
    max_ne0 = std::max(max_ne0, m.ne0);
    max_ne1 = std::max(max_ne1, m.ne1 * m.ne2);
  }
  // Q4_0 / Q8_0 / Q4_K / Q6_K in the 16-row interleaved layout, as the forward pass runs them (interleave_weights):
  // copies in huge pages where the ISA has the kernel.
  std::vector<HugeBuffer> copies;
  std::size_t interleaved = 0;
  for (auto& m : mats) {
    if (!can_interleave(m) || !interleaved_kernel_active(m.type)) continue;
    copies.push_back(alloc_huge_pages(m.row_bytes * static_cast<std::size_t>(m.ne1 * m.ne2)));
    m = interleaved_copy(m, copies.back().get());
    ++interleaved;
  }
  // The other matrices copied into huge pages too, as `gemmasim run` does at load
  // (huge_page_weights); GS_SWEEP_MMAP=1 reads them in the file's 4 KiB page-cache pages.
  std::size_t copied = 0;
  if (!std::getenv("GS_SWEEP_MMAP")) {
    for (auto& m : mats) {
      if (m.interleaved) continue;
      const std::size_t b = m.row_bytes * static_cast<std::size_t>(m.ne1 * m.ne2);
      copies.push_back(alloc_huge_pages(b));
      std::memcpy(copies.back().get(), m.data, b);
      m.data = copies.back().get();
      ++copied;
    }
  }
  std::vector<float> x(static_cast<std::size_t>(max_ne0), 0.01f), y(static_cast<std::size_t>(max_ne1));
  auto sweep_of = [&](const std::vector<const QMatrix*>& ms) {
    return [&x, &y, ms] {
      for (const QMatrix* m : ms)
        for (std::int64_t e = 0; e < m->ne2; ++e) matmul(*m, x.data(), 1, y.data(), e);
    };
  };
  std::vector<const QMatrix*> all;
  for (const auto& m : mats) all.push_back(&m);
  const auto sweep = sweep_of(all);
  sweep();  // page in the mapping
  // Interleaved with triads: best sweep and best triad over a few rounds.
  double t = 1e30, triad = 0;
  const int rounds = std::getenv("GS_ROUNDS") ? std::max(1, std::atoi(std::getenv("GS_ROUNDS"))) : 3;
  for (int r = 0; r < rounds; ++r) {
    const double tr = best_time_s(sweep, 1.5), tt = triad_bytes_per_s(), rd = read_bytes_per_s(),
                 rp = read_bytes_per_s(8192);
    t = std::min(t, tr);
    triad = std::max(triad, tt);
    std::printf("  round %d: sweep %.2f GB/s  triad %.2f  read %.2f  read+pf %.2f  sweep/triad %.3f  sweep/read %.3f  sweep/read+pf %.3f\n",
                r, bytes / tr / kGB, tt / kGB, rd / kGB, rp / kGB, bytes / tr / tt, bytes / tr / rd, bytes / tr / rp);
    std::fflush(stdout);
  }
  std::printf("%s: %zu matrices (%zu Q4_0 / Q8_0 / Q4_K / Q6_K interleaved, %zu others copied into huge pages), %.3f GB per decode sweep, %d threads, ISA %s\n", path,
              mats.size(), interleaved, copied, bytes / kGB, omp_get_max_threads(), isa_name(active_isa()));
  std::printf("decode sweep %.2f GB/s (%.1f sweeps/s); STREAM triad %.2f GB/s; ratio %.0f%%\n", bytes / t / kGB, 1.0 / t,
              triad / kGB, 100.0 * bytes / t / triad);
  // Per shape: the matrices of one type and shape swept alone (GB/s of their bytes).
  std::map<std::string, std::vector<const QMatrix*>> by_shape;
  for (const auto& m : mats)
    by_shape[std::string(type_info(m.type).name) + (m.interleaved ? "x16" : "") + " " + std::to_string(m.ne1) + "x" +
             std::to_string(m.ne0) + (m.ne2 > 1 ? "x" + std::to_string(m.ne2) : "")].push_back(&m);
  // Rounds of: a triad, the probe's mat-vec stream of each format (measure/probe_machine.cpp), each
  // shape swept alone; medians over rounds of each rate and of its ratio to the round's triad.
  std::map<std::string, std::vector<double>> rate, ratio;
  std::vector<std::string> formats;
  for (const auto& m : mats)
    if (std::find(formats.begin(), formats.end(), type_info(m.type).name) == formats.end())
      formats.push_back(type_info(m.type).name);
  for (int r = 0; r < rounds; ++r) {
    const double tt = triad_bytes_per_s();
    rate["triad"].push_back(tt / kGB);
    for (const auto& f : formats) {
      const double ps = matvec_stream_bytes_per_s(f, omp_get_max_threads(), std::int64_t{256} << 20, 3);
      rate["probe " + f].push_back(ps / kGB);
      ratio["probe " + f].push_back(ps / tt);
    }
    for (const auto& [k, ms] : by_shape) {
      const double b = static_cast<double>(ms.front()->row_bytes) * static_cast<double>(ms.front()->ne1 * ms.front()->ne2);
      const double v = b * static_cast<double>(ms.size()) / best_time_s(sweep_of(ms), 0.3);
      rate[k].push_back(v / kGB);
      ratio[k].push_back(v / tt);
    }
    std::fprintf(stderr, "  shape round %d/%d (triad %.1f GB/s)\n", r + 1, rounds, tt / kGB);
  }
  std::printf("triad median %.2f GB/s over %d rounds\n", median(rate["triad"]), rounds);
  for (const auto& f : formats)
    std::printf("%-28s %6s %10s %10.2f %8.3f\n", ("probe " + f).c_str(), "", "", median(rate["probe " + f]),
                median(ratio["probe " + f]));
  std::printf("%-28s %6s %10s %10s %8s\n", "type rows x cols", "count", "MB each", "GB/s", "/triad");
  for (const auto& [k, ms] : by_shape) {
    const double b = static_cast<double>(ms.front()->row_bytes) * static_cast<double>(ms.front()->ne1 * ms.front()->ne2);
    std::printf("%-28s %6zu %10.2f %10.2f %8.3f\n", k.c_str(), ms.size(), b / 1e6, median(rate[k]), median(ratio[k]));
    if (std::getenv("GS_SWEEP_MERGE") && ms.size() > 1 && ms.front()->interleaved && ms.front()->ne2 == 1) {
      // the same matrices back to back in one allocation: one call per matrix, then one call over all
      const std::size_t each = static_cast<std::size_t>(b), n = each * ms.size();
      const HugeBuffer hb = alloc_huge_pages(n);
      std::uint8_t* buf = hb.get();
      std::vector<QMatrix> parts;
      for (std::size_t i = 0; i < ms.size(); ++i) {
        std::memcpy(buf + i * each, ms[i]->data, each);
        QMatrix q = *ms[i];
        q.data = buf + i * each;
        parts.push_back(q);
      }
      QMatrix merged = *ms.front();
      merged.data = buf;
      merged.ne1 = ms.front()->ne1 * static_cast<std::int64_t>(ms.size());
      std::vector<const QMatrix*> pp;
      for (const auto& q : parts) pp.push_back(&q);
      std::vector<float> ym(static_cast<std::size_t>(merged.ne1));
      for (int r = 0; r < 3; ++r) {
        const double t1 = best_time_s(sweep_of(pp), 0.5);
        const double t2 = best_time_s([&] { matmul(merged, x.data(), 1, ym.data(), 0); }, 0.5);
        std::printf("   one buffer: %zu calls %.2f GB/s, one call %.2f GB/s\n", ms.size(), static_cast<double>(n) / t1 / kGB,
                    static_cast<double>(n) / t2 / kGB);
      }
    }
  }
  return 0;
}

// --footprint GB rows cols: Q4_0 matrices of rows x cols, interleaved, in one buffer of about GB
// gigabytes; one T = 1 call per matrix over all of them (the footprint of a model) against the
// same number of calls on the first matrix only (the same calls, a footprint of one matrix),
// alternating with triads: whether the decode stream depends on how much memory it spans.
int footprint_sweep(double gb, std::int64_t rows, std::int64_t cols) {
  if (rows % kInterleaveRows != 0 || cols % 32 != 0) throw InputError("--footprint: rows a multiple of 16, cols of 32");
  QMatrix m{GgmlType::Q4_0, cols, rows, 1, nullptr, static_cast<std::size_t>(cols / 32 * 18)};
  const std::size_t each = m.row_bytes * static_cast<std::size_t>(rows);
  const std::size_t n = std::max<std::size_t>(1, static_cast<std::size_t>(gb * 1e9) / each);
  std::vector<std::uint8_t> plain(each);
  std::vector<float> row(static_cast<std::size_t>(cols));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = nd(rng);
    quantize_row(m.type, row.data(), plain.data() + static_cast<std::size_t>(r) * m.row_bytes, cols);
  }
  m.data = plain.data();
  const HugeBuffer hb = alloc_huge_pages(n * each);
  std::uint8_t* buf = hb.get();
  m = interleaved_copy(m, buf);
  for (std::size_t i = 1; i < n; ++i) std::memcpy(buf + i * each, buf, each);
  std::vector<QMatrix> mats(n, m);
  for (std::size_t i = 0; i < n; ++i) mats[i].data = buf + i * each;
  std::vector<float> x(static_cast<std::size_t>(cols), 0.01f), y(static_cast<std::size_t>(rows));
  auto all = [&] {
    for (const auto& q : mats) matmul(q, x.data(), 1, y.data(), 0);
  };
  auto one = [&] {
    for (std::size_t i = 0; i < n; ++i) matmul(mats[0], x.data(), 1, y.data(), 0);
  };
  std::printf("Q4_0 interleaved %lld x %lld (%.1f MB), %zu matrices (%.2f GB), %d threads\n", static_cast<long long>(rows),
              static_cast<long long>(cols), static_cast<double>(each) / 1e6, n, static_cast<double>(n * each) / 1e9,
              omp_get_max_threads());
  all();
  for (int r = 0; r < 4; ++r) {
    const double ta = best_time_s(all, 1.0), to = best_time_s(one, 1.0), tr = triad_bytes_per_s();
    const double b = static_cast<double>(n * each);
    std::printf("  all %.2f GB/s   one matrix %zu times %.2f GB/s   triad %.2f GB/s\n", b / ta / kGB, n, b / to / kGB, tr / kGB);
  }
  return 0;
}

// --widths TYPE: the T = 1 stream of one format against the row length (the widths of the
// family's matrices), 512 MiB a matrix on huge pages in 8 MiB calls (as the probe streams),
// in GGUF order and, where the ISA has the kernel, interleaved by 16 rows; 7 rounds, each a
// triad on the probe's arrays then every (layout, width) once; medians of the ratio to the
// round's triad (the first round warms up, not counted): long rows in GGUF order can stream
// well below short ones, which a single-shape benchmark would not show.
int width_sweep(const std::string& type_name) {
  const std::optional<GgmlType> parsed = type_from_name(type_name);
  if (!parsed || !kernel_supports(*parsed)) throw InputError("--widths: unknown or unsupported weight format '" + type_name + "'");
  const GgmlType t = *parsed;
  const BlockGeom g = block_geom(t);
  const std::int64_t widths[] = {1536, 2048, 4096, 6144, 12288};
  const int threads = omp_get_max_threads();
  struct Case {
    std::string label;
    std::int64_t n;
    QMatrix m;
  };
  std::vector<HugeBuffer> bufs;
  std::vector<Case> cases;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (const std::int64_t n : widths) {
    if (n % g.weights != 0) continue;
    const std::size_t rb = static_cast<std::size_t>(n / g.weights * g.bytes);
    const std::int64_t ne1 = (std::int64_t{512} << 20) / static_cast<std::int64_t>(rb) / kInterleaveRows * kInterleaveRows;
    std::vector<std::uint8_t> rows(rb * kInterleaveRows);  // 16 quantized rows, repeated
    std::vector<float> f(static_cast<std::size_t>(n));
    for (int r = 0; r < kInterleaveRows; ++r) {
      for (auto& v : f) v = nd(rng);
      quantize_row(t, f.data(), rows.data() + r * rb, n);
    }
    bufs.push_back(alloc_huge_pages(rb * static_cast<std::size_t>(ne1)));
    for (std::int64_t r = 0; r < ne1; r += kInterleaveRows) std::memcpy(bufs.back().get() + r * rb, rows.data(), rows.size());
    QMatrix plain{t, n, ne1, 1, bufs.back().get(), rb};
    cases.push_back({std::string(type_info(t).name), n, plain});
    if (can_interleave(plain) && interleaved_kernel_active(t)) {
      bufs.push_back(alloc_huge_pages(rb * static_cast<std::size_t>(ne1)));
      cases.push_back({std::string(type_info(t).name) + "x16", n, interleaved_copy(plain, bufs.back().get())});
    }
  }
  if (cases.empty()) throw InputError("--widths: no width of the family is a multiple of " + type_name + "'s block");
  const TriadArrays triad(std::int64_t{256} << 20, threads);
  std::vector<float> x(12288, 0.5f), y(std::size_t{1} << 16);  // a call's rows: at most 8 MiB / 864 bytes
  std::vector<std::vector<double>> ratio(cases.size()), rate(cases.size());
  std::vector<double> triads;
  const int rounds = 7;
  for (int r = 0; r < rounds; ++r) {
    const double tt = triad.measure(threads, 3).best_bytes_per_s;
    if (r > 0) triads.push_back(tt);
    for (std::size_t i = 0; i < cases.size(); ++i) {
      const QMatrix& m = cases[i].m;
      const double v = static_cast<double>(m.row_bytes) * static_cast<double>(m.ne1) /
                       stream_in_calls(m, kStreamCallBytes, x.data(), y.data());  // as the probe streams
      if (r > 0) rate[i].push_back(v), ratio[i].push_back(v / tt);
    }
    std::fprintf(stderr, "  round %d/%d (triad %.1f GB/s)\n", r + 1, rounds, tt / kGB);
  }
  std::printf("T = 1 stream against the row length: %s, %d threads, ISA %s; triad median %.2f GB/s over %d rounds\n",
              type_name.c_str(), threads, isa_name(active_isa()), median(triads) / kGB, rounds - 1);
  std::printf("%-10s %8s %10s %8s\n", "layout", "ne0", "GB/s", "/triad");
  for (std::size_t i = 0; i < cases.size(); ++i)
    std::printf("%-10s %8lld %10.2f %8.3f\n", cases[i].label.c_str(), static_cast<long long>(cases[i].n),
                median(rate[i]) / kGB, median(ratio[i]));
  return 0;
}

// --t64 ROWS COLS TYPE [threads]: the T = 64 matmul (a 64-token prompt) on one matrix called
// again and again (cache-warm, as the probe times matmul64_flops_per_s) against the same call
// cycling over copies of the matrix that together exceed the last-level cache (each call's
// weights from memory once, as a prompt's layers run them); 7 alternating rounds, medians.
int t64_sweep(std::int64_t rows, std::int64_t cols, const std::string& type_name) {
  const std::optional<GgmlType> parsed = type_from_name(type_name);
  if (!parsed || !kernel_supports(*parsed)) throw InputError("--t64: unknown or unsupported weight format '" + type_name + "'");
  const GgmlType t = *parsed;
  const BlockGeom g = block_geom(t);
  if (rows <= 0 || cols <= 0 || cols % g.weights != 0 || rows % kInterleaveRows != 0)
    throw InputError("--t64: rows a multiple of 16, cols a multiple of the block size");
  const int threads = omp_get_max_threads();
  const std::size_t rb = static_cast<std::size_t>(cols / g.weights * g.bytes), bytes = rb * static_cast<std::size_t>(rows);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<std::uint8_t> q(bytes);
  std::vector<float> f(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (auto& v : f) v = nd(rng);
    quantize_row(t, f.data(), q.data() + static_cast<std::size_t>(r) * rb, cols);
  }
  const int copies = static_cast<int>(std::max<std::size_t>(2, ((std::size_t{256} << 20) + bytes - 1) / bytes));
  std::vector<HugeBuffer> bufs;
  std::vector<QMatrix> mats;
  const QMatrix plain{t, cols, rows, 1, q.data(), rb};
  for (int c = 0; c < copies; ++c) {
    bufs.push_back(alloc_huge_pages(bytes));
    QMatrix m = plain;
    m.data = bufs.back().get();
    if (can_interleave(plain) && interleaved_kernel_active(t)) m = interleaved_copy(plain, bufs.back().get());
    else std::memcpy(bufs.back().get(), q.data(), bytes);
    mats.push_back(m);
  }
  constexpr int T = 64;
  std::vector<float> x(static_cast<std::size_t>(T * cols)), y(static_cast<std::size_t>(T * rows));
  for (auto& v : x) v = nd(rng) * 50.0f;
  const double flop = 2.0 * T * static_cast<double>(rows) * static_cast<double>(cols);
  std::vector<double> warm, cold;
  for (int r = 0; r < 8; ++r) {
    std::vector<double> w, c;
    for (int i = 0; i < 6; ++i) {
      const double t0 = now_s();
      matmul(mats[0], x.data(), T, y.data());
      if (i > 0) w.push_back(flop / (now_s() - t0));
    }
    for (int i = 1; i < copies; ++i) {
      const double t0 = now_s();
      matmul(mats[static_cast<std::size_t>(i)], x.data(), T, y.data());
      c.push_back(flop / (now_s() - t0));
    }
    if (r > 0) warm.push_back(median(w)), cold.push_back(median(c));
  }
  std::printf("T = 64 matmul, %s %lld x %lld (%.1f MB), %d threads, ISA %s, %d copies: GFLOP/s\n", type_name.c_str(),
              static_cast<long long>(rows), static_cast<long long>(cols), static_cast<double>(bytes) / kMB, threads,
              isa_name(active_isa()), copies);
  std::printf("%-6s %12s %12s %8s\n", "round", "same matrix", "fresh copy", "ratio");
  for (std::size_t i = 0; i < warm.size(); ++i)
    std::printf("%-6zu %12.1f %12.1f %8.3f\n", i + 1, warm[i] / kGFLOP, cold[i] / kGFLOP, cold[i] / warm[i]);
  std::printf("%-6s %12.1f %12.1f %8.3f\n", "median", median(warm) / kGFLOP, median(cold) / kGFLOP, median(cold) / median(warm));
  return 0;
}

// --witness ROUNDS [threads]: the register-only vector peaks beside the kernel's own T = 64
// matmul (validate's compute witness) for Q4_0, Q8_0 and Q4_K, round after round: how the two
// kinds of compute figure move together on this machine.
int witness_rounds(int rounds) {
  const int threads = omp_get_max_threads();
  std::printf("%5s %12s %12s %14s %14s %14s\n", "round", "int8 GOP/s", "fp32 GFLOP/s", "q4_0 T=64", "q8_0 T=64", "q4_k T=64");
  for (int r = 0; r < rounds; ++r) {
    const auto pk = vector_peaks(threads);
    const double a = matmul_witness_flops_per_s("q4_0", threads), b = matmul_witness_flops_per_s("q8_0", threads),
                 c = matmul_witness_flops_per_s("q4_k", threads);
    std::printf("%5d %12.1f %12.1f %14.1f %14.1f %14.1f\n", r, pk.int8_ops_per_s / kGFLOP, pk.fp32_flops_per_s / kGFLOP,
                a / kGFLOP, b / kGFLOP, c / kGFLOP);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: bench_kernels [rows cols [threads [type]]]   (default 12288 x 6144, all threads, every type)\n"
                "       bench_kernels --gguf FILE.gguf [threads]\n"
                "       bench_kernels --footprint GB rows cols [threads]\n"
                "       bench_kernels --widths TYPE [threads]\n"
                "       bench_kernels --witness ROUNDS [threads]\n"
                "       bench_kernels --t64 ROWS COLS TYPE [threads]\n");
    return 0;
  }
  if (argc > 2 && std::string(argv[1]) == "--widths") {
    if (argc > 3) omp_set_num_threads(std::atoi(argv[3]));
    return width_sweep(argv[2]);
  }
  if (argc > 4 && std::string(argv[1]) == "--t64") {
    if (argc > 5) omp_set_num_threads(std::atoi(argv[5]));
    return t64_sweep(std::atoll(argv[2]), std::atoll(argv[3]), argv[4]);
  }
  if (argc > 2 && std::string(argv[1]) == "--witness") {
    if (argc > 3) omp_set_num_threads(std::atoi(argv[3]));
    return witness_rounds(std::max(1, std::atoi(argv[2])));
  }
  if (argc > 4 && std::string(argv[1]) == "--footprint") {
    if (argc > 5) omp_set_num_threads(std::atoi(argv[5]));
    return footprint_sweep(std::atof(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]));
  }
  if (argc > 2 && std::string(argv[1]) == "--gguf") {
    if (argc > 3) omp_set_num_threads(std::atoi(argv[3]));
    return model_sweep(argv[2]);
  }
  const std::int64_t rows = argc > 1 ? std::atoll(argv[1]) : 12288;
  const std::int64_t cols = argc > 2 ? std::atoll(argv[2]) : 6144;
  if (rows <= 0 || cols <= 0 || cols % 256 != 0)
    throw InputError("rows and cols must be positive, cols a multiple of 256 (see --help)");
  if (argc > 3) omp_set_num_threads(std::atoi(argv[3]));
  const int threads = omp_get_max_threads();
  std::printf("matmul %lld x %lld, %d threads, best ISA %s\n", static_cast<long long>(rows), static_cast<long long>(cols),
              threads, isa_name(best_isa()));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (auto& v : w) v = nd(rng);
  const int T = 512;
  std::vector<float> x(static_cast<std::size_t>(T * cols)), y(static_cast<std::size_t>(T * rows));
  for (auto& v : x) v = nd(rng) * 50.0f;
  const GgmlType types[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                            GgmlType::Q6_K, GgmlType::Q4_K, GgmlType::Q4_0};
  std::vector<Isa> isas = {Isa::Scalar};
  if (best_isa() != Isa::Scalar) isas.push_back(Isa::Avx2);
  if (best_isa() == Isa::Avx512) isas.push_back(Isa::Avx512);
  std::printf("wall: elapsed time, all threads (best run); core: one thread, from CPU time\n");
  std::printf("%-7s %-7s %8s %12s %12s %14s %14s\n", "type", "isa", "MB", "T=1 GB/s", "core GB/s", "T=512 GFLOP/s",
              "core GFLOP/s");
  const std::string only = argc > 4 ? argv[4] : "";
  for (GgmlType t : types) {
    if (!only.empty() && only != type_info(t).name) continue;
    const BlockGeom g = block_geom(t);
    const std::size_t rb = static_cast<std::size_t>(cols / g.weights * g.bytes);
    std::vector<std::uint8_t> q(rb * rows);
    for (std::int64_t r = 0; r < rows; ++r) quantize_row(t, w.data() + r * cols, q.data() + r * rb, cols);
    QMatrix plain{t, cols, rows, 1, q.data(), rb};
    const double bytes = static_cast<double>(q.size());
    // Q4_0 / Q8_0 also in the 16-row interleaved layout the forward pass uses (rows "q4_0x16", "q8_0x16")
    std::vector<std::uint8_t> il;
    std::vector<std::pair<std::string, QMatrix>> layouts = {{type_info(t).name, plain}};
    if (can_interleave(plain)) {
      il.resize(q.size());
      layouts.emplace_back(std::string(type_info(t).name) + "x16", interleaved_copy(plain, il.data()));
    }
    for (const auto& layout : layouts)
    for (Isa isa : isas) {
      const std::string& label = layout.first;  // (no structured binding: clang 14 cannot capture one in a lambda)
      const QMatrix& W = layout.second;
      set_isa(isa);
      if (W.interleaved && !interleaved_kernel_active(W.type)) continue;  // (would run group by group in GGUF order)
      auto decode = [&] { matmul(W, x.data(), 1, y.data()); };
      auto prefill = [&] { matmul(W, x.data(), T, y.data()); };
      const double t1 = best_time_s(decode, 0.5), c1 = cpu_time_s(decode, 10);
      double gflops = 0, core_gflops = 0;
      if (isa != Isa::Scalar) {
        const double flop = 2.0 * rows * cols * T;
        gflops = flop / best_time_s(prefill, 1.0) / kGFLOP;
        core_gflops = flop / cpu_time_s(prefill, 1) / kGFLOP;
      }
      std::printf("%-7s %-7s %8.1f %12.2f %12.2f %14.1f %14.1f\n", label.c_str(), isa_name(isa), bytes / kMB,
                  bytes / t1 / kGB, bytes / c1 / kGB, gflops, core_gflops);
      std::fflush(stdout);
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 2;
  }
}
