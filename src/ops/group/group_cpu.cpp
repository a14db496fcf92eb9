// Gather and grouping: CPU reference (see group.h for the contract).
#include <cstdint>
#include <cstring>
#include <string>

#include "ops/group/group.h"

namespace pointrt::ops {

namespace detail {

void gather_points_check(const Tensor& x, const Tensor& ind, const Tensor& out, Device device) {
  check_tensor(x, "gather_points", "x", DType::F32, device, {-1, -1, -1});
  const std::int64_t b = x.dim(0), c = x.dim(2);
  check_arg(c >= 1, "gather_points", "x: need at least one channel, got " + x.describe());
  check_arg(x.dim(1) <= INT32_MAX, "gather_points", "x: N does not fit int32 indices");
  check_tensor(ind, "gather_points", "ind", DType::I32, device, {b, -1});
  check_tensor(out, "gather_points", "out", DType::F32, device, {b, ind.dim(1), c});
}

std::int64_t group_check(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                         const Tensor& idx_cnt, const Tensor& grouped, const Tensor* mask, Device device) {
  check_tensor(xyz, "group", "xyz", DType::F32, device, {-1, -1, 3});
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  check_arg(n <= INT32_MAX, "group", "xyz: N does not fit int32 indices");
  std::int64_t c = 0;
  if (features != nullptr) {
    check_tensor(*features, "group", "features", DType::F32, device, {b, n, -1});
    c = features->dim(2);
  }
  check_tensor(new_xyz, "group", "new_xyz", DType::F32, device, {b, -1, 3});
  const std::int64_t m = new_xyz.dim(1);
  check_tensor(idx, "group", "idx", DType::I32, device, {b, m, -1});
  check_tensor(idx_cnt, "group", "idx_cnt", DType::I32, device, {b, m});
  check_tensor(grouped, "group", "grouped", DType::F32, device, {b, m, idx.dim(2), 3 + c});
  if (mask != nullptr) check_tensor(*mask, "group", "mask", DType::F32, device, {b, m});
  return c;
}

}  // namespace detail

namespace {

[[noreturn]] void bad_index(const char* op, const char* name, std::int64_t b, std::int64_t m, std::int64_t k,
                            std::int32_t value, std::int64_t n) {
  std::string where = std::string(name) + "[" + std::to_string(b) + ", " + std::to_string(m);
  if (k >= 0) where += ", " + std::to_string(k);
  fail(op, where + "] = " + std::to_string(value) + " is outside [0, N = " + std::to_string(n) + ")");
}

}  // namespace

void gather_points_cpu(const Tensor& x, const Tensor& ind, Tensor& out) {
  detail::gather_points_check(x, ind, out, Device::Host);
  const std::int64_t batch = x.dim(0), n = x.dim(1), c = x.dim(2), m = ind.dim(1);
  const float* src = x.data_as<float>();
  const std::int32_t* id = ind.data_as<std::int32_t>();
  float* dst = out.data_as<float>();
  for (std::int64_t r = 0; r < batch * m; ++r) {  // validate everything before writing anything
    if (id[r] < 0 || id[r] >= n) bad_index("gather_points", "ind", r / m, r % m, -1, id[r], n);
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int32_t i = id[b * m + j];
      std::memcpy(dst + (b * m + j) * c, src + (b * n + i) * c, static_cast<std::size_t>(c) * sizeof(float));
    }
  }
}

void group_cpu(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
               const Tensor& idx_cnt, Tensor& grouped, const GroupParams& params, Tensor* mask) {
  (void)params;
  const std::int64_t c = detail::group_check(xyz, features, new_xyz, idx, idx_cnt, grouped, mask, Device::Host);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1), k = idx.dim(2), w = 3 + c;
  const float* p = xyz.data_as<float>();
  const float* f = c > 0 ? features->data_as<float>() : nullptr;
  const float* q = new_xyz.data_as<float>();
  const std::int32_t* id = idx.data_as<std::int32_t>();
  float* out = grouped.data_as<float>();
  for (std::int64_t r = 0; r < batch * m * k; ++r) {  // validate everything before writing anything
    if (id[r] < 0 || id[r] >= n) bad_index("group", "idx", r / (m * k), (r / k) % m, r % k, id[r], n);
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const float* centre = q + (b * m + j) * 3;
      for (std::int64_t s = 0; s < k; ++s) {
        const std::int64_t row = (b * m + j) * k + s;
        const std::int32_t i = id[row];
        float* o = out + row * w;
        const float* pt = p + (b * n + i) * 3;
        o[0] = pt[0] - centre[0];
        o[1] = pt[1] - centre[1];
        o[2] = pt[2] - centre[2];
        if (c > 0) std::memcpy(o + 3, f + (b * n + i) * c, static_cast<std::size_t>(c) * sizeof(float));
      }
    }
  }
  if (mask != nullptr) {
    const std::int32_t* cnt = idx_cnt.data_as<std::int32_t>();
    float* mk = mask->data_as<float>();
    for (std::int64_t i = 0; i < batch * m; ++i) mk[i] = cnt[i] > 0 ? 1.0f : 0.0f;
  }
}

std::size_t gather_points_workspace_bytes() {
  WorkspaceCarver c(nullptr);
  c.take<unsigned long long>(1);
  return c.size();
}

std::size_t group_workspace_bytes() { return gather_points_workspace_bytes(); }

}  // namespace pointrt::ops
