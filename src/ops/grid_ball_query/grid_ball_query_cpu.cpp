#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ops/ball_query/ball_query.h"
#include "ops/grid_ball_query/grid_ball_query.h"

namespace pointrt::ops {

namespace detail {

void grid_ball_query_check(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                           const GridBallQueryParams& params, const Tensor& idx_cnt, const Tensor& idx, Device device) {
  check_ball_query_io("GridBallQuery", xyz, new_xyz, params.radius, params.nsample, idx_cnt, idx, device,
                      std::int64_t{1} << 29, "2^29");
  check_tensor(voxel, "GridBallQuery", "voxel", DType::F32, device, {xyz.dim(0), 3});
}

std::int64_t grid_ball_query_table_slots(std::int64_t num_sources) {
  std::int64_t t = 1024;
  while (t < 2 * num_sources) t *= 2;
  return t;
}

}  // namespace detail

std::size_t grid_ball_query_workspace_bytes(std::int64_t batch, std::int64_t num_sources, std::int64_t,
                                            const GridBallQueryParams&) {
  const auto t = static_cast<std::size_t>(detail::grid_ball_query_table_slots(num_sources));
  const auto b = static_cast<std::size_t>(batch), n = static_cast<std::size_t>(num_sources);
  WorkspaceCarver c(nullptr);
  c.take<std::uint32_t>(3 * b * t + b);  // keys [B, T], cell (start, count - 1) [B, T, 2], cursors [B] (one memset)
  c.take<std::int32_t>(b * n);           // slot of each source
  c.take<std::int32_t>(b * n);           // rank of each source in its cell
  c.take<float>(4 * b * n);              // sources in cell order: x, y, z, index bits
  return c.size();
}

void grid_ball_query_cpu(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                         const GridBallQueryParams& params, Tensor& idx_cnt, Tensor& idx) {
  using namespace detail;
  grid_ball_query_check(xyz, new_xyz, voxel, params, idx_cnt, idx, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1);
  const int k = params.nsample;
  const float r = params.radius;
  const float r2 = r * r;
  const float* src = xyz.data_as<float>();
  const float* qry = new_xyz.data_as<float>();
  const float* vox = voxel.data_as<float>();
  std::int32_t* cnt_out = idx_cnt.data_as<std::int32_t>();
  std::int32_t* idx_out = idx.data_as<std::int32_t>();
  std::vector<std::int32_t> found;
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* s = src + b * n * 3;
    const float vx = vox[3 * b], vy = vox[3 * b + 1], vz = vox[3 * b + 2];
    // The grid: exact cell coordinates → source indices in ascending order (sources that can never be inside a ball,
    // i.e. with a non-finite coordinate, are left out, as on the device).
    std::map<std::tuple<int, int, int>, std::vector<std::int32_t>> cells;
    if (gbq_voxel_ok(vx, vy, vz)) {
      for (std::int64_t i = 0; i < n; ++i) {
        const float* p = s + 3 * i;
        if (!gbq_finite(p[0]) || !gbq_finite(p[1]) || !gbq_finite(p[2])) continue;
        cells[{gbq_cell(p[0], vx), gbq_cell(p[1], vy), gbq_cell(p[2], vz)}].push_back(static_cast<std::int32_t>(i));
      }
    }
    auto inside = [&](const float* q, std::int64_t i) {
      const float dx = q[0] - s[3 * i], dy = q[1] - s[3 * i + 1], dz = q[2] - s[3 * i + 2];
      const float d2 = dx * dx + dy * dy + dz * dz;
      return d2 < r2;
    };
    for (std::int64_t j = 0; j < m; ++j) {
      const float* q = qry + (b * m + j) * 3;
      std::int32_t* row = idx_out + (b * m + j) * k;
      found.clear();
      GbqWindow w{};
      if (gbq_window(q[0], q[1], q[2], vx, vy, vz, r, n, &w)) {
        for (int iz = 0; iz < w.nz; ++iz) {
          for (int iy = 0; iy < w.ny; ++iy) {
            for (int ix = 0; ix < w.nx; ++ix) {
              const auto it = cells.find({w.x0 + ix, w.y0 + iy, w.z0 + iz});
              if (it == cells.end()) continue;
              for (std::int32_t i : it->second) {
                if (inside(q, i)) found.push_back(i);
              }
            }
          }
        }
        std::sort(found.begin(), found.end());
        if (found.size() > static_cast<std::size_t>(k)) found.resize(static_cast<std::size_t>(k));
      } else {
        for (std::int64_t i = 0; i < n && found.size() < static_cast<std::size_t>(k); ++i) {
          if (inside(q, i)) found.push_back(static_cast<std::int32_t>(i));
        }
      }
      const int cnt = static_cast<int>(found.size());
      cnt_out[b * m + j] = cnt;
      for (int t = 0; t < k; ++t) row[t] = cnt == 0 ? 0 : found[static_cast<std::size_t>(t % cnt)];
    }
  }
}

void grid_ball_query_multi_cpu(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                               const GridBallQuerySet* sets, int count) {
  check_arg(sets != nullptr && count >= 1 && count <= kGridBallQueryMaxSets, "GridBallQuery",
            "multi: 1 to " + std::to_string(kGridBallQueryMaxSets) + " sets, got " + std::to_string(count));
  for (int i = 0; i < count; ++i) {
    check_arg(sets[i].idx_cnt != nullptr && sets[i].idx != nullptr, "GridBallQuery", "multi: null output tensor");
  }
  for (int i = 0; i < count; ++i) {
    grid_ball_query_cpu(xyz, new_xyz, voxel, sets[i].params, *sets[i].idx_cnt, *sets[i].idx);
  }
}

}  // namespace pointrt::ops
