// serve_report.h: serve-sim results as a table, JSON and CSV, and per-request records.
#pragma once
#include <string>

#include "json_util.h"
#include "serve/capacity.h"
#include "serve/setup.h"

namespace gs::report {

struct ServeHeader {
  std::string title;     // "Gemma 4 E4B q4_k_m on RTX 4090 (vllm)"
  std::string workload;  // "500 requests, poisson 2 req/s, prompt fixed:1024, output fixed:256"
};

json serve_config_json(const serve::ServeSetup& s);
json serve_result_json(const serve::ServeResult& r, const serve::Slo& slo, bool timeline);
std::string serve_result_text(const ServeHeader& h, const serve::ServeSetup& s, const serve::ServeResult& r,
                              const serve::Slo& slo);
std::string serve_result_csv(const serve::ServeResult& r, const serve::Slo& slo);  // header + one row
std::string serve_requests_csv(const serve::ServeResult& r);                       // one row per request
json capacity_json(const serve::CapacityResult& c, const serve::Slo& slo, const char* load_name);
std::string capacity_text(const ServeHeader& h, const serve::ServeSetup& s, const serve::CapacityResult& c,
                          const serve::Slo& slo, const char* load_name);
std::string capacity_csv(const serve::CapacityResult& c, const char* load_name);

}  // namespace gs::report
