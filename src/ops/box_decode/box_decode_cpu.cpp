// Bin-residual box decoding: validation and the CPU reference (see box_decode.h for the contract; the per-row
// float32 math lives in box_math.h and is shared with the CUDA kernel).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/box_decode/box_decode.h"
#include "ops/box_decode/box_math.h"

namespace pointrt::ops {

namespace {

std::string triple(const std::array<float, 3>& v) {
  return "(" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + ")";
}

}  // namespace

namespace detail {

void box_decode_check(const Tensor& cls, const Tensor& reg, const Tensor& centers, const Tensor& boxes,
                      const Tensor& scores, const BoxDecodeParams& params, Device device) {
  constexpr const char* op = "box_decode";
  check_arg(params.coder == HeadingCoder::BinResidual || params.coder == HeadingCoder::BinOri, op,
            "coder: unknown heading coder " + std::to_string(static_cast<int>(params.coder)));
  const int nb = params.num_heading_bins;
  check_arg(nb >= 1 && nb <= box_math::kMaxHeadingBins, op,
            "num_heading_bins must be in [1, " + std::to_string(box_math::kMaxHeadingBins) + "], got " +
                std::to_string(nb));
  check_tensor(cls, op, "cls", DType::F32, device, {-1, -1, -1});
  const std::int64_t b = cls.dim(0), m = cls.dim(1), nc = cls.dim(2);
  check_arg(nc >= 1, op, "cls: need at least one class channel (NC >= 1), got " + cls.describe());
  check_arg(nc <= box_math::kMaxClasses, op,
            "cls: NC = " + std::to_string(nc) + " classes exceeds the supported " +
                std::to_string(box_math::kMaxClasses));
  check_arg(static_cast<std::int64_t>(params.mean_size.size()) == nc, op,
            "mean_size has " + std::to_string(params.mean_size.size()) + " entries but cls has NC = " +
                std::to_string(nc) + " classes");
  for (std::size_t c = 0; c < params.mean_size.size(); ++c) {
    const std::array<float, 3>& s = params.mean_size[c];
    check_arg(std::isfinite(s[0]) && std::isfinite(s[1]) && std::isfinite(s[2]) && s[0] > 0.0f && s[1] > 0.0f &&
                  s[2] > 0.0f,
              op, "mean_size[" + std::to_string(c) + "] must be finite and > 0, got " + triple(s));
  }
  check_tensor(reg, op, "reg", DType::F32, device, {b, m, -1});
  const std::int64_t width = 6 + 2 * static_cast<std::int64_t>(nb);
  check_arg(reg.dim(2) == width, op,
            "reg: width " + std::to_string(reg.dim(2)) + " does not match 6 + 2 * num_heading_bins = " +
                std::to_string(width) + " (num_heading_bins = " + std::to_string(nb) + ")");
  check_tensor(centers, op, "centers", DType::F32, device, {b, m, 3});
  check_tensor(boxes, op, "boxes", DType::F32, device, {b, m, 8});
  check_tensor(scores, op, "scores", DType::F32, device, {b, m});
}

}  // namespace detail

void box_decode_cpu(const Tensor& cls, const Tensor& reg, const Tensor& centers, Tensor& boxes, Tensor& scores,
                    const BoxDecodeParams& params) {
  detail::box_decode_check(cls, reg, centers, boxes, scores, params, Device::Host);
  const std::int64_t rows = cls.dim(0) * cls.dim(1);
  const int nc = static_cast<int>(cls.dim(2));
  const int nb = params.num_heading_bins;
  const std::int64_t width = reg.dim(2);
  const float w = box_math::bin_width(nb);
  std::vector<float> mean;  // [NC * 3]
  for (const std::array<float, 3>& s : params.mean_size) mean.insert(mean.end(), s.begin(), s.end());
  const float* c = cls.data_as<float>();
  const float* r = reg.data_as<float>();
  const float* ctr = centers.data_as<float>();
  float* out = boxes.data_as<float>();
  float* sc = scores.data_as<float>();
  for (std::int64_t i = 0; i < rows; ++i) {
    box_math::decode_row(c + i * nc, nc, r + i * width, nb, ctr + i * 3, mean.data(), w, params.coder,
                         out + i * 8, sc + i);
  }
}

}  // namespace pointrt::ops
