// gemmasim (no arguments): the fit matrix. The four Gemma 4 variants x common
// quantizations x the headline hardware: what fits at 8K and the largest context.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "data_paths.h"
#include "options.h"
#include "table.h"
#include "units.h"

namespace gs::cli {

// Headline hardware, in the order people ask about it. Ids missing from hwdb/ are skipped.
static const char* kHeadline[] = {"gtx-1650", "rtx-3060-12gb", "rtx-4090", "a100-80gb", "rpi5-16gb",
                                  "desktop-rtx3090-used", "desktop-2x-rtx3060-12gb", "mac-mini-m4-pro-64gb",
                                  "framework-desktop-395-128gb", "cpu-ddr5-128gb"};
static const char* kVariants[] = {"gemma4-e2b", "gemma4-e4b", "gemma4-26b-a4b", "gemma4-31b"};
static const char* kQuants[] = {"q4_k_m", "q8_0", "bf16"};

static bool exists_hw(const std::string& id) {
  return std::filesystem::exists(data_path("hwdb/systems/" + id + ".json")) ||
         std::filesystem::exists(data_path("hwdb/devices/" + id + ".json"));
}

int cmd_fit_matrix(const Args& a) {
  Common c;
  po::options_description d("gemmasim matrix options");
  long long ctx = 8192;
  bool js = false, cs = false;
  d.add_options()("ctx", po::value(&ctx)->default_value(ctx), "context to test, tokens")("json", po::bool_switch(&js), "JSON")(
      "csv", po::bool_switch(&cs), "CSV");
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim [matrix] [--ctx N] [--json|--csv]")) return 0;
  if (ctx < 1 || ctx > (1LL << 24)) input_error("--ctx: expected 1 .. 16M tokens, got " + std::to_string(ctx));
  report::Table t({"hardware", "model", "quant", "engine", "GPU used/capacity", "host used/capacity", "fits", "max context"});
  t.right_align_from(4);
  // --csv: numbers (bytes, tokens), not the table's display strings
  report::Table csv({"hardware", "model", "quant", "engine", "gpu_used_bytes", "gpu_capacity_bytes", "host_used_bytes",
                     "host_capacity_bytes", "fits", "max_context_tokens"});
  json arr = json::array();
  for (const char* hw_id : kHeadline) {
    if (!exists_hw(hw_id)) continue;
    const System hw = resolve_hardware(hw_id);
    for (const char* mid : kVariants) {
      const ModelSpec m = find_model(mid);
      for (const char* qid : kQuants) {
        const QuantRecipe& q = find_recipe(qid);
        const MemoryRules rules = load_memory_rules(default_engine(hw, q));
        FitOptions o;
        o.context_tokens = std::min<long long>(ctx, m.n_ctx_max);
        const FitResult r = fit(m, hw, q, rules, o);
        const i64 mc = max_context(m, hw, q, rules, o);
        arr.push_back(fit_to_json(r, mc));
        std::string gpu = "-";
        double gpu_used = 0, gpu_cap = 0;
        for (const auto& dv : r.devices)
          if (dv.role != "host") gpu_used += dv.total_bytes, gpu_cap += dv.capacity_bytes;
        if (gpu_cap > 0) gpu = report::fmt_num(gpu_used / kGiB, 1) + " / " + report::fmt_num(gpu_cap / kGiB, 1) + " GiB";
        const auto& h = r.devices.back();
        const std::string host = report::fmt_num(h.total_bytes / kGiB, 1) + " / " + report::fmt_num(h.capacity_bytes / kGiB, 1) + " GiB";
        t.add({hw_id, mid, qid, rules.engine, gpu, host, r.fits ? "yes" : "no", mc > 0 ? report::fmt_tokens(mc) : "-"});
        auto bytes = [](double b) { return std::to_string(static_cast<long long>(std::llround(b))); };
        csv.add({hw_id, mid, qid, rules.engine, bytes(gpu_used), bytes(gpu_cap), bytes(h.total_bytes), bytes(h.capacity_bytes),
                 r.fits ? "true" : "false", std::to_string(static_cast<long long>(std::max<i64>(mc, 0)))});
      }
    }
  }
  if (js) std::cout << arr.dump(2) << "\n";
  else if (cs) std::fputs(csv.csv().c_str(), stdout);
  else {
    std::printf("gemmasim fit matrix: Gemma 4 variants x quantizations x headline hardware, at %lld tokens of context\n"
                "(all layers on the GPU where there is one; `gemmasim fit` for splits and details)\n\n", ctx);
    std::fputs(t.text().c_str(), stdout);
  }
  return 0;
}

}  // namespace gs::cli
