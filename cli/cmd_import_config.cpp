// gemmasim import-config FILE [-o OUT.json] [--id ID]
// Reads a Hugging Face config.json and writes a model file in the models/ schema
// (stdout without -o). The result is checked by the model loader before it is written;
// the output file is written to a temporary name and renamed, never left half-written.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "import_config.h"
#include "atomic_file.h"
#include "model.h"

namespace gs::cli {

namespace po = boost::program_options;

namespace {


// Indented JSON with arrays of scalars kept on one line, like the bundled model files.
void dump_readable(const nlohmann::ordered_json& j, int depth, std::string& out) {
  const std::string pad(static_cast<std::size_t>(2 * depth + 2), ' ');
  const std::string close_pad(static_cast<std::size_t>(2 * depth), ' ');
  if (j.is_object() && !j.empty()) {
    out += "{\n";
    std::size_t i = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++i) {
      out += pad;
      out += nlohmann::ordered_json(it.key()).dump();
      out += ": ";
      dump_readable(it.value(), depth + 1, out);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += close_pad + "}";
  } else if (j.is_array() && !j.empty() &&
             std::any_of(j.begin(), j.end(), [](const auto& e) { return e.is_structured(); })) {
    out += "[\n";
    for (std::size_t i = 0; i < j.size(); ++i) {
      out += pad;
      dump_readable(j[i], depth + 1, out);
      out += i + 1 < j.size() ? ",\n" : "\n";
    }
    out += close_pad + "]";
  } else if (j.is_array()) {
    out += "[";
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      out += j[i].dump();
    }
    out += "]";
  } else {
    out += j.dump();
  }
}

}  // namespace

int cmd_import_config(const Args& a) {
  po::options_description opts("gemmasim import-config FILE [options]");
  std::string file, out_path, id;
  opts.add_options()("help,h", "show this help")("output,o", po::value(&out_path), "write the model file here (default: stdout)")(
      "id", po::value(&id), "model id (default: from _name_or_path or the file name)")(
      "file", po::value(&file), "Hugging Face config.json");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(a).options(opts).positional(pos).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts << "\nSupported architectures: " << supported_hf_architectures() << "\n";
    return 0;
  }
  if (file.empty()) input_error("missing FILE (a Hugging Face config.json; see gemmasim import-config --help)");
  if (vm.count("id") && id.empty()) input_error("--id: empty id");

  const json hf = read_json_file(file);
  ImportOptions opt;
  opt.id = id;
  const auto model = import_hf_config(hf, file, opt);
  std::string text;
  dump_readable(model, 0, text);
  text += "\n";
  // The imported description must load: same checks as a bundled model file.
  const ModelSpec spec = parse_model(json::parse(text), file);
  if (out_path.empty()) {
    std::cout << text;
  } else {
    write_file_atomic(out_path, text);
    const ParamCounts c = count_params(spec);
    std::fprintf(stderr, "wrote %s: %s, %d layers, %.3fB parameters (%.3fB active)\n", out_path.c_str(), spec.id.c_str(),
                 spec.n_layer, c.total / 1e9, c.active / 1e9);
  }
  return 0;
}

}  // namespace gs::cli
