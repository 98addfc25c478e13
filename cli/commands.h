// commands.h: every gemmasim subcommand, one function each (cli/cmd_<name>.cpp).
// The name -> function table is explicit, in cli/main.cpp.
#pragma once
#include <string>
#include <vector>

namespace gs::cli {

using Args = std::vector<std::string>;  // arguments after the command name

int cmd_fit(const Args& a);
int cmd_fit_matrix(const Args& a);   // `gemmasim` with no arguments
int cmd_models(const Args& a);
int cmd_hw(const Args& a);
int cmd_quants(const Args& a);
int cmd_import_config(const Args& a);  // Hugging Face config.json -> models/ schema
int cmd_estimate(const Args& a);     // throughput: prefill/decode tok/s, TTFT, per-op breakdown
int cmd_calibrate(const Args& a);    // estimate published measurements, per-row error
int cmd_bench(const Args& a);        // estimates per second over a sweep (benchmark)
int cmd_synth(const Args& a);        // seeded synthetic GGUF at a model's real shapes
int cmd_place(const Args& a);        // MoE expert placement: replay a routing trace through policies
int cmd_trace_gen(const Args& a);    // synthetic MoE routing traces, or request traces (--requests)
int cmd_serve_run(const Args& a);    // the reference kernel serving requests with continuous batching
int cmd_serve_sim(const Args& a);    // many users on one server: continuous batching, latency percentiles, capacity
int cmd_run(const Args& a);          // execute a model with the reference kernel: tok/s, bytes, memory
int cmd_probe(const Args& a);        // measure this machine: triad bandwidth, vector peaks, kernel rates -> hwdb device file
int cmd_advise(const Args& a);       // which variant, quant, hardware and split: ranked recommendations
int cmd_report(const Args& a);       // HTML page with comparison charts (gnuplot PNG/SVG + CSV + .gp)
int cmd_validate(const Args& a);     // predicted vs measured: this machine (reference kernel) or llama-bench JSON

}  // namespace gs::cli
