// filter_to_camera_fov: the camera field-of-view filter of the PyTorch training code (python/pointrt_train/data.py
// fov_mask): keep a point iff d > 0 and 0 <= u < width and 0 <= v < height, where (u d, v d, d) = P2 [R0_rect
// Tr_velo_to_cam [p; 1]; 1].
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "pointrt/detection.h"
#include "pointrt/error.h"
#include "pointrt/pointcloud.h"
#include "support/test_data.h"

namespace pointrt {
namespace {

// LiDAR (x forward, y left, z up) -> camera (x right, y down, z forward), no translation.
constexpr std::array<double, 12> kAxisSwap34 = {0, -1, 0, 0, 0, 0, -1, 0, 1, 0, 0, 0};
constexpr std::array<double, 9> kAxisSwap33 = {0, -1, 0, 0, 0, -1, 1, 0, 0};
constexpr std::array<double, 9> kIdentity33 = {1, 0, 0, 0, 1, 0, 0, 0, 1};
constexpr std::array<double, 12> kIdentity34 = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};

// f = 100 px, principal point (50, 25), for a 100 x 50 image: u = 50 - 100 y / x, v = 25 - 100 z / x.
KittiCalib toy_calib() {
  KittiCalib c;
  c.P2 = {100, 0, 50, 0, 0, 100, 25, 0, 0, 0, 1, 0};
  c.R0_rect = kIdentity33;
  c.Tr_velo_to_cam = kAxisSwap34;
  return c;
}
constexpr ImageSize kToyImage{100, 50};

struct Pt {
  float x, y, z;
  const char* what;
};

PointCloud cloud_of(const std::vector<Pt>& pts) {
  PointCloud c;
  c.source = "toy.bin";
  c.format = "kitti";
  c.fields = {"x", "y", "z", "intensity"};
  c.dropped_nonfinite = 3;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    c.values.insert(c.values.end(), {pts[i].x, pts[i].y, pts[i].z, static_cast<float>(i)});  // intensity = index
  }
  return c;
}

