// KITTI calib / label_2 reading and writing, and the LiDAR box <-> KITTI object geometry, checked against the
// shared real KITTI frames 000000..000005 (labels, calib and full velodyne scans).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "pointrt/detection.h"
#include "pointrt/error.h"
#include "support/test_data.h"

namespace pointrt {
namespace {

using pointrt::testing::expect_error;

constexpr double kPi = 3.14159265358979323846;

std::string kitti_dir() { return testing::shared_data_dir() + "/kitti/training"; }
std::string frame_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06d", i);
  return buf;
}
std::string calib_path(int i) { return kitti_dir() + "/calib/" + frame_name(i) + ".txt"; }
std::string label_path(int i) { return kitti_dir() + "/label_2/" + frame_name(i) + ".txt"; }
std::string velodyne_path(int i) { return kitti_dir() + "/velodyne/" + frame_name(i) + ".bin"; }
// Image sizes of the shared frames (000000 is 1224x370, the others 1242x375; see shared/data/README.md).
ImageSize image_of(int i) { return i == 0 ? ImageSize{1224, 370} : ImageSize{1242, 375}; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// float32 x, y, z, intensity records.
std::vector<float> read_points(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  in.seekg(0, std::ios::end);
  const auto bytes = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  EXPECT_EQ(bytes % 16, 0u) << path;
  std::vector<float> values(bytes / sizeof(float));
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
  return values;
}

// Points inside a LiDAR box: each point rotated into the box frame, |local| <= size / 2 on every axis.
int count_inside(const std::vector<float>& points, const Box3D& b) {
  const double c = std::cos(static_cast<double>(b.heading)), s = std::sin(static_cast<double>(b.heading));
  int n = 0;
  for (std::size_t i = 0; i + 3 < points.size(); i += 4) {
    const double px = points[i] - static_cast<double>(b.x);
    const double py = points[i + 1] - static_cast<double>(b.y);
    const double pz = points[i + 2] - static_cast<double>(b.z);
    const double lx = c * px + s * py;   // rotation by -heading
    const double ly = -s * px + c * py;
    if (std::abs(lx) <= b.dx / 2.0 && std::abs(ly) <= b.dy / 2.0 && std::abs(pz) <= b.dz / 2.0) ++n;
  }
  return n;
}

// |a - b| modulo 2*pi.
double angle_diff(double a, double b) {
  const double d = std::fmod(std::abs(a - b), 2 * kPi);
  return std::min(d, 2 * kPi - d);
}


// ---- round trip over the shared labels ------------------------------------------------------------------------

TEST(KittiLabel, RoundTripAllSharedLabelsThroughLidarBoxes) {
  POINTRT_REQUIRE_SHARED_DATA();
  double max_err = 0, max_angle_err = 0, max_alpha_dev = 0;
  int checked = 0;
  for (int f = 0; f < 6; ++f) {
    const KittiCalib calib = read_kitti_calib(calib_path(f));
    const std::vector<KittiObject> labels = read_kitti_labels(label_path(f));
    ASSERT_FALSE(labels.empty()) << label_path(f);
    for (const KittiObject& o : labels) {
      EXPECT_FALSE(o.has_score);
      if (o.type == "DontCare") continue;
      const Box3D box = to_lidar_box(o, calib);
      EXPECT_EQ(box.dx, o.l);
      EXPECT_EQ(box.dy, o.w);
      EXPECT_EQ(box.dz, o.h);
      EXPECT_GE(box.heading, -kPi);
      EXPECT_LE(box.heading, kPi);
      Detection det;
      det.box = box;
      det.score = 0.75f;
      det.label = 1;
      const KittiObject k = to_kitti_object(det, o.type, calib, image_of(f));
      EXPECT_EQ(k.type, o.type);
      EXPECT_TRUE(k.has_score);
      EXPECT_EQ(k.score, 0.75f);
      EXPECT_EQ(k.truncated, 0.f);
      EXPECT_EQ(k.occluded, 0);
      const double errs[] = {std::abs(k.h - o.h), std::abs(k.w - o.w), std::abs(k.l - o.l),
                             std::abs(k.x - o.x), std::abs(k.y - o.y), std::abs(k.z - o.z)};
      for (double e : errs) {
        EXPECT_LE(e, 1e-4) << label_path(f) << " " << o.type;
        max_err = std::max(max_err, e);
      }
      const double ea = angle_diff(k.rotation_y, o.rotation_y);
      EXPECT_LE(ea, 1e-4) << label_path(f) << " " << o.type;
      max_angle_err = std::max(max_angle_err, ea);
      EXPECT_GE(k.rotation_y, -kPi);
      EXPECT_LT(k.rotation_y, kPi);
      // alpha = rotation_y - atan2(x, z). The GT alpha (2 decimals) was made by KITTI's own tools, which differ
      // slightly (up to 0.0112 rad here, 000002 Misc at 8.6 m; likely another reference point for the viewing
      // ray), so this is a sanity check of sign and convention, not an exact comparison.
      const double alpha_err = angle_diff(k.alpha, o.alpha);
      EXPECT_LE(alpha_err, 0.015) << label_path(f) << " " << o.type;
      max_alpha_dev = std::max(max_alpha_dev, alpha_err);
      ++checked;
    }
  }
  // 10 objects that are not DontCare in the six frames (shared/data/README.md).
  EXPECT_EQ(checked, 10);
  std::cout << "max round-trip error: position/size " << max_err << " m, rotation_y " << max_angle_err
            << " rad; largest alpha deviation from the GT " << max_alpha_dev << " rad\n";
}

void expect_same_objects(const std::vector<KittiObject>& a, const std::vector<KittiObject>& b, double bbox_tol) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].type, b[i].type);
    EXPECT_EQ(a[i].occluded, b[i].occluded);
    EXPECT_EQ(a[i].has_score, b[i].has_score);
    EXPECT_NEAR(a[i].truncated, b[i].truncated, 0.005 + 1e-6);
    EXPECT_NEAR(a[i].alpha, b[i].alpha, 1e-4);
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(a[i].bbox[j], b[i].bbox[j], bbox_tol);
    EXPECT_NEAR(a[i].h, b[i].h, 1e-4);
    EXPECT_NEAR(a[i].w, b[i].w, 1e-4);
    EXPECT_NEAR(a[i].l, b[i].l, 1e-4);
    EXPECT_NEAR(a[i].x, b[i].x, 1e-4);
    EXPECT_NEAR(a[i].y, b[i].y, 1e-4);
    EXPECT_NEAR(a[i].z, b[i].z, 1e-4);
    EXPECT_NEAR(a[i].rotation_y, b[i].rotation_y, 1e-4);
    EXPECT_NEAR(a[i].score, b[i].score, 1e-6);
  }
}

