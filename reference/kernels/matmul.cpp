// matmul.cpp: y = W x for T tokens. Quantizes activations once, then runs the
// active ISA's tiles over (row tile x token tile) work items with OpenMP. A row
// tile's weights are read once per token tile, so prefill reads each weight
// from memory about T / kTokTile times instead of T times.
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "fp16.h"
#include "kernels.h"
#include "qmatrix.h"

namespace gs::ref {
namespace {

constexpr int kRowTile = 16;  // weight rows per work item
constexpr int kTokTile = 64;  // tokens per work item
static_assert(kRowTile == kInterleaveRows, "a row tile is one interleaved group");

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::Avx512:
      return cpu_has(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

Isa initial_isa() {
  const char* env = std::getenv("GEMMASIM_ISA");
  if (env == nullptr || *env == '\0') return best_isa();
  const std::string v = env;
  Isa isa;
  if (v == "scalar") isa = Isa::Scalar;
  else if (v == "avx2") isa = Isa::Avx2;
  else if (v == "avx512") isa = Isa::Avx512;
  else input_error("GEMMASIM_ISA=" + v + ": expected scalar, avx2 or avx512");
  if (!cpu_has(isa)) input_error("GEMMASIM_ISA=" + v + ": this CPU does not support it (best: " + isa_name(best_isa()) + ")");
  return isa;
}

std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

const IsaKernels& kernels_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return kernels_avx512();
    case Isa::Avx2: return kernels_avx2();
    default: return kernels_scalar();
  }
}

void check_matrix(const QMatrix& W, int T, std::int64_t expert) {
  const BlockGeom g = block_geom(W.type);  // throws for unsupported types
  if (W.ne0 <= 0 || W.ne1 <= 0 || W.ne2 <= 0 || W.ne0 % g.weights != 0) {
    input_error("matmul: bad matrix shape [" + std::to_string(W.ne0) + ", " + std::to_string(W.ne1) + ", " +
                std::to_string(W.ne2) + "] for block size " + std::to_string(g.weights));
  }
  if (W.row_bytes != static_cast<std::size_t>(W.ne0 / g.weights) * static_cast<std::size_t>(g.bytes)) {
    input_error("matmul: row_bytes " + std::to_string(W.row_bytes) + " does not match ne0 " + std::to_string(W.ne0));
  }
  if (W.data == nullptr) input_error("matmul: matrix has no data");
  if (W.interleaved && (!has_interleaved_layout(W.type) || W.ne1 % kInterleaveRows != 0))
    input_error("matmul: an interleaved matrix must be Q4_0, Q8_0 or Q6_K with rows in groups of 16");
  if (expert < 0 || expert >= W.ne2) input_error("matmul: expert " + std::to_string(expert) + " out of range");
  if (T < 0) input_error("matmul: negative token count");
}

}  // namespace

Isa best_isa() {
  if (cpu_has(Isa::Avx512)) return Isa::Avx512;
  if (cpu_has(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

Isa active_isa() { return static_cast<Isa>(isa_slot().load()); }

void set_isa(Isa isa) {
  if (!cpu_has(isa)) input_error(std::string("ISA ") + isa_name(isa) + " is not supported by this CPU");
  isa_slot().store(static_cast<int>(isa));
}

bool interleaved_kernel_active(GgmlType t) { return kernels_for(active_isa()).interleaved_for(t) != nullptr; }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

void matmul(const QMatrix& W, const float* x, int T, float* y, std::int64_t expert) {
  check_matrix(W, T, expert);
  if (T == 0) return;
  const ActKind kind = act_kind(W.type);
  const std::size_t xb = act_row_bytes(kind, W.ne0);
  // Activations in the layout the dot product reads: (T, xb bytes).
  const std::uint8_t* act = reinterpret_cast<const std::uint8_t*>(x);
  thread_local std::vector<std::uint8_t> qbuf;
  if (kind != ActKind::F32) {
    qbuf.resize(static_cast<std::size_t>(T) * xb);
    std::uint8_t* q = qbuf.data();
    const auto quant = kernels_for(active_isa()).quantize_q8 ? kernels_for(active_isa()).quantize_q8 : quantize_act_row;
#pragma omp parallel for schedule(static) if (T >= 8)
    for (int t = 0; t < T; ++t) quant(kind, x + static_cast<std::size_t>(t) * W.ne0, q + t * xb, W.ne0);
    act = q;
  }
  const IsaKernels& kern = kernels_for(active_isa());
  const TileFn inter = W.interleaved ? kern.interleaved_for(W.type) : nullptr;
  const TileFn fn = inter ? inter : kern.for_type(W.type);
  // An interleaved matrix on an ISA without its kernel: each group back to GGUF order first.
  const bool regroup = W.interleaved && inter == nullptr;
  const std::int64_t n_rt = (W.ne1 + kRowTile - 1) / kRowTile;
  const std::int64_t n_tt = (T + kTokTile - 1) / kTokTile;
  const std::int64_t items = n_rt * n_tt;
  const std::uint8_t* w0 = W.row(expert, 0);
#pragma omp parallel for schedule(static) if (items > 1 && W.ne0 * W.ne1 * T >= 32768)
  for (std::int64_t i = 0; i < items; ++i) {
    const std::int64_t rt = i / n_tt, tt = i % n_tt;
    Tile k;
    k.n = W.ne0;
    k.w = w0 + rt * kRowTile * W.row_bytes;
    k.w_stride = W.row_bytes;
    if (regroup) {
      thread_local std::vector<std::uint8_t> rows;
      rows.resize(kRowTile * W.row_bytes);
      deinterleave_group(W, expert * (W.ne1 / kRowTile) + rt, rows.data());
      k.w = rows.data();
    }
    k.nr = static_cast<int>(std::min<std::int64_t>(kRowTile, W.ne1 - rt * kRowTile));
    k.x = act + tt * kTokTile * xb;
    k.x_stride = xb;
    k.nt = static_cast<int>(std::min<std::int64_t>(kTokTile, T - tt * kTokTile));
    k.y = y + tt * kTokTile * W.ne1 + rt * kRowTile;
    k.y_stride = W.ne1;
    fn(k);
  }
}

}  // namespace gs::ref
