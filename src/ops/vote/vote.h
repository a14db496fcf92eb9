// Vote centres (spec model-iassd.md §3 steps 3-4).
//
// ctr_xyz f32 [B, M, 3], offsets f32 [B, M, 3] -> centers f32 [B, M, 3],
//   centers[b, m, a] = ctr_xyz[b, m, a] + min(max(offsets[b, m, a], -t[a]), t[a]),  t = params.max_translation
// (float32, per axis; a NaN offset stays NaN). t must be finite and >= 0. CPU and CUDA are bit-identical. No
// workspace.
#pragma once

#include <array>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct VoteParams {
  std::array<float, 3> max_translation{3.0f, 3.0f, 2.0f};
};

void vote_cpu(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params);
void vote_cuda(const Tensor& ctr_xyz, const Tensor& offsets, Tensor& centers, const VoteParams& params,
               StreamHandle stream);

}  // namespace pointrt::ops
