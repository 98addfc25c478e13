// gemmasim validate [--quick] [--json] [--probe FILE] [--out-dir DIR]
// gemmasim validate --llama-bench FILE.json [--hw ID|FILE] [--json]
//
// On this machine: for each configuration of the matrix (sim/validate.h), measure
// the STREAM triad at the run's thread count just before and after executing it,
// execute it with the reference kernel in a child process (`gemmasim run --json`,
// so its peak memory is its own), predict it with the `reference` engine profile
// at the bandwidth measured around it, and report predicted vs measured.
// Configurations the memory model says do not fit are skipped with the reason.
// Reports go to reports/out/: validate.md, validate.json, validate.csv, validate.gp,
// validate.png and validate.svg (gnuplot, when installed).
#include <fcntl.h>
#include <omp.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "atomic_file.h"
#include "data_paths.h"
#include "engine.h"
#include "forward.h"
#include "options.h"
#include "text.h"
#include "machine_sample.h"
#include "validate_serving.h"
#include "probe.h"
#include "stats.h"
#include "table.h"
#include "units.h"
#include "validate.h"

namespace gs::cli {

namespace {

namespace fs = std::filesystem;
using measure::MachineSample;
using measure::between;
using measure::other_cpu_s;
using measure::rates_at;
using measure::sample_machine;
using measure::triad_alone;

// This process's own binary for the child runs: /proc/<pid>/exe stays valid when the file
// is rebuilt (replaced) during a long validate; the resolved path is the fallback.
std::string self_exe() {
  const std::string proc = "/proc/" + std::to_string(::getpid()) + "/exe";
  if (::access(proc.c_str(), X_OK) == 0) return proc;
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gemmasim") : p.string();
}

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// The synthetic GGUF `gemmasim run --model ID --quant Q` uses (cli/cmd_run.cpp: seed 1).
std::string synth_cache_path(const ValidateConfig& c) {
  return synth_cache_dir() + "/" + c.model + "-" + c.quant + "-1.gguf";
}

// Drop a model file from the page cache and read it once, right before a timed run: the model
// predicts a warm run (weights come from memory, not disk), and a file read this way is held
// in the page-cache units file_cache_rates() measures (they set how much of the sparsely read
// PLE table becomes resident), whatever state earlier runs left it in. Returns seconds taken.
// The other synthetic models in the cache folder are dropped first: read once, the run's pages
// are the first the kernel reclaims when the page cache is full of other model files (a 14 GB
// file read next to a cached 17 GB one kept 29% of its pages here).
// room: MemAvailable with the files dropped, before the read (the memory the run can have).
// resident: share of the file in the page cache right before the run.
double warm_page_cache(const std::string& path, double* room, double* resident) {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path(), ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".gguf") ref::drop_file_pages(e.path().string());
  ref::reread_file(path, room);
  *resident = ref::resident_share(path);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The cpu line of /proc/stat (user nice system idle iowait irq softirq steal, in clock ticks
// since boot, all CPUs) in seconds; empty where it cannot be read.
std::vector<double> cpu_line_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  std::vector<double> v(8);
  const long tck = ::sysconf(_SC_CLK_TCK);
  if (!(f >> cpu) || cpu != "cpu" || tck <= 0) return {};
  for (auto& x : v) {
    long long ticks = 0;
    if (!(f >> ticks)) return {};
    x = static_cast<double>(ticks) / static_cast<double>(tck);
  }
  return v;
}
// From one read of that line: CPU time stolen from this guest by the hypervisor (steal) and the
// time every CPU spent busy (user, nice, system, irq, softirq), since boot; -1 where unknown.
struct CpuTimes {
  double steal_s = -1, busy_s = -1;
};
CpuTimes cpu_times() {
  const auto v = cpu_line_seconds();
  if (v.empty()) return {};
  return {v[7], v[0] + v[1] + v[2] + v[5] + v[6]};
}

// CPU time (user + system, all threads) process pid has used, in seconds (/proc/PID/stat
// fields 14 and 15); -1 where it cannot be read.
double process_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  const auto close = line.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  long long utime = -1, stime = -1;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  const long tck = ::sysconf(_SC_CLK_TCK);
  return utime >= 0 && stime >= 0 && tck > 0 ? static_cast<double>(utime + stime) / static_cast<double>(tck) : -1;
}

// Decode steps per rep: each rep is predicted from the machine figures measured around it.
constexpr long long kStepsPerRep = 4;
// Prefill reps (gemmasim run --prefill-reps: the median of 3 timings of the prompt, as
// llama-bench repeats each test): a single short prefill on a shared machine can run several
// times slower than its neighbours (every op of the step slower, no other process running).
constexpr int kPrefillReps = 3;

// Execute one configuration: `gemmasim run --json --pause-every 4` in a child process. The
// child stops itself right before its prefill and before every 4th decode step; each time
// (and once it has exited) the machine is sampled here while the child is stopped, then
// continued. samples: [before prefill, before rep 0, before rep 1, ..., after the last rep].
Measured execute(const ValidateConfig& c, const std::string& tmp_base, std::vector<MachineSample>& samples,
                 std::vector<double>& step_s, bool stream_witness) {
  const std::vector<std::string> formats = stream_witness ? streamed_formats(c) : std::vector<std::string>{};
  const std::string out = tmp_base + ".json", err = tmp_base + ".err";
  const std::string self = self_exe();
  std::vector<std::string> args = {self, "run", "--model", c.model, "--quant", c.quant, "--prompt", std::to_string(c.prompt),
                                   "--gen", std::to_string(c.gen), "--depth", std::to_string(c.depth), "--fill", "seeded", "--threads",
                                   std::to_string(c.threads), "--pause-every", std::to_string(kStepsPerRep), "--prefill-reps",
                                   std::to_string(kPrefillReps), "--json"};
  std::vector<char*> argv;
  for (auto& x : args) argv.push_back(x.data());
  argv.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {  // child: stdin from /dev/null, stdout and stderr to files
    // Killed with validate: a child stopped between reps keeps a signal pending until it is
    // continued, so an interrupted validate would leave it stopped, holding its memory.
    // SIGKILL also ends a stopped process.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // the parent is already gone
    const int in = ::open("/dev/null", O_RDONLY);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || o < 0 || e < 0) ::_exit(126);
    ::dup2(in, 0), ::dup2(o, 1), ::dup2(e, 2);
    ::execv(self.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};  // the child's CPU time once it has exited
  samples.clear();
  for (;;) {
    if (::wait4(pid, &status, WUNTRACED, &usage) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("waitpid failed");
    }
    const double stop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const CpuTimes at_stop = cpu_times();
    if (WIFSTOPPED(status)) {
      const double child = process_cpu_seconds(pid);
      samples.push_back(sample_machine(c.threads, formats));
      samples.back().stop_s = stop_s;
      samples.back().stop_steal_s = at_stop.steal_s;
      samples.back().stop_busy_s = at_stop.busy_s;
      samples.back().child_cpu_s = child;
      const CpuTimes at_cont = cpu_times();
      samples.back().cont_steal_s = at_cont.steal_s;
      samples.back().cont_busy_s = at_cont.busy_s;
      samples.back().cont_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ::kill(pid, SIGCONT);
      continue;
    }
    samples.push_back(sample_machine(c.threads, formats));
    samples.back().stop_s = stop_s;
    samples.back().stop_steal_s = at_stop.steal_s;
    samples.back().stop_busy_s = at_stop.busy_s;
    samples.back().child_cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                                 1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
    break;  // exited or killed
  }
  Measured m;
  m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = slurp(out), etext = slurp(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string last = etext;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    if (auto p = last.rfind('\n'); p != std::string::npos) last = last.substr(p + 1);
    throw std::runtime_error("gemmasim run failed (status " + std::to_string(status) + "): " + last);
  }
  const json j = json::parse(text);
  m.prefill_tok_per_s = j.value("prefill_tok_per_s", 0.0);
  m.decode_tok_per_s = j.value("decode_tok_per_s", 0.0);
  m.peak_bytes = j.value("peak_rss_bytes", 0.0);
  if (j.contains("counters")) m.counters = j["counters"];
  step_s = j.value("decode_step_s", std::vector<double>{});
  return m;
}

// A probe of this machine kept for the next validate: <cache>/probe-this-machine.json.
std::string cached_probe_path() { return synth_cache_dir() + "/probe-this-machine.json"; }

// The probe validate predicts with: --probe FILE; else a fresh cached probe of this machine;
// else a full probe now (kernel and op rates: the reference engine's constants), cached.
// `constants` receives the reference kernel's constants of that probe.
ref::ProbeResult load_or_probe(const std::string& probe_file, int max_threads, bool tty, json* constants) {
  auto take = [&](const json& dev, const std::string& file) {
    ref::ProbeResult p = ref::probe_from_json(dev, file);
    const json& m = dev.at("measured");
    *constants = m.contains("reference_engine_throughput") ? m.at("reference_engine_throughput")
                 : p.op_rates.empty()                      ? json::object()
                                                           : ref::reference_cpu_ops(p);
    return p;
  };
  if (!probe_file.empty()) return take(read_json_file(probe_file), probe_file);
  const std::string cache = cached_probe_path();
  if (fs::exists(cache)) {
    try {
      const json dev = read_json_file(cache);
      if (ref::probe_reusable(dev, ref::this_cpu(), max_threads, std::time(nullptr))) {
        std::fprintf(stderr, "probe: reusing %s (this machine, %s)\n", cache.c_str(),
                     dev.at("measured").value("date_utc", std::string()).c_str());
        return take(dev, cache);
      }
    } catch (const InputError&) {
      // an unreadable cache is probed anew
    }
  }
  ref::ProbeOptions o;
  o.max_threads = max_threads;
  o.kernels = true;
  o.op_rates = true;
  o.progress = [tty](const std::string& s) {
    if (tty) std::fprintf(stderr, "probe: %s\n", s.c_str());
  };
  {
    std::error_code ec;
    fs::create_directories(synth_cache_dir(), ec);
    if (!ec) o.file_cache_dir = synth_cache_dir();
  }
  std::fprintf(stderr, "probe: measuring this machine first (about a minute; kept in %s for an hour)\n", cache.c_str());
  const ref::ProbeResult p = ref::probe_machine(o);
  json dev = ref::probe_device_json(p, "this-machine");
  *constants = ref::reference_cpu_ops(p);
  if (!constants->empty()) dev["measured"]["reference_engine_throughput"] = *constants;
  write_file_atomic(cache, dev.dump(2) + "\n");
  return p;
}

int llama_bench_mode(const std::string& file, const std::string& hw, bool as_json) {
  std::vector<std::string> bad;
  const auto runs = read_llama_bench(file, &bad);
  // A file with no usable run is not llama-bench output: say so instead of an empty table.
  if (runs.empty())
    input_error(file + ": no llama-bench run in it (expected the JSON of `llama-bench -o json`" +
                (bad.empty() ? std::string(")") : "; first problem: " + bad.front() + ")"));
  std::vector<BenchCompare> res;
  for (const auto& r : runs) res.push_back(predict_llama_bench(map_llama_bench_run(r, hw)));
  std::vector<double> ep, et;
  std::vector<std::string> lp, lt;
  for (const auto& b : res) {
    if (!b.c.skip.empty()) continue;
    (b.c.prefill ? ep : et).push_back(b.err);
    (b.c.prefill ? lp : lt).push_back(std::to_string(b.c.run.index));
  }
  const ErrorStats sp = error_stats(ep, lp), st = error_stats(et, lt);
  if (as_json) {
    json j = {{"file", file}, {"runs", json::array()}, {"malformed", bad}};
    for (const auto& b : res) {
      json x = {{"index", b.c.run.index}, {"model_type", b.c.run.model_type}, {"test", b.c.test},
                {"measured_tok_per_s", b.c.run.avg_ts}, {"stddev_tok_per_s", b.c.run.stddev_ts}};
      if (!b.c.skip.empty()) {
        x["skipped"] = b.c.skip;
      } else {
        x.update({{"model", b.c.model_id}, {"quant", b.c.recipe_id}, {"hardware", b.c.hw_id}, {"engine", b.c.engine_id},
                  {"gpu_layers", b.c.gpu_layers}, {"predicted_tok_per_s", b.predicted_tok_per_s}, {"error", b.err},
                  {"bound", b.bound}, {"notes", b.c.notes}});
      }
      j["runs"].push_back(x);
    }
    j["summary"] = {{"prefill", {{"n", sp.n}, {"median_abs_error", sp.median_abs}, {"max_abs_error", sp.max_abs}}},
                    {"decode", {{"n", st.n}, {"median_abs_error", st.median_abs}, {"max_abs_error", st.max_abs}}}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  report::Table t({"#", "model", "quant", "hardware", "engine", "test", "measured", "predicted", "error", "bound"});
  t.right_align_from(6);
  for (const auto& b : res) {
    if (!b.c.skip.empty()) continue;
    char e[32];
    std::snprintf(e, sizeof e, "%+.1f%%", 100 * b.err);
    t.add({std::to_string(b.c.run.index), b.c.model_id, b.c.recipe_id, b.c.hw_id, b.c.engine_id, b.c.test,
           report::fmt_num(b.c.run.avg_ts, 2), report::fmt_num(b.predicted_tok_per_s, 2), e, b.bound});
  }
  std::fputs(t.text().c_str(), stdout);
  for (const auto& b : res)
    if (!b.c.skip.empty()) std::printf("skipped run %d (%s, %s): %s\n", b.c.run.index, b.c.run.model_type.c_str(), b.c.test.c_str(), b.c.skip.c_str());
  for (const auto& m : bad) std::printf("malformed run: %s\n", m.c_str());
  std::printf("\nprefill: %d runs, median |error| %.1f%%, max %.1f%%\n", sp.n, 100 * sp.median_abs, 100 * sp.max_abs);
  std::printf("decode:  %d runs, median |error| %.1f%%, max %.1f%%\n", st.n, 100 * st.median_abs, 100 * st.max_abs);
  return 0;
}

}  // namespace

int cmd_validate_run(const std::vector<ValidateConfig>& matrix, const std::string& probe_file, const std::string& out_dir,
                     bool as_json, const std::string& command, double max_run_s, bool evict, const std::string& lock_file,
                     const std::string& engine, int repeat, bool stream_witness);

int cmd_validate(const Args& a) {
  bool quick = false, as_json = false, evict = false, stream_witness = false, serving = false;
  double max_run_s = 300;
  int repeat = 1;
  std::string llama_bench, hw, probe_file, out_dir, only, lock_file, engine = "reference";
  po::options_description d("gemmasim validate options");
  d.add_options()("quick", po::bool_switch(&quick), "a subset for CI (under 3 minutes once the synthetic files are cached)")(
      "json", po::bool_switch(&as_json), "print validate.json on stdout")(
      "llama-bench", po::value(&llama_bench), "compare with runs of `llama-bench -o json` measured elsewhere")(
      "hw", po::value(&hw), "hardware of the llama-bench runs (id or file; default: from gpu_info / cpu_info)")(
      "probe", po::value(&probe_file), "predict with this device file written by `gemmasim probe` (default: a probe of this machine from the last hour in the cache, else a probe now)")(
      "max-run-s", po::value(&max_run_s)->default_value(300), "skip configurations predicted to run longer (0: no limit)")(
      "only", po::value(&only), "run only configurations whose label contains this text")(
      "repeat", po::value(&repeat)->default_value(1),
      "measure the matrix N times, pass after pass; each row reports the median of its passes' errors (a shared machine)")(
      "lock", po::value(&lock_file), "hold an exclusive flock on this file while measuring each configuration (shared machines)")(
      "evict", po::bool_switch(&evict), "delete each synthetic GGUF this run wrote after its last configuration (disk)")(
      "stream-witness", po::bool_switch(&stream_witness),
      "also measure the kernel's own mat-vec stream of the run's weight formats at each stop and report a second decode "
      "prediction from it (err stream)")(
      "serving", po::bool_switch(&serving),
      "serving rows instead: serve-sim vs the kernel serving requests with continuous batching (serve-run), "
      "E2B and E4B at rates up to saturation, 26B A4B at one (--quick: E2B at two rates)")(
      "out-dir", po::value(&out_dir), "report folder (default: <repo>/reports/out)")(
      "engine", po::value(&engine)->default_value("reference"),
      "engine profile that predicts (id or file; `gemmasim probe --engine-out FILE` writes one for this machine)");
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim validate [--quick] [--json] [--probe FILE] [--engine ID|FILE] [--out-dir DIR] [--repeat N] [--stream-witness]\n"
             "       gemmasim validate --llama-bench FILE.json [--hw ID|FILE] [--json]"))
    return 0;
  if (!llama_bench.empty() && stream_witness) input_error("--stream-witness: not with --llama-bench (it measures this machine's runs)");
  if (!llama_bench.empty()) return llama_bench_mode(llama_bench, hw, as_json);
  if (max_run_s < 0) input_error("--max-run-s: expected >= 0");
  if (repeat < 1 || repeat > 20) input_error("--repeat: expected 1 to 20 passes, got " + std::to_string(repeat));
  if (!hw.empty()) input_error("--hw: only with --llama-bench (validate measures this machine)");
  if (serving) {
    json constants;
    (void)load_or_probe(probe_file, omp_get_max_threads(), ::isatty(2) != 0, &constants);
    return validate_serving(probe_file.empty() ? cached_probe_path() : probe_file, quick, as_json,
                            out_dir.empty() ? default_report_dir() : out_dir);
  }
  if (resolve_engine(engine).backend != "cpu") input_error("--engine: '" + engine + "' is not a CPU engine profile");
  std::vector<ValidateConfig> matrix;
  for (const auto& c : validate_matrix(quick))
    if (only.empty() || c.label().find(only) != std::string::npos) matrix.push_back(c);
  if (matrix.empty()) input_error("--only: '" + only + "' matches no configuration");
  std::string cmd = "gemmasim validate";
  for (const auto& x : a) cmd += " " + x;
  return cmd_validate_run(matrix, probe_file, out_dir.empty() ? default_report_dir() : out_dir, as_json, cmd, max_run_s, evict, lock_file,
                          engine, repeat, stream_witness);
}

