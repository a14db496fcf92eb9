// Pieces shared by the model commands of the CLI (build, detect, bench, profile, inspect).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "pointrt/engine.h"

namespace pointrt::cli {

// Where a command gets its plan: --plan FILE, or --config + --weights (built in memory for --device).
struct ModelArgs {
  std::string plan;
  std::string config;
  std::string weights;
  std::string device = "auto";
  std::string precision = "fp32";
  int max_batch = 1;
};
void add_model_options(CLI::App* cmd, ModelArgs& args);
// Loads or builds the plan; errors say which options are missing.
Plan load_model(const ModelArgs& args);

// Expands files, directories (their .bin/.pcd/.npy files, sorted) and glob patterns into a sorted, de-duplicated
// list of frame files. Throws Error naming an input that matches nothing.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

// File name without directories and without the last extension (".pcd.bin" counts as one).
std::string frame_stem(const std::string& path);

// A progress line on stderr ("[#####-----] 12/100 frames, 35.2 frames/s"), redrawn in place on a terminal and
// printed every 10 % otherwise. Silent for fewer than 2 items.
class Progress {
 public:
  Progress(std::size_t total, const char* what);
  void step(std::size_t done, double elapsed_s);
  void finish();

 private:
  std::size_t total_;
  const char* what_;
  bool tty_;
  std::size_t last_decile_ = 0;
  bool drawn_ = false;
};

}  // namespace pointrt::cli
