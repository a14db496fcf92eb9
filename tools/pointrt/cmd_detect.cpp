// pointrt detect: frames (files, directories, globs) -> boxes, as KITTI label_2 files, JSON or a table on stdout.
#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "cli_common.h"
#include "commands.h"

namespace pointrt::cli {

namespace {

namespace fs = std::filesystem;

struct DetectArgs {
  ModelArgs model;
  std::vector<std::string> inputs;
  std::string calib;
  std::string out;
  std::string format = "json";
  std::string nonfinite = "drop";
  std::uint64_t seed = 0x5eed;
  int batch = 0;
  float min_score = 0.f;
  bool presampled = false;
  bool fov = false;
};

std::string calib_path(const std::string& calib, const std::string& frame) {
  std::error_code ec;
  if (fs::is_directory(calib, ec)) {
    const std::string p = (fs::path(calib) / (frame_stem(frame) + ".txt")).string();
    if (!fs::exists(p, ec)) fail(frame, "no calibration file " + p);
    return p;
  }
  return calib;  // one file for every frame
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  if (!f) fail(path, "cannot open for writing");
  f << text;
  if (!f) fail(path, "write failed");
}

}  // namespace

Command add_detect_command(CLI::App& app) {
  auto args = std::make_shared<DetectArgs>();
  CLI::App* cmd = app.add_subcommand("detect", "Detect 3D boxes in LiDAR frames");
  add_model_options(cmd, args->model);
  cmd->add_option("inputs", args->inputs, "Frames: files, directories or glob patterns (.bin, .pcd, .npy)")->required();
  cmd->add_option("--calib", args->calib,
                  "KITTI calibration: a directory with <frame>.txt per frame, or one file for all (needed by --format kitti "
                  "and --fov)");
  cmd->add_option("--out", args->out, "Directory for one result file per frame (default: print to stdout)");
  cmd->add_option("--format", args->format, "Result format: json or kitti (label_2, camera frame)")
      ->check(CLI::IsMember({"json", "kitti"}))
      ->capture_default_str();
  cmd->add_option("--nonfinite", args->nonfinite, "Points with NaN/Inf values: drop (and count) or refuse")
      ->check(CLI::IsMember({"drop", "refuse"}))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the sampling to the model's point count")->capture_default_str();
  cmd->add_option("--batch", args->batch, "Frames per engine run (default: the plan's max batch)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--min-score", args->min_score, "Only report boxes with at least this score")->capture_default_str();
  cmd->add_flag("--presampled", args->presampled,
                "Frames already hold exactly the model's N points in the network's order (as written by "
                "`python -m pointrt_train.predict --dump-inputs`): no crop, sampling or shuffle; another count is an error");
  cmd->add_flag("--fov", args->fov,
                "Keep only the points the camera sees (projection by P2 inside the 1242x375 image, depth > 0) before "
                "preprocessing; needs --calib");

  return [args]() {
    const std::vector<std::string> files = expand_inputs(args->inputs);
    if (args->format == "kitti" && args->calib.empty()) {
      fail("--format kitti", "KITTI labels are in the camera frame and need --calib (a file or a directory)");
    }
    if (args->fov && args->calib.empty()) {
      fail("--fov", "the camera field-of-view filter needs --calib (a file or a directory)");
    }
    if (!args->out.empty()) {
      std::error_code ec;
      fs::create_directories(args->out, ec);
      if (ec) fail(args->out, "cannot create the output directory: " + ec.message());
    }
    const Plan plan = load_model(args->model);
    Engine engine(plan);
    const ModelInfo& model = plan.model();
    PreprocessOptions pre = engine.preprocess_options();
    pre.seed = args->seed;
    pre.presampled = args->presampled;
    ReadOptions read;
    read.nonfinite = args->nonfinite == "refuse" ? NonFinitePolicy::Refuse : NonFinitePolicy::Drop;
    const int batch = args->batch > 0 ? std::min(args->batch, plan.max_batch()) : plan.max_batch();

    Progress progress(files.size(), "frames");
    const auto t0 = std::chrono::steady_clock::now();
    double infer_s = 0;
    std::size_t boxes_total = 0;
    for (std::size_t start = 0; start < files.size(); start += static_cast<std::size_t>(batch)) {
      const std::size_t end = std::min(files.size(), start + static_cast<std::size_t>(batch));
      std::vector<PreparedPoints> frames;
      for (std::size_t i = start; i < end; ++i) {
        PointCloud cloud = select_fields(read_point_cloud(files[i], read), model.features);
        if (args->fov) cloud = filter_to_camera_fov(cloud, read_kitti_calib(calib_path(args->calib, files[i])));
        frames.push_back(preprocess(cloud, pre));
      }
      const auto ti = std::chrono::steady_clock::now();
      const auto results = engine.detect(frames);
      infer_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - ti).count();
      for (std::size_t i = start; i < end; ++i) {
        std::vector<Detection> dets;
        for (const Detection& d : results[i - start]) {
          if (d.score >= args->min_score) dets.push_back(d);
        }
        boxes_total += dets.size();
        const std::string& file = files[i];
        auto class_name = [&](int label) {
          return label >= 1 && label <= static_cast<int>(model.classes.size()) ? model.classes[static_cast<std::size_t>(label - 1)]
                                                                               : std::string("class") + std::to_string(label);
        };
        std::string text;
        if (args->format == "kitti") {
          const KittiCalib calib = read_kitti_calib(calib_path(args->calib, file));
          std::vector<KittiObject> objects;
          for (const Detection& d : dets) objects.push_back(to_kitti_object(d, class_name(d.label), calib));
          text = format_kitti_labels(objects);
        } else {
          text = detections_to_json(dets, model.classes, file) + "\n";
        }
        if (!args->out.empty()) {
          write_text((fs::path(args->out) / (frame_stem(file) + (args->format == "kitti" ? ".txt" : ".json"))).string(), text);
        } else if (args->format == "json") {
          fmt::print("{}", text);
        } else {
          fmt::print("# {}\n{}", file, text);
        }
      }
      progress.step(end, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    progress.finish();
    const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(stderr, "{} frames, {} boxes on {}: {:.1f} frames/s overall ({:.1f} frames/s in the engine){}\n",
               files.size(), boxes_total, target_name(plan.target()), static_cast<double>(files.size()) / total_s,
               infer_s > 0 ? static_cast<double>(files.size()) / infer_s : 0.0,
               args->out.empty() ? std::string() : ", results in " + args->out);
    return 0;
  };
}

}  // namespace pointrt::cli
