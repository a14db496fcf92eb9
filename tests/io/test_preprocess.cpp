// Preprocessing: crop and sample-to-N properties, on real frames and on small synthetic clouds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "pointrt/error.h"
#include "pointrt/pointcloud.h"
#include "support/test_data.h"

using namespace pointrt;

namespace {

using Row = std::tuple<float, float, float, float>;

std::map<Row, int> row_counts(const float* values, std::size_t n) {
  std::map<Row, int> m;
  for (std::size_t i = 0; i < n; ++i) {
    const float* p = values + 4 * i;
    ++m[{p[0], p[1], p[2], p[3]}];
  }
  return m;
}

bool in_xy_range(const float* p, const PreprocessOptions& o) {
  return p[0] >= o.range[0] && p[0] <= o.range[3] && p[1] >= o.range[1] && p[1] <= o.range[4];
}

PointCloud grid_cloud(std::size_t n, float spacing) {
  PointCloud c;
  c.source = "synthetic";
  c.fields = {"x", "y", "z", "intensity"};
  for (std::size_t i = 0; i < n; ++i) {
    c.values.insert(c.values.end(), {1.f + spacing * static_cast<float>(i % 100), spacing * static_cast<float>(i / 100),
                                     -1.f, static_cast<float>(i) / static_cast<float>(n)});
  }
  return c;
}

}  // namespace

TEST(Preprocess, RealFrameSubsampleKeepsEveryFarPointAndDrawsDistinctRows) {
  POINTRT_REQUIRE_SHARED_DATA();
  const PointCloud cloud = read_point_cloud(pointrt::testing::shared_data_dir() + "/kitti/training/velodyne/000001.bin");
  PreprocessOptions o;
  const PreparedPoints p = preprocess(cloud, o);
  ASSERT_EQ(p.num_points, 16384u);
  ASSERT_EQ(p.num_fields, 4u);
  ASSERT_EQ(p.values.size(), 16384u * 4u);

  std::size_t in_range = 0, far_in_range = 0;
  std::map<Row, int> source_rows;
  for (std::size_t i = 0; i < cloud.num_points(); ++i) {
    const float* q = cloud.point(i);
    if (!in_xy_range(q, o)) continue;
    ++in_range;
    ++source_rows[{q[0], q[1], q[2], q[3]}];
    if (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] >= 40.f * 40.f) ++far_in_range;
  }
  EXPECT_EQ(p.report.input_points, cloud.num_points());
  EXPECT_EQ(p.report.in_range, in_range);
  EXPECT_GT(in_range, 16384u);
  EXPECT_EQ(p.report.real_points, 16384u);
  EXPECT_EQ(p.report.padded, 0u);

  // Every output row is an in-range input row, used no more often than it occurs in the input.
  const auto out_rows = row_counts(p.values.data(), p.num_points);
  std::size_t far_out = 0;
  for (const auto& [row, count] : out_rows) {
    auto it = source_rows.find(row);
    ASSERT_NE(it, source_rows.end()) << "output row not in range or not from the input";
    EXPECT_LE(count, it->second);
    const float d2 = std::get<0>(row) * std::get<0>(row) + std::get<1>(row) * std::get<1>(row) +
                     std::get<2>(row) * std::get<2>(row);
    if (d2 >= 1600.f) far_out += static_cast<std::size_t>(count);
  }
  EXPECT_EQ(far_out, far_in_range) << "all far points must be kept";
  // z is not cropped by default: the frame has points below z = -3 in range.
  EXPECT_TRUE(std::any_of(out_rows.begin(), out_rows.end(), [](const auto& kv) { return std::get<2>(kv.first) < -3.f; }));
}

TEST(Preprocess, SameSeedSameRowsOtherSeedOtherOrder) {
  POINTRT_REQUIRE_SHARED_DATA();
  const PointCloud cloud = read_point_cloud(pointrt::testing::shared_data_dir() + "/kitti/training/velodyne_reduced/000002.bin");
  PreprocessOptions o;
  const PreparedPoints a = preprocess(cloud, o);
  const PreparedPoints b = preprocess(cloud, o);
  EXPECT_EQ(a.values, b.values);
  o.seed = 7;
  const PreparedPoints c = preprocess(cloud, o);
  EXPECT_NE(a.values, c.values);
}

