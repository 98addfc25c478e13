// Advisor: ranking rules on small hand-made hardware sets (tests/data/advise/),
// placements, modality rules, the quality proxy, commands and the CLI.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <set>

#include "advise.h"
#include "cli_run.h"
#include "data_paths.h"

using namespace gs;

namespace {

System test_system(const std::string& id) {
  return load_system_file(std::string(GEMMASIM_SOURCE_DIR) + "/tests/data/advise/" + id + ".json");
}

AdviseInput make_input(const std::vector<std::string>& systems, const std::vector<std::string>& quants) {
  AdviseInput in;
  for (const auto& s : systems) in.systems.push_back(test_system(s));
  for (const char* m : {"gemma4-e2b", "gemma4-e4b", "gemma4-26b-a4b", "gemma4-31b"}) in.models.push_back(find_model(m));
  for (const auto& q : quants) in.quants.push_back(find_recipe(q));
  in.penalties = quality_penalties();
  in.book = use_case_book();
  for (const auto& s : in.systems)
    for (const auto& q : in.quants) {
      const std::string id = default_engine(s, q);
      if (!in.engines.count(id)) in.engines.emplace(id, resolve_engine(id));
      if (!in.rules.count(id)) in.rules.emplace(id, load_memory_rules(id));
    }
  in.req.context_tokens = 8192;
  in.req.prompt_tokens = 512;
  in.req.gen_tokens = 128;
  return in;
}

Candidate cand(double quality, double decode, double price, const std::string& sys = "s") {
  Candidate c;
  c.quality = quality;
  c.decode_tok_per_s = decode;
  c.price_usd = price;
  c.system_id = sys;
  return c;
}

}  // namespace

TEST_CASE("ranking: quality first, then decode speed, then the lower price") {
  CHECK(ranks_before(cand(80, 5, 3000), cand(79, 50, 500)));       // quality beats speed and price
  CHECK(ranks_before(cand(80, 30, 3000), cand(80, 20, 500)));      // same quality: faster first
  CHECK(ranks_before(cand(80, 20, 500, "b"), cand(80, 20, 900, "a")));  // same quality and speed: cheaper first
  CHECK_FALSE(ranks_before(cand(80, 20, 900), cand(80, 20, 500)));
  // Proxies closer than the published precision (0.1 points) are a tie, decided by speed.
  CHECK(ranks_before(cand(80.01, 30, 1000), cand(80.03, 20, 1000)));
  CHECK(ranks_before(cand(80.3, 20, 1000), cand(80.1, 30, 1000)));
}

TEST_CASE("a cheaper system that meets every requirement wins a tie") {
  AdviseInput in = make_input({"test-3090-dear", "test-3090-cheap"}, {"q4_k_m", "q8_0"});
  in.req.min_decode_tok_per_s = 5;
  const AdviseResult r = advise(in);
  REQUIRE(r.ranked.size() >= 2);
  CHECK(r.ranked.front().system_id == "test-3090-cheap");
  // Every configuration on the dear box ranks right after its twin on the cheap one.
  for (std::size_t i = 0; i < r.ranked.size(); ++i) {
    const Candidate& c = r.ranked[i];
    if (c.system_id != "test-3090-dear") continue;
    REQUIRE(i > 0);
    CHECK(r.ranked[i - 1].system_id == "test-3090-cheap");
    CHECK(r.ranked[i - 1].model_id == c.model_id);
    CHECK(r.ranked[i - 1].quant_id == c.quant_id);
    CHECK(r.ranked[i - 1].decode_tok_per_s == doctest::Approx(c.decode_tok_per_s));
  }
}

TEST_CASE("an unfit configuration never appears in the ranking") {
  AdviseInput in = make_input({"test-gtx1650", "test-cpu-8gb"}, {"q4_k_m", "q8_0", "bf16"});
  const AdviseResult r = advise(in);
  REQUIRE(!r.ranked.empty());
  for (const auto& c : r.ranked) {
    CHECK(c.fit.fits);
    CHECK(c.context_fits >= c.context_needed);
    // Recompute independently with the chosen placement.
    const System s = test_system(c.system_id);
    FitOptions o;
    o.context_tokens = c.context_needed;
    o.placement = c.placement;
    const FitResult f = fit(find_model(c.model_id), s, find_recipe(c.quant_id), in.rules.at(c.engine), o);
    CHECK(f.fits);
  }
  // 31B in bf16 needs ~60 GB: nowhere here.
  for (const auto& c : r.ranked) CHECK_FALSE((c.model_id == "gemma4-31b" && c.quant_id == "bf16"));
  bool seen = false;
  for (const auto& c : r.rejected)
    if (c.model_id == "gemma4-31b" && c.quant_id == "bf16" && c.system_id == "test-cpu-8gb") {
      seen = true;
      CHECK(c.verdict == Verdict::DoesNotFit);
      CHECK(c.why.find("needs") != std::string::npos);
    }
  CHECK(seen);
}

