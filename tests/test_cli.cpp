// End to end: the gemmasim binary, its outputs and its answers to bad input.
#include <doctest/doctest.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <regex>

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
  CHECK(r.out.find(" GiB") != std::string::npos);  // memory as GPUs are sold
  // --csv: bytes and tokens as integers, fits as a boolean
  const CliResult c = run_cli("matrix --csv");
  REQUIRE(c.code == 0);
  CHECK(c.out.rfind("hardware,model,quant,engine,gpu_used_bytes,", 0) == 0);
  CHECK(c.out.find("GB") == std::string::npos);
  CHECK(c.out.find(",true,") != std::string::npos);
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

TEST_CASE("serve-sim: latency percentiles as JSON, a request file, and a capacity search") {
  const std::string reqs = "/tmp/gemmasim_cli_serve_" + std::to_string(::getpid()) + ".csv";
  const CliResult r = run_cli("serve-sim --model gemma4-e2b --quant q4_k_m --hw rtx-4090 --rate 2 --requests 50 "
                              "--slo ttft_p99=1,tpot_p99=0.1 --json --timeline --requests-out " + reqs);
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  for (const char* k : {"ttft_s", "tpot_s", "itl_s", "e2e_s", "queue_s"})
    for (const char* q : {"mean", "p50", "p90", "p99"}) CHECK(j["result"][k].contains(q));
  CHECK(j["result"]["completed"] == 50);
  CHECK(j["result"]["slo"].contains("goodput_req_per_s"));
  CHECK(j["result"]["timeline"].size() > 0);
  CHECK(j["config"]["scheduler"] == "llama-server");
  const std::string rows = slurp(reqs);
  CHECK(std::count(rows.begin(), rows.end(), '\n') == 51);
  std::remove(reqs.c_str());
  // the same workload from a written trace
  const std::string tr = "/tmp/gemmasim_cli_trace_" + std::to_string(::getpid()) + ".csv";
  REQUIRE(run_cli("trace-gen --requests 40 --rate 3 --gen-dist uniform:10:50 -o " + tr).code == 0);
  const CliResult t = run_cli("serve-sim --model gemma4-e2b --quant q4_k_m --hw rtx-4090 --engine ollama --trace " + tr + " --csv");
  CHECK(t.code == 0);
  CHECK(t.out.find("ttft_p99_s") != std::string::npos);
  std::remove(tr.c_str());
  const CliResult f = run_cli("serve-sim --model gemma4-e4b --quant bf16 --hw h100-sxm --engine vllm --requests 200 "
                              "--find-max-rate --slo ttft_p99=0.5,tpot_p99=0.03");
  CHECK(f.code == 0);
  CHECK(f.out.find("largest rate within the SLO") != std::string::npos);
}

TEST_CASE("serve-sim: bad input names the flag, exit code 2") {
  const std::string base = "serve-sim --model gemma4-e2b --quant q4_k_m --hw rtx-4090 ";
  check_bad(base + "--rate 0", "--rate");
  check_bad(base + "--rate -3", "--rate: expected 1e-06 .. 1000000, got -3");  // numbers as written, not "-3.000000"
  check_bad(base + "--users 0", "--users");
  check_bad(base + "--rate 1 --users 3", "not both");
  check_bad(base + "--requests 0", "--requests");
  check_bad(base + "--seed -1", "--seed");
  check_bad(base + "--arrival weibull", "--arrival");
  check_bad(base + "--prompt-dist uniform:9:3", "--prompt-dist");
  check_bad(base + "--slo ttft_p99=-1", "--slo");
  check_bad(base + "--slo latency_p99=1", "--slo");
  check_bad(base + "--max-num-seqs 8", "vLLM knobs");
  check_bad("serve-sim --model gemma4-e2b --quant bf16 --hw h100-sxm --engine vllm --gpu-memory-utilization 1.5", "--gpu-memory-utilization");
  check_bad(base + "--parallel 0", "--parallel");
  check_bad(base + "--router random", "--router");
  check_bad(base + "--speculative 4", "--acceptance");
  check_bad(base + "--speculative 4 --acceptance 1.5", "--acceptance");
  check_bad(base + "--speculative 2 --acceptance 0.5 --draft-model gemma4-31b", "not smaller");
  check_bad(base + "--trace /nonexistent/trace.csv", "cannot open request trace");
  check_bad(base + "--trace " + kData + "/tests/data/bad/trace-bad-row.csv", "trace-bad-row.csv:3:");
  check_bad("serve-sim --model gemma4-31b --quant bf16 --hw rtx-3060-12gb --engine vllm", "does not fit");
  check_bad("trace-gen --requests 0 -o -", "--requests");
}

