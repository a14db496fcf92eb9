// Vote centres: CUDA kernel (see vote.h for the contract). One thread per coordinate runs vote_axis, the same
// float32 code as the CPU reference (a clamp and one addition: nothing to contract), so results are bit-identical.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda_utils.h"
#include "ops/vote/vote.h"

namespace pointrt::ops {

namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 65535;

__global__ void __launch_bounds__(kThreads)
    vote_kernel(const float* __restrict__ xyz, const float* __restrict__ off, float* __restrict__ out, std::int64_t n,
                float tx, float ty, float tz) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const int axis = static_cast<int>(i % 3);
    const float t = axis == 0 ? tx : (axis == 1 ? ty : tz);
    out[i] = vote_axis(xyz[i], off[i], t);
  }
}

}  // namespace

void vote_cuda(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params,
               StreamHandle stream) {
  detail::vote_check(ctr_xyz, offsets, centers, params, Device::CUDA);
  const std::int64_t n = ctr_xyz.numel();
  if (n == 0) return;
  const std::int64_t blocks = std::min<std::int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks);
  vote_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      ctr_xyz.data_as<float>(), offsets.data_as<float>(), centers.data_as<float>(), n, params.max_translation[0],
      params.max_translation[1], params.max_translation[2]);
  POINTRT_CHECK_LAUNCH("vote_kernel");
}

}  // namespace pointrt::ops
