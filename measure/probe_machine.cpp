// probe_machine.cpp: STREAM triad, vector peaks, kernel rates, topology (see probe.h).
#include "probe.h"

#include <fcntl.h>
#include <omp.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include "layers/attention.h"
#include "error.h"
#include "kernels/block_layouts.h"
#include "huge_pages.h"
#include "kernels/kernels.h"
#include "qmatrix.h"
#include "quant.h"
#include "units.h"
#include "stats.h"

namespace gs::measure {

using namespace gs::ref;  // the kernel the probe runs and times

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<double, FreeDeleter>;
Buffer alloc_doubles(std::int64_t n) {
  void* p = std::aligned_alloc(64, static_cast<std::size_t>(n) * sizeof(double));
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<double*>(p));
}

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// "32K" / "2048K" / "32M" -> bytes.
std::int64_t parse_cache_size(const std::string& s) {
  if (s.empty()) return 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (v <= 0) return 0;
  if (*end == 'K') return v * 1024;
  if (*end == 'M') return v * 1024 * 1024;
  return v;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto c = line.find(':');
      if (c == std::string::npos) continue;
      std::string v = line.substr(c + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512bw");
}
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

// Run f(iters) on `threads` threads at once; returns the aggregate rate (units of f per s).
double parallel_rate(int threads, double (*f)(std::int64_t), std::int64_t iters) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double work = 0;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : work)
    { work += f(iters); }
    const double s = since(t0);
    if (s > 0) best = std::max(best, work / s);
  }
  return best;
}