// Indices (from the intensity column) of the points that remain.
std::vector<int> kept_indices(const PointCloud& c) {
  std::vector<int> out;
  for (std::size_t i = 0; i < c.num_points(); ++i) out.push_back(static_cast<int>(c.point(i)[3]));
  return out;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

const std::vector<Pt> kToyPoints = {
    {10, 0, 0, "0 straight ahead: u 50, v 25"},                 // kept
    {-10, 0, 0, "1 behind: d = -10 (would project to u 50)"},   // dropped
    {0, 1, 0, "2 in the camera plane: d = 0"},                  // dropped
    {10, 5, 0, "3 left edge: u = 0 exactly"},                   // kept (0 <= u)
    {10, 5.1f, 0, "4 left of the image: u = -1"},               // dropped
    {10, -4.99f, 0, "5 right, inside: u = 99.9"},               // kept
    {10, -5, 0, "6 right edge: u = 100 = width"},               // dropped (u < width)
    {10, -6, 0, "7 right of the image: u = 110"},               // dropped
    {10, 0, 2.5f, "8 top edge: v = 0 exactly"},                 // kept
    {10, 0, 2.6f, "9 above the image: v = -1"},                 // dropped
    {10, 0, -2.4f, "10 bottom, inside: v = 49"},                // kept
    {10, 0, -2.5f, "11 bottom edge: v = 50 = height"},          // dropped (v < height)
    {10, 0, -30, "12 far below the image: v = 325"},            // dropped
    {10, 5, 2.5f, "13 top-left corner: u = 0, v = 0"},          // kept
    {-10, -5.01f, -2.49f, "14 behind, mirrored into the image"},  // dropped
    {0.001f, 0, 0, "15 just in front: d = 0.001, u 50, v 25"},  // kept
    {1000, 400, 0, "16 far, left of the image: u = 10"},        // kept
    {kNaN, 0, 0, "17 NaN x"},                                   // dropped
    {kInf, 0, 0, "18 +inf x: u, v NaN"},                        // dropped
    {10, kInf, 0, "19 +inf y: u -inf"},                         // dropped
};
const std::vector<int> kToyKept = {0, 3, 5, 8, 10, 13, 15, 16};

TEST(CameraFov, ToyCalibKeepsExactlyThePointsInsideTheImage) {
  const PointCloud in = cloud_of(kToyPoints);
  const PointCloud out = filter_to_camera_fov(in, toy_calib(), kToyImage);
  EXPECT_EQ(kept_indices(out), kToyKept);
  // Every field of a kept point, bit for bit; the cloud's metadata carried over.
  EXPECT_EQ(out.fields, in.fields);
  EXPECT_EQ(out.source, "toy.bin");
  EXPECT_EQ(out.format, "kitti");
  EXPECT_EQ(out.dropped_nonfinite, 3u);
  ASSERT_EQ(out.num_points(), kToyKept.size());
  for (std::size_t k = 0; k < kToyKept.size(); ++k) {
    for (std::size_t f = 0; f < 4; ++f) {
      EXPECT_EQ(out.point(k)[f], in.point(static_cast<std::size_t>(kToyKept[k]))[f])
          << kToyPoints[static_cast<std::size_t>(kToyKept[k])].what;
    }
  }
}

TEST(CameraFov, DefaultImageIsKitti1242x375) {
  KittiCalib c = toy_calib();
  // Principal point (0, 0): u = -100 y / x, v = -100 z / x; at x = 1: u = -100 y, v = -100 z.
  c.P2 = {100, 0, 0, 0, 0, 100, 0, 0, 0, 0, 1, 0};
  const std::vector<Pt> pts = {
      {1, -12.41f, -3.74f, "0 u 1241, v 374: last pixel"},  // kept
      {1, -12.42f, 0, "1 u 1242 = width"},                   // dropped
      {1, 0, -3.75f, "2 v 375 = height"},                    // dropped
      {1, 0, 0, "3 u 0, v 0"},                               // kept
  };
  EXPECT_EQ(kept_indices(filter_to_camera_fov(cloud_of(pts), c)), (std::vector<int>{0, 3}));
  EXPECT_EQ(ImageSize{}.width, 1242);
  EXPECT_EQ(ImageSize{}.height, 375);
}

TEST(CameraFov, R0RectAndTranslationAreApplied) {
  // The same LiDAR -> rect transform split differently between R0_rect and Tr_velo_to_cam gives the same result.
  KittiCalib a = toy_calib();
  KittiCalib b = toy_calib();
  b.R0_rect = kAxisSwap33;
  b.Tr_velo_to_cam = kIdentity34;
  const PointCloud in = cloud_of(kToyPoints);
  EXPECT_EQ(kept_indices(filter_to_camera_fov(in, b, kToyImage)), kToyKept);

  // The camera 10 m ahead of the LiDAR: Tr's translation (-10 m along the camera's z), rotated by R0_rect in b.
  a.Tr_velo_to_cam[11] = -10;
  b.Tr_velo_to_cam[3] = -10;  // LiDAR x is rect z through b's R0_rect
  const std::vector<Pt> pts = {
      {10, 0, 0, "0 at the camera: d = 0"},                   // dropped
      {20, 0, 0, "1 10 m in front of the camera"},            // kept
      {15, 5, 0, "2 u = 50 - 100 * 5 / 5 = -50"},             // dropped
      {20, 5, 0, "3 u = 0"},                                  // kept
      {5, 0, 0, "4 between LiDAR and camera: d = -5"},        // dropped
  };
  EXPECT_EQ(kept_indices(filter_to_camera_fov(cloud_of(pts), a, kToyImage)), (std::vector<int>{1, 3}));
  EXPECT_EQ(kept_indices(filter_to_camera_fov(cloud_of(pts), b, kToyImage)), (std::vector<int>{1, 3}));
}

TEST(CameraFov, DepthIsTheThirdRowOfP2NotTheRectifiedZ) {
  // As python/pointrt_train/data.py fov_mask (kitti.Calib.project_lidar): d = P2[2] . [X_rect; 1]. With
  // P2[2][3] = 0.5 a point at z_rect = -0.25 has d = 0.25 > 0 and is kept when (u, v) is in the image.
  KittiCalib c;
  c.P2 = {1, 0, 0, 5, 0, 1, 0, 2.5, 0, 0, 1, 0.5};  // q = (x_rect + 5, y_rect + 2.5, z_rect + 0.5)
  c.R0_rect = kIdentity33;
  c.Tr_velo_to_cam = kAxisSwap34;
  const std::vector<Pt> pts = {
      {-0.25f, 0, 0, "0 z_rect -0.25: d 0.25, u 20, v 10"},  // kept
      {-0.5f, 0, 0, "1 z_rect -0.5: d 0"},                   // dropped
      {-0.75f, 0, 0, "2 z_rect -0.75: d -0.25"},             // dropped
      {1.5f, 0, 0, "3 z_rect 1.5: d 2, u 2.5, v 1.25"},      // kept
  };
  EXPECT_EQ(kept_indices(filter_to_camera_fov(cloud_of(pts), c, kToyImage)), (std::vector<int>{0, 3}));
}

TEST(CameraFov, EmptyCloudAndTooFewFields) {
  PointCloud empty;
  empty.source = "empty.bin";
  empty.fields = {"x", "y", "z", "intensity"};
  const PointCloud out = filter_to_camera_fov(empty, toy_calib());
  EXPECT_EQ(out.num_points(), 0u);
  EXPECT_EQ(out.fields, empty.fields);
  PointCloud two;
  two.source = "two.bin";
  two.fields = {"x", "y"};
  two.values = {1, 2};
  pointrt::testing::expect_error([&] { filter_to_camera_fov(two, toy_calib()); }, {"two.bin", "x, y, z"});
}

// Projection computed independently (Tr, then R0_rect, then P2, as three separate steps).
struct Projected {
  double u, v, d;
};
Projected project(const float* p, const KittiCalib& c) {
  double ref[3], rect[3], q[3];
  for (std::size_t r = 0; r < 3; ++r) {
    ref[r] = c.Tr_velo_to_cam[r * 4 + 3];
    for (std::size_t k = 0; k < 3; ++k) ref[r] += c.Tr_velo_to_cam[r * 4 + k] * static_cast<double>(p[k]);
  }
  for (std::size_t r = 0; r < 3; ++r) {
    rect[r] = 0;
    for (std::size_t k = 0; k < 3; ++k) rect[r] += c.R0_rect[r * 3 + k] * ref[k];
  }
  for (std::size_t r = 0; r < 3; ++r) {
    q[r] = c.P2[r * 4 + 3];
    for (std::size_t k = 0; k < 3; ++k) q[r] += c.P2[r * 4 + k] * rect[k];
  }
  return {q[0] / q[2], q[1] / q[2], q[2]};
}

// Every kept point projects inside the image and every dropped one outside (or within 1e-6 px / 1e-9 m of an edge,
// where the two evaluation orders may round differently); returns the number kept.
std::size_t check_partition(const PointCloud& cloud, const KittiCalib& calib, const ImageSize& image) {
  const PointCloud kept = filter_to_camera_fov(cloud, calib, image);
  const double w = image.width, h = image.height, eu = 1e-6, ed = 1e-9;
  std::size_t k = 0;
  for (std::size_t i = 0; i < cloud.num_points(); ++i) {
    const float* p = cloud.point(i);
    const Projected q = project(p, calib);
    const bool is_kept = k < kept.num_points() && std::memcmp(kept.point(k), p, 4 * sizeof(float)) == 0;
    if (is_kept) {
      ++k;
      EXPECT_TRUE(q.d > -ed && q.u >= -eu && q.u < w + eu && q.v >= -eu && q.v < h + eu)
          << cloud.source << " point " << i << " kept: u " << q.u << " v " << q.v << " d " << q.d;
    } else {
      EXPECT_FALSE(q.d > ed && q.u >= eu && q.u < w - eu && q.v >= eu && q.v < h - eu)
          << cloud.source << " point " << i << " dropped: u " << q.u << " v " << q.v << " d " << q.d;
    }
  }
  EXPECT_EQ(k, kept.num_points()) << "kept points are the input's, in order";
  return k;
}

TEST(CameraFov, SampleFrameKeptPointsProjectInsideTheImage) {
  const PointCloud cloud = read_point_cloud(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  const KittiCalib calib = read_kitti_calib(pointrt::testing::source_path("data/sample/kitti_000003_calib.txt"));
  const std::size_t kept = check_partition(cloud, calib, ImageSize{});
  // The sample is already reduced to the camera's view (velodyne_reduced): every point stays.
  EXPECT_EQ(kept, cloud.num_points());
  // A smaller image keeps a subset.
  const std::size_t small = check_partition(cloud, calib, ImageSize{600, 200});
  EXPECT_LT(small, kept);
  EXPECT_GT(small, 0u);
}

TEST(CameraFov, FullRealScansKeptPointsProjectInsideTheImage) {
  POINTRT_REQUIRE_SHARED_DATA();
  for (int i = 0; i <= 5; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "%06d", i);
    const std::string dir = pointrt::testing::shared_data_dir() + "/kitti/training";
    const PointCloud cloud = read_point_cloud(dir + "/velodyne/" + name + ".bin");
    const KittiCalib calib = read_kitti_calib(dir + "/calib/" + name + ".txt");
    const std::size_t kept = check_partition(cloud, calib, ImageSize{});
    // The camera sees roughly a sixth of a 360-degree scan.
    EXPECT_GT(kept, cloud.num_points() / 12) << name;
    EXPECT_LT(kept, cloud.num_points() / 3) << name;
  }
}

TEST(CameraFov, FullRealScansReduceToVelodyneReducedExactly) {
  // velodyne_reduced/ holds the same scans cropped to camera 2's view by the SECOND/OpenPCDet tooling; with each
  // frame's own image size (000000 is 1224 x 370) the filter gives exactly those rows, in the same order.
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string dir = pointrt::testing::shared_data_dir() + "/kitti/training";
  for (int i = 0; i <= 5; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "%06d", i);
    const PointCloud full = read_point_cloud(dir + "/velodyne/" + name + ".bin");
    const PointCloud reduced = read_point_cloud(dir + "/velodyne_reduced/" + name + ".bin");
    const KittiCalib calib = read_kitti_calib(dir + "/calib/" + name + ".txt");
    const ImageSize image = i == 0 ? ImageSize{1224, 370} : ImageSize{1242, 375};
    const PointCloud kept = filter_to_camera_fov(full, calib, image);
    ASSERT_EQ(kept.num_points(), reduced.num_points()) << name;
    EXPECT_EQ(std::memcmp(kept.values.data(), reduced.values.data(), kept.values.size() * sizeof(float)), 0) << name;
  }
}

}  // namespace
}  // namespace pointrt
