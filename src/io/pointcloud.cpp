// read_point_cloud / parse_point_cloud: format dispatch, the non-finite policy, field selection and statistics.
#include "pointrt/pointcloud.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/file.h"
#include "io/readers.h"
#include "pointrt/error.h"

namespace pointrt {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

CloudFormat format_from_name(const std::string& name) {
  const std::string n = lower(name);
  if (ends_with(n, ".pcd")) return CloudFormat::Pcd;
  if (ends_with(n, ".npy")) return CloudFormat::Npy;
  if (ends_with(n, ".pcd.bin")) return CloudFormat::NuScenes;  // nuScenes names its sweeps *.pcd.bin
  if (ends_with(n, ".bin")) return CloudFormat::Kitti;
  fail(name, "cannot tell the point-cloud format from the file name (expected .bin, .pcd.bin, .pcd or .npy); "
             "name it with --format kitti|nuscenes|waymo|pcd|npy");
}

void apply_nonfinite_policy(PointCloud& cloud, NonFinitePolicy policy) {
  const std::size_t f = cloud.num_fields();
  const std::size_t n = cloud.num_points();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = cloud.values.data() + i * f;
    std::size_t bad = f;
    for (std::size_t j = 0; j < f; ++j) {
      if (!std::isfinite(row[j])) {
        bad = j;
        break;
      }
    }
    if (bad != f) {
      if (policy == NonFinitePolicy::Refuse) {
        fail(cloud.source, "point " + std::to_string(i) + " has a non-finite value (" + std::to_string(row[bad]) +
                               ") in field '" + cloud.fields[bad] + "'; non-finite points are refused "
                               "(the default policy drops them instead)");
      }
      continue;
    }
    if (kept != i) std::memmove(cloud.values.data() + kept * f, row, f * sizeof(float));
    ++kept;
  }
  cloud.dropped_nonfinite = n - kept;
  cloud.values.resize(kept * f);
}

}  // namespace

const char* format_name(CloudFormat format) {
  switch (format) {
    case CloudFormat::Auto: return "auto";
    case CloudFormat::Kitti: return "kitti";
    case CloudFormat::NuScenes: return "nuscenes";
    case CloudFormat::Waymo: return "waymo";
    case CloudFormat::Pcd: return "pcd";
    case CloudFormat::Npy: return "npy";
  }
  return "?";
}

CloudFormat parse_format(const std::string& name) {
  for (CloudFormat f : {CloudFormat::Auto, CloudFormat::Kitti, CloudFormat::NuScenes, CloudFormat::Waymo,
                        CloudFormat::Pcd, CloudFormat::Npy}) {
    if (lower(name) == format_name(f)) return f;
  }
  fail("--format " + name, "unknown point-cloud format (expected auto, kitti, nuscenes, waymo, pcd or npy)");
}

int PointCloud::field_index(const std::string& name) const {
  const auto it = std::find(fields.begin(), fields.end(), name);
  return it == fields.end() ? -1 : static_cast<int>(it - fields.begin());
}

namespace io {

PointCloud parse_float_records(const std::uint8_t* data, std::size_t size, const std::string& name,
                               const std::vector<std::string>& fields, const char* format) {
  const std::size_t record = fields.size() * sizeof(float);
  if (size % record != 0) {
    std::string reason = "size " + std::to_string(size) + " bytes is not a multiple of the " + std::to_string(record) +
                         "-byte " + format + " record (" + std::to_string(fields.size()) + " x float32:";
    for (const auto& f : fields) reason += " " + f;
    reason += ")";
    const std::size_t other = record == 16 ? 20 : 16;
    if (size % other == 0) {
      reason += other == 20 ? "; it is a multiple of 20 bytes: a 5-float nuScenes/Waymo file? (--format nuscenes|waymo)"
                            : "; it is a multiple of 16 bytes: a 4-float KITTI file? (--format kitti)";
    }
    fail(name, reason);
  }
  PointCloud cloud;
  cloud.source = name;
  cloud.format = format;
  cloud.fields = fields;
  cloud.values.resize(size / sizeof(float));
  if (size != 0) std::memcpy(cloud.values.data(), data, size);  // little-endian float32 on every supported host
  return cloud;
}

}  // namespace io

PointCloud parse_point_cloud(const std::uint8_t* data, std::size_t size, const std::string& name,
                             const ReadOptions& options) {
  if (size == 0) fail(name, "empty file (0 bytes)");
  const CloudFormat format = options.format == CloudFormat::Auto ? format_from_name(name) : options.format;
  PointCloud cloud;
  switch (format) {
    case CloudFormat::Kitti:
      cloud = io::parse_float_records(data, size, name, {"x", "y", "z", "intensity"}, "kitti");
      break;
    case CloudFormat::NuScenes:
      cloud = io::parse_float_records(data, size, name, {"x", "y", "z", "intensity", "ring"}, "nuscenes");
      break;
    case CloudFormat::Waymo:
      cloud = io::parse_float_records(data, size, name, {"x", "y", "z", "intensity", "elongation"}, "waymo");
      break;
    case CloudFormat::Pcd: cloud = io::parse_pcd(data, size, name); break;
    case CloudFormat::Npy: cloud = io::parse_npy(data, size, name); break;
    case CloudFormat::Auto: break;  // resolved above
  }
  cloud.source = name;
  apply_nonfinite_policy(cloud, options.nonfinite);
  return cloud;
}

PointCloud read_point_cloud(const std::string& path, const ReadOptions& options) {
  if (options.format == CloudFormat::Auto) format_from_name(path);  // fail on an unknown name before reading
  const std::vector<std::uint8_t> bytes = core::read_file_bytes(path);
  return parse_point_cloud(bytes.data(), bytes.size(), path, options);
}

PointCloud select_fields(const PointCloud& cloud, const std::vector<std::string>& features) {
  std::vector<std::string> names = {"x", "y", "z"};
  names.insert(names.end(), features.begin(), features.end());
  std::vector<std::size_t> columns;
  for (const auto& n : names) {
    const int idx = cloud.field_index(n);
    if (idx < 0) {
      std::string have;
      for (const auto& f : cloud.fields) have += (have.empty() ? "" : ", ") + f;
      fail(cloud.source, "has no field '" + n + "' (fields: " + have + ")");
    }
    columns.push_back(static_cast<std::size_t>(idx));
  }
  PointCloud out;
  out.source = cloud.source;
  out.format = cloud.format;
  out.fields = names;
  out.dropped_nonfinite = cloud.dropped_nonfinite;
  const std::size_t n = cloud.num_points();
  out.values.resize(n * names.size());
  for (std::size_t i = 0; i < n; ++i) {
    const float* row = cloud.point(i);
    for (std::size_t j = 0; j < columns.size(); ++j) out.values[i * columns.size() + j] = row[columns[j]];
  }
  return out;
}

std::vector<FieldRange> field_ranges(const PointCloud& cloud) {
  std::vector<FieldRange> ranges;
  const std::size_t f = cloud.num_fields();
  const std::size_t n = cloud.num_points();
  for (std::size_t j = 0; j < f; ++j) {
    FieldRange r;
    r.name = cloud.fields[j];
    if (n != 0) {
      r.min = std::numeric_limits<float>::infinity();
      r.max = -std::numeric_limits<float>::infinity();
      for (std::size_t i = 0; i < n; ++i) {
        r.min = std::min(r.min, cloud.values[i * f + j]);
        r.max = std::max(r.max, cloud.values[i * f + j]);
      }
    }
    ranges.push_back(r);
  }
  return ranges;
}

}  // namespace pointrt