TEST(KittiLabel, FormatThenParseGivesTheSameObjects) {
  POINTRT_REQUIRE_SHARED_DATA();
  for (int f = 0; f < 6; ++f) {
    const KittiCalib calib = read_kitti_calib(calib_path(f));
    const std::vector<KittiObject> labels = read_kitti_labels(label_path(f));
    // Ground truth (15 columns, 2-decimal values): formatting and parsing back is exact up to float rounding.
    const std::string gt_text = format_kitti_labels(labels);
    expect_same_objects(parse_kitti_labels(gt_text, "gt"), labels, 1e-4);
    // Every line of the ground truth formats to 15 columns.
    for (const KittiObject& o : parse_kitti_labels(gt_text, "gt")) EXPECT_FALSE(o.has_score);

    // Detections (16 columns, bbox with many decimals): bbox is written with 2 decimals, so it comes back within
    // 0.005 px; everything else within 1e-4.
    std::vector<KittiObject> dets;
    for (const KittiObject& o : labels) {
      if (o.type == "DontCare") continue;
      Detection d;
      d.box = to_lidar_box(o, calib);
      d.score = 0.123456f;
      dets.push_back(to_kitti_object(d, o.type, calib, image_of(f)));
    }
    const std::string det_text = format_kitti_labels(dets);
    const std::vector<KittiObject> back = parse_kitti_labels(det_text, "det");
    expect_same_objects(back, dets, 0.005 + 1e-4);
    for (const KittiObject& o : back) EXPECT_TRUE(o.has_score);
  }
}

