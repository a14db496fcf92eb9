// Preprocessing with PreprocessOptions::presampled: the cloud already is the network's input (exactly N rows in
// its order), so preprocess takes the rows as they are.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "pointrt/error.h"
#include "pointrt/pointcloud.h"
#include "support/test_data.h"

using namespace pointrt;

namespace {

// n rows x, y, z, intensity; many rows lie outside the default range (behind the sensor, far to the side, z far
// outside [-3, 1]) and some repeat, so any crop, sampling or shuffle would change the output.
PointCloud odd_cloud(std::size_t n, const std::string& source = "presampled.bin") {
  PointCloud c;
  c.source = source;
  c.format = "kitti";
  c.fields = {"x", "y", "z", "intensity"};
  for (std::size_t i = 0; i < n; ++i) {
    const float k = static_cast<float>(i);
    if (i % 7 == 3) {
      c.values.insert(c.values.end(), {1.f, 2.f, 0.f, 0.5f});  // repeated row
    } else {
      c.values.insert(c.values.end(),
                      {-50.f + 0.37f * k, (i % 2 ? 1.f : -1.f) * 0.11f * k, -20.f + 0.013f * k, 1.f / (1.f + k)});
    }
  }
  return c;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace

TEST(PreprocessPresampled, KeepsRowsBitIdenticalAndInOrder) {
  PreprocessOptions o;
  o.num_points = 1000;
  o.presampled = true;
  PointCloud cloud = odd_cloud(1000);
  // Values whose bits a numeric round trip would change: -0, a denormal, the largest float.
  cloud.values[1] = -0.f;
  cloud.values[6] = 1e-45f;
  cloud.values[11] = 3.4028235e38f;
  const PreparedPoints p = preprocess(cloud, o);
  EXPECT_EQ(p.num_points, 1000u);
  EXPECT_EQ(p.num_fields, 4u);
  EXPECT_TRUE(bit_identical(p.values, cloud.values));
  EXPECT_TRUE(std::signbit(p.values[1]));
  EXPECT_EQ(p.report.input_points, 1000u);
  EXPECT_EQ(p.report.in_range, 1000u);
  EXPECT_EQ(p.report.real_points, 1000u);
  EXPECT_EQ(p.report.padded, 0u);

  // The seed, range, crop_z and far threshold play no part.
  PreprocessOptions o2 = o;
  o2.seed = 12345;
  o2.crop_z = true;
  o2.range[3] = 1.f;
  o2.far_threshold = 0.f;
  EXPECT_TRUE(bit_identical(preprocess(cloud, o2).values, cloud.values));

  // Without the option the same cloud is cropped and shuffled: the test cloud would notice.
  PreprocessOptions plain = o;
  plain.presampled = false;
  EXPECT_FALSE(bit_identical(preprocess(cloud, plain).values, cloud.values));
}

TEST(PreprocessPresampled, KeepsEveryFieldOfWiderClouds) {
  PointCloud c;
  c.source = "five.npy";
  c.fields = {"x", "y", "z", "intensity", "elongation"};
  for (int i = 0; i < 64 * 5; ++i) c.values.push_back(static_cast<float>(i) * 0.5f - 17.f);
  PreprocessOptions o;
  o.num_points = 64;
  o.presampled = true;
  const PreparedPoints p = preprocess(c, o);
  EXPECT_EQ(p.num_points, 64u);
  EXPECT_EQ(p.num_fields, 5u);
  EXPECT_TRUE(bit_identical(p.values, c.values));
}

TEST(PreprocessPresampled, TheSampleFrameAtItsOwnCountIsTakenAsIs) {
  const PointCloud cloud = read_point_cloud(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  PreprocessOptions o;
  o.num_points = cloud.num_points();  // 18911
  o.presampled = true;
  const PreparedPoints p = preprocess(cloud, o);
  EXPECT_TRUE(bit_identical(p.values, cloud.values));
  EXPECT_EQ(p.report.in_range, 18911u);  // even the points beyond x = 70.4
}

TEST(PreprocessPresampled, AnotherRowCountIsAnErrorNamingTheCloudAndBothCounts) {
  PreprocessOptions o;
  o.num_points = 16384;
  o.presampled = true;
  pointrt::testing::expect_error([&] { preprocess(odd_cloud(16383, "frames/000042.bin"), o); },
                                 {"frames/000042.bin", "presampled", "expected 16384", "got 16383"});
  pointrt::testing::expect_error([&] { preprocess(odd_cloud(16385, "frames/000043.bin"), o); },
                                 {"frames/000043.bin", "expected 16384", "got 16385"});
  pointrt::testing::expect_error([&] { preprocess(odd_cloud(0, "empty.bin"), o); },
                                 {"empty.bin", "expected 16384", "got 0"});
  // The real sample frame (18911 points) is not a presampled IA-SSD input.
  const PointCloud sample = read_point_cloud(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  pointrt::testing::expect_error([&] { preprocess(sample, o); },
                                 {"kitti_000003.bin", "expected 16384", "got 18911"});
}
