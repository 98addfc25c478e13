#include "hardware.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "data_paths.h"
#include "units.h"

namespace gs {

namespace fs = std::filesystem;

double Device::flops(const std::string& dtype) const {
  if (auto it = peak_flops_per_s.find(dtype); it != peak_flops_per_s.end()) return it->second;
  if (dtype == "bf16") return flops("fp16");
  if (dtype == "fp16") {
    auto it = peak_flops_per_s.find("fp32");
    return it == peak_flops_per_s.end() ? 0.0 : it->second;
  }
  if (dtype == "int8") return flops("fp16");
  return 0.0;
}

double System::gpu_memory_bytes() const {
  if (unified()) return host_memory_bytes * host.gpu_memory_fraction;
  double s = 0;
  for (const auto& g : gpus) s += g.memory_bytes;
  return s;
}

// hwdb/cpu-features.json: feature id -> int8 OP per fp32 FLOP of a core (read once).
static const std::map<std::string, double>& cpu_feature_ratios() {
  static const std::map<std::string, double> table = [] {
    std::map<std::string, double> t;
    const std::string p = data_path("hwdb/cpu-features.json");
    const json j = read_json_file(p);
    JsonReader r(j, p);
    auto f = r.at("features");
    for (std::size_t i = 0; i < f.size(); ++i) t[f.at(i).at("id").str()] = f.at(i).at("int8_ops_per_fp32_flop").num(0.1, 1000);
    return t;
  }();
  return table;
}

static double median_gpu_ratio(const char* num, const char* den, int* n);

static bool known_form_factor(const std::string& f) {
  return f == "desktop" || f == "laptop" || f == "server" || f == "board" || f == "phone";
}

namespace {
struct ReserveRule {
  double host_bytes = 0, display_bytes = 0;
  bool phone = false;
  std::string source;
};
}  // namespace

// hwdb/reserve.json: the memory the OS keeps, by form factor (read once). A laptop is a desktop.
static ReserveRule reserve_rule(const std::string& form_factor) {
  static const std::map<std::string, ReserveRule> table = [] {
    std::map<std::string, ReserveRule> t;
    const std::string p = data_path("hwdb/reserve.json");
    if (!path_exists(p)) return t;
    const json j = read_json_file(p);
    JsonReader r(j, p);
    r.at("schema_version").integer(1, 1);
    auto f = r.at("form_factors");
    if (!f.is_object()) f.fail("expected an object of form factor -> reserve");
    for (auto it = f.raw().begin(); it != f.raw().end(); ++it) {
      auto e = f.at(it.key());
      ReserveRule rr;
      rr.phone = e.has("rule");
      if (rr.phone && e.at("rule").str() != "memory_bytes - app_memory_limit_bytes")
        e.at("rule").fail("expected 'memory_bytes - app_memory_limit_bytes'");
      rr.host_bytes = e.num_or("host_reserve_bytes", 0.0, 0.0, 1e13);
      rr.display_bytes = e.num_or("display_reserve_bytes", 0.0, 0.0, 1e12);
      if (!e.has("sources")) e.fail("required key 'sources' missing: every number needs its source");
      rr.source = "hwdb/reserve.json (" + it.key() + ")";
      t[it.key()] = rr;
    }
    return t;
  }();
  auto it = table.find(form_factor == "laptop" || form_factor.empty() ? "desktop" : form_factor);
  return it == table.end() ? ReserveRule{} : it->second;
}

// The form factor of a system: its own, else its host's, else a datacenter GPU's ("server"),
// else a desktop.
static std::string system_form_factor(const System& s) {
  if (!s.host.form_factor.empty()) return s.host.form_factor;
  for (const auto& g : s.gpus)
    if (!g.form_factor.empty() && g.form_factor != "desktop" && g.form_factor != "laptop") return g.form_factor;
  for (const auto& g : s.gpus)
    if (!g.form_factor.empty()) return g.form_factor;
  return "desktop";
}

// Fills a system's reserve from its form factor (a phone: memory minus the app limit, scaled to
// the memory installed).
static void apply_default_reserve(System& s) {
  if (s.form_factor.empty()) s.form_factor = system_form_factor(s);
  const ReserveRule rr = reserve_rule(s.form_factor);
  s.reserve_source = rr.source;
  if (rr.phone || s.form_factor == "phone") {
    const double limit = s.host.app_memory_limit_bytes > 0 && s.host.memory_bytes > 0
                             ? s.host.app_memory_limit_bytes * s.host_memory_bytes / s.host.memory_bytes
                             : s.host_memory_bytes;
    s.host_reserve_bytes = std::max(0.0, s.host_memory_bytes - limit);
    s.display_reserve_bytes = 0;
    s.reserve_source = "the app memory limit of " + s.host.id + " (hwdb/reserve.json, phone)";
    return;
  }
  s.host_reserve_bytes = std::min(rr.host_bytes, 0.5 * s.host_memory_bytes);
  s.display_reserve_bytes = s.gpus.empty() ? 0.0 : std::min(rr.display_bytes, 0.25 * s.gpus.front().memory_bytes);
}

static std::string gib_text(double bytes) {
  char b[48];
  std::snprintf(b, sizeof b, "%.2f GiB", bytes / kGiB);
  return b;
}

void set_host_reserve(System& s, double bytes, const std::string& why) {
  if (!(bytes >= 0) || bytes >= s.host_memory_bytes)
    input_error("--reserve: " + gib_text(bytes) + " is not below the " + gib_text(s.host_memory_bytes) + " of memory of " + s.id);
  s.host_reserve_bytes = bytes;
  s.reserve_source = why;
}

void set_display_reserve(System& s, double bytes) {
  if (s.gpus.empty()) input_error("--display-reserve: " + s.id + " has no discrete GPU");
  if (!(bytes >= 0) || bytes >= s.gpus.front().memory_bytes)
    input_error("--display-reserve: " + gib_text(bytes) + " is not below the first GPU's " + gib_text(s.gpus.front().memory_bytes));
  s.display_reserve_bytes = bytes;
}

double usable_host_memory_bytes(const System& s) { return std::max(0.0, s.host_memory_bytes - s.host_reserve_bytes); }

// user_file: a device file of the user's own (--hw PATH, an inline spec): `schema_version` and
// `sources` may be missing (warned about); hwdb/ files must carry both.
static Device parse_device(const json& j, const std::string& file, bool user_file = false,
                           std::vector<std::string>* warnings = nullptr) {
  JsonReader r(j, file);
  if (!j.is_object()) r.fail("expected a JSON object describing a device");
  if (!user_file || r.has("schema_version")) r.at("schema_version").integer(1, 1);
  Device d;
  d.id = r.at("id").str();
  d.name = r.str_or("name", d.id);
  d.kind = r.at("kind").str();
  if (d.kind != "gpu" && d.kind != "cpu" && d.kind != "unified") r.at("kind").fail("expected gpu, cpu or unified, found '" + d.kind + "'");
  d.vendor = r.str_or("vendor", "");
  d.backend = r.str_or("backend", d.kind == "cpu" ? "cpu" : "");
  if (!d.backend.empty() && d.backend != "cpu" && d.backend != "cuda" && d.backend != "rocm" && d.backend != "metal" &&
      d.backend != "vulkan" && d.backend != "sycl")
    r.at("backend").fail("expected cpu, cuda, rocm, metal, vulkan or sycl, found '" + d.backend + "'");
  d.arch = r.str_or("arch", "");
  d.memory_bytes = r.at("memory_bytes").num(1e6, 1e15);
  d.memory_bandwidth_bytes_per_s = r.at("memory_bandwidth_bytes_per_s").num(1e8, 1e14);
  if (r.has("peak_flops_per_s")) {
    auto p = r.at("peak_flops_per_s");
    if (!p.is_object()) p.fail("expected an object of data type -> FLOP/s");
    for (auto it = p.raw().begin(); it != p.raw().end(); ++it) {
      if (it->is_null()) continue;
      d.peak_flops_per_s[it.key()] = p.at(it.key()).num(1e6, 1e18);
    }
  }
  if (d.kind != "cpu" && !d.peak_flops_per_s.count("fp16") && !d.peak_flops_per_s.count("fp32") &&
      !d.peak_flops_per_s.count("bf16"))
    r.fail("peak_flops_per_s: a " + d.kind + " device needs at least its fp16 or fp32 FLOP/s (prefill and batched "
           "decode are computed from it)");
  // A unified chip's CPU cores, when its peak table is its GPU's (Apple, Jetson, Strix Halo).
  if (r.has("cpu_peak_flops_per_s")) {
    auto p = r.at("cpu_peak_flops_per_s");
    if (!p.is_object()) p.fail("expected an object of data type -> FLOP/s");
    for (auto it = p.raw().begin(); it != p.raw().end(); ++it) d.cpu_peak_flops_per_s[it.key()] = p.at(it.key()).num(1e6, 1e16);
  }
  if (r.has("cpu_features")) {
    auto f = r.at("cpu_features");
    if (!f.is_array()) f.fail("expected an array of CPU feature ids (hwdb/cpu-features.json)");
    const auto& known = cpu_feature_ratios();
    double best = 0;
    std::string best_id;
    for (std::size_t i = 0; i < f.size(); ++i) {
      const std::string id = f.at(i).str();
      auto it = known.find(id);
      if (it == known.end()) f.at(i).fail("unknown CPU feature '" + id + "' (hwdb/cpu-features.json)");
      d.cpu_features.push_back(id);
      if (it->second > best) best = it->second, best_id = id;
    }
    // The int8 dot-product peak of a CPU that states none: its fp32 peak x the best feature's ratio.
    const bool cpu_table = d.kind == "cpu" || (d.kind == "unified" && d.backend == "cpu");
    auto fp32 = d.peak_flops_per_s.find("fp32");
    if (cpu_table && !d.peak_flops_per_s.count("int8") && fp32 != d.peak_flops_per_s.end() && best > 0) {
      d.peak_flops_per_s["int8"] = fp32->second * best;
      d.int8_source = "derived: fp32 peak x " + std::to_string(best).substr(0, 4) + " (" + best_id + ", hwdb/cpu-features.json)";
    }
    // the same for a unified chip's CPU table
    auto cfp32 = d.cpu_peak_flops_per_s.find("fp32");
    if (!cpu_table && cfp32 != d.cpu_peak_flops_per_s.end() && !d.cpu_peak_flops_per_s.count("int8") && best > 0)
      d.cpu_peak_flops_per_s["int8"] = cfp32->second * best;
  }
  d.gpu_memory_fraction = r.num_or("gpu_memory_fraction", 1.0, 0.05, 1.0);
  d.cores = static_cast<int>(r.int_or("cores", 0, 0, 100000));
  if (r.has("pcie")) {
    d.pcie_generation = static_cast<int>(r.at("pcie").int_or("generation", 0, 0, 10));
    d.pcie_lanes = static_cast<int>(r.at("pcie").int_or("lanes", 0, 0, 32));
  }
  d.form_factor = r.str_or("form_factor", "");
  if (!d.form_factor.empty() && !known_form_factor(d.form_factor))
    r.at("form_factor").fail("expected desktop, laptop, server, board or phone, found '" + d.form_factor + "'");
  d.app_memory_limit_bytes = r.num_or("app_memory_limit_bytes", 0.0, 0.0, d.memory_bytes);
  if (d.form_factor == "phone" && d.app_memory_limit_bytes <= 0)
    r.fail("a phone needs app_memory_limit_bytes: the memory one app may use, not the RAM on the box");
  if (r.has("gpu_peak_flops_per_s")) {
    auto p = r.at("gpu_peak_flops_per_s");
    if (!p.is_object()) p.fail("expected an object of data type -> FLOP/s");
    for (auto it = p.raw().begin(); it != p.raw().end(); ++it) d.gpu_peak_flops_per_s[it.key()] = p.at(it.key()).num(1e6, 1e18);
  }
  d.tdp_w = r.num_or("tdp_w", 0.0, 0.0, 1e5);
  d.measured_loaded_w = r.num_or("measured_loaded_w", 0.0, 0.0, 1e5);
  d.price_usd = r.num_or("price_usd", 0.0, 0.0, 1e7);
  d.price_date = r.str_or("price_date", "");
  d.price_kind = r.str_or("price_kind", "");
  if (r.has("measured") && j.at("measured").is_object()) {
    const json& m = j.at("measured");
    if (m.contains("reference_engine_throughput")) {
      if (!m.at("reference_engine_throughput").is_object()) r.at("measured").at("reference_engine_throughput").fail("expected an object");
      d.probed_engine_constants = m.at("reference_engine_throughput");
    }
    d.probed_isa = m.value("isa", std::string());
    d.attention_reads_f16 = m.contains("attention_reads_f16") && m.at("attention_reads_f16").is_boolean()
                                ? m.at("attention_reads_f16").get<bool>()
                                : d.probed_isa == "avx512";
    d.probed_tag = "measured: gemmasim probe " + m.value("date_utc", std::string()) + " on " + m.value("hostname", std::string()) +
                   " (" + m.value("cpu", std::string()) + ")";
  }
  // A GPU of the user's own with its fp16 (tensor) peak but no fp32: the vector ops (norms,
  // activations, softmax) need an fp32 rate; the median fp32 / fp16 of the GPUs in hwdb/devices.
  if (user_file && d.kind != "cpu" && !d.peak_flops_per_s.count("fp32") && d.peak_flops_per_s.count("fp16")) {
    int n = 0;
    const double ratio = median_gpu_ratio("fp32", "fp16", &n);
    if (ratio > 0) {
      d.peak_flops_per_s["fp32"] = d.peak_flops_per_s["fp16"] * ratio;
      if (warnings) {
        char b[240];
        std::snprintf(b, sizeof b, "%s: no fp32 FLOP/s: taken as %.1f TFLOP/s (fp16 x %.3f, the median of %d GPUs in hwdb/devices)",
                      file.c_str(), d.peak_flops_per_s["fp32"] / 1e12, ratio, n);
        warnings->push_back(b);
      }
    }
  }
  if (!r.has("sources")) {
    if (!user_file) r.fail("required key 'sources' missing: every number needs its source");
    if (warnings) warnings->push_back(file + ": no 'sources': its numbers are taken as given, unsourced");
    d.sources = json{{"all", "unsourced: given by the user in " + file}};
  } else {
    d.sources = j.at("sources");
  }
  return d;
}

Device load_device_file(const std::string& path) { return parse_device(read_json_file(path), path); }

static std::string device_path(const std::string& id) { return data_path("hwdb/devices/" + id + ".json"); }

static Device load_device_id(const std::string& id, const JsonReader& where) {
  const std::string p = device_path(id);
  if (!path_exists(p)) where.fail("unknown device '" + id + "' (no " + p + ")");
  return load_device_file(p);
}

static Link parse_link(const JsonReader& r) {
  Link l;
  l.kind = r.str_or("kind", "pcie");
  l.generation = static_cast<int>(r.int_or("generation", 0, 0, 10));
  l.lanes = static_cast<int>(r.int_or("lanes", 0, 0, 64));
  l.bytes_per_s = r.at("bytes_per_s").num(1e6, 1e14);
  return l;
}

// Practical host<->GPU bandwidth when a system does not state it: PCIe per
// generation at x16, measured figures from shared hardware facts (gen3 12.15 GB/s
// P100 bandwidthTest; gen4 ~25 GB/s A100; gen5 ~50 GB/s RX 9060 XT), scaled by
// lanes / 16 (a PCIe link's bandwidth is per lane; an x8 card gets half). Lanes 0 = x16.
static Link default_pcie(int generation, int lanes = 16) {
  if (lanes <= 0) lanes = 16;
  Link l{"pcie", generation, lanes, 12.15e9};
  if (generation >= 5) l.bytes_per_s = 50e9;
  else if (generation == 4) l.bytes_per_s = 25e9;
  l.bytes_per_s *= std::min(lanes, 16) / 16.0;
  return l;
}

static System parse_system(const json& j, const std::string& file) {
  JsonReader r(j, file);
  if (!j.is_object()) r.fail("expected a JSON object describing a system");
  r.at("schema_version").integer(1, 1);
  System s;
  s.file = file;
  s.id = r.at("id").str();
  s.name = r.str_or("name", s.id);
  if (r.has("gpus")) {
    auto g = r.at("gpus");
    if (!g.is_array()) g.fail("expected an array of GPUs: device ids or {device, count}");
    for (std::size_t i = 0; i < g.size(); ++i) {
      auto gi = g.at(i);
      // "rtx-5070-ti" (one card) or {"device": "rtx-5070-ti", "count": 2}
      const bool bare = gi.raw().is_string();
      auto id = bare ? gi : gi.at("device");
      Device d = load_device_id(id.str(), id);
      if (!d.is_gpu()) id.fail("'" + d.id + "' is not a discrete GPU");
      const int n = bare ? 1 : static_cast<int>(gi.int_or("count", 1, 1, 64));
      for (int k = 0; k < n; ++k) s.gpus.push_back(d);
    }
  }
  auto h = r.at("host");
  s.host = load_device_id(h.at("device").str(), h.at("device"));
  if (s.host.is_gpu()) h.at("device").fail("host must be a cpu or unified device");
  s.host_memory_bytes = h.num_or("memory_bytes", s.host.memory_bytes, 1e6, 1e15);
  s.host_link = {"none", 0, 0, 0};
  s.gpu_link = {"none", 0, 0, 0};
  if (r.has("links")) {
    auto l = r.at("links");
    if (l.has("host_gpu")) s.host_link = parse_link(l.at("host_gpu"));
    if (l.has("gpu_gpu")) s.gpu_link = parse_link(l.at("gpu_gpu"));
  }
  if (!s.gpus.empty() && s.host_link.kind == "none") s.host_link = default_pcie(4);
  if (s.gpus.size() > 1 && s.gpu_link.kind == "none") s.gpu_link = s.host_link;
  s.price_usd = r.num_or("price_usd", 0.0, 0.0, 1e8);
  s.price_date = r.str_or("price_date", "");
  s.rental_usd_per_hour = r.num_or("rental_usd_per_hour", 0.0, 0.0, 1e5);
  // a machine that is its host chip alone inherits the chip's measured power
  s.measured_loaded_w = r.num_or("measured_loaded_w", s.gpus.empty() ? s.host.measured_loaded_w : 0.0, 0.0, 1e5);
  if (j.contains("parts")) s.parts = j.at("parts");
  if (!r.has("sources")) r.fail("required key 'sources' missing: every number needs its source");
  s.sources = j.at("sources");
  s.form_factor = r.str_or("form_factor", "");
  if (!s.form_factor.empty() && !known_form_factor(s.form_factor))
    r.at("form_factor").fail("expected desktop, laptop, server, board or phone, found '" + s.form_factor + "'");
  apply_default_reserve(s);
  if (r.has("host_reserve_bytes")) {
    s.host_reserve_bytes = r.at("host_reserve_bytes").num(0, s.host_memory_bytes * 0.9);
    s.reserve_source = file + " (host_reserve_bytes)";
  }
  if (r.has("display_reserve_bytes"))
    s.display_reserve_bytes = r.at("display_reserve_bytes").num(0, s.gpus.empty() ? 0.0 : s.gpus.front().memory_bytes * 0.5);
  return s;
}

System load_system_file(const std::string& path) { return parse_system(read_json_file(path), path); }

// A bare device becomes a system: a GPU gets the default host (a desktop with
// dual-channel DDR4-3200 and 32 GiB, PCIe of the GPU's generation); a CPU or a
// unified chip is its own host.
static System wrap_device(const Device& d, const std::string& file) {
  System s;
  s.id = d.id;
  s.name = d.name;
  s.file = file;
  s.sources = d.sources;
  s.price_usd = d.price_usd;
  s.price_date = d.price_date;
  s.host_link = {"none", 0, 0, 0};
  s.gpu_link = {"none", 0, 0, 0};
  if (d.is_gpu()) {
    s.gpus.push_back(d);
    const std::string host_id = "cpu-ddr4-3200-dual";
    s.host = path_exists(device_path(host_id)) ? load_device_file(device_path(host_id)) : Device{};
    if (s.host.id.empty()) {
      s.host.id = host_id;
      s.host.kind = "cpu";
      s.host.memory_bandwidth_bytes_per_s = 51.2e9;  // 2 x 8 B x 3200 MT/s
    }
    s.host_memory_bytes = 32 * kGiB;
    s.host_link = default_pcie(d.pcie_generation > 0 ? d.pcie_generation : 3, d.pcie_lanes);
  } else {
    s.host = d;
    s.host_memory_bytes = d.memory_bytes;
  }
  if (s.gpus.empty()) s.measured_loaded_w = d.measured_loaded_w;
  s.form_factor = "";
  apply_default_reserve(s);
  return s;
}

static bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || (s.size() > 5 && s.substr(s.size() - 5) == ".json");
}