TEST(KittiLabel, FormatUsesTheDocumentedColumns) {
  KittiObject o;
  o.type = "Car";
  o.truncated = 0.5f;
  o.occluded = 2;
  o.alpha = -1.5f;
  o.bbox = {10.f, 20.f, 30.5f, 40.25f};
  o.h = 1.5f;
  o.w = 1.6f;
  o.l = 3.9f;
  o.x = -2.f;
  o.y = 1.7f;
  o.z = 20.f;
  o.rotation_y = 0.25f;
  EXPECT_EQ(format_kitti_labels({o}),
            "Car 0.50 2 -1.5000 10.00 20.00 30.50 40.25 1.5000 1.6000 3.9000 -2.0000 1.7000 20.0000 0.2500\n");
  o.has_score = true;
  o.score = 0.5f;
  EXPECT_EQ(format_kitti_labels({o}),
            "Car 0.50 2 -1.5000 10.00 20.00 30.50 40.25 1.5000 1.6000 3.9000 -2.0000 1.7000 20.0000 0.2500 "
            "0.500000\n");
  EXPECT_EQ(format_kitti_labels({}), "");

  o.type = "Big Car";
  expect_error([&] { format_kitti_labels({o}); }, {"Big Car", "whitespace"});
  o.type = "Car";
  o.h = std::nanf("");
  expect_error([&] { format_kitti_labels({o}); }, {"object 0", "non-finite"});
}

TEST(KittiLabel, WriteThenReadBack) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string dir = testing::make_temp_dir("kitti_label_write");
  const std::vector<KittiObject> labels = read_kitti_labels(label_path(1));
  const std::string path = dir + "/000001.txt";
  write_kitti_labels(path, labels);
  expect_same_objects(read_kitti_labels(path), labels, 1e-4);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // Overwriting an existing file works too.
  write_kitti_labels(path, {});
  EXPECT_TRUE(read_kitti_labels(path).empty());
  std::filesystem::remove_all(dir);
}

// ---- consistency with the real scans --------------------------------------------------------------------------

TEST(KittiLabel, LidarBoxesContainTheDocumentedPointCounts) {
  POINTRT_REQUIRE_SHARED_DATA();
  struct Expected {
    int frame;
    const char* type;
    double distance;  // metres, horizontal distance of the box centre from the sensor
    int points;
  };
  // shared/data/README.md, section 1 (DontCare omitted), in label-file order. The counts match exactly: no
  // boundary tolerance is needed.
  const Expected expected[] = {
      {0, "Pedestrian", 8.9, 377}, {1, "Truck", 69.7, 71}, {1, "Car", 61.1, 9}, {1, "Cyclist", 46.4, 18},
      {2, "Misc", 9.4, 1349},      {2, "Car", 34.8, 67},   {3, "Car", 13.5, 674}, {4, "Car", 41.6, 78},
      {4, "Car", 53.9, 26},        {5, "Pedestrian", 24.8, 70},
  };
  std::size_t next = 0;
  for (int f = 0; f < 6; ++f) {
    const KittiCalib calib = read_kitti_calib(calib_path(f));
    const std::vector<float> points = read_points(velodyne_path(f));
    for (const KittiObject& o : read_kitti_labels(label_path(f))) {
      if (o.type == "DontCare") continue;
      ASSERT_LT(next, std::size(expected));
      const Expected& e = expected[next++];
      ASSERT_EQ(e.frame, f);
      EXPECT_EQ(o.type, e.type);
      const Box3D box = to_lidar_box(o, calib);
      EXPECT_NEAR(std::hypot(box.x, box.y), e.distance, 0.05) << frame_name(f) << " " << o.type;
      EXPECT_EQ(count_inside(points, box), e.points) << frame_name(f) << " " << o.type;
    }
  }
  EXPECT_EQ(next, std::size(expected));
}

// ---- 2D boxes -------------------------------------------------------------------------------------------------

