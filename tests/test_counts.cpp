// test_counts.cpp: the simulator's per-op FLOPs and bytes (sim/ops.h) equal the
// reference kernel's counters (reference/counters.h) exactly: integers, no
// tolerance, for every tiny variant, every weight format the kernel supports,
// and prompt / depth / micro-batch points (prefill, decode, past the window).
//
// The kernel runs a synthetic GGUF written by synth (the recipe's tensor types,
// mapped where a tiny row does not fit a block), the simulator uses the same
// recipe through prepare_ops: any disagreement in tensor types, row bytes or
// counting rules shows up as a named (op, layer, field) mismatch.
#include <doctest/doctest.h>

#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "ops.h"
#include "quant.h"
#include "synth.h"
#include "tensors.h"
#include "weights.h"

using namespace gs;
using namespace gs::ref;
namespace fs = std::filesystem;

namespace {

[[maybe_unused]] const int kSingleThread = [] {
  omp_set_num_threads(1);
  return 1;
}();

const char* kTiny[] = {"gemma4-e2b-tiny", "gemma4-e4b-tiny", "gemma4-26b-a4b-tiny", "gemma4-31b-tiny"};
const char* kFormats[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m"};

ModelSpec tiny(const std::string& id) { return load_model_file(std::string(GEMMASIM_SOURCE_DIR) + "/models/tiny/" + id + ".json"); }

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("gemmasim_test_counts_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::vector<std::int32_t> tokens(const ModelSpec& m, int n, std::uint32_t seed) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  std::uint32_t s = seed;
  for (auto& x : t) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<std::int32_t>((s >> 8) % static_cast<std::uint32_t>(m.n_vocab));
  }
  return t;
}

using CountMap = std::map<std::pair<std::string, int>, OpCount>;

// Distinct experts per MoE layer among the routes of one step (index = layer).
std::vector<int> distinct_experts(const ModelSpec& m, const std::vector<Route>& routes) {
  std::vector<std::set<int>> s(static_cast<std::size_t>(m.n_layer));
  for (const auto& r : routes)
    for (int e : r.experts) s[static_cast<std::size_t>(r.layer)].insert(e);
  std::vector<int> n;
  for (const auto& x : s) n.push_back(static_cast<int>(x.size()));
  return n;
}

void add_into(CountMap& a, const CountMap& b) {
  for (const auto& [k, v] : b) a[k] += v;
}

// Every (op, layer) of either side, every field equal; failures name op, layer, field and both values.
int compare(const CountMap& kernel, const CountMap& sim, const std::string& where) {
  std::set<std::pair<std::string, int>> keys;
  for (const auto& [k, v] : kernel) keys.insert(k);
  for (const auto& [k, v] : sim) keys.insert(k);
  int bad = 0;
  for (const auto& k : keys) {
    const OpCount a = kernel.count(k) ? kernel.at(k) : OpCount{};
    const OpCount b = sim.count(k) ? sim.at(k) : OpCount{};
    if (a.same_counts(b)) continue;
    ++bad;
    std::ostringstream s;
    s << where << " op " << k.first << " layer " << k.second << ": kernel/sim flops " << a.flops << "/" << b.flops
      << " weight_bytes " << a.weight_bytes << "/" << b.weight_bytes << " kv_read " << a.kv_read_bytes << "/"
      << b.kv_read_bytes << " kv_write " << a.kv_write_bytes << "/" << b.kv_write_bytes << " act " << a.act_bytes
      << "/" << b.act_bytes;
    FAIL_CHECK(s.str());
  }
  return bad;
}

// The kernel executes the file's tensor types. Where synth stored a matrix in another
// type than the recipe's (a type the kernel lacks, e.g. Q4_K_M's Q5_0 fallback for rows
// that are not a multiple of 256 -> Q8_0 on the tiny shapes), the simulator's weight
// bytes of that matmul op are rescaled to the file's row bytes: same counting rule,
// different input. Returns the number of remapped matrices.
int rescale_mapped(const ModelSpec& m, const std::string& fmt, const std::vector<SynthTensor>& plan, CountMap& sim) {
  const auto ts = weight_tensors(m);
  const auto rt = tensor_types(find_recipe(fmt), m, ts);
  auto op_of = [](TensorRole r) -> const char* {
    switch (r) {
      case TensorRole::AttnQ: return "attn_q";
      case TensorRole::AttnK: return "attn_k";
      case TensorRole::AttnV: return "attn_v";
      case TensorRole::AttnOut: return "attn_out";
      case TensorRole::FfnGate: return "ffn_gate";
      case TensorRole::FfnUp: return "ffn_up";
      case TensorRole::FfnDown: return "ffn_down";
      case TensorRole::PleInpGate: return "ple_gate";
      case TensorRole::PleProj: return "ple_proj";
      case TensorRole::PleModelProj: return "ple_model_proj";
      case TensorRole::MoeRouter: return "moe_router";
      default: return nullptr;
    }
  };
  int n = 0;
  for (std::size_t i = 0; i < plan.size() && i < rt.size(); ++i) {
    if (plan[i].type == rt[i] || !plan[i].info.is_matrix()) continue;
    const char* op = op_of(plan[i].info.role);
    REQUIRE_MESSAGE(op != nullptr, "remapped tensor without a single-matrix op: " << plan[i].info.name);
    const auto key = std::make_pair(std::string(op), plan[i].info.layer);
    if (!sim.count(key)) continue;
    const std::int64_t ne0 = plan[i].info.ne[0];
    const double f = static_cast<double>(tensor_bytes(plan[i].type, ne0)) / static_cast<double>(tensor_bytes(rt[i], ne0));
    sim[key].weight_bytes = std::llround(static_cast<double>(sim[key].weight_bytes) * f);
    ++n;
  }
  return n;
}

struct Step {
  int T;            // tokens of the timed step
  int depth;        // tokens already in the cache (prefilled first, not compared)
  int n_ubatch;     // kernel micro-batch
};

}  // namespace

