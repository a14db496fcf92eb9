// KITTI AP (src/eval): overlaps against analytic values, the protocol on hand-computed cases, and properties on the
// shared real KITTI labels 000000..000005.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pointrt/detection.h"
#include "pointrt/error.h"
#include "pointrt/eval.h"
#include "support/test_data.h"

namespace pointrt {
namespace {

using testing::expect_error;

constexpr double kPi = 3.14159265358979323846;
constexpr EvalMetric kMetrics[3] = {EvalMetric::BBox, EvalMetric::Bev, EvalMetric::Box3D};
constexpr EvalDifficulty kDifficulties[3] = {EvalDifficulty::Easy, EvalDifficulty::Moderate, EvalDifficulty::Hard};

using Frames = std::vector<std::vector<KittiObject>>;

// A fully visible object: bottom centre (x, y, z), sizes, rotation, 2D box (left, top, right, bottom).
KittiObject object(const std::string& type, double x, double z, std::array<float, 4> bbox, float l = 4.f,
                   float w = 2.f, float h = 1.5f, double ry = 0.0, double y = 1.5) {
  KittiObject o;
  o.type = type;
  o.bbox = bbox;
  o.l = l;
  o.w = w;
  o.h = h;
  o.x = static_cast<float>(x);
  o.y = static_cast<float>(y);
  o.z = static_cast<float>(z);
  o.rotation_y = static_cast<float>(ry);
  return o;
}

KittiObject detection(KittiObject o, float score) {
  o.has_score = true;
  o.score = score;
  return o;
}

// An easy car (2D height 100 px) and a far-away box elsewhere in the image.
KittiObject easy_car() { return object("Car", 0.0, 10.0, {100.f, 100.f, 200.f, 200.f}); }
KittiObject far_car() { return object("Car", 20.0, 40.0, {600.f, 100.f, 700.f, 200.f}); }

// `n` frames, each with one easy car detected exactly, scores 0.9 - 0.001 * frame (all distinct).
void perfect_cars(std::size_t n, Frames& gt, Frames& det) {
  gt.assign(n, {});
  det.assign(n, {});
  for (std::size_t f = 0; f < n; ++f) {
    gt[f].push_back(easy_car());
    det[f].push_back(detection(easy_car(), 0.9f - 0.001f * static_cast<float>(f)));
  }
}

EvalOptions cars_only() {
  EvalOptions o;
  o.classes = {"Car"};
  return o;
}

void expect_all(const EvalResult& r, const std::string& cls, double r11, double r40, const char* why) {
  for (EvalMetric m : kMetrics) {
    for (EvalDifficulty d : kDifficulties) {
      const ApResult a = r.at(cls, m, d);
      EXPECT_NEAR(a.ap_r11, r11, 1e-9) << why << ": " << cls << " " << to_string(m) << " " << to_string(d);
      EXPECT_NEAR(a.ap_r40, r40, 1e-9) << why << ": " << cls << " " << to_string(m) << " " << to_string(d);
    }
  }
}

// ---- overlaps ------------------------------------------------------------------------------------------------

TEST(EvalOverlap, IdenticalBoxesGiveOne) {
  for (double ry : {0.0, 0.3, -1.2, kPi / 2, 3.0}) {
    const KittiObject a = object("Car", 3.5, 21.0, {10.f, 20.f, 110.f, 90.f}, 4.2f, 1.7f, 1.5f, ry);
    EXPECT_NEAR(kitti_iou_bev(a, a), 1.0, 1e-12) << ry;
    EXPECT_NEAR(kitti_iou_3d(a, a), 1.0, 1e-12) << ry;
    EXPECT_NEAR(kitti_iou_bbox(a, a), 1.0, 1e-12) << ry;
  }
}

TEST(EvalOverlap, DisjointBoxesGiveZero) {
  const KittiObject a = object("Car", 0.0, 10.0, {0.f, 0.f, 50.f, 50.f});
  const KittiObject b = object("Car", 5.0, 10.0, {60.f, 0.f, 90.f, 50.f}, 4.f, 2.f, 1.5f, 0.7);
  EXPECT_EQ(kitti_iou_bev(a, b), 0.0);
  EXPECT_EQ(kitti_iou_3d(a, b), 0.0);
  EXPECT_EQ(kitti_iou_bbox(a, b), 0.0);
  // Same footprint, but one box above the other (camera y points down; a box spans [y - h, y]).
  const KittiObject high = object("Car", 0.0, 10.0, {0.f, 0.f, 50.f, 50.f}, 4.f, 2.f, 1.5f, 0.0, -0.5);
  EXPECT_NEAR(kitti_iou_bev(a, high), 1.0, 1e-12);
  EXPECT_EQ(kitti_iou_3d(a, high), 0.0);
  // Degenerate sizes never divide by zero.
  const KittiObject flat = object("Car", 0.0, 10.0, {0.f, 0.f, 0.f, 0.f}, 0.f, 0.f, 0.f);
  EXPECT_EQ(kitti_iou_bev(flat, flat), 0.0);
  EXPECT_EQ(kitti_iou_3d(flat, flat), 0.0);
  EXPECT_EQ(kitti_iou_bbox(flat, flat), 0.0);
}

TEST(EvalOverlap, RotatedRectanglesMatchAnalyticValues) {
  // A 4 x 2 rectangle and the same rotated by 90 degrees about its centre: a 2 x 2 square in common of 8 + 8 - 4.
  const KittiObject a = object("Car", 1.0, 7.0, {}, 4.f, 2.f, 1.5f, 0.0);
  const KittiObject b = object("Car", 1.0, 7.0, {}, 4.f, 2.f, 1.5f, kPi / 2);
  EXPECT_NEAR(kitti_iou_bev(a, b), 4.0 / 12.0, 1e-12);
  EXPECT_NEAR(kitti_iou_3d(a, b), 4.0 / 12.0, 1e-12);
  // Two 2 x 2 squares, one turned by 45 degrees: the common regular octagon has area 8 (sqrt 2 - 1), IoU 1/sqrt 2.
  const KittiObject s = object("Car", 0.0, 0.0, {}, 2.f, 2.f, 1.f, 0.0);
  const KittiObject t = object("Car", 0.0, 0.0, {}, 2.f, 2.f, 1.f, kPi / 4);
  EXPECT_NEAR(kitti_iou_bev(s, t), 1.0 / std::sqrt(2.0), 1e-12);
  // Shifted along the length by d: IoU (4 - d) / (4 + d).
  for (double d : {0.1, 0.65, 0.75, 2.0, 3.9}) {
    const KittiObject c = object("Car", 1.0 + d, 7.0, {}, 4.f, 2.f, 1.5f, 0.0);
    const double expected = (4.0 - static_cast<float>(1.0 + d) + 1.0) / (4.0 + static_cast<float>(1.0 + d) - 1.0);
    EXPECT_NEAR(kitti_iou_bev(a, c), expected, 1e-6) << d;
    EXPECT_NEAR(kitti_iou_bev(c, a), kitti_iou_bev(a, c), 1e-15) << d;
  }
}

TEST(EvalOverlap, HeightOffsetScalesThe3dOverlap) {
  // Same footprint, heights 2, bottoms 1 m apart: 1 m of 2 in common, IoU = A / (2A + 2A - A) = 1/3.
  const KittiObject a = object("Car", 0.0, 10.0, {}, 4.f, 2.f, 2.f, 0.4, 1.5);
  const KittiObject b = object("Car", 0.0, 10.0, {}, 4.f, 2.f, 2.f, 0.4, 0.5);
  EXPECT_NEAR(kitti_iou_bev(a, b), 1.0, 1e-12);
  EXPECT_NEAR(kitti_iou_3d(a, b), 1.0 / 3.0, 1e-12);
  // Different heights, same bottom: the smaller box lies inside the larger one.
  const KittiObject c = object("Car", 0.0, 10.0, {}, 4.f, 2.f, 1.f, 0.4, 1.5);
  EXPECT_NEAR(kitti_iou_3d(a, c), 0.5, 1e-12);
}

TEST(EvalOverlap, RotationIsAboutTheCameraYAxis) {
  // rotation_y turns the length axis from +x towards -z: (cos ry, -sin ry) in (x, z), as the KITTI devkit draws it.
  // A thin 6 m bar centred at (2, 2) with ry = -45 degrees runs along (1, 1) through the 4 x 2 box at the origin;
  // with ry = +45 degrees it runs along (1, -1) and misses it.
  const KittiObject box = object("Car", 0.0, 0.0, {}, 4.f, 2.f, 1.5f, 0.0);
  const KittiObject minus = object("Car", 2.0, 2.0, {}, 6.f, 0.1f, 1.5f, -kPi / 4);
  const KittiObject plus = object("Car", 2.0, 2.0, {}, 6.f, 0.1f, 1.5f, kPi / 4);
  EXPECT_GT(kitti_iou_bev(box, minus), 0.01);
  EXPECT_EQ(kitti_iou_bev(box, plus), 0.0);
}

TEST(EvalOverlap, BboxOverlapOfFirstIsIntersectionOverItsArea) {
  const KittiObject small = object("Car", 0, 0, {10.f, 10.f, 20.f, 20.f});
  const KittiObject large = object("DontCare", 0, 0, {0.f, 0.f, 100.f, 100.f});
  EXPECT_DOUBLE_EQ(kitti_bbox_overlap_of_first(small, large), 1.0);
  EXPECT_DOUBLE_EQ(kitti_bbox_overlap_of_first(large, small), 0.01);
  EXPECT_DOUBLE_EQ(kitti_iou_bbox(small, large), 0.01);
}

// ---- the protocol on hand-computed cases ---------------------------------------------------------------------

TEST(EvalProtocol, OnePerfectDetectionSitsAtTheFirstRecallSample) {
  // With a single ground-truth object the devkit's threshold list has one entry, so precision 1 fills only the first
  // of the 41 samples: R11 = 1/11, R40 = 0 (recall 0 is not one of the 40 points). A known property of the protocol.
  Frames gt, det;
  perfect_cars(1, gt, det);
  const EvalResult r = evaluate_kitti(gt, det, cars_only());
  expect_all(r, "Car", 100.0 / 11.0, 0.0, "1 GT");
  EXPECT_EQ(r.at("Car", EvalMetric::Box3D, EvalDifficulty::Easy).num_gt, 1u);
  // A false positive scoring above it halves that one sample.
  det[0].push_back(detection(far_car(), 0.95f));
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 50.0 / 11.0, 0.0, "1 GT + FP");
}

TEST(EvalProtocol, PerfectDetectionsNeedFortyOneObjectsForFullAp) {
  // n >= 41 objects found in score order: a threshold at every sample, precision 1 everywhere: 100.
  Frames gt, det;
  perfect_cars(41, gt, det);
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 100.0, 100.0, "41 GT");
  perfect_cars(200, gt, det);
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 100.0, 100.0, "200 GT");
  // 40 objects: 40 thresholds, the last sample (recall 1) stays 0: R11 10/11, R40 39/40.
  perfect_cars(40, gt, det);
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 1000.0 / 11.0, 97.5, "40 GT");
}

