// pointrt eval --pred DIR --gt DIR: KITTI average precision (bbox, BEV, 3D; R40 and R11) of label_2 predictions.
#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "pointrt/error.h"
#include "pointrt/eval.h"

namespace pointrt::cli {

namespace {

struct EvalArgs {
  std::string pred;
  std::string gt;
  std::vector<std::string> classes{"Car", "Pedestrian", "Cyclist"};
  std::string json;
  bool dontcare_bbox_only = false;
};

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "KITTI 3D detection AP (bbox, BEV, 3D; R40 and R11) of label_2 predictions against ground truth");
  cmd->add_option("--pred", args->pred, "Directory of predicted label_2 files (16 columns, with score)")->required();
  cmd->add_option("--gt", args->gt, "Directory of ground-truth label_2 files; its *.txt files name the frames")
      ->required();
  cmd->add_option("--classes", args->classes, "Classes to evaluate (minimum overlaps: Car/Van/Truck 0.7, "
                                              "Pedestrian/Person_sitting/Cyclist 0.5)")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->add_flag("--dontcare-bbox-only", args->dontcare_bbox_only,
                "Let DontCare regions absorb detections in the bbox metric only (OpenPCDet) instead of every "
                "metric (the official devkit)");

  return [args]() {
    EvalOptions options;
    options.classes = args->classes;
    options.dontcare_all_metrics = !args->dontcare_bbox_only;
    const EvalResult result = evaluate_kitti_dirs(args->pred, args->gt, options);

    fmt::print("KITTI evaluation: {} frames ({} without a prediction file)", result.num_frames,
               result.frames_without_predictions);
    if (!result.unmatched_predictions.empty()) {
      fmt::print(", {} prediction files without ground truth ignored", result.unmatched_predictions.size());
    }
    fmt::print("\nAP in percent, recall sampled at 40 points (R40) and 11 points (R11); "
               "\"-\": no ground truth of that difficulty\n\n");
    fmt::print("{}", format_eval_table(result));
    if (!args->json.empty()) {
      std::ofstream f(args->json, std::ios::trunc);
      if (!f) fail(args->json, std::string("cannot open for writing: ") + std::strerror(errno));
      f << eval_to_json(result) << "\n";
      f.close();
      if (!f) fail(args->json, "write failed");
      fmt::print("\nresults: {}\n", args->json);
    }
    return 0;
  };
}

}  // namespace pointrt::cli
