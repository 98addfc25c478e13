#include "memory_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "data_paths.h"
#include "probe_constants.h"

namespace gs {

MemoryRules load_memory_rules(const std::string& engine_id) {
  MemoryRules m = resolve_engine(engine_id).memory;
  m.engine = engine_id;
  return m;
}

std::string default_engine(const System& hw, const QuantRecipe& q) {
  const std::string& backend = hw.backend();
  // Hugging Face checkpoint formats on discrete datacenter/consumer GPUs are served by vLLM;
  // GGUF quantizations by llama.cpp with the device's backend.
  const bool hf_format = q.kind == "gpu" || q.id == "bf16";
  if (!hw.gpus.empty() && hf_format && (backend == "cuda" || backend == "rocm")) return "vllm";
  // bitsandbytes quantizes at load time in transformers (load_in_4bit / load_in_8bit)
  if (q.kind == "bnb") return "transformers";
  if (backend == "cuda" || backend == "rocm" || backend == "metal" || backend == "vulkan") return "llama.cpp-" + backend;
  return "llama.cpp-cpu";
}

i64 engine_default_context(const std::string& engine_id, const System& hw) {
  const EngineProfile e = resolve_engine(engine_id);
  const json j = read_json_file(e.file);
  if (!j.contains("defaults") || !j.at("defaults").contains("context_tokens_by_vram")) return 0;
  const JsonReader r(j, e.file);
  auto rules = r.at("defaults").at("context_tokens_by_vram");
  const double gib = hw.gpu_memory_bytes() / (1024.0 * 1024 * 1024);
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto x = rules.at(i);
    const bool last = x.raw().contains("below_gib") && x.raw().at("below_gib").is_null();
    if (last || gib < x.at("below_gib").num(0, 1e9)) return x.at("context_tokens").integer(1, 1 << 24);
  }
  return 0;
}

EngineProfile engine_for_host(const EngineProfile& e, const Device& host) {
  if (e.throughput_from != "device" || !host.probed_engine_constants.is_object() || host.probed_engine_constants.empty())
    return e;
  const json j = engine_json_with_probe(read_json_file(e.file), host.probed_engine_constants, host.attention_reads_f16,
                                        host.probed_isa, host.probed_tag);
  return parse_engine(j, e.file + " (with the constants of " + host.id + "'s probe)");
}

EngineProfile resolve_engine_for(const std::string& id_or_path, const System& hw) {
  return engine_for_host(engine_on_backend(resolve_engine(id_or_path), hw.backend()),
                         hw.host);
}

static i64 pad_up(i64 x, i64 p) { return (x + p - 1) / p * p; }

double kv_bytes_per_cell(const ModelSpec& m, int il, const KvType& kv, bool single_for_k_eq_v) {
  if (!m.owns_kv(il)) return 0.0;
  const double tensors = (m.k_eq_v(il) && single_for_k_eq_v) ? 1.0 : 2.0;  // K and V
  return tensors * m.n_head_kv(il) * m.head_dim(il) * kv.bytes_per_element;
}

i64 kv_cells(const ModelSpec& m, int il, i64 ctx, int n_seq, const MemoryRules& rules) {
  const i64 base = pad_up(ctx * n_seq, rules.kv_pad_tokens);
  if (!m.is_sliding(il) || rules.swa_cache == "full") return base;
  const i64 w = static_cast<i64>(m.sliding_window) * n_seq;
  if (rules.swa_cache == "window") return std::min(base, pad_up(w, rules.kv_pad_tokens));
  return std::min(base, pad_up(w + rules.ubatch_tokens, rules.kv_pad_tokens));
}

namespace {

struct ModelLevelBytes {
  double token_embd = 0, output_head = 0, output_norm = 0, ple_input = 0, ple_table = 0;
};

ModelLevelBytes model_level_bytes(const ModelSpec& m, const WeightLayout& l) {
  ModelLevelBytes b;
  const auto& ts = l.tensors;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (ts[i].layer >= 0) continue;
    const double bytes = static_cast<double>(l.bytes[i]);
    switch (ts[i].role) {
      case TensorRole::TokenEmbd: b.token_embd += bytes; break;
      case TensorRole::Output: b.output_head += bytes; break;
      case TensorRole::OutputNorm: b.output_norm += bytes; break;
      case TensorRole::PleTable: b.ple_table += bytes; break;
      default: b.ple_input += bytes; break;  // PLE model projection and its norm
    }
  }
  if (m.tied_embeddings) b.output_head = b.token_embd;  // llama.cpp duplicates it into the output layer
  return b;
}

