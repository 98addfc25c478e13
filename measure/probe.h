// probe.h: measure the machine gemmasim runs on, so `--hw FILE` can describe it.
//
//   memory bandwidth   STREAM-style triad a[i] = b[i] + s*c[i] over three double
//                      arrays far larger than the last-level cache; counted as
//                      STREAM counts it (24 bytes per element: two reads, one write);
//                      best and median of several repetitions, at 1..N OpenMP threads.
//   vector peaks       fp32 FMA and int8 dot-product (AVX-512 VNNI, else AVX2 maddubs) throughput of
//                      register-only loops, per thread count (the "peak" a roofline needs).
//   kernel rates       the reference kernel's matmul (reference/qmatrix.h) per weight
//                      format: T = 1 in bytes of weights per second (a mat-vec over a
//                      matrix far larger than the cache), T = 512 in FLOP/s; at 1 and N
//                      threads (the counts the calibration reads).
//   topology           cores (sched_getaffinity, hardware_concurrency), caches
//                      (sysconf, else /sys/devices/system/cpu/cpu0/cache), memory size.
//
// probe_device_json() turns a result into a hwdb device file (kind "cpu",
// hwdb/README.md schema) with the measured figures in "measured".
#pragma once
#include <cstdint>
#include <ctime>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "json_util.h"
#include "qmatrix.h"

namespace gs::measure {

struct TriadResult {
  int threads = 0;
  double best_bytes_per_s = 0;    // fastest repetition
  double median_bytes_per_s = 0;
  int reps = 0;
  std::int64_t array_bytes = 0;   // bytes of each of the three arrays
};

// The triad's three arrays, allocated and touched once, measured as often as wanted: the
// probe measures the triad next to every kernel rate (28 times on 2 cores); allocating and
// touching three fresh arrays each time would make page faults most of the probe's time in a
// VM. Throws InputError on absurd sizes.
class TriadArrays {
 public:
  TriadArrays(std::int64_t array_bytes, int touch_threads);
  // One measurement at `threads` threads over the first array_bytes of each array (0: all).
  // warm_up: one uncounted pass first; the triads paired with kernel rates skip it (the arrays'
  // pages are resident from the probe's first triad, and the best of their passes counts).
  TriadResult measure(int threads, int reps, std::int64_t array_bytes = 0, bool warm_up = true) const;
  std::int64_t array_bytes() const;

