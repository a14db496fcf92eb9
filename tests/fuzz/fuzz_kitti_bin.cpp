// libFuzzer target: parse_point_cloud as the KITTI or the 5-float (Waymo) record format on arbitrary bytes. A pointrt::Error is the expected
// answer to bad input; any other exception, crash, sanitizer report or runaway allocation is a bug.
#include <cstddef>
#include <cstdint>

#include "pointrt/error.h"
#include "pointrt/pointcloud.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pointrt::ReadOptions options;
  options.format = (size & 1) ? pointrt::CloudFormat::Kitti : pointrt::CloudFormat::Waymo;
  try {
    const pointrt::PointCloud cloud = pointrt::parse_point_cloud(data, size, "fuzz", options);
    if (cloud.num_fields() < 3 || cloud.values.size() != cloud.num_points() * cloud.num_fields()) __builtin_trap();
  } catch (const pointrt::Error&) {
  }
  return 0;
}