// Activations of one micro-batch on a device that computes layers (the engine's
// compute_buffer formula without the logits): the widest intermediate tensors.
// F_max includes the routed experts' K x F_exp. Flash attention is assumed.
// tokens: the micro-batch the buffers are sized for.
double activation_bytes(const ModelSpec& m, const MemoryRules& r, double tokens) {
  double f_max = 0, q_max = 0;
  for (int il = 0; il < m.n_layer; ++il) {
    double f = static_cast<double>(m.ffn(il));
    if (m.is_moe(il)) f = std::max(f, static_cast<double>(m.moe.expert_ffn) * m.moe.n_expert_used);
    f_max = std::max(f_max, f);
    q_max = std::max(q_max, static_cast<double>(m.n_head(il)) * m.head_dim(il));
  }
  const double b = r.activation_bytes_per_value;
  const double stream = b * (r.activation_embd_multiple * m.n_embd +
                             r.activation_ple_multiple * static_cast<double>(m.n_layer) * m.ple.dim);
  const double ffn = b * r.activation_ffn_multiple * f_max + r.activation_quant_bytes_per_ffn_value * f_max;
  const double attn = b * r.activation_q_multiple * q_max;
  return tokens * (stream + (r.activation_blocks_max ? std::max(ffn, attn) : ffn + attn));
}

// Float mirrors of the KV cache (reference kernel: one per KV-owning layer, slot for slot,
// kept while within the budget; beyond it one buffer, reused by all, of the positions a call
// reads). A mirror holds as many slots as the layer's cache: the whole context on a global
// layer, at most W + ubatch on a sliding one (kv_cells).
double kv_float_bytes(const ModelSpec& m, const MemoryRules& r, i64 ctx, double kv_bytes_per_element) {
  // an f32 cache is read in place: no copies
  if (r.kv_float_bytes_per_element <= 0 || kv_bytes_per_element >= 4) return 0;
  double kept = 0, reused = 0;
  for (int il = 0; il < m.n_layer; ++il) {
    if (!m.owns_kv(il)) continue;
    const double n = static_cast<double>(kv_cells(m, il, ctx, 1, r));
    const double b = 2.0 * m.n_head_kv(il) * m.head_dim(il) * r.kv_float_bytes_per_element * n;
    if (r.kv_float_budget_bytes <= 0 || b <= r.kv_float_budget_bytes) kept += b;
    else reused = std::max(reused, b);
  }
  return kept + reused;
}

}  // namespace

