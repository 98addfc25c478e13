// serve_charts.h: the report's serving charts, computed with serve-sim (sim/serve).
//   serving_latency:    TTFT p99 and TPOT p99 vs request rate per server, the knee marked
//                       (the largest rate the server holds without its queue growing)
//   serving_throughput: output tok/s vs concurrent users (closed loop, no think time)
#pragma once
#include "charts.h"

namespace gs::report {

// The servers the report compares: model, quant, hardware and engine (missing ids skipped).
struct ServedConfig {
  std::string label, model, quant, hw, engine;
};
std::vector<ServedConfig> headline_servers();

ChartSpec chart_serving_latency(const std::vector<ServedConfig>& servers);
ChartSpec chart_serving_throughput(const std::vector<ServedConfig>& servers);

}  // namespace gs::report
