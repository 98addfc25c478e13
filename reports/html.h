// html.h: one self-contained HTML page (inline CSS, no scripts, no external
// resources) that shows the charts written beside it and links their files.
// Only files that exist in the page's directory are linked or shown.
#pragma once
#include <string>
#include <vector>

#include "charts.h"

namespace gs::report {

std::string html_escape(const std::string& s);
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

struct HtmlSection {
  std::string title;
  std::string html;          // paragraphs / tables (already escaped)
  bool has_chart = false;
  ChartFiles chart;          // files relative to the page's directory
};

// Page text; dir is where the page will be written (used to check which files exist).
std::string html_page(const std::string& title, const std::string& intro_html, const std::vector<HtmlSection>& sections,
                      const std::string& dir);

}  // namespace gs::report
