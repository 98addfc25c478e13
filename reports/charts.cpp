#include "charts.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "atomic_file.h"
#include "error.h"
#include "table.h"
#include "text.h"

namespace gs::report {

namespace fs = std::filesystem;

bool gnuplot_available() { return !gnuplot_png_terminal().empty(); }

std::string gnuplot_png_terminal() {
  static const std::string term = [] {
    FILE* p = popen("gnuplot -e 'set terminal' 2>&1", "r");
    if (!p) return std::string();
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = pclose(p);
    if (rc != 0 || out.find("svg") == std::string::npos) return std::string();
    if (out.find("pngcairo") != std::string::npos) return std::string("pngcairo");
    if (out.find(" png ") != std::string::npos || out.find("\npng") != std::string::npos) return std::string("png");
    return std::string();
  }();
  return term;
}

std::string csv_num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string csv_str(const std::string& s) { return csv_escape(s); }

static std::string script(const ChartSpec& c) {
  std::ostringstream s;
  s << "# " << c.title << "\n"
    << "# Data: " << c.name << ".csv. Re-render: gnuplot -e \"fmt='svg'\" " << c.name << ".gp   (fmt: png | svg)\n"
    << "if (!exists(\"fmt\")) fmt = \"png\"\n"
    << "if (!exists(\"out\")) out = \"" << c.name << ".\" . fmt\n"
    << "if (!exists(\"pngterm\")) pngterm = \"pngcairo\"\n"
    << "if (fmt eq \"svg\") {\n"
    << "  set terminal svg size " << c.width << "," << c.height << " dynamic noenhanced font \"Helvetica,13\" background rgb \"white\"\n"
    << "} else {\n"
    << "  if (pngterm eq \"pngcairo\") {\n"
    << "    set terminal pngcairo size " << c.width << "," << c.height << " noenhanced font \"Helvetica,11\" background rgb \"white\"\n"
    << "  } else {\n"
    << "    set terminal png size " << c.width << "," << c.height << " noenhanced font \"Helvetica,11\" background rgb \"white\"\n"
    << "  }\n"
    << "}\n"
    << "set output out\n"
    << "set datafile separator \",\"\n"
    << "set datafile missing \"NaN\"\n"
    << "set title \"" << c.title << "\"\n"
    << c.body;
  if (!c.body.empty() && c.body.back() != '\n') s << "\n";
  return s.str();
}

ChartFiles write_chart(const std::string& dir, const ChartSpec& c, bool render) {
  ChartFiles f;
  f.name = c.name;
  f.title = c.title;
  make_output_dir(dir);
  std::error_code ec0;  // renders of an earlier run must not outlive their data
  fs::remove(dir + "/" + c.name + ".png", ec0);
  fs::remove(dir + "/" + c.name + ".svg", ec0);
  write_file_atomic(dir + "/" + c.name + ".csv", c.csv);
  f.files.push_back(c.name + ".csv");
  for (const auto& [file, text] : c.extra_csv) {
    write_file_atomic(dir + "/" + file, text);
    f.files.push_back(file);
  }
  write_file_atomic(dir + "/" + c.name + ".gp", script(c));
  f.files.push_back(c.name + ".gp");
  if (!render) {
    f.note = "rendering skipped";
    return f;
  }
  const std::string term = gnuplot_png_terminal();
  if (term.empty()) {
    f.note = "gnuplot not found: install gnuplot-nox (scripts/setup.sh) and run gnuplot on " + c.name + ".gp";
    return f;
  }
  f.rendered = true;
  for (const std::string fmt : {"png", "svg"}) {
    const std::string out = c.name + "." + fmt;
    // gnuplot runs inside dir (the script reads NAME.csv beside it), so every path in
    // the shell command is relative to dir; the C++ side uses dir-prefixed paths.
    const std::string log_name = "." + c.name + "." + fmt + ".log";
    const std::string log = dir + "/" + log_name;
    const std::string cmd = "cd " + shell_quote(dir) + " && gnuplot -e " +
                            shell_quote("fmt='" + fmt + "'; out='" + out + ".tmp'; pngterm='" + term + "'") + " " +
                            shell_quote(c.name + ".gp") + " > " + shell_quote(log_name) + " 2>&1";
    const int rc = std::system(cmd.c_str());
    std::error_code ec;
    const std::string tmp = dir + "/" + out + ".tmp";
    if (rc == 0 && fs::exists(tmp) && fs::file_size(tmp, ec) > 0) {
      fs::rename(tmp, dir + "/" + out, ec);
      fs::remove(log, ec);
      if (!ec) {
        f.files.push_back(out);
        continue;
      }
    }
    // A render that fails (gnuplot's error, a full disk, an empty image) fails the command: the
    // caller's output directory is staged, so nothing of it appears.
    std::string err;
    {
      std::ifstream in(log);
      std::getline(in, err, '\0');
    }
    fs::remove(tmp, ec);
    fs::remove(log, ec);
    for (auto& ch : err)
      if (ch == '\n' || ch == '\r') ch = ' ';
    input_error("gnuplot could not render " + out + (rc != 0 ? " (exit status " + std::to_string(rc) + ")" : " (no image written)") +
                (err.empty() ? std::string() : ": " + err.substr(0, 300)));
  }
  return f;
}

}  // namespace gs::report
