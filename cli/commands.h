// commands.h: every gemmasim subcommand, one function each (cli/cmd_<name>.cpp).
// The name -> function table is explicit, in cli/main.cpp.
#pragma once
#include <string>
#include <vector>

namespace gs::cli {

using Args = std::vector<std::string>;  // arguments after the command name

int cmd_fit(const Args& a);
int cmd_fit_matrix(const Args& a);   // `gemmasim` with no arguments
int cmd_models(const Args& a);
int cmd_hw(const Args& a);
int cmd_quants(const Args& a);
int cmd_import_config(const Args& a);  // Hugging Face config.json -> models/ schema
int cmd_synth(const Args& a);        // seeded synthetic GGUF at a model's real shapes

}  // namespace gs::cli
