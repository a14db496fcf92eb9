#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "ops/ball_query/ball_query.h"

namespace pointrt::ops {

namespace detail {

void ball_query_check(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, const Tensor& idx_cnt,
                      const Tensor& idx, Device device) {
  constexpr const char* op = "BallQuery";
  check_arg(std::isfinite(params.radius) && params.radius > 0.f, op,
            "radius must be finite and > 0, got " + std::to_string(params.radius));
  check_arg(params.nsample >= 1, op, "nsample must be >= 1, got " + std::to_string(params.nsample));
  check_tensor(xyz, op, "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_tensor(new_xyz, op, "new_xyz", DType::F32, device, {b, -1, 3});
  const std::int64_t m = new_xyz.dim(1);
  check_arg(n <= std::numeric_limits<std::int32_t>::max() && m <= std::numeric_limits<std::int32_t>::max(), op,
            "more than 2^31 - 1 sources or queries");
  check_tensor(idx_cnt, op, "idx_cnt", DType::I32, device, {b, m});
  check_tensor(idx, op, "idx", DType::I32, device, {b, m, params.nsample});
}

}  // namespace detail

std::size_t ball_query_workspace_bytes(std::int64_t, std::int64_t, std::int64_t, const BallQueryParams&) { return 0; }

void ball_query_cpu(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, Tensor& idx_cnt,
                    Tensor& idx) {
  detail::ball_query_check(xyz, new_xyz, params, idx_cnt, idx, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1);
  const int k = params.nsample;
  const float r2 = params.radius * params.radius;
  const float* src = xyz.data_as<float>();
  const float* qry = new_xyz.data_as<float>();
  std::int32_t* cnt_out = idx_cnt.data_as<std::int32_t>();
  std::int32_t* idx_out = idx.data_as<std::int32_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* s = src + b * n * 3;
    for (std::int64_t j = 0; j < m; ++j) {
      const float* q = qry + (b * m + j) * 3;
      std::int32_t* row = idx_out + (b * m + j) * k;
      int cnt = 0;
      for (std::int64_t i = 0; i < n && cnt < k; ++i) {
        const float dx = q[0] - s[3 * i], dy = q[1] - s[3 * i + 1], dz = q[2] - s[3 * i + 2];
        const float d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < r2) row[cnt++] = static_cast<std::int32_t>(i);
      }
      cnt_out[b * m + j] = cnt;
      for (int t = cnt; t < k; ++t) row[t] = cnt == 0 ? 0 : row[t % cnt];
    }
  }
}

}  // namespace pointrt::ops
