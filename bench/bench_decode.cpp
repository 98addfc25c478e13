// bench_decode: the reference kernel's decode speed against this machine's memory
// bandwidth, on a full-size model (issue 4, item 7).
//
// For each weight format and thread count:
//   prefill  one step of P tokens (default 512): FLOP/s from the kernel's counters
//   (the file is first read once into the page cache, as validate does)
//   decode   R repetitions, interleaved: a STREAM-style triad pass (a = b + s*c over
//            3 x 256 MiB, 12 bytes per element, same thread count), then S greedy decode
//            steps; medians of both over the repetitions. Achieved bytes/s = (weight + KV
//            bytes the counters report per token) / median step time; ratio = achieved / triad.
// A benchmark: it prints figures and asserts nothing.
//
// Usage: bench_decode [--model ID] [--quant q4_0,q8_0] [--threads 1,2] [--prompt 512]
//                     [--reps 7] [--steps 4] [--seed 1] [--gguf FILE.gguf] [--no-repack]
// (--no-repack: Q4_0 / Q8_0 / Q4_K / Q6_K matrices run in GGUF order, not interleaved.)
// With an ID the synthetic GGUF is the one `gemmasim run` uses (<repo>/.cache/gemmasim/
// <id>-<quant>-<seed>.gguf, or $XDG_CACHE_HOME/gemmasim), written first when missing.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data_paths.h"
#include "error.h"
#include "forward.h"
#include "probe.h"
#include "gguf.h"
#include "synth.h"
#include "units.h"
#include "weights.h"
#include "stats.h"

using namespace gs;
using namespace gs::ref;
using namespace gs::measure;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string cache_path(const ModelSpec& m, const std::string& quant, unsigned long long seed) {
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::string(x) + "/gemmasim";
  else dir = data_root() + "/.cache/gemmasim";
  const std::string path = dir + "/" + m.id + "-" + quant + "-" + std::to_string(seed) + ".gguf";
  if (!std::filesystem::exists(path)) {
    std::filesystem::create_directories(dir);
    SynthOptions o;
    o.quant = quant;
    o.seed = seed;
    std::fprintf(stderr, "synthesising %s (%s) into %s\n", m.id.c_str(), quant.c_str(), path.c_str());
    synth_gguf(m, o, path);
  }
  return path;
}

// STREAM triad, one pass; arrays allocated and first touched once by the caller's threads.
struct Triad {
  std::size_t n = std::size_t{64} << 20;  // 64 Mi floats = 256 MiB per array
  std::vector<float> a, b, c;
  Triad() : a(n), b(n), c(n) {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = 0.0f;
      b[i] = 1.0f;
      c[i] = 2.0f;
    }
  }
  double bytes_per_s() {
    const float s = 3.0f;
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    const auto t0 = Clock::now();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    return 3.0 * static_cast<double>(n) * sizeof(float) / since(t0);
  }
};