// The median over the GPUs of hwdb/devices of peak[num] / peak[den] ("bw": memory bandwidth in
// bytes/s), over those that state both; *n: how many.
static double median_gpu_ratio(const char* num, const char* den, int* n) {
  auto value = [](const Device& d, const std::string& k) {
    if (k == "bw") return d.memory_bandwidth_bytes_per_s;
    const auto it = d.peak_flops_per_s.find(k);
    return it == d.peak_flops_per_s.end() ? 0.0 : it->second;
  };
  std::vector<double> v;
  for (const auto& d : all_devices()) {
    if (d.kind != "gpu") continue;
    const double a = value(d, num), b = value(d, den);
    if (a > 0 && b > 0) v.push_back(a / b);
  }
  *n = static_cast<int>(v.size());
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

static System inline_system(const std::string& spec) {
  const std::string what = "--hw " + spec;
  std::map<std::string, std::string> kv;
  std::size_t at = 0;
  while (at <= spec.size()) {
    const std::size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string item = spec.substr(at, comma - at);
    const std::size_t eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0)
      input_error("--hw: '" + item + "' in an inline spec: expected key=value (e.g. vram=12GiB,bw=360GB/s)");
    const std::string k = item.substr(0, eq);
    if (kv.count(k)) input_error("--hw: key '" + k + "' given twice");
    kv[k] = item.substr(eq + 1);
    at = comma + 1;
  }
  static const char* kKeys[] = {"kind", "vram", "mem", "bw", "fp16", "bf16", "fp32", "int8", "fp8", "fp4", "ram", "backend", "cores", "name"};
  for (const auto& item : kv) {
    const std::string& k = item.first;  // (a structured binding: clang 14 cannot capture it)
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&k](const char* x) { return k == x; }) == std::end(kKeys))
      input_error("--hw: unknown key '" + k + "' (kind, vram, mem, bw, fp16, bf16, fp32, int8, fp8, fp4, ram, backend, cores, name)");
  }
  json d = {{"id", "inline"}, {"name", kv.count("name") ? kv["name"] : "hardware given inline (" + spec + ")"}};
  const std::string kind = kv.count("kind") ? kv["kind"] : kv.count("vram") ? "gpu" : "cpu";
  d["kind"] = kind;
  if (kind == "gpu" && kv.count("mem") && !kv.count("vram")) kv["vram"] = kv["mem"];
  const std::string mem_key = kind == "gpu" ? "vram" : "mem";
  if (!kv.count(mem_key)) input_error("--hw: an inline " + kind + " needs " + mem_key + "=SIZE (e.g. " + mem_key + "=12GiB)");
  if (!kv.count("bw")) input_error("--hw: an inline spec needs bw=RATE, the memory bandwidth (e.g. bw=360GB/s)");
  d["memory_bytes"] = parse_bytes_text(kv[mem_key], "--hw " + mem_key);
  d["memory_bandwidth_bytes_per_s"] = parse_bytes_per_s_text(kv["bw"], "--hw bw");
  d["backend"] = kv.count("backend") ? kv["backend"] : kind == "cpu" ? "cpu" : kind == "unified" ? "metal" : "cuda";
  if (kv.count("cores")) {
    const double c = parse_flops_per_s_text(kv["cores"], "--hw cores");
    if (c < 1 || c > 100000 || c != std::floor(c)) input_error("--hw cores: expected a whole number 1..100000");
    d["cores"] = static_cast<int>(c);
  }
  json peaks = json::object();
  for (const char* t : {"fp16", "bf16", "fp32", "int8", "fp8", "fp4"})
    if (kv.count(t)) peaks[t] = parse_flops_per_s_text(kv[t], std::string("--hw ") + t);
  std::vector<std::string> warnings;
  if (kind != "cpu" && !peaks.contains("fp16") && !peaks.contains("fp32") && !peaks.contains("bf16")) {
    int n = 0;
    const double ratio = median_gpu_ratio("fp16", "bw", &n);
    if (ratio <= 0) input_error("--hw: an inline " + kind + " needs its FLOP/s (e.g. fp16=40TFLOPS)");
    peaks["fp16"] = ratio * d["memory_bandwidth_bytes_per_s"].get<double>();
    char b[200];
    std::snprintf(b, sizeof b, "--hw: no FLOP/s given: fp16 taken as %.0f TFLOP/s (bw x %.0f FLOP per byte, the median of %d GPUs in hwdb/devices); prefill follows that guess",
                  peaks["fp16"].get<double>() / 1e12, ratio, n);
    warnings.push_back(b);
  }
  if (!peaks.empty()) d["peak_flops_per_s"] = peaks;
  d["sources"] = {{"all", "given on the command line: --hw " + spec}};
  System s = wrap_device(parse_device(d, "--hw (inline)", true, &warnings), "--hw (inline)");
  if (kind == "gpu" && kv.count("ram")) {
    s.host_memory_bytes = parse_bytes_text(kv["ram"], "--hw ram");
    apply_default_reserve(s);
  }
  s.warnings = warnings;
  return s;
}