// layout: weight_layout(m, q), looked up once by the callers that fit many times
namespace {

// The memories a fit fills: the GPUs (or a unified chip's GPU share), then the host.
struct FitDevices {
  std::vector<DeviceMemory> gpus;
  DeviceMemory host;
  bool unified_gpu = false;
};

FitDevices memory_devices(const System& hw, const MemoryRules& rules) {
  FitDevices d;
  d.unified_gpu = hw.unified() && hw.host.backend != "cpu";
  if (d.unified_gpu) {
    DeviceMemory g;
    g.role = "gpu0";
    g.device = hw.host.id;
    // the GPU may wire its share of the pool, and never what the OS keeps
    g.capacity_bytes = std::min(hw.host_memory_bytes * hw.host.gpu_memory_fraction, usable_host_memory_bytes(hw)) *
                       rules.usable_memory_fraction;
    g.reserve_bytes = hw.host_reserve_bytes;
    d.gpus.push_back(g);
  } else {
    for (std::size_t i = 0; i < hw.gpus.size(); ++i) {
      DeviceMemory g;
      g.role = "gpu" + std::to_string(i);
      g.device = hw.gpus[i].id;
      g.reserve_bytes = i == 0 ? hw.display_reserve_bytes : 0.0;  // the first GPU drives the display
      g.capacity_bytes = (hw.gpus[i].memory_bytes - g.reserve_bytes) * rules.usable_memory_fraction;
      d.gpus.push_back(g);
    }
  }
  d.host.role = "host";
  d.host.device = hw.host.id;
  d.host.capacity_bytes = usable_host_memory_bytes(hw);
  d.host.reserve_bytes = hw.host_reserve_bytes;
  return d;
}

// What every placement step of one fit reads.
struct FitInputs {
  const ModelSpec& m;
  const MemoryRules& rules;
  const FitOptions& o;
  const KvType& kv;
  const WeightBytes& wb;
  const ModelLevelBytes& ml;
  double max_layer_act;  // one layer's activations at the buffers' micro-batch, plus float KV views
  double kv_bytes(int il) const {
    return kv_bytes_per_cell(m, il, kv, o.kv_single_for_k_eq_v || rules.kv_single_for_k_eq_v) *
           kv_cells(m, il, o.context_tokens, o.n_seq, rules);
  }
  double encoder_bytes() const {
    double bytes = 0;
    for (const auto& name : o.encoders)
      for (const auto& e : m.encoders)
        if (e.name == name) bytes += e.params * kEncoderBytesPerParam;
    return bytes;
  }
  double logits_rows() const { return rules.logits_tokens > 0 ? rules.logits_tokens : static_cast<double>(rules.ubatch_tokens); }
};

// vLLM / TensorRT-LLM --tp N: every layer on N GPUs, each holding 1/N of the weights and of
// the KV heads (a KV head is replicated when N exceeds the layer's KV heads).
void place_tensor_parallel(const FitInputs& in, int tp, FitDevices& d, FitResult& res) {
  const ModelSpec& m = in.m;
  const int L = m.n_layer;
  res.placement.gpu_layers = L + 1;
  const double embd = in.ml.token_embd + (m.tied_embeddings ? 0.0 : in.ml.output_head);  // vocab-parallel
  for (int il = 0; il < L; ++il) {
    const double kvb = in.kv_bytes(il);
    res.kv_layer_bytes[il] = kvb;
    const int h = std::max(1, m.n_head_kv(il));
    const double kv_share = static_cast<double>(std::max(1, (h + tp - 1) / tp)) / h;
    for (auto& g : d.gpus) {
      g.weights_bytes += in.wb.layer_bytes[il] / tp;
      g.kv_cache_bytes += kvb * kv_share;
      g.layers += 1;
    }
  }
  res.encoder_bytes += in.encoder_bytes();
  for (auto& g : d.gpus) {
    g.weights_bytes += (embd + in.ml.ple_table + in.ml.ple_input) / tp + in.ml.output_norm + res.encoder_bytes;
    g.compute_buffer_bytes += in.max_layer_act + in.logits_rows() * static_cast<double>(m.n_vocab) * in.rules.logits_bytes_per_value;
    g.overhead_bytes += in.rules.runtime_overhead_bytes;
  }
  res.ple_table_bytes = in.ml.ple_table;
  res.ple_location = in.ml.ple_table > 0 ? "device" : "none";
}

// llama.cpp's layer split: the last ngl layers on the GPUs in proportion to their capacity
// (its default tensor split), the rest and the experts of --n-cpu-moe layers on the host;
// the output head on the GPU when ngl > L; embeddings and the PLE table where the engine
// keeps them. Returns whether the host computes anything (a layer or experts).
bool place_layer_split(const FitInputs& in, int ngl, FitDevices& d, FitResult& res) {
  const ModelSpec& m = in.m;
  const MemoryRules& rules = in.rules;
  const int L = m.n_layer;
  auto& gpus = d.gpus;
  DeviceMemory& host = d.host;
  const int first_gpu_layer = L - std::min(ngl, L);
  const bool output_on_gpu = !gpus.empty() && (ngl > L || (!rules.output_on_gpu_only_if_all_layers && ngl >= L));
  double cap_sum = 0;
  for (const auto& g : gpus) cap_sum += g.capacity_bytes;
  auto gpu_of_layer = [&](int il) -> int {
    const int n_on_gpu = L - first_gpu_layer;
    const double pos = (il - first_gpu_layer + 0.5) / n_on_gpu;
    double acc = 0;
    for (std::size_t g = 0; g < gpus.size(); ++g) {
      acc += gpus[g].capacity_bytes / cap_sum;
      if (pos <= acc) return static_cast<int>(g);
    }
    return static_cast<int>(gpus.size()) - 1;
  };
  bool host_computes = false;
  for (int il = 0; il < L; ++il) {
    const double kvb = in.kv_bytes(il);
    res.kv_layer_bytes[il] = kvb;
    const double experts = in.wb.layer_expert_bytes[il];
    const double rest = in.wb.layer_bytes[il] - experts;
    const bool experts_on_cpu = in.o.placement.cpu_moe || il < in.o.placement.n_cpu_moe;
    if (il >= first_gpu_layer && !gpus.empty()) {
      DeviceMemory& g = gpus[gpu_of_layer(il)];
      g.weights_bytes += rest;
      g.kv_cache_bytes += kvb;
      g.layers += 1;
      if (experts_on_cpu) {
        host.weights_bytes += experts;
        if (experts > 0) host_computes = true;
      } else {
        g.weights_bytes += experts;
      }
    } else {
      host.weights_bytes += rest + experts;
      host.kv_cache_bytes += kvb;
      host.layers += 1;
      host_computes = true;
    }
  }
  // Model-level tensors.
  const double logits = in.logits_rows() * m.n_vocab * rules.logits_bytes_per_value;
  DeviceMemory& out_dev = output_on_gpu ? gpus.back() : host;
  const bool embd_on_host = gpus.empty() || rules.input_embedding_on_host;
  // A tied output head is the token embedding itself. llama.cpp duplicates it only
  // into a discrete GPU's memory; on the CPU, and in a unified-memory chip's single
  // pool, the output layer reads the same (mmap'd) bytes as the embedding lookup.
  const bool tied_shares_embd = m.tied_embeddings && (!output_on_gpu || d.unified_gpu);
  out_dev.weights_bytes += (tied_shares_embd ? 0.0 : in.ml.output_head) + in.ml.output_norm;
  out_dev.compute_buffer_bytes += logits;
  if (tied_shares_embd || !(m.tied_embeddings && !embd_on_host && output_on_gpu)) {
    (embd_on_host ? host : gpus.front()).weights_bytes += in.ml.token_embd;
  }
  const bool ple_on_host = gpus.empty() || rules.ple_location == "host";
  (ple_on_host ? host : gpus.front()).weights_bytes += in.ml.ple_table + in.ml.ple_input;
  res.encoder_bytes += in.encoder_bytes();
  (gpus.empty() ? host : gpus.front()).weights_bytes += res.encoder_bytes;
  res.ple_table_bytes = in.ml.ple_table;
  res.ple_location = in.ml.ple_table > 0 ? (ple_on_host ? "host" : "device") : "none";

  for (auto& g : gpus) {
    if (g.layers > 0 || &g == &out_dev) {
      g.compute_buffer_bytes += in.max_layer_act;
      g.overhead_bytes += rules.runtime_overhead_bytes;
    }
  }
  return host_computes;
}

// Each device's total and verdict, and the fit's sums over devices.
void sum_devices(const System& hw, FitDevices& d, FitResult& res) {
  auto& gpus = d.gpus;
  DeviceMemory& host = d.host;
  for (auto& g : gpus) {
    g.total_bytes = g.weights_bytes + g.kv_cache_bytes + g.compute_buffer_bytes + g.overhead_bytes;
    g.fits = g.total_bytes <= g.capacity_bytes;
  }
  host.total_bytes = host.weights_bytes + host.kv_cache_bytes + host.compute_buffer_bytes + host.overhead_bytes;
  if (d.unified_gpu) {
    // GPU share and host share come out of the same memory.
    host.capacity_bytes = usable_host_memory_bytes(hw) - gpus.front().total_bytes;
    host.reserve_bytes = 0;  // counted once, on the GPU share's line
  }
  host.fits = host.total_bytes <= host.capacity_bytes;

  res.fits = host.fits;
  for (auto& g : gpus) {
    res.devices.push_back(g);
    res.fits = res.fits && g.fits;
  }
  res.devices.push_back(host);
  for (const auto& x : res.devices) {
    res.weights_bytes += x.weights_bytes;
    res.kv_cache_bytes += x.kv_cache_bytes;
    res.compute_buffer_bytes += x.compute_buffer_bytes;
    res.overhead_bytes += x.overhead_bytes;
    res.total_bytes += x.total_bytes;
  }
  res.capacity_bytes = d.unified_gpu ? usable_host_memory_bytes(hw) : 0.0;
  if (!d.unified_gpu)
    for (const auto& x : res.devices) res.capacity_bytes += x.capacity_bytes;
  for (const auto& x : res.devices) res.reserve_bytes += x.reserve_bytes;
}

}  // namespace