const char* kFormats[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"};

GgmlType format_type(const std::string& f) {
  for (const char* k : kFormats)
    if (f == k) return *type_from_name(f);
  input_error("probe: weight format '" + f + "' (expected f32 f16 bf16 q8_0 q4_0 q4_k q6_k)");
}

// A matrix of ne1 rows of ne0 weights in format t: 64 distinct quantized rows, repeated
// (the values do not change the speed; quantizing 256 MiB would take longer than the probe).
// Weights in 2 MiB-aligned memory with transparent huge pages requested: the way a run's
// mapped GGUF is held after validate reads it (2 MiB page-cache folios here, file_cache_rates'
// fault unit); on 4 KiB pages the kernel's mat-vec is slower than on the mapped file.
struct OwnedMatrix {
  QMatrix m;
  HugeBuffer data;
};
HugeBuffer alloc_huge(std::size_t bytes) {
  HugeBuffer p = alloc_huge_pages(bytes);
  std::memset(p.get(), 0, huge_round_up(bytes));  // touched here, as huge pages where the kernel has them
  return p;
}
OwnedMatrix make_matrix(GgmlType t, std::int64_t ne0, std::int64_t ne1) {
  OwnedMatrix o;
  o.m.type = t;
  o.m.ne0 = ne0;
  o.m.ne1 = ne1;
  o.m.row_bytes = static_cast<std::size_t>(tensor_bytes(t, ne0));
  const std::size_t total = o.m.row_bytes * static_cast<std::size_t>(ne1);
  o.data = alloc_huge(total);
  const std::int64_t distinct = std::min<std::int64_t>(64, ne1);
  std::vector<float> row(static_cast<std::size_t>(ne0));
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  for (std::int64_t r = 0; r < distinct; ++r) {
    for (auto& v : row) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      v = static_cast<float>(static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5);
    }
    quantize_row(t, row.data(), o.data.get() + static_cast<std::size_t>(r) * o.m.row_bytes, ne0);
  }
  // Copy the distinct rows over the rest, in parallel (first touch spreads the pages).
#pragma omp parallel for schedule(static)
  for (std::int64_t r = distinct; r < ne1; ++r)
    std::memcpy(o.data.get() + static_cast<std::size_t>(r) * o.m.row_bytes,
                o.data.get() + static_cast<std::size_t>(r % distinct) * o.m.row_bytes, o.m.row_bytes);
  o.m.data = o.data.get();
  // Q4_0 / Q8_0 / Q4_K / Q6_K in the layout the forward pass runs (interleave_weights does the same at load).
  if (can_interleave(o.m) && interleaved_kernel_active(o.m.type)) {
    HugeBuffer inter = alloc_huge(total);
    o.m = interleaved_copy(o.m, inter.get());
    o.data = std::move(inter);
  }
  return o;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

TriadArrays::TriadArrays(std::int64_t array_bytes, int touch_threads) {
  if (array_bytes < (1 << 20) || array_bytes > (64LL << 30))
    input_error("probe: triad array of " + std::to_string(array_bytes) + " bytes (expected 1 MiB .. 64 GiB)");
  if (touch_threads < 1) input_error("probe: triad needs >= 1 thread");
  n_ = array_bytes / static_cast<std::int64_t>(sizeof(double));
  a_.reset(alloc_doubles(n_).release());
  b_.reset(alloc_doubles(n_).release());
  c_.reset(alloc_doubles(n_).release());
  double* pa = a_.get();
  double* pb = b_.get();
  double* pc = c_.get();
  const std::int64_t n = n_;
  // First touch with the same static schedule as the timed loop.
#pragma omp parallel for schedule(static) num_threads(touch_threads)
  for (std::int64_t i = 0; i < n; ++i) {
    pa[i] = 0;
    pb[i] = 1.0;
    pc[i] = 2.0;
  }
}

std::int64_t TriadArrays::array_bytes() const { return n_ * static_cast<std::int64_t>(sizeof(double)); }

TriadResult TriadArrays::measure(int threads, int reps, std::int64_t array_bytes, bool warm_up) const {
  if (threads < 1 || reps < 1) input_error("probe: triad needs >= 1 thread and >= 1 repetition");
  const std::int64_t n =
      array_bytes > 0 ? std::min(n_, std::max<std::int64_t>(1, array_bytes / static_cast<std::int64_t>(sizeof(double)))) : n_;
  double* pa = a_.get();
  const double* pb = b_.get();
  const double* pc = c_.get();
  const double scalar = 3.0;
  std::vector<double> rates;
  const int first = warm_up ? 1 : 0;  // with a warm-up, pass 0 is not counted
  for (int r = 0; r < reps + first; ++r) {
    const auto t0 = Clock::now();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t i = 0; i < n; ++i) pa[i] = pb[i] + scalar * pc[i];
    const double s = since(t0);
    if (r >= first && s > 0) rates.push_back(24.0 * static_cast<double>(n) / s);
  }
  volatile double sink = pa[n / 2];
  (void)sink;
  TriadResult t;
  t.threads = threads;
  t.reps = reps;
  t.array_bytes = n * static_cast<std::int64_t>(sizeof(double));
  t.best_bytes_per_s = *std::max_element(rates.begin(), rates.end());
  t.median_bytes_per_s = median(rates);
  return t;
}

TriadResult triad_bandwidth(std::int64_t array_bytes, int threads, int reps) {
  if (threads < 1 || reps < 1) input_error("probe: triad needs >= 1 thread and >= 1 repetition");
  return TriadArrays(array_bytes, threads).measure(threads, reps);
}

PeakRates vector_peaks(int threads) {
  PeakRates p;
  p.threads = threads;
  const std::int64_t iters = 2'000'000;  // ~10-50 ms per thread
  if (cpu_has_avx512()) {
    p.fp32_flops_per_s = parallel_rate(threads, fma_loop_avx512, iters);
    p.int8_ops_per_s = parallel_rate(threads, vnni_loop_avx512, iters);
  } else if (cpu_has_avx2()) {
    p.fp32_flops_per_s = parallel_rate(threads, fma_loop_avx2, iters);
    p.int8_ops_per_s = parallel_rate(threads, int8_loop_avx2, iters / 4);  // 64 maddubs an iteration
  }
  return p;
}