TEST_CASE("outputs never replace special files; inputs refuse devices, FIFOs and numbers beyond a double") {
  namespace fs = std::filesystem;
  // /dev/null is written in place and stays a device
  CHECK(run_cli("trace-gen --requests 3 -o /dev/null").code == 0);
  CHECK(fs::is_character_file("/dev/null"));
  // /dev/full: the write fails, one line, exit 2, the device is still there
  check_bad("trace-gen --requests 3 -o /dev/full", "No space left on device");
  CHECK(fs::is_character_file("/dev/full"));
  const std::string base = "/tmp/gemmasim_special_" + std::to_string(::getpid());
  // a FIFO without a reader is refused (no hang) and stays a FIFO
  const std::string fifo = base + ".fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  check_bad("trace-gen --requests 3 -o " + fifo, "a FIFO with no reader");
  CHECK(fs::is_fifo(fifo));
  // reading a FIFO or a device as JSON is refused, not blocked on or read forever
  check_bad("fit --model " + fifo, "not a regular file");
  check_bad("fit --model gemma4-e2b --hw /dev/zero", "not a regular file");
  fs::remove(fifo);
  // a symlink is followed: its target gets the text, the link stays a link
  const std::string target = base + ".target", link = base + ".link";
  { std::ofstream(target) << "old\n"; }
  fs::create_symlink(target, link);
  CHECK(run_cli("trace-gen --requests 2 -o " + link).code == 0);
  CHECK(fs::is_symlink(link));
  CHECK(slurp(target).rfind("arrived_at", 0) == 0);
  fs::remove(link);
  fs::remove(target);
  // 1e400 is a one-line input error, not an internal error
  const std::string big = base + ".json";
  { std::ofstream(big) << "{\"id\": \"x\", \"n_embd\": 1e400}"; }
  check_bad("fit --model " + big, "beyond the range of a double");
  fs::remove(big);
  check_bad("run --model gemma4-e2b-tiny --threads 100000", "--threads");
  // ids longer than a file name may be (the lookup's filesystem error was an internal error)
  const std::string long_id(5000, 'a');
  check_bad("fit --model " + long_id, "unknown model");
  check_bad("fit --model gemma4-e2b --hw " + long_id, "unknown hardware");
  check_bad("fit --model gemma4-e2b --engine " + long_id, "unknown engine");
  check_bad("fit --model gemma4-e2b --hw bw=1GB/s,vram=" + long_id, "--hw vram");
  // seeds are unsigned: -1 is refused, not read as 2^64 - 1
  check_bad("synth --model gemma4-e2b-tiny --seed -1 -o /tmp/never.gguf", "--seed");
  check_bad("trace-gen --requests 3 --seed=-5 -o -", "--seed");
}

TEST_CASE("flags people type: llama.cpp and vLLM spellings, --version, one output format") {
  // -ngl / --n-gpu-layers mean --gpu-layers; --ctx-size means --ctx
  const CliResult a = run_cli("fit --model gemma4-31b --hw rtx-3060-12gb -ngl 10 --ctx-size 4096 --json");
  const CliResult b = run_cli("fit --model gemma4-31b --hw rtx-3060-12gb --gpu-layers 10 --ctx 4096 --json");
  REQUIRE(a.code == 0);
  CHECK(a.out == b.out);
  CHECK(run_cli("fit --model gemma4-31b --hw rtx-3060-12gb --n-gpu-layers=10 --ctx 4096 --json").out == b.out);
  // vLLM's --tensor-parallel-size means --tp
  CHECK(run_cli("estimate --model gemma4-31b --quant fp8 --hw cal-2x-rtx4090 --engine vllm --tensor-parallel-size 2 --json").out ==
        run_cli("estimate --model gemma4-31b --quant fp8 --hw cal-2x-rtx4090 --engine vllm --tp 2 --json").out);
  const CliResult v = run_cli("--version");
  CHECK(v.code == 0);
  CHECK(v.out.rfind("gemmasim ", 0) == 0);
  check_bad("estimate --json --csv", "--json and --csv");
  // estimate --csv is numbers, one row per phase
  const CliResult c = run_cli("estimate --model gemma4-e2b --csv");
  REQUIRE(c.code == 0);
  CHECK(c.out.rfind("phase,tok_per_s,time_s", 0) == 0);
  CHECK(std::count(c.out.begin(), c.out.end(), '\n') == 3);
  CHECK(c.out.find("ms") == std::string::npos);
  // place's policy has no short flag (-p is the prompt elsewhere)
  check_bad("place --model gemma4-26b-a4b -p lru", "unrecognised");
}

