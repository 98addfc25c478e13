// test_hwdb.cpp: sanity of the hardware database (hwdb/devices, hwdb/systems,
// hwdb/aliases.json) and of the examples in hwdb/README.md.
//
// These are data tests: every file loads through the real loader, every number
// carries a source, magnitudes are physically plausible (a GB/GiB or TB/GB slip
// shows up as a 1000x error), published anchor values are kept, and each
// system's parts add up to its price.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "hardware.h"
#include "json_util.h"

namespace fs = std::filesystem;
using gs::json;

namespace {

const std::string kRoot = GEMMASIM_SOURCE_DIR;

std::vector<std::string> files_in(const std::string& sub) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kRoot + "/" + sub))
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string stem(const std::string& path) { return fs::path(path).stem().string(); }

// Numeric leaves of a JSON object as dotted paths ("peak_flops_per_s.fp16"),
// skipping the keys that are not measured facts or carry their own sources.
void numeric_leaves(const json& j, const std::string& prefix, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "sources" || k == "parts" || k == "gpus" || k == "schema_version") continue;
      numeric_leaves(it.value(), prefix.empty() ? k : prefix + "." + k, out);
    }
  } else if (j.is_number()) {
    out.push_back(prefix);
  }
}

// A leaf is sourced when `sources` names it or one of its parents ("pcie" covers
// "pcie.generation"); the source text must be non-trivial.
std::vector<std::string> unsourced(const json& j) {
  std::vector<std::string> leaves, missing;
  numeric_leaves(j, "", leaves);
  const json& s = j.at("sources");
  for (const auto& p : leaves) {
    bool ok = false;
    for (std::string q = p;; q = q.substr(0, q.rfind('.'))) {
      if (s.contains(q) && s.at(q).is_string() && s.at(q).get<std::string>().size() >= 8) ok = true;
      if (ok || q.find('.') == std::string::npos) break;
    }
    if (!ok) missing.push_back(p);
  }
  return missing;
}

// Theoretical PCIe bandwidth per direction, bytes/s per lane (after encoding).
double pcie_lane_bytes_per_s(int gen) {
  switch (gen) {
    case 1: return 0.25e9;
    case 2: return 0.5e9;
    case 3: return 0.985e9;
    case 4: return 1.969e9;
    case 5: return 3.938e9;
    case 6: return 7.563e9;
    default: return 0;
  }
}

const std::regex kDate(R"(^\d{4}(-(0[1-9]|1[0-2]))?$)");

}  // namespace

TEST_CASE("every device file loads and its id matches its file name") {
  const auto files = files_in("hwdb/devices");
  CHECK(files.size() >= 35);
  for (const auto& f : files) {
    CAPTURE(f);
    gs::Device d;
    CHECK_NOTHROW(d = gs::load_device_file(f));
    CHECK(d.id == stem(f));
    CHECK(!d.name.empty());
    CHECK(!d.vendor.empty());
    CHECK(!d.arch.empty());
    const std::set<std::string> backends{"cuda", "rocm", "metal", "vulkan", "cpu"};
    CHECK(backends.count(d.backend) == 1);
  }
}

TEST_CASE("the required device ids are present") {
  for (const char* id : {"gtx-1650", "gtx-1650-gddr6", "rtx-3060-12gb", "rtx-3090", "rtx-4090", "rtx-5090",
                         "a100-40gb", "a100-80gb", "h100-pcie", "h100-sxm", "h200", "l4", "t4", "rx-7900-xtx",
                         "m1-max", "m2-ultra", "m4-pro", "m4-max", "ryzen-ai-max-395", "dgx-spark", "rpi5-8gb",
                         "rpi5-16gb", "jetson-orin-nano", "cpu-ddr4-3200-dual", "cpu-ddr5-6000-dual"}) {
    CAPTURE(id);
    CHECK(fs::exists(kRoot + "/hwdb/devices/" + id + ".json"));
  }
}

TEST_CASE("every number in a device file has a source") {
  for (const auto& f : files_in("hwdb/devices")) {
    CAPTURE(f);
    const json j = gs::read_json_file(f);
    const auto missing = unsourced(j);
    CHECK_MESSAGE(missing.empty(), "unsourced: " << (missing.empty() ? "" : missing.front()));
  }
}

