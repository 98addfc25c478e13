// gemmasim models | hw | quants: what is known.
#include <cstdio>
#include <iostream>

#include "options.h"
#include "table.h"

namespace gs::cli {

using report::fmt_count;
using report::fmt_gib;

static bool list_flags(const Args& a, bool& as_json, bool& as_csv, const char* usage) {
  po::options_description d("options");
  d.add_options()("json", po::bool_switch(&as_json), "JSON output")("csv", po::bool_switch(&as_csv), "CSV output");
  po::variables_map vm;
  return parse(a, d, vm, usage);
}

int cmd_models(const Args& a) {
  bool js = false, cs = false;
  if (!list_flags(a, js, cs, "usage: gemmasim models [--json|--csv]")) return 0;
  json arr = json::array();
  report::Table t({"id", "arch", "layers", "D", "context", "params_total", "params_effective", "params_active", "experts"});
  t.right_align_from(2);
  // CSV: numbers as numbers (the table's "128K", "11.77B" and "8/128" are for reading)
  report::Table c({"id", "arch", "layers", "hidden_size", "context_tokens", "params_total", "params_effective",
                   "params_active", "experts", "experts_per_token"});
  for (const auto& m : all_models()) {
    const ParamCounts p = count_params(m);
    arr.push_back({{"id", m.id}, {"name", m.name}, {"arch", m.arch}, {"layers", m.n_layer}, {"hidden_size", m.n_embd},
                   {"context_length", m.n_ctx_max}, {"params_total", p.total}, {"params_effective", p.effective},
                   {"params_active", p.active}, {"experts", m.moe.n_expert}, {"experts_per_token", m.moe.n_expert_used},
                   {"sliding_window", m.sliding_window}, {"file", m.file}});
    t.add({m.id, m.arch, std::to_string(m.n_layer), std::to_string(m.n_embd), report::fmt_tokens(m.n_ctx_max),
           fmt_count(p.total), fmt_count(p.effective), fmt_count(p.active),
           m.moe.n_expert ? std::to_string(m.moe.n_expert_used) + "/" + std::to_string(m.moe.n_expert) : "-"});
    c.add({m.id, m.arch, std::to_string(m.n_layer), std::to_string(m.n_embd), std::to_string(m.n_ctx_max),
           report::fmt_num(p.total, 0), report::fmt_num(p.effective, 0), report::fmt_num(p.active, 0), std::to_string(m.moe.n_expert),
           std::to_string(m.moe.n_expert_used)});
  }
  if (js) std::cout << arr.dump(2) << "\n";
  else std::fputs(cs ? c.csv().c_str() : t.text().c_str(), stdout);
  return 0;
}

int cmd_hw(const Args& a) {
  bool js = false, cs = false;
  if (!list_flags(a, js, cs, "usage: gemmasim hw [--json|--csv]")) return 0;
  json devs = json::array(), syss = json::array();
  report::Table t({"id", "kind", "memory", "bandwidth GB/s", "fp16 TFLOP/s", "price USD", "name"});
  t.right_align_from(2);
  report::Table c({"id", "kind", "memory_bytes", "memory_bandwidth_bytes_per_s", "fp16_flops_per_s", "price_usd", "name"});
  auto price = [](double usd) { return usd > 0 ? report::fmt_num(usd, 2) : std::string(); };  // empty: no price
  for (const auto& d : all_devices()) {
    devs.push_back({{"id", d.id}, {"name", d.name}, {"kind", d.kind}, {"backend", d.backend}, {"memory_bytes", d.memory_bytes},
                    {"memory_bandwidth_bytes_per_s", d.memory_bandwidth_bytes_per_s}, {"peak_flops_per_s", d.peak_flops_per_s},
                    {"price_usd", d.price_usd}});
    t.add({d.id, d.kind, fmt_gib(d.memory_bytes, 0), report::fmt_num(d.memory_bandwidth_bytes_per_s / 1e9, 0),
           report::fmt_num(d.flops("fp16") / 1e12, 1), d.price_usd > 0 ? report::fmt_num(d.price_usd, 0) : "-", d.name});
    c.add({d.id, d.kind, report::fmt_num(d.memory_bytes, 0), report::fmt_num(d.memory_bandwidth_bytes_per_s, 0),
           report::fmt_num(d.flops("fp16"), 0), price(d.price_usd), d.name});
  }
  for (const auto& s : all_systems()) {
    json g = json::array();
    for (const auto& d : s.gpus) g.push_back(d.id);
    syss.push_back({{"id", s.id}, {"name", s.name}, {"gpus", g}, {"host", s.host.id}, {"host_memory_bytes", s.host_memory_bytes},
                    {"price_usd", s.price_usd}, {"price_date", s.price_date}});
    const double mem_bytes = s.gpus.empty() ? s.host_memory_bytes : s.gpu_memory_bytes();
    const Device& lead = s.gpus.empty() ? s.host : s.gpus.front();
    t.add({s.id, "system", fmt_gib(mem_bytes, 0), report::fmt_num(lead.memory_bandwidth_bytes_per_s / 1e9, 0),
           report::fmt_num(lead.flops("fp16") / 1e12, 1), s.price_usd > 0 ? report::fmt_num(s.price_usd, 0) : "-", s.name});
    c.add({s.id, "system", report::fmt_num(mem_bytes, 0), report::fmt_num(lead.memory_bandwidth_bytes_per_s, 0),
           report::fmt_num(lead.flops("fp16"), 0), price(s.price_usd), s.name});
  }
  if (js) std::cout << json{{"devices", devs}, {"systems", syss}}.dump(2) << "\n";
  else std::fputs(cs ? c.csv().c_str() : t.text().c_str(), stdout);
  return 0;
}

int cmd_quants(const Args& a) {
  bool js = false, cs = false;
  if (!list_flags(a, js, cs, "usage: gemmasim quants [--json|--csv]")) return 0;
  json types = json::array(), recipes = json::array(), kvs = json::array();
  report::Table t({"type", "block", "bytes", "bits/weight", "gguf"});  // every cell a number or a name: also the CSV
  t.right_align_from(1);
  for (const auto& ti : all_types()) {
    types.push_back({{"name", ti.name}, {"id", static_cast<int>(ti.id)}, {"block_weights", ti.block_weights},
                     {"block_bytes", ti.block_bytes}, {"bits_per_weight", ti.bits_per_weight()}, {"gguf", ti.gguf}});
    t.add({ti.name, std::to_string(ti.block_weights), std::to_string(ti.block_bytes), report::fmt_num(ti.bits_per_weight(), 4),
           ti.gguf ? "yes" : "no"});
  }
  for (const auto& r : all_recipes()) recipes.push_back({{"id", r.id}, {"name", r.name}, {"kind", r.kind}, {"source", r.source}});
  for (const auto& k : all_kv_types()) kvs.push_back({{"id", k.id}, {"bytes_per_element", k.bytes_per_element}});
  if (js) {
    std::cout << json{{"types", types}, {"recipes", recipes}, {"kv_types", kvs}}.dump(2) << "\n";
    return 0;
  }
  if (cs) {
    std::fputs(t.csv().c_str(), stdout);
    return 0;
  }
  std::fputs(t.text().c_str(), stdout);
  std::printf("\nrecipes:");
  for (const auto& r : all_recipes()) std::printf(" %s", r.id.c_str());
  std::printf("\nKV-cache types:");
  for (const auto& k : all_kv_types()) std::printf(" %s", k.id.c_str());
  std::printf("\n");
  return 0;
}

}  // namespace gs::cli
