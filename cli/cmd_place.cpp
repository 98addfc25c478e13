// gemmasim place: replay a routing trace through expert placement policies (sim/moe/).
// parse -> load model/quant/hw -> trace (file or synthetic) -> replay each policy ->
// table or JSON, with the llama.cpp flags that realise each static placement.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "moe/policies.h"
#include "moe/llama_cpp_flags.h"
#include "moe/replay.h"
#include "moe/replay_inputs.h"
#include "moe/trace_gen.h"
#include "moe_flags.h"
#include "options.h"
#include "table.h"
#include "tensors.h"

namespace gs::cli {

namespace {

struct Row {
  moe::ReplayResult r;
  std::optional<moe::Realisation> real;  // static placements
  std::optional<moe::ReplayResult> real_r;  // replay of the realisable variant when it differs
};

double per_tok(double x, double tokens) { return tokens > 0 ? x / tokens : 0.0; }

json split_json(const moe::PhaseStats& p) {
  return {{"gpu_experts", per_tok(p.gpu_expert_s, p.tokens)},
          {"cpu_experts", per_tok(p.cpu_expert_s, p.tokens)},
          {"transfers", per_tok(p.transfer_s, p.tokens)},
          {"rest", per_tok(p.rest_s, p.tokens)}};
}

json rate_or_null(const moe::PhaseStats& p) { return p.tokens > 0 ? json(p.tok_per_s()) : json(nullptr); }

json result_json(const moe::ReplayResult& r, const moe::MoeSetup& s, double budget) {
  json layers = json::array();
  for (std::size_t i = 0; i < r.layer_events.size(); ++i) layers.push_back(r.layer_hit_rate(static_cast<int>(i)));
  return {{"policy", r.policy},
          {"hit_rate", r.hit_rate()},
          {"hit_rate_decode", r.decode.hit_rate()},
          {"hit_rate_prefill", r.prefill.tokens > 0 ? json(r.prefill.hit_rate()) : json(nullptr)},
          {"hit_rate_per_layer", layers},
          {"pcie_bytes_per_token", per_tok(r.decode.transfer_bytes, r.decode.tokens)},
          {"pcie_bytes_per_prefill_token", per_tok(r.prefill.transfer_bytes, r.prefill.tokens)},
          {"time_split_s_per_token", split_json(r.decode)},
          {"prefill_time_split_s_per_token", split_json(r.prefill)},
          {"decode_tok_per_s", rate_or_null(r.decode)},
          {"prefill_tok_per_s", rate_or_null(r.prefill)},
          {"expert_vram_bytes", r.expert_vram_bytes},
          {"vram_used_bytes", s.non_expert_vram_bytes + r.expert_vram_bytes},
          {"fits", s.non_expert_fits && r.expert_vram_bytes <= budget * (1 + 1e-12)}};
}

std::string ms(double s) { return report::fmt_num(s * 1e3, 2); }
std::string rate(const moe::PhaseStats& p) { return p.tokens > 0 ? report::fmt_num(p.tok_per_s(), 1) : "-"; }

void print_table(const std::vector<Row>& rows, const moe::MoeSetup& s, double budget, bool per_layer) {
  report::Table t({"policy", "hit %", "PCIe MB/tok", "GPU exp ms", "CPU exp ms", "PCIe ms", "rest ms", "decode tok/s",
                   "prefill tok/s", "expert VRAM", "VRAM used"});
  t.right_align_from(1);
  for (const auto& row : rows) {
    const auto& r = row.r;
    const auto& d = r.decode;
    std::string vram = report::fmt_gib(s.non_expert_vram_bytes + r.expert_vram_bytes);
    if (r.expert_vram_bytes > budget * (1 + 1e-12) || !s.non_expert_fits) vram += " (over)";
    t.add({r.policy, report::fmt_num(100 * d.hit_rate(), 1), report::fmt_num(per_tok(d.transfer_bytes, d.tokens) / 1e6, 1),
           ms(per_tok(d.gpu_expert_s, d.tokens)), ms(per_tok(d.cpu_expert_s, d.tokens)), ms(per_tok(d.transfer_s, d.tokens)),
           ms(per_tok(d.rest_s, d.tokens)), rate(d), rate(r.prefill), report::fmt_gib(r.expert_vram_bytes), vram});
  }
  std::fputs(t.text().c_str(), stdout);
  std::printf("Per decode token. hit %%: routed experts of decode tokens found resident on the GPU.\n");
  for (const auto& row : rows) {
    if (!row.real) continue;
    std::printf("llama.cpp, %s: llama-server -m MODEL.gguf %s\n", row.r.policy.c_str(), row.real->args.c_str());
    if (row.real_r)
      std::printf("  per-expert placement inside a layer cannot be expressed (a layer's experts are one tensor); "
                  "rounded to whole layers (%d experts change side): hit %.1f%%, decode %s tok/s, prefill %s tok/s\n",
                  row.real->experts_moved, 100 * row.real_r->hit_rate(), rate(row.real_r->decode).c_str(),
                  rate(row.real_r->prefill).c_str());
  }
  if (per_layer && rows.size() == 1) {
    report::Table lt({"layer", "hit %", "events"});
    lt.right_align_from(0);
    const auto& r = rows[0].r;
    for (std::size_t i = 0; i < r.layer_events.size(); ++i)
      lt.add({std::to_string(s.moe_layers[i]), report::fmt_num(100 * r.layer_hit_rate(static_cast<int>(i)), 1),
              report::fmt_num(r.layer_events[i], 0)});
    std::fputs(lt.text().c_str(), stdout);
  }
}

}  // namespace

int cmd_place(const Args& a) {
  Common c;
  c.model = "gemma4-26b-a4b";
  c.hw = "desktop-rtx4090";
  GenFlags g;
  g.prompt = 512;
  std::string policy = "all", trace_file, profile_file, budget_s;
  double half_life = 128;
  unsigned ubatch = 0;
  bool no_offload = false, layers = false, cold = false;
  po::options_description d("gemmasim place options");
  add_common(d, c);
  d.add_options()
      ("policy", po::value(&policy)->default_value(policy), "placement policy, or 'all' to compare them")
      ("trace", po::value(&trace_file), "routing trace to replay (.jsonl or .csv); default: a synthetic one (--skew)")
      ("profile-trace", po::value(&profile_file), "trace the static placements learn from (default: a synthetic one "
                                                  "with seed+1, or the --trace itself)")
      ("vram-budget", po::value(&budget_s), "VRAM for experts, e.g. 12GB or 11.5GiB (default: what fit leaves free)")
      ("decay-half-life", po::value(&half_life)->default_value(half_life), "decay policy: half-life in tokens")
      ("ubatch", po::value(&ubatch), "prefill tokens per step (default: the engine's)")
      ("no-op-offload", po::bool_switch(&no_offload), "llama.cpp --no-op-offload: CPU experts never copied for prompts")
      ("cold-start", po::bool_switch(&cold), "caches start empty (default: holding the static-global placement)")
      ("layers", po::bool_switch(&layers), "print the hit rate of every layer (one policy)");
  add_gen_flags(d, g);
  po::variables_map vm;
  if (!parse(a, d, vm,
             "usage: gemmasim place --model gemma4-26b-a4b --quant Q --hw H --policy P [--trace FILE | --skew Z] "
             "[--profile-trace FILE] [--vram-budget BYTES] [--json]"))
    return 0;
  if (!trace_file.empty() && (!vm["skew"].defaulted() || vm.count("skew-per-layer")))
    input_error("--trace and --skew: give one of them (a trace file or a synthetic trace)");
  if (half_life <= 0) input_error("--decay-half-life: " + std::to_string(half_life) + " (expected > 0 tokens)");
  Inputs in = load_inputs(c);
  const moe::MoeSetup s = moe::make_moe_setup(in.model, in.quant, in.hw, in.rules, in.fit);

  // Evaluation and profiling traces.
  moe::Trace eval, prof;
  std::string prof_source;
  bool in_sample = false;
  if (!trace_file.empty()) {
    eval = moe::read_trace(trace_file, s.shape);
  } else {
    eval = moe::generate_trace(gen_params(g, in.model));
  }
  if (!profile_file.empty()) {
    prof = moe::read_trace(profile_file, s.shape);
    prof_source = profile_file;
  } else if (trace_file.empty()) {
    GenFlags pg = g;
    pg.seed = g.seed + 1;
    prof = moe::generate_trace(gen_params(pg, in.model));
    prof_source = "synthetic, seed " + std::to_string(pg.seed);
  } else {
    in_sample = true;
    prof_source = trace_file + " (in-sample: the evaluation trace itself)";
  }
  if (!in_sample && prof.layers != eval.layers)
    input_error("--profile-trace " + prof_source + ": MoE layers differ from the evaluation trace's");

  moe::PolicyContext ctx = moe::base_context(s);
  const bool budget_flag = !budget_s.empty();
  ctx.vram_budget_bytes = budget_flag ? parse_bytes(budget_s, "--vram-budget") : s.default_budget_bytes;
  if (budget_flag && ctx.vram_budget_bytes > 1e15) input_error("--vram-budget: " + budget_s + " is beyond 1 PB");
  ctx.profile_counts = moe::expert_counts(in_sample ? eval : prof);
  ctx.decay_half_life_tokens = half_life;
  if (!c.override_tensor.empty())
    input_error("-ot: place computes the placement (and prints the -ot that realises it); compare with --policy, --n-cpu-moe or --cpu-moe");
  ctx.n_cpu_moe = vm["n-cpu-moe"].defaulted() ? -1 : c.n_cpu_moe;
  if (ctx.n_cpu_moe > in.model.n_layer)
    input_error("--n-cpu-moe: " + std::to_string(ctx.n_cpu_moe) + " is more than the model's " +
                std::to_string(in.model.n_layer) + " layers");
  if (no_offload) ctx.op_offload_min_tokens = 0;
  ctx.cache_warm_start = !cold;
  moe::ReplayConfig cfg;
  cfg.ubatch = ubatch > 0 ? ubatch : static_cast<std::uint32_t>(s.ubatch_tokens);
  cfg.rest_s = s.rest_fn;

  if (c.cpu_moe && vm["policy"].defaulted()) policy = "cpu-moe";
  std::vector<std::string> names = policy == "all" ? moe::comparable_policy_names() : std::vector<std::string>{policy};
  bool fused = false;
  for (const auto& t : weight_tensors(in.model)) fused = fused || t.role == TensorRole::MoeGateUpExps;

  std::vector<Row> rows;
  const auto progress = progress_reporter("place: policies replayed");
  int replayed = 0;
  for (const auto& name : names) {
    auto pol = moe::make_policy(name);
    Row row{moe::replay(eval, *pol, ctx, cfg), std::nullopt, std::nullopt};
    if (row.r.is_static) {
      row.real = moe::realise_llama_cpp(row.r.resident_map, ctx, fused);
      if (!row.real->exact) {
        moe::PolicyContext rc = ctx;
        rc.cpu_layer_mask = row.real->cpu_layer;
        auto lp = moe::make_policy("layers");
        row.real_r = moe::replay(eval, *lp, rc, cfg);
        row.real_r->policy = name + " (llama.cpp)";
      }
    }
    rows.push_back(std::move(row));
    progress(++replayed, static_cast<int>(names.size()));
  }

  if (c.json) {
    json pj = json::array();
    for (const auto& row : rows) {
      json j = result_json(row.r, s, ctx.vram_budget_bytes);
      if (row.real) {
        j["llama_cpp"] = {{"args", row.real->args}, {"exact", row.real->exact}};
        if (row.real_r) {
          j["llama_cpp"]["realisable"] = result_json(*row.real_r, s, ctx.vram_budget_bytes);
          j["llama_cpp"]["experts_moved"] = row.real->experts_moved;
        }
      } else {
        j["llama_cpp"] = nullptr;
      }
      pj.push_back(j);
    }
    json out = {{"model", s.model}, {"quant", s.quant}, {"hardware", s.hardware}, {"engine", s.engine},
                {"context_tokens", s.context_tokens},
                {"trace", {{"source", eval.source}, {"tokens", eval.n_tokens()}, {"prefill_tokens", eval.n_prefill_tokens()},
                           {"events", eval.n_events()}}},
                {"profile", {{"source", prof_source}, {"in_sample", in_sample}}},
                {"vram_budget_bytes", ctx.vram_budget_bytes}, {"vram_budget_source", budget_flag ? "flag" : "fit"},
                {"non_expert_vram_bytes", s.non_expert_vram_bytes}, {"gpu_capacity_bytes", s.gpu_capacity_bytes},
                {"experts_bytes", s.experts_bytes}, {"ubatch_tokens", cfg.ubatch}, {"policies", pj}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (c.csv) {
    report::Table t({"policy", "hit_rate", "hit_rate_decode", "pcie_bytes_per_token", "gpu_experts_s", "cpu_experts_s",
                     "transfers_s", "rest_s", "decode_tok_per_s", "prefill_tok_per_s", "expert_vram_bytes",
                     "vram_used_bytes", "llama_cpp_args"});
    auto num = [](double v) { return report::fmt_num(v, 9); };
    for (const auto& row : rows) {
      const auto& r = row.r;
      const auto& d = r.decode;
      t.add({r.policy, num(r.hit_rate()), num(d.hit_rate()), num(per_tok(d.transfer_bytes, d.tokens)),
             num(per_tok(d.gpu_expert_s, d.tokens)), num(per_tok(d.cpu_expert_s, d.tokens)),
             num(per_tok(d.transfer_s, d.tokens)), num(per_tok(d.rest_s, d.tokens)), num(d.tok_per_s()),
             num(r.prefill.tok_per_s()), report::fmt_num(r.expert_vram_bytes, 0), report::fmt_num(s.non_expert_vram_bytes + r.expert_vram_bytes, 0),
             row.real ? row.real->args : ""});
    }
    std::fputs(t.csv().c_str(), stdout);
    return 0;
  }
  std::printf("%s %s on %s (engine %s), trace %s: %zu tokens (%zu prompt), %zu routing events\n", in.model.name.c_str(),
              s.quant.c_str(), s.hardware.c_str(), s.engine.c_str(), eval.source.c_str(), eval.n_tokens(),
              eval.n_prefill_tokens(), eval.n_events());
  std::printf("Experts %s in all; GPU %s, non-expert use %s at %lld tokens of context; VRAM budget for experts %s (%s).\n",
              report::fmt_gib(s.experts_bytes).c_str(), report::fmt_gib(s.gpu_capacity_bytes).c_str(),
              report::fmt_gib(s.non_expert_vram_bytes).c_str(), s.context_tokens,
              report::fmt_gib(ctx.vram_budget_bytes).c_str(), budget_flag ? "--vram-budget" : "GPU memory left by fit");
  std::printf("Static placements learn from: %s.\n", prof_source.c_str());
  if (!s.non_expert_fits) std::printf("Warning: even with every expert on the CPU the model does not fit this GPU.\n");
  print_table(rows, s, ctx.vram_budget_bytes, layers);
  return 0;
}

}  // namespace gs::cli