TEST(EvalProtocol, FalsePositiveAboveTrueOnesGivesTheHandComputedAp) {
  // 80 frames with one car each, found with scores s_0 > .. > s_79, and one false positive scoring between s_39 and
  // s_40. Thresholds (recall step 1/80, samples every 1/40): s_0, then s_1, s_3, .., s_79, i.e. sample j >= 1 at
  // 2j true positives. Samples 0..20 have no false positive above them (precision 1); samples 21..40 have it, with
  // precision 2j / (2j + 1) growing to 80/81 at j = 40, which the max-to-the-right interpolation gives all of them.
  // R40 = (20 + 20 * 80/81) / 40; R11 = samples 0, 4, .., 40: six of 1 (j <= 20), five of 80/81.
  Frames gt, det;
  perfect_cars(80, gt, det);
  const float between = 0.5f * (det[39][0].score + det[40][0].score);
  det[5].push_back(detection(far_car(), between));
  const EvalResult r = evaluate_kitti(gt, det, cars_only());
  const double p = 80.0 / 81.0;
  expect_all(r, "Car", (6.0 + 5.0 * p) / 11.0 * 100.0, (20.0 + 20.0 * p) / 40.0 * 100.0, "FP in the middle");
  // Above every true positive: every sample is 80/81.
  det[5].back().score = 0.99f;
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 100.0 * p, 100.0 * p, "FP on top");
  // Below every true positive: never counted at any threshold.
  det[5].back().score = 0.01f;
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 100.0, 100.0, "FP at the bottom");
}

