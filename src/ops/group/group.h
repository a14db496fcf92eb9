// Gather and grouping (spec/ops.md §8; model-iassd.md §2.1).
//
// gather_points: x f32 [B, N, C] (C >= 1), ind i32 [B, M] -> out f32 [B, M, C], out[b, m, :] = x[b, ind[b, m], :].
// group: xyz f32 [B, N, 3], features f32 [B, N, C] (or null / C = 0: no feature channels), new_xyz f32 [B, M, 3],
// idx i32 [B, M, K], idx_cnt i32 [B, M] -> grouped f32 [B, M, K, 3 + C] with grouped[b, m, k, :] =
// [xyz[b, i] - new_xyz[b, m] (neighbour minus centre, float32, not divided by the radius), features[b, i, :]],
// i = idx[b, m, k]: xyz channels first. Optional `mask` f32 [B, M] = 1 where idx_cnt > 0 else 0 (the empty-ball
// mask the set-abstraction MLP output is multiplied by); idx_cnt is only read for the mask and is not validated.
// Indices outside [0, N): the CPU reference throws pointrt::Error naming the first bad position (lowest flat
// position) and its value; the CUDA kernels never read through such an index, write zeros for that whole output row
// and report the first bad position (lowest flat position, deterministic) in the device tensor `error` i32[4]:
// {found (0 or 1), b, m, k} — {0, -1, -1, -1} when every index is valid, k = -1 for gather_points. `error` is
// overwritten by every call. CPU and CUDA outputs are bit-identical. Workspace: one 256-byte block.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

namespace pointrt::ops {

// No attributes; kept for the uniform operator contract.
struct GroupParams {};

void gather_points_cpu(const Tensor& x, const Tensor& ind, Tensor& out);
std::size_t gather_points_workspace_bytes();
void gather_points_cuda(const Tensor& x, const Tensor& ind, Tensor& out, Tensor& error, void* workspace,
                        std::size_t workspace_bytes, StreamHandle stream);

void group_cpu(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
               const Tensor& idx_cnt, Tensor& grouped, const GroupParams& params, Tensor* mask = nullptr);
std::size_t group_workspace_bytes();
void group_cuda(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                const Tensor& idx_cnt, Tensor& grouped, const GroupParams& params, Tensor& error, void* workspace,
                std::size_t workspace_bytes, StreamHandle stream, Tensor* mask = nullptr);

namespace detail {
// Shared validation (throws pointrt::Error naming the op and the tensor). Returns C (0 without features).
void gather_points_check(const Tensor& x, const Tensor& ind, const Tensor& out, Device device);
std::int64_t group_check(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                         const Tensor& idx_cnt, const Tensor& grouped, const Tensor* mask, Device device);
}  // namespace detail

}  // namespace pointrt::ops