TEST_CASE("too-slow configurations are dropped") {
  AdviseInput in = make_input({"test-3090-cheap", "test-cpu-8gb"}, {"q4_k_m", "q8_0"});
  const AdviseResult all = advise(in);
  REQUIRE(all.ranked.size() >= 4);
  // A floor between the slowest and the fastest passing configuration splits them.
  double lo = 1e30, hi = 0;
  for (const auto& c : all.ranked) lo = std::min(lo, c.decode_tok_per_s), hi = std::max(hi, c.decode_tok_per_s);
  REQUIRE(hi > lo);
  in.req.min_decode_tok_per_s = std::sqrt(lo * hi);
  const AdviseResult r = advise(in);
  CHECK(r.ranked.size() < all.ranked.size());
  CHECK(!r.ranked.empty());
  for (const auto& c : r.ranked) CHECK(c.decode_tok_per_s >= in.req.min_decode_tok_per_s);
  int slow = 0;
  for (const auto& c : r.rejected)
    if (c.verdict == Verdict::TooSlow) {
      ++slow;
      CHECK(c.decode_tok_per_s < in.req.min_decode_tok_per_s);
    }
  CHECK(slow == static_cast<int>(all.ranked.size() - r.ranked.size()));
  // An unreachable floor leaves nothing, and every variant says why.
  in.req.min_decode_tok_per_s = 1e6;
  const AdviseResult none = advise(in);
  CHECK(none.ranked.empty());
  for (const auto& v : none.variants) CHECK(v.reason.find("ruled out") != std::string::npos);
}

TEST_CASE("audio input rules out the 26B A4B and 31B, and adds audio tokens and encoder weights") {
  AdviseInput in = make_input({"test-3090-cheap"}, {"q4_k_m"});
  in.req.modality = "audio";
  const AdviseResult r = advise(in);
  REQUIRE(!r.ranked.empty());
  for (const auto& c : r.ranked) {
    CHECK((c.model_id == "gemma4-e2b" || c.model_id == "gemma4-e4b"));
    CHECK(c.context_needed == 8192 + 750);
    CHECK(c.encoder_bytes == doctest::Approx(300e6 * 2));
  }
  int no_enc = 0;
  for (const auto& c : r.rejected)
    if (c.model_id == "gemma4-26b-a4b" || c.model_id == "gemma4-31b") {
      CHECK(c.verdict == Verdict::NoEncoder);
      ++no_enc;
    }
  CHECK(no_enc == 2);
  for (const auto& v : r.variants)
    if (v.model_id == "gemma4-31b") CHECK(v.reason.find("audio") != std::string::npos);
}

TEST_CASE("image input adds the vision encoder's tokens to the context") {
  AdviseInput in = make_input({"test-3090-cheap"}, {"q4_k_m"});
  in.req.modality = "image";
  const Candidate c = evaluate(in.systems[0], find_model("gemma4-31b"), find_recipe("q4_k_m"), in);
  CHECK(c.context_needed == 8192 + 280);
  CHECK(c.encoder_bytes == doctest::Approx(550e6 * 2));
  in.req.modality = "text";
  const Candidate t = evaluate(in.systems[0], find_model("gemma4-31b"), find_recipe("q4_k_m"), in);
  REQUIRE(c.verdict == Verdict::Ok);
  REQUIRE(t.verdict == Verdict::Ok);
  CHECK(c.context_fits < t.context_fits);  // the encoder's memory leaves less room for KV
}

