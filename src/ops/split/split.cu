// Split points into coordinates and features: CUDA kernel (see split.h for the contract). One grid-stride kernel,
// one thread per input value: consecutive threads read consecutive floats of points (coalesced) and write them to
// xyz or features (both nearly contiguous per warp). A pure copy (bit moves, no arithmetic): bit-identical to the
// CPU reference. Replaces two cudaMemcpy2DAsync calls (two graph nodes with strided copies) by one kernel.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "core/cuda_utils.h"
#include "ops/split/split.h"

namespace pointrt::ops {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 65535;

__global__ void __launch_bounds__(kThreads)
    split_kernel(const float* __restrict__ points, float* __restrict__ xyz, float* __restrict__ feats,
                 std::int64_t n, int w) {
  const int c = w - 3;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const std::int64_t row = i / w;
    const int ch = static_cast<int>(i - row * w);
    const float v = __ldg(points + i);
    if (ch < 3) {
      xyz[row * 3 + ch] = v;
    } else {
      feats[row * c + (ch - 3)] = v;
    }
  }
}

}  // namespace

void split_cuda(const Tensor& points, Tensor& xyz, Tensor* features, StreamHandle stream,
                const SplitParams& params) {
  (void)params;
  detail::split_check(points, xyz, features, Device::CUDA);
  const std::int64_t n = points.numel();
  if (n == 0) return;
  const std::int64_t w = points.dim(2);
  check_arg(w <= INT32_MAX, "split", "points: channel count exceeds int32");
  const std::int64_t blocks = std::min<std::int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks);
  split_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      points.data_as<float>(), xyz.data_as<float>(), w > 3 ? features->data_as<float>() : nullptr, n,
      static_cast<int>(w));
  POINTRT_CHECK_LAUNCH("split_kernel");
}

}  // namespace pointrt::ops
