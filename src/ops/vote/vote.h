// Vote centres (spec model-iassd.md §3 steps 3-4).
//
// ctr_xyz f32 [B, M, 3], offsets f32 [B, M, 3] -> centers f32 [B, M, 3],
//   centers[b, m, a] = ctr_xyz[b, m, a] + min(max(offsets[b, m, a], -t[a]), t[a]),  t = params.max_translation
// (float32, per axis; a NaN offset stays NaN, an infinite one is clamped to +-t). t must be finite and >= 0.
// CPU and CUDA are bit-identical, NaN payloads aside (both run vote_axis below: a comparison-based clamp and one
// float32 addition). No workspace. CUDA: one thread per coordinate.
#pragma once

#include <array>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct VoteParams {
  std::array<float, 3> max_translation{3.0f, 3.0f, 2.0f};
};

#ifdef __CUDACC__
#define POINTRT_VOTE_HD __host__ __device__ __forceinline__
#else
#define POINTRT_VOTE_HD inline
#endif

// One coordinate: xyz + clamp(offset, -t, t), the clamp written with comparisons so that NaN passes through (fminf /
// fmaxf would drop it).
POINTRT_VOTE_HD float vote_axis(float xyz, float offset, float t) {
  const float clamped = offset < -t ? -t : (offset > t ? t : offset);
  return xyz + clamped;
}

namespace detail {
// Shared validation of both entry points (throws pointrt::Error naming "vote" and the tensor or parameter).
void vote_check(const Tensor& ctr_xyz, const Tensor& offsets, const Tensor& centers, const VoteParams& params,
                Device device);
}  // namespace detail

void vote_cpu(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params);
void vote_cuda(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params,
               StreamHandle stream);

}  // namespace pointrt::ops
