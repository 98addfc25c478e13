// llama_bench.cpp: llama-bench -o json -> runs -> mapped cases (see llama_bench.h).
#include "llama_bench.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>

#include "atomic_file.h"
#include "data_paths.h"
#include "engine.h"
#include "error.h"
#include "hardware.h"
#include "model.h"
#include "quant.h"
#include "text.h"

namespace gs {

namespace {

std::string collapse_spaces(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!o.empty() && o.back() != ' ') o += ' ';
    } else {
      o += c;
    }
  }
  return trim(o);
}

// "NVIDIA GeForce RTX 4090 (24 GB GDDR6X)" -> "rtx 4090"; "AMD Ryzen 9 7900X 12-Core Processor" -> "ryzen 9 7900x".
std::string hw_key(const std::string& s) {
  std::string x = lower(s);
  x = std::regex_replace(x, std::regex("\\([^)]*\\)"), " ");
  x = std::regex_replace(x, std::regex("\\b\\d+-core\\b"), " ");
  x = std::regex_replace(x, std::regex("\\b(nvidia|geforce|amd|radeon|intel|apple|core|processor|laptop gpu)\\b"), " ");
  x = std::regex_replace(x, std::regex("\\b\\d+ ?gb\\b"), " ");
  x = std::regex_replace(x, std::regex("[,;]"), " ");
  return collapse_spaces(x);
}

long long int_field(const JsonReader& r, const char* key, long long def, long long lo, long long hi) {
  return r.int_or(key, def, lo, hi);
}

}  // namespace

std::vector<LlamaBenchRun> parse_llama_bench(const json& j, const std::string& file, std::vector<std::string>* bad_runs) {
  JsonReader root(j, file);
  if (!j.is_array()) root.fail("expected the array of runs that llama-bench -o json writes");
  std::vector<LlamaBenchRun> runs;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const JsonReader r = root.at(i);
    try {
      if (!r.is_object()) r.fail("expected an object (one llama-bench run)");
      LlamaBenchRun x;
      x.index = static_cast<int>(i);
      x.model_filename = r.str_or("model_filename", "");
      x.model_type = r.at("model_type").str();
      x.model_size_bytes = r.num_or("model_size", 0, 0, 1e15);
      x.model_n_params = r.at("model_n_params").num(1e3, 1e14);
      x.n_prompt = int_field(r, "n_prompt", 0, 0, 1LL << 24);
      x.n_gen = int_field(r, "n_gen", 0, 0, 1LL << 24);
      x.n_depth = int_field(r, "n_depth", 0, 0, 1LL << 26);
      x.n_threads = static_cast<int>(int_field(r, "n_threads", 0, 0, 100000));
      x.n_gpu_layers = static_cast<int>(int_field(r, "n_gpu_layers", 99, -1, 100000));
      x.n_ubatch = static_cast<int>(int_field(r, "n_ubatch", 512, 1, 1 << 20));
      x.gpu_info = r.str_or("gpu_info", "");
      x.cpu_info = r.str_or("cpu_info", "");
      if (r.has("backends")) {
        x.backends = r.at("backends").str();
      } else {  // older files: one boolean per backend
        for (const char* b : {"cuda", "metal", "vulkan", "sycl", "kompute"})
          if (r.has(b) && r.at(b).raw().is_boolean() && r.at(b).boolean()) x.backends = b;
        if (x.backends.empty()) x.backends = "CPU";
      }
      if (r.has("type_k")) x.type_k = r.at("type_k").str();
      else if (r.has("f16_kv") && !r.at("f16_kv").boolean()) x.type_k = "f32";
      x.type_v = r.str_or("type_v", x.type_k);
      x.avg_ts = r.at("avg_ts").num(0, 1e9);
      x.stddev_ts = r.num_or("stddev_ts", 0, 0, 1e9);
      if (x.avg_ts <= 0) r.at("avg_ts").fail("expected a positive tokens/s");
      if (x.n_prompt == 0 && x.n_gen == 0) r.fail("n_prompt and n_gen are both 0: no test");
      runs.push_back(x);
    } catch (const InputError& e) {
      if (!bad_runs) throw;
      bad_runs->push_back(e.what());
    }
  }
  return runs;
}