// The projected 3D box vs the hand-annotated 2D box of every fully visible (truncated == 0) object. The 3D box's
// projection encloses the whole cuboid while annotators draw the visible object outline, so the projection tends
// to be a little larger. Tolerance per side: 4 px + 10% of the labelled box's size along that axis. (Measured on
// the shared frames: the largest deviation is printed below; it is well inside the tolerance.)
TEST(KittiLabel, ProjectedBoxesMatchTheAnnotated2DBoxes) {
  POINTRT_REQUIRE_SHARED_DATA();
  int checked = 0;
  double worst_ratio = 0;  // largest |difference| / tolerance
  for (int f = 0; f < 6; ++f) {
    const KittiCalib calib = read_kitti_calib(calib_path(f));
    for (const KittiObject& o : read_kitti_labels(label_path(f))) {
      if (o.type == "DontCare" || o.truncated != 0.f) continue;
      Detection d;
      d.box = to_lidar_box(o, calib);
      d.score = 1.f;
      const KittiObject k = to_kitti_object(d, o.type, calib, image_of(f));
      const double bw = o.bbox[2] - o.bbox[0], bh = o.bbox[3] - o.bbox[1];
      const double tol[4] = {4 + 0.1 * bw, 4 + 0.1 * bh, 4 + 0.1 * bw, 4 + 0.1 * bh};
      std::cout << frame_name(f) << " " << o.type << " label bbox (" << o.bbox[0] << ", " << o.bbox[1] << ", "
                << o.bbox[2] << ", " << o.bbox[3] << ") projected (" << k.bbox[0] << ", " << k.bbox[1] << ", "
                << k.bbox[2] << ", " << k.bbox[3] << ")\n";
      for (int j = 0; j < 4; ++j) {
        const double diff = std::abs(static_cast<double>(k.bbox[j]) - o.bbox[j]);
        EXPECT_LE(diff, tol[j]) << frame_name(f) << " " << o.type << " side " << j;
        worst_ratio = std::max(worst_ratio, diff / tol[j]);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 10);
  std::cout << "largest 2D-box deviation: " << worst_ratio << " of the tolerance\n";
}

KittiCalib shared_calib() { return read_kitti_calib(calib_path(1)); }

Detection box_at(float x, float y, float z, float dx, float dy, float dz, float heading) {
  Detection d;
  d.box = Box3D{x, y, z, dx, dy, dz, heading};
  d.score = 0.5f;
  d.label = 1;
  return d;
}

TEST(KittiLabel, BoxStraddlingTheCameraPlaneGetsAClippedFiniteBox) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib calib = shared_calib();
  const ImageSize image{1242, 375};
  // The camera is ~0.27 m ahead of the LiDAR: a 6 m long box centred on the LiDAR straddles the camera plane.
  const KittiObject k = to_kitti_object(box_at(0.f, 0.f, -1.f, 6.f, 2.f, 1.5f, 0.f), "Car", calib, image);
  for (float v : k.bbox) EXPECT_TRUE(std::isfinite(v));
  EXPECT_GE(k.bbox[0], 0.f);
  EXPECT_GE(k.bbox[1], 0.f);
  EXPECT_LE(k.bbox[2], 1241.f);
  EXPECT_LE(k.bbox[3], 374.f);
  EXPECT_LT(k.bbox[0], k.bbox[2]);
  EXPECT_LT(k.bbox[1], k.bbox[3]);
  // The box surrounds the camera sideways and its near-plane section spans the whole image width; its top is
  // ~0.2 m below the LiDAR (z = -0.25), so the box covers the lower part of the image down to the bottom edge.
  EXPECT_EQ(k.bbox[0], 0.f);
  EXPECT_EQ(k.bbox[2], 1241.f);
  EXPECT_EQ(k.bbox[3], 374.f);

  // Same box rotated by 90 degrees: still straddling, still finite and inside the image.
  const KittiObject r = to_kitti_object(box_at(0.f, 0.f, -1.f, 6.f, 2.f, 1.5f, 1.5707964f), "Car", calib, image);
  for (float v : r.bbox) EXPECT_TRUE(std::isfinite(v));
  EXPECT_LT(r.bbox[0], r.bbox[2]);
  EXPECT_LT(r.bbox[1], r.bbox[3]);
  EXPECT_LE(r.bbox[2], 1241.f);
}

TEST(KittiLabel, BoxBehindTheCameraGetsAnEmptyBox) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib calib = shared_calib();
  const KittiObject k = to_kitti_object(box_at(-10.f, 1.f, -1.f, 4.f, 1.8f, 1.5f, 0.3f), "Car", calib);
  EXPECT_EQ(k.bbox, (std::array<float, 4>{0.f, 0.f, 0.f, 0.f}));
  // The 3D part is still converted (behind the camera: negative depth).
  EXPECT_LT(k.z, 0.f);
  EXPECT_NEAR(k.l, 4.f, 0.f);
}

