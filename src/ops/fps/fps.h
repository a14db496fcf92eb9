// FPS / D-FPS — furthest point sampling on xyz (spec/ops.md §4, decision 4).
//
// xyz f32 [B, N, 3] -> indices i32 [B, M] (M = params.num_samples >= 0; N >= 1 whenever M > 0; M > N is allowed).
// Per batch element: the first sample is index 0; a running minimum dist[k] starts at 1e10 and after each pick p is
// lowered to d = dx*dx + dy*dy + dz*dz (float32, Δ = point k − point p, summed left to right, no FMA; a NaN d,
// from non-finite coordinates, counts as 0); the next sample is the argmax of dist, ties to the LOWEST index whatever
// the block size. Already-picked points have dist 0, so they are only picked again when every remaining distance is
// 0 (M greater than the number of distinct points): then the tie rule picks index 0, i.e. the excess samples are 0.
// The CPU reference and the CUDA kernel evaluate the same float32 expressions, so their indices match exactly.
// CUDA: one block per batch element; dist (and xyz for N <= 4096) in registers, xyz in shared memory for
// N <= 16384; larger N keeps dist in the workspace (fps_workspace_bytes, 0 for N <= 16384).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct FpsParams {
  int num_samples = 0;  // M
};

// Initial running-minimum distance, as in the PointNet++ reference.
constexpr float kFpsInitialDistance = 1e10f;

#ifndef POINTRT_FPS_HD
#ifdef __CUDACC__
#define POINTRT_FPS_HD __host__ __device__ __forceinline__
#else
#define POINTRT_FPS_HD inline
#endif
#endif

// The one distance expression both sides evaluate: (dx*dx + dy*dy) + dz*dz with Δ = a − b; NaN becomes 0.
POINTRT_FPS_HD float fps_sq_dist(float ax, float ay, float az, float bx, float by, float bz) {
  const float dx = ax - bx;
  const float dy = ay - by;
  const float dz = az - bz;
  const float d = dx * dx + dy * dy + dz * dz;
  return d == d ? d : 0.0f;
}

namespace detail {
// Shared validation of both entry points (throws pointrt::Error naming "fps" and the tensor).
void fps_check(const Tensor& xyz, const Tensor& indices, const FpsParams& params, Device device);
}  // namespace detail

void fps_cpu(const Tensor& xyz, Tensor& indices, const FpsParams& params);

std::size_t fps_workspace_bytes(std::int64_t batch, std::int64_t num_points, const FpsParams& params);

void fps_cuda(const Tensor& xyz, Tensor& indices, const FpsParams& params, void* workspace,
              std::size_t workspace_bytes, StreamHandle stream);

}  // namespace pointrt::ops
