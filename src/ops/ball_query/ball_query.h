// BallQuery — for every query centre, the K lowest-index source points strictly inside a sphere of radius r.
//
// Inputs: xyz (sources) f32 [B, N, 3] and new_xyz (queries) f32 [B, M, 3]; outputs idx_cnt i32 [B, M] and idx i32
// [B, M, K], written completely by the call (no pre-zeroing needed). Per (b, m): r2 = r * r in float32; sources of
// batch item b are scanned in ascending index k and accepted iff d2 < r2 (strict), with
// d2 = (qx - x)^2 + (qy - y)^2 + (qz - z)^2 evaluated in float32 left to right without FMA; the first K accepted
// indices fill idx[b, m, 0..cnt) in ascending order, idx_cnt[b, m] = cnt (0..K); slots cnt..K-1 repeat the found list
// cyclically (idx[j] = idx[j mod cnt]); cnt = 0 leaves all K slots 0. CPU and CUDA results are bit-identical
// (spec/ops.md section 6, decision 3). Parameters: radius finite and > 0, nsample >= 1.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct BallQueryParams {
  float radius = 0.f;  // r (metres); d2 < r * r (float32) is inside
  int nsample = 0;     // K
};

// Reference: host tensors.
void ball_query_cpu(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, Tensor& idx_cnt,
                    Tensor& idx);

// CUDA: device tensors, enqueued on `stream` (no allocation, no host synchronisation, graph-capturable).
void ball_query_cuda(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, Tensor& idx_cnt,
                     Tensor& idx, void* workspace, std::size_t workspace_bytes, StreamHandle stream);

// Scratch memory ball_query_cuda needs (none: always 0; kept for the uniform operator interface).
std::size_t ball_query_workspace_bytes(std::int64_t batch, std::int64_t num_sources, std::int64_t num_queries,
                                       const BallQueryParams& params);

namespace detail {
// The contract shared by BallQuery and GridBallQuery (which returns exactly what BallQuery returns): radius finite
// and > 0, nsample >= 1, xyz f32 [B, N, 3] with N <= max_sources, new_xyz f32 [B, M, 3] with M <= 2^31 - 1,
// idx_cnt i32 [B, M], idx i32 [B, M, nsample]; throws Error("<op>: ...").
void check_ball_query_io(const char* op, const Tensor& xyz, const Tensor& new_xyz, float radius, int nsample,
                         const Tensor& idx_cnt, const Tensor& idx, Device device, std::int64_t max_sources,
                         const char* max_sources_text);
// Shared validation of both BallQuery entry points; throws Error("BallQuery: ...").
void ball_query_check(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, const Tensor& idx_cnt,
                      const Tensor& idx, Device device);
}  // namespace detail

}  // namespace pointrt::ops
