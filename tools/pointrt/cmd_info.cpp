// pointrt info FILE...: point count, fields and ranges of each cloud; optionally what preprocessing makes of it.
#include <fmt/core.h>

#include <string>
#include <vector>

#include "commands.h"
#include "pointrt/error.h"
#include "pointrt/pointcloud.h"

namespace pointrt::cli {

namespace {

struct InfoArgs {
  std::vector<std::string> files;
  std::string format = "auto";
  std::string nonfinite = "drop";
  bool preprocess = false;
  std::vector<float> range = {0.f, -40.f, -3.f, 70.4f, 40.f, 1.f};
  bool crop_z = false;
  std::size_t num_points = 16384;
  std::uint64_t seed = 0x5eed;
};

void print_cloud(const InfoArgs& args, const std::string& path) {
  ReadOptions read;
  read.format = parse_format(args.format);
  read.nonfinite = args.nonfinite == "refuse" ? NonFinitePolicy::Refuse : NonFinitePolicy::Drop;
  const PointCloud cloud = read_point_cloud(path, read);

  fmt::print("{}\n", path);
  fmt::print("  format     {}\n", cloud.format);
  fmt::print("  points     {}", cloud.num_points());
  if (cloud.dropped_nonfinite != 0) fmt::print(" ({} with NaN/Inf dropped)", cloud.dropped_nonfinite);
  fmt::print("\n  fields    ");
  for (const auto& f : cloud.fields) fmt::print(" {}", f);
  fmt::print("\n");
  for (const FieldRange& r : field_ranges(cloud)) {
    fmt::print("  {:<10} [{:.2f}, {:.2f}]\n", r.name, r.min, r.max);
  }
  if (args.preprocess) {
    PreprocessOptions pre;
    for (int i = 0; i < 6; ++i) pre.range[i] = args.range[static_cast<std::size_t>(i)];
    pre.crop_z = args.crop_z;
    pre.num_points = args.num_points;
    pre.seed = args.seed;
    const PreparedPoints prepared = preprocess(cloud, pre);
    const PreprocessReport& rep = prepared.report;
    fmt::print("  preprocess range x [{}, {}], y [{}, {}]{}: {} of {} points in range; sampled {} rows: "
               "{} real points, {} repeats\n",
               pre.range[0], pre.range[3], pre.range[1], pre.range[4],
               pre.crop_z ? fmt::format(", z [{}, {}]", pre.range[2], pre.range[5]) : std::string(), rep.in_range,
               rep.input_points, prepared.num_points, rep.real_points, rep.padded);
  }
}

}  // namespace

Command add_info_command(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Print point count, fields and value ranges of point-cloud files");
  cmd->add_option("files", args->files, "Point-cloud files (.bin KITTI/nuScenes/Waymo, .pcd, .npy)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--format", args->format, "File format: auto (from the name), kitti, nuscenes, waymo, pcd, npy")
      ->capture_default_str();
  cmd->add_option("--nonfinite", args->nonfinite, "Points with NaN/Inf values: drop (and count) or refuse")
      ->check(CLI::IsMember({"drop", "refuse"}))
      ->capture_default_str();
  cmd->add_flag("--preprocess", args->preprocess, "Also report what cropping and sampling to N points keep");
  cmd->add_option("--range", args->range, "Point-cloud range x_min y_min z_min x_max y_max z_max (metres)")
      ->expected(6)
      ->capture_default_str();
  cmd->add_flag("--crop-z", args->crop_z, "Crop z to the range as well (the IA-SSD reference crops x and y only)");
  cmd->add_option("--num-points", args->num_points, "Points per frame after sampling (N)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the sampling")->capture_default_str();

  return [args]() {
    int failures = 0;
    for (const auto& path : args->files) {
      try {
        print_cloud(*args, path);
      } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  };
}

}  // namespace pointrt::cli
