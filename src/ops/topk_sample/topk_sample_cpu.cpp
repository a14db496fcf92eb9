// Centroid-aware top-k sampling: CPU reference (see topk_sample.h for the contract).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/topk_sample/topk_sample.h"

namespace pointrt::ops {

namespace detail {

void topk_sample_check(const Tensor& logits, const Tensor& indices, const Tensor* keys, const TopkSampleParams& params,
                       Device device) {
  check_tensor(logits, "topk_sample", "logits", DType::F32, device, {-1, -1, -1});
  const std::int64_t b = logits.dim(0), n = logits.dim(1), c = logits.dim(2);
  check_arg(c >= 1, "topk_sample", "logits: need at least one class channel (C >= 1), got " + logits.describe());
  check_arg(c <= INT32_MAX && n <= INT32_MAX, "topk_sample", "logits: too large for int32 indices");
  check_arg(params.num_samples >= 0 && params.num_samples <= n, "topk_sample",
            "num_samples must be in [0, N = " + std::to_string(n) + "], got " + std::to_string(params.num_samples));
  check_tensor(indices, "topk_sample", "indices", DType::I32, device, {b, params.num_samples});
  if (keys != nullptr) check_tensor(*keys, "topk_sample", "keys", DType::F32, device, {b, params.num_samples});
}

}  // namespace detail

void topk_sample_cpu(const Tensor& logits, Tensor& indices, const TopkSampleParams& params, Tensor* keys) {
  detail::topk_sample_check(logits, indices, keys, params, Device::Host);
  const std::int64_t batch = logits.dim(0), n = logits.dim(1);
  const int c = static_cast<int>(logits.dim(2));
  const int s = params.num_samples;
  // One unique 64-bit sort key per point: (complemented order bits, index); ascending order = descending key with
  // ties to the lower index, so a partial sort of the first S entries is fully determined.
  std::vector<std::uint64_t> sort_keys(static_cast<std::size_t>(n));
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* l = logits.data_as<float>() + b * n * c;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint32_t bits = topk_order_bits(topk_point_key(l + i * c, c));
      sort_keys[static_cast<std::size_t>(i)] =
          (static_cast<std::uint64_t>(~bits) << 32) | static_cast<std::uint64_t>(i);
    }
    std::partial_sort(sort_keys.begin(), sort_keys.begin() + s, sort_keys.end());
    std::int32_t* out = indices.data_as<std::int32_t>() + b * s;
    for (int r = 0; r < s; ++r)
      out[r] = static_cast<std::int32_t>(sort_keys[static_cast<std::size_t>(r)] & 0xffffffffu);
    if (keys != nullptr) {
      float* k = keys->data_as<float>() + b * s;
      for (int r = 0; r < s; ++r) k[r] = topk_point_key(l + static_cast<std::int64_t>(out[r]) * c, c);
    }
  }
}

std::size_t topk_sample_workspace_bytes(std::int64_t batch, std::int64_t num_points, const TopkSampleParams& params) {
  (void)batch;
  (void)num_points;
  (void)params;
  return WorkspaceCarver(nullptr).size();
}

}  // namespace pointrt::ops