TEST_CASE("device magnitudes are physically plausible") {
  for (const auto& f : files_in("hwdb/devices")) {
    const gs::Device d = gs::load_device_file(f);
    const json j = gs::read_json_file(f);
    CAPTURE(d.id);
    // exact byte counts, at least a MiB granularity
    CHECK(d.memory_bytes == std::floor(d.memory_bytes));
    CHECK(std::fmod(d.memory_bytes, gs::kMiB) == 0.0);
    CHECK(d.memory_bytes >= 2 * gs::kGiB);
    CHECK(d.memory_bytes <= 1024 * gs::kGiB);
    // bandwidth between a Raspberry Pi's ~17 GB/s and an HBM3e part's ~5 TB/s
    CHECK(d.memory_bandwidth_bytes_per_s >= 5e9);
    CHECK(d.memory_bandwidth_bytes_per_s <= 1e13);
    // time to read all memory once: a unit slip (GB vs GiB vs TB) is 1000x off
    const double sweep_s = d.memory_bytes / d.memory_bandwidth_bytes_per_s;
    CHECK(sweep_s > 0.005);
    CHECK(sweep_s < 5.0);
    if (j.contains("measured_bandwidth_bytes_per_s")) {
      const double m = j.at("measured_bandwidth_bytes_per_s").get<double>();
      CHECK(m <= d.memory_bandwidth_bytes_per_s);
      CHECK(m >= 0.3 * d.memory_bandwidth_bytes_per_s);
    }
    // compute: FP32 between 100 GFLOPS and 200 TFLOPS; dense figures only
    REQUIRE(d.peak_flops_per_s.count("fp32") == 1);
    const double fp32 = d.peak_flops_per_s.at("fp32");
    CHECK(fp32 >= 1e11);
    CHECK(fp32 <= 2e14);
    const double fp16 = d.flops("fp16");
    // B200 dense BF16 is 2.25 PFLOPS; a sparse figure of it would be 4.5
    CHECK(fp16 <= 2.5e15);
    // and per byte of bandwidth no GPU exceeds ~420 dense FLOP (L40S); twice that is a sparse figure
    if (d.is_gpu()) CHECK(fp16 / d.memory_bandwidth_bytes_per_s <= 600);
    // one precision step at most doubles the rate (1% slack for rounded datasheet figures)
    if (d.peak_flops_per_s.count("fp8")) CHECK(d.peak_flops_per_s.at("fp8") <= 2.0 * fp16 * 1.01);
    if (d.peak_flops_per_s.count("fp4")) CHECK(d.peak_flops_per_s.at("fp4") <= 2.0 * d.peak_flops_per_s.at("fp8") * 1.01);
    if (d.peak_flops_per_s.count("int8")) CHECK(d.peak_flops_per_s.at("int8") <= 4.0 * std::max(fp16, fp32) * 1.001);
    // GPUs run BF16 at the FP16 rate at most (CPUs with AVX512_BF16 but no FP16 math are faster in BF16)
    if (d.kind != "cpu" && d.peak_flops_per_s.count("bf16")) CHECK(d.peak_flops_per_s.at("bf16") <= fp16 * 1.001);
    // kinds
    if (d.kind == "cpu" || d.kind == "unified") CHECK(d.cores > 0);
    if (d.kind == "unified") CHECK(j.contains("gpu_memory_fraction"));
    if (d.kind == "gpu") {
      REQUIRE(j.contains("pcie"));
      CHECK(d.pcie_generation >= 3);
      const int lanes = j.at("pcie").at("lanes").get<int>();
      CHECK((lanes == 4 || lanes == 8 || lanes == 16));
    }
    CHECK(d.tdp_w >= 0);
    CHECK(d.tdp_w <= 1000);
    // prices: 0 means unknown; a known price carries a date and a kind
    if (d.price_usd > 0) {
      CHECK(std::regex_match(d.price_date, kDate));
      const std::set<std::string> kinds{"launch-msrp", "street", "used"};
      CHECK(kinds.count(d.price_kind) == 1);
    }
  }
}

