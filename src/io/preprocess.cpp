// Preprocessing: crop to the model's point-cloud range, then sample exactly N rows (IA-SSD reference semantics,
// made deterministic). See docs/file-formats.md#preprocessing.
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>

#include "core/random.h"
#include "pointrt/error.h"
#include "pointrt/pointcloud.h"

namespace pointrt {

namespace {

void check_options(const PreprocessOptions& o, const std::string& source) {
  for (float v : o.range) {
    if (!std::isfinite(v)) fail(source, "point-cloud range has a non-finite bound");
  }
  if (o.range[0] > o.range[3] || o.range[1] > o.range[4] || (o.crop_z && o.range[2] > o.range[5])) {
    fail(source, "point-cloud range has a minimum above its maximum");
  }
  if (o.num_points == 0) fail(source, "the number of points to sample must be positive");
  if (o.num_points > (std::size_t{1} << 26)) fail(source, "the number of points to sample is absurd");
  if (!(o.far_threshold >= 0.f)) fail(source, "the far-point threshold must be >= 0");
}

}  // namespace

PreparedPoints preprocess(const PointCloud& cloud, const PreprocessOptions& options) {
  check_options(options, cloud.source);
  const std::size_t f = cloud.num_fields();
  if (f < 3) fail(cloud.source, "a point cloud needs at least the fields x, y, z");
  const std::size_t n_in = cloud.num_points();
  const std::size_t n_out = options.num_points;
  const float* r = options.range;

  // 0. Presampled: the rows are already the network's input, in its order.
  if (options.presampled) {
    if (n_in != n_out) {
      fail(cloud.source.empty() ? std::string("point cloud") : cloud.source,
           "a presampled frame must hold exactly the model's point count: expected " + std::to_string(n_out) +
               " points, got " + std::to_string(n_in));
    }
    PreparedPoints out;
    out.num_points = n_out;
    out.num_fields = f;
    out.values.assign(cloud.values.begin(), cloud.values.begin() + static_cast<std::ptrdiff_t>(n_out * f));
    out.report.input_points = n_in;
    out.report.in_range = n_in;
    out.report.real_points = n_in;
    out.report.padded = 0;
    return out;
  }

  // 1. Crop (inclusive bounds; z only when asked, as the reference crops x and y only).
  std::vector<std::uint32_t> in_range;
  in_range.reserve(n_in);
  for (std::size_t i = 0; i < n_in; ++i) {
    const float* p = cloud.point(i);
    const bool keep = p[0] >= r[0] && p[0] <= r[3] && p[1] >= r[1] && p[1] <= r[4] &&
                      (!options.crop_z || (p[2] >= r[2] && p[2] <= r[5]));
    if (keep) in_range.push_back(static_cast<std::uint32_t>(i));
  }
  const std::size_t m = in_range.size();

  PreparedPoints out;
  out.num_points = n_out;
  out.num_fields = f;
  out.report.input_points = n_in;
  out.report.in_range = m;
  out.values.assign(n_out * f, 0.f);
  if (m == 0) {
    out.report.real_points = 0;
    out.report.padded = n_out;  // all-zero rows: an empty frame
    return out;
  }

  core::Random rng(options.seed);
  std::vector<std::uint32_t> chosen;  // indices into `cloud`
  chosen.reserve(n_out);
  if (m > n_out) {
    // 2a. Sub-sample: every far point, near points drawn without replacement for the rest; if the far points alone
    // fill N, draw N from all points in range.
    std::vector<std::uint32_t> near_points, far_points;
    const float t2 = options.far_threshold * options.far_threshold;
    for (std::uint32_t i : in_range) {
      const float* p = cloud.point(i);
      const float d2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
      (d2 < t2 ? near_points : far_points).push_back(i);
    }
    if (far_points.size() >= n_out) {
      for (std::uint32_t k : rng.sample_without_replacement(static_cast<std::uint32_t>(m),
                                                            static_cast<std::uint32_t>(n_out))) {
        chosen.push_back(in_range[k]);
      }
    } else {
      chosen = far_points;
      const auto need = static_cast<std::uint32_t>(n_out - far_points.size());
      for (std::uint32_t k : rng.sample_without_replacement(static_cast<std::uint32_t>(near_points.size()), need)) {
        chosen.push_back(near_points[k]);
      }
    }
    out.report.real_points = n_out;
    out.report.padded = 0;
  } else {
    // 2b. Every point once, then N - m repeats spread as evenly as possible: whole copies of the cloud while they
    // fit, the remainder drawn without replacement (so no point repeats more than once more than any other).
    chosen = in_range;
    std::size_t extra = n_out - m;
    while (extra >= m) {
      chosen.insert(chosen.end(), in_range.begin(), in_range.end());
      extra -= m;
    }
    for (std::uint32_t k :
         rng.sample_without_replacement(static_cast<std::uint32_t>(m), static_cast<std::uint32_t>(extra))) {
      chosen.push_back(in_range[k]);
    }
    out.report.real_points = m;
    out.report.padded = n_out - m;
  }

  // 3. Shuffle: point order carries no meaning for the network (as in the reference pipeline).
  rng.shuffle(chosen);
  for (std::size_t i = 0; i < n_out; ++i) {
    std::memcpy(out.values.data() + i * f, cloud.point(chosen[i]), f * sizeof(float));
  }
  return out;
}

}  // namespace pointrt