namespace {

// The dot product's own T = 1 rate (weight bytes / s): each thread runs the active ISA's tile
// over its own ~256 KiB of rows (L2-resident after the first pass) against activations
// quantized once, 40 passes inside one parallel region: no DRAM, no activation quantization,
// no fork/join per pass (at this size matmul()'s quantization of a 12288-wide row would take
// longer than the product). Median over rows of 1536, 5376 and 12288 weights.
double cached_matvec_bytes_per_s(GgmlType t, int threads) {
  const Isa isa = active_isa();
  const IsaKernels& kern = isa == Isa::Avx512 ? kernels_avx512() : isa == Isa::Avx2 ? kernels_avx2() : kernels_scalar();
  const TileFn generic = kern.for_type(t);
  const ActKind kind = act_kind(t);
  std::vector<double> per_width;
  for (const std::int64_t n : {1536, 5376, 12288}) {
    const std::int64_t row = tensor_bytes(t, n);
    const std::int64_t per_thread = std::max<std::int64_t>(16, (256LL << 10) / row / 16 * 16);
    const std::int64_t rows = per_thread * threads;
    OwnedMatrix w = make_matrix(t, n, rows);
    const TileFn fn = w.m.interleaved ? kern.interleaved_for(t) : generic;
    std::vector<float> x(static_cast<std::size_t>(n), 0.5f), y(static_cast<std::size_t>(rows));
    const std::size_t xb = act_row_bytes(kind, n);
    std::vector<std::uint8_t> act(xb);
    quantize_act_row(kind, x.data(), act.data(), n);
    const auto* w0 = static_cast<const std::uint8_t*>(w.m.data);
    // 10 groups of 4 passes; the fastest group counts (another process only slows one down).
    constexpr int kGroups = 10, kPasses = 4;
    std::vector<double> group_s(kGroups);
    Clock::time_point t0;
#pragma omp parallel num_threads(threads)
    {
      const std::int64_t r0 = per_thread * omp_get_thread_num();
      auto pass = [&] {
        for (std::int64_t r = r0; r < r0 + per_thread; r += 16) {
          Tile k;
          k.n = n;
          k.w = w0 + r * row;
          k.w_stride = static_cast<std::size_t>(row);
          k.nr = static_cast<int>(std::min<std::int64_t>(16, r0 + per_thread - r));
          k.x = act.data();
          k.x_stride = xb;
          k.nt = 1;
          k.y = y.data() + r;
          k.y_stride = rows;
          fn(k);
        }
      };
      pass();  // first touch into L2
      for (int g = 0; g < kGroups; ++g) {
#pragma omp barrier
#pragma omp master
        t0 = Clock::now();
#pragma omp barrier
        for (int p = 0; p < kPasses; ++p) pass();
#pragma omp barrier
#pragma omp master
        group_s[static_cast<std::size_t>(g)] = since(t0);
      }
    }
    const double s = *std::min_element(group_s.begin(), group_s.end());
    if (s > 0) per_width.push_back(static_cast<double>(row * rows) * kPasses / s);
  }
  return per_width.empty() ? 0 : median(per_width);
}

}  // namespace