TEST_CASE("the MoE model gets the fewest --n-cpu-moe that fits; a dense model the most -ngl") {
  AdviseInput in = make_input({"test-3090-cheap"}, {"q8_0"});
  const System& s = in.systems[0];
  const QuantRecipe& q = find_recipe("q8_0");
  {
    const ModelSpec m = find_model("gemma4-26b-a4b");
    const Candidate c = evaluate(s, m, q, in);
    REQUIRE(c.verdict == Verdict::Ok);
    const int n = c.placement.n_cpu_moe;
    REQUIRE(n > 0);
    CHECK(c.split == "--n-cpu-moe " + std::to_string(n));
    FitOptions o;
    o.context_tokens = 8192;
    o.placement.n_cpu_moe = n;
    CHECK(fit(m, s, q, in.rules.at(c.engine), o).fits);
    o.placement.n_cpu_moe = n - 1;
    CHECK_FALSE(fit(m, s, q, in.rules.at(c.engine), o).fits);
    const auto cmds = run_commands(c, in.req);
    CHECK(cmds.front().find("--n-cpu-moe " + std::to_string(n)) != std::string::npos);
    CHECK(cmds.front().find("gemma-4-26B-A4B-it-Q8_0.gguf") != std::string::npos);
    CHECK(cmds.front().find("-c 8192") != std::string::npos);
  }
  {
    const ModelSpec m = find_model("gemma4-31b");
    const Candidate c = evaluate(s, m, q, in);
    REQUIRE(c.verdict == Verdict::Ok);
    const int ngl = c.placement.gpu_layers;
    REQUIRE(ngl >= 0);
    REQUIRE(ngl < m.n_layer);
    FitOptions o;
    o.context_tokens = 8192;
    o.placement.gpu_layers = ngl;
    CHECK(fit(m, s, q, in.rules.at(c.engine), o).fits);
    o.placement.gpu_layers = ngl + 1;
    CHECK_FALSE(fit(m, s, q, in.rules.at(c.engine), o).fits);
    CHECK(run_commands(c, in.req).front().find("-ngl " + std::to_string(ngl)) != std::string::npos);
  }
}

TEST_CASE("quality proxy: mean of the published scores less the measured penalty") {
  const ModelSpec m = find_model("gemma4-31b");
  const std::vector<std::string> b = {"mmlu_pro_pct", "gpqa_diamond_pct"};
  const double mean = (m.quality.at("mmlu_pro_pct").get<double>() + m.quality.at("gpqa_diamond_pct").get<double>()) / 2;
  REQUIRE(base_quality(m, b).has_value());
  CHECK(*base_quality(m, b) == doctest::Approx(mean));
  CHECK_FALSE(base_quality(m, {"no_such_score"}).has_value());
  const QualityPenalties& p = quality_penalties();
  REQUIRE(p.find("q4_k_m"));
  REQUIRE(p.find("q8_0"));
  REQUIRE(p.find("bf16"));
  CHECK(p.find("bf16")->penalty == 0);
  // Llama 3 8B scoreboard: PPL 6.233160 (f16), dPPL 0.175482 for Q4_K_M.
  CHECK(p.find("q4_k_m")->penalty == doctest::Approx(0.175482 / 6.233160));
  CHECK(p.find("q8_0")->penalty < p.find("q6_k")->penalty);
  CHECK(p.find("q6_k")->penalty < p.find("q5_k_m")->penalty);
  CHECK(p.find("q5_k_m")->penalty < p.find("q4_k_m")->penalty);
  CHECK(quality_proxy(80, 0.25) == doctest::Approx(60));
}

TEST_CASE("quality penalties and use cases reject bad data") {
  json j = {{"method", "m"}, {"source", "s"}, {"reference_ppl", 6.0}, {"quants", {{"q4_k_m", {{"name", "Q4_K_M"}}}}}};
  CHECK_THROWS_AS(parse_quality_penalties(j, "x.json"), InputError);
  j["quants"]["q4_k_m"]["delta_ppl"] = 12.0;  // penalty 2: nothing left
  CHECK_THROWS_AS(parse_quality_penalties(j, "x.json"), InputError);
  const UseCaseBook& b = use_case_book();
  for (const char* id : {"chat", "coding", "agentic", "documents", "mobile"}) {
    const UseCase& u = b.find(id);
    CHECK(u.prompt_tokens + u.gen_tokens <= u.context_tokens);
    CHECK(!u.reasoning.empty());
  }
  CHECK_THROWS_AS(b.find("gaming"), InputError);
}

TEST_CASE("gguf file names follow the published naming") {
  CHECK(gguf_file_name("gemma4-26b-a4b", "Q4_K_M") == "gemma-4-26B-A4B-it-Q4_K_M.gguf");
  CHECK(gguf_file_name("gemma4-e2b", "Q8_0") == "gemma-4-E2B-it-Q8_0.gguf");
}

