// advise_input.h: the advisor's flags and inputs, shared by `advise` and `report`.
#pragma once
#include <string>

#include "advise_request.h"
#include "options.h"

namespace gs::cli {

// --budget --hw --ctx --min-decode-tok-per-s --min-prefill-tok-per-s --use-case --modality --users --top --models --quants
void add_advise_flags(po::options_description& d, AdviseFlags& f);

// advise.json, the advise charts and advise.html in dir (cmd_advise.cpp); returns the page path.
std::string write_advise_files(const AdviseResult& r, std::size_t top, const std::string& dir, bool render);

}  // namespace gs::cli
