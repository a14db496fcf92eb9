// pointrt — KITTI 3D object detection evaluation (average precision, R11 and R40).
//
// Follows the protocol of the KITTI object devkit (evaluate_object.cpp, 41-point recall sampling) as OpenPCDet's
// kitti_object_eval_python also implements it: difficulties from the 2D box height, occlusion and truncation of
// the ground truth; DontCare regions and neighbouring classes (Van for Car, Person_sitting for Pedestrian) are
// ignored rather than counted; greedy per-frame assignment; precision sampled at score thresholds chosen along the
// recall curve and interpolated as max-to-the-right. Metrics: the 2D image box ("bbox"), the rotated box in the
// camera x-z ground plane ("bev") and the 3D box ("3d"). The whole protocol is written down in docs/eval.md.
//
// Objects are KittiObject (detection.h), camera-rect frame: x y z is the bottom centre (camera y points down), h w l
// the sizes, rotation_y the rotation about the camera's y axis. Detections carry a score (has_score).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "pointrt/detection.h"

namespace pointrt {

enum class EvalMetric { BBox = 0, Bev = 1, Box3D = 2 };
enum class EvalDifficulty { Easy = 0, Moderate = 1, Hard = 2 };

// "bbox", "bev", "3d" and "easy", "moderate", "hard".
const char* to_string(EvalMetric metric);
const char* to_string(EvalDifficulty difficulty);

struct EvalOptions {
  // Classes evaluated, in the order of the report. Names are compared with label types case-insensitively.
  std::vector<std::string> classes{"Car", "Pedestrian", "Cyclist"};
  // Minimum overlap of a true positive per class, for {bbox, bev, 3d}; a match needs overlap strictly above it.
  // The default is the devkit's "moderate" set. Every evaluated class needs an entry (found case-insensitively).
  std::map<std::string, std::array<double, 3>> min_overlap{
      {"Car", {0.7, 0.7, 0.7}},     {"Pedestrian", {0.5, 0.5, 0.5}},     {"Cyclist", {0.5, 0.5, 0.5}},
      {"Van", {0.7, 0.7, 0.7}},     {"Person_sitting", {0.5, 0.5, 0.5}}, {"Truck", {0.7, 0.7, 0.7}}};
  // DontCare regions absorb unmatched detections in every metric (judged by 2D box overlap), as the official
  // devkit does. false: only in the bbox metric, as OpenPCDet's Python evaluation does.
  bool dontcare_all_metrics = true;
};

// AP of one class for one metric and difficulty, in percent (0..100).
struct ApResult {
  std::string class_name;
  EvalMetric metric = EvalMetric::BBox;
  EvalDifficulty difficulty = EvalDifficulty::Easy;
  double ap_r11 = 0;  // 11 recall points 0, 0.1, .., 1 (every 4th of the 41 sampled)
  double ap_r40 = 0;  // 40 recall points 1/40 .. 1 (recall 0 excluded)
  std::size_t num_gt = 0;   // ground-truth objects that count for this difficulty (recall denominator)
  std::size_t num_det = 0;  // detections of the class that are not ignored for this difficulty
};

struct EvalResult {
  EvalOptions options;
  std::size_t num_frames = 0;
  std::size_t frames_without_predictions = 0;  // directory evaluation: GT frames with no prediction file
  std::vector<std::string> unmatched_predictions;  // directory evaluation: prediction files with no GT file
  std::vector<ApResult> results;  // class-major, then metric (bbox, bev, 3d), then difficulty (easy..hard)

  // The entry for class/metric/difficulty (class compared case-insensitively); throws Error if not evaluated.
  const ApResult& at(const std::string& class_name, EvalMetric metric, EvalDifficulty difficulty) const;
};

// Evaluates per-frame ground truth against per-frame detections (gt[i] and detections[i] are frame i). Every
// detection needs a score (has_score). Throws Error for mismatched frame counts, a detection without score, a
// class without a minimum overlap, or an overlap outside (0, 1].
EvalResult evaluate_kitti(const std::vector<std::vector<KittiObject>>& gt,
                          const std::vector<std::vector<KittiObject>>& detections, const EvalOptions& options = {});

// Evaluates two label_2 directories. Frames are the stems of the *.txt files in gt_dir (sorted); a frame without
// a file in pred_dir has no detections. Prediction lines need the 16th column (score). Throws Error naming the
// directory or file (and line) that is missing, unreadable or malformed.
EvalResult evaluate_kitti_dirs(const std::string& pred_dir, const std::string& gt_dir, const EvalOptions& options = {});

// A Markdown table: one row per class and metric, AP R40 and R11 for easy/moderate/hard and the GT counts.
// Cells without ground truth read "-".
std::string format_eval_table(const EvalResult& result);
// JSON: {"frames", "frames_without_predictions", "unmatched_predictions", "min_overlap", "dontcare_all_metrics",
// "results": [{"class", "metric", "difficulty", "ap_r11", "ap_r40", "num_gt", "num_det"}]}; AP is null without GT.
std::string eval_to_json(const EvalResult& result);

// ---- overlaps (double precision; exposed for tests and tools) ------------------------------------------------

// 2D image-box IoU (boxes left, top, right, bottom; no +1 pixel convention).
double kitti_iou_bbox(const KittiObject& a, const KittiObject& b);
// Intersection of the two 2D boxes over the area of `a` (used for DontCare regions).
double kitti_bbox_overlap_of_first(const KittiObject& a, const KittiObject& b);
// IoU of the rotated rectangles (x, z, l, w, rotation_y) in the camera x-z ground plane.
double kitti_iou_bev(const KittiObject& a, const KittiObject& b);
// 3D IoU: the ground-plane intersection times the overlap of the y extents [y - h, y].
double kitti_iou_3d(const KittiObject& a, const KittiObject& b);

}  // namespace pointrt
