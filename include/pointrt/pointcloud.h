// pointrt — point clouds: reading LiDAR frames and preparing them for a model.
//
// A PointCloud is a host-side [N, F] table of float32 values with named fields; the first three are always
// x, y, z. Readers accept KITTI `.bin` (4 × f32), nuScenes and Waymo `.bin` (5 × f32), PCD (ascii, binary,
// binary_compressed) and NPY (f32/f64, shape [N, ≥4]). Every reader checks sizes against the file before it
// allocates, and refuses bad input with a pointrt::Error naming the file and the reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pointrt {

enum class CloudFormat {
  Auto,      // from the file name: .pcd, .npy, *.pcd.bin (nuScenes), other .bin (KITTI)
  Kitti,     // .bin, float32 x, y, z, intensity
  NuScenes,  // .bin, float32 x, y, z, intensity, ring
  Waymo,     // .bin, float32 x, y, z, intensity, elongation
  Pcd,       // PCD v0.7 (ascii, binary, binary_compressed)
  Npy,       // NumPy .npy, float32 or float64, shape [N, F] with F >= 4 (x, y, z, then features)
};

// "auto", "kitti", "nuscenes", "waymo", "pcd", "npy"
const char* format_name(CloudFormat format);
// Parses a name accepted by format_name(); throws Error listing the accepted names otherwise.
CloudFormat parse_format(const std::string& name);

// What to do with points whose x, y or z (or a feature) is NaN or infinite.
enum class NonFinitePolicy {
  Drop,    // drop the point and count it in PointCloud::dropped_nonfinite (default)
  Refuse,  // throw Error naming the file and the first bad point
};

struct ReadOptions {
  CloudFormat format = CloudFormat::Auto;
  NonFinitePolicy nonfinite = NonFinitePolicy::Drop;
};

struct PointCloud {
  std::string source;               // file the cloud came from (used in messages)
  std::string format;               // format_name() of the reader that produced it
  std::vector<std::string> fields;  // field names; fields[0..2] are "x", "y", "z"
  std::vector<float> values;        // row-major [num_points, fields.size()]
  std::size_t dropped_nonfinite = 0;

  std::size_t num_fields() const { return fields.size(); }
  std::size_t num_points() const { return fields.empty() ? 0 : values.size() / fields.size(); }
  const float* point(std::size_t i) const { return values.data() + i * fields.size(); }
  // Index of a field by name, or -1.
  int field_index(const std::string& name) const;
};

// Reads a point-cloud file. Throws Error("<path>: <reason>") on any problem: missing or unreadable file, empty file,
// size not a multiple of the record size, truncated data, malformed or unsupported header, absurd declared sizes,
// non-finite values (with NonFinitePolicy::Refuse).
PointCloud read_point_cloud(const std::string& path, const ReadOptions& options = {});

// Parses a file already in memory; `name` is used in messages and for CloudFormat::Auto. Same checks as above.
PointCloud parse_point_cloud(const std::uint8_t* data, std::size_t size, const std::string& name,
                             const ReadOptions& options = {});

// Returns a cloud with fields x, y, z followed by `features` (in that order), e.g. {"intensity"} for KITTI models.
// Throws Error naming the cloud and the unknown field.
PointCloud select_fields(const PointCloud& cloud, const std::vector<std::string>& features);

// Per-field statistics for `pointrt info`.
struct FieldRange {
  std::string name;
  float min = 0.f;
  float max = 0.f;
};
std::vector<FieldRange> field_ranges(const PointCloud& cloud);

// ---- preprocessing: crop to the model's range, sample to exactly N points -------------------------------------

struct PreprocessOptions {
  // Point-cloud range [x_min, y_min, z_min, x_max, y_max, z_max], inclusive. The IA-SSD reference crops x and y only
  // (z is kept whatever its value), so crop_z defaults to false.
  float range[6] = {0.f, -40.f, -3.f, 70.4f, 40.f, 1.f};
  bool crop_z = false;
  std::size_t num_points = 16384;    // N
  float far_threshold = 40.f;        // points at range >= this are all kept when sub-sampling (IA-SSD reference)
  std::uint64_t seed = 0x5eed;       // the same cloud and seed always give the same points
  // The cloud already holds exactly num_points rows in the network's order (e.g. written by
  // `python -m pointrt_train.predict --dump-inputs`): the rows are taken as they are — no crop, no sampling, no
  // shuffle (range, crop_z, far_threshold and seed are not used). Any other row count is an Error.
  bool presampled = false;
};

struct PreprocessReport {
  std::size_t input_points = 0;  // points in the cloud
  std::size_t in_range = 0;      // points left after the crop
  std::size_t real_points = 0;   // distinct input points among the N (= min(in_range, N))
  std::size_t padded = 0;        // N - real_points rows that repeat real points (0 when sub-sampling)
};

struct PreparedPoints {
  std::vector<float> values;  // row-major [num_points, num_fields]
  std::size_t num_points = 0;
  std::size_t num_fields = 0;
  PreprocessReport report;
};

// Crops `cloud` to the range and samples exactly options.num_points rows (see docs/file-formats.md#preprocessing):
// more points than N → all far points plus a seeded draw without replacement of near ones; fewer → every point
// once plus repeats spread as evenly as possible; either way the rows are then shuffled with the seed.
// A cloud with no point in range gives N zero rows and real_points = 0 (a valid, empty frame).
// With options.presampled the cloud must hold exactly N rows, returned unchanged and in order (report: input_points
// = in_range = real_points = N, padded = 0); a cloud with M != N rows throws Error("<source>: ... expected N ...
// got M ...").
PreparedPoints preprocess(const PointCloud& cloud, const PreprocessOptions& options = {});

}  // namespace pointrt
