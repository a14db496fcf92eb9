// Bin-residual box decoding: CUDA kernel (see box_decode.h for the contract). One thread per (b, m) row runs
// box_math::decode_row, the same float32 code as the CPU reference, so the outputs are bit-identical. The mean
// sizes travel in the kernel's by-value parameter block and are staged in shared memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/cuda_utils.h"
#include "ops/box_decode/box_decode.h"
#include "ops/box_decode/box_math.h"

namespace pointrt::ops {

namespace {

constexpr int kThreads = 128;
constexpr std::int64_t kMaxBlocks = 65535;

struct DecodeArgs {
  float mean[box_math::kMaxClasses * 3];  // [NC * 3]
  int nc;
  int nb;
  float w;
  HeadingCoder coder;
};

__global__ void __launch_bounds__(kThreads)
    box_decode_kernel(const float* __restrict__ cls, const float* __restrict__ reg, const float* __restrict__ centers,
                      float* __restrict__ boxes, float* __restrict__ scores, std::int64_t rows, const DecodeArgs args) {
  __shared__ float mean[box_math::kMaxClasses * 3];
  for (int i = static_cast<int>(threadIdx.x); i < args.nc * 3; i += kThreads) mean[i] = args.mean[i];
  __syncthreads();
  const std::int64_t width = 6 + 2 * static_cast<std::int64_t>(args.nb);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < rows; i += stride) {
    box_math::decode_row(cls + i * args.nc, args.nc, reg + i * width, args.nb, centers + i * 3, mean, args.w,
                         args.coder, boxes + i * 8, scores + i);
  }
}

}  // namespace

void box_decode_cuda(const Tensor& cls, const Tensor& reg, const Tensor& centers, Tensor& boxes, Tensor& scores,
                     const BoxDecodeParams& params, StreamHandle stream) {
  detail::box_decode_check(cls, reg, centers, boxes, scores, params, Device::CUDA);
  const std::int64_t rows = cls.dim(0) * cls.dim(1);
  if (rows == 0) return;
  DecodeArgs args{};
  args.nc = static_cast<int>(cls.dim(2));
  args.nb = params.num_heading_bins;
  args.w = box_math::bin_width(params.num_heading_bins);
  args.coder = params.coder;
  for (int c = 0; c < args.nc; ++c) {
    for (int a = 0; a < 3; ++a) args.mean[3 * c + a] = params.mean_size[static_cast<std::size_t>(c)][a];
  }
  const std::int64_t blocks = std::min<std::int64_t>((rows + kThreads - 1) / kThreads, kMaxBlocks);
  box_decode_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      cls.data_as<float>(), reg.data_as<float>(), centers.data_as<float>(), boxes.data_as<float>(),
      scores.data_as<float>(), rows, args);
  POINTRT_CHECK_LAUNCH("box_decode_kernel");
}

}  // namespace pointrt::ops