// A CSV cell a program can read: a number, a boolean, an id or name, or empty, never a display
// string such as "24 GiB", "128K", "11.77B" or "$1218".
static bool display_string(const std::string& cell) {
  // a number dressed for reading: "$1218", "24 GiB", "128K", "11.77B", "12.5%", "40 ms"
  static const std::regex dressed(R"(^\$[0-9.,]+|^-?[0-9.,]+ ?(GiB|GB|MB|KB|K|M|B|%|ms|s|tok/s)$)");
  return std::regex_search(cell, dressed);
}

TEST_CASE("--csv gives numbers where a command offers it and is refused by name elsewhere") {
  for (const char* cmd : {"models --csv", "hw --csv", "quants --csv", "matrix --csv", "estimate --model gemma4-e2b --csv",
                          "fit --model gemma4-e4b --csv", "place --model gemma4-26b-a4b --csv",
                          "advise --budget 1500 --csv", "serve-sim --model gemma4-e2b --requests 50 --csv"}) {
    CAPTURE(cmd);
    const CliResult r = run_cli(cmd);
    REQUIRE(r.code == 0);
    std::istringstream in(r.out);
    std::string line;
    std::size_t lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      std::string cell;
      bool quoted = false;
      for (std::size_t i = 0; i <= line.size(); ++i) {
        if (i == line.size() || (line[i] == ',' && !quoted)) {
          CAPTURE(cell);
          CHECK_FALSE(display_string(cell));
          cell.clear();
        } else if (line[i] == '"') {
          quoted = !quoted;
        } else {
          cell += line[i];
        }
      }
    }
    CHECK(lines >= 2);  // a header and at least one row
  }
  // the catalog's numbers are exact: the RTX 4090's 24 GiB as bytes
  CHECK(run_cli("hw --csv").out.find("\nrtx-4090,gpu,25769803776,") != std::string::npos);
  CHECK(run_cli("models --csv").out.find(",131072,") != std::string::npos);
  for (const char* cmd : {"calibrate --csv", "report --csv", "validate --csv", "probe --csv", "run --csv", "synth --csv",
                          "bench --csv", "trace-gen --csv", "import-config --csv"})
    check_bad(cmd, "--csv: this command has no CSV output");
}

TEST_CASE("memory is shown in GiB, as GPUs and RAM are sold; JSON keeps bytes") {
  const CliResult h = run_cli("hw");
  REQUIRE(h.code == 0);
  const auto at = h.out.find("\nrtx-4090 ");
  REQUIRE(at != std::string::npos);
  CHECK(h.out.substr(at, 80).find("24 GiB") != std::string::npos);  // not "26 GB"
  // capacity after the 0.5 GiB the display keeps on a desktop's GPU (hwdb/reserve.json)
  const CliResult f = run_cli("fit --model gemma4-e4b --hw rtx-4090");
  CHECK(f.out.find("23.50 GiB") != std::string::npos);
  CHECK(f.out.find("0.50 GiB") != std::string::npos);
  const json j = json::parse(run_cli("fit --model gemma4-e4b --hw rtx-4090 --json").out);
  CHECK(j["devices"][0]["capacity_bytes"].get<double>() == doctest::Approx(23.5 * 1024 * 1024 * 1024));
  CHECK(j["devices"][0]["reserve_bytes"].get<double>() == doctest::Approx(0.5 * 1024 * 1024 * 1024));
  // a headless box: --display-reserve 0 gives the card back, --reserve sets the host's share
  const json h0 = json::parse(run_cli("fit --model gemma4-e4b --hw rtx-4090 --display-reserve 0 --reserve 1GiB --json").out);
  CHECK(h0["devices"][0]["capacity_bytes"].get<double>() == doctest::Approx(24.0 * 1024 * 1024 * 1024));
  CHECK(h0["devices"].back()["capacity_bytes"].get<double>() == doctest::Approx(31.0 * 1024 * 1024 * 1024));
}