namespace {
// T tokens through w: one warm-up call, then `timed` calls; the median FLOP/s (2 per weight and token).
double median_matmul_flops_per_s(const QMatrix& w, const float* x, int T, float* y, int timed) {
  std::vector<double> rates;
  for (int r = 0; r <= timed; ++r) {
    const auto t0 = Clock::now();
    matmul(w, x, T, y);
    const double s = since(t0);
    if (r > 0 && s > 0) rates.push_back(2.0 * T * static_cast<double>(w.ne0 * w.ne1) / s);
  }
  return median(rates);
}
// A prompt's micro-batch multiplies each weight matrix once, fresh from memory: its tiles are
// not in the caches from the call before, as they are when one matrix is multiplied again and
// again. So the T-token rate is timed over a ring of distinct ne0 x ne1 matrices holding at least
// kColdRingBytes (beyond the last-level caches), each call on the next matrix, 3 rounds after one
// untimed round; the median FLOP/s of the timed calls. (A matrix multiplied warm runs faster
// than the same shape taken cold, and a warm probe over-predicts prefill by that much.)
constexpr std::int64_t kColdRingBytes = 64LL << 20;
double cold_matmul_flops_per_s(GgmlType t, std::int64_t ne0, std::int64_t ne1, const float* x, int T, float* y) {
  const std::int64_t one = tensor_bytes(t, ne0) * ne1;
  const std::int64_t n = std::max<std::int64_t>(2, (kColdRingBytes + one - 1) / one);
  std::vector<OwnedMatrix> ring;
  for (std::int64_t i = 0; i < n; ++i) ring.push_back(make_matrix(t, ne0, ne1));
  std::vector<double> rates;
  for (int round = 0; round < 4; ++round)
    for (const auto& w : ring) {
      const auto t0 = Clock::now();
      matmul(w.m, x, T, y);
      const double s = since(t0);
      if (round > 0 && s > 0) rates.push_back(2.0 * T * static_cast<double>(ne0 * ne1) / s);
    }
  return median(rates);
}
}  // namespace

double stream_in_calls(const QMatrix& w, std::int64_t call_bytes, const float* x, float* y, int T) {
  const std::int64_t rows = std::max<std::int64_t>(
      kInterleaveRows, call_bytes / static_cast<std::int64_t>(w.row_bytes) / kInterleaveRows * kInterleaveRows);
  const auto t0 = Clock::now();
  for (std::int64_t r0 = 0; r0 < w.ne1; r0 += rows) {
    QMatrix part = w;
    part.ne1 = std::min(rows, w.ne1 - r0);
    part.data = w.row(0, r0);
    matmul(part, x, T, y);
  }
  return since(t0);
}

std::vector<std::pair<int, double>> batch_time_ratios(const std::string& format, int threads, std::int64_t weight_bytes,
                                                      int reps) {
  if (threads < 1 || reps < 1) input_error("probe: batch time ratios need >= 1 thread and >= 1 repetition");
  const GgmlType t = format_type(format);
  static constexpr int kTokens[] = {2, 4, 8, 16, 32};
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<std::vector<double>> ratios(std::size(kTokens));
  for (const std::int64_t n : {1536, 5376, 12288}) {
    const std::int64_t row = tensor_bytes(t, n);
    const std::int64_t ne1 = std::max<std::int64_t>(256, weight_bytes / row / 16 * 16);
    OwnedMatrix w = make_matrix(t, n, ne1);
    // activations of 32 tokens; outputs of one call (the calls reuse y, as a layer reuses its buffer)
    std::vector<float> x(static_cast<std::size_t>(n) * 32, 0.5f);
    std::vector<float> y(static_cast<std::size_t>(std::min<std::int64_t>(ne1, kStreamCallBytes / row + 16)) * 32);
    stream_in_calls(w.m, kStreamCallBytes, x.data(), y.data(), 1);  // warm-up
    for (int r = 0; r < reps; ++r) {
      for (std::size_t i = 0; i < std::size(kTokens); ++i) {
        const double s1 = stream_in_calls(w.m, kStreamCallBytes, x.data(), y.data(), 1);
        const double sT = stream_in_calls(w.m, kStreamCallBytes, x.data(), y.data(), kTokens[i]);
        if (s1 > 0 && sT > 0) ratios[i].push_back(sT / s1);
      }
    }
  }
  omp_set_num_threads(prev);
  std::vector<std::pair<int, double>> out;
  for (std::size_t i = 0; i < std::size(kTokens); ++i)
    if (!ratios[i].empty()) out.emplace_back(kTokens[i], median(ratios[i]));
  return out;
}

