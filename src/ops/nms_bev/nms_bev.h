// NMSBEV — class-agnostic greedy non-maximum suppression with rotated bird's-eye-view IoU.
//
// Inputs boxes f32 [B, N, 8] (x, y, z, dx, dy, dz, heading, label) and scores f32 [B, N]; outputs out_boxes f32
// [B, P, 8], out_scores f32 [B, P] and nums i32 [B], P = params.max_out. Per batch item: the candidates are the
// boxes with score >= score_threshold (NaN scores never pass); they are ordered by score descending, ties by lower
// box index (-0 and +0 are equal scores); only the first pre_max of that order are considered (pre_max = 0: all;
// candidates beyond the cap are ignored, as OpenPCDet's NMS_PRE_MAXSIZE does). Greedy pass in that order: a candidate
// is kept unless its IoU_bev with an already kept box is > iou_threshold (strict), whatever the scores (equal-score
// duplicates suppress each other, the lower index wins); the label is carried but ignored; the pass stops after P
// kept. Kept boxes are written in keep order as copies of their 8-float input rows with their scores; rows beyond
// nums[b] are zero. IoU_bev uses (x, y, dx, dy, heading) only, by exact convex clipping (iou_bev.h: float32,
// identical on CPU and GPU, IoU = inter / max(union, 1e-8), degenerate boxes (dx or dy <= 0, non-finite values)
// have IoU 0 with everything). Any N works; the CUDA workspace holds a suppression bitmask of M x ceil(M/64) words
// per item, M = min(N, pre_max) (2 MiB at M = 4096), so pre_max also bounds memory and time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct NmsBevParams {
  float score_threshold = 0.1f;  // keep score >= this; must not be NaN
  float iou_threshold = 0.01f;   // suppress at IoU > this; finite, in [0, 1]
  int max_out = 256;             // P, rows of the outputs; >= 1
  int pre_max = 4096;            // cap on candidates considered (by score order); 0 = no cap; >= 0
};

// Host reference. boxes/scores/out_* on the host; outputs are overwritten entirely.
void nms_bev_cpu(const Tensor& boxes, const Tensor& scores, Tensor& out_boxes, Tensor& out_scores, Tensor& nums,
                 const NmsBevParams& params);

// Workspace (bytes) nms_bev_cuda needs for `batch` items of `n` boxes.
std::size_t nms_bev_workspace_bytes(std::int64_t batch, std::int64_t n, const NmsBevParams& params);

// CUDA version: all tensors on the device; asynchronous on `stream`, no host synchronisation or allocation,
// capturable in a CUDA graph. Same results as nms_bev_cpu (identical rows and nums).
void nms_bev_cuda(const Tensor& boxes, const Tensor& scores, Tensor& out_boxes, Tensor& out_scores, Tensor& nums,
                  const NmsBevParams& params, void* workspace, std::size_t workspace_bytes, StreamHandle stream);

namespace nms_bev_detail {
// Shared validation of both entry points (throws pointrt::Error("nms_bev: ...")).
void validate(const Tensor& boxes, const Tensor& scores, const Tensor& out_boxes, const Tensor& out_scores,
              const Tensor& nums, const NmsBevParams& params, Device device);
// Number of candidates considered at most: min(n, pre_max) (n when pre_max == 0).
std::int64_t max_considered(std::int64_t n, const NmsBevParams& params);
}  // namespace nms_bev_detail

}  // namespace pointrt::ops