 private:
  struct Free {
    void operator()(double* p) const { std::free(p); }
  };
  std::int64_t n_ = 0;
  std::unique_ptr<double, Free> a_, b_, c_;
};

// One triad measurement at `threads` threads over three fresh arrays of array_bytes each
// (TriadArrays made, measured once, freed); throws InputError on absurd sizes.
TriadResult triad_bandwidth(std::int64_t array_bytes, int threads, int reps);

struct PeakRates {
  int threads = 0;
  double fp32_flops_per_s = 0;    // FMA = 2 FLOP
  double int8_ops_per_s = 0;      // u8 x s8 multiply-add = 2 OP (AVX-512 VNNI, else the AVX2 maddubs step; 0 without AVX2)
};
PeakRates vector_peaks(int threads);

struct KernelRate {
  std::string format;             // "f32" "f16" "bf16" "q8_0" "q4_0" "q4_k" "q6_k"
  int threads = 0;
  double matvec_weight_bytes_per_s = 0;  // T = 1: weight bytes / s (median over rows of 1536, 5376, 12288 weights)
  // The same T = 1 product on a matrix that stays in the threads' L2 caches (192 KiB per thread,
  // repeated): the dot product's own ceiling, where memory does not bind (0: not measured).
  double matvec_cached_weight_bytes_per_s = 0;
  double matmul_flops_per_s = 0;         // T = 512: 2 * T * ne0 * ne1 / s
  double matmul64_flops_per_s = 0;       // T = 64 (a 64-token prompt), same shape, each call on a matrix fresh from memory
  // A step of a few tokens (T = 2, 4, 8, 16, 32: several sequences decoding together) over a
  // matrix in DRAM, called in 8 MiB slices as the T = 1 stream is: its time / the T = 1 time
  // of the same matrix in the same pass (batch_time_ratios). Empty: not measured.
  std::vector<std::pair<int, double>> batch_time_ratio;
  // The T = 1 stream over the triad, paired pass by pass: before every timed pass of the stream
  // (4 per row length when paired) a triad, best of 3 timed passes, on the probe's TriadArrays
  // (3 x 256 MiB by default); the median over the 12 pairs of stream / triad (0: not measured;
  // then matvec_weight_bytes_per_s / triad_bytes_per_s). A pair lies ~0.1 s apart, the stream and
  // the triads before and after it ~1 s: on a shared VM the bandwidth can move 20-30% within a
  // second, and a ratio to a triad taken in a slow moment reads far too high. Best of 3, as
  // validate measures the triad it multiplies.
  double matvec_of_triad = 0;
  double triad_bytes_per_s = 0;          // triad (best of 3) just before and after, mean (probe_machine)
  // Vector peaks measured just before and after (mean): the kernel's share of the peak is taken
  // against the peak of the same moment, so a busier machine lowers both (probe_machine; 0: not measured).
  double fp32_flops_per_s = 0, int8_ops_per_s = 0;
};
// The kernel's T = 1 stream of one format at `threads` threads (KernelRate::matvec_weight_bytes_per_s):
// weight bytes / s over fresh matrices of weight_bytes each, at three row lengths (1536, 5376,
// 12288), called in 8 MiB slices as a model's layers are; per length the median of reps - 1
// timed passes (the first warms up), then the median of the three. validate measures it next
// to each run as the weights' stream rate (docs/validation.md).
// paired (optional): before every timed pass a triad (best of 3) over the first paired_bytes of its
// arrays; *of_triad gets the median of stream / triad over the passes.
double matvec_stream_bytes_per_s(const std::string& format, int threads, std::int64_t weight_bytes, int reps = 6,
                                 const TriadArrays* paired = nullptr, std::int64_t paired_bytes = 0,
                                 double* of_triad = nullptr);
// One T = 1 pass over w as a model's layers call the kernel: matmul() calls of whole 16-row
// groups of about call_bytes each (the probe's 8 MiB), each starting its threads, prefetch
// streams and static split anew; x: w.ne0 activations, y: room for one call's rows (reused).
// Returns the seconds the pass took.
double stream_in_calls(const ref::QMatrix& w, std::int64_t call_bytes, const float* x, float* y, int T = 1);
// The kernel's T-token products (T = 2, 4, 8, 16, 32) of one format over a DRAM-resident matrix
// of weight_bytes at rows of 1536, 5376 and 12288 weights, in 8 MiB calls: per T the median over
// rows and passes of time(T) / time(1), the T = 1 stream timed in the same pass. A matrix in DRAM
// and not in cache: the kernel's T = 1 product overlaps the weights' stream with the dot
// products, a product of a few tokens overlaps them less (KernelRate::batch_time_ratio).
std::vector<std::pair<int, double>> batch_time_ratios(const std::string& format, int threads, std::int64_t weight_bytes,
                                                      int reps = 3);
inline constexpr std::int64_t kStreamCallBytes = std::int64_t{8} << 20;  // the probe's call size
// Kernel rate of one format at `threads` threads; weight_bytes: size of the T = 1 matrix.
KernelRate kernel_rate(const std::string& format, int threads, std::int64_t weight_bytes, int matmul_tokens = 512,
                       const TriadArrays* paired = nullptr, std::int64_t paired_bytes = 0);

// The kernel's T = 64 matmul of one format now, on kernel_rate's shape (4096 x 1024 weights, 64
// tokens) but one matrix, warm (kernel_rate times a ring of matrices fresh from memory): median
// FLOP/s of `reps` calls after one warm-up. What the kernel's tiles reach at this moment.
double matmul_witness_flops_per_s(const std::string& format, int threads, int reps = 5);

// One op of the reference kernel (counters.h name) in one phase of the probe model's run
// (measure/probe_kernel_ops.cpp): counted FLOP and bytes, measured time, calls.
struct OpRate {
  std::string op, phase;          // phase: "prefill" (64 tokens), "decode" (one token per step), "decode_deep" / "prefill_deep" (at 512 positions);
                                  // "decode_attn_near" / "decode_attn_far" / "prefill_attn_far": attention ops of the attention
                                  // probe model (attention_depth_rates)
  int threads = 0;
  double flops = 0, bytes = 0, time_s = 0;
  std::int64_t calls = 0;
  std::int64_t depth = 0;         // positions in the KV cache before the phase's first step (0: not recorded)
  double flops_per_s() const { return time_s > 0 ? flops / time_s : 0; }
};
// Runs the probe model (a fixed shape, see probe_kernel_ops.cpp) through the kernel's Forward:
// phases "prefill" (prompt_tokens), "decode" (decode_steps after it), "decode_deep" and
// "prefill_deep" (the same steps, then the same prompt, at deep_depth positions; none when
// deep_depth <= the position reached).
std::vector<OpRate> kernel_op_rates(int threads, int prompt_tokens = 64, int decode_steps = 8, int deep_depth = 512);
// Decode attention at two depths, for the fit time = calls x call_s + FLOP / rate
// (reference_cpu_ops): the "attention probe model" (probe_kernel_ops.cpp: the probe model's four
// attention layers, 3 sliding with window 512 + 1 global, at a width of 256 with a 256-wide
// FFN and no PLE, its cache filled with seeded rows (Forward::fill_kv_seeded); a tied
// 131072-token output head streams 36 MB per step, so the K/V a step reads comes from memory
// as in a real model) runs decode_steps steps at near_depth positions (phase
// "decode_attn_near") and at far_depth ("decode_attn_far"), in 3 alternating rounds (one
// model filled to each depth); per depth the round of median attention time; then a 64-token
// prompt at the far depth, 3 times, each undone, the median ("prefill_attn_far"). Returns the
// three attention ops per phase; nothing when the depths do not fit the model's context.
std::vector<OpRate> attention_depth_rates(int threads, int near_depth = 512, int far_depth = 4096, int decode_steps = 8);
// Median wall time of one matmul call on a tiny matrix (its fixed cost) after ~100 us of serial work.
double matmul_call_seconds(int threads);

// The kernel's matmul on 26B A4B's expert shapes (gate_up 1408 x 2816 and down 2816 x 704,
// Q4_0, 48 experts in file-mapped 3-D tensors), 8 distinct experts per step with `tokens`
// tokens each: weight bytes/s (flops false) or FLOP/s (2 per weight per token).
double expert_matmul_rate(int threads, int tokens, bool flops);

struct CallCost {
  int threads = 0;
  double matmul_call_s = 0;
  double expert_matvec_bytes_per_s = 0;  // T = 1 per expert (decode)
  double expert_t4_flops_per_s = 0;      // T = 4 per expert (a 64-token micro-batch: 64 x 8 / 128)
};

// The page cache as a run of the reference kernel meets it (validate reads a model file once
// before running it, and the kernel mmaps it):
//   fault_bytes             bytes one read fault on that mmap'd, freshly read file makes
//                           resident (the page-cache folio around the address, or the
//                           fault-around window): the unit in which a sparsely read table
//                           (the PLE table: one row per token) becomes resident memory
//   cold_read_bytes_per_s   read() of the file after it was dropped from the page cache (disk)
struct FileCacheRates {
  double fault_bytes = 0;
  double cold_read_bytes_per_s = 0;
};
// Drop a file from the page cache (fdatasync + POSIX_FADV_DONTNEED), then read it once with
// read() in 16 MiB chunks, as validate prepares a model file. Returns the bytes/s of the read
// (0 when the file cannot be opened).
// available_after_drop (optional): /proc/meminfo MemAvailable right after the drop, before the read.
double reread_file(const std::string& path, double* available_after_drop = nullptr);
// /proc/meminfo MemAvailable in bytes (0 when unreadable).
double mem_available_bytes();
// Drop a file's clean, unmapped pages from the page cache (fdatasync + POSIX_FADV_DONTNEED);
// false when it cannot be opened.
bool drop_file_pages(const std::string& path);
// Share of a file's pages in the page cache (mincore over a mapping of it); -1 when unreadable.
double resident_share(const std::string& path);
// Measures FileCacheRates on a temporary file of file_bytes in dir (same filesystem as the
// model files): reread_file, mmap read-only, read one byte at `touches` offsets in its second
// half (8 MiB apart), RssFile growth / touches. Zeros when it cannot be measured.
FileCacheRates file_cache_rates(const std::string& dir, std::int64_t file_bytes = 256LL << 20, int touches = 16);

struct CacheSizes {
  std::int64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;
};

struct ProbeOptions {
  int max_threads = 0;                        // 0: all usable cores
  std::int64_t triad_array_bytes = 512LL << 20;  // each of the 3 arrays
  int triad_reps = 7;
  bool kernels = true;                        // measure kernel rates
  bool op_rates = true;                       // per-op rates of the probe model + matmul call cost
  std::int64_t kernel_matvec_bytes = 256LL << 20;
  std::vector<std::string> formats = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"};
  std::string file_cache_dir;                 // where file_cache_rates writes its file ("": not measured)
  std::function<void(const std::string&)> progress;  // one line per step (may be empty)
};

struct ProbeResult {
  std::string cpu_name, vendor, isa, hostname, date_utc;
  bool attention_reads_f16 = false;  // attention reads an f16 KV cache in place (head dim 256): no float mirrors
  int cores = 0;                   // usable CPUs (affinity)
  int hardware_threads = 0;        // std::thread::hardware_concurrency
  CacheSizes caches;
  std::int64_t memory_bytes = 0;   // physical memory
  std::vector<TriadResult> triad;  // per thread count 1..N
  std::vector<PeakRates> peaks;    // per thread count 1..N
  std::vector<KernelRate> kernels; // per format x thread count (1 and N)
  std::vector<OpRate> op_rates;    // per op x phase x thread count (1 and N)
  std::vector<CallCost> call_costs;  // per thread count (1 and N)
  FileCacheRates file_cache;       // 0: not measured
  double seconds = 0;              // time the probe took
  const TriadResult* triad_at(int threads) const;
  const PeakRates* peaks_at(int threads) const;
  const KernelRate* kernel_at(const std::string& format, int threads) const;
  const OpRate* op_rate_at(const std::string& op, const std::string& phase, int threads) const;
  const CallCost* call_cost_at(int threads) const;
};

int usable_cores();
CacheSizes cache_sizes();
std::string cpu_model_name();

ProbeResult probe_machine(const ProbeOptions& o);
// What identifies this machine without measuring it: cpu_name, isa, hostname, cores.
ProbeResult this_cpu();

// hwdb device file for this machine: bandwidth = best triad at all threads,
// peak fp32 / int8 = the measured vector peaks at all threads; every figure sourced.
json probe_device_json(const ProbeResult& r, const std::string& id = "this-machine");
// Parse the "measured" object back (for validate reusing a probe file).
ProbeResult probe_from_json(const json& device, const std::string& file);
// A probe file another run may reuse on this machine: written by a probe of the same CPU, ISA,
// core count and host name (`now_cpu`: this_cpu()), with the reference engine's constants and
// a triad at `threads` threads, by this version of the probe, less than an hour before `now`: a
// shared machine's speed drifts (on one, a probe a few hours old predicted single-stream decode
// 35% too fast where a new one came within 1%).
inline constexpr int kProbeVersion = 3;  // measured.probe_version: 2 adds KernelRate::batch_time_ratio; 3 times T = 64 cold
inline constexpr double kProbeReuseSeconds = 3600;
bool probe_reusable(const json& device, const ProbeResult& now_cpu, int threads, std::time_t now);

// Decode attention of the attention probe model at `threads` threads as
// time = calls x call_s + FLOP / flops_per_s, from its phases decode_attn_near and
// decode_attn_far (scores + softmax + values). ok false when the probe lacks either phase
// or the far one has no more FLOP per call; clamped: a term came out non-positive, so
// call_s = 0 and flops_per_s = the far steps' FLOP / time.
struct AttentionFit {
  bool ok = false, clamped = false;
  double call_s = 0, flops_per_s = 0;
};
AttentionFit fit_attention(const ProbeResult& r, int threads);

// The `reference` engine's throughput constants (throughput.cpu_ops and the matmul
// efficiencies) derived from a probe; an empty object when it has no op rates.
json reference_cpu_ops(const ProbeResult& r);
// An engine file for the machine a probe measured: `base` (the bundled
// hwdb/engines/reference.json) with its throughput constants replaced by `ops`
// (reference_cpu_ops of that probe) and sourced to it; `id` names the new engine.
// What `gemmasim probe --engine-out` writes and `validate --engine FILE` reads.
json reference_engine_json(const json& base, const json& ops, const ProbeResult& r, const std::string& id);
// The constants of several probes' reference_cpu_ops, leaf by leaf: numbers their median, flags
// (serial) the majority, a key kept when most runs have it (gemmasim probe --repeat K: one probe's
// figures moved 15-50% between probes minutes apart on this project's shared machine).
json median_constants(const std::vector<json>& runs);
// Weight formats whose mat-vec the kernel's dot product limits: on a probe with L2-resident
// figures, those whose 1-thread L2-resident rate is under 1.5x their own 1-thread DRAM rate (the
// product then barely outruns the stream, and its rate, not the bandwidth, sets the mat-vec;
// a format interleaved by 16 rows reads several times faster from L2 than from DRAM); without
// them, Q4_0 and Q4_K (half a byte per weight: in GGUF order, unpacking costs more than the
// bytes).
bool is_dot_bound_matvec(const std::string& format);
bool is_dot_bound_matvec(const ProbeResult& r, const std::string& format);
// A kernel rate's T = 1 stream over the triad: the pass-by-pass pairing where the probe measured
// it (KernelRate::matvec_of_triad), else the stream over the triad next to it, else over the
// probe's triad at its thread count (0: none).
double matvec_of_triad(const ProbeResult& r, const KernelRate& k);

// Architecture-specific loops (probe_avx512.cpp / probe_avx2.cpp): FLOP or OP per call
// of one thread for `iters` iterations; 0 when not compiled in.
double fma_loop_avx512(std::int64_t iters);
double fma_loop_avx2(std::int64_t iters);
double vnni_loop_avx512(std::int64_t iters);
double int8_loop_avx2(std::int64_t iters);

}  // namespace gs::measure
