// probe_kernel_ops.cpp: what the reference kernel's non-matmul ops and per-call costs achieve
// on this machine (probe.h: kernel_op_rates, matmul_call_seconds).
//
// The op rates come from the kernel itself, not from a copy of its loops: a fixed
// "probe model" (below; Gemma 4 E2B's layer structure and widths, 4 layers, a 16K
// vocabulary) with in-memory seeded Q8_0 weights runs a 64-token prefill and 8
// decode steps through gs::ref::Forward with the profile on, and every op's counted
// FLOP / bytes and measured time are summed per phase. Whatever the kernel does in
// an op (serial loops, OpenMP regions, transcendental functions, allocations, the
// counters themselves) is in its time. The probe model is not one of the validated
// configurations and nothing here depends on them.
#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "forward.h"
#include "huge_pages.h"
#include "kernels/kernels.h"
#include "model.h"
#include "probe.h"
#include "qmatrix.h"
#include "quant.h"
#include "weights.h"

namespace gs::measure {

using namespace gs::ref;  // the kernel the probe runs and times

namespace {

using Clock = std::chrono::steady_clock;

// The probe model: E2B's widths (D 1536, 8 heads of 256 / 512, one KV head, FFN 6144,
// PLE 256, softcap 30), 4 layers (3 sliding + 1 global), vocabulary 16384.
const char* kProbeModel = R"json({
  "schema_version": 1, "id": "probe-model", "name": "gemmasim probe model (E2B widths, 4 layers)",
  "arch": "gemma4", "hidden_size": 1536, "num_layers": 4, "vocab_size": 16384, "context_length": 4096,
  "tie_word_embeddings": true, "embed_scale": "sqrt_hidden", "norm_eps": 1e-06, "final_logit_softcap": 30.0,
  "post_norms": true, "layer_scalar": true,
  "attention": {"sliding_window": 512, "layer_types": "SSSG", "qk_norm": true, "v_norm": true, "bias": false,
    "sinks": false, "scale": 1.0,
    "sliding": {"num_heads": 8, "num_kv_heads": 1, "head_dim": 256, "rope_theta": 10000, "rope_fraction": 1.0},
    "global": {"num_heads": 8, "num_kv_heads": 1, "head_dim": 512, "rope_theta": 1000000, "rope_fraction": 0.25,
               "k_eq_v": false}},
  "kv_source": [0, 1, 2, 3],
  "ffn": {"width": [6144, 6144, 6144, 6144], "gated": true, "activation": "gelu_tanh"},
  "ple": {"dim": 256, "vocab_size": 16384},
  "sources": {"all": "gemmasim probe: a fixed shape for measuring the kernel's per-op rates (measure/probe_kernel_ops.cpp)"}
})json";

void add_phase(const Counters& c, const std::string& phase, int threads, std::vector<OpRate>& out, std::int64_t depth,
               bool attention_only = false) {
  std::map<std::string, OpCount> by_op;
  for (const auto& [k, v] : c.all()) by_op[k.first] += v;
  for (const auto& [name, v] : by_op) {
    if (attention_only && name != "attn_scores" && name != "attn_softmax" && name != "attn_values") continue;
    OpRate r;
    r.op = name;
    r.phase = phase;
    r.threads = threads;
    r.flops = static_cast<double>(v.flops);
    r.bytes = static_cast<double>(v.weight_bytes + v.kv_read_bytes + v.kv_write_bytes + v.act_bytes);
    r.time_s = v.time_s;
    r.calls = v.calls;
    r.depth = depth;
    out.push_back(r);
  }
}

}  // namespace