TEST_CASE("gemmasim advise: table, JSON, CSV and bad input") {
  const CliResult t = run_cli("advise --budget 2000");
  CHECK(t.code == 0);
  CHECK(t.out.find("Recommendation:") != std::string::npos);
  CHECK((t.out.find("llama-server") != std::string::npos || t.out.find("vllm serve") != std::string::npos));
  // cloud systems are ranked next to the builds, and the answer weighs buying against renting
  CHECK(t.out.find("rented by the hour") != std::string::npos);
  CHECK(t.out.find("Buy or rent:") != std::string::npos);
  const CliResult j = run_cli("advise --hw rtx-3060-12gb --use-case coding --json");
  REQUIRE(j.code == 0);
  const json doc = json::parse(j.out);
  CHECK(doc.at("requirements").at("use_case") == "coding");
  REQUIRE(!doc.at("recommendations").empty());
  for (const auto& r : doc.at("recommendations")) CHECK(r.at("decode_tok_per_s").get<double>() >= 15.0);
  CHECK(doc.at("variants").size() == 4);
  const CliResult c = run_cli("advise --hw rtx-3060-12gb --csv --top 3");
  CHECK(c.code == 0);
  CHECK(std::count(c.out.begin(), c.out.end(), '\n') == 4);
  // numbers, not display strings: the price a number of USD, the context a count of tokens
  CHECK(c.out.rfind("rank,system,price_usd,", 0) == 0);
  CHECK(c.out.find('$') == std::string::npos);
  {
    std::istringstream rows(c.out);
    std::string header, first;
    std::getline(rows, header);
    std::getline(rows, first);
    std::vector<std::string> cells;
    std::stringstream ss(first);
    for (std::string x; std::getline(ss, x, ',');) cells.push_back(x);
    REQUIRE(cells.size() >= 10);
    CHECK(std::stod(cells[2]) > 100);                    // price_usd
    CHECK(cells[7].find_first_not_of("0123456789") == std::string::npos);  // context_fits_tokens
    CHECK(std::stoll(cells[7]) >= 8192);
  }
  for (const char* bad : {"--use-case gaming", "--budget -5", "--modality smell", "--users 0", "--quants q4_k_m,mxfp4", "--hw nope", "--rank cheapest"}) {
    const CliResult b = run_cli(std::string("advise ") + bad);
    CHECK_MESSAGE(b.code == 2, bad);
    CHECK_MESSAGE(b.err_lines() == 1, bad);
  }
}

TEST_CASE("serving: each candidate is simulated under the load and must meet the SLO") {
  AdviseInput in = make_input({"test-3090-cheap"}, {"q4_k_m"});
  in.models = {find_model("gemma4-e4b")};
  in.req.context_tokens = 8192;
  in.req.prompt_tokens = 1024;
  in.req.gen_tokens = 256;
  in.req.serving = true;
  in.req.think_time_s = 30;
  in.req.serve_requests = 300;
  in.req.slo = "ttft_p99=2,tpot_p99=0.1";
  in.req.users = 4;
  const AdviseResult few = advise(in, {});
  REQUIRE(few.ranked.size() == 1);
  const Candidate& c = few.ranked.front();
  CHECK(c.served);
  CHECK(c.ttft_p99_s > 0);
  CHECK(c.ttft_p99_s <= 2);
  CHECK(c.tpot_p99_s <= 0.1);
  CHECK(c.serve_slots == 4);
  // the command line is the server as simulated
  const auto cmds = run_commands(c, in.req);
  CHECK(cmds.front().find("-np 4 --kv-unified") != std::string::npos);
  // far more users than the box holds: the same candidate misses the SLO, with the reason
  in.req.users = 2000;
  in.req.think_time_s = 1;
  in.req.serve_requests = 2000;
  const AdviseResult many = advise(in, {});
  CHECK(many.ranked.empty());
  REQUIRE(!many.rejected.empty());
  CHECK(many.rejected.front().verdict == Verdict::TooSlow);
  CHECK(many.rejected.front().why.find("as a server for 2000 users") != std::string::npos);
}

TEST_CASE("gemmasim advise --use-case team: a server answer with TTFT and TPOT percentiles") {
  const CliResult r = run_cli("advise --use-case team --budget 5000 --models gemma4-e4b --quants q4_k_m --json");
  REQUIRE(r.code == 0);
  const auto j = json::parse(r.out);
  CHECK(j["requirements"]["serving"] == true);
  CHECK(j["requirements"]["users"] == 40);
  CHECK(j["requirements"]["slo"] == "ttft_p99=1,tpot_p99=0.1");
  for (const auto& c : j["recommendations"]) {
    CHECK(c["serving"]["ttft_p99_s"].get<double>() <= 1.0);
    CHECK(c["serving"]["tpot_p99_s"].get<double>() <= 0.1);
  }
  CHECK(run_cli("advise --use-case team --slo ttft_p42=1").code == 2);
  CHECK(run_cli("advise --rate 2 --users 4").code == 2);
}