double matvec_stream_bytes_per_s(const std::string& format, int threads, std::int64_t weight_bytes, int reps,
                                 const TriadArrays* paired, std::int64_t paired_bytes, double* of_triad) {
  const GgmlType t = format_type(format);
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  // T = 1 over rows of the family's widths (E2B's D 1536, 31B's D 5376, E2B's FFN 12288: a
  // mat-vec's rate depends on the row length through the per-row work), median of the three.
  // The matrix is streamed as a model's layers are: one matmul() call per 8 MiB of rows
  // (E2B's projections are 2-11 MB), each starting its threads, its prefetch streams and its
  // static split anew; one 256 MiB call streams markedly faster than a decode step's matrices,
  // so the probe would over-predict decode.
  std::vector<double> per_width, ratios;
  for (const std::int64_t n : {1536, 5376, 12288}) {
    const std::int64_t row = tensor_bytes(t, n);
    // whole groups of 16 rows (and calls of whole groups), as every matrix of the family has
    const std::int64_t ne1 = std::max<std::int64_t>(256, weight_bytes / row / 16 * 16);
    OwnedMatrix w = make_matrix(t, n, ne1);
    std::vector<float> x(static_cast<std::size_t>(n), 0.5f), y(static_cast<std::size_t>(ne1));
    std::vector<double> rates;
    for (int r = 0; r < std::max(2, reps); ++r) {  // the first pass warms up (not counted)
      const double triad = paired && r > 0 ? paired->measure(threads, 3, paired_bytes, false).best_bytes_per_s : 0;
      const double s = stream_in_calls(w.m, kStreamCallBytes, x.data(), y.data());
      if (r > 0 && s > 0) rates.push_back(static_cast<double>(row * ne1) / s);
      if (r > 0 && s > 0 && triad > 0) ratios.push_back(static_cast<double>(row * ne1) / s / triad);
    }
    per_width.push_back(median(rates));
  }
  omp_set_num_threads(prev);
  if (of_triad) *of_triad = ratios.empty() ? 0 : median(ratios);
  return median(per_width);
}

KernelRate kernel_rate(const std::string& format, int threads, std::int64_t weight_bytes, int matmul_tokens,
                       const TriadArrays* paired, std::int64_t paired_bytes) {
  const GgmlType t = format_type(format);
  KernelRate k;
  k.format = format;
  k.threads = threads;
  const std::int64_t ne0 = 4096;  // a multiple of every block size
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  k.matvec_weight_bytes_per_s =
      matvec_stream_bytes_per_s(format, threads, weight_bytes, paired ? 5 : 6, paired, paired_bytes,
                                paired ? &k.matvec_of_triad : nullptr);
  k.matvec_cached_weight_bytes_per_s = cached_matvec_bytes_per_s(t, threads);
  {
    const std::int64_t ne1 = 1024;
    OwnedMatrix w = make_matrix(t, ne0, ne1);
    std::vector<float> x(static_cast<std::size_t>(ne0) * static_cast<std::size_t>(matmul_tokens), 0.25f);
    std::vector<float> y(static_cast<std::size_t>(ne1) * static_cast<std::size_t>(matmul_tokens));
    k.matmul_flops_per_s = median_matmul_flops_per_s(w.m, x.data(), matmul_tokens, y.data(), 2);
    if (matmul_tokens > 64) k.matmul64_flops_per_s = cold_matmul_flops_per_s(t, ne0, ne1, x.data(), 64, y.data());  // the common prompt
  }
  // Steps of a few sequences: a 64 MiB matrix at most (beyond the last-level caches the probe
  // sizes its streams by; larger only lengthens the probe).
  k.batch_time_ratio = batch_time_ratios(format, threads, std::min<std::int64_t>(weight_bytes, 64LL << 20));
  omp_set_num_threads(prev);
  return k;
}

