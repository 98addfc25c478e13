#include "engine.h"

#include <algorithm>
#include <filesystem>

#include "data_paths.h"
#include "quant.h"

namespace gs {

namespace fs = std::filesystem;

static const char* const kDtypeNames[kNumDtypes] = {"fp32", "fp16", "bf16", "int8", "fp8", "fp4"};

const char* dtype_name(Dtype d) { return kDtypeNames[static_cast<int>(d)]; }

bool dtype_from_name(const std::string& s, Dtype* out) {
  for (int i = 0; i < kNumDtypes; ++i)
    if (s == kDtypeNames[i]) {
      *out = static_cast<Dtype>(i);
      return true;
    }
  return false;
}

bool EngineProfile::supports_kv_type(const std::string& kid) const {
  return std::find(kv_types.begin(), kv_types.end(), kid) != kv_types.end();
}

static std::string one_of(const JsonReader& r, const std::string& key, const std::string& def,
                          std::initializer_list<const char*> allowed) {
  if (!r.has(key)) return def;
  std::string v = r.at(key).str();
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return v;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  r.at(key).fail("expected one of " + list + ", found '" + v + "'");
}

static EngineThroughput parse_throughput(const JsonReader& t) {
  EngineThroughput e;
  if (!t.is_object()) t.fail("expected an object of throughput constants");
  // Up to 2: measured against a STREAM triad (24 bytes per element with a write-allocate), a
  // read-only weight stream can exceed it (docs/validation.md).
  e.bandwidth_efficiency = t.at("bandwidth_efficiency").num(0.01, 2.0);
  auto ce = t.at("compute_efficiency");
  if (!ce.is_object()) ce.fail("expected an object of dtype -> fraction of peak");
  for (auto it = ce.raw().begin(); it != ce.raw().end(); ++it) {
    Dtype d;
    if (!dtype_from_name(it.key(), &d)) ce.fail("unknown dtype '" + it.key() + "' (expected fp32, fp16, bf16, int8, fp8, fp4)");
    e.compute_efficiency[static_cast<int>(d)] = ce.at(it.key()).num(0.001, 1.0);
  }
  // Dtypes not listed inherit fp16's (bf16, int8, fp8, fp4) or stay at the default.
  for (const char* k : {"bf16", "int8", "fp8", "fp4"}) {
    Dtype d = Dtype::F16;
    dtype_from_name(k, &d);
    if (!ce.has(k) && ce.has("fp16")) e.compute_efficiency[static_cast<int>(d)] = e.compute_efficiency[1];
  }
  if (t.has("quantized_matmul_dtype")) {
    std::string q = t.at("quantized_matmul_dtype").str();
    if (!dtype_from_name(q, &e.quantized_matmul_dtype))
      t.at("quantized_matmul_dtype").fail("unknown dtype '" + q + "' (expected fp32, fp16, bf16, int8, fp8, fp4)");
  }
  e.dequant_flops_per_weight = t.num_or("dequant_flops_per_weight", e.dequant_flops_per_weight, 0.0, 1000.0);
  e.step_overhead_s = t.num_or("step_overhead_s", 0.0, 0.0, 10.0);
  e.per_layer_overhead_s = t.num_or("per_layer_overhead_s", 0.0, 0.0, 1.0);
  e.moe_layer_overhead_s = t.num_or("moe_layer_overhead_s", 0.0, 0.0, 1.0);
  if (t.has("graph_archs")) {
    auto g = t.at("graph_archs");
    if (!g.is_array()) g.fail("expected an array of GPU architecture names");
    for (std::size_t i = 0; i < g.size(); ++i) e.graph_archs.push_back(g.at(i).str());
  }
  e.no_graph_overhead_factor = t.num_or("no_graph_overhead_factor", 1.0, 1.0, 100.0);
  e.moe_prefill_efficiency = t.num_or("moe_prefill_efficiency", 1.0, 0.01, 1.0);
  e.attention_compute_efficiency = t.num_or("attention_compute_efficiency", 1.0, 0.01, 1.0);
  e.host_link_efficiency = t.num_or("host_link_efficiency", 0.8, 0.01, 1.0);
  e.gpu_link_efficiency = t.num_or("gpu_link_efficiency", 0.8, 0.01, 1.0);
  e.allreduce_latency_s = t.num_or("allreduce_latency_s", e.allreduce_latency_s, 0.0, 1.0);
  e.weight_upload_min_tokens = static_cast<int>(t.int_or("weight_upload_min_tokens", 32, 0, 1 << 20));
  e.matvec_max_tokens = static_cast<int>(t.int_or("matvec_max_tokens", 8, 0, 1024));
  e.prefill_dequant_flops_per_flop = t.num_or("prefill_dequant_flops_per_flop", 0.0, 0.0, 100.0);
  e.prefill_dequant_to_f16 = t.bool_or("prefill_dequant_to_f16", false);
  e.f16_gemm_fp16_accumulate = t.bool_or("f16_gemm_fp16_accumulate", false);
  if (t.has("vendor_compute_efficiency")) {
    auto v = t.at("vendor_compute_efficiency");
    if (!v.is_object()) v.fail("expected an object of device vendor -> {dtype: fraction of peak}");
    for (auto it = v.raw().begin(); it != v.raw().end(); ++it) {
      auto ve = v.at(it.key());
      if (!ve.is_object()) ve.fail("expected an object of dtype -> fraction of peak");
      std::array<double, kNumDtypes> eff = e.compute_efficiency;
      for (auto jt = ve.raw().begin(); jt != ve.raw().end(); ++jt) {
        Dtype d;
        if (!dtype_from_name(jt.key(), &d)) ve.fail("unknown dtype '" + jt.key() + "' (expected fp32, fp16, bf16, int8, fp8, fp4)");
        eff[static_cast<int>(d)] = ve.at(jt.key()).num(0.001, 1.0);
      }
      e.vendor_compute_efficiency[it.key()] = eff;
    }
  }
  e.device_switch_s = t.num_or("device_switch_s", e.device_switch_s, 0.0, 1.0);
  e.attention_max_head_dim = static_cast<int>(t.int_or("attention_max_head_dim", 0, 0, 65536));
  e.attention_fallback_efficiency = t.num_or("attention_fallback_efficiency", e.attention_compute_efficiency, 0.001, 1.0);
  e.flash_attn_quantized_kv_to_f16 = t.bool_or("flash_attn_quantized_kv_to_f16", false);
  e.flash_attn_vec_max_head_dim = static_cast<int>(t.int_or("flash_attn_vec_max_head_dim", 0, 0, 4096));
  e.flash_attn_vec_max_tokens = static_cast<int>(t.int_or("flash_attn_vec_max_tokens", 0, 0, 4096));
  e.host_bandwidth_efficiency = t.num_or("host_bandwidth_efficiency", e.host_bandwidth_efficiency, 0.01, 1.0);
  e.host_compute_efficiency = t.num_or("host_compute_efficiency", e.host_compute_efficiency, 0.01, 1.0);
  e.host_dequant_flops_per_weight = t.num_or("host_dequant_flops_per_weight", e.host_dequant_flops_per_weight, 0.0, 1000.0);
  if (t.has("cpu_ops")) {
    auto c = t.at("cpu_ops");
    if (!c.is_object()) c.fail("expected an object of phase -> {op: {efficiency, serial}}");
    for (const char* phase : {"prefill", "decode"}) {
      if (!c.has(phase)) continue;
      auto ph = c.at(phase);
      if (!ph.is_object()) ph.fail("expected an object of op -> {efficiency, serial}");
      for (auto it = ph.raw().begin(); it != ph.raw().end(); ++it) {
        auto o = ph.at(it.key());
        CpuKernelRates::CpuOpRule r;
        r.op = it.key();
        r.phase = phase;
        r.efficiency = o.at("efficiency").num(1e-6, 1.0);
        r.serial = o.bool_or("serial", false);
        if (o.has("call_s") || o.has("call_parallel_s")) {
          if (r.op != "attn_scores" && r.op != "attn_softmax" && r.op != "attn_values")
            o.fail("call_s / call_parallel_s: a fixed cost per call is modelled for the attention ops only "
                   "(attn_scores, attn_softmax, attn_values), not '" + r.op + "'");
          r.call_s = o.num_or("call_s", 0.0, 0.0, 0.1);
          r.call_parallel_s = o.num_or("call_parallel_s", r.call_s, 0.0, 0.1);
        }
        e.cpu_kernel.cpu_ops.push_back(r);
      }
    }
    e.cpu_kernel.matmul_call_s = c.num_or("matmul_call_s", 0.0, 0.0, 0.1);
    e.cpu_kernel.matmul_call_parallel_s = c.num_or("matmul_call_parallel_s", e.cpu_kernel.matmul_call_s, 0.0, 0.1);
    e.cpu_kernel.quantized_matvec_peak = c.str_or("quantized_matvec_peak", "fp32");
    if (e.cpu_kernel.quantized_matvec_peak != "fp32" && e.cpu_kernel.quantized_matvec_peak != "int8")
      c.at("quantized_matvec_peak").fail("expected \"fp32\" or \"int8\", got \"" + e.cpu_kernel.quantized_matvec_peak + "\"");
    e.cpu_kernel.moe_matvec_compute_efficiency = c.num_or("moe_matvec_compute_efficiency", 0.0, 0.0, 4.0);
    e.cpu_kernel.moe_matvec_compute_efficiency_parallel = c.num_or("moe_matvec_compute_efficiency_parallel", 0.0, 0.0, 4.0);
    // Per-format tables: weight format -> fraction of a peak, in [lo, hi].
    auto format_table = [&c](const char* key, const char* peak, double lo, double hi, auto& table) {
      if (!c.has(key)) return;
      auto m = c.at(key);
      if (!m.is_object()) m.fail(std::string("expected an object of weight format -> fraction of the ") + peak);
      for (auto it = m.raw().begin(); it != m.raw().end(); ++it) {
        if (!type_from_name(it.key())) m.fail("unknown weight format '" + it.key() + "' (ggml type names: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k ...)");
        table.emplace_back(it.key(), m.at(it.key()).num(lo, hi));
      }
    };
    format_table("matvec_compute_efficiency", "fp32 peak", 1e-3, 4.0, e.cpu_kernel.matvec_compute_efficiency);
    format_table("matvec_compute_efficiency_parallel", "fp32 peak", 1e-3, 4.0, e.cpu_kernel.matvec_compute_efficiency_parallel);
    format_table("matmul_int8_efficiency", "int8 peak", 1e-4, 1.0, e.cpu_kernel.matmul_int8_efficiency);
    format_table("matmul_int8_efficiency_t64", "int8 peak", 1e-4, 1.0, e.cpu_kernel.matmul_int8_efficiency_t64);
    auto batch_table = [&c](const char* key, auto& table) {
      if (!c.has(key)) return;
      auto m = c.at(key);
      if (!m.is_object()) m.fail("expected an object of weight format -> {token count: time ratio}");
      for (auto it = m.raw().begin(); it != m.raw().end(); ++it) {
        if (!type_from_name(it.key())) m.fail("unknown weight format '" + it.key() + "' (ggml type names: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k ...)");
        table.emplace_back(it.key(), token_count_table(m.at(it.key()), 2, 63, 0.1, 100.0));
      }
    };
    batch_table("matmul_batch_time_ratio", e.cpu_kernel.matmul_batch_time_ratio);
    batch_table("matmul_batch_time_ratio_parallel", e.cpu_kernel.matmul_batch_time_ratio_parallel);
    // The same range as bandwidth_efficiency (a read-only stream can exceed the triad).
    format_table("bandwidth_efficiency_by_format", "memory bandwidth", 0.01, 2.0, e.cpu_kernel.bandwidth_efficiency_by_format);
    format_table("bandwidth_efficiency_by_format_parallel", "memory bandwidth", 0.01, 2.0,
                 e.cpu_kernel.bandwidth_efficiency_by_format_parallel);
  }
  return e;
}

std::string default_engine_id(const std::string& backend);
EngineProfile resolve_engine(const std::string& id_or_path);

// An engine's own throughput keys over the llama.cpp profile of a backend.
static EngineThroughput merged_throughput(const EngineProfile& e, const std::string& backend) {
  const std::string base_path = data_path("hwdb/engines/" + default_engine_id(backend) + ".json");
  const json base = read_json_file(base_path);
  json t = base.at("throughput");
  if (!e.throughput_json.is_object()) JsonReader(e.throughput_json, e.file).fail("throughput: expected an object");
  for (auto it = e.throughput_json.begin(); it != e.throughput_json.end(); ++it) t[it.key()] = it.value();
  const json wrap = {{"throughput", t}};
  return parse_throughput(JsonReader(wrap, e.file + " (throughput over " + base_path + ")").at("throughput"));
}

EngineProfile engine_on_backend(const EngineProfile& e, const std::string& device_backend) {
  if (e.throughput_from.empty()) return e;
  EngineProfile out = e;
  const std::string base_id = default_engine_id(device_backend);
  out.backend = base_id == "llama.cpp-cpu" ? "cpu" : device_backend;
  out.thr = merged_throughput(e, device_backend);
  return out;
}

// The memory rules of a profile (MemoryRules); id: the profile's id.
static MemoryRules parse_memory_rules(const JsonReader& r, const std::string& id) {
  MemoryRules m;
  m.engine = id;
  m.runtime_overhead_bytes = r.at("runtime_overhead_bytes").num(0, 1e12);
  m.usable_memory_fraction = r.num_or("gpu_memory_utilization", 1.0, 0.05, 1.0);
  m.ubatch_tokens = static_cast<int>(r.at("ubatch_tokens").integer(1, 1 << 20));
  m.kv_pad_tokens = static_cast<int>(r.int_or("kv_pad_tokens", 1, 1, 1 << 16));
  m.swa_cache = r.at("swa_cache").str();
  if (m.swa_cache != "window_plus_ubatch" && m.swa_cache != "window" && m.swa_cache != "full")
    r.at("swa_cache").fail("expected window_plus_ubatch, window or full");
  m.kv_single_for_k_eq_v = r.bool_or("kv_cache_k_eq_v_shared", false);
  auto cb = r.at("compute_buffer");
  m.logits_bytes_per_value = cb.num_or("logits_bytes_per_value", 4.0, 0, 16);
  m.activation_bytes_per_value = cb.num_or("activation_bytes_per_value", 4.0, 0, 16);
  m.activation_embd_multiple = cb.num_or("activation_embd_multiple", 4.0, 0, 64);
  m.activation_ffn_multiple = cb.num_or("activation_ffn_multiple", 2.0, 0, 64);
  m.activation_q_multiple = cb.num_or("activation_q_multiple", 2.0, 0, 64);
  m.logits_tokens = cb.num_or("logits_tokens", 0.0, 0, 1 << 20);
  m.activations_at_step = cb.bool_or("activations_at_step", false);
  const std::string blocks = cb.str_or("activation_blocks", "sum");
  if (blocks != "sum" && blocks != "max") cb.at("activation_blocks").fail("expected sum or max");
  m.activation_blocks_max = blocks == "max";
  m.activation_ple_multiple = cb.num_or("activation_ple_multiple", 0.0, 0, 64);
  m.activation_quant_bytes_per_ffn_value = cb.num_or("activation_quant_bytes_per_ffn_value", 0.0, 0, 16);
  m.kv_float_bytes_per_element = cb.num_or("kv_float_bytes_per_element", 0.0, 0, 16);
  m.kv_float_budget_bytes = cb.num_or("kv_float_budget_bytes", 0.0, 0, 1e15);
  m.host_bytes_per_vocab_token = r.num_or("host_bytes_per_vocab_token", 0.0, 0, 1e6);
  m.ple_location = r.str_or("ple_location", "host");
  if (m.ple_location != "host" && m.ple_location != "device") r.at("ple_location").fail("expected host or device");
  const std::string te = r.str_or("token_embd_location", "host");
  if (te != "host" && te != "device") r.at("token_embd_location").fail("expected host or device");
  m.input_embedding_on_host = te == "host";
  m.output_on_gpu_only_if_all_layers = r.bool_or("output_head_on_gpu_only_if_all_layers", true);
  m.tensor_parallel = r.str_or("multi_gpu_split", "layer") == "tensor";
  return m;
}

EngineProfile parse_engine(const json& j, const std::string& file) {
  JsonReader r(j, file);
  if (!j.is_object()) r.fail("expected a JSON object describing an engine");
  r.at("schema_version").integer(1, 1);
  EngineProfile e;
  e.file = file;
  e.id = r.at("id").str();
  e.name = r.str_or("name", e.id);
  e.family = r.at("family").str();
  e.backend = r.str_or("backend", "any");
  e.weight_formats = r.str_or("weight_formats", "gguf");
  e.memory = parse_memory_rules(r, e.id);
  if (r.has("compute_buffer")) one_of(r.at("compute_buffer"), "rule", "logits_plus_activations", {"logits_plus_activations"});
  e.batch_tokens = static_cast<int>(r.int_or("batch_tokens", e.memory.ubatch_tokens, 1, 1 << 22));
  if (r.has("kv_types")) {
    auto k = r.at("kv_types");
    if (!k.is_array()) k.fail("expected an array of KV-cache type ids");
    for (std::size_t i = 0; i < k.size(); ++i) e.kv_types.push_back(k.at(i).str());
  }
  e.cpu_layer_offload = r.bool_or("cpu_layer_offload", true);
  auto strings = [&](const char* key, std::vector<std::string>* out) {
    if (!r.has(key)) return;
    auto a = r.at(key);
    if (!a.is_array()) a.fail("expected an array of strings");
    for (std::size_t i = 0; i < a.size(); ++i) out->push_back(a.at(i).str());
  };
  strings("gpu_backends", &e.gpu_backends);
  strings("extra_weight_kinds", &e.extra_weight_kinds);
  if (r.has("unsupported_gpu_archs")) {
    auto u = r.at("unsupported_gpu_archs");
    auto a = u.at("archs");
    for (std::size_t i = 0; i < a.size(); ++i) e.unsupported_archs.push_back(a.at(i).str());
    e.unsupported_archs_reason = u.at("reason").str();
  }
  if (r.has("compute_dtype_by_quant")) {
    auto c = r.at("compute_dtype_by_quant");
    if (!c.is_object()) c.fail("expected an object of quant id -> data type");
    for (auto it = c.raw().begin(); it != c.raw().end(); ++it) e.compute_dtype_by_quant[it.key()] = c.at(it.key()).str();
  }
  e.throughput_from = one_of(r, "throughput_from", "", {"", "llama.cpp", "device"});
  e.throughput_json = r.at("throughput").raw();
  if (e.throughput_from != "llama.cpp") {
    e.thr = parse_throughput(r.at("throughput"));
  } else {
    // on its own (no device known yet): over llama.cpp's CUDA profile; engine_on_backend
    // re-resolves it for the device's backend
    e.backend = "any";
    e.thr = merged_throughput(e, "cuda");
  }
  if (!r.has("sources")) r.fail("required key 'sources' missing: every number needs its source");
  e.sources = j.at("sources");
  return e;
}

EngineProfile load_engine_file(const std::string& path) { return parse_engine(read_json_file(path), path); }

static std::string engines_dir() { return data_path("hwdb/engines"); }

std::vector<std::string> engine_ids() {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(engines_dir(), ec))
    if (f.path().extension() == ".json") ids.push_back(f.path().stem().string());
  std::sort(ids.begin(), ids.end());
  return ids;
}

EngineProfile resolve_engine(const std::string& id_or_path) {
  if (id_or_path.find('/') != std::string::npos || id_or_path.ends_with(".json")) return load_engine_file(id_or_path);
  const std::string p = engines_dir() + "/" + id_or_path + ".json";
  if (!path_exists(p)) {
    std::string known;
    for (const auto& k : engine_ids()) known += (known.empty() ? "" : ", ") + k;
    input_error("--engine: unknown engine '" + id_or_path + "' (known: " + known + ")");
  }
  return load_engine_file(p);
}

std::vector<EngineProfile> all_engines() {
  std::vector<EngineProfile> v;
  for (const auto& id : engine_ids()) v.push_back(resolve_engine(id));
  return v;
}

std::string default_engine_id(const std::string& backend) {
  if (backend == "cuda") return "llama.cpp-cuda";
  if (backend == "metal") return "llama.cpp-metal";
  if (backend == "rocm" || backend == "hip") return "llama.cpp-rocm";
  if (backend == "vulkan") return "llama.cpp-vulkan";
  return "llama.cpp-cpu";
}

}  // namespace gs