TEST(EvalProtocol, MatchNeedsOverlapAboveTheClassMinimum) {
  // Shift along the length d: BEV and 3D IoU (4 - d) / (4 + d); 0.7 at d = 0.70588. The 2D boxes stay identical.
  for (const auto& [shift, matched] : {std::pair<double, bool>{0.65, true}, std::pair<double, bool>{0.75, false}}) {
    Frames gt, det;
    perfect_cars(41, gt, det);
    for (auto& frame : det) frame[0].x = static_cast<float>(shift);
    const EvalResult r = evaluate_kitti(gt, det, cars_only());
    for (EvalDifficulty d : kDifficulties) {
      EXPECT_NEAR(r.at("Car", EvalMetric::BBox, d).ap_r40, 100.0, 1e-9);
      EXPECT_NEAR(r.at("Car", EvalMetric::Bev, d).ap_r40, matched ? 100.0 : 0.0, 1e-9) << shift;
      EXPECT_NEAR(r.at("Car", EvalMetric::Box3D, d).ap_r40, matched ? 100.0 : 0.0, 1e-9) << shift;
    }
  }
  // Exactly at the minimum is not a match: a pedestrian whose 2D IoU is exactly 0.5 (the 3D box is exact).
  Frames gt(41), det(41);
  for (std::size_t f = 0; f < 41; ++f) {
    const KittiObject ped = object("Pedestrian", 0.0, 10.0, {100.f, 100.f, 150.f, 200.f}, 0.8f, 0.6f, 1.8f);
    KittiObject found = detection(ped, 0.9f - 0.001f * static_cast<float>(f));
    found.bbox = {100.f, 100.f, 200.f, 200.f};  // intersection 5000, union 10000
    gt[f].push_back(ped);
    det[f].push_back(found);
  }
  EvalOptions peds;
  peds.classes = {"Pedestrian"};
  const EvalResult r = evaluate_kitti(gt, det, peds);
  EXPECT_EQ(r.at("Pedestrian", EvalMetric::BBox, EvalDifficulty::Easy).ap_r40, 0.0);
  EXPECT_NEAR(r.at("Pedestrian", EvalMetric::Box3D, EvalDifficulty::Easy).ap_r40, 100.0, 1e-9);
}

