// gemmasim fit: where every byte lives and whether it fits.
#include <cstdio>
#include <iostream>

#include "options.h"
#include "table.h"

namespace gs::cli {

using report::fmt_gib;

static void print_fit_text(const FitResult& r, const ModelSpec& m, i64 max_ctx, int max_ngl, bool gpu_alone) {
  std::printf("%s  %s  on %s  (engine %s, KV %s, context %lld x %d seq)\n", m.name.c_str(), r.quant.c_str(),
              r.hardware.c_str(), r.engine.c_str(), r.kv_type.c_str(), static_cast<long long>(r.context_tokens), r.n_seq);
  report::Table t({"device", "layers", "weights", "KV cache", "compute", "overhead", "total", "capacity", "OS keeps", "fits"});
  t.right_align_from(1);
  for (const auto& d : r.devices) {
    if (d.total_bytes == 0 && d.role != "host") continue;
    t.add({d.role + " " + d.device, std::to_string(d.layers), fmt_gib(d.weights_bytes), fmt_gib(d.kv_cache_bytes),
           fmt_gib(d.compute_buffer_bytes), fmt_gib(d.overhead_bytes), fmt_gib(d.total_bytes), fmt_gib(d.capacity_bytes),
           fmt_gib(d.reserve_bytes), d.fits ? "yes" : "NO"});
  }
  t.add({"all", std::to_string(m.n_layer), fmt_gib(r.weights_bytes), fmt_gib(r.kv_cache_bytes), fmt_gib(r.compute_buffer_bytes),
         fmt_gib(r.overhead_bytes), fmt_gib(r.total_bytes), fmt_gib(r.capacity_bytes), fmt_gib(r.reserve_bytes),
         r.fits ? "yes" : "NO"});
  std::fputs(t.text().c_str(), stdout);
  if (r.reserve_bytes > 0)
    std::printf("Capacity is what is left after the memory the OS, desktop and display keep (%s; --reserve BYTES "
                "sets the host's).\n", r.reserve_source.c_str());
  if (r.ple_table_bytes > 0)
    std::printf("PLE table: %s in %s memory (a lookup of one row per token).\n", fmt_gib(r.ple_table_bytes).c_str(),
                r.ple_location.c_str());
  if (!r.fits) std::printf("Does not fit: %s.\n", why_not_fits(r).c_str());
  std::printf("%s: about %s.\n", r.gguf_file_bytes > 0 && find_recipe(r.quant).kind == "gguf" ? "GGUF file" : "Weights on disk",
              fmt_gib(r.gguf_file_bytes).c_str());
  std::printf("Largest context that fits with this placement: %lld tokens%s.\n", static_cast<long long>(max_ctx),
              max_ctx == 0 ? " (none: the weights alone do not fit)" : "");
  if (max_ngl >= -1 && r.devices.size() > 1) {
    if (gpu_alone) std::printf("Fits on the GPU alone (all %d layers and the output head).\n", m.n_layer);
    else if (max_ngl < 0) std::printf("Does not fit even with every layer on the CPU.\n");
    else std::printf("Does not fit on the GPU alone: at most --gpu-layers %d fits (%d of %d layers%s).\n", max_ngl,
                     std::min(max_ngl, m.n_layer), m.n_layer, max_ngl > m.n_layer ? " and the output head" : "");
  }
}

int cmd_fit(const Args& a) {
  Common c;
  po::options_description d("gemmasim fit options");
  add_common(d, c);
  po::variables_map vm;
  if (!parse(a, d, vm, "usage: gemmasim fit --model M --quant Q --hw H [--ctx N] [--kv-type T] [--gpu-layers N] [--n-cpu-moe N] [--json]"))
    return 0;
  c.ctx_given = !vm["ctx"].defaulted();
  Inputs in = load_inputs(c);
  const FitResult r = fit(in.model, in.hw, in.quant, in.rules, in.fit);
  const i64 max_ctx = max_context(in.model, in.hw, in.quant, in.rules, in.fit);
  // Does it fit with everything on the GPU(s), and if not, how many layers do?
  FitOptions all_gpu = in.fit;
  all_gpu.placement = Placement{};
  const bool has_gpu = r.devices.size() > 1;
  const bool gpu_alone = has_gpu && fit(in.model, in.hw, in.quant, in.rules, all_gpu).fits;
  const int max_ngl = has_gpu ? max_gpu_layers(in.model, in.hw, in.quant, in.rules, in.fit) : -2;
  if (c.json) {
    json j = fit_to_json(r, max_ctx);
    if (has_gpu) {
      j["fits_gpu_only"] = gpu_alone;
      j["max_gpu_layers"] = max_ngl;
    }
    std::cout << j.dump(2) << "\n";
  } else if (c.csv) {
    report::Table t({"model", "quant", "hardware", "engine", "context_tokens", "device", "weights_bytes", "kv_cache_bytes",
                     "compute_buffer_bytes", "overhead_bytes", "total_bytes", "capacity_bytes", "reserve_bytes", "fits"});
    for (const auto& dv : r.devices)
      t.add({r.model, r.quant, r.hardware, r.engine, std::to_string(r.context_tokens), dv.role + ":" + dv.device,
             report::fmt_num(dv.weights_bytes, 0), report::fmt_num(dv.kv_cache_bytes, 0),
             report::fmt_num(dv.compute_buffer_bytes, 0), report::fmt_num(dv.overhead_bytes, 0),
             report::fmt_num(dv.total_bytes, 0), report::fmt_num(dv.capacity_bytes, 0),
             report::fmt_num(dv.reserve_bytes, 0), dv.fits ? "true" : "false"});
    std::fputs(t.csv().c_str(), stdout);
  } else {
    print_fit_text(r, in.model, max_ctx, max_ngl, gpu_alone);
  }
  return 0;
}

}  // namespace gs::cli