TEST_CASE("published anchor values are kept") {
  struct Anchor { const char* id; double mem_gib, bw_gb_s, fp16_tflops; };
  // hardware-facts.md: memory, peak bandwidth, dense FP16/BF16 tensor rate (FP32-accumulate on GeForce)
  const Anchor anchors[] = {
      {"gtx-1650", 4, 128, 0},       {"gtx-1650-gddr6", 4, 192, 0}, {"rtx-3060-12gb", 12, 360, 0},
      {"rtx-3090", 24, 936, 71},     {"rtx-4090", 24, 1008, 165.2}, {"rtx-5090", 32, 1792, 0},
      {"a100-40gb", 40, 1555, 312},  {"a100-80gb", 80, 2039, 312},  {"h100-pcie", 80, 2000, 756},
      {"h100-sxm", 80, 3350, 989.5}, {"l4", 24, 300, 121},          {"t4", 16, 320, 65},
      {"m4-max", 128, 546, 0},       {"m4-pro", 64, 273, 0},        {"m2-ultra", 192, 800, 0},
      {"dgx-spark", 128, 273, 0},    {"ryzen-ai-max-395", 128, 256, 0},
      {"cpu-ddr4-3200-dual", 32, 51.2, 0}, {"cpu-ddr5-6000-dual", 64, 96, 0}};
  for (const auto& a : anchors) {
    CAPTURE(a.id);
    const gs::Device d = gs::load_device_file(kRoot + "/hwdb/devices/" + a.id + ".json");
    CHECK(d.memory_bytes == doctest::Approx(a.mem_gib * gs::kGiB).epsilon(1e-9));
    CHECK(d.memory_bandwidth_bytes_per_s == doctest::Approx(a.bw_gb_s * gs::kGB).epsilon(0.005));
    if (a.fp16_tflops > 0) CHECK(d.flops("fp16") == doctest::Approx(a.fp16_tflops * gs::kTFLOP).epsilon(0.01));
  }
  // H200: 141 GB marketed, 143771 MiB reported by nvidia-smi
  const gs::Device h200 = gs::load_device_file(kRoot + "/hwdb/devices/h200.json");
  CHECK(h200.memory_bytes == 143771.0 * gs::kMiB);
  // GTX 1650 has no tensor cores: FP16 is the shader rate, 2x FP32 on TU117
  const gs::Device g = gs::load_device_file(kRoot + "/hwdb/devices/gtx-1650.json");
  CHECK(g.flops("fp16") == doctest::Approx(2 * g.flops("fp32")));
  CHECK(g.flops("fp32") == doctest::Approx(896 * 2 * 1665e6));
}

TEST_CASE("every system file loads, is sourced, and its parts add up to its price") {
  const auto files = files_in("hwdb/systems");
  int priced = 0;
  for (const auto& f : files) {
    CAPTURE(f);
    gs::System s;
    REQUIRE_NOTHROW(s = gs::load_system_file(f));
    CHECK(s.id == stem(f));
    CHECK(!fs::exists(kRoot + "/hwdb/devices/" + s.id + ".json"));  // ids must not shadow devices
    const json j = gs::read_json_file(f);
    const auto missing = unsourced(j);
    CHECK_MESSAGE(missing.empty(), "unsourced: " << (missing.empty() ? "" : missing.front()));
    double sum = 0;
    for (const auto& p : j.value("parts", json::array())) {
      CHECK(p.at("part").get<std::string>().size() > 3);
      CHECK(p.at("source").get<std::string>().size() > 8);
      CHECK(std::regex_match(p.at("date").get<std::string>(), kDate));
      CHECK(p.at("price_usd").get<double>() > 0);
      sum += p.at("price_usd").get<double>();
    }
    CHECK(s.price_usd == doctest::Approx(sum).epsilon(1e-9));
    if (s.price_usd > 0) {
      ++priced;
      CHECK(std::regex_match(s.price_date, kDate));
    }
    CHECK(s.host_memory_bytes >= 4 * gs::kGiB);
    for (const gs::Link* l : {&s.host_link, &s.gpu_link}) {
      if (l->kind != "pcie" || l->generation == 0) continue;
      // practical never exceeds the theoretical per-direction rate of the link
      CHECK(l->bytes_per_s <= pcie_lane_bytes_per_s(l->generation) * l->lanes);
      CHECK(l->bytes_per_s >= 0.3 * pcie_lane_bytes_per_s(l->generation) * l->lanes);
    }
    if (s.gpus.size() > 1) CHECK(s.gpu_link.kind != "none");
  }
  CHECK(priced >= 10);
}

TEST_CASE("the $2,000 candidates and headline systems exist and are priced") {
  for (const char* id : {"desktop-rtx3090-used", "desktop-2x-rtx3060-12gb", "mac-mini-m4-pro-64gb",
                         "framework-desktop-395-128gb", "cpu-ddr5-128gb", "budget-pc-gtx1650", "desktop-rtx4090",
                         "rpi5-16gb-kit", "jetson-orin-nano-devkit", "macbook-pro-m4-max-128gb",
                         "dgx-spark-system"}) {
    CAPTURE(id);
    const gs::System s = gs::resolve_hardware(id);
    CHECK(s.price_usd > 0);
    CHECK(!s.parts.empty());
  }
  CHECK(fs::exists(kRoot + "/hwdb/systems/cloud-a100-80gb.json"));
  int within = 0;
  for (const auto& s : gs::all_systems())
    if (s.price_usd > 0 && s.price_usd <= 2000) ++within;
  CHECK(within >= 5);
  // 2x RTX 3060: two GPUs, 24 GiB of VRAM together
  const gs::System two = gs::resolve_hardware("desktop-2x-rtx3060-12gb");
  CHECK(two.gpus.size() == 2);
  CHECK(two.gpu_memory_bytes() == doctest::Approx(24 * gs::kGiB));
  // Mac mini: unified, the GPU may wire about three quarters of 64 GiB
  const gs::System mac = gs::resolve_hardware("mac-mini-m4-pro-64gb");
  CHECK(mac.unified());
  CHECK(mac.gpu_memory_bytes() == doctest::Approx(0.75 * 64 * gs::kGiB));
}