TEST(EvalProtocol, DontCareRegionsAbsorbFalsePositives) {
  Frames gt, det;
  perfect_cars(41, gt, det);
  // A confident car detection inside a DontCare region (the 2D box entirely inside it), far from everything in 3D.
  det[3].push_back(detection(far_car(), 0.99f));
  const double one_fp = 100.0 * 41.0 / 42.0;  // 41 thresholds, each with the false positive above it
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", one_fp, one_fp, "FP without DontCare");
  KittiObject dc = object("DontCare", -1000, -1000, {590.f, 90.f, 720.f, 210.f}, -1.f, -1.f, -1.f, -10.0, -1000);
  gt[3].push_back(dc);
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", 100.0, 100.0, "FP in DontCare (devkit)");
  // OpenPCDet's variant uses DontCare in the bbox metric only.
  EvalOptions bbox_only = cars_only();
  bbox_only.dontcare_all_metrics = false;
  const EvalResult r = evaluate_kitti(gt, det, bbox_only);
  for (EvalDifficulty d : kDifficulties) {
    EXPECT_NEAR(r.at("Car", EvalMetric::BBox, d).ap_r40, 100.0, 1e-9);
    EXPECT_NEAR(r.at("Car", EvalMetric::Bev, d).ap_r40, one_fp, 1e-9);
    EXPECT_NEAR(r.at("Car", EvalMetric::Box3D, d).ap_r40, one_fp, 1e-9);
  }
  // A detection only half inside the region (overlap of its own area 0.5 < 0.7) stays a false positive.
  gt[3].back().bbox = {650.f, 90.f, 720.f, 210.f};
  expect_all(evaluate_kitti(gt, det, cars_only()), "Car", one_fp, one_fp, "FP half in DontCare");
}