TEST_CASE("numbers out of range and contradictions: one line naming the flag, exit 2") {
  check_bad("fit --batch 2000000000", "--batch");
  check_bad("advise --min-decode-tok-per-s -5", "--min-decode-tok-per-s");
  check_bad("matrix --ctx 99999999", "--ctx");
  check_bad("place --vram-budget 1e30GB", "--vram-budget");
  check_bad("estimate --ctx 1024 --depth 4000", "shorter than --depth + --prompt + --gen");
  const std::string base = "/tmp/gemmasim_gpu_" + std::to_string(::getpid());
  {
    std::ofstream(base + "a.json") << R"({"schema_version": 1, "id": "x", "kind": "gpu", "memory_bytes": 8e9,
      "memory_bandwidth_bytes_per_s": 3e11, "backend": "opencl", "peak_flops_per_s": {"fp16": 1e14}})";
    std::ofstream(base + "b.json") << R"({"schema_version": 1, "id": "x", "kind": "gpu", "memory_bytes": 8e9,
      "memory_bandwidth_bytes_per_s": 3e11, "backend": "cuda"})";
  }
  check_bad("fit --hw " + base + "a.json", "/backend: expected cpu, cuda");
  check_bad("fit --hw " + base + "b.json", "peak_flops_per_s");
  std::remove((base + "a.json").c_str());
  std::remove((base + "b.json").c_str());
}

TEST_CASE("multi-file outputs appear complete or not at all; Ctrl-C leaves no temporary file") {
  namespace fs = std::filesystem;
  const std::string base = "/tmp/gemmasim_outdir_" + std::to_string(::getpid());
  fs::remove_all(base);
  fs::create_directories(base + "/bin");
  const std::string out = base + "/out";
  fs::create_directories(out);
  { std::ofstream(out + "/keep.txt") << "mine\n"; }
  auto only_keep = [&] {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
    return names == std::vector<std::string>{"keep.txt"} && slurp(out + "/keep.txt") == "mine\n";
  };
  // a gnuplot that lists its terminals but fails every render: exit 2 naming the chart, OUT as it was
  {
    std::ofstream g(base + "/bin/gnuplot");
    g << "#!/bin/sh\ncase \"$*\" in *'set terminal'*) echo 'pngcairo  png terminal'; echo 'svg  W3C Scalable Vector Graphics'; exit 0;; esac\n"
         "echo 'line 3: unknown terminal' >&2; exit 1\n";
  }
  fs::permissions(base + "/bin/gnuplot", fs::perms::owner_all);
  const CliResult g = run_cli_env("PATH=" + base + "/bin:$PATH", "advise --hw rtx-4090 --out " + out);
  CHECK(g.code == 2);
  CHECK(g.err.find("gnuplot could not render") != std::string::npos);
  CHECK(g.err_lines() == 1);
  CHECK(only_keep());
  // a full disk (the file size limit) while writing: exit 2, OUT as it was
  const CliResult full = run_cli_env("", "advise --hw rtx-4090 --out " + out, "trap \"\" XFSZ; ulimit -f 4; ");
  CHECK(full.code == 2);
  CHECK(only_keep());
  // and when it works, the files appear next to the user's, no staging directory left
  const CliResult ok = run_cli_env("PATH=/nonexistent", "advise --hw rtx-4090 --out " + out);
  CHECK(ok.code == 0);
  CHECK(fs::exists(out + "/advise.json"));
  CHECK(fs::exists(out + "/advise.html"));
  CHECK(fs::exists(out + "/keep.txt"));
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().filename().string().find("staging") == std::string::npos);
  // report --validate with a bad file: refused before anything is written
  const std::string bad = base + "/bad.json";
  { std::ofstream(bad) << "{\"rows\": 3"; }
  fs::remove_all(base + "/rep");
  const CliResult rep = run_cli("report --no-render --validate " + bad + " --out " + base + "/rep");
  CHECK(rep.code == 2);
  CHECK_FALSE(fs::exists(base + "/rep/index.html"));
  // Ctrl-C during synth: no partial GGUF and no temporary file left
  const std::string gguf = base + "/m.gguf";
  const CliResult intr = run_cli_env("", "synth --model gemma4-e2b --quant q4_0 -o " + gguf, "timeout -s INT 1 ");
  CHECK(intr.code != 0);
  CHECK_FALSE(fs::exists(gguf));
  CHECK_FALSE(fs::exists(gguf + ".tmp"));
  fs::remove_all(base);
}