TEST_CASE("per-op FLOPs and bytes of the simulator equal the kernel's counters for every tiny variant and format") {
  const fs::path dir = temp_dir();
  // Prefill from empty, prefill past the sliding window at depth, decode at depth,
  // and a prefill split in micro-batches (3 + 3 + 1 tokens).
  const Step steps[] = {{6, 0, 512}, {5, 11, 512}, {1, 20, 512}, {7, 2, 3}};
  for (const char* id : kTiny) {
    const ModelSpec m = tiny(id);
    for (const char* fmt : kFormats) {
      const std::string id_s = id, fmt_s = fmt;
      CAPTURE(id_s);
      CAPTURE(fmt_s);
      SynthOptions so;
      so.quant = fmt;
      so.seed = 5;
      const std::string path = (dir / (std::string(id) + "-" + fmt + ".gguf")).string();
      synth_gguf(m, so, path);
      const GgufFile file(path);
      const ModelWeights w = bind_weights(m, file);
      const ModelOps mo = prepare_ops(m, find_recipe(fmt));
      const auto plan = synth_plan(m, so);
      for (const Step& st : steps) {
        ForwardOptions o;
        o.n_ctx = st.depth + st.T;
        o.n_ubatch = st.n_ubatch;
        o.kv_type = KvCacheType::F16;
        o.trace = true;
        Forward f(m, w, o);
        if (st.depth > 0) f.step(tokens(m, st.depth, 3));
        f.counters().reset();
        f.clear_routes();
        const auto toks = tokens(m, st.T, 9);
        f.step(toks);
        // The simulator's counts, one step per micro-batch of the kernel; the output
        // head runs on the last token of the last micro-batch only. Distinct experts
        // per micro-batch from the routing trace (token positions).
        CountMap sim;
        for (int t0 = 0; t0 < st.T; t0 += st.n_ubatch) {
          const int T = std::min(st.n_ubatch, st.T - t0);
          const bool last = t0 + T >= st.T;
          std::vector<Route> part;
          for (const auto& r : f.routes())
            if (r.token >= st.depth + t0 && r.token < st.depth + t0 + T) part.push_back(r);
          add_into(sim, step_counts(mo, T, st.depth + t0, 2.0, last ? 1 : 0, distinct_experts(m, part)));
        }
        const int remapped = rescale_mapped(m, fmt, plan, sim);
        if (std::string(fmt) != "q4_k_m") CHECK(remapped == 0);  // only Q4_K_M's fallbacks need a type the kernel lacks
        const std::string where = std::string(id) + " " + fmt + " T=" + std::to_string(st.T) + " depth=" + std::to_string(st.depth) +
                                  " ubatch=" + std::to_string(st.n_ubatch);
        CHECK(compare(f.counters().all(), sim, where) == 0);
      }
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("the count comparison catches a one-byte difference") {
  CountMap a, b;
  OpCount c = count_matmul(3, 64, 32, 68);
  a[{"attn_q", 0}] = c;
  b[{"attn_q", 0}] = c;
  CHECK(a.at({"attn_q", 0}).same_counts(b.at({"attn_q", 0})));
  b[{"attn_q", 0}].weight_bytes += 1;
  CHECK_FALSE(a.at({"attn_q", 0}).same_counts(b.at({"attn_q", 0})));
}