TEST(EvalProtocol, DifficultiesFollowHeightOcclusionAndTruncation) {
  Frames gt, det;
  perfect_cars(41, gt, det);
  // Heavily occluded (2): counts for hard only. Found with the top score: absorbed at easy and moderate.
  KittiObject occluded = object("Car", -8.0, 30.0, {300.f, 100.f, 400.f, 200.f});
  occluded.occluded = 2;
  gt[0].push_back(occluded);
  det[0].push_back(detection(occluded, 0.99f));
  EvalResult r = evaluate_kitti(gt, det, cars_only());
  EXPECT_EQ(r.at("Car", EvalMetric::Bev, EvalDifficulty::Easy).num_gt, 41u);
  EXPECT_EQ(r.at("Car", EvalMetric::Bev, EvalDifficulty::Moderate).num_gt, 41u);
  EXPECT_EQ(r.at("Car", EvalMetric::Bev, EvalDifficulty::Hard).num_gt, 42u);
  expect_all(r, "Car", 100.0, 100.0, "hard-only object found");
  // Missed, it is a false negative at hard only.
  det[0].pop_back();
  r = evaluate_kitti(gt, det, cars_only());
  for (EvalMetric m : kMetrics) {
    EXPECT_NEAR(r.at("Car", m, EvalDifficulty::Easy).ap_r40, 100.0, 1e-9);
    EXPECT_NEAR(r.at("Car", m, EvalDifficulty::Moderate).ap_r40, 100.0, 1e-9);
    EXPECT_LT(r.at("Car", m, EvalDifficulty::Hard).ap_r40, 100.0);
  }
  gt[0].pop_back();

  // Height: the ground truth must be taller than 40 / 25 px; truncation at most 0.15 / 0.3 / 0.5.
  struct Case {
    float height, truncation;
    std::size_t easy, moderate, hard;
  };
  for (const Case& c : {Case{40.5f, 0.f, 1, 1, 1}, Case{40.f, 0.f, 0, 1, 1}, Case{25.f, 0.f, 0, 0, 0},
                        Case{60.f, 0.15f, 1, 1, 1}, Case{60.f, 0.2f, 0, 1, 1}, Case{60.f, 0.4f, 0, 0, 1},
                        Case{60.f, 0.6f, 0, 0, 0}}) {
    KittiObject o = object("Car", 0.0, 10.0, {100.f, 100.f, 200.f, 100.f + c.height});
    o.truncated = c.truncation;
    const EvalResult one = evaluate_kitti({{o}}, {{}}, cars_only());
    EXPECT_EQ(one.at("Car", EvalMetric::BBox, EvalDifficulty::Easy).num_gt, c.easy) << c.height << " " << c.truncation;
    EXPECT_EQ(one.at("Car", EvalMetric::BBox, EvalDifficulty::Moderate).num_gt, c.moderate);
    EXPECT_EQ(one.at("Car", EvalMetric::BBox, EvalDifficulty::Hard).num_gt, c.hard);
  }
}

TEST(EvalProtocol, SmallDetectionsAreIgnoredNotFalsePositives) {
  Frames gt, det;
  perfect_cars(41, gt, det);
  // A confident false positive 30 px tall: below easy's 40 px (ignored there), a false positive at moderate/hard.
  KittiObject small = far_car();
  small.bbox = {600.f, 100.f, 700.f, 130.f};
  det[0].push_back(detection(small, 0.99f));
  const EvalResult r = evaluate_kitti(gt, det, cars_only());
  for (EvalMetric m : kMetrics) {
    EXPECT_NEAR(r.at("Car", m, EvalDifficulty::Easy).ap_r40, 100.0, 1e-9);
    EXPECT_NEAR(r.at("Car", m, EvalDifficulty::Moderate).ap_r40, 100.0 * 41.0 / 42.0, 1e-9);
    EXPECT_EQ(r.at("Car", m, EvalDifficulty::Easy).num_det, 41u);
    EXPECT_EQ(r.at("Car", m, EvalDifficulty::Moderate).num_det, 42u);
  }
}