TEST_CASE("every alias points at an existing device or system") {
  const json a = gs::read_json_file(kRoot + "/hwdb/aliases.json");
  REQUIRE(a.at("aliases").is_object());
  CHECK(a.at("aliases").size() >= 40);
  for (auto it = a.at("aliases").begin(); it != a.at("aliases").end(); ++it) {
    CAPTURE(it.key());
    const std::string id = it.value().get<std::string>();
    CHECK_NOTHROW(gs::resolve_hardware(id));
  }
}

TEST_CASE("the JSON examples in hwdb/README.md load as --hw files") {
  std::ifstream in(kRoot + "/hwdb/README.md");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string open = "```json\n";
  int n = 0;
  const fs::path dir = fs::temp_directory_path() / ("gemmasim_hwdb_readme_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (std::size_t p = text.find(open); p != std::string::npos; p = text.find(open, p + 1)) {
    const std::size_t b = p + open.size();
    const std::size_t e = text.find("```", b);
    REQUIRE(e != std::string::npos);
    const fs::path f = dir / ("example" + std::to_string(n++) + ".json");
    std::ofstream(f) << text.substr(b, e - b);
    CAPTURE(f.string());
    gs::System s;
    CHECK_NOTHROW(s = gs::resolve_hardware(f.string()));
    CHECK(s.host_memory_bytes > 0);
  }
  fs::remove_all(dir);
  CHECK(n >= 2);
}

TEST_CASE("a device with a number out of range is rejected with the file and field named") {
  const fs::path dir = fs::temp_directory_path() / ("gemmasim_hwdb_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  json j = gs::read_json_file(kRoot + "/hwdb/devices/rtx-3090.json");
  j["memory_bandwidth_bytes_per_s"] = -936e9;
  const fs::path f = dir / "bad.json";
  std::ofstream(f) << j.dump();
  try {
    gs::load_device_file(f.string());
    FAIL("expected gs::InputError");
  } catch (const gs::InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("bad.json") != std::string::npos);
    CHECK(msg.find("memory_bandwidth_bytes_per_s") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("a CPU's int8 peak comes from its features; none stated: its fp32 rate") {
  // AVX2 only: 2x fp32 (maddubs + madd); AVX-VNNI: 4x; a stated int8 peak is kept (Pi 5)
  const gs::Device i5 = gs::load_device_file(kRoot + "/hwdb/devices/i5-8500.json");
  CHECK(i5.flops("int8") == doctest::Approx(2 * i5.flops("fp32")));
  CHECK(i5.int8_source.find("avx2") != std::string::npos);
  const gs::Device cu = gs::load_device_file(kRoot + "/hwdb/devices/core-ultra-7-155h.json");
  CHECK(cu.flops("int8") == doctest::Approx(4 * cu.flops("fp32")));
  const gs::Device pi = gs::load_device_file(kRoot + "/hwdb/devices/rpi5-8gb.json");
  CHECK(pi.flops("int8") == doctest::Approx(614.4e9));
  CHECK(pi.int8_source.empty());
  // every feature named by a device is in the table with a source
  const json table = gs::read_json_file(kRoot + "/hwdb/cpu-features.json");
  for (const auto& f : table.at("features")) CHECK(!f.at("source").get<std::string>().empty());

  const fs::path dir = fs::temp_directory_path() / ("gemmasim_hwdb_feat_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  json j = gs::read_json_file(kRoot + "/hwdb/devices/i5-8500.json");
  j.erase("cpu_features");
  const fs::path plain = dir / "plain.json";
  std::ofstream(plain) << j.dump();
  const gs::Device p = gs::load_device_file(plain.string());
  CHECK(p.flops("int8") == doctest::Approx(p.flops("fp32")));
  j["cpu_features"] = {"avx2", "avx9000"};
  const fs::path bad = dir / "bad.json";
  std::ofstream(bad) << j.dump();
  CHECK_THROWS_WITH_AS(gs::load_device_file(bad.string()), doctest::Contains("avx9000"), gs::InputError);
  fs::remove_all(dir);
}
