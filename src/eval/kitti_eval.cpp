// KITTI AP: per class, metric and difficulty, the devkit's protocol (see include/pointrt/eval.h and docs/eval.md).
//
// For each (class, difficulty) every frame's objects are sorted into three roles:
//   ground truth  0 counts (the class, within the difficulty), 1 ignored (a neighbouring class, or the class but
//                 outside the difficulty: may absorb a detection, never a miss), -1 not considered;
//   detections    0 counts (the class, tall enough), 1 ignored (any class below the difficulty's minimum height),
//                 -1 not considered;
//   DontCare      regions that absorb otherwise unmatched detections.
// Pass 1 matches each ground-truth object (file order) to the highest-scoring free detection overlapping it above
// the class's minimum overlap; the scores of the true positives give the thresholds (41 points along the recall
// curve). Pass 2 recounts TP/FP/FN at every threshold, matching each ground-truth object to the free detection of
// largest overlap (preferring counted detections over ignored ones), and gives the precision at each threshold.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "pointrt/error.h"
#include "pointrt/eval.h"

namespace pointrt {
namespace {

constexpr std::size_t kSamplePoints = 41;       // recall 0, 1/40, .., 1
constexpr double kMinHeight[3] = {40, 25, 25};  // 2D box height in pixels
constexpr int kMaxOcclusion[3] = {0, 1, 2};
constexpr double kMaxTruncation[3] = {0.15, 0.3, 0.5};
constexpr double kNoDetection = -1e7;

bool same_name(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool is_neighbour(const std::string& evaluated, const std::string& type) {
  return (same_name(evaluated, "Car") && same_name(type, "Van")) ||
         (same_name(evaluated, "Pedestrian") && same_name(type, "Person_sitting"));
}

double box_height(const KittiObject& o) { return static_cast<double>(o.bbox[3]) - static_cast<double>(o.bbox[1]); }

// One frame's objects for one class and difficulty: the considered ones (role != -1), in file order.
struct FrameRoles {
  std::vector<std::size_t> gt;        // indices into the frame's ground truth
  std::vector<int> gt_ignored;        // 0 or 1
  std::vector<std::size_t> det;       // indices into the frame's detections
  std::vector<int> det_ignored;       // 0 or 1
  std::vector<std::size_t> dontcare;  // indices into the frame's ground truth
};

FrameRoles assign_roles(const std::vector<KittiObject>& gt, const std::vector<KittiObject>& det,
                        const std::string& cls, int difficulty, std::size_t& num_gt) {
  FrameRoles r;
  for (std::size_t i = 0; i < gt.size(); ++i) {
    const KittiObject& g = gt[i];
    if (same_name(g.type, "DontCare")) {
      r.dontcare.push_back(i);
      continue;
    }
    const bool own = same_name(g.type, cls);
    if (!own && !is_neighbour(cls, g.type)) continue;
    // Outside the difficulty: too occluded, too truncated, or not taller than the minimum height. Truncation is
    // compared in float, the precision it was read in, so that a label's "0.15" is not above the limit 0.15.
    const bool outside = g.occluded > kMaxOcclusion[difficulty] ||
                         g.truncated > static_cast<float>(kMaxTruncation[difficulty]) ||
                         box_height(g) <= kMinHeight[difficulty];
    const int ignored = own && !outside ? 0 : 1;
    if (ignored == 0) ++num_gt;
    r.gt.push_back(i);
    r.gt_ignored.push_back(ignored);
  }
  for (std::size_t j = 0; j < det.size(); ++j) {
    const KittiObject& d = det[j];
    int ignored = -1;
    if (std::abs(box_height(d)) < kMinHeight[difficulty]) {
      ignored = 1;  // any class: the devkit lets small detections absorb matches without counting them
    } else if (same_name(d.type, cls)) {
      ignored = 0;
    }
    if (ignored == -1) continue;
    r.det.push_back(j);
    r.det_ignored.push_back(ignored);
  }
  return r;
}

struct Counts {
  std::size_t tp = 0, fp = 0, fn = 0;
};

// Overlaps of one frame, detections x ground truth (row-major), for one metric.
struct FrameOverlaps {
  std::size_t num_gt = 0;
  std::vector<double> values;
  double at(std::size_t det, std::size_t gt) const { return values[det * num_gt + gt]; }
};

// One pass over a frame. Without `at_threshold` (pass 1): score-greedy matching, the TP scores are appended to
// `tp_scores`. With it (pass 2): detections scoring below `threshold` are left out, matching is by largest overlap
// and false positives (less those inside DontCare regions) are counted.
Counts frame_statistics(const std::vector<KittiObject>& gt, const std::vector<KittiObject>& det, const FrameRoles& r,
                        const FrameOverlaps& ov, double min_overlap, bool at_threshold, double threshold,
                        bool use_dontcare, std::vector<double>* tp_scores) {
  Counts c;
  const std::size_t nd = r.det.size();
  std::vector<char> assigned(nd, 0);
  std::vector<char> below(nd, 0);
  if (at_threshold) {
    for (std::size_t k = 0; k < nd; ++k) below[k] = static_cast<double>(det[r.det[k]].score) < threshold;
  }
  for (std::size_t gi = 0; gi < r.gt.size(); ++gi) {
    std::size_t chosen = nd;
    double best = kNoDetection;       // pass 1: best score so far
    double best_overlap = 0;          // pass 2: largest overlap so far
    bool chosen_is_ignored = false;   // pass 2: the current choice is an ignored detection
    for (std::size_t k = 0; k < nd; ++k) {
      if (assigned[k] || below[k]) continue;
      const double overlap = ov.at(r.det[k], r.gt[gi]);
      if (!(overlap > min_overlap)) continue;
      if (!at_threshold) {
        const double score = det[r.det[k]].score;
        if (score > best) {
          best = score;
          chosen = k;
        }
      } else if (r.det_ignored[k] == 0 && (overlap > best_overlap || chosen_is_ignored)) {
        best_overlap = overlap;
        chosen = k;
        chosen_is_ignored = false;
      } else if (r.det_ignored[k] == 1 && chosen == nd) {
        chosen = k;
        chosen_is_ignored = true;
      }
    }
    if (chosen == nd) {
      if (r.gt_ignored[gi] == 0) ++c.fn;
    } else if (r.gt_ignored[gi] == 1 || r.det_ignored[chosen] == 1) {
      assigned[chosen] = 1;  // absorbed without counting
    } else {
      ++c.tp;
      if (tp_scores != nullptr) tp_scores->push_back(det[r.det[chosen]].score);
      assigned[chosen] = 1;
    }
  }
  if (at_threshold) {
    for (std::size_t k = 0; k < nd; ++k) {
      if (!assigned[k] && r.det_ignored[k] == 0 && !below[k]) ++c.fp;
    }
    if (use_dontcare) {
      std::size_t absorbed = 0;
      for (std::size_t dc : r.dontcare) {
        for (std::size_t k = 0; k < nd; ++k) {
          if (assigned[k] || r.det_ignored[k] != 0 || below[k]) continue;
          if (kitti_bbox_overlap_of_first(det[r.det[k]], gt[dc]) > min_overlap) {
            assigned[k] = 1;
            ++absorbed;
          }
        }
      }
      c.fp -= absorbed;
    }
  }
  return c;
}

// The score thresholds: walking the TP scores from the highest, a score is kept when its recall is the closest
// to the next of the 41 sampled recall levels (the last score is always kept).
std::vector<double> recall_thresholds(std::vector<double> scores, std::size_t num_gt) {
  std::sort(scores.begin(), scores.end(), [](double a, double b) { return a > b; });
  std::vector<double> out;
  double target = 0;
  const double n = static_cast<double>(num_gt);
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool last = i + 1 == scores.size();
    const double here = static_cast<double>(i + 1) / n;
    const double next = last ? here : static_cast<double>(i + 2) / n;
    if (!last && (next - target) < (target - here)) continue;
    out.push_back(scores[i]);
    target += 1.0 / static_cast<double>(kSamplePoints - 1);
  }
  if (out.size() > kSamplePoints) out.resize(kSamplePoints);
  return out;
}

void validate(const std::vector<std::vector<KittiObject>>& gt, const std::vector<std::vector<KittiObject>>& det,
              const EvalOptions& options, std::vector<std::array<double, 3>>& overlaps) {
  if (gt.size() != det.size()) {
    fail("KITTI evaluation", std::to_string(gt.size()) + " ground-truth frames but " + std::to_string(det.size()) +
                                 " detection frames");
  }
  if (options.classes.empty()) fail("KITTI evaluation", "no classes to evaluate");
  for (std::size_t c = 0; c < options.classes.size(); ++c) {
    const std::string& name = options.classes[c];
    if (name.empty()) fail("KITTI evaluation", "empty class name");
    for (std::size_t p = 0; p < c; ++p) {
      if (same_name(options.classes[p], name)) fail("KITTI evaluation: class " + name, "listed twice");
    }
    const std::array<double, 3>* found = nullptr;
    for (const auto& [key, value] : options.min_overlap) {
      if (same_name(key, name)) found = &value;
    }
    if (found == nullptr) fail("KITTI evaluation: class " + name, "no minimum overlap given for it");
    for (double v : *found) {
      if (!(v > 0 && v <= 1)) fail("KITTI evaluation: class " + name, "minimum overlap must be in (0, 1]");
    }
    overlaps.push_back(*found);
  }
  for (std::size_t f = 0; f < det.size(); ++f) {
    for (std::size_t j = 0; j < det[f].size(); ++j) {
      const KittiObject& d = det[f][j];
      if (!d.has_score) {
        fail("KITTI evaluation: frame " + std::to_string(f) + " detection " + std::to_string(j),
             "has no score (detections need the 16th column)");
      }
      if (!std::isfinite(d.score)) {
        fail("KITTI evaluation: frame " + std::to_string(f) + " detection " + std::to_string(j), "score is not finite");
      }
    }
  }
}

double overlap_for(EvalMetric metric, const KittiObject& det, const KittiObject& gt) {
  switch (metric) {
    case EvalMetric::BBox: return kitti_iou_bbox(det, gt);
    case EvalMetric::Bev: return kitti_iou_bev(det, gt);
    case EvalMetric::Box3D: return kitti_iou_3d(det, gt);
  }
  return 0;
}

}  // namespace

const char* to_string(EvalMetric metric) {
  switch (metric) {
    case EvalMetric::BBox: return "bbox";
    case EvalMetric::Bev: return "bev";
    case EvalMetric::Box3D: return "3d";
  }
  return "?";
}

const char* to_string(EvalDifficulty difficulty) {
  switch (difficulty) {
    case EvalDifficulty::Easy: return "easy";
    case EvalDifficulty::Moderate: return "moderate";
    case EvalDifficulty::Hard: return "hard";
  }
  return "?";
}

const ApResult& EvalResult::at(const std::string& class_name, EvalMetric metric, EvalDifficulty difficulty) const {
  for (const ApResult& r : results) {
    if (same_name(r.class_name, class_name) && r.metric == metric && r.difficulty == difficulty) return r;
  }
  fail("KITTI evaluation result", "no entry for " + class_name + " " + to_string(metric) + " " + to_string(difficulty));
}

EvalResult evaluate_kitti(const std::vector<std::vector<KittiObject>>& gt,
                          const std::vector<std::vector<KittiObject>>& detections, const EvalOptions& options) {
  std::vector<std::array<double, 3>> class_overlaps;
  validate(gt, detections, options, class_overlaps);
  const std::size_t num_frames = gt.size();
  const std::size_t num_classes = options.classes.size();

  EvalResult result;
  result.options = options;
  result.num_frames = num_frames;
  result.results.resize(num_classes * 9);

  // Roles depend on class and difficulty only; overlaps on the metric only.
  std::vector<std::vector<FrameRoles>> roles(num_classes * 3, std::vector<FrameRoles>(num_frames));
  std::vector<std::size_t> num_gt(num_classes * 3, 0);
  for (std::size_t c = 0; c < num_classes; ++c) {
    for (int d = 0; d < 3; ++d) {
      const std::size_t cd = c * 3 + static_cast<std::size_t>(d);
      for (std::size_t f = 0; f < num_frames; ++f) {
        roles[cd][f] = assign_roles(gt[f], detections[f], options.classes[c], d, num_gt[cd]);
      }
    }
  }

  for (int m = 0; m < 3; ++m) {
    const EvalMetric metric = static_cast<EvalMetric>(m);
    std::vector<FrameOverlaps> overlaps(num_frames);
    for (std::size_t f = 0; f < num_frames; ++f) {
      FrameOverlaps& ov = overlaps[f];
      ov.num_gt = gt[f].size();
      ov.values.assign(detections[f].size() * gt[f].size(), 0.0);
      for (std::size_t j = 0; j < detections[f].size(); ++j) {
        for (std::size_t i = 0; i < gt[f].size(); ++i) {
          if (same_name(gt[f][i].type, "DontCare")) continue;
          ov.values[j * ov.num_gt + i] = overlap_for(metric, detections[f][j], gt[f][i]);
        }
      }
    }
    const bool use_dontcare = metric == EvalMetric::BBox || options.dontcare_all_metrics;
    for (std::size_t c = 0; c < num_classes; ++c) {
      const double min_overlap = class_overlaps[c][static_cast<std::size_t>(m)];
      for (int d = 0; d < 3; ++d) {
        const std::size_t cd = c * 3 + static_cast<std::size_t>(d);
        ApResult& out = result.results[c * 9 + static_cast<std::size_t>(m) * 3 + static_cast<std::size_t>(d)];
        out.class_name = options.classes[c];
        out.metric = metric;
        out.difficulty = static_cast<EvalDifficulty>(d);
        out.num_gt = num_gt[cd];
        for (std::size_t f = 0; f < num_frames; ++f) {
          for (int ig : roles[cd][f].det_ignored) out.num_det += ig == 0 ? 1 : 0;
        }
        if (num_gt[cd] == 0) continue;

        std::vector<double> tp_scores;
        for (std::size_t f = 0; f < num_frames; ++f) {
          frame_statistics(gt[f], detections[f], roles[cd][f], overlaps[f], min_overlap, false, 0.0, use_dontcare,
                           &tp_scores);
        }
        const std::vector<double> thresholds = recall_thresholds(std::move(tp_scores), num_gt[cd]);
        std::vector<double> precision(kSamplePoints, 0.0);
        for (std::size_t t = 0; t < thresholds.size(); ++t) {
          Counts total;
          for (std::size_t f = 0; f < num_frames; ++f) {
            const Counts k = frame_statistics(gt[f], detections[f], roles[cd][f], overlaps[f], min_overlap, true,
                                              thresholds[t], use_dontcare, nullptr);
            total.tp += k.tp;
            total.fp += k.fp;
            total.fn += k.fn;
          }
          const std::size_t predicted = total.tp + total.fp;
          precision[t] = predicted == 0 ? 0.0 : static_cast<double>(total.tp) / static_cast<double>(predicted);
        }
        // Interpolation: the precision at a sample is the best precision at it or any later one.
        for (std::size_t t = kSamplePoints - 1; t-- > 0;) precision[t] = std::max(precision[t], precision[t + 1]);
        double r11 = 0, r40 = 0;
        for (std::size_t t = 0; t < kSamplePoints; t += 4) r11 += precision[t];
        for (std::size_t t = 1; t < kSamplePoints; ++t) r40 += precision[t];
        out.ap_r11 = r11 / 11.0 * 100.0;
        out.ap_r40 = r40 / 40.0 * 100.0;
      }
    }
  }
  return result;
}

}  // namespace pointrt
