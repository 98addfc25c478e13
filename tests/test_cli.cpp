// End to end: the gemmasim binary, its outputs and its answers to bad input.
#include <doctest/doctest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli_run.h"

using nlohmann::json;
static const std::string kData = GEMMASIM_SOURCE_DIR;

TEST_CASE("fit --json has the documented keys") {
  const CliResult r = run_cli("fit --model gemma4-31b --quant bf16 --hw a100-80gb --ctx 8192 --json");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  for (const char* k : {"model", "quant", "hardware", "context_tokens", "memory", "max_context_tokens", "devices"})
    CHECK(j.contains(k));
  for (const char* k : {"weights_bytes", "kv_cache_bytes", "compute_buffer_bytes", "overhead_bytes", "total_bytes",
                        "capacity_bytes", "fits"})
    CHECK(j["memory"].contains(k));
  CHECK(j["memory"]["fits"] == true);
  CHECK(j["memory"]["weights_bytes"].get<double>() / 1e9 == doctest::Approx(61.4).epsilon(0.01));
}

TEST_CASE("fit on a small GPU says whether it fits alone and how many layers do") {
  const CliResult r = run_cli("fit --model gemma4-31b --quant q4_k_m --hw gtx-1650 --json");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  CHECK(j["fits_gpu_only"] == false);
  CHECK(j["max_gpu_layers"].get<int>() >= 0);
  CHECK(j["max_gpu_layers"].get<int>() < 60);
  const CliResult t = run_cli("fit --model gemma4-31b --quant q4_k_m --hw gtx-1650");
  CHECK(t.out.find("at most --gpu-layers") != std::string::npos);
}

TEST_CASE("models, hw and quants list what is known") {
  const CliResult m = run_cli("models --json");
  REQUIRE(m.code == 0);
  const json j = json::parse(m.out);
  int gemma = 0;
  for (const auto& e : j) gemma += e["id"].get<std::string>().rfind("gemma4-", 0) == 0;
  CHECK(gemma == 4);
  const CliResult h = run_cli("hw --json");
  REQUIRE(h.code == 0);
  CHECK(json::parse(h.out)["devices"].size() >= 35);
  CHECK(run_cli("quants").code == 0);
}

TEST_CASE("the fit matrix runs with no arguments") {
  const CliResult r = run_cli("");
  REQUIRE(r.code == 0);
  CHECK(r.out.find("gemma4-31b") != std::string::npos);
  CHECK(r.out.find("gtx-1650") != std::string::npos);
}

static void check_bad(const std::string& args, const std::string& needle) {
  CAPTURE(args);
  const CliResult r = run_cli(args);
  CHECK(r.code == 2);
  CHECK(r.err_lines() == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("bad input: one line on stderr, exit code 2") {
  check_bad("fit --model gemma4-99b", "unknown model 'gemma4-99b'");
  check_bad("fit --model " + kData + "/tests/data/bad/truncated.json", "malformed JSON");
  check_bad("fit --model gemma4-e2b --hw nope-gpu", "unknown hardware 'nope-gpu'");
  check_bad("fit --model gemma4-e2b --hw " + kData + "/tests/data/bad/negative-memory-device.json", "/memory_bytes");
  check_bad("fit --model gemma4-e2b --ctx -5", "--ctx");
  check_bad("fit --model gemma4-e2b --ctx 262144", "beyond gemma4-e2b's context limit of 131072");
  check_bad("fit --model gemma4-e2b --quant q9_9", "unknown quantization 'q9_9'");
  check_bad("fit --model gemma4-e2b --kv-type int3", "unknown KV-cache type");
  check_bad("fit --model gemma4-e2b --gpu-layers abc", "gpu-layers");
  check_bad("fit --model gemma4-e2b --n-cpu-moe 4", "has no experts");
  check_bad("fit --model gemma4-26b-a4b --n-cpu-moe 31", "more than the model's 30 layers");
  check_bad("fit --bogus-flag", "bogus");
  check_bad("no-such-command", "unknown command");
}

TEST_CASE("unwritable output places and directories given as files are input errors") {
  check_bad("report --no-render --out /proc/gemmasim-report", "cannot create the output directory");
  check_bad("advise --out /proc/gemmasim-advise", "cannot create the output directory");
  check_bad("trace-gen --tokens 8 -o /proc/gemmasim-trace.jsonl", "cannot open for writing");
  // Before minutes of work, not after it: the probe measures nothing (no progress lines), the
  // run reports the output before it opens the model (a missing file would be named first).
  check_bad("probe -o /proc/gemmasim-probe.json", "cannot open for writing");
  check_bad("probe --engine-out /proc/gemmasim-engine.json", "cannot open for writing");
  check_bad("run --model /nonexistent/gemmasim-model.gguf --trace-out /proc/gemmasim-trace.jsonl", "cannot open for writing");
  check_bad("run --model /nonexistent/gemmasim-model.gguf --profile /proc/gemmasim-profile.csv", "cannot open for writing");
  check_bad("run --model /nonexistent/gemmasim-model.gguf --depth 16 --fill copied", "--fill: 'copied'");
  check_bad("fit --model gemma4-e2b --hw " + kData + "/tests/data", "is a directory");
}