TEST(KittiLabel, BoxInFrontButOutsideTheImageIsClippedToTheEdge) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib calib = shared_calib();
  // 10 m ahead, 30 m to the left: projects left of the image, so the box collapses onto the left edge.
  const KittiObject k = to_kitti_object(box_at(10.f, 30.f, -1.f, 4.f, 1.8f, 1.5f, 0.f), "Car", calib);
  EXPECT_EQ(k.bbox[0], 0.f);
  EXPECT_EQ(k.bbox[2], 0.f);
}

TEST(KittiLabel, BoxAheadProjectsAroundItsCentre) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib calib = shared_calib();
  const KittiObject k = to_kitti_object(box_at(20.f, 0.f, -0.9f, 4.f, 1.8f, 1.5f, 0.f), "Car", calib);
  // Centre of the box in the image: P2 * rect centre (bottom centre lifted by h / 2, camera y points down).
  const double cx = k.x, cy = k.y - k.h / 2.0, cz = k.z;
  const auto& p = calib.P2;
  const double w = p[8] * cx + p[9] * cy + p[10] * cz + p[11];
  const double u = (p[0] * cx + p[1] * cy + p[2] * cz + p[3]) / w;
  const double v = (p[4] * cx + p[5] * cy + p[6] * cz + p[7]) / w;
  EXPECT_LT(k.bbox[0], u);
  EXPECT_GT(k.bbox[2], u);
  EXPECT_LT(k.bbox[1], v);
  EXPECT_GT(k.bbox[3], v);
  // Seen from behind at 20 m, a 1.8 m wide car is about f * 1.8 / 20 ≈ 65 px wide (f ≈ 721 px); the far face is
  // smaller, so the box is between the far and the near face widths.
  const double near_w = p[0] * 1.8 / (k.z - 2.0), far_w = p[0] * 1.8 / (k.z + 2.0);
  EXPECT_LE(k.bbox[2] - k.bbox[0], near_w + 0.5);
  EXPECT_GE(k.bbox[2] - k.bbox[0], far_w - 0.5);
  // Driving away from the sensor: heading 0 along LiDAR +x is rotation_y = -pi/2, alpha ≈ -pi/2 straight ahead.
  EXPECT_NEAR(k.rotation_y, -kPi / 2, 1e-6);
  EXPECT_NEAR(k.alpha, -kPi / 2, 0.02);
}

TEST(KittiLabel, AnglesAreWrappedToMinusPiPi) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib calib = shared_calib();
  for (int i = -80; i <= 80; ++i) {
    const float heading = static_cast<float>(i) * 0.1f;
    const KittiObject k = to_kitti_object(box_at(15.f, -3.f, -1.f, 4.f, 1.8f, 1.5f, heading), "Car", calib);
    EXPECT_GE(k.rotation_y, -kPi);
    EXPECT_LT(k.rotation_y, kPi);
    EXPECT_GE(k.alpha, -kPi);
    EXPECT_LT(k.alpha, kPi);
    EXPECT_NEAR(angle_diff(k.rotation_y, -static_cast<double>(heading) - kPi / 2), 0.0, 1e-6);
    const Box3D back = to_lidar_box(k, calib);
    EXPECT_GE(back.heading, -kPi);
    EXPECT_LT(back.heading, kPi);
    EXPECT_NEAR(angle_diff(back.heading, heading), 0.0, 1e-6);
    EXPECT_NEAR(back.x, 15.f, 1e-4);
    EXPECT_NEAR(back.y, -3.f, 1e-4);
    EXPECT_NEAR(back.z, -1.f, 1e-4);
  }
}

// ---- calib reading --------------------------------------------------------------------------------------------