// The kernel's own compute rate now (validate's compute witness): the probe's T = 64 matmul of
// KernelRate::matmul64_flops_per_s (a 4096 x 1024 matrix of `format`, 64 tokens of activations),
// one warm-up call and `reps` timed, median FLOP/s. ~2 ms a call for Q4_0 at 2 threads here.
double matmul_witness_flops_per_s(const std::string& format, int threads, int reps) {
  if (threads < 1 || reps < 1) input_error("probe: the matmul witness needs >= 1 thread and >= 1 repetition");
  const GgmlType t = format_type(format);
  const std::int64_t ne0 = 4096, ne1 = 1024;
  constexpr int kTokens = 64;
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  OwnedMatrix w = make_matrix(t, ne0, ne1);
  std::vector<float> x(static_cast<std::size_t>(ne0) * kTokens, 0.25f), y(static_cast<std::size_t>(ne1) * kTokens);
  const double rate = median_matmul_flops_per_s(w.m, x.data(), kTokens, y.data(), reps);
  omp_set_num_threads(prev);
  return rate;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? static_cast<int>(h) : 1;
}

CacheSizes cache_sizes() {
  CacheSizes c;
  // /sys first (per core, as the kernel reports it; some VMs' sysconf L3 is wrong), sysconf as fallback.
  for (int i = 0; i < 8; ++i) {
    const std::string d = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = read_first_line(d + "level"), type = read_first_line(d + "type");
    if (level.empty()) break;
    const std::int64_t size = parse_cache_size(read_first_line(d + "size"));
    if (level == "1" && type == "Data" && c.l1d_bytes == 0) c.l1d_bytes = size;
    if (level == "2" && c.l2_bytes == 0) c.l2_bytes = size;
    if (level == "3" && c.l3_bytes == 0) c.l3_bytes = size;
  }
#ifdef _SC_LEVEL1_DCACHE_SIZE
  if (c.l1d_bytes == 0) c.l1d_bytes = std::max<long>(0, sysconf(_SC_LEVEL1_DCACHE_SIZE));
  if (c.l2_bytes == 0) c.l2_bytes = std::max<long>(0, sysconf(_SC_LEVEL2_CACHE_SIZE));
  if (c.l3_bytes == 0) c.l3_bytes = std::max<long>(0, sysconf(_SC_LEVEL3_CACHE_SIZE));
#endif
  return c;
}

std::string cpu_model_name() {
  std::string s = cpuinfo_field("model name");
  return s.empty() ? "unknown CPU" : s;
}

const TriadResult* ProbeResult::triad_at(int threads) const {
  for (const auto& t : triad)
    if (t.threads == threads) return &t;
  return nullptr;
}
const PeakRates* ProbeResult::peaks_at(int threads) const {
  for (const auto& p : peaks)
    if (p.threads == threads) return &p;
  return nullptr;
}
const KernelRate* ProbeResult::kernel_at(const std::string& format, int threads) const {
  for (const auto& k : kernels)
    if (k.format == format && k.threads == threads) return &k;
  return nullptr;
}

const OpRate* ProbeResult::op_rate_at(const std::string& op, const std::string& phase, int threads) const {
  for (const auto& k : op_rates)
    if (k.op == op && k.phase == phase && k.threads == threads) return &k;
  return nullptr;
}
const CallCost* ProbeResult::call_cost_at(int threads) const {
  for (const auto& c : call_costs)
    if (c.threads == threads) return &c;
  return nullptr;
}

namespace {

// RssFile of this process (/proc/self/status, kB), in bytes; -1 when unreadable.
double rss_file_bytes() {
  std::ifstream st("/proc/self/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("RssFile:", 0) == 0) return std::atof(line.c_str() + 8) * 1024.0;
  return -1;
}

}  // namespace

double mem_available_bytes() {
  std::ifstream st("/proc/meminfo");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("MemAvailable:", 0) == 0) return std::atof(line.c_str() + 13) * 1024.0;
  return 0;
}