System resolve_hardware(const std::string& id_or_path) {
  if (id_or_path.empty()) input_error("--hw: empty hardware id");
  if (id_or_path.find('=') != std::string::npos && !path_exists(id_or_path)) return inline_system(id_or_path);
  if (looks_like_path(id_or_path)) {
    const json j = read_json_file(id_or_path);
    if (j.is_object() && j.contains("host")) return parse_system(j, id_or_path);
    std::vector<std::string> warnings;
    System s = wrap_device(parse_device(j, id_or_path, true, &warnings), id_or_path);
    s.warnings = warnings;
    return s;
  }
  const std::string sp = data_path("hwdb/systems/" + id_or_path + ".json");
  if (path_exists(sp)) return load_system_file(sp);
  const std::string dp = device_path(id_or_path);
  if (path_exists(dp)) return wrap_device(load_device_file(dp), dp);
  input_error("--hw: unknown hardware '" + id_or_path + "' (see `gemmasim hw` for ids, or pass a JSON file)");
}

static std::vector<std::string> json_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!path_exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Device> all_devices() {
  std::vector<Device> v;
  for (const auto& f : json_files(data_path("hwdb/devices"))) v.push_back(load_device_file(f));
  return v;
}

std::vector<System> all_systems() {
  std::vector<System> v;
  for (const auto& f : json_files(data_path("hwdb/systems"))) v.push_back(load_system_file(f));
  return v;
}

}  // namespace gs
