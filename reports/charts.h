// charts.h: charts as three files a user can restyle: NAME.csv (the data),
// NAME.gp (a gnuplot script reading it) and the renders NAME.png / NAME.svg.
//
// Every file is written atomically (temp + rename). The script picks its
// terminal from variables, so a user re-renders with
//   gnuplot -e "fmt='svg'" NAME.gp        (fmt: png | svg; out: output file name)
// Rendering needs gnuplot on PATH; pngcairo is used when this gnuplot has it,
// else the libgd png terminal.
#pragma once
#include "atomic_file.h"
#include <string>
#include <vector>

namespace gs::report {

// Write text to path atomically (temp + rename); throws InputError on failure.
using gs::write_file_atomic;

bool gnuplot_available();
std::string gnuplot_png_terminal();  // "pngcairo" | "png" | "" (no gnuplot)

struct ChartSpec {
  std::string name;     // file stem: NAME.csv, NAME.gp, NAME.png, NAME.svg
  std::string title;    // one line, for the page and the script header
  std::string csv;      // the data, with a header row
  std::string body;     // gnuplot commands after the terminal setup (reads NAME.csv)
  int width = 1000, height = 600;
  std::vector<std::pair<std::string, std::string>> extra_csv;  // more data files: (file name, text)
};

struct ChartFiles {
  std::string name, title;
  std::vector<std::string> files;  // file names written (relative to the directory)
  bool rendered = false;
  std::string note;                // why not rendered
};

// Writes the CSV files and the script, and renders PNG and SVG when render is true.
ChartFiles write_chart(const std::string& dir, const ChartSpec& c, bool render);

// CSV field helpers (numbers with enough digits; NaN for missing values).
std::string csv_num(double v);
std::string csv_str(const std::string& s);

}  // namespace gs::report