TEST(EvalProtocol, NeighbouringClassesAreNotPenalised) {
  Frames gt, det;
  perfect_cars(41, gt, det);
  // A van in the ground truth detected as a car with the top score: ignored, not a false positive.
  const KittiObject van = object("Van", -8.0, 30.0, {300.f, 100.f, 400.f, 200.f}, 5.f, 2.f, 2.f);
  gt[1].push_back(van);
  KittiObject as_car = van;
  as_car.type = "Car";
  det[1].push_back(detection(as_car, 0.99f));
  // And a "Van" detection somewhere: not a Car detection at all.
  KittiObject van_det = far_car();
  van_det.type = "Van";
  det[2].push_back(detection(van_det, 0.98f));
  EvalResult r = evaluate_kitti(gt, det, cars_only());
  expect_all(r, "Car", 100.0, 100.0, "van");
  EXPECT_EQ(r.at("Car", EvalMetric::Box3D, EvalDifficulty::Easy).num_gt, 41u);
  // A truck is no neighbour of Car: the same detection on a truck is a false positive.
  gt[1].back().type = "Truck";
  r = evaluate_kitti(gt, det, cars_only());
  expect_all(r, "Car", 100.0 * 41.0 / 42.0, 100.0 * 41.0 / 42.0, "truck");
  // Person_sitting is Pedestrian's neighbour.
  Frames pgt(41), pdet(41);
  for (std::size_t f = 0; f < 41; ++f) {
    const KittiObject ped = object("pedestrian", 0.0, 10.0, {100.f, 100.f, 150.f, 200.f}, 0.8f, 0.6f, 1.8f);
    pgt[f].push_back(ped);
    pdet[f].push_back(detection(ped, 0.9f - 0.001f * static_cast<float>(f)));
  }
  const KittiObject sitting = object("Person_sitting", 3.0, 10.0, {300.f, 100.f, 350.f, 200.f}, 0.8f, 0.6f, 1.2f);
  pgt[0].push_back(sitting);
  KittiObject sitting_det = sitting;
  sitting_det.type = "Pedestrian";
  pdet[0].push_back(detection(sitting_det, 0.99f));
  EvalOptions peds;
  peds.classes = {"Pedestrian"};
  expect_all(evaluate_kitti(pgt, pdet, peds), "Pedestrian", 100.0, 100.0, "person sitting (and lower-case types)");
}

TEST(EvalProtocol, NoGroundTruthGivesZeroWithZeroCount) {
  Frames gt(3), det(3);
  det[0].push_back(detection(far_car(), 0.5f));
  const EvalResult r = evaluate_kitti(gt, det);
  ASSERT_EQ(r.results.size(), 27u);
  for (const ApResult& a : r.results) {
    EXPECT_EQ(a.num_gt, 0u);
    EXPECT_EQ(a.ap_r40, 0.0);
    EXPECT_EQ(a.ap_r11, 0.0);
  }
  EXPECT_NE(format_eval_table(r).find("| Car | bbox | - | - | - | - | - | - | 0/0/0 |"), std::string::npos)
      << format_eval_table(r);
  EXPECT_NE(eval_to_json(r).find("\"ap_r40\": null"), std::string::npos);
}

TEST(EvalProtocol, RefusesBadInput) {
  Frames gt(2), det(1);
  expect_error([&] { evaluate_kitti(gt, det); }, {"2 ground-truth frames but 1 detection frames"});
  det.resize(2);
  det[1].push_back(far_car());  // no score
  expect_error([&] { evaluate_kitti(gt, det); }, {"frame 1 detection 0", "has no score"});
  det[1].clear();
  EvalOptions o;
  o.classes = {"Car", "Tram"};
  expect_error([&] { evaluate_kitti(gt, det, o); }, {"class Tram", "no minimum overlap"});
  o.classes = {"Car", "car"};
  expect_error([&] { evaluate_kitti(gt, det, o); }, {"listed twice"});
  o.classes = {"Car"};
  o.min_overlap["Car"] = {0.7, 1.5, 0.7};
  expect_error([&] { evaluate_kitti(gt, det, o); }, {"class Car", "(0, 1]"});
}

// ---- properties on the shared real labels --------------------------------------------------------------------

std::string label_path(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "/kitti/training/label_2/%06d.txt", i);
  return testing::shared_data_dir() + buf;
}

// The shared labels of frames 000000..000005, repeated `copies` times (so that every class/difficulty with ground
// truth has at least 41 objects), with perfect predictions (every non-DontCare object, distinct scores).
void shared_perfect(int copies, Frames& gt, Frames& det) {
  gt.clear();
  det.clear();
  float score = 0.999f;
  for (int c = 0; c < copies; ++c) {
    for (int i = 0; i <= 5; ++i) {
      gt.push_back(read_kitti_labels(label_path(i)));
      det.emplace_back();
      for (const KittiObject& o : gt.back()) {
        if (o.type == "DontCare") continue;
        det.back().push_back(detection(o, score));
        score -= 0.0005f;
      }
    }
  }
}

