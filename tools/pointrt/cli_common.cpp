#include "cli_common.h"

#include <fmt/core.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace pointrt::cli {

namespace fs = std::filesystem;

void add_model_options(CLI::App* cmd, ModelArgs& args) {
  cmd->add_option("--plan", args.plan, "Plan file written by `pointrt build` (.ptplan)");
  cmd->add_option("--config", args.config, "Model config (JSON), with --weights, instead of --plan");
  cmd->add_option("--weights", args.weights, "Model weights (.safetensors), with --config");
  cmd->add_option("--device", args.device, "With --config/--weights: auto (CUDA when available), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  cmd->add_option("--precision", args.precision,
                  "With --config/--weights: fp32, or tf32x3 (fused grouper MLPs on tensor cores, 3xTF32; CUDA)")
      ->check(CLI::IsMember({"fp32", "tf32x3"}))
      ->capture_default_str();
  cmd->add_option("--max-batch", args.max_batch, "With --config/--weights: largest batch the plan takes")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
}

Plan load_model(const ModelArgs& args) {
  const bool have_plan = !args.plan.empty();
  const bool have_model = !args.config.empty() || !args.weights.empty();
  if (have_plan && have_model) fail("options", "give either --plan or --config with --weights, not both");
  if (have_plan) return Plan::load(args.plan);
  if (args.config.empty() || args.weights.empty()) {
    fail("options", "a model is needed: --plan FILE, or --config FILE --weights FILE");
  }
  BuildOptions o;
  o.target = parse_target(args.device);
  o.precision = parse_precision(args.precision);
  o.max_batch = args.max_batch;
  return Plan::build(args.config, args.weights, o);
}

namespace {
bool is_frame_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".bin" || ext == ".pcd" || ext == ".npy";
}
bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }
}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::set<std::string> out;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::size_t found = 0;
      for (const auto& e : fs::directory_iterator(in, ec)) {
        if (e.is_regular_file() && is_frame_file(e.path())) {
          out.insert(e.path().string());
          ++found;
        }
      }
      if (found == 0) fail(in, "directory has no .bin, .pcd or .npy files");
    } else if (fs::exists(in, ec)) {
      out.insert(in);
    } else if (has_glob_chars(in)) {
      glob_t g{};
      const int rc = ::glob(in.c_str(), 0, nullptr, &g);
      std::size_t found = 0;
      if (rc == 0) {
        for (std::size_t i = 0; i < g.gl_pathc; ++i) {
          if (fs::is_regular_file(g.gl_pathv[i], ec)) {
            out.insert(g.gl_pathv[i]);
            ++found;
          }
        }
      }
      ::globfree(&g);
      if (found == 0) fail(in, "pattern matches no file");
    } else {
      fail(in, "no such file or directory");
    }
  }
  return {out.begin(), out.end()};
}

std::string frame_stem(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".pcd.bin", ".bin", ".pcd", ".npy"}) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      return name.substr(0, name.size() - e.size());
    }
  }
  return fs::path(name).stem().string();
}

Progress::Progress(std::size_t total, const char* what) : total_(total), what_(what), tty_(::isatty(2) != 0) {}

void Progress::step(std::size_t done, double elapsed_s) {
  if (total_ < 2) return;
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  const int width = 30;
  const int filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total_));
  const std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '-');
  if (tty_) {
    fmt::print(stderr, "\r[{}] {}/{} {}, {:.1f} {}/s", bar, done, total_, what_, rate, what_);
    drawn_ = true;
  } else {
    const std::size_t decile = done * 10 / total_;
    if (decile > last_decile_ || done == total_) {
      last_decile_ = decile;
      fmt::print(stderr, "[{}] {}/{} {}, {:.1f} {}/s\n", bar, done, total_, what_, rate, what_);
    }
  }
}

void Progress::finish() {
  if (tty_ && drawn_) fmt::print(stderr, "\n");
}

}  // namespace pointrt::cli