TEST_CASE("own hardware in one line: --hw key=value specs; a device file without sources is taken with a warning") {
  auto decode = [](const std::string& hw) {
    const CliResult r = run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw " + hw + " --prompt 512 --gen 64 --json");
    CAPTURE(hw);
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out);
  };
  const auto a = decode("vram=12GiB,bw=360GB/s,fp16=29TFLOPS");
  const auto b = decode("vram=12GiB,bw=720GB/s,fp16=29TFLOPS");
  // twice the bandwidth: every GPU op's memory time halves, decode gets faster (not 2x: the
  // per-layer launch overheads stay)
  auto memory_s = [](const nlohmann::json& j) {
    double t = 0;
    for (const auto& o : j["ops"])
      if (o["device"] == "gpu0") t += o["memory_s"].get<double>();  // (the PLE table stays on the host)
    return t;
  };
  CHECK(memory_s(b) == doctest::Approx(memory_s(a) / 2));
  CHECK(b["decode_tok_per_s"].get<double>() > 1.3 * a["decode_tok_per_s"].get<double>());
  CHECK(b["decode_tok_per_s"].get<double>() < 2.0 * a["decode_tok_per_s"].get<double>());
  // the same numbers as a file: the same answer
  const std::string base = "/tmp/gemmasim_inline_" + std::to_string(::getpid());
  {
    std::ofstream(base + ".json") << R"({"id": "mygpu", "kind": "gpu", "backend": "cuda", "memory_bytes": 12884901888,
      "memory_bandwidth_bytes_per_s": 360e9, "peak_flops_per_s": {"fp16": 29e12}})";
  }
  const CliResult f = run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw " + base + ".json --prompt 512 --gen 64 --json");
  REQUIRE(f.code == 0);
  CHECK(f.err.find("unsourced") != std::string::npos);
  CHECK(nlohmann::json::parse(f.out)["decode_tok_per_s"].get<double>() == doctest::Approx(a["decode_tok_per_s"].get<double>()));
  std::filesystem::remove(base + ".json");
  // no FLOP/s: derived from the bandwidth with a warning; the decode speed barely moves
  const CliResult g = run_cli("estimate --model gemma4-e4b --quant q4_k_m --hw vram=12GiB,bw=360GB/s --prompt 512 --gen 64 --json");
  REQUIRE(g.code == 0);
  CHECK(g.err.find("FLOP per byte") != std::string::npos);
  CHECK(nlohmann::json::parse(g.out)["decode_tok_per_s"].get<double>() ==
        doctest::Approx(a["decode_tok_per_s"].get<double>()).epsilon(0.1));
  // a CPU: its memory and bandwidth
  CHECK(run_cli("fit --model gemma4-e2b --quant q4_0 --hw kind=cpu,mem=16GiB,bw=60GB/s,fp32=1TFLOPS,cores=8").code == 0);
  check_bad("fit --model gemma4-e2b --hw vram=12GiB", "bw=RATE");
  check_bad("fit --model gemma4-e2b --hw vram=12XB,bw=360GB/s", "unknown unit");
  check_bad("fit --model gemma4-e2b --hw vram=12GiB,bw=360GB/s,color=red", "unknown key 'color'");
  check_bad("fit --model gemma4-e2b --hw vram=-1GiB,bw=360GB/s", "non-negative");
  check_bad("fit --model gemma4-e2b --hw vram=12GiB,vram=8GiB,bw=1GB/s", "given twice");
}

