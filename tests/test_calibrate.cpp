// sim/calibrate and the estimate/calibrate commands: row mapping, CSV parsing,
// the accuracy reached on the bundled calibration set, JSON keys, bad input.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "calibrate.h"
#include "cli_run.h"

using namespace gs;
static const std::string kSrc = GEMMASIM_SOURCE_DIR;

namespace {

CalRow row(const std::string& model, const std::string& quant, const std::string& hw, const std::string& backend,
           const std::string& batch, const std::string& ctx, const std::string& pp, const std::string& tg) {
  CalRow r;
  r.line = 2;
  r.model = model;
  r.quant = quant;
  r.hardware = hw;
  r.backend = backend;
  r.batch = batch;
  r.ctx = ctx;
  r.pp = pp;
  r.tg = tg;
  return r;
}

std::string temp_file(const std::string& text) {
  char name[] = "/tmp/gemmasim_cal_XXXXXX";
  const int fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

}  // namespace

TEST_CASE("calibration rows map to model, quant, hardware, engine and workload") {
  SUBCASE("llama-bench pp512 / tg128") {
    const CalCase c = map_calibration_row(row("Llama-2 7B", "Q4_0", "RTX 4090 24GB", "llama.cpp CUDA -ngl 99", "1",
                                              "pp512 / tg128", "14771", "189"));
    CHECK(c.skip == "");
    CHECK(c.model_id == "llama-2-7b");
    CHECK(c.recipe_id == "q4_0");
    CHECK(c.hw_id == "rtx-4090");
    CHECK(c.engine_id == "llama.cpp-cuda");
    CHECK(c.prompt == 512);
    CHECK(c.gen == 128);
    CHECK(c.depth == 0);
    CHECK(c.gpu_layers == -1);
    CHECK_FALSE(c.decode_after_prompt);
  }
  SUBCASE("micro-batch 1 prompt processing at depth is decode") {
    const CalCase c = map_calibration_row(row("Gemma 4 26B A4B", "Q4_0", "RTX 3090 24GB", "llama.cpp CUDA FA", "1",
                                              "pp256 at ubatch=1, depth 32768", "", "153"));
    CHECK(c.skip == "");
    CHECK(c.prompt == 0);
    CHECK(c.gen == 256);
    CHECK(c.depth == 32768);
  }
  SUBCASE("serving benchmark: isl / osl, decode after the prompt, aggregate batch") {
    const CalCase c = map_calibration_row(row("Gemma 4 31B", "NVFP4", "RTX 4090 24GB", "vLLM", "8 (aggregate)",
                                              "isl 2048 / osl 128", "", "43"));
    CHECK(c.engine_id == "vllm");
    CHECK(c.prompt == 2048);
    CHECK(c.decode_after_prompt);
    CHECK(c.batch == 8);
    CHECK_FALSE(c.single_stream);
  }
  SUBCASE("a range is its midpoint; -ngl N sets the layers; CPU backends stay on the CPU") {
    const CalCase c = map_calibration_row(row("Gemma 3 12B", "Q4_K_M", "RTX 2080 8GB + i9-10900X (partial offload -ngl 44)",
                                              "llama.cpp CPU", "1", "not stated", "", "12-15"));
    CHECK(c.measured_tg == doctest::Approx(13.5));
    CHECK(c.gpu_layers == 44);
    CHECK(c.cpu_only);
  }
  SUBCASE("skipped rows say why") {
    CHECK(map_calibration_row(row("Nemotron3 Nano 4B", "Q4_K_M", "RTX 4090 24GB", "llama.cpp", "1", "", "", "18")).skip.find(
              "no models/ file") != std::string::npos);
    CHECK(map_calibration_row(row("Gemma 4 E2B", "", "RTX 4090 24GB", "llama.cpp", "1", "", "", "18")).skip ==
          "quantization not stated");
    CHECK(map_calibration_row(row("Gemma 4 E2B", "Q4_0", "Jetson Thor T5000", "vLLM", "1", "", "", "18")).skip.find(
              "no hwdb entry") != std::string::npos);
    CHECK(map_calibration_row(row("Llama 3.1 8B", "FP8", "H200", "TensorRT-LLM", "max load", "", "", "9000")).skip.find(
              "concurrency") != std::string::npos);
  }
}

TEST_CASE("the CSV reader handles quoted fields and rejects malformed files") {
  const std::string ok = temp_file(
      "model,total_params_b,active_params_b,quant,file_gb,hardware,backend,batch,ctx_or_prompt,pp_tok_s,tg_tok_s,source\n"
      "Llama-2 7B,6.74,6.74,Q4_0,3.82,RTX 4090 24GB,\"llama.cpp CUDA, -ngl 99\",1,\"pp512 / tg128\",14771,189,\"a, b\"\n");
  const auto rows = read_calibration_csv(ok);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].backend == "llama.cpp CUDA, -ngl 99");
  CHECK(rows[0].source == "a, b");
  CHECK(rows[0].line == 2);
  const std::string bad = temp_file("model,quant\n\"unterminated,x\n");
  CHECK_THROWS_AS(read_calibration_csv(bad), InputError);
  const std::string short_row = temp_file(
      "model,total_params_b,active_params_b,quant,file_gb,hardware,backend,batch,ctx_or_prompt,pp_tok_s,tg_tok_s,source\n"
      "Llama-2 7B,6.74\n");
  CHECK_THROWS_WITH_AS(read_calibration_csv(short_row), doctest::Contains(":2:"), InputError);
  CHECK_THROWS_AS(read_calibration_csv("/nonexistent/x.csv"), InputError);
  std::remove(ok.c_str());
  std::remove(bad.c_str());
  std::remove(short_row.c_str());
}