TEST(EvalShared, PerfectPredictionsGiveFullApWhereThereIsGroundTruth) {
  POINTRT_REQUIRE_SHARED_DATA();
  Frames gt, det;
  shared_perfect(41, gt, det);
  const EvalResult r = evaluate_kitti(gt, det);
  std::size_t with_gt = 0;
  for (const ApResult& a : r.results) {
    if (a.num_gt == 0) continue;
    ++with_gt;
    EXPECT_NEAR(a.ap_r40, 100.0, 1e-9) << a.class_name << " " << to_string(a.metric) << " " << to_string(a.difficulty);
    EXPECT_NEAR(a.ap_r11, 100.0, 1e-9) << a.class_name << " " << to_string(a.metric) << " " << to_string(a.difficulty);
  }
  // Cars at every difficulty and pedestrians are in these frames.
  EXPECT_GT(r.at("Car", EvalMetric::Box3D, EvalDifficulty::Easy).num_gt, 0u);
  EXPECT_GT(r.at("Car", EvalMetric::Box3D, EvalDifficulty::Moderate).num_gt,
            r.at("Car", EvalMetric::Box3D, EvalDifficulty::Easy).num_gt);
  EXPECT_GT(r.at("Pedestrian", EvalMetric::Box3D, EvalDifficulty::Easy).num_gt, 0u);
  EXPECT_GE(with_gt, 15u);
}

TEST(EvalShared, FalsePositivesAboveTruePositivesLowerAp) {
  POINTRT_REQUIRE_SHARED_DATA();
  Frames gt, det;
  shared_perfect(41, gt, det);
  // Confident false positives: cars in empty places of the image and the scene, one every 10 frames.
  for (std::size_t f = 0; f < det.size(); f += 10) {
    KittiObject fp = object("Car", 30.0, 5.0, {1000.f, 300.f, 1100.f, 370.f});
    det[f].push_back(detection(fp, 0.5f));
  }
  // Lowering the scores of some true positives below the false positives lowers AP further.
  auto moderate_car = [](const EvalResult& r) { return r.at("Car", EvalMetric::Box3D, EvalDifficulty::Moderate); };
  const EvalResult base = evaluate_kitti(gt, det);  // all true positives score above 0.5
  EXPECT_NEAR(moderate_car(base).ap_r40, 100.0, 1e-9);
  Frames lowered = det;
  std::size_t changed = 0;
  for (std::size_t f = 0; f < lowered.size(); f += 3) {
    for (KittiObject& o : lowered[f]) {
      if (o.type == "Car" && o.score > 0.5f) {
        o.score = 0.1f + 0.0001f * static_cast<float>(f);
        ++changed;
      }
    }
  }
  ASSERT_GT(changed, 0u);
  const EvalResult worse = evaluate_kitti(gt, lowered);
  EXPECT_LT(moderate_car(worse).ap_r40, 100.0);
  EXPECT_LT(moderate_car(worse).ap_r11, 100.0);
  for (auto& frame : lowered) {
    for (KittiObject& o : frame) {
      if (o.type == "Car" && o.score > 0.5f) o.score = 0.2f;
    }
  }
  const EvalResult worst = evaluate_kitti(gt, lowered);
  EXPECT_LT(moderate_car(worst).ap_r40, moderate_car(worse).ap_r40);
  // Pedestrians are untouched.
  EXPECT_NEAR(worst.at("Pedestrian", EvalMetric::Box3D, EvalDifficulty::Easy).ap_r40, 100.0, 1e-9);
}