static FitResult fit_unchecked(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules,
                               const FitOptions& o, const WeightLayout& layout) {
  FitResult res;
  res.model = m.id;
  res.quant = q.id;
  res.hardware = hw.id;
  res.engine = rules.engine;
  res.kv_type = o.kv_type;
  res.context_tokens = o.context_tokens;
  res.n_seq = o.n_seq;
  const int L = m.n_layer;
  res.kv_layer_bytes.assign(L, 0.0);

  FitDevices d = memory_devices(hw, rules);
  const int ngl = d.gpus.empty() ? 0 : (o.placement.gpu_layers < 0 ? L + 1 : std::min(o.placement.gpu_layers, L + 1));
  res.placement = o.placement;
  res.placement.gpu_layers = ngl;

  const KvType& kv = find_kv_type(o.kv_type);
  const ModelLevelBytes ml = model_level_bytes(m, layout);
  // Micro-batch of the buffers: the engine's, or the run's largest step when the engine sizes them so.
  const double act_tokens = rules.activations_at_step && o.step_tokens > 0
                                ? static_cast<double>(std::min<i64>(o.step_tokens, rules.ubatch_tokens))
                                : static_cast<double>(rules.ubatch_tokens);
  const FitInputs in{m, rules, o, kv, layout.totals, ml,
                     activation_bytes(m, rules, act_tokens) + kv_float_bytes(m, rules, o.context_tokens * o.n_seq, kv.bytes_per_element)};

  // An engine with tensor parallelism uses --tp GPUs of the system (one without --tp), never a layer split.
  const int tp = rules.tensor_parallel && o.tp > 1 ? std::min<int>(o.tp, static_cast<int>(d.gpus.size())) : 1;
  if (rules.tensor_parallel && static_cast<int>(d.gpus.size()) > tp) d.gpus.resize(static_cast<std::size_t>(tp));
  bool host_computes = false;
  if (tp > 1) place_tensor_parallel(in, tp, d, res);
  else host_computes = place_layer_split(in, ngl, d, res);
  if (host_computes || (d.gpus.empty() && tp == 1)) d.host.compute_buffer_bytes += in.max_layer_act;
  d.host.overhead_bytes += rules.host_bytes_per_vocab_token * m.n_vocab;  // the process reading the GGUF

  sum_devices(hw, d, res);
  res.reserve_source = hw.reserve_source;
  res.gguf_file_bytes = layout.gguf_file_bytes;
  return res;
}