bool drop_file_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ::fdatasync(fd);  // dirty pages are not dropped
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  return true;
}

double resident_share(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const off_t n = ::lseek(fd, 0, SEEK_END);
  void* map = n > 0 ? ::mmap(nullptr, static_cast<std::size_t>(n), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (map == MAP_FAILED) return -1;
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t pages = (static_cast<std::size_t>(n) + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page);
  std::vector<unsigned char> v(pages);
  std::size_t in = 0;
  if (::mincore(map, static_cast<std::size_t>(n), v.data()) == 0)
    for (unsigned char c : v) in += c & 1u;
  ::munmap(map, static_cast<std::size_t>(n));
  return static_cast<double>(in) / static_cast<double>(pages);
}

double reread_file(const std::string& path, double* available_after_drop) {
  if (!drop_file_pages(path)) return 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  if (available_after_drop) *available_after_drop = mem_available_bytes();
  std::vector<char> buf(16 << 20);
  const auto t0 = Clock::now();
  double total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += static_cast<double>(n);
  const double s = since(t0);
  ::close(fd);
  return s > 0 ? total / s : 0;
}

FileCacheRates file_cache_rates(const std::string& dir, std::int64_t file_bytes, int touches) {
  FileCacheRates r;
  if (file_bytes < (16LL << 20) || touches < 1) return r;
  std::string tmpl = dir + "/gemmasim_probe_cache_XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return r;
  std::vector<char> block(8 << 20);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 + 7);
  std::int64_t done = 0;
  while (done < file_bytes) {
    const ssize_t w = ::write(fd, block.data(), static_cast<std::size_t>(std::min<std::int64_t>(file_bytes - done, block.size())));
    if (w <= 0) break;
    done += w;
  }
  ::close(fd);
  if (done == file_bytes) {
    r.cold_read_bytes_per_s = reread_file(tmpl);
    const int rfd = ::open(tmpl.c_str(), O_RDONLY | O_CLOEXEC);
    void* map = rfd >= 0 ? ::mmap(nullptr, static_cast<std::size_t>(file_bytes), PROT_READ, MAP_PRIVATE, rfd, 0) : MAP_FAILED;
    if (rfd >= 0) ::close(rfd);
    if (map != MAP_FAILED) {
      const auto* p = static_cast<const volatile char*>(map);
      const std::int64_t step = file_bytes / 2 / touches;
      const double before = rss_file_bytes();
      char sum = 0;
      // Offsets off any alignment a folio could have (odd page, mid-page).
      for (int i = 0; i < touches; ++i) sum = static_cast<char>(sum + p[file_bytes / 2 + i * step + 1234567]);
      const double after = rss_file_bytes();
      (void)sum;
      if (before >= 0 && after > before) r.fault_bytes = (after - before) / touches;
      ::munmap(map, static_cast<std::size_t>(file_bytes));
    }
  }
  ::unlink(tmpl.c_str());
  return r;
}

ProbeResult this_cpu() {
  ProbeResult r;
  r.cpu_name = cpu_model_name();
  r.isa = isa_name(active_isa());
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) r.hostname = host;
  r.cores = usable_cores();
  return r;
}

