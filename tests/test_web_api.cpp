// The web page's module entry point (web/api.cpp), compiled natively: requests, errors, and
// that `advise` answers what the library answers for the same flags.
#include <doctest/doctest.h>

#include <algorithm>

#include "advise_request.h"
#include "hardware.h"
#include "json_util.h"

extern "C" const char* gemmasim_call(const char* request);

using namespace gs;

static json ask(const std::string& request) { return json::parse(gemmasim_call(request.c_str())); }

TEST_CASE("a bad request gets one line naming the problem") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "request: expected a JSON object"},
      {"[1, 2]", "request: expected a JSON object"},
      {R"({"command": "fit"})", "request: unknown command 'fit'"},
      {R"({"command": 5})", "request: \"command\" must be text"},
      {"{\"command\": \"advise\", \"args\": {\"hw\": \"gpu\\u00ff\"}}", "--hw: unknown hardware"},
      {std::string("{\"command\": \"advise\", \"args\": {\"hw\": \"x\xff\"}}"), "request: expected a JSON object"},
      {R"({"command": "advise", "args": {"budjet": 2000}})", "args: unknown input 'budjet'"},
      {R"({"command": "advise", "args": {"budget": "abc"}})", "--budget: expected a number, got \"abc\""},
      {R"({"command": "advise", "args": {"budget": "2000x"}})", "--budget: expected a number"},
      {R"({"command": "advise", "args": {"ctx": "1.5"}})", "--ctx: expected a whole number"},
      {R"({"command": "advise", "args": {"users": 0}})", "--users: expected 1 .. 4096"},
      {R"({"command": "advise", "args": {"hw": ["a"]}})", "--hw: expected text"},
      {R"({"command": "advise", "args": 5})", "args: expected an object"},
      {R"({"command": "advise", "args": {"rank": "cheapest"}})", "--rank: expected quality, speed or balanced"},
  };
  for (const auto& [request, message] : cases) {
    CAPTURE(request);
    const json a = ask(request);
    CHECK(a["ok"] == false);
    const std::string e = a["error"];
    CHECK(e.rfind(message, 0) == 0);
    CHECK(e.find('\n') == std::string::npos);
  }
}

TEST_CASE("advise answers what the library answers for the same flags") {
  AdviseFlags f;
  f.budget_usd = 1500;
  f.use_case = "coding";
  f.min_decode = 20;
  const json want = advise_to_json(advise(load_advise_input(f)), f.top);
  // numbers as a URL carries them (strings) or as JSON numbers; null is a flag left out
  const json got = ask(R"({"command": "advise", "args": {"budget": "1500", "use-case": "coding",
                           "min-decode-tok-per-s": 20, "ctx": null}})");
  REQUIRE(got["ok"] == true);
  CHECK(got["result"] == want);
  CHECK(got["result"]["recommendations"].size() == 10);
  for (const auto& r : got["result"]["recommendations"]) CHECK(r["price_usd"].get<double>() <= 1500);
}

TEST_CASE("the catalog lists what the inputs offer") {
  const json a = ask(R"({"command": "catalog"})");
  REQUIRE(a["ok"] == true);
  const json& c = a["result"];
  CHECK(c["systems"].size() == all_systems().size());
  CHECK(c["devices"].size() == all_devices().size());
  CHECK(c["models"].size() == 4);
  CHECK(c["default_use_case"] == "chat");
  bool team = false;
  for (const auto& u : c["use_cases"]) team = team || (u["id"] == "team" && u["serving_users"].get<int>() > 1);
  CHECK(team);
}

TEST_CASE("charts: the report's and the advise charts, as CSV") {
  const json a = ask(R"({"command": "charts", "args": {"budget": 2000, "top": 3}})");
  REQUIRE(a["ok"] == true);
  std::vector<std::string> names;
  for (const auto& c : a["result"]) {
    names.push_back(c["name"]);
    CHECK(c["csv"].get<std::string>().find('\n') != std::string::npos);
  }
  CHECK(names == std::vector<std::string>{"advise-top", "advise-memory", "decode", "memory", "context", "cost", "running-cost", "energy"});
  // top 3: a header and three rows
  const std::string top = a["result"][0]["csv"];
  CHECK(std::count(top.begin(), top.end(), '\n') == 4);
}
