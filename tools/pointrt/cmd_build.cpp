// pointrt build: model config + weights -> .ptplan;  pointrt inspect PLAN: what a plan holds.
#include <fmt/core.h>

#include <chrono>

#include "cli_common.h"
#include "commands.h"

namespace pointrt::cli {

namespace {
struct BuildArgs {
  std::string config, weights, out, device = "auto", precision = "fp32";
  int max_batch = 1;
  bool keep_intermediates = false;
};
struct InspectArgs {
  std::string plan;
  bool json = false;
};
}  // namespace

Command add_build_command(CLI::App& app) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand("build", "Build a plan (.ptplan) from a model config and its weights");
  cmd->add_option("--config", args->config, "Model config (JSON), e.g. models/iassd_hvcsx2_kitti.json")->required();
  cmd->add_option("--weights", args->weights, "Weights (.safetensors)")->required();
  cmd->add_option("--out", args->out, "Plan file to write")->required();
  cmd->add_option("--device", args->device, "Target: auto (CUDA when available), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--precision", args->precision,
                  "fp32, or tf32x3: the fused grouper MLPs on tensor cores with 3xTF32 error compensation (CUDA)")
      ->check(CLI::IsMember({"fp32", "tf32x3"}))
      ->capture_default_str();
  cmd->add_option("--max-batch", args->max_batch, "Largest batch the plan takes (memory is planned for it)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_flag("--keep-intermediates", args->keep_intermediates,
                "Keep every layer's output readable (no activation memory reuse; for debugging and parity checks)");
  return [args]() {
    const auto t0 = std::chrono::steady_clock::now();
    BuildOptions o;
    o.target = parse_target(args->device);
    o.precision = parse_precision(args->precision);
    o.max_batch = args->max_batch;
    o.keep_intermediates = args->keep_intermediates;
    const Plan plan = Plan::build(args->config, args->weights, o);
    plan.save(args->out);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("built {} for {}{} (max batch {}): weights {:.2f} MiB, activations {:.2f} MiB, in {:.0f} ms\n", args->out,
               target_name(plan.target()), plan.arch().empty() ? "" : " " + plan.arch(), plan.max_batch(),
               static_cast<double>(plan.weight_bytes()) / (1 << 20), static_cast<double>(plan.arena_bytes()) / (1 << 20),
               ms);
    return 0;
  };
}

Command add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe a plan: model, target, memory and every layer");
  cmd->add_option("plan", args->plan, "Plan file (.ptplan)")->required();
  cmd->add_flag("--json", args->json, "Print JSON instead of text");
  return [args]() {
    const Plan plan = Plan::load(args->plan);
    fmt::print("{}", args->json ? plan.describe_json() + "\n" : plan.describe());
    return 0;
  };
}

}  // namespace pointrt::cli