namespace {

// The attention probe model: the probe model (kProbeModel) with its attention layers as they
// are (3 sliding with 8 heads of 256 over one KV head, window 512, then 1 global with 8 heads
// of 512), so each attend() call has the same shape as there, at a width of 256 with a
// 256-wide FFN and no PLE (its cache is filled with seeded rows, fill_to), and a context of
// 8192 so that the far depth can be the validation matrix's deepest (4096): there a global
// layer's K and V (4 + 4 MB of f16, 8 + 8 of float mirrors on AVX2) leave L2 and, on small-L3
// hosts, L3, which a rate measured at 2048 does not see (deep decode then runs well below the
// prediction on hosts with a small L2).
// Between two steps a layer's K/V leaves the cache as in a real model: the tied 131072 x 256
// output head (36 MB of Q8_0, above the 32 MB L3 of this project's machine) and the other
// layers' K/V stream through it.
ModelSpec attention_probe_model() {
  json j = json::parse(kProbeModel);
  j["id"] = "attention-probe-model";
  j["name"] = "gemmasim attention probe model (probe model attention, width 256)";
  j["hidden_size"] = 256;
  j["context_length"] = 8192;
  j["vocab_size"] = 131072;
  j["ffn"]["width"] = 256;
  j.erase("ple");
  j["sources"] = {{"all", "gemmasim probe: the probe model's attention at width 256, for decode attention at two depths (measure/probe_kernel_ops.cpp)"}};
  return parse_model(j, "attention probe model (measure/probe_kernel_ops.cpp)");
}

// Seeded K / V rows up to position `depth` (Forward::fill_kv_seeded: what the steps after it
// cost does not depend on the rows' values; a prefill of the positions would take seconds of
// the probe on a slow core). Nothing when g is there already.
void fill_to(Forward& g, std::int64_t depth) {
  if (depth > g.pos()) g.fill_kv_seeded(depth, 0x5EED);
}

// The probes' seeded prompt of n tokens.
std::vector<std::int32_t> probe_prompt(int n, std::int64_t vocab) {
  std::vector<std::int32_t> p(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7919 + 13) % vocab);
  return p;
}

// `steps` greedy decode steps from tok; returns the last token.
std::int32_t decode(Forward& g, int steps, std::int32_t tok, std::int64_t vocab) {
  for (int s = 0; s < steps; ++s) {
    const auto logits = g.step({tok});
    tok = argmax(logits.data(), vocab);
  }
  return tok;
}

}  // namespace

static ModelSpec probe_model() { return parse_model(json::parse(kProbeModel), "probe model (measure/probe_kernel_ops.cpp)"); }

std::vector<OpRate> kernel_op_rates(int threads, int prompt_tokens, int decode_steps, int deep_depth) {
  const ModelSpec m = probe_model();
  static const ModelWeights w = random_weights(m, GgmlType::Q8_0, 7);
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<OpRate> out;
  ForwardOptions o;
  o.n_ctx = 1024;
  o.profile = true;
  Forward f(m, w, o);
  const std::vector<std::int32_t> prompt = probe_prompt(prompt_tokens, m.n_vocab);
  f.step(prompt);  // warm-up (first touch of the weights and buffers), not counted
  Forward g(m, w, o);
  g.step(prompt);
  add_phase(g.counters(), "prefill", threads, out, 0);
  g.counters().reset();
  std::int32_t tok = decode(g, decode_steps, 1, m.n_vocab);
  add_phase(g.counters(), "decode", threads, out, prompt_tokens);
  // The same decode steps at deep_depth positions (the sliding window by default: from there
  // on a sliding layer's attention stops growing), where attention is a visible share of a
  // step and its per-call costs are spread over more keys.
  if (deep_depth > g.pos() && deep_depth + decode_steps <= o.n_ctx) {
    fill_to(g, deep_depth);
    g.counters().reset();
    const std::int64_t at = g.pos();
    tok = decode(g, decode_steps, tok, m.n_vocab);
    add_phase(g.counters(), "decode_deep", threads, out, at);
    // And the prompt again at that depth: its queries see deep_depth keys more each.
    if (g.pos() + prompt_tokens <= o.n_ctx) {
      g.counters().reset();
      const std::int64_t pat = g.pos();
      g.step(prompt);
      add_phase(g.counters(), "prefill_deep", threads, out, pat);
    }
  }
  omp_set_num_threads(prev);
  return out;
}