TEST(KittiCalib, ReadsTheSharedCalibration) {
  POINTRT_REQUIRE_SHARED_DATA();
  const KittiCalib c = read_kitti_calib(calib_path(0));
  EXPECT_DOUBLE_EQ(c.P2[0], 707.0493);
  EXPECT_DOUBLE_EQ(c.P2[3], 45.75831);
  EXPECT_DOUBLE_EQ(c.P2[11], 4.981016e-03);
  EXPECT_DOUBLE_EQ(c.R0_rect[0], 0.9999128);
  EXPECT_DOUBLE_EQ(c.R0_rect[8], 0.9999556);
  EXPECT_DOUBLE_EQ(c.Tr_velo_to_cam[1], -0.9999722);
  EXPECT_DOUBLE_EQ(c.Tr_velo_to_cam[11], -0.3321029);
  const KittiCalib c1 = read_kitti_calib(calib_path(1));
  EXPECT_DOUBLE_EQ(c1.P2[0], 721.5377);
}

TEST(KittiCalib, AcceptsAliasesAndIgnoresOtherKeys) {
  const std::string text =
      "calib_time: 09-Jan-2012 13:57:47\n"
      "P2: 1 0 2 3 0 1 4 5 0 0 1 6\r\n"
      "\n"
      "R_rect: 1 0 0 0 1 0 0 0 1\n"
      "Tr_velo_cam: 0 -1 0 0.1 0 0 -1 0.2 1 0 0 0.3\n"
      "Tr_imu_to_velo: not numbers here\n";
  const KittiCalib c = parse_kitti_calib(text, "alias.txt");
  EXPECT_EQ(c.P2[3], 3.0);
  EXPECT_EQ(c.P2[11], 6.0);
  EXPECT_EQ(c.R0_rect[4], 1.0);
  EXPECT_EQ(c.Tr_velo_to_cam[11], 0.3);
  expect_error([&] { parse_kitti_calib(text + "R0_rect: 1 0 0 0 1 0 0 0 1\n", "dup.txt"); },
               {"dup.txt", "R0_rect", "twice"});
}

// The shared calib text with one line replaced (or removed when `replacement` is empty).
std::string calib_with(const std::string& key, const std::string& replacement) {
  const std::string text = read_text(calib_path(0));
  const std::size_t at = text.find(key + ":");
  EXPECT_NE(at, std::string::npos);
  const std::size_t end = text.find('\n', at);
  return text.substr(0, at) + replacement + text.substr(end + 1);
}

TEST(KittiCalibErrors, MissingFile) {
  const std::string path = testing::make_temp_dir("calib_missing") + "/nope.txt";
  expect_error([&] { read_kitti_calib(path); }, {path, "no such file"});
}

TEST(KittiCalibErrors, MissingP2) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = testing::make_temp_dir("calib_no_p2") + "/calib.txt";
  testing::write_file(path, calib_with("P2", ""));
  expect_error([&] { read_kitti_calib(path); }, {path, "missing key P2"});
}

TEST(KittiCalibErrors, WrongValueCount) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = testing::make_temp_dir("calib_count") + "/calib.txt";
  testing::write_file(path, calib_with("P2", "P2: 1 0 0 0 0 1 0 0 0 0 1\n"));
  expect_error([&] { read_kitti_calib(path); }, {path, "P2 has 11 values, expected 12"});
}

TEST(KittiCalibErrors, NonNumericValue) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = testing::make_temp_dir("calib_nonnum") + "/calib.txt";
  testing::write_file(path, calib_with("R0_rect", "R0_rect: 1 0 0 0 1 0 0 0 abc\n"));
  expect_error([&] { read_kitti_calib(path); }, {path, "R0_rect value 9 'abc' is not a number"});
  testing::write_file(path, calib_with("R0_rect", "R0_rect: 1 0 0 0 1 0 0 0 1.5x\n"));
  expect_error([&] { read_kitti_calib(path); }, {path, "'1.5x' is not a number"});
}

TEST(KittiCalibErrors, NonFiniteValue) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = testing::make_temp_dir("calib_nan") + "/calib.txt";
  testing::write_file(path, calib_with("Tr_velo_to_cam", "Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 nan\n"));
  expect_error([&] { read_kitti_calib(path); }, {path, "Tr_velo_to_cam value 12 'nan' is not finite"});
  testing::write_file(path, calib_with("Tr_velo_to_cam", "Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 1e999\n"));
  expect_error([&] { read_kitti_calib(path); }, {path, "'1e999' is out of range"});
}

