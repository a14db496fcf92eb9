// Running the `pointrt` executable as a user would, for the CLI tests. The including test target defines
// POINTRT_CLI_PATH (tests/CMakeLists.txt).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace pointrt::testing {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `pointrt ARGS` through the shell (quote paths in ARGS) and collects its exit code and output.
inline CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string("'") + POINTRT_CLI_PATH + "' " + args + " 2>&1";
  CliRun r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The whole file as text ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace pointrt::testing
