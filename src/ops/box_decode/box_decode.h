// Bin-residual box decoding and scores (spec model-iassd.md §5).
//
// cls f32 [B, M, NC] logits, reg f32 [B, M, 6 + 2 * NB] codes, centers f32 [B, M, 3] anchors (the vote centres) ->
// boxes f32 [B, M, 8] = (x, y, z, dx, dy, dz, heading, label) and scores f32 [B, M]:
//   c = first argmax of cls (label = c + 1 as float), (dxa, dya, dza) = params.mean_size[c],
//   diag = sqrt(dxa*dxa + dya*dya), x = xt*diag + xa, y = yt*diag + ya, z = zt*dza + za,
//   dx = exp(dxt)*dxa, dy = exp(dyt)*dya, dz = exp(dzt)*dza,
//   b = first argmax of the NB bin scores reg[6 .. 6+NB), res = reg[6 + NB + b], w = float32(2*pi/NB),
//   BinResidual: heading = (b + res) * w;  BinOri: heading = ((b*w) - pi) + w/2 + res*(w/2),
//   score = sigmoid(max_c cls) = 1 / (1 + exp(-max)).
// Every step is one float32 operation in the order written (no FMA contraction). exp is pointrt's own float32
// routine shared by host and device (box_math.h, with the per-row decode itself), so CPU and CUDA are
// bit-identical (NaN payloads aside: x86 and CUDA produce different NaN bit patterns). A NaN counts as larger than
// every number in both argmaxes (the first NaN wins, like torch.max), so a row with a NaN logit gets score NaN.
// 1 <= NB <= 2^20, 1 <= NC == mean_size.size() <= 256, every mean size finite and > 0. No workspace.
// CUDA: one thread per (b, m) row.
#pragma once

#include <array>
#include <vector>

#include "ops/common/op_common.h"

namespace pointrt::ops {

enum class HeadingCoder {
  BinResidual,  // RobDet3D PointBinResidualCoder
  BinOri,       // official IA-SSD PointResidual_BinOri_Coder
};

struct BoxDecodeParams {
  int num_heading_bins = 12;
  HeadingCoder coder = HeadingCoder::BinResidual;
  std::vector<std::array<float, 3>> mean_size;  // per class (dx, dy, dz)
};

void box_decode_cpu(const Tensor& cls, const Tensor& reg, const Tensor& centers, Tensor& boxes, Tensor& scores,
                    const BoxDecodeParams& params);
void box_decode_cuda(const Tensor& cls, const Tensor& reg, const Tensor& centers, Tensor& boxes, Tensor& scores,
                     const BoxDecodeParams& params, StreamHandle stream);

}  // namespace pointrt::ops
