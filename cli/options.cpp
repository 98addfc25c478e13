#include "options.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "atomic_file.h"
#include "engine_check.h"
#include "text.h"
#include "units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

namespace gs::cli {

void add_common(po::options_description& d, Common& c) {
  d.add_options()
      ("model,m", po::value(&c.model)->default_value(c.model), "model id (gemmasim models) or a model JSON file")
      ("quant,q", po::value(&c.quant)->default_value(c.quant), "quantization recipe (gemmasim quants)")
      ("hw", po::value(&c.hw)->default_value(c.hw), "hardware: system or device id (gemmasim hw) or a JSON file")
      ("engine", po::value(&c.engine), "engine profile (default: from the hardware and format)")
      ("ctx,c", po::value(&c.ctx)->default_value(c.ctx), "context length per sequence, tokens")
      ("kv-type", po::value(&c.kv_type)->default_value(c.kv_type), "KV-cache type: f16, bf16, q8_0, q4_0 ...")
      ("gpu-layers", po::value(&c.gpu_layers)->default_value(c.gpu_layers), "layers on the GPU (llama.cpp -ngl; -1 = all + output)")
      ("n-cpu-moe", po::value(&c.n_cpu_moe)->default_value(c.n_cpu_moe), "keep the experts of the first N layers on the CPU")
      ("cpu-moe", po::bool_switch(&c.cpu_moe), "keep all experts on the CPU")
      ("override-tensor", po::value(&c.override_tensor)->composing(),
       "llama.cpp -ot PATTERN=BUFFER[,...]: the layers whose expert tensors (blk.N.ffn_*_exps) a PATTERN=CPU matches "
       "keep their experts on the CPU (as many layers as --n-cpu-moe)")
      ("reserve", po::value(&c.reserve), "host (or unified) memory the OS and desktop keep, e.g. 4GiB or 0 "
       "(default: by the system's form factor, hwdb/reserve.json; a phone: RAM minus the app limit)")
      ("display-reserve", po::value(&c.display_reserve), "VRAM the display keeps on the first GPU, e.g. 0 for a headless card "
       "(default: 0.5 GiB on a desktop)")
      ("batch", po::value(&c.batch)->default_value(c.batch), "concurrent sequences")
      ("tp", po::value(&c.tp)->default_value(c.tp), "tensor parallel GPUs (vLLM --tensor-parallel-size): weights and KV split per GPU")
      ("modality", po::value(&c.modality)->default_value(c.modality), "text | image (adds the vision encoder) | audio (adds the audio encoder)")
      ("json", po::bool_switch(&c.json), "JSON output")
      ("csv", po::bool_switch(&c.csv), "CSV output");
}

bool parse(const Args& a, po::options_description& d, po::variables_map& vm, const char* usage) {
  d.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(a).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

int cpu_expert_layers(const ModelSpec& m, const std::vector<std::string>& overrides) {
  std::vector<std::regex> cpu;
  for (const auto& arg : overrides) {
    std::size_t at = 0;
    while (at <= arg.size()) {
      const std::size_t comma = std::min(arg.find(',', at), arg.size());
      const std::string item = arg.substr(at, comma - at);
      at = comma + 1;
      const std::size_t eq = item.rfind('=');
      if (item.empty() || eq == std::string::npos || eq == 0 || eq + 1 == item.size())
        input_error("-ot: '" + item + "': expected PATTERN=BUFFER (e.g. ffn_.*_exps=CPU)");
      std::string buffer = item.substr(eq + 1);
      for (auto& ch : buffer) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (buffer != "CPU") continue;  // a GPU buffer (CUDA0, Vulkan1 ...): where the layers are anyway
      try {
        cpu.emplace_back(item.substr(0, eq));
      } catch (const std::regex_error& e) {
        input_error("-ot: '" + item.substr(0, eq) + "' is not a regular expression (" + e.what() + ")");
      }
    }
  }
  if (cpu.empty()) return 0;
  auto matches = [&](const std::string& name) {
    for (const auto& r : cpu)
      if (std::regex_search(name, r)) return true;
    return false;
  };
  // What a pattern may not move: the layers' other weights and the model's (only the experts'
  // placement is modelled this way; whole layers go with --gpu-layers).
  for (const char* other : {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_gate.weight",
                            "ffn_up.weight", "ffn_down.weight", "attn_norm.weight", "ffn_gate_inp.weight"})
    if (const std::string n = "blk.0." + std::string(other); matches(n))
      input_error("-ot: moves " + n + " to the CPU; only the experts (blk.N.ffn_*_exps) are placed this way here "
                  "(whole layers: --gpu-layers)");
  for (const char* other : {"token_embd.weight", "output.weight", "output_norm.weight"})
    if (matches(other)) input_error(std::string("-ot: moves ") + other + " to the CPU; only the experts (blk.N.ffn_*_exps) are placed this way here");
  int n = 0;
  for (int il = 0; il < m.n_layer; ++il) {
    if (!m.is_moe(il)) continue;
    const std::string b = "blk." + std::to_string(il) + ".";
    bool hit = false;
    for (const char* t : {"ffn_gate_up_exps.weight", "ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"})
      hit = hit || matches(b + t);
    n += hit;
  }
  if (n == 0) input_error("-ot: no expert tensor of " + m.id + " matches (" + (m.moe.n_expert > 0 ? "its experts are blk.N.ffn_gate_up_exps / ffn_down_exps" : "it has no experts") + ")");
  return n;
}

Inputs load_inputs(const Common& c) {
  Inputs in{find_model(c.model), find_recipe(c.quant), load_hw(c.hw, c.reserve, c.display_reserve), {}, {}, {}};
  in.rules = load_memory_rules(c.engine.empty() ? default_engine(in.hw, in.quant) : c.engine);
  in.engine = resolve_engine_for(c.engine.empty() ? in.rules.engine : c.engine, in.hw);
  if (c.tp < 1 || c.tp > 64) input_error("--tp: expected 1 .. 64, got " + std::to_string(c.tp));
  in.fit.tp = c.tp;
  in.fit.context_tokens = c.ctx;
  // An engine that picks the context itself (Ollama: by the GPU memory) when --ctx is not given.
  if (!c.ctx_given)
    if (const i64 d = engine_default_context(in.rules.engine, in.hw); d > 0) in.fit.context_tokens = std::min<i64>(d, in.model.n_ctx_max);
  if (c.batch < 1 || c.batch > 65536) input_error("--batch: expected 1 .. 65536 sequences, got " + std::to_string(c.batch));
  if (c.ctx < 1 || c.ctx > (1LL << 24)) input_error("--ctx: expected 1 .. 16M tokens, got " + std::to_string(c.ctx));
  in.fit.n_seq = c.batch;
  in.fit.kv_type = c.kv_type;
  in.fit.placement.gpu_layers = c.gpu_layers;
  in.fit.placement.n_cpu_moe = c.n_cpu_moe;
  in.fit.placement.cpu_moe = c.cpu_moe;
  if (!c.override_tensor.empty()) {
    if (c.n_cpu_moe > 0 || c.cpu_moe) input_error("-ot: give it or --n-cpu-moe / --cpu-moe, not both");
    const int n = cpu_expert_layers(in.model, c.override_tensor);
    int moe_layers = 0;
    for (int il = 0; il < in.model.n_layer; ++il) moe_layers += in.model.is_moe(il);
    if (n == moe_layers) {
      in.fit.placement.cpu_moe = true;
    } else {
      // the experts of n layers on the CPU cost what the first n layers' do (--n-cpu-moe): every
      // MoE layer's experts have the same shape
      int seen = 0, upto = 0;
      while (seen < n && upto < in.model.n_layer) seen += in.model.is_moe(upto++);
      in.fit.placement.n_cpu_moe = upto;
    }
  }
  RunRequest req;
  req.engine = &in.engine;
  req.hw = &in.hw;
  req.quant = &in.quant;
  req.kv_type = c.kv_type;
  req.tp = c.tp;
  req.placement = in.fit.placement;
  req.n_layer = in.model.n_layer;
  find_kv_type(c.kv_type);  // an unknown KV type is named as such, before what an engine lacks
  if (c.check_engine) check_engine_can_run(req);
  if (c.modality == "image") in.fit.encoders = {"vision"};
  else if (c.modality == "audio") in.fit.encoders = {"audio"};
  else if (c.modality != "text") input_error("--modality: expected text, image or audio, got '" + c.modality + "'");
  return in;
}

void check_threads(int threads) {
  const int hw = std::max(1u, std::thread::hardware_concurrency());
  const int most = std::min(1024, 8 * hw);
  if (threads < 0 || threads > most)
    input_error("--threads: " + std::to_string(threads) + " (expected 0 .. " + std::to_string(most) + ": 8 x the " +
                std::to_string(hw) + " hardware threads here, at most 1024)");
}

double parse_bytes(const std::string& s, const std::string& flag) { return parse_bytes_text(s, flag); }

System load_hw(const std::string& id_or_path, const std::string& reserve, const std::string& display_reserve) {
  System s = resolve_hardware(id_or_path);
  if (!reserve.empty()) set_host_reserve(s, parse_bytes_text(reserve, "--reserve"), "--reserve " + reserve);
  if (!display_reserve.empty()) set_display_reserve(s, parse_bytes_text(display_reserve, "--display-reserve"));
  for (const auto& w : s.warnings) std::fprintf(stderr, "gemmasim: warning: %s\n", w.c_str());
  return s;
}

void check_price_flags(const po::variables_map& vm, double usd_per_kwh, double rental_usd_per_hour) {
  if (vm.count("electricity-usd-per-kwh") && !(usd_per_kwh > 0 && usd_per_kwh < 100))
    input_error("--electricity-usd-per-kwh: expected a price in (0, 100) USD per kWh, got " + std::to_string(usd_per_kwh));
  if (vm.count("rental-usd-per-hour") && !(rental_usd_per_hour > 0 && rental_usd_per_hour < 1e5))
    input_error("--rental-usd-per-hour: expected a price in (0, 1e5) USD per hour, got " + std::to_string(rental_usd_per_hour));
}

void check_output(const std::string& path) {
  if (!path.empty() && path != "-") check_writable(path);
}

void write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  write_file_atomic(path, text);
}

std::function<void(int, int)> progress_reporter(const char* what) {
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  return [t0, tty, what](int done, int total) {
    if (!tty) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < 1.0 && done < total) return;
    if (s >= 1.0)
      std::fprintf(stderr, "\r%s: %d/%d%s   %s", what, done, total,
                   eta_text(s, total > 0 ? static_cast<double>(done) / total : 0).c_str(), done == total ? "\n" : "");
  };
}

}  // namespace gs::cli
