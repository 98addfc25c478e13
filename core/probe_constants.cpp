// probe_constants.cpp: see probe_constants.h.
#include "probe_constants.h"

namespace gs {

json engine_json_with_probe(const json& base, const json& ops, bool attention_reads_f16, const std::string& isa,
                            const std::string& tag) {
  json e = base;
  json& thr = e["throughput"];
  if (ops.contains("bandwidth_efficiency")) thr["bandwidth_efficiency"] = ops.at("bandwidth_efficiency");
  if (ops.contains("compute_efficiency_int8")) thr["compute_efficiency"]["int8"] = ops.at("compute_efficiency_int8");
  if (ops.contains("moe_prefill_efficiency")) thr["moe_prefill_efficiency"] = ops.at("moe_prefill_efficiency");
  json c = thr.value("cpu_ops", json::object());
  for (const char* k : {"prefill", "decode", "matmul_call_s", "matmul_call_parallel_s", "quantized_matvec_peak", "moe_matvec_compute_efficiency",
                        "moe_matvec_compute_efficiency_parallel", "matvec_compute_efficiency", "matvec_compute_efficiency_parallel",
                        "matmul_int8_efficiency", "matmul_int8_efficiency_t64", "bandwidth_efficiency_by_format",
                        "bandwidth_efficiency_by_format_parallel", "matmul_batch_time_ratio",
                        "matmul_batch_time_ratio_parallel"}) {
    c.erase(k);
    if (ops.contains(k)) c[k] = ops.at(k);
  }
  thr["cpu_ops"] = c;
  // The kernel keeps float mirrors of an f16 KV cache only where attention cannot read the f16
  // rows in place (layers/attention.cpp: the AVX-512 and AVX2 + F16C forms read them; the SSE2
  // form reads floats): 4 bytes per element where it cannot, none where it can.
  if (e.contains("compute_buffer") && e["compute_buffer"].is_object()) {
    e["compute_buffer"]["kv_float_bytes_per_element"] = attention_reads_f16 ? 0 : 4;
    e["sources"]["compute_buffer.kv_float_bytes_per_element"] =
        tag + ": this CPU's kernel ISA is " + isa +
        (attention_reads_f16 ? " (attention reads the f16 KV cache in place: no float mirrors)"
                             : " (attention reads float mirrors of the f16 KV cache, 4 bytes per element)");
  }
  json& src = e["sources"];
  for (const char* k : {"throughput", "throughput.bandwidth_efficiency", "throughput.compute_efficiency.int8",
                        "throughput.moe_prefill_efficiency", "throughput.cpu_ops", "throughput.cpu_ops.decode.attention",
                        "throughput.cpu_ops.bandwidth_efficiency_by_format"})
    if (src.contains(k) || std::string(k) == "throughput") src[k] = tag;
  if (ops.contains("bandwidth_efficiency_by_format_parallel")) src["throughput.cpu_ops.bandwidth_efficiency_by_format_parallel"] = tag;
  return e;
}

}  // namespace gs
