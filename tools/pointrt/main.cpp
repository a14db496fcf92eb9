// pointrt — command-line interface.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <exception>
#include <map>

#include "commands.h"
#include "pointrt/error.h"
#include "pointrt/version.h"

int main(int argc, char** argv) {
  CLI::App app{"pointrt: real-time inference for point-based LiDAR 3D object detectors (IA-SSD family)"};
  app.set_version_flag("--version", pointrt::build_info());
  app.require_subcommand(1);

  std::map<CLI::App*, pointrt::cli::Command> commands;
  auto add = [&](pointrt::cli::Command (*adder)(CLI::App&), const char* name) {
    pointrt::cli::Command run = adder(app);
    commands[app.get_subcommand(name)] = std::move(run);
  };
  add(pointrt::cli::add_detect_command, "detect");
  add(pointrt::cli::add_build_command, "build");
  add(pointrt::cli::add_bench_command, "bench");
  add(pointrt::cli::add_profile_command, "profile");
  add(pointrt::cli::add_inspect_command, "inspect");
  add(pointrt::cli::add_info_command, "info");
  add(pointrt::cli::add_eval_command, "eval");

  CLI11_PARSE(app, argc, argv);

  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
  } catch (const pointrt::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: internal: {}\n", e.what());
    return 2;
  }
  return 0;
}