std::vector<std::int32_t> seeded_tokens(std::int64_t n, std::int64_t vocab, unsigned long long seed) {
  std::vector<std::int32_t> t;
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 12345;
  for (std::int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t.push_back(static_cast<std::int32_t>((s >> 33) % static_cast<std::uint64_t>(vocab)));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model = "gemma4-e2b", quants = "q4_0,q8_0", threads_s = "1,2", gguf;
  int prompt = 512, reps = 7, steps = 4;
  unsigned long long seed = 1;
  bool repack = true;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--no-repack") {
      repack = false;
      continue;
    }
    if (i + 1 >= argc) input_error("bench_decode: " + k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--model") model = v;
    else if (k == "--quant") quants = v;
    else if (k == "--threads") threads_s = v;
    else if (k == "--prompt") prompt = std::atoi(v.c_str());
    else if (k == "--reps") reps = std::atoi(v.c_str());
    else if (k == "--steps") steps = std::atoi(v.c_str());
    else if (k == "--seed") seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--gguf") gguf = v;
    else input_error("bench_decode: unknown option " + k);
  }
  if (prompt < 1 || reps < 1 || steps < 1) input_error("bench_decode: --prompt, --reps and --steps must be >= 1");
  std::vector<int> threads;
  for (const auto& t : split(threads_s)) threads.push_back(std::max(1, std::atoi(t.c_str())));
  std::vector<std::string> files;
  if (!gguf.empty()) files.push_back(gguf);
  else
    for (const auto& q : split(quants)) files.push_back(cache_path(find_model(model), q, seed));

  std::printf("bench_decode: %d-token prefill, then %d reps x (triad pass, %d decode steps); medians over reps\n",
              prompt, reps, steps);
  std::printf("%-30s %3s %7s %9s %9s %9s %9s %9s %6s %12s\n", "file", "thr", "isa", "triad", "tok/s", "MB/tok",
              "GB/s", "ratio", "", "prefill");
  std::printf("%-30s %3s %7s %9s %9s %9s %9s %9s %6s %12s\n", "", "", "", "GB/s", "(median)", "w+KV", "achieved",
              "vs triad", "", "GFLOP/s");
  for (const auto& path : files) {
    // The file read once into the page cache first (as validate prepares a run, and as
    // llama.cpp's MAP_POPULATE mapping does): the decode steps then read weights from memory,
    // not the PLE rows of each new token from disk (4 ms a token here when they were cold).
    const double read_bps = reread_file(path);
    std::fprintf(stderr, "read %s once (%.2f GB/s); %.1f%% resident\n", path.c_str(), read_bps / kGB,
                 100.0 * resident_share(path));
    const GgufFile file(path);
    const ModelSpec m = model_for_gguf(file);
    ModelWeights w = bind_weights(m, file);
    if (repack) {
      const std::int64_t n = interleave_weights(w, &file);
      if (n > 0) std::fprintf(stderr, "interleaved %.2f GB of Q4_0 / Q8_0 / Q4_K / Q6_K weights by 16 rows\n", static_cast<double>(n) / kGB);
    }
    // The other matrices into huge pages, as `gemmasim run` places them (weights.h huge_page_weights).
    if (const std::int64_t c = huge_page_weights(w, &file); c > 0)
      std::fprintf(stderr, "copied %.2f GB of other matrices into huge pages\n", static_cast<double>(c) / kGB);
    prefault_weights(w);
    for (int nt : threads) {
      omp_set_num_threads(nt);
      Triad triad;
      ForwardOptions o;
      o.n_ctx = prompt + static_cast<std::int64_t>(reps + 1) * steps + 1;
      Forward f(m, w, o);
      const auto toks = seeded_tokens(prompt, m.n_vocab, seed);
      f.warm_up(toks);  // untimed, undone (as gemmasim run, llama-bench)
      const auto t0 = Clock::now();
      std::vector<float> logits = f.step(toks);
      const double prefill_s = since(t0);
      const double prefill_flops = static_cast<double>(f.counters().total().flops);
      std::int32_t next = argmax(logits.data(), m.n_vocab);
      // Warm-up: one untimed decode round (pages in whatever the prefill did not touch).
      for (int s = 0; s < steps; ++s) next = argmax(f.step({next}).data(), m.n_vocab);
      f.counters().reset();
      std::vector<double> triad_bps, step_s;
      for (int r = 0; r < reps; ++r) {
        triad_bps.push_back(triad.bytes_per_s());
        const auto t1 = Clock::now();
        for (int s = 0; s < steps; ++s) next = argmax(f.step({next}).data(), m.n_vocab);
        step_s.push_back(since(t1) / steps);
      }
      const OpCount c = f.counters().total();
      const double tokens = static_cast<double>(reps) * steps;
      const double bytes_per_tok = static_cast<double>(c.weight_bytes + c.kv_read_bytes + c.kv_write_bytes) / tokens;
      const double tri = median(triad_bps), st = median(step_s);
      const double achieved = bytes_per_tok / st;
      const std::string name = std::filesystem::path(path).filename().string();
      std::printf("%-30s %3d %7s %9.2f %9.2f %9.1f %9.2f %8.1f%% %6s %12.1f\n", name.c_str(), nt, isa_name(active_isa()),
                  tri / kGB, 1.0 / st, bytes_per_tok / kMB, achieved / kGB, 100.0 * achieved / tri, "",
                  prefill_flops / prefill_s / kGFLOP);
      std::fflush(stdout);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_decode: %s\n", e.what());
  return 2;
}