TEST_CASE("cmake --install: the binary finds its installed data; man page and bash completion installed") {
  namespace fs = std::filesystem;
  const std::string build = fs::path(GEMMASIM_BINARY).parent_path().string();
  const std::string prefix = "/tmp/gemmasim_install_" + std::to_string(::getpid());
  fs::remove_all(prefix);
  if (std::system(("cmake --version >/dev/null 2>&1")) != 0) {
    MESSAGE("skipped: cmake is not on PATH");
    return;
  }
  REQUIRE(std::system(("cmake --install " + build + " --prefix " + prefix + " >/dev/null 2>&1").c_str()) == 0);
  CHECK(fs::exists(prefix + "/bin/gemmasim"));
  CHECK(fs::exists(prefix + "/share/gemmasim/hwdb/devices/rtx-4090.json"));
  CHECK(fs::exists(prefix + "/share/gemmasim/data/serving-defaults.json"));
  CHECK(fs::exists(prefix + "/share/man/man1/gemmasim.1"));
  CHECK(fs::exists(prefix + "/share/bash-completion/completions/gemmasim"));
  // without GEMMASIM_DATA, from another directory: the installed data
  const std::string run = "cd / && env -u GEMMASIM_DATA " + prefix + "/bin/gemmasim ";
  const std::string out = prefix + "/out.txt";
  REQUIRE(std::system((run + "--data-dir > " + out).c_str()) == 0);
  CHECK(slurp(out) == prefix + "/share/gemmasim\n");
  CHECK(std::system((run + "fit --model gemma4-e2b --quant q4_0 --hw rtx-4090 > " + out).c_str()) == 0);
  CHECK(slurp(out).find("fits") != std::string::npos);
  fs::remove_all(prefix);
}

TEST_CASE("llama.cpp -ot: expert layers a PATTERN=CPU matches, as --n-cpu-moe / --cpu-moe") {
  auto est = [](const std::string& flags) {
    const CliResult r = run_cli("estimate --model gemma4-26b-a4b --quant q4_k_m --hw rtx-3060-12gb --gpu-layers 99 " + flags + " --json");
    CAPTURE(flags);
    CAPTURE(r.err);
    REQUIRE(r.code == 0);
    return nlohmann::json::parse(r.out);
  };
  const auto all_ot = est("-ot exps=CPU"), all = est("--cpu-moe");
  CHECK(all_ot["decode_tok_per_s"] == all["decode_tok_per_s"]);
  CHECK(all_ot["memory"] == all["memory"]);
  // four layers named: the same as the experts of the first four (every MoE layer's experts have one shape)
  const auto four_ot = est("-ot 'blk\\.(3|9|17|25)\\.ffn_(gate_up|down)_exps=CPU'"), four = est("--n-cpu-moe 4");
  CHECK(four_ot["decode_tok_per_s"] == four["decode_tok_per_s"]);
  CHECK(four_ot["decode_tok_per_s"].get<double>() > all["decode_tok_per_s"].get<double>());
  // a GPU buffer changes nothing; a list with one CPU entry counts it
  CHECK(est("--override-tensor exps=CUDA0")["decode_tok_per_s"] == est("")["decode_tok_per_s"]);
  CHECK(est("-ot 'blk\\.0\\.=CUDA0,blk\\.1\\.ffn_down_exps=CPU'")["decode_tok_per_s"] == est("--n-cpu-moe 1")["decode_tok_per_s"]);
  check_bad("estimate --model gemma4-26b-a4b -ot attn_q=CPU", "attn_q");
  check_bad("estimate --model gemma4-26b-a4b -ot '([=CPU'", "not a regular expression");
  check_bad("estimate --model gemma4-26b-a4b -ot exps", "PATTERN=BUFFER");
  check_bad("estimate --model gemma4-e4b -ot exps=CPU", "no expert tensor");
  check_bad("estimate --model gemma4-26b-a4b -ot exps=CPU --n-cpu-moe 2", "not both");
}