TEST(EvalShared, ApDoesNotDependOnTheOrderOfLinesOrFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  Frames gt, det;
  shared_perfect(8, gt, det);  // fewer copies: AP below 100 here, so the comparison means something
  for (std::size_t f = 0; f < det.size(); f += 4) {
    det[f].push_back(detection(object("Car", 30.0, 5.0, {1000.f, 300.f, 1100.f, 370.f}), 0.9f));
  }
  for (std::size_t f = 1; f < det.size(); f += 5) {
    for (KittiObject& o : det[f]) o.score *= 0.5f;
  }
  const EvalResult a = evaluate_kitti(gt, det);
  std::mt19937 rng(1234);
  Frames gt2 = gt, det2 = det;
  for (auto& frame : gt2) std::shuffle(frame.begin(), frame.end(), rng);
  for (auto& frame : det2) std::shuffle(frame.begin(), frame.end(), rng);
  std::vector<std::size_t> order(gt2.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  Frames gt3, det3;
  for (std::size_t i : order) {
    gt3.push_back(gt2[i]);
    det3.push_back(det2[i]);
  }
  const EvalResult b = evaluate_kitti(gt3, det3);
  ASSERT_EQ(a.results.size(), b.results.size());
  bool some_below_full = false;
  for (std::size_t i = 0; i < a.results.size(); ++i) {
    EXPECT_DOUBLE_EQ(a.results[i].ap_r40, b.results[i].ap_r40) << i;
    EXPECT_DOUBLE_EQ(a.results[i].ap_r11, b.results[i].ap_r11) << i;
    EXPECT_EQ(a.results[i].num_gt, b.results[i].num_gt) << i;
    some_below_full |= a.results[i].num_gt > 0 && a.results[i].ap_r40 < 99.0 && a.results[i].ap_r40 > 1.0;
  }
  EXPECT_TRUE(some_below_full);
}

// ---- label directories ---------------------------------------------------------------------------------------

std::string with_scores(const std::string& text, float score) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.rfind("DontCare", 0) == 0) continue;
    out += line + " " + std::to_string(score) + "\n";
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(EvalDirs, EvaluatesLabelDirectories) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string root = testing::make_temp_dir("eval_dirs");
  const std::string gt_dir = root + "/gt", pred_dir = root + "/pred";
  std::filesystem::create_directories(gt_dir);
  std::filesystem::create_directories(pred_dir);
  for (int c = 0; c < 41; ++c) {
    for (int i = 0; i <= 5; ++i) {
      const std::string text = read_text(label_path(i));
      const std::string name = "/" + std::to_string(c * 10 + i) + ".txt";
      testing::write_file(gt_dir + name, text);
      testing::write_file(pred_dir + name, with_scores(text, 0.9f));
    }
  }
  testing::write_file(pred_dir + "/extra.txt", "");
  testing::write_file(pred_dir + "/notes.md", "not a label file");
  EvalResult r = evaluate_kitti_dirs(pred_dir, gt_dir);
  EXPECT_EQ(r.num_frames, 246u);
  EXPECT_EQ(r.frames_without_predictions, 0u);
  ASSERT_EQ(r.unmatched_predictions.size(), 1u);
  EXPECT_EQ(r.unmatched_predictions[0], "extra.txt");
  for (const ApResult& a : r.results) {
    if (a.num_gt > 0) {
      EXPECT_NEAR(a.ap_r40, 100.0, 1e-9) << a.class_name << to_string(a.metric);
    }
  }
  // A missing prediction file is a frame without detections (frame 000003 holds the only easy car).
  std::filesystem::remove(pred_dir + "/3.txt");
  r = evaluate_kitti_dirs(pred_dir, gt_dir);
  EXPECT_EQ(r.frames_without_predictions, 1u);
  EXPECT_LT(r.at("Car", EvalMetric::BBox, EvalDifficulty::Easy).ap_r40, 100.0);
}

TEST(EvalDirs, ErrorsNameTheInput) {
  const std::string root = testing::make_temp_dir("eval_dirs_bad");
  const std::string gt_dir = root + "/gt", pred_dir = root + "/pred";
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); }, {gt_dir, "ground-truth directory does not exist"});
  std::filesystem::create_directories(gt_dir);
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); }, {gt_dir, "no ground-truth label files"});
  const std::string line = "Car 0.00 0 0.0 100.00 100.00 200.00 200.00 1.50 2.00 4.00 0.00 1.50 10.00 0.00";
  testing::write_file(gt_dir + "/000000.txt", line + "\n");
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); }, {pred_dir, "prediction directory does not exist"});
  std::filesystem::create_directories(pred_dir);
  testing::write_file(pred_dir + "/000000.txt", "\n" + line + " 0.9\nCar 1 2 3\n");
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); },
               {pred_dir + "/000000.txt:3", "expected 15 or 16 columns"});
  testing::write_file(pred_dir + "/000000.txt", line + " 0.9\n\n" + line + "\n");
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); }, {pred_dir + "/000000.txt:3", "16 columns"});
  testing::write_file(pred_dir + "/000000.txt", line + " 0.9\n");
  testing::write_file(gt_dir + "/000001.txt", "Car x\n");
  expect_error([&] { evaluate_kitti_dirs(pred_dir, gt_dir); }, {gt_dir + "/000001.txt:1"});
  testing::write_file(gt_dir + "/000001.txt", "");
  const EvalResult r = evaluate_kitti_dirs(pred_dir, gt_dir);
  EXPECT_EQ(r.num_frames, 2u);
  EXPECT_EQ(r.frames_without_predictions, 1u);
}

}  // namespace
}  // namespace pointrt
