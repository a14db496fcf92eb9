// Split points into coordinates and features: validation and the CPU reference (see split.h for the contract).
#include <cstdint>
#include <cstring>
#include <string>

#include "ops/split/split.h"

namespace pointrt::ops {

namespace detail {

void split_check(const Tensor& points, const Tensor& xyz, const Tensor* features, Device device) {
  check_tensor(points, "split", "points", DType::F32, device, {-1, -1, -1});
  const std::int64_t b = points.dim(0), n = points.dim(1), w = points.dim(2);
  check_arg(w >= 3, "split", "points: need at least the 3 coordinate channels, got " + points.describe());
  const std::int64_t c = w - 3;
  check_tensor(xyz, "split", "xyz", DType::F32, device, {b, n, 3});
  if (c == 0) {
    if (features != nullptr) {
      check_arg(false, "split",
                "features: points have no feature channels (C = 0), so features must be null, got " +
                    features->describe());
    }
  } else {
    check_arg(features != nullptr, "split",
              "features: points have C = " + std::to_string(c) + " feature channels, but features is null");
    check_tensor(*features, "split", "features", DType::F32, device, {b, n, c});
  }
}

}  // namespace detail

void split_cpu(const Tensor& points, Tensor& xyz, Tensor* features, const SplitParams& params) {
  (void)params;
  detail::split_check(points, xyz, features, Device::Host);
  const std::int64_t rows = points.dim(0) * points.dim(1), w = points.dim(2), c = w - 3;
  const float* src = points.data_as<float>();
  float* x = xyz.data_as<float>();
  float* f = c > 0 ? features->data_as<float>() : nullptr;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::memcpy(x + r * 3, src + r * w, 3 * sizeof(float));
    if (c > 0) std::memcpy(f + r * c, src + r * w + 3, static_cast<std::size_t>(c) * sizeof(float));
  }
}

}  // namespace pointrt::ops