int cmd_validate_run(const std::vector<ValidateConfig>& matrix, const std::string& probe_file, const std::string& out_dir,
                     bool as_json, const std::string& command, double max_run_s, bool evict, const std::string& lock_file,
                     const std::string& engine, int repeat, bool stream_witness) {
  int lock_fd = -1;
  if (!lock_file.empty()) {
    lock_fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0) input_error("--lock: " + lock_file + ": cannot open");
  }
  struct Held {
    int fd;
    explicit Held(int f) : fd(f) {
      if (fd >= 0) ::flock(fd, LOCK_EX);
    }
    ~Held() {
      if (fd >= 0) ::flock(fd, LOCK_UN);
    }
  };
  // Synthetic files present before this run are never deleted by --evict.
  std::vector<bool> existed;
  for (const auto& c : matrix) existed.push_back(fs::exists(synth_cache_path(c)));
  auto maybe_evict = [&](std::size_t i) {
    if (!evict || existed[i]) return;
    const std::string p = synth_cache_path(matrix[i]);
    for (std::size_t j = i + 1; j < matrix.size(); ++j)
      if (synth_cache_path(matrix[j]) == p) return;  // used again later
    std::error_code ec;
    if (fs::remove(p, ec)) std::fprintf(stderr, "  --evict: removed %s\n", p.c_str());
  };
  const bool tty = ::isatty(2) != 0;
  int max_threads = 1;
  for (const auto& c : matrix) max_threads = std::max(max_threads, c.threads);
  json probe_constants;
  ref::ProbeResult probe = load_or_probe(probe_file, max_threads, true, &probe_constants);
  fs::create_directories(out_dir);
  {  // the page-cache fault unit on the model files' filesystem, measured now (it sets the PLE table's resident bytes)
    std::error_code ec;
    fs::create_directories(synth_cache_dir(), ec);
    const Held held(lock_fd);
    const ref::FileCacheRates fc = ref::file_cache_rates(synth_cache_dir());
    if (fc.fault_bytes > 0) probe.file_cache = fc;
    std::fprintf(stderr, "page cache: a read fault on a freshly read, mmap'd file makes %.0f KiB resident; cold read %.2f GB/s\n",
                 probe.file_cache.fault_bytes / 1024, probe.file_cache.cold_read_bytes_per_s / kGB);
  }
  const std::string tmp = (fs::temp_directory_path() / ("gemmasim_validate_" + std::to_string(::getpid()))).string();
  // Pass after pass (--repeat N): a configuration's passes lie a whole matrix apart, so a slow
  // minute of this shared machine hits one pass of a row, not all of them.
  std::vector<std::vector<ValidateRow>> by_config(matrix.size());
  std::vector<bool> fixed_skip(matrix.size(), false);  // skipped by the memory or time rule: the same every pass
  // Predicted wall time of a run (warm-up, prompt, decode; the KV fill is seeded: run --fill seeded
  // stores the rows, which costs what attention then reads the same as a prefill of D tokens would
  // leave, in milliseconds instead of minutes).
  auto predicted_wall_s = [&](const ValidateConfig& c) {
    const Prediction g = predict_run(c, rates_at(probe, c.threads, probe_constants), engine);
    // + run's warm-up (Forward::warm_up): min(prompt, run's default --ubatch) tokens and one more
    const double warm = static_cast<double>(std::min<long long>(c.prompt, ref::ForwardOptions{}.n_ubatch));
    return (g.prefill_tok_per_s > 0 ? (static_cast<double>(c.prompt) + warm) / g.prefill_tok_per_s : 0) +
           (g.decode_tok_per_s > 0 ? static_cast<double>(c.gen + 1) / g.decode_tok_per_s : 0);
  };
  // The time left on the progress lines: the rows still to run, weighted by their predicted time
  // plus what each row costs around it (reading the file, the machine samples).
  constexpr double kRowAroundS = 8;
  std::vector<double> pred_wall_s(matrix.size(), 0), row_weight_s(matrix.size(), 0);
  double total_weight_s = 0, done_weight_s = 0;
  for (std::size_t k = 0; k < matrix.size(); ++k) {
    const auto& c = matrix[k];
    if (!memory_skip_reason(c, static_cast<double>(probe.memory_bytes), probe.file_cache.fault_bytes, engine).empty()) continue;
    pred_wall_s[k] = predicted_wall_s(c);
    if (max_run_s > 0 && pred_wall_s[k] > max_run_s) continue;
    row_weight_s[k] = pred_wall_s[k] + kRowAroundS;
    total_weight_s += repeat * row_weight_s[k];
  }
  const auto matrix_t0 = std::chrono::steady_clock::now();
  auto time_left = [&] {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - matrix_t0).count();
    return eta_text(el, total_weight_s > 0 ? done_weight_s / total_weight_s : 0);
  };
  for (int pass = 0; pass < repeat; ++pass) {
    if (repeat > 1) std::fprintf(stderr, "pass %d of %d\n", pass + 1, repeat);
    int i = 0;
    for (const auto& c : matrix) {
      ++i;
      auto& rows_of = by_config[static_cast<std::size_t>(i - 1)];
      if (fixed_skip[static_cast<std::size_t>(i - 1)]) {
        rows_of.push_back(rows_of.front());
        continue;
      }
      const bool last_pass = pass + 1 == repeat;
      ValidateRow r;
      r.c = c;
      r.skip = memory_skip_reason(c, static_cast<double>(probe.memory_bytes), probe.file_cache.fault_bytes, engine);
      if (!r.skip.empty()) {
        std::fprintf(stderr, "[%d/%zu] %s: skipped: %s\n", i, matrix.size(), c.label().c_str(), r.skip.c_str());
        fixed_skip[static_cast<std::size_t>(i - 1)] = true;
        rows_of.push_back(r);
        continue;
      }
      // Time budget: the run's predicted wall time
      {
        const double t_pred = pred_wall_s[static_cast<std::size_t>(i - 1)];
        if (max_run_s > 0 && t_pred > max_run_s) {
          char b[200];
          std::snprintf(b, sizeof b, "predicted run time %.0f s (warm-up + prompt + decode) > --max-run-s %.0f", t_pred, max_run_s);
          r.skip = b;
          std::fprintf(stderr, "[%d/%zu] %s: skipped: %s\n", i, matrix.size(), c.label().c_str(), r.skip.c_str());
          fixed_skip[static_cast<std::size_t>(i - 1)] = true;
          rows_of.push_back(r);
          continue;
        }
      }
      const Held held(lock_fd);  // the run and the machine samples around its phases under one lock
      std::fprintf(stderr, "[%d/%zu] %s: run, stopped before its prefill and every %lld decode steps to measure triad + peaks%s...\n",
                   i, matrix.size(), c.label().c_str(), kStepsPerRep, time_left().c_str());
      done_weight_s += row_weight_s[static_cast<std::size_t>(i - 1)];
      // A missing synthetic file is written first (not inside the timed run: pages written just
      // before it may already be out of the page cache on a small machine), then read once.
      if (const std::string f = synth_cache_path(c); !fs::exists(f)) {
        std::fprintf(stderr, "  synthesising %s\n", f.c_str());
        const std::string cmd = shell_quote(self_exe()) + " run --model " + c.model + " --quant " + c.quant +
                                " --prompt 1 --gen 1 --threads " + std::to_string(c.threads) + " >/dev/null 2>&1 </dev/null";
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "  synthesis failed; the run will report why\n");
      }
      // Right before the run (nothing else reads the disk or fills the page cache in between).
      double room = 0, resident = -1;
      if (const std::string f = synth_cache_path(c); fs::exists(f)) {
        const double s = warm_page_cache(f, &room, &resident);
        std::fprintf(stderr, "  read %s once (page cache, %.1f s; %.1f GiB available to the run; %.1f%% of the file resident)\n",
                     f.c_str(), s, room / kGiB, 100 * resident);
      }
      std::vector<MachineSample> samples;
      std::vector<double> step_s;
      try {
        r.meas = execute(c, tmp, samples, step_s, stream_witness);
      } catch (const std::exception& e) {
        r.skip = std::string("execution failed: ") + e.what();
        std::fprintf(stderr, "  %s\n", r.skip.c_str());
        rows_of.push_back(r);
        if (last_pass) maybe_evict(static_cast<std::size_t>(i - 1));
        continue;
      }
      if (last_pass) maybe_evict(static_cast<std::size_t>(i - 1));
      const MachineRates base = rates_at(probe, c.threads, probe_constants);
      // The row's figures: the mean of every sample (peak memory, the per-op table); the prefill
      // from the samples just before and after it; each decode rep from its own two.
      MachineSample all;
      for (const auto& x : samples) {
        all.triad_bytes_per_s += x.triad_bytes_per_s / static_cast<double>(samples.size());
        all.fp32_flops_per_s += x.fp32_flops_per_s / static_cast<double>(samples.size());
        all.int8_ops_per_s += x.int8_ops_per_s / static_cast<double>(samples.size());
        for (const auto& [f, v] : x.stream_bytes_per_s) all.stream_bytes_per_s[f] += v / static_cast<double>(samples.size());
      }
      r.rates = between(base, all, all);
      r.rates.page_cache_room_bytes = room;
      r.file_resident_share = resident;
      r.rates.disk_read_bytes_per_s = probe.file_cache.cold_read_bytes_per_s;
      r.pred = predict_run(c, triad_alone(r.rates), engine);
      if (samples.size() >= 2) {
        MachineRates pr = between(base, samples[0], samples[1]);
        pr.page_cache_room_bytes = r.rates.page_cache_room_bytes;
        pr.disk_read_bytes_per_s = r.rates.disk_read_bytes_per_s;
        r.pred.prefill_tok_per_s = predict_run(c, triad_alone(pr), engine).prefill_tok_per_s;
        r.prefill_wall_s = samples[1].stop_s - samples[0].cont_s;
        r.prefill_other_cpu_s = other_cpu_s(samples[0], samples[1]);
      }
      const std::vector<double> rep_tps = rep_tok_per_s(step_s, kStepsPerRep);
      std::vector<double> rep_pred;
      for (std::size_t k = 0; k < rep_tps.size() && k + 2 < samples.size(); ++k) {
        MachineRates dr = between(base, samples[k + 1], samples[k + 2]);
        dr.page_cache_room_bytes = r.rates.page_cache_room_bytes;
        dr.disk_read_bytes_per_s = r.rates.disk_read_bytes_per_s;
        DecodeRep d;
        d.meas_tok_per_s = rep_tps[k];
        d.pred_tok_per_s = predict_run(c, triad_alone(dr), engine).decode_tok_per_s;
        if (!dr.weight_stream_bytes_per_s.empty()) d.pred_stream_tok_per_s = predict_run(c, dr, engine).decode_tok_per_s;
        d.bandwidth_bytes_per_s = dr.bandwidth_bytes_per_s;
        d.weight_stream_bytes_per_s = dr.weight_stream_bytes_per_s;
        const MachineSample &from = samples[k + 1], &to = samples[k + 2];
        d.wall_s = to.stop_s - from.cont_s;
        if (from.cont_steal_s >= 0 && to.stop_steal_s >= 0) d.steal_s = to.stop_steal_s - from.cont_steal_s;
        d.other_cpu_s = other_cpu_s(from, to);
        r.decode_reps.push_back(d);
        rep_pred.push_back(d.pred_tok_per_s);
      }
      if (!rep_pred.empty()) {
        r.pred.decode_tok_per_s = median(rep_pred);
        r.meas.decode_tok_per_s = median(std::vector<double>(rep_tps.begin(), rep_tps.begin() + static_cast<std::ptrdiff_t>(rep_pred.size())));
      }
      r.compute_errors();
      std::string streams;
      for (const auto& [f, v] : r.rates.weight_stream_bytes_per_s) {
        char b[48];
        std::snprintf(b, sizeof b, ", %s stream %.1f", f.c_str(), v / kGB);
        streams += b;
      }
      if (r.has_stream) {
        char b[64];
        std::snprintf(b, sizeof b, " (with the stream %+.1f%%)", 100 * r.err_decode_stream);
        streams += b;
      }
      // Other work's CPU time while the run's prefill and decode reps ran (only the run should).
      double rep_other = 0, rep_wall = 0;
      for (const DecodeRep& d : r.decode_reps)
        if (d.other_cpu_s >= 0) rep_other += d.other_cpu_s, rep_wall += d.wall_s;
      char other[96] = "";
      if (r.prefill_other_cpu_s >= 0)
        std::snprintf(other, sizeof other, " | other CPU %.2f s in the %.2f s prefill, %.2f s in %.1f s of decode", r.prefill_other_cpu_s,
                      r.prefill_wall_s, rep_other, rep_wall);
      std::fprintf(stderr, "  triad %.1f GB/s | prefill %.2f pred %.2f (%+.1f%%) | decode %.2f pred %.2f (%+.1f%%) | peak %.2f GiB pred %.2f (%+.1f%%) | %.0f s%s%s\n",
                   r.rates.bandwidth_bytes_per_s / kGB, r.meas.prefill_tok_per_s, r.pred.prefill_tok_per_s, 100 * r.err_prefill,
                   r.meas.decode_tok_per_s, r.pred.decode_tok_per_s, 100 * r.err_decode, r.meas.peak_bytes / kGiB,
                   r.pred.peak_bytes / kGiB, 100 * r.err_peak, r.meas.wall_s, streams.c_str(), other);
      rows_of.push_back(r);
    }
  }
  std::vector<ValidateRow> rows;
  for (const auto& v : by_config) rows.push_back(combine_passes(v));
  json pass_summaries = json::array();
  if (repeat > 1)
    for (int pass = 0; pass < repeat; ++pass) {
      std::vector<ValidateRow> one;
      for (const auto& v : by_config) one.push_back(v[static_cast<std::size_t>(pass)]);
      const ValidateSummary ps = summarize_validate(one);
      pass_summaries.push_back({{"pass", pass + 1}, {"prefill", stats_json(ps.prefill)}, {"decode", stats_json(ps.decode)},
                                {"peak_memory", stats_json(ps.peak)}});
      if (ps.decode_stream.n > 0) pass_summaries.back()["decode_stream"] = stats_json(ps.decode_stream);
    }
  (void)tty;
  const ValidateSummary s = summarize_validate(rows);
  json extra = {{"command", command}, {"date_utc", utc_now()},
                {"machine", {{"cpu", probe.cpu_name}, {"isa", probe.isa}, {"cores", probe.cores},
                             {"memory_gib", static_cast<double>(probe.memory_bytes) / kGiB},
                             {"page_cache_fault_bytes", probe.file_cache.fault_bytes},
                             {"cold_read_bytes_per_s", probe.file_cache.cold_read_bytes_per_s}}},
                {"engine", engine}, {"repeat", repeat}, {"stream_witness", stream_witness}};
  if (!pass_summaries.empty()) extra["pass_summaries"] = pass_summaries;
  // Per-op comparison for the row with the largest decode (or prefill) error.
  const bool decode_worse = s.decode.max_abs >= s.prefill.max_abs;
  const std::string worst = decode_worse ? s.decode.worst : s.prefill.worst;
  for (const auto& r : rows) {
    if (!r.skip.empty() || r.c.label() != worst) continue;
    const char* phase = decode_worse ? "decode" : "prefill";
    const json mops = r.meas.counters.contains(phase) ? r.meas.counters[phase].value("ops", json::object()) : json::object();
    const auto ops = compare_ops(decode_worse ? r.pred.est.decode : r.pred.est.prefill, mops, 1.0,
                                 decode_worse ? static_cast<double>(r.c.gen) : 1.0);
    json arr = json::array();
    for (const auto& o : ops)
      arr.push_back({{"op", o.op}, {"pred_s", o.pred_s}, {"meas_s", o.meas_s}, {"pred_flops", o.pred_flops},
                     {"meas_flops", o.meas_flops}, {"pred_bytes", o.pred_bytes}, {"meas_bytes", o.meas_bytes}});
    extra["op_compare"] = {{"label", r.c.label()}, {"phase", phase}, {"ops", arr}};
  }
  const json j = validate_to_json(rows, s, extra);
  const std::string base = out_dir + "/validate";
  write_output(base + ".json", j.dump(2) + "\n");
  write_output(base + ".md", validate_markdown(rows, s, extra));
  write_output(base + ".csv", validate_chart_csv(rows));
  write_output(base + ".gp", validate_gnuplot("validate.csv", "validate"));
  if (s.executed > 0) {
    const std::string cmd = "cd " + shell_quote(out_dir) + " && gnuplot validate.gp >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "validate: gnuplot failed or is missing; the chart script is %s.gp\n", base.c_str());
  }
  if (as_json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::fputs(validate_markdown(rows, s, extra).c_str(), stdout);
  std::printf("\nreports: %s.{md,json,csv,gp,png,svg}\n", base.c_str());
  return 0;
}

}  // namespace gs::cli