std::vector<LlamaBenchRun> read_llama_bench(const std::string& path, std::vector<std::string>* bad_runs) {
  check_input_file(path, kMaxJsonFileBytes, "llama-bench JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) input_error(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  json j;
  const std::string t = trim(text);
  if (!t.empty() && t[0] == '{' && json::accept(t)) {  // one object: a single run, or some other file
    j = parse_json_text(t, path);
    if (!j.contains("model_type"))
      input_error(path + ": no llama-bench run in it (a JSON object without model_type; expected the array of `llama-bench -o json`)");
    j = json::array({j});
  } else if (!t.empty() && t[0] == '{') {  // JSON Lines (llama-bench -o jsonl)
    j = json::array();
    std::istringstream ls(t);
    std::string line;
    int n = 0;
    while (std::getline(ls, line)) {
      ++n;
      if (trim(line).empty()) continue;
      try {
        j.push_back(json::parse(line));
      } catch (const json::exception& e) {
        input_error(path + ": line " + std::to_string(n) + ": not JSON (" + e.what() + ")");
      }
    }
  } else {
    try {
      j = json::parse(text);
    } catch (const json::exception& e) {
      input_error(path + ": not llama-bench JSON (" + std::string(e.what()) + ")");
    }
  }
  return parse_llama_bench(j, path, bad_runs);
}

std::string recipe_from_file_type(const std::string& model_type, const std::string& filename) {
  auto known = [](const std::string& id) {
    try {
      find_recipe(id);
      return true;
    } catch (const InputError&) {
      return false;
    }
  };
  // model_type: "<arch> <size label> <file type>".
  std::istringstream ss(model_type);
  std::string arch, size, rest;
  ss >> arch >> size;
  std::getline(ss, rest);
  std::string ft = lower(trim(rest));
  ft = std::regex_replace(ft, std::regex("\\(guessed\\)"), "");
  ft = std::regex_replace(ft, std::regex("^mostly "), "");
  ft = std::regex_replace(ft, std::regex(" - [0-9.]+ bpw"), "");
  ft = std::regex_replace(ft, std::regex(" - medium"), "_m");
  ft = std::regex_replace(ft, std::regex(" - small"), "_s");
  ft = std::regex_replace(ft, std::regex(" - large"), "_l");
  ft = std::regex_replace(ft, std::regex(" - extra small"), "_xs");
  ft = std::regex_replace(ft, std::regex("^all "), "");
  ft = std::regex_replace(ft, std::regex(" moe$"), "");
  ft = trim(ft);
  if (!ft.empty() && known(ft)) return ft;
  // File name tag: "...-Q4_K_M.gguf".
  std::smatch m;
  const std::string fn = lower(filename);
  if (std::regex_search(fn, m, std::regex("(iq[0-9]_[a-z]+|q[0-9]_k_[sml]|q[0-9]_[0-9k]|bf16|f16|f32|mxfp4)(\\.gguf|-|$)"))) {
    if (known(m[1].str())) return m[1].str();
  }
  return "";
}

std::string hardware_from_info(const std::string& info) {
  const std::string s = trim(info);
  if (s.empty()) return "";
  // 1. hwdb/aliases.json, exact then case-insensitive.
  const json al = read_json_file(data_path("hwdb/aliases.json"));
  if (al.contains("aliases") && al["aliases"].is_object()) {
    for (auto it = al["aliases"].begin(); it != al["aliases"].end(); ++it)
      if (lower(it.key()) == lower(s) && it->is_string()) return it->get<std::string>();
  }
  // 2. Device ids and names, normalised ("NVIDIA GeForce RTX 4090" ~ "NVIDIA GeForce RTX 4090 (24 GB GDDR6X)").
  const std::string key = hw_key(s);
  if (key.empty()) return "";
  std::vector<std::string> hits;
  for (const auto& d : all_devices()) {
    if (hw_key(d.name) == key || lower(d.id) == lower(s) || hw_key(d.id) == key ||
        std::regex_replace(lower(d.id), std::regex("-"), " ") == key)
      hits.push_back(d.id);
  }
  std::sort(hits.begin(), hits.end());
  hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
  return hits.size() == 1 ? hits[0] : "";
}

LlamaBenchCase map_llama_bench_run(const LlamaBenchRun& r, const std::string& hw_override) {
  LlamaBenchCase c;
  c.run = r;
  c.prefill = r.n_gen == 0;
  c.test = (c.prefill ? "pp" + std::to_string(r.n_prompt) : "tg" + std::to_string(r.n_gen)) +
           (r.n_depth > 0 ? " @ d" + std::to_string(r.n_depth) : "");
  if (r.n_prompt > 0 && r.n_gen > 0) {
    c.test = "pg" + std::to_string(r.n_prompt) + "," + std::to_string(r.n_gen);
    c.skip = "combined prompt+generation test (-pg): tok/s mixes both phases; use separate -p and -n tests";
    return c;
  }
  // Model: same llama.cpp arch, closest total parameter count within 3%.
  std::istringstream ss(r.model_type);
  std::string arch;
  ss >> arch;
  arch = lower(arch);
  double best = 1e300;
  for (const auto& m : all_models()) {
    if (lower(m.arch) != arch) continue;
    const double p = count_params(m).total;
    const double rel = std::abs(p / r.model_n_params - 1);
    if (rel < best) {
      best = rel;
      c.model_id = m.id;
    }
  }
  if (c.model_id.empty()) {
    c.skip = "model: no models/ file of llama.cpp arch '" + arch + "' (model_type '" + r.model_type + "')";
    return c;
  }
  if (best > 0.03) {
    c.skip = "model: no " + arch + " model within 3% of " + std::to_string(static_cast<long long>(r.model_n_params)) +
             " parameters (closest " + c.model_id + ", " + std::to_string(static_cast<int>(std::lround(100 * best))) + "% off)";
    c.model_id.clear();
    return c;
  }
  c.recipe_id = recipe_from_file_type(r.model_type, r.model_filename);
  if (c.recipe_id.empty()) {
    c.skip = "quant: file type of '" + r.model_type + "' is not a known recipe (gemmasim quants)";
    return c;
  }
  // Engine from the backend; CPU runs (or -ngl 0) use the CPU engine and the CPU as hardware.
  const std::string be = lower(r.backends);
  c.cpu_only = r.n_gpu_layers == 0 || be.empty() || be == "cpu" || be.find("blas") == 0;
  if (c.cpu_only) c.engine_id = "llama.cpp-cpu";
  else if (be.find("cuda") != std::string::npos) c.engine_id = "llama.cpp-cuda";
  else if (be.find("metal") != std::string::npos || be.find("mtl") != std::string::npos) c.engine_id = "llama.cpp-metal";
  else if (be.find("vulkan") != std::string::npos) c.engine_id = "llama.cpp-vulkan";
  else if (be.find("rocm") != std::string::npos || be.find("hip") != std::string::npos) c.engine_id = "llama.cpp-rocm";
  else {
    c.skip = "engine: backend '" + r.backends + "' has no engine profile";
    return c;
  }
  if (!hw_override.empty()) {
    c.hw_id = hw_override;
    c.notes.push_back("hardware from --hw");
  } else {
    const std::string info = c.cpu_only ? r.cpu_info : r.gpu_info;
    if (!c.cpu_only && info.find(',') != std::string::npos) {
      c.skip = "hardware: several GPUs ('" + info + "'): describe the system with --hw FILE";
      return c;
    }
    c.hw_id = hardware_from_info(info);
    if (c.hw_id.empty()) {
      c.skip = std::string("hardware: unknown ") + (c.cpu_only ? "CPU" : "GPU") + " '" + info +
               "' (add it to hwdb/aliases.json or hwdb/devices/, or pass --hw FILE)";
      return c;
    }
  }
  c.gpu_layers = c.cpu_only ? 0 : -1;
  if (!c.cpu_only) {
    const ModelSpec m = find_model(c.model_id);
    if (r.n_gpu_layers < m.n_layer) {
      c.gpu_layers = r.n_gpu_layers;
      c.notes.push_back("-ngl " + std::to_string(r.n_gpu_layers) + " of " + std::to_string(m.n_layer) + " layers");
    }
  }
  if (r.type_k != r.type_v) c.notes.push_back("type_k " + r.type_k + " != type_v " + r.type_v + ": KV bytes from type_k");
  return c;
}

}  // namespace gs
