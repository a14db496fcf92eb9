// KITTI evaluation of label directories, and its reports (Markdown table, JSON).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "pointrt/error.h"
#include "pointrt/eval.h"

namespace pointrt {
namespace {

namespace fs = std::filesystem;

// The stems of the regular *.txt files in `dir`, sorted.
std::vector<std::string> label_stems(const std::string& dir, const char* role) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec || !fs::exists(st)) fail(dir, std::string(role) + " directory does not exist");
  if (!fs::is_directory(st)) fail(dir, std::string(role) + " path is not a directory");
  std::vector<std::string> stems;
  fs::directory_iterator it(dir, ec);
  if (ec) fail(dir, "cannot list the " + std::string(role) + " directory: " + ec.message());
  for (const fs::directory_entry& entry : it) {
    const fs::path& p = entry.path();
    if (p.extension() != ".txt") continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    stems.push_back(p.stem().string());
  }
  std::sort(stems.begin(), stems.end());
  return stems;
}

// The 1-based line number of the k-th non-empty line of `text` (the k-th object parse_kitti_labels returns).
std::size_t object_line(const std::string& text, std::size_t k) {
  std::size_t line = 1, seen = 0;
  bool has_token = false;
  for (char ch : text) {
    if (ch == '\n') {
      if (has_token && seen++ == k) return line;
      ++line;
      has_token = false;
    } else if (!io::is_space(ch)) {
      has_token = true;
    }
  }
  return line;
}

std::string cell(const ApResult& r, bool r40) {
  if (r.num_gt == 0) return "-";
  return fmt::format("{:.2f}", r40 ? r.ap_r40 : r.ap_r11);
}

}  // namespace

EvalResult evaluate_kitti_dirs(const std::string& pred_dir, const std::string& gt_dir, const EvalOptions& options) {
  const std::vector<std::string> gt_stems = label_stems(gt_dir, "ground-truth");
  if (gt_stems.empty()) fail(gt_dir, "no ground-truth label files (*.txt) in the directory");
  const std::vector<std::string> pred_stems = label_stems(pred_dir, "prediction");

  std::vector<std::vector<KittiObject>> gt(gt_stems.size()), det(gt_stems.size());
  std::size_t missing = 0;
  for (std::size_t i = 0; i < gt_stems.size(); ++i) {
    gt[i] = read_kitti_labels((fs::path(gt_dir) / (gt_stems[i] + ".txt")).string());
    if (!std::binary_search(pred_stems.begin(), pred_stems.end(), gt_stems[i])) {
      ++missing;
      continue;
    }
    const std::string path = (fs::path(pred_dir) / (gt_stems[i] + ".txt")).string();
    const std::string text = io::read_text_file(path);
    det[i] = parse_kitti_labels(text, path);
    for (std::size_t k = 0; k < det[i].size(); ++k) {
      if (!det[i][k].has_score) fail(path + ":" + std::to_string(object_line(text, k)),
                                     "a prediction needs 16 columns (the 16th is the score), this line has 15");
    }
  }
  EvalResult result = evaluate_kitti(gt, det, options);
  result.frames_without_predictions = missing;
  for (const std::string& s : pred_stems) {
    if (!std::binary_search(gt_stems.begin(), gt_stems.end(), s)) result.unmatched_predictions.push_back(s + ".txt");
  }
  return result;
}

std::string format_eval_table(const EvalResult& result) {
  std::string out = "| class | metric | R40 easy | R40 moderate | R40 hard | R11 easy | R11 moderate | R11 hard | "
                    "GT easy/moderate/hard |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (std::size_t base = 0; base + 3 <= result.results.size(); base += 3) {
    const ApResult& e = result.results[base];
    const ApResult& m = result.results[base + 1];
    const ApResult& h = result.results[base + 2];
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {}/{}/{} |\n", e.class_name, to_string(e.metric),
                       cell(e, true), cell(m, true), cell(h, true), cell(e, false), cell(m, false), cell(h, false),
                       e.num_gt, m.num_gt, h.num_gt);
  }
  return out;
}

std::string eval_to_json(const EvalResult& result) {
  nlohmann::json overlaps = nlohmann::json::object();
  for (const std::string& cls : result.options.classes) {
    for (const auto& [key, value] : result.options.min_overlap) {
      if (key.size() == cls.size() && std::equal(key.begin(), key.end(), cls.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          })) {
        overlaps[cls] = {{"bbox", value[0]}, {"bev", value[1]}, {"3d", value[2]}};
      }
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const ApResult& r : result.results) {
    nlohmann::json row{{"class", r.class_name},       {"metric", to_string(r.metric)},
                       {"difficulty", to_string(r.difficulty)}, {"num_gt", r.num_gt},
                       {"num_det", r.num_det}};
    if (r.num_gt == 0) {
      row["ap_r11"] = nullptr;
      row["ap_r40"] = nullptr;
    } else {
      row["ap_r11"] = r.ap_r11;
      row["ap_r40"] = r.ap_r40;
    }
    rows.push_back(std::move(row));
  }
  const nlohmann::json j{{"frames", result.num_frames},
                         {"frames_without_predictions", result.frames_without_predictions},
                         {"unmatched_predictions", result.unmatched_predictions},
                         {"min_overlap", overlaps},
                         {"dontcare_all_metrics", result.options.dontcare_all_metrics},
                         {"results", rows}};
  return j.dump(2);
}

}  // namespace pointrt