ProbeResult probe_machine(const ProbeOptions& o) {
  const auto t0 = Clock::now();
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  ProbeResult r;
  r.cpu_name = cpu_model_name();
  r.vendor = cpuinfo_field("vendor_id");
  r.isa = isa_name(active_isa());
  r.attention_reads_f16 = attention_reads_f16(active_isa(), 256);
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) r.hostname = host;
  r.date_utc = utc_now();
  r.cores = usable_cores();
  r.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  r.caches = cache_sizes();
  r.memory_bytes = static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  const int N = o.max_threads > 0 ? o.max_threads : r.cores;
  if (N < 1 || N > 4096) input_error("--threads: " + std::to_string(N) + " (expected 1..4096)");
  // One set of triad arrays for the whole probe (the triads next to the kernel rates use the
  // first half of each): allocated and touched once.
  const TriadArrays triad(o.triad_array_bytes, N);
  for (int t = 1; t <= N; ++t) {
    say("triad, " + std::to_string(t) + " thread(s), 3 x " + std::to_string(o.triad_array_bytes >> 20) + " MiB");
    r.triad.push_back(triad.measure(t, o.triad_reps));
    say("vector peaks, " + std::to_string(t) + " thread(s)");
    r.peaks.push_back(vector_peaks(t));
  }
  // Kernel and per-op rates at 1 and N threads only: the calibration (probe_engine_constants.cpp) reads
  // those two, and at every count between, a 16-core machine would probe 8x longer than the
  // one-minute budget allows.
  std::vector<int> rate_threads{1};
  if (N > 1) rate_threads.push_back(N);
  if (o.kernels) {
    // The kernel streams and their paired triads sized by the last-level cache: 8 x L3, at
    // least 64 MiB, at most the options' sizes (256 MiB matrices, 3 x 256 MiB triads): on a
    // host with a small L3 and slow cores the fixed sizes made this stage most of the probe's
    // time; where L3 is 32 MiB or more nothing changes.
    const std::int64_t l3 = cache_sizes().l3_bytes, by_l3 = std::max<std::int64_t>(64LL << 20, 8 * l3);
    const std::int64_t stream_bytes = l3 > 0 ? std::min(o.kernel_matvec_bytes, by_l3) : o.kernel_matvec_bytes;
    const std::int64_t paired_bytes = l3 > 0 ? std::min(o.triad_array_bytes / 2, by_l3) : o.triad_array_bytes / 2;
    for (const auto& f : o.formats) {
      for (const int t : rate_threads) {
        say("kernel " + f + ", " + std::to_string(t) + " thread(s)");
        // The triad next to each kernel rate: the ratio of the two is what the calibration
        // uses, and a shared machine's bandwidth moves between measurements.
        const double before = triad.measure(t, 3, paired_bytes, false).best_bytes_per_s;
        const PeakRates pk_before = vector_peaks(t);
        KernelRate k = kernel_rate(f, t, stream_bytes, 512, &triad, paired_bytes);
        const PeakRates pk_after = vector_peaks(t);
        k.triad_bytes_per_s = 0.5 * (before + triad.measure(t, 3, paired_bytes, false).best_bytes_per_s);
        k.fp32_flops_per_s = 0.5 * (pk_before.fp32_flops_per_s + pk_after.fp32_flops_per_s);
        k.int8_ops_per_s = 0.5 * (pk_before.int8_ops_per_s + pk_after.int8_ops_per_s);
        r.kernels.push_back(k);
      }
    }
  }
  if (o.op_rates) {
    for (const int t : rate_threads) {
      say("kernel ops (probe model: prefill 64 + decode 8), " + std::to_string(t) + " thread(s)");
      const auto v = kernel_op_rates(t);
      r.op_rates.insert(r.op_rates.end(), v.begin(), v.end());
      say("kernel attention (attention probe model: decode at 512 and 4096 positions), " + std::to_string(t) + " thread(s)");
      const auto a = attention_depth_rates(t);
      r.op_rates.insert(r.op_rates.end(), a.begin(), a.end());
      r.call_costs.push_back({t, matmul_call_seconds(t), expert_matmul_rate(t, 1, false), expert_matmul_rate(t, 4, true)});
    }
  }
  if (!o.file_cache_dir.empty()) {
    say("page cache: fault unit of a freshly read, mmap'd file; cold read");
    r.file_cache = file_cache_rates(o.file_cache_dir);
  }
  r.seconds = since(t0);
  return r;
}

}  // namespace gs::measure