static void check_options(const ModelSpec& m, const FitOptions& o) {
  if (o.context_tokens <= 0) input_error("--ctx: context must be a positive number of tokens, got " + std::to_string(o.context_tokens));
  if (o.context_tokens > m.n_ctx_max)
    input_error("--ctx: " + std::to_string(o.context_tokens) + " tokens is beyond " + m.id + "'s context limit of " +
                std::to_string(m.n_ctx_max));
  if (o.n_seq < 1) input_error("--batch: need at least 1 sequence");
  if (o.placement.gpu_layers < -1) input_error("--gpu-layers: must be >= 0");
  if (o.placement.n_cpu_moe < 0) input_error("--n-cpu-moe: must be >= 0");
  if (o.placement.n_cpu_moe > m.n_layer)
    input_error("--n-cpu-moe: " + std::to_string(o.placement.n_cpu_moe) + " is more than the model's " + std::to_string(m.n_layer) + " layers");
  if ((o.placement.n_cpu_moe > 0 || o.placement.cpu_moe) && m.moe.n_expert == 0)
    input_error("--n-cpu-moe/--cpu-moe: " + m.id + " has no experts");
  find_kv_type(o.kv_type);
  for (const auto& name : o.encoders) {
    bool found = false;
    for (const auto& e : m.encoders) found = found || e.name == name;
    if (!found) input_error("--modality: " + m.id + " has no " + name + " encoder");
  }
}

FitResult fit(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, const FitOptions& o) {
  check_options(m, o);
  return fit_unchecked(m, hw, q, rules, o, *weight_layout(m, q));
}

i64 max_context(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, FitOptions o) {
  FitOptions first = o;
  first.context_tokens = 1;
  check_options(m, first);
  o.context_tokens = 1;
  const auto layout = weight_layout(m, q);
  if (!fit_unchecked(m, hw, q, rules, o, *layout).fits) return 0;
  i64 lo = 1, hi = m.n_ctx_max;  // invariant: lo fits
  o.context_tokens = hi;
  if (fit_unchecked(m, hw, q, rules, o, *layout).fits) return hi;
  while (hi - lo > 1) {
    const i64 mid = lo + (hi - lo) / 2;
    o.context_tokens = mid;
    (fit_unchecked(m, hw, q, rules, o, *layout).fits ? lo : hi) = mid;
  }
  return lo;
}

