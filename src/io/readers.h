// Internal: the format parsers behind read_point_cloud / parse_point_cloud. Each takes the whole file in memory,
// checks every declared size against `size` before allocating, and returns the raw cloud (non-finite values are
// kept; the caller applies the NonFinitePolicy). Errors are pointrt::Error("<name>: <reason>").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pointrt/pointcloud.h"

namespace pointrt::io {

// Flat float32 records of fields.size() values each (KITTI: x y z intensity; nuScenes/Waymo: 5 fields).
PointCloud parse_float_records(const std::uint8_t* data, std::size_t size, const std::string& name,
                               const std::vector<std::string>& fields, const char* format);
// PCD v0.5..v0.7: ascii, binary, binary_compressed (LZF). Needs fields x, y, z; others are kept in file order
// after them; fields of count > 1 are ignored (they are not per-point scalars).
PointCloud parse_pcd(const std::uint8_t* data, std::size_t size, const std::string& name);
// NumPy .npy v1/v2/v3: '<f4' or '<f8' (or '|' / '=' byte order on little-endian), C or Fortran order, shape [N, F],
// F >= 4: fields x, y, z, intensity, then f4, f5, ...
PointCloud parse_npy(const std::uint8_t* data, std::size_t size, const std::string& name);

}  // namespace pointrt::io