TEST_CASE("FP8, AWQ and GPTQ are ranked from another study's perplexity pair; the advisor proposes them only on vLLM GPUs") {
  const QualityPenalties& p = quality_penalties();
  const QuantPenalty* fp8 = p.find("fp8");
  const QuantPenalty* awq = p.find("awq-int4");
  REQUIRE(fp8);
  REQUIRE(awq);
  CHECK(fp8->penalty == doctest::Approx((7.4197 - 7.3315) / 7.3315));  // torchao, Llama 3.1 8B
  CHECK(awq->penalty == doctest::Approx((6.6 - 6.1) / 6.1));          // Huang et al. 2024, Llama 3 8B
  AdviseInput in = make_input({"test-3090-cheap", "test-cpu-8gb"}, {"fp8", "q4_k_m"});
  in.engines.emplace("vllm", resolve_engine("vllm"));
  in.rules.emplace("vllm", load_memory_rules("vllm"));
  const AdviseResult r = advise(in);
  bool fp8_on_gpu = false;
  for (const auto& c : r.ranked) {
    if (c.quant_id != "fp8") continue;
    CHECK(c.engine == "vllm");
    fp8_on_gpu = true;
  }
  CHECK(fp8_on_gpu);
  for (const auto& c : r.rejected)
    if (c.quant_id == "fp8" && c.system_id == "test-cpu-8gb") CHECK(c.verdict == Verdict::EngineCannotRun);
}

TEST_CASE("gemmasim advise --use-case mobile recommends phones and boards, never desktops") {
  const CliResult r = run_cli("advise --use-case mobile --json --top 50");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  REQUIRE(!j["recommendations"].empty());
  bool phone = false;
  for (const auto& c : j["recommendations"]) {
    const std::string f = c["form_factor"];
    CHECK_MESSAGE((f == "phone" || f == "board"), c["system"]);
    phone = phone || f == "phone";
  }
  CHECK(phone);
  // --rank speed puts the fastest first
  const json s = json::parse(run_cli("advise --use-case mobile --rank speed --json --top 5").out);
  REQUIRE(s["recommendations"].size() >= 2);
  CHECK(s["recommendations"][0]["decode_tok_per_s"].get<double>() >= s["recommendations"][1]["decode_tok_per_s"].get<double>());
}

TEST_CASE("buy vs rent: months until owning beats the cheapest rented system, by hand") {
  const CliResult r = run_cli("advise --budget 1300 --hours-per-day 4 --electricity-usd-per-kwh 0.25 --json --top 200");
  REQUIRE(r.code == 0);
  const json j = json::parse(r.out);
  double cloud_month = 0;
  for (const auto& c : j["recommendations"])
    if (c["rental_usd_per_hour"].get<double>() > 0 && (cloud_month == 0 || c["monthly_usd"].get<double>() < cloud_month))
      cloud_month = c["monthly_usd"].get<double>();
  REQUIRE(cloud_month > 0);
  const double days = 365.25 / 12;
  int checked = 0;
  for (const auto& c : j["recommendations"]) {
    if (c["rental_usd_per_hour"].get<double>() > 0) {
      CHECK(c["monthly_usd"].get<double>() == doctest::Approx(c["rental_usd_per_hour"].get<double>() * 4 * days));
      continue;
    }
    const double own = c["decode_w"].get<double>() / 1000 * 4 * days * 0.25;
    CHECK(c["monthly_usd"].get<double>() == doctest::Approx(own));
    if (cloud_month > own) {
      CHECK(c["breakeven_months"].get<double>() == doctest::Approx(c["price_usd"].get<double>() / (cloud_month - own)));
      ++checked;
    }
  }
  CHECK(checked > 0);
  for (const char* bad : {"--hours-per-day 0", "--hours-per-day 25", "--tokens-per-day -5", "--electricity-usd-per-kwh 0"}) {
    const CliResult b = run_cli(std::string("advise ") + bad);
    CHECK_MESSAGE(b.code == 2, bad);
    CHECK_MESSAGE(b.err_lines() == 1, bad);
  }
}