TEST(KittiCalibErrors, LineWithoutKeyAndEmptyFile) {
  expect_error([] { parse_kitti_calib("P2 1 2 3\n", "nokey.txt"); }, {"nokey.txt", "line 1", "KEY: values"});
  expect_error([] { parse_kitti_calib("", "empty.txt"); }, {"empty.txt", "missing key P2"});
}

// ---- label reading --------------------------------------------------------------------------------------------

const char* const kGoodLine = "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59";

TEST(KittiLabel, ParsesScoresBlankLinesAndCrlf) {
  const std::string text = std::string("\n   \n") + kGoodLine + "\r\n\t\n" + kGoodLine + " 0.875\n";
  const std::vector<KittiObject> objects = parse_kitti_labels(text, "mixed.txt");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0].type, "Car");
  EXPECT_FALSE(objects[0].has_score);
  EXPECT_FLOAT_EQ(objects[0].alpha, -1.58f);
  EXPECT_FLOAT_EQ(objects[0].bbox[3], 200.12f);
  EXPECT_FLOAT_EQ(objects[0].l, 3.64f);
  EXPECT_FLOAT_EQ(objects[0].z, 46.70f);
  EXPECT_FLOAT_EQ(objects[0].rotation_y, -1.59f);
  EXPECT_TRUE(objects[1].has_score);
  EXPECT_FLOAT_EQ(objects[1].score, 0.875f);
  // DontCare lines with -1 / -1000 / -10 are valid.
  const auto dc = parse_kitti_labels("DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10",
                                     "dc.txt");
  ASSERT_EQ(dc.size(), 1u);
  EXPECT_EQ(dc[0].occluded, -1);
  EXPECT_EQ(dc[0].truncated, -1.f);
}

TEST(KittiLabel, EmptyFileHasNoObjects) {
  const std::string dir = testing::make_temp_dir("label_empty");
  testing::write_file(dir + "/empty.txt", "");
  EXPECT_TRUE(read_kitti_labels(dir + "/empty.txt").empty());
  testing::write_file(dir + "/blank.txt", "\n \n\t\n");
  EXPECT_TRUE(read_kitti_labels(dir + "/blank.txt").empty());
}

TEST(KittiLabelErrors, WrongColumnCount) {
  const std::string path = testing::make_temp_dir("label_cols") + "/000007.txt";
  testing::write_file(path, std::string(kGoodLine) + "\n\nCar 0.00 0 -1.58 587.01 173.33\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":3", "expected 15 or 16 columns", "got 6"});
  testing::write_file(path, std::string(kGoodLine) + " 0.5 0.5\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":1", "got 17"});
}

TEST(KittiLabelErrors, NonNumber) {
  const std::string path = testing::make_temp_dir("label_nonnum") + "/000007.txt";
  testing::write_file(path, std::string(kGoodLine) + "\n" +
                                "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 wide 3.64 -0.65 1.71 46.70 -1.59\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":2", "column 10 (w) 'wide' is not a number"});
  testing::write_file(path, "Car 0.00 0.5 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":1", "occluded", "not an integer"});
}

TEST(KittiLabelErrors, NaN) {
  const std::string path = testing::make_temp_dir("label_nan") + "/000007.txt";
  testing::write_file(path, "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 nan -1.59\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":1", "column 14 (z) 'nan' is not finite"});
  testing::write_file(path, std::string(kGoodLine) + " inf\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":1", "column 16 (score) 'inf' is not finite"});
  // Finite as a double but not as a float.
  testing::write_file(path, "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 1e300 -1.59\n");
  expect_error([&] { read_kitti_labels(path); }, {path + ":1", "'1e300' is out of range"});
}

TEST(KittiLabelErrors, MissingFile) {
  const std::string path = testing::make_temp_dir("label_missing") + "/000042.txt";
  expect_error([&] { read_kitti_labels(path); }, {path, "no such file"});
  const std::string dir = testing::make_temp_dir("label_dir");
  expect_error([&] { read_kitti_labels(dir); }, {dir, "is a directory"});
}

TEST(KittiLabelErrors, UnwritablePath) {
  const std::string path = testing::make_temp_dir("label_unwritable") + "/no/such/dir/000000.txt";
  KittiObject o;
  o.type = "Car";
  expect_error([&] { write_kitti_labels(path, {o}); }, {path, "cannot open for writing"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace pointrt
