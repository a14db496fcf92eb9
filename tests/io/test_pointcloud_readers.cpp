// Readers on the real shared frames (counts, ranges and contents) and on every kind of bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "io/readers.h"
#include "pointrt/error.h"
#include "pointrt/pointcloud.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::testing::expect_error;
using pointrt::testing::make_temp_dir;
using pointrt::testing::shared_data_dir;
using pointrt::testing::write_file;

namespace {


std::string floats_to_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// ../shared/data/README.md: point counts and (2-decimal) ranges of every frame.
struct FrameFacts {
  const char* path;
  std::size_t points;
  float range[4][2];  // x, y, z, 4th field
};

const FrameFacts kKitti[] = {
    {"kitti/training/velodyne/000000.bin", 115384, {{-71.04f, 73.04f}, {-21.10f, 53.80f}, {-5.16f, 2.67f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne/000001.bin", 120268, {{-79.43f, 77.00f}, {-55.32f, 57.72f}, {-7.29f, 2.90f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne/000002.bin", 126891, {{-79.45f, 79.48f}, {-72.20f, 7.32f}, {-6.81f, 2.88f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne/000003.bin", 113110, {{-79.72f, 79.72f}, {-30.15f, 28.42f}, {-13.02f, 2.91f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne/000004.bin", 115976, {{-79.30f, 79.03f}, {-75.22f, 53.15f}, {-5.67f, 2.90f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne/000005.bin", 125086, {{-79.80f, 79.28f}, {-40.11f, 22.44f}, {-2.76f, 2.89f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne_reduced/000000.bin", 20285, {{4.53f, 73.04f}, {-16.13f, 23.59f}, {-2.35f, 2.64f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne_reduced/000001.bin", 18630, {{5.05f, 77.00f}, {-15.84f, 32.34f}, {-2.15f, 2.06f}, {0.f, 0.86f}}},
    {"kitti/training/velodyne_reduced/000002.bin", 20210, {{4.77f, 79.48f}, {-10.41f, 4.70f}, {-2.70f, 2.88f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne_reduced/000003.bin", 18911, {{2.51f, 79.72f}, {-10.07f, 9.68f}, {-3.71f, 2.61f}, {0.f, 0.99f}}},
    {"kitti/training/velodyne_reduced/000004.bin", 19063, {{5.92f, 79.03f}, {-37.12f, 39.46f}, {-2.30f, 2.90f}, {0.f, 0.88f}}},
    {"kitti/training/velodyne_reduced/000005.bin", 19962, {{5.42f, 79.28f}, {-39.99f, 17.72f}, {-2.63f, 2.88f}, {0.f, 0.99f}}},
};

void expect_facts(const PointCloud& cloud, const FrameFacts& facts) {
  ASSERT_EQ(cloud.num_points(), facts.points) << facts.path;
  EXPECT_EQ(cloud.dropped_nonfinite, 0u);
  const auto ranges = field_ranges(cloud);
  for (int j = 0; j < 4; ++j) {
    // The README rounds to two decimals.
    EXPECT_NEAR(ranges[static_cast<std::size_t>(j)].min, facts.range[j][0], 0.0051) << facts.path << " field " << j;
    EXPECT_NEAR(ranges[static_cast<std::size_t>(j)].max, facts.range[j][1], 0.0051) << facts.path << " field " << j;
  }
}

}  // namespace

TEST(KittiBin, EverySharedFrameHasTheDocumentedCountsAndRanges) {
  POINTRT_REQUIRE_SHARED_DATA();
  for (const FrameFacts& facts : kKitti) {
    const PointCloud cloud = read_point_cloud(shared_data_dir() + "/" + facts.path);
    EXPECT_EQ(cloud.format, "kitti");
    EXPECT_EQ(cloud.fields, (std::vector<std::string>{"x", "y", "z", "intensity"}));
    expect_facts(cloud, facts);
  }
}

TEST(KittiBin, ReducedScansAreOrderedSubsetsOfTheFullScans) {
  POINTRT_REQUIRE_SHARED_DATA();
  for (int frame = 0; frame < 6; ++frame) {
    const std::string id = "00000" + std::to_string(frame) + ".bin";
    const PointCloud full = read_point_cloud(shared_data_dir() + "/kitti/training/velodyne/" + id);
    const PointCloud reduced = read_point_cloud(shared_data_dir() + "/kitti/training/velodyne_reduced/" + id);
    std::size_t j = 0;
    for (std::size_t i = 0; i < full.num_points() && j < reduced.num_points(); ++i) {
      if (std::memcmp(full.point(i), reduced.point(j), 4 * sizeof(float)) == 0) ++j;
    }
    EXPECT_EQ(j, reduced.num_points()) << id << ": reduced scan is not a bit-exact ordered subset";
  }
}

TEST(KittiBin, SampleFrameInTheRepositoryIsKitti000003Reduced) {
  const PointCloud sample = read_point_cloud(pointrt::testing::source_path("data/sample/kitti_000003.bin"));
  expect_facts(sample, kKitti[9]);
}

TEST(FiveFloatBin, NuScenesAndWaymoFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  const PointCloud nus = read_point_cloud(
      shared_data_dir() + "/nuscenes/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin");
  EXPECT_EQ(nus.format, "nuscenes");  // recognised from the .pcd.bin name
  EXPECT_EQ(nus.fields, (std::vector<std::string>{"x", "y", "z", "intensity", "ring"}));
  expect_facts(nus, {"nuscenes", 34688, {{-58.00f, 96.85f}, {-96.29f, 98.59f}, {-3.42f, 19.03f}, {0.f, 255.f}}});
  EXPECT_EQ(field_ranges(nus)[4].max, 31.f);

  ReadOptions waymo_opts;
  waymo_opts.format = CloudFormat::Waymo;
  const PointCloud waymo = read_point_cloud(shared_data_dir() + "/waymo/seq_0_frame_100.bin", waymo_opts);
  EXPECT_EQ(waymo.fields.back(), "elongation");
  expect_facts(waymo, {"waymo", 177125, {{-72.55f, 76.08f}, {-45.53f, 74.83f}, {-4.19f, 6.09f}, {0.f, 1.f}}});
  EXPECT_NEAR(field_ranges(waymo)[4].max, 1.49f, 0.0051);

  // Which channels feed the model is a choice: x, y, z plus any named features, in the asked order.
  const PointCloud sel = select_fields(waymo, {"elongation", "intensity"});
  ASSERT_EQ(sel.fields, (std::vector<std::string>{"x", "y", "z", "elongation", "intensity"}));
  ASSERT_EQ(sel.num_points(), waymo.num_points());
  for (std::size_t i = 0; i < sel.num_points(); i += 997) {
    EXPECT_EQ(sel.point(i)[3], waymo.point(i)[4]);
    EXPECT_EQ(sel.point(i)[4], waymo.point(i)[3]);
  }
}

TEST(FiveFloatBin, WaymoFileReadAsKittiIsRefusedWithAHint) {
  POINTRT_REQUIRE_SHARED_DATA();
  const std::string path = shared_data_dir() + "/waymo/seq_0_frame_100.bin";
  expect_error([&] { read_point_cloud(path); }, {path, "not a multiple of the 16-byte", "--format nuscenes|waymo"});
}

TEST(SelectFields, UnknownFieldIsNamed) {
  PointCloud c;
  c.source = "frame.bin";
  c.fields = {"x", "y", "z", "intensity"};
  c.values = {1, 2, 3, 4};
  expect_error([&] { select_fields(c, {"ring"}); }, {"frame.bin", "no field 'ring'", "intensity"});
}

// ---- bad input, one case each ------------------------------------------------------------------------------

TEST(BadInput, MissingFile) {
  expect_error([] { read_point_cloud("/nonexistent/frame.bin"); }, {"/nonexistent/frame.bin", "no such file"});
}

TEST(BadInput, Directory) {
  const std::string dir = make_temp_dir("dir") + "/frames.bin";
  std::filesystem::create_directories(dir);
  expect_error([&] { read_point_cloud(dir); }, {dir, "is a directory"});
}

TEST(BadInput, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permission bits do not stop reads";
  const std::string path = make_temp_dir("unreadable") + "/frame.bin";
  write_file(path, floats_to_bytes({1, 2, 3, 4}));
  std::filesystem::permissions(path, std::filesystem::perms::none);
  expect_error([&] { read_point_cloud(path); }, {path, "cannot open"});
}

TEST(BadInput, EmptyFile) {
  const std::string path = make_temp_dir("empty") + "/frame.bin";
  write_file(path, "");
  expect_error([&] { read_point_cloud(path); }, {path, "empty file"});
}

TEST(BadInput, SizeNotAMultipleOfTheRecord) {
  const std::string path = make_temp_dir("size") + "/frame.bin";
  write_file(path, floats_to_bytes({1, 2, 3, 4, 5, 6}));  // 24 bytes
  expect_error([&] { read_point_cloud(path); }, {path, "24 bytes", "not a multiple of the 16-byte"});
  ReadOptions o;
  o.format = CloudFormat::NuScenes;
  write_file(path, floats_to_bytes({1, 2, 3, 4}));  // 16 bytes as nuScenes
  expect_error([&] { read_point_cloud(path, o); }, {path, "20-byte", "4-float KITTI"});
}

TEST(BadInput, UnknownExtension) {
  const std::string path = make_temp_dir("ext") + "/frame.ply";
  write_file(path, floats_to_bytes({1, 2, 3, 4}));
  expect_error([&] { read_point_cloud(path); }, {path, "cannot tell the point-cloud format", "--format"});
  expect_error([] { parse_format("las"); }, {"las", "unknown point-cloud format"});
}

TEST(BadInput, NonFiniteCoordinatesAreDroppedAndCountedByDefault) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::string bytes = floats_to_bytes({1, 2, 3, 0.5f, nan, 2, 3, 0.5f, 4, 5, 6, 0.25f, 7, -inf, 9, 0.f, 1, 1, 1, nan});
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const PointCloud cloud = parse_point_cloud(data, bytes.size(), "nan.bin");
  ASSERT_EQ(cloud.num_points(), 2u);
  EXPECT_EQ(cloud.dropped_nonfinite, 3u);
  EXPECT_EQ(cloud.point(1)[0], 4.f);
  EXPECT_EQ(cloud.point(1)[3], 0.25f);
}

TEST(BadInput, NonFiniteCoordinatesRefusedOnRequest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string bytes = floats_to_bytes({1, 2, 3, 0.5f, 4, nan, 3, 0.5f});
  ReadOptions o;
  o.nonfinite = NonFinitePolicy::Refuse;
  expect_error(
      [&] { parse_point_cloud(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "nan.bin", o); },
      {"nan.bin", "point 1", "non-finite", "'y'"});
}

// ---- NPY ---------------------------------------------------------------------------------------------------

namespace {

std::string npy_bytes(const std::string& descr, const std::string& shape, bool fortran, const std::string& body,
                      int major = 1) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                       ", 'shape': " + shape + ", }";
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const std::size_t len = header.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (major != 1) out += std::string(2, '\0');
  return out + header + body;
}

PointCloud parse_npy_string(const std::string& bytes) {
  return parse_point_cloud(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "cloud.npy");
}

}  // namespace

TEST(Npy, Float32COrder) {
  const std::vector<float> v = {1, 2, 3, 0.5f, 4, 5, 6, 0.25f};
  const PointCloud c = parse_npy_string(npy_bytes("<f4", "(2, 4)", false, floats_to_bytes(v)));
  EXPECT_EQ(c.format, "npy");
  EXPECT_EQ(c.fields, (std::vector<std::string>{"x", "y", "z", "intensity"}));
  EXPECT_EQ(c.values, v);
}

TEST(Npy, Float64FortranOrderAndExtraColumns) {
  // Column-major [2, 5]: column x = (1, 6), y = (2, 7), ...
  const std::vector<double> cols = {1, 6, 2, 7, 3, 8, 4, 9, 5, 10};
  const std::string body(reinterpret_cast<const char*>(cols.data()), cols.size() * sizeof(double));
  const PointCloud c = parse_npy_string(npy_bytes("<f8", "(2, 5)", true, body, 2));
  EXPECT_EQ(c.fields.back(), "f4");
  EXPECT_EQ(c.values, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(Npy, BigEndianFloat32) {
  std::string body = floats_to_bytes({1, 2, 3, 4});
  for (std::size_t i = 0; i < body.size(); i += 4) std::swap(body[i], body[i + 3]), std::swap(body[i + 1], body[i + 2]);
  EXPECT_EQ(parse_npy_string(npy_bytes(">f4", "(1, 4)", false, body)).values, (std::vector<float>{1, 2, 3, 4}));
}

TEST(Npy, MatchesTheKittiBinOfTheSameFrame) {
  POINTRT_REQUIRE_SHARED_DATA();
  const PointCloud bin = read_point_cloud(shared_data_dir() + "/kitti/training/velodyne_reduced/000001.bin");
  const std::string path = make_temp_dir("npy") + "/000001.npy";
  write_file(path, npy_bytes("<f4", "(" + std::to_string(bin.num_points()) + ", 4)", false, floats_to_bytes(bin.values)));
  const PointCloud npy = read_point_cloud(path);
  EXPECT_EQ(npy.values, bin.values);
}

TEST(BadInput, NpyBadMagic) {
  expect_error([] { parse_npy_string("PK\x03\x04 this is a zip file"); }, {"cloud.npy", "not an NPY file"});
}

TEST(BadInput, NpyUnsupportedDtype) {
  expect_error([] { parse_npy_string(npy_bytes("<i4", "(1, 4)", false, std::string(16, '\0'))); },
               {"cloud.npy", "unsupported NPY dtype '<i4'"});
  expect_error([] { parse_npy_string(npy_bytes("<f2", "(1, 4)", false, std::string(8, '\0'))); },
               {"unsupported NPY dtype '<f2'"});
}

TEST(BadInput, NpyStructuredDtype) {
  std::string bytes = npy_bytes("<f4", "(1, 4)", false, std::string(16, '\0'));
  const std::size_t pos = bytes.find("'<f4'");
  bytes.replace(pos, 5, "[('x', '<f4')]");
  expect_error([&] { parse_npy_string(bytes); }, {"structured dtypes"});
}

TEST(BadInput, NpyUnsupportedShape) {
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(8,)", false, std::string(32, '\0'))); },
               {"unsupported NPY shape (8)", "[N, F]"});
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(2, 3)", false, std::string(24, '\0'))); },
               {"unsupported NPY shape (2, 3)", "at least 4 columns"});
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(1, 2, 4)", false, std::string(32, '\0'))); },
               {"unsupported NPY shape (1, 2, 4)"});
}

TEST(BadInput, NpyTruncatedData) {
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(3, 4)", false, std::string(40, '\0'))); },
               {"cloud.npy", "truncated NPY data", "needs 48 bytes but 40"});
}

TEST(BadInput, NpyAbsurdShapeIsRefusedBeforeAllocating) {
  expect_error([] { parse_npy_string(npy_bytes("<f8", "(18446744073709551615, 4)", false, std::string(64, '\0'))); },
               {"truncated NPY data", "needs more bytes"});
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(4000000000, 4)", false, std::string(64, '\0'))); },
               {"truncated NPY data", "64000000000"});
}

TEST(BadInput, NpyTrailingBytes) {
  expect_error([] { parse_npy_string(npy_bytes("<f4", "(1, 4)", false, std::string(20, '\0'))); },
               {"4 unexpected trailing bytes"});
}

TEST(BadInput, NpyMalformedHeader) {
  std::string bytes = npy_bytes("<f4", "(1, 4)", false, std::string(16, '\0'));
  bytes.replace(bytes.find("'shape'"), 7, "'shope'");
  expect_error([&] { parse_npy_string(bytes); }, {"malformed NPY header", "'shape'"});
  std::string truncated = npy_bytes("<f4", "(1, 4)", false, "").substr(0, 30);
  expect_error([&] { parse_npy_string(truncated); }, {"truncated NPY header"});
  std::string version = npy_bytes("<f4", "(1, 4)", false, std::string(16, '\0'));
  version[6] = 9;
  expect_error([&] { parse_npy_string(version); }, {"unsupported NPY format version 9"});
}
