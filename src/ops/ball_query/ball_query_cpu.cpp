#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "ops/ball_query/ball_query.h"

namespace pointrt::ops {

namespace detail {

void check_ball_query_io(const char* op, const Tensor& xyz, const Tensor& new_xyz, float radius, int nsample,
                         const Tensor& idx_cnt, const Tensor& idx, Device device, std::int64_t max_sources,
                         const char* max_sources_text) {
  check_arg(std::isfinite(radius) && radius > 0.f, op, "radius must be finite and > 0, got " + std::to_string(radius));
  check_arg(nsample >= 1, op, "nsample must be >= 1, got " + std::to_string(nsample));
  check_tensor(xyz, op, "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_tensor(new_xyz, op, "new_xyz", DType::F32, device, {b, -1, 3});
  const std::int64_t m = new_xyz.dim(1);
  check_arg(n <= max_sources && m <= std::numeric_limits<std::int32_t>::max(), op,
            std::string("more than ") + max_sources_text + " sources or 2^31 - 1 queries");
  check_tensor(idx_cnt, op, "idx_cnt", DType::I32, device, {b, m});
  check_tensor(idx, op, "idx", DType::I32, device, {b, m, nsample});
}

void ball_query_check(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, const Tensor& idx_cnt,
                      const Tensor& idx, Device device) {
  check_ball_query_io("BallQuery", xyz, new_xyz, params.radius, params.nsample, idx_cnt, idx, device,
                      std::numeric_limits<std::int32_t>::max(), "2^31 - 1");
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