TEST_CASE("accuracy on the bundled calibration set (single-stream rows)") {
  const auto res = run_calibration(read_calibration_csv(kSrc + "/calibration/measured-speeds.csv"));
  const CalSummary s = summarize(res);
  CHECK(s.n_decode >= 40);
  CHECK(s.n_prefill >= 30);
  // the targets on the median; the max is reported in docs/calibration.md
  CHECK(s.median_abs_err_decode <= 0.15);
  CHECK(s.median_abs_err_prefill <= 0.25);
  CHECK(s.decode_over_40 == 0);  // the "no decode row off by more than 40%"
}

TEST_CASE("an engine rule with source_contains picks the build the source dates") {
  CalRow r = row("LLaMA 7B", "Q4_0", "A100 80GB", "llama.cpp CUDA", "1", "llama-bench; lengths not stated in table", "3957", "136.7");
  r.source = "github.com/XiongjieDai/GPU-Benchmarks-on-LLM-Inference README.md (LLaMA-1 table; snapshot Dec 2023; mean of 3 runs)";
  const CalCase old_build = map_calibration_row(r);
  CHECK(old_build.engine_id == "llama.cpp-cuda-2023");
  CHECK(old_build.skip.empty());
  // the cell states no lengths: the rule's workload (the source's ./main run) replaces llama-bench's defaults
  CHECK(old_build.prompt == 494);
  CHECK(old_build.gen == 1024);
  CHECK(old_build.decode_after_prompt);
  r.ctx = "pp512 / tg128";  // a cell that states lengths keeps them
  CHECK(map_calibration_row(r).gen == 128);
  r.ctx = "llama-bench; lengths not stated in table";
  r.source = "github.com/ggml-org/llama.cpp discussion #15013";
  CHECK(map_calibration_row(r).engine_id == "llama.cpp-cuda");
  // the quant cell that names F16 non-expert weights maps to its own recipe
  CHECK(map_calibration_row(row("gpt-oss-20b", "MXFP4 (F16 non-expert)", "A100 80GB", "llama.cpp CUDA", "1", "pp512 / tg128", "", "50"))
            .recipe_id == "mxfp4-f16");
  CHECK(map_calibration_row(row("gpt-oss-20b", "MXFP4", "A100 80GB", "llama.cpp CUDA", "1", "pp512 / tg128", "", "50")).recipe_id ==
        "mxfp4");
}

TEST_CASE("estimate --json adds the speed keys to fit's") {
  const CliResult r = run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw rtx-4090 --prompt 512 --gen 64 --json");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"model", "quant", "hardware", "memory", "max_context_tokens", "prefill_tok_per_s",
                        "decode_tok_per_s", "ttft_s", "decode_bound", "prefill_bound", "ops"})
    CHECK(j.contains(k));
  CHECK(j["decode_bound"] == "memory");
  CHECK(j["ops"].size() > 10);
  CHECK(j["decode_tok_per_s"].get<double>() > 0);
}

TEST_CASE("estimate and calibrate reject bad input with one line and exit code 2") {
  for (const char* args : {"estimate --model gemma4-e4b --prompt -5", "estimate --model gemma4-e4b --engine nope",
                           "estimate --model gemma4-e4b --tp 0", "estimate --model gemma4-e4b --depth 999999999",
                           "calibrate --published /nonexistent.csv", "calibrate"}) {
    CAPTURE(args);
    const CliResult r = run_cli(args);
    CHECK(r.code == 2);
    CHECK(r.err_lines() == 1);
  }
}
