// HAVSampling, CPU reference: exact distinct-cell counting by sorting the integer cell triples.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/havs/havs.h"

namespace pointrt::ops {

namespace {

constexpr const char* kOp = "havs";

using Cell = std::array<int, 3>;

struct Vec3 {
  float x, y, z;
};

void validate_params(const HavsParams& p) {
  check_arg(p.sample_num >= 1, kOp, "sample_num must be >= 1, got " + std::to_string(p.sample_num));
  check_arg(p.max_iter >= 1, kOp, "max_iter must be >= 1, got " + std::to_string(p.max_iter));
  check_arg(std::isfinite(p.tolerance) && p.tolerance >= 0.0f, kOp,
            "tolerance must be finite and >= 0, got " + std::to_string(p.tolerance));
  for (int a = 0; a < 3; ++a) {
    check_arg(std::isfinite(p.voxel[a]) && p.voxel[a] > 0.0f, kOp,
              "voxel[" + std::to_string(a) + "] must be finite and > 0, got " + std::to_string(p.voxel[a]));
  }
}

Cell cell_of(const float* q, const Vec3& v) {
  return {havs_detail::cell_int(havs_detail::cell_coord(q[0], v.x)),
          havs_detail::cell_int(havs_detail::cell_coord(q[1], v.y)),
          havs_detail::cell_int(havs_detail::cell_coord(q[2], v.z))};
}

int count_cells(const float* pts, std::int64_t n, const Vec3& v, std::vector<Cell>& scratch) {
  scratch.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) scratch[static_cast<std::size_t>(i)] = cell_of(pts + 3 * i, v);
  std::sort(scratch.begin(), scratch.end());
  return static_cast<int>(std::unique(scratch.begin(), scratch.end()) - scratch.begin());
}

}  // namespace

void havs_detail::validate(const Tensor& xyz, const HavsParams& params, const Tensor& indices, const Tensor& voxel,
                   const Tensor& num_cells, Device device) {
  check_tensor(xyz, kOp, "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_arg(n >= 1, kOp, "xyz: needs at least one point per batch element (N >= 1), got " + xyz.describe());
  check_arg(n <= (std::int64_t{1} << 30), kOp, "xyz: at most 2^30 points per batch element, got " + xyz.describe());
  validate_params(params);
  check_tensor(indices, kOp, "indices", DType::I32, device, {b, params.sample_num});
  check_tensor(voxel, kOp, "voxel", DType::F32, device, {b, 3});
  check_tensor(num_cells, kOp, "num_cells", DType::I32, device, {b});
}

void havs_cpu(const Tensor& xyz, const HavsParams& params, Tensor& indices, Tensor& voxel, Tensor& num_cells) {
  havs_detail::validate(xyz, params, indices, voxel, num_cells, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1);
  const int s = params.sample_num;
  std::vector<Cell> scratch;
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* pts = xyz.data_as<float>() + b * n * 3;
    const Vec3 v0{params.voxel[0], params.voxel[1], params.voxel[2]};
    Vec3 c = v0, lo{0.0f, 0.0f, 0.0f}, hi{2.0f * v0.x, 2.0f * v0.y, 2.0f * v0.z};
    int k = 0;
    for (int it = 0; it < params.max_iter; ++it) {
      k = count_cells(pts, n, c, scratch);
      if (havs_detail::converged(k, s, params.tolerance) || it + 1 == params.max_iter) break;
      if (k > s) lo = c;
      if (k < s) hi = c;
      c = {havs_detail::midpoint(lo.x, hi.x), havs_detail::midpoint(lo.y, hi.y), havs_detail::midpoint(lo.z, hi.z)};
    }

    // Representatives: per cell the smallest (float bits of delta, index), compared as one 64-bit key (delta >= 0 or
    // NaN, so the bit pattern orders like the value), exactly as the kernel's atomicMin does.
    struct Entry {
      Cell cell;
      std::uint64_t key;
    };
    std::vector<Entry> entries(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const float* q = pts + 3 * i;
      const float rx = havs_detail::cell_coord(q[0], c.x), ry = havs_detail::cell_coord(q[1], c.y),
                  rz = havs_detail::cell_coord(q[2], c.z);
      const float d2 = havs_detail::centre_dist2(q[0], q[1], q[2], rx, ry, rz, c.x, c.y, c.z);
      std::uint32_t bits = 0;
      std::memcpy(&bits, &d2, sizeof bits);
      entries[static_cast<std::size_t>(i)] = {
          {havs_detail::cell_int(rx), havs_detail::cell_int(ry), havs_detail::cell_int(rz)},
          (static_cast<std::uint64_t>(bits) << 32) | static_cast<std::uint64_t>(i)};
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& e) { return a.cell != e.cell ? a.cell < e.cell : a.key < e.key; });
    std::vector<std::int32_t> kept;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i == 0 || entries[i].cell != entries[i - 1].cell) {
        kept.push_back(static_cast<std::int32_t>(entries[i].key & 0xFFFFFFFFu));
      }
    }
    std::sort(kept.begin(), kept.end());
    // kept.size() == k: both count the distinct triples at the final size c.

    std::int32_t* out = indices.data_as<std::int32_t>() + b * s;
    const std::size_t num_kept = kept.size();
    for (int j = 0; j < s; ++j) out[j] = kept[static_cast<std::size_t>(j) % num_kept];
    float* vout = voxel.data_as<float>() + b * 3;
    vout[0] = c.x;
    vout[1] = c.y;
    vout[2] = c.z;
    num_cells.data_as<std::int32_t>()[b] = k;
  }
}

}  // namespace pointrt::ops
