// validate_run.cpp: the validation loop (validate_run.h): each configuration executed by the
// kernel in a stopped-and-continued child process, the machine sampled at every stop, and each
// phase predicted at the speed measured around it.
#include "validate_run.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomic_file.h"
#include "data_paths.h"
#include "error.h"
#include "forward.h"
#include "machine_sample.h"
#include "stats.h"
#include "text.h"
#include "units.h"

namespace gs::measure {

namespace {

namespace fs = std::filesystem;

// This process's own binary for the child runs: /proc/<pid>/exe stays valid when the file
// is rebuilt (replaced) during a long validate; the resolved path is the fallback.
std::string self_exe() {
  const std::string proc = "/proc/" + std::to_string(::getpid()) + "/exe";
  if (::access(proc.c_str(), X_OK) == 0) return proc;
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gemmasim") : p.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
    if (e.is_regular_file(ec) && e.path().extension() == ".gguf") drop_file_pages(e.path().string());
  reread_file(path, room);
  *resident = resident_share(path);
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

}  // namespace

std::string cached_probe_path() { return synth_cache_dir() + "/probe-this-machine.json"; }

ProbeResult load_or_probe(const std::string& probe_file, int max_threads, bool tty, json* constants) {
  auto take = [&](const json& dev, const std::string& file) {
    ProbeResult p = probe_from_json(dev, file);
    const json& m = dev.at("measured");
    *constants = m.contains("reference_engine_throughput") ? m.at("reference_engine_throughput")
                 : p.op_rates.empty()                      ? json::object()
                                                           : reference_cpu_ops(p);
    return p;
  };
  if (!probe_file.empty()) return take(read_json_file(probe_file), probe_file);
  const std::string cache = cached_probe_path();
  if (fs::exists(cache)) {
    try {
      const json dev = read_json_file(cache);
      if (probe_reusable(dev, this_cpu(), max_threads, std::time(nullptr))) {
        std::fprintf(stderr, "probe: reusing %s (this machine, %s)\n", cache.c_str(),
                     dev.at("measured").value("date_utc", std::string()).c_str());
        return take(dev, cache);
      }
    } catch (const InputError&) {
      // an unreadable cache is probed anew
    }
  }
  ProbeOptions o;
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
  const ProbeResult p = probe_machine(o);
  json dev = probe_device_json(p, "this-machine");
  *constants = reference_cpu_ops(p);
  if (!constants->empty()) dev["measured"]["reference_engine_throughput"] = *constants;
  write_file_atomic(cache, dev.dump(2) + "\n");
  return p;
}

namespace {

// Holds an exclusive flock on fd (>= 0) for its lifetime: the run and the machine samples
// around its phases under one lock on a shared machine (--lock).
struct HeldLock {
  int fd;
  explicit HeldLock(int f) : fd(f) {
    if (fd >= 0) ::flock(fd, LOCK_EX);
  }
  ~HeldLock() {
    if (fd >= 0) ::flock(fd, LOCK_UN);
  }
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;
};

// What is decided about a configuration before anything runs: whether it is skipped (memory
// rule or time limit: the same every pass), its predicted wall time and its weight on the
// progress line.
struct RowPlan {
  std::string skip;
  double pred_wall_s = 0;
  double weight_s = 0;  // predicted wall time + what each row costs around it; 0: skipped
};

// What every row's measurement needs.
struct RunContext {
  const ValidateRunOptions& o;
  const ProbeResult& probe;
  const json& probe_constants;
  std::string tmp_base;
};

// Predicted wall time of a run (warm-up, prompt, decode; the KV fill is seeded: run --fill seeded
// stores the rows, which costs what attention then reads the same as a prefill of D tokens would
// leave, in milliseconds instead of minutes).
double predicted_wall_s(const ValidateConfig& c, const RunContext& x) {
  const Prediction g = predict_run(c, rates_at(x.probe, c.threads, x.probe_constants), x.o.engine);
  // + run's warm-up (Forward::warm_up): min(prompt, run's default --ubatch) tokens and one more
  const double warm = static_cast<double>(std::min<long long>(c.prompt, ref::ForwardOptions{}.n_ubatch));
  return (g.prefill_tok_per_s > 0 ? (static_cast<double>(c.prompt) + warm) / g.prefill_tok_per_s : 0) +
         (g.decode_tok_per_s > 0 ? static_cast<double>(c.gen + 1) / g.decode_tok_per_s : 0);
}

std::vector<RowPlan> plan_rows(const std::vector<ValidateConfig>& matrix, const RunContext& x) {
  // what each row costs besides its run (reading the file, the machine samples)
  constexpr double kRowAroundS = 8;
  std::vector<RowPlan> plan(matrix.size());
  for (std::size_t k = 0; k < matrix.size(); ++k) {
    const auto& c = matrix[k];
    RowPlan& p = plan[k];
    p.skip = memory_skip_reason(c, static_cast<double>(x.probe.memory_bytes), x.probe.file_cache.fault_bytes, x.o.engine);
    if (!p.skip.empty()) continue;
    p.pred_wall_s = predicted_wall_s(c, x);
    if (x.o.max_run_s > 0 && p.pred_wall_s > x.o.max_run_s) {
      char b[200];
      std::snprintf(b, sizeof b, "predicted run time %.0f s (warm-up + prompt + decode) > --max-run-s %.0f", p.pred_wall_s,
                    x.o.max_run_s);
      p.skip = b;
      continue;
    }
    p.weight_s = p.pred_wall_s + kRowAroundS;
  }
  return plan;
}

// Writes the synthetic file a configuration runs if it is missing (not inside the timed run:
// pages written just before it may already be out of the page cache on a small machine), then
// reads it once right before the run (nothing else reads the disk or fills the page cache in
// between). room: memory available to the run; resident: share of the file cached.
void prepare_model_file(const ValidateConfig& c, double* room, double* resident) {
  if (const std::string f = synth_cache_path(c); !fs::exists(f)) {
    std::fprintf(stderr, "  synthesising %s\n", f.c_str());
    const std::string cmd = shell_quote(self_exe()) + " run --model " + c.model + " --quant " + c.quant +
                            " --prompt 1 --gen 1 --threads " + std::to_string(c.threads) + " >/dev/null 2>&1 </dev/null";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "  synthesis failed; the run will report why\n");
  }
  if (const std::string f = synth_cache_path(c); fs::exists(f)) {
    const double s = warm_page_cache(f, room, resident);
    std::fprintf(stderr, "  read %s once (page cache, %.1f s; %.1f GiB available to the run; %.1f%% of the file resident)\n",
                 f.c_str(), s, *room / kGiB, 100 * *resident);
  }
}

// The row's predictions from the samples taken around its phases: machine figures and peak
// memory from the mean of every sample; the prefill from the samples just before and after
// it; each decode rep from its own two (the row's decode: the median of the reps).
void predict_from_samples(ValidateRow& r, const std::vector<MachineSample>& samples, const std::vector<double>& step_s,
                          double room, double resident, const RunContext& x) {
  const ValidateConfig& c = r.c;
  const std::string& engine = x.o.engine;
  const MachineRates base = rates_at(x.probe, c.threads, x.probe_constants);
  MachineSample all;
  for (const auto& s : samples) {
    all.triad_bytes_per_s += s.triad_bytes_per_s / static_cast<double>(samples.size());
    all.fp32_flops_per_s += s.fp32_flops_per_s / static_cast<double>(samples.size());
    all.int8_ops_per_s += s.int8_ops_per_s / static_cast<double>(samples.size());
    for (const auto& [f, v] : s.stream_bytes_per_s) all.stream_bytes_per_s[f] += v / static_cast<double>(samples.size());
  }
  r.rates = between(base, all, all);
  r.rates.page_cache_room_bytes = room;
  r.file_resident_share = resident;
  r.rates.disk_read_bytes_per_s = x.probe.file_cache.cold_read_bytes_per_s;
  r.pred = predict_run(c, triad_alone(r.rates), engine);
  // the rates between two samples, with the row's page-cache and disk figures
  auto rates_between = [&](const MachineSample& a, const MachineSample& b) {
    MachineRates m = between(base, a, b);
    m.page_cache_room_bytes = r.rates.page_cache_room_bytes;
    m.disk_read_bytes_per_s = r.rates.disk_read_bytes_per_s;
    return m;
  };
  if (samples.size() >= 2) {
    r.pred.prefill_tok_per_s = predict_run(c, triad_alone(rates_between(samples[0], samples[1])), engine).prefill_tok_per_s;
    r.prefill_wall_s = samples[1].stop_s - samples[0].cont_s;
    r.prefill_other_cpu_s = other_cpu_s(samples[0], samples[1]);
  }
  const std::vector<double> rep_tps = rep_tok_per_s(step_s, kStepsPerRep);
  std::vector<double> rep_pred;
  for (std::size_t k = 0; k < rep_tps.size() && k + 2 < samples.size(); ++k) {
    const MachineSample &from = samples[k + 1], &to = samples[k + 2];
    const MachineRates dr = rates_between(from, to);
    DecodeRep d;
    d.meas_tok_per_s = rep_tps[k];
    d.pred_tok_per_s = predict_run(c, triad_alone(dr), engine).decode_tok_per_s;
    if (!dr.weight_stream_bytes_per_s.empty()) d.pred_stream_tok_per_s = predict_run(c, dr, engine).decode_tok_per_s;
    d.bandwidth_bytes_per_s = dr.bandwidth_bytes_per_s;
    d.weight_stream_bytes_per_s = dr.weight_stream_bytes_per_s;
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
}

// One line per measured row on stderr: the machine, each phase measured and predicted, and the
// CPU time other work took while the row's phases ran (only the run should).
void print_row_line(const ValidateRow& r) {
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
}

// Per-op predicted vs measured for the row with the largest decode (or prefill) error.
json worst_row_op_compare(const std::vector<ValidateRow>& rows, const ValidateSummary& s) {
  const bool decode_worse = s.decode.max_abs >= s.prefill.max_abs;
  const std::string worst = decode_worse ? s.decode.worst : s.prefill.worst;
  json out;
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
    out = {{"label", r.c.label()}, {"phase", phase}, {"ops", arr}};
  }
  return out;
}

}  // namespace

ValidateRun run_validate(const std::vector<ValidateConfig>& matrix, const ValidateRunOptions& o) {
  int lock_fd = -1;
  if (!o.lock_file.empty()) {
    lock_fd = ::open(o.lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0) input_error("--lock: " + o.lock_file + ": cannot open");
  }
  // Synthetic files present before this run are never deleted by --evict.
  std::vector<bool> existed;
  for (const auto& c : matrix) existed.push_back(fs::exists(synth_cache_path(c)));
  auto maybe_evict = [&](std::size_t i) {
    if (!o.evict || existed[i]) return;
    const std::string p = synth_cache_path(matrix[i]);
    for (std::size_t j = i + 1; j < matrix.size(); ++j)
      if (synth_cache_path(matrix[j]) == p) return;  // used again later
    std::error_code ec;
    if (fs::remove(p, ec)) std::fprintf(stderr, "  --evict: removed %s\n", p.c_str());
  };
  int max_threads = 1;
  for (const auto& c : matrix) max_threads = std::max(max_threads, c.threads);
  json probe_constants;
  ProbeResult probe = load_or_probe(o.probe_file, max_threads, true, &probe_constants);
  {  // the page-cache fault unit on the model files' filesystem, measured now (it sets the PLE table's resident bytes)
    std::error_code ec;
    fs::create_directories(synth_cache_dir(), ec);
    const HeldLock held(lock_fd);
    const FileCacheRates fc = file_cache_rates(synth_cache_dir());
    if (fc.fault_bytes > 0) probe.file_cache = fc;
    std::fprintf(stderr, "page cache: a read fault on a freshly read, mmap'd file makes %.0f KiB resident; cold read %.2f GB/s\n",
                 probe.file_cache.fault_bytes / 1024, probe.file_cache.cold_read_bytes_per_s / kGB);
  }
  const RunContext x{o, probe, probe_constants,
                     (fs::temp_directory_path() / ("gemmasim_validate_" + std::to_string(::getpid()))).string()};
  const std::vector<RowPlan> plan = plan_rows(matrix, x);
  // The time left on the progress lines: the rows still to run, weighted by their predicted time.
  double total_weight_s = 0, done_weight_s = 0;
  for (const auto& p : plan) total_weight_s += o.repeat * p.weight_s;
  const auto matrix_t0 = std::chrono::steady_clock::now();
  auto time_left = [&] {
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - matrix_t0).count();
    return eta_text(el, total_weight_s > 0 ? done_weight_s / total_weight_s : 0);
  };
  // Pass after pass (--repeat N): a configuration's passes lie a whole matrix apart, so a slow
  // minute of this shared machine hits one pass of a row, not all of them.
  std::vector<std::vector<ValidateRow>> by_config(matrix.size());
  for (int pass = 0; pass < o.repeat; ++pass) {
    if (o.repeat > 1) std::fprintf(stderr, "pass %d of %d\n", pass + 1, o.repeat);
    for (std::size_t k = 0; k < matrix.size(); ++k) {
      const ValidateConfig& c = matrix[k];
      auto& rows_of = by_config[k];
      ValidateRow r;
      r.c = c;
      r.skip = plan[k].skip;
      if (!r.skip.empty()) {  // the same every pass: said once
        if (pass == 0) std::fprintf(stderr, "[%zu/%zu] %s: skipped: %s\n", k + 1, matrix.size(), c.label().c_str(), r.skip.c_str());
        rows_of.push_back(r);
        continue;
      }
      const bool last_pass = pass + 1 == o.repeat;
      const HeldLock held(lock_fd);  // the run and the machine samples around its phases under one lock
      std::fprintf(stderr, "[%zu/%zu] %s: run, stopped before its prefill and every %lld decode steps to measure triad + peaks%s...\n",
                   k + 1, matrix.size(), c.label().c_str(), kStepsPerRep, time_left().c_str());
      done_weight_s += plan[k].weight_s;
      double room = 0, resident = -1;
      prepare_model_file(c, &room, &resident);
      std::vector<MachineSample> samples;
      std::vector<double> step_s;
      try {
        r.meas = execute(c, x.tmp_base, samples, step_s, o.stream_witness);
      } catch (const std::exception& e) {
        r.skip = std::string("execution failed: ") + e.what();
        std::fprintf(stderr, "  %s\n", r.skip.c_str());
        rows_of.push_back(r);
        if (last_pass) maybe_evict(k);
        continue;
      }
      if (last_pass) maybe_evict(k);
      predict_from_samples(r, samples, step_s, room, resident, x);
      print_row_line(r);
      rows_of.push_back(r);
    }
  }
  ValidateRun out;
  for (const auto& v : by_config) out.rows.push_back(combine_passes(v));
  if (o.repeat > 1)
    for (int pass = 0; pass < o.repeat; ++pass) {
      std::vector<ValidateRow> one;
      for (const auto& v : by_config) one.push_back(v[static_cast<std::size_t>(pass)]);
      const ValidateSummary ps = summarize_validate(one);
      out.pass_summaries.push_back({{"pass", pass + 1}, {"prefill", stats_json(ps.prefill)}, {"decode", stats_json(ps.decode)},
                                    {"peak_memory", stats_json(ps.peak)}});
      if (ps.decode_stream.n > 0) out.pass_summaries.back()["decode_stream"] = stats_json(ps.decode_stream);
    }
  out.summary = summarize_validate(out.rows);
  out.machine = {{"cpu", probe.cpu_name}, {"isa", probe.isa}, {"cores", probe.cores},
                 {"memory_gib", static_cast<double>(probe.memory_bytes) / kGiB},
                 {"page_cache_fault_bytes", probe.file_cache.fault_bytes},
                 {"cold_read_bytes_per_s", probe.file_cache.cold_read_bytes_per_s}};
  out.op_compare = worst_row_op_compare(out.rows, out.summary);
  return out;
}

}  // namespace gs::measure
