// Vote centres: validation and the CPU reference (see vote.h for the contract).
#include <cmath>
#include <cstdint>
#include <string>

#include "ops/vote/vote.h"

namespace pointrt::ops {

namespace detail {

void vote_check(const Tensor& ctr_xyz, const Tensor& offsets, const Tensor& centers, const VoteParams& params,
                Device device) {
  for (int a = 0; a < 3; ++a) {
    const float t = params.max_translation[static_cast<std::size_t>(a)];
    check_arg(std::isfinite(t) && t >= 0.0f, "vote",
              "max_translation[" + std::to_string(a) + "] must be finite and >= 0, got " + std::to_string(t));
  }
  check_tensor(ctr_xyz, "vote", "ctr_xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = ctr_xyz.dim(0), m = ctr_xyz.dim(1);
  check_tensor(offsets, "vote", "offsets", DType::F32, device, {b, m, 3});
  check_tensor(centers, "vote", "centers", DType::F32, device, {b, m, 3});
}

}  // namespace detail

void vote_cpu(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params) {
  detail::vote_check(ctr_xyz, offsets, centers, params, Device::Host);
  const std::int64_t n = ctr_xyz.numel();
  const float* xyz = ctr_xyz.data_as<float>();
  const float* off = offsets.data_as<float>();
  float* out = centers.data_as<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = vote_axis(xyz[i], off[i], params.max_translation[static_cast<std::size_t>(i % 3)]);
  }
}

}  // namespace pointrt::ops