std::vector<OpRate> attention_depth_rates(int threads, int near_depth, int far_depth, int decode_steps) {
  static const ModelSpec m = attention_probe_model();
  static const ModelWeights w = random_weights(m, GgmlType::Q8_0, 11);
  std::vector<OpRate> out;
  // One model filled to each depth; then 3 rounds, each `decode_steps` steps at the near depth
  // and as many at the far one, alternating, and per depth the round of median attention time
  // counts: a fit on two single measurements can move its rate 2x between two probes, as
  // another process or a bandwidth dip hits one of them.
  constexpr int kRounds = 3, kPrefill = 64;
  ForwardOptions o;
  o.n_ctx = std::max(near_depth, far_depth) + kRounds * (decode_steps + 1) + 1 + kPrefill;
  o.profile = true;
  if (decode_steps < 1 || near_depth < 1 || o.n_ctx > m.n_ctx_max) return out;
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  struct Depth {
    int depth;
    const char* phase;
    std::unique_ptr<Forward> g;
    std::int32_t tok = 1;
    std::vector<Counters> rounds;
    std::vector<std::int64_t> at;  // position at each round's first step
  };
  Depth d[2] = {{near_depth, "decode_attn_near", nullptr, 1, {}, {}}, {far_depth, "decode_attn_far", nullptr, 1, {}, {}}};
  for (Depth& x : d) {
    x.g = std::make_unique<Forward>(m, w, o);
    fill_to(*x.g, x.depth);
    x.g->step({x.tok});  // one step not counted: the buffers of a decode step, after the fill's
  }
  for (int r = 0; r < kRounds; ++r)
    for (Depth& x : d) {
      x.g->counters().reset();
      x.at.push_back(x.g->pos());
      x.tok = decode(*x.g, decode_steps, x.tok, m.n_vocab);
      x.rounds.push_back(x.g->counters());
    }
  // Index of the round of median attention time.
  auto median_round = [](const std::vector<Counters>& rounds) {
    auto attn_s = [](const Counters& c) {
      double s = 0;
      for (const char* n : {"attn_scores", "attn_softmax", "attn_values"}) s += c.op_total(n).time_s;
      return s;
    };
    std::vector<std::size_t> idx(rounds.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return attn_s(rounds[a]) < attn_s(rounds[b]); });
    return idx[idx.size() / 2];
  };
  for (Depth& x : d) {
    const std::size_t med = median_round(x.rounds);
    add_phase(x.rounds[med], x.phase, threads, out, x.at[med], true);
  }
  // A 64-token prompt at the far depth, 3 times (each undone), the median counts (phase
  // prefill_attn_far): the prefill attention rate where a global layer's K and V are as deep
  // as the matrix's deepest rows (deep global layers run below the rate a prompt at 512
  // positions gives).
  {
    Depth& x = d[1];
    const std::vector<std::int32_t> prompt = probe_prompt(kPrefill, m.n_vocab);
    std::vector<Counters> reps;
    const std::int64_t at = x.g->pos();
    for (int r = 0; r < kRounds; ++r) {
      x.g->counters().reset();
      x.g->step(prompt);
      reps.push_back(x.g->counters());
      x.g->rewind(kPrefill);
    }
    add_phase(reps[median_round(reps)], "prefill_attn_far", threads, out, at, true);
  }
  omp_set_num_threads(prev);
  return out;
}

