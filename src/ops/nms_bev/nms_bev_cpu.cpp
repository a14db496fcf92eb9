// NMSBEV: validation and the host reference (sequential greedy NMS on the shared float32 geometry of iou_bev.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "ops/nms_bev/iou_bev.h"
#include "ops/nms_bev/nms_bev.h"

namespace pointrt::ops {

namespace nms_bev_detail {

void validate(const Tensor& boxes, const Tensor& scores, const Tensor& out_boxes, const Tensor& out_scores,
              const Tensor& nums, const NmsBevParams& params, Device device) {
  const char* op = "nms_bev";
  check_tensor(boxes, op, "boxes", DType::F32, device, {-1, -1, 8});
  const std::int64_t b = boxes.dim(0), n = boxes.dim(1);
  check_tensor(scores, op, "scores", DType::F32, device, {b, n});
  check_arg(!std::isnan(params.score_threshold), op, "score_threshold must not be NaN");
  check_arg(std::isfinite(params.iou_threshold) && params.iou_threshold >= 0.0f && params.iou_threshold <= 1.0f, op,
            "iou_threshold must be in [0, 1], got " + std::to_string(params.iou_threshold));
  check_arg(params.max_out >= 1, op, "max_out must be >= 1, got " + std::to_string(params.max_out));
  check_arg(params.pre_max >= 0, op, "pre_max must be >= 0 (0 = no cap), got " + std::to_string(params.pre_max));
  check_arg(n <= std::numeric_limits<std::int32_t>::max() / 2, op,
            "boxes: " + std::to_string(n) + " boxes per item is too many");
  check_arg(b <= 65535, op, "boxes: batch " + std::to_string(b) + " is above the supported 65535");
  const std::int64_t p = params.max_out;
  check_tensor(out_boxes, op, "out_boxes", DType::F32, device, {b, p, 8});
  check_tensor(out_scores, op, "out_scores", DType::F32, device, {b, p});
  check_tensor(nums, op, "nums", DType::I32, device, {b});
}

std::int64_t max_considered(std::int64_t n, const NmsBevParams& params) {
  return params.pre_max > 0 ? std::min<std::int64_t>(n, params.pre_max) : n;
}

}  // namespace nms_bev_detail

void nms_bev_cpu(const Tensor& boxes, const Tensor& scores, Tensor& out_boxes, Tensor& out_scores, Tensor& nums,
                 const NmsBevParams& params) {
  using namespace nms_bev_detail;
  validate(boxes, scores, out_boxes, out_scores, nums, params, Device::Host);
  const std::int64_t batch = boxes.dim(0), n = boxes.dim(1), p = params.max_out;
  const std::int64_t m_max = max_considered(n, params);
  const float* box_data = boxes.data_as<float>();
  const float* score_data = scores.data_as<float>();
  float* ob = out_boxes.data_as<float>();
  float* os = out_scores.data_as<float>();
  std::int32_t* on = nums.data_as<std::int32_t>();
  if (batch * p > 0) {
    std::memset(ob, 0, static_cast<std::size_t>(batch * p * 8) * sizeof(float));
    std::memset(os, 0, static_cast<std::size_t>(batch * p) * sizeof(float));
  }

  std::vector<std::int64_t> order;
  std::vector<BevBox> kept_geometry;
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* bx = box_data + b * n * 8;
    const float* sc = score_data + b * n;
    order.clear();
    for (std::int64_t i = 0; i < n; ++i) {
      if (sc[i] >= params.score_threshold) order.push_back(i);  // NaN fails the comparison
    }
    std::sort(order.begin(), order.end(), [&](std::int64_t l, std::int64_t r) {
      const std::uint32_t kl = score_desc_key(sc[l]), kr = score_desc_key(sc[r]);
      return kl != kr ? kl < kr : l < r;
    });
    if (static_cast<std::int64_t>(order.size()) > m_max) order.resize(static_cast<std::size_t>(m_max));

    kept_geometry.clear();
    std::int64_t kept = 0;
    for (std::int64_t idx : order) {
      if (kept == p) break;
      const float* row = bx + idx * 8;
      const BevBox cand = make_bev_box(row[0], row[1], row[3], row[4], row[6]);
      bool suppressed = false;
      for (const BevBox& k : kept_geometry) {
        // Same argument order as the CUDA mask: the earlier (kept) box first.
        if (iou_prepared(k, cand) > params.iou_threshold) {
          suppressed = true;
          break;
        }
      }
      if (suppressed) continue;
      kept_geometry.push_back(cand);
      std::memcpy(ob + (b * p + kept) * 8, row, 8 * sizeof(float));
      os[b * p + kept] = sc[idx];
      ++kept;
    }
    on[b] = static_cast<std::int32_t>(kept);
  }
}

#ifndef POINTRT_WITH_CUDA
std::size_t nms_bev_workspace_bytes(std::int64_t, std::int64_t, const NmsBevParams&) { return 0; }

void nms_bev_cuda(const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&, const NmsBevParams&, void*, std::size_t,
                  StreamHandle) {
  fail("nms_bev", "this build has no CUDA support");
}
#endif

}  // namespace pointrt::ops
