// cli_run.h: run the gemmasim binary as a user would, capturing stdout,
// stderr and the exit code (for end-to-end and bad-input tests).
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

struct CliResult {
  int code = -1;
  std::string out, err;
  int err_lines() const {
    int n = 0;
    for (char c : err) n += c == '\n';
    return n;
  }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The binary run by the shell with `before` in front of it (environment assignments, a
// `timeout`, shell statements ending in ';') and `args` after it (already shell-quoted where
// needed), stdin from /dev/null, stdout and stderr captured.
inline CliResult run_shell(const std::string& before, const std::string& args) {
  static int counter = 0;
  const std::string base = "/tmp/gemmasim_cli_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const std::string cmd = before + std::string(GEMMASIM_BINARY) + " " + args + " </dev/null >" + base + ".out 2>" + base + ".err";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(base + ".out");
  r.err = slurp(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

// args: everything after the binary name, already shell-quoted where needed.
inline CliResult run_cli(const std::string& args) { return run_shell("", args); }

// The same with environment assignments (`env`, e.g. "PATH=/x:$PATH") and shell statements or
// a command run first (`prefix`, e.g. "ulimit -f 8; " or "timeout -s INT 1 ").
inline CliResult run_cli_env(const std::string& env, const std::string& args, const std::string& prefix = "") {
  return run_shell(prefix + (env.empty() ? std::string() : "env " + env + " "), args);
}