double matmul_call_seconds(int threads) {
  // 128 rows of 256 Q8_0 weights: the smallest matrix the kernel splits over threads
  // (ne0 x ne1 x T >= 32768), so the call is its fixed cost (activation quantization,
  // OpenMP fork/join, dispatch) plus < 1 us of work. Each call follows ~100 us of
  // serial work, as a matmul in the forward pass follows a serial elementwise op (the
  // other threads have gone idle and must wake up).
  const std::int64_t ne0 = 256, ne1 = 128;
  QMatrix q;
  q.type = GgmlType::Q8_0;
  q.ne0 = ne0;
  q.ne1 = ne1;
  q.row_bytes = static_cast<std::size_t>(tensor_bytes(q.type, ne0));
  std::vector<std::uint8_t> data(q.row_bytes * static_cast<std::size_t>(ne1));
  std::vector<float> row(static_cast<std::size_t>(ne0), 0.1f);
  for (std::int64_t r = 0; r < ne1; ++r) quantize_row(q.type, row.data(), data.data() + r * q.row_bytes, ne0);
  q.data = data.data();
  std::vector<float> x(static_cast<std::size_t>(ne0), 0.5f), y(static_cast<std::size_t>(ne1));
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::vector<double> t;
  volatile double sink = 0;
  for (int rep = 0; rep < 201; ++rep) {
    const auto w0 = Clock::now();
    double acc = 0;
    while (std::chrono::duration<double>(Clock::now() - w0).count() < 100e-6) acc += std::sqrt(acc + 1.0);
    sink = sink + acc;
    const auto t0 = Clock::now();
    matmul(q, x.data(), 1, y.data());
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (rep > 0) t.push_back(s);
  }
  omp_set_num_threads(prev);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

namespace {

// A 3-D Q4_0 expert tensor [E experts of ne1 rows of ne0] in a read-only file mapping,
// as the kernel maps a GGUF (4 KiB page-cache pages, not the anonymous huge pages of a
// heap buffer): written to an unlinked temporary file, mapped, read once; then, where the
// interleaved kernel runs, copied into its layout as a model's experts are at load.
struct MappedExperts {
  QMatrix q;
  void* map = MAP_FAILED;
  std::size_t total = 0;
  MappedExperts(std::int64_t ne0, std::int64_t ne1, std::int64_t E) {
    q.type = GgmlType::Q4_0;
    q.ne0 = ne0;
    q.ne1 = ne1;
    q.ne2 = E;
    q.row_bytes = static_cast<std::size_t>(tensor_bytes(q.type, ne0));
    const std::size_t rows = static_cast<std::size_t>(ne1 * E);
    total = q.row_bytes * rows;
    std::vector<std::uint8_t> block(q.row_bytes * 64);
    std::vector<float> row(static_cast<std::size_t>(ne0));
    for (std::size_t r = 0; r < 64; ++r) {
      for (std::size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(((r * 131 + i * 17) % 97) / 97.0 - 0.5);
      quantize_row(q.type, row.data(), block.data() + r * q.row_bytes, ne0);
    }
    char tmpl[] = "/tmp/gemmasim_probe_experts_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) return;
    ::unlink(tmpl);
    std::size_t done = 0;
    while (done < total) {
      const std::size_t n = std::min(block.size(), total - done);
      const ssize_t w = ::write(fd, block.data(), n);
      if (w <= 0) break;
      done += static_cast<std::size_t>(w);
    }
    if (done == total) map = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) return;
    q.data = map;
    volatile std::uint8_t sum = 0;
    for (std::size_t i = 0; i < total; i += 4096) sum = sum + static_cast<const std::uint8_t*>(map)[i];
    // As the forward pass runs a model (interleave_weights): where the ISA has the interleaved
    // Q4_0 / Q8_0 kernel, a copy in that layout, in huge pages, the file pages released.
    if (can_interleave(q) && interleaved_kernel_active(q.type)) {
      try {
        copy = alloc_huge_pages(total);
      } catch (const std::bad_alloc&) {
        return;
      }
      q = interleaved_copy(q, copy.get());
      ::munmap(map, total);
      map = nullptr;
    }
  }
  ~MappedExperts() {
    if (map != MAP_FAILED && map != nullptr) ::munmap(map, total);
  }
  HugeBuffer copy;
  bool ok() const { return map != MAP_FAILED && q.data != nullptr; }
};

}  // namespace

double expert_matmul_rate(int threads, int tokens, bool flops) {
  // Gemma 4 26B A4B's expert shapes at Q4_0: fused gate_up (1408 rows of 2816) and down
  // (2816 rows of 704), 48 experts each (160 MB, beyond the last-level cache); each step
  // multiplies one token by 8 distinct experts (gate_up, then down), as a decode step of
  // a MoE layer does. Short rows (704) make the down product slower per byte.
  const std::int64_t D = 2816, Fe = 704, E = 48;
  MappedExperts gu(D, 2 * Fe, E), dn(Fe, D, E);
  if (!gu.ok() || !dn.ok()) return 0;
  const std::size_t T = static_cast<std::size_t>(std::max(1, tokens));
  std::vector<float> x(T * static_cast<std::size_t>(D), 0.25f), h(T * static_cast<std::size_t>(2 * Fe)), y(T * static_cast<std::size_t>(D));
  const int prev = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::uint32_t s = 12345;
  double bytes = 0, secs = 0;
  const double per_expert = static_cast<double>(gu.q.row_bytes * static_cast<std::size_t>(2 * Fe) + dn.q.row_bytes * static_cast<std::size_t>(D));
  for (int step = 0; step < 36; ++step) {
    std::vector<int> pick;
    while (pick.size() < 8) {
      s = s * 1664525u + 1013904223u;
      const int e = static_cast<int>((s >> 8) % static_cast<std::uint32_t>(E));
      if (std::find(pick.begin(), pick.end(), e) == pick.end()) pick.push_back(e);
    }
    const auto t0 = Clock::now();
    for (int e : pick) {
      matmul(gu.q, x.data(), static_cast<int>(T), h.data(), e);
      matmul(dn.q, h.data(), static_cast<int>(T), y.data(), e);
    }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (step >= 4) bytes += 8.0 * per_expert, secs += dt;
  }
  omp_set_num_threads(prev);
  // FLOP: 2 per weight per token (weights = bytes / 18 x 32 for Q4_0).
  const double work = flops ? bytes / 18.0 * 32.0 * 2.0 * static_cast<double>(T) : bytes;
  return secs > 0 ? work / secs : 0;
}

}  // namespace gs::measure