int max_gpu_layers(const ModelSpec& m, const System& hw, const QuantRecipe& q, const MemoryRules& rules, FitOptions o) {
  check_options(m, o);
  const auto layout = weight_layout(m, q);
  for (int n = m.n_layer + 1; n >= 0; --n) {
    o.placement.gpu_layers = n;
    if (fit_unchecked(m, hw, q, rules, o, *layout).fits) return n;
  }
  return -1;
}

static std::string gb_gib(double bytes) {
  char b[64];
  std::snprintf(b, sizeof b, "%.1f GB (%.1f GiB)", bytes / 1e9, bytes / (1024.0 * 1024 * 1024));
  return b;
}

std::string why_not_fits(const FitResult& r) {
  if (r.fits) return "";
  if (r.weights_bytes > r.capacity_bytes)
    return gb_gib(r.weights_bytes) + " of weights; " + r.hardware + " may use " + gb_gib(r.capacity_bytes) + " in all";
  // every weight on the GPUs (an engine without CPU offload): the weights against the GPUs alone
  double gpu_cap = 0, host_weights = 0;
  for (const auto& d : r.devices) (d.role == "host" ? host_weights : gpu_cap) += d.role == "host" ? d.weights_bytes : d.capacity_bytes;
  if (host_weights == 0 && gpu_cap > 0 && r.weights_bytes > gpu_cap)
    return gb_gib(r.weights_bytes) + " of weights; the GPUs may use " + gb_gib(gpu_cap);
  for (const auto& d : r.devices)
    if (!d.fits)
      return d.role + " (" + d.device + ") needs " + gb_gib(d.total_bytes) + ": weights " + gb_gib(d.weights_bytes) +
             ", KV cache " + gb_gib(d.kv_cache_bytes) + ", buffers and runtime " +
             gb_gib(d.compute_buffer_bytes + d.overhead_bytes) + "; it may use " + gb_gib(d.capacity_bytes);
  return "needs " + gb_gib(r.total_bytes) + " of " + gb_gib(r.capacity_bytes);
}

json fit_to_json(const FitResult& r, i64 max_context_tokens) {
  json j;
  j["model"] = r.model;
  j["quant"] = r.quant;
  j["hardware"] = r.hardware;
  j["engine"] = r.engine;
  j["kv_type"] = r.kv_type;
  j["context_tokens"] = r.context_tokens;
  j["sequences"] = r.n_seq;
  j["gpu_layers"] = r.placement.gpu_layers;
  j["n_cpu_moe"] = r.placement.cpu_moe ? -1 : r.placement.n_cpu_moe;
  j["cpu_moe"] = r.placement.cpu_moe;
  j["memory"] = {{"weights_bytes", r.weights_bytes},       {"kv_cache_bytes", r.kv_cache_bytes},
                 {"compute_buffer_bytes", r.compute_buffer_bytes}, {"overhead_bytes", r.overhead_bytes},
                 {"total_bytes", r.total_bytes},           {"capacity_bytes", r.capacity_bytes},
                 {"reserve_bytes", r.reserve_bytes},       {"fits", r.fits}};
  j["reserve_source"] = r.reserve_source;
  j["max_context_tokens"] = max_context_tokens;
  if (!r.fits) j["why_not"] = why_not_fits(r);
  j["ple_table_bytes"] = r.ple_table_bytes;
  j["ple_location"] = r.ple_location;
  j["gguf_file_bytes"] = r.gguf_file_bytes;
  j["encoder_bytes"] = r.encoder_bytes;
  json devs = json::array();
  for (const auto& d : r.devices) {
    devs.push_back({{"role", d.role}, {"device", d.device}, {"layers", d.layers},
                    {"weights_bytes", d.weights_bytes}, {"kv_cache_bytes", d.kv_cache_bytes},
                    {"compute_buffer_bytes", d.compute_buffer_bytes}, {"overhead_bytes", d.overhead_bytes},
                    {"total_bytes", d.total_bytes}, {"capacity_bytes", d.capacity_bytes},
                    {"reserve_bytes", d.reserve_bytes}, {"fits", d.fits}});
  }
  j["devices"] = devs;
  return j;
}

}  // namespace gs
