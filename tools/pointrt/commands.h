// The subcommands of the `pointrt` CLI. Each adds itself to the app and returns the function that runs it;
// a run returns the process exit code and lets pointrt::Error propagate to main, which prints "error: ...".
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace pointrt::cli {

using Command = std::function<int()>;

Command add_info_command(CLI::App& app);
Command add_build_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_detect_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_profile_command(CLI::App& app);
Command add_eval_command(CLI::App& app);

}  // namespace pointrt::cli
