// FPS / D-FPS: CPU reference (see fps.h for the contract).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/fps/fps.h"

namespace pointrt::ops {

namespace detail {

void fps_check(const Tensor& xyz, const Tensor& indices, const FpsParams& params, Device device) {
  check_tensor(xyz, "fps", "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_arg(params.num_samples >= 0, "fps",
            "num_samples must be >= 0, got " + std::to_string(params.num_samples));
  check_arg(params.num_samples == 0 || n >= 1, "fps",
            "xyz: cannot sample " + std::to_string(params.num_samples) + " points from an empty cloud (N = 0)");
  check_arg(n <= INT32_MAX, "fps", "xyz: N = " + std::to_string(n) + " does not fit int32 indices");
  check_tensor(indices, "fps", "indices", DType::I32, device, {b, params.num_samples});
}

}  // namespace detail

void fps_cpu(const Tensor& xyz, Tensor& indices, const FpsParams& params) {
  detail::fps_check(xyz, indices, params, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1);
  const int m = params.num_samples;
  if (m == 0) return;
  std::vector<float> dist(static_cast<std::size_t>(n));
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* p = xyz.data_as<float>() + b * n * 3;
    std::int32_t* out = indices.data_as<std::int32_t>() + b * m;
    std::fill(dist.begin(), dist.end(), kFpsInitialDistance);
    std::int64_t last = 0;
    out[0] = 0;
    for (int j = 1; j < m; ++j) {
      const float lx = p[3 * last], ly = p[3 * last + 1], lz = p[3 * last + 2];
      float best = -1.0f;
      std::int64_t best_k = 0;
      for (std::int64_t k = 0; k < n; ++k) {
        const float d = fps_sq_dist(p[3 * k], p[3 * k + 1], p[3 * k + 2], lx, ly, lz);
        if (d < dist[k]) dist[k] = d;
        if (dist[k] > best) {  // strictly larger: the lowest index wins ties
          best = dist[k];
          best_k = k;
        }
      }
      out[j] = static_cast<std::int32_t>(best_k);
      last = best_k;
    }
  }
}

}  // namespace pointrt::ops