TEST(Preprocess, FewerPointsThanNArePaddedEvenlyWithRepeats) {
  const PointCloud cloud = grid_cloud(1000, 0.05f);
  PreprocessOptions o;
  o.num_points = 2500;  // 2.5 copies
  const PreparedPoints p = preprocess(cloud, o);
  EXPECT_EQ(p.report.real_points, 1000u);
  EXPECT_EQ(p.report.padded, 1500u);
  const auto counts = row_counts(p.values.data(), p.num_points);
  ASSERT_EQ(counts.size(), 1000u) << "every real point appears";
  int twos = 0, threes = 0;
  for (const auto& kv : counts) {
    ASSERT_TRUE(kv.second == 2 || kv.second == 3) << kv.second;
    (kv.second == 2 ? twos : threes)++;
  }
  EXPECT_EQ(twos, 500);
  EXPECT_EQ(threes, 500);
}

TEST(Preprocess, OnePointFillsAllRows) {
  PointCloud c = grid_cloud(1, 1.f);
  PreprocessOptions o;
  o.num_points = 64;
  const PreparedPoints p = preprocess(c, o);
  EXPECT_EQ(p.report.real_points, 1u);
  for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ(p.values[4 * i], c.values[0]);
}

TEST(Preprocess, NoPointInRangeGivesZeroRowsAndZeroRealPoints) {
  PointCloud c = grid_cloud(10, 1.f);
  for (std::size_t i = 0; i < c.num_points(); ++i) c.values[4 * i] = -5.f;  // behind the sensor: x < 0
  PreprocessOptions o;
  o.num_points = 32;
  const PreparedPoints p = preprocess(c, o);
  EXPECT_EQ(p.report.in_range, 0u);
  EXPECT_EQ(p.report.real_points, 0u);
  EXPECT_EQ(p.values, std::vector<float>(32 * 4, 0.f));

  PointCloud empty;
  empty.source = "empty";
  empty.fields = {"x", "y", "z", "intensity"};
  EXPECT_EQ(preprocess(empty, o).report.real_points, 0u);
}

TEST(Preprocess, CropBoundsAreInclusiveAndZIsOptional) {
  PointCloud c;
  c.source = "bounds";
  c.fields = {"x", "y", "z", "intensity"};
  c.values = {0.f, -40.f, 5.f, 1.f,      // on the lower corner, z above the range
              70.4f, 40.f, -9.f, 2.f,    // on the upper corner, z below
              70.41f, 0.f, 0.f, 3.f,     // just outside in x
              10.f, 40.01f, 0.f, 4.f};   // just outside in y
  PreprocessOptions o;
  o.num_points = 2;
  EXPECT_EQ(preprocess(c, o).report.in_range, 2u);
  o.crop_z = true;
  EXPECT_EQ(preprocess(c, o).report.in_range, 0u);
}

TEST(Preprocess, FarPointsAloneExceedingNAreSampledFromEverything) {
  PointCloud c = grid_cloud(300, 0.5f);
  for (std::size_t i = 0; i < c.num_points(); ++i) c.values[4 * i] += 45.f;  // all beyond 40 m
  PreprocessOptions o;
  o.num_points = 100;
  const PreparedPoints p = preprocess(c, o);
  EXPECT_EQ(row_counts(p.values.data(), 100).size(), 100u);
}

TEST(Preprocess, BadOptionsAreRefused) {
  const PointCloud c = grid_cloud(10, 1.f);
  PreprocessOptions o;
  o.num_points = 0;
  EXPECT_THROW(preprocess(c, o), Error);
  o = {};
  o.range[0] = 100.f;  // x_min > x_max
  try {
    preprocess(c, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("synthetic: point-cloud range has a minimum above its maximum"),
              std::string::npos)
        << e.what();
  }
  o = {};
  o.range[4] = NAN;
  EXPECT_THROW(preprocess(c, o), Error);
}
