#include "html.h"

#include <filesystem>
#include <sstream>

namespace gs::report {

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream s;
  s << "<table>\n<tr>";
  for (const auto& h : header) s << "<th>" << html_escape(h) << "</th>";
  s << "</tr>\n";
  for (const auto& r : rows) {
    s << "<tr>";
    for (const auto& v : r) s << "<td>" << html_escape(v) << "</td>";
    s << "</tr>\n";
  }
  s << "</table>\n";
  return s.str();
}

static const char* kCss =
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;"
    "padding:0 1em;color:#222;line-height:1.45}"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}"
    "table{border-collapse:collapse;font-size:.9em;margin:.8em 0}th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left}"
    "th{background:#f3f3f3}td:nth-child(n+3){font-variant-numeric:tabular-nums}"
    "img{max-width:100%;border:1px solid #eee}.files{font-size:.85em;color:#555}.note{color:#8a4b00}"
    "code,pre{background:#f6f6f6;padding:.1em .3em;border-radius:3px}pre{padding:.6em;overflow-x:auto}";

std::string html_page(const std::string& title, const std::string& intro_html, const std::vector<HtmlSection>& sections,
                      const std::string& dir) {
  namespace fs = std::filesystem;
  auto exists = [&](const std::string& f) { return fs::exists(fs::path(dir) / f); };
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_escape(title)
    << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n"
    << intro_html << "\n";
  for (const auto& sec : sections) {
    s << "<h2>" << html_escape(sec.title) << "</h2>\n" << sec.html << "\n";
    if (!sec.has_chart) continue;
    const ChartFiles& c = sec.chart;
    const std::string png = c.name + ".png", svg = c.name + ".svg";
    if (exists(png)) s << "<p><img src=\"" << html_escape(png) << "\" alt=\"" << html_escape(c.title) << "\"></p>\n";
    else s << "<p class=\"note\">Chart not rendered" << (c.note.empty() ? "" : ": " + html_escape(c.note)) << ".</p>\n";
    std::string links;
    for (const auto& f : c.files) {
      if (f == png || !exists(f)) continue;
      links += (links.empty() ? "" : " · ") + std::string("<a href=\"") + html_escape(f) + "\">" + html_escape(f) + "</a>";
    }
    if (links.empty()) continue;
    s << "<p class=\"files\">Files: " << links;
    if (exists(c.name + ".gp")) s << " (restyle: <code>gnuplot -e \"fmt='svg'\" " << html_escape(c.name) << ".gp</code>)";
    s << "</p>\n";
  }
  s << "</body>\n</html>\n";
  return s.str();
}

}  // namespace gs::report
