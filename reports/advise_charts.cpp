// Charts of one `gemmasim advise` answer: the top recommendations' speed and memory.
#include <algorithm>
#include <sstream>

#include "report_charts.h"

namespace gs::report {

static std::string label(const Candidate& c, std::size_t rank) {
  std::string m = c.model_name;
  const std::string pre = "Gemma 4 ";
  if (m.rfind(pre, 0) == 0) m = m.substr(pre.size());
  return std::to_string(rank) + ". " + m + " " + c.quant_id + " / " + c.system_id;
}

ChartSpec chart_advise_top(const AdviseResult& r, std::size_t top) {
  ChartSpec c;
  c.name = "advise-top";
  c.title = "Top recommendations: decode speed (bars) and quality proxy (label)";
  std::ostringstream csv;
  csv << "rank,config,decode tok/s,prefill tok/s,quality proxy,price USD\n";
  const std::size_t n = std::min(top, r.ranked.size());
  for (std::size_t i = 0; i < n; ++i) {
    const Candidate& k = r.ranked[i];
    csv << i + 1 << "," << csv_str(label(k, i + 1)) << "," << csv_num(k.decode_tok_per_s) << "," << csv_num(k.prefill_tok_per_s)
        << "," << csv_num(k.quality) << "," << csv_num(k.price_usd) << "\n";
  }
  c.csv = csv.str();
  std::ostringstream gp;
  // Horizontal bars: rank 1 at the top.
  gp << "set style fill solid 0.85 border rgb \"#333333\"\nset grid xtics\nunset key\n"
     << "set xlabel \"decode tokens/s per user\"\nset yrange [" << n + 0.5 << ":0.5]\nset xrange [0:*]\n"
     << "set ytics nomirror font \",9\"\nset lmargin 48\nset rmargin 12\n";
  if (r.req.min_decode_tok_per_s > 0)
    gp << "set arrow from " << r.req.min_decode_tok_per_s << ", graph 0 to " << r.req.min_decode_tok_per_s
       << ", graph 1 nohead dt 2 lw 1.5 lc rgb \"#c0392b\" front\nset label \"required\" at " << r.req.min_decode_tok_per_s
       << ", graph 0.03 offset 0.3,0 tc rgb \"#c0392b\" font \",9\" front\n";
  gp << "plot \"advise-top.csv\" using (0.5*$3):1:(0.5*$3):(0.35):ytic(2) skip 1 with boxxyerrorbars lc rgb \"#4e79a7\", \\\n"
     << "     \"\" using 3:1:(sprintf(\" q %.1f\", $5)) skip 1 with labels left font \",9\"\n";
  c.body = gp.str();
  c.width = 1100;
  c.height = 160 + 42 * static_cast<int>(std::max<std::size_t>(n, 1));
  return c;
}

ChartSpec chart_advise_memory(const AdviseResult& r, std::size_t top) {
  ChartSpec c;
  c.name = "advise-memory";
  c.title = "Top recommendations: memory on the GPU(s) and in host memory vs what the system has";
  std::ostringstream csv;
  csv << "config,GPU weights GB,GPU KV cache GB,GPU compute buffers GB,GPU runtime overhead GB,encoder GB,host memory used GB,"
         "system memory GB,GPU memory GB\n";
  const std::size_t n = std::min(top, r.ranked.size());
  for (std::size_t i = 0; i < n; ++i) {
    const Candidate& k = r.ranked[i];
    double w = 0, kv = 0, cb = 0, ov = 0, host = 0, gpu_cap = 0;
    for (const auto& d : k.fit.devices) {
      if (d.role == "host") {
        host += d.total_bytes;
        continue;
      }
      w += d.weights_bytes, kv += d.kv_cache_bytes, cb += d.compute_buffer_bytes, ov += d.overhead_bytes;
      gpu_cap += d.capacity_bytes;
    }
    csv << csv_str(label(k, i + 1)) << "," << csv_num(w / kGB) << "," << csv_num(kv / kGB) << "," << csv_num(cb / kGB) << ","
        << csv_num(ov / kGB) << "," << csv_num(k.encoder_bytes / kGB) << "," << csv_num(host / kGB) << ","
        << csv_num((k.fit.capacity_bytes + k.encoder_bytes) / kGB) << ","
        << (gpu_cap > 0 ? csv_num((gpu_cap + k.encoder_bytes) / kGB) : "NaN") << "\n";
  }
  c.csv = csv.str();
  c.body =
      "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.9 border rgb \"#333333\"\n"
      "set boxwidth 0.7\nset ylabel \"memory, GB (1e9 bytes)\"\nset grid ytics\nset key outside right top\nset yrange [0:*]\n"
      "set xtics rotate by 30 right nomirror font \",9\"\nset bmargin 12\nset lmargin 16\n"
      "plot \"advise-memory.csv\" using 2:xtic(1) skip 1 title \"weights (GPU)\" lc rgb \"#4e79a7\", \\\n"
      "     \"\" using 3 skip 1 title \"KV cache (GPU)\" lc rgb \"#f28e2b\", \\\n"
      "     \"\" using 4 skip 1 title \"compute buffers (GPU)\" lc rgb \"#59a14f\", \\\n"
      "     \"\" using 5 skip 1 title \"runtime overhead (GPU)\" lc rgb \"#b07aa1\", \\\n"
      "     \"\" using 6 skip 1 title \"vision/audio encoder\" lc rgb \"#edc948\", \\\n"
      "     \"\" using 7 skip 1 title \"in host memory (all kinds)\" lc rgb \"#bab0ac\" fs pattern 4, \\\n"
      "     \"\" using 0:8 skip 1 with points pt 9 ps 2 lc rgb \"#c0392b\" title \"system memory (GPU + host)\", \\\n"
      "     \"\" using 0:9 skip 1 with points pt 7 ps 1.6 lc rgb \"#000000\" title \"GPU memory\"\n";
  c.width = 1100;
  c.height = 650;
  return c;
}

}  // namespace gs::report
