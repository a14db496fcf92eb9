// BatchNorm folding: an eval-mode BatchNorm after a bias-free linear layer becomes one linear layer with a bias.
//
//   y = gamma * (W x - mean) / sqrt(var + eps) + beta  ==  W' x + b'
//   scale = gamma / sqrt(var + eps)   (computed in double, stored as float)
//   W'[o, :] = W[o, :] * scale[o],  b'[o] = beta[o] - mean[o] * scale[o]
#pragma once

#include <string>

#include "pointrt/tensor.h"

namespace pointrt::engine {

struct FoldedLinear {
  Tensor weight;  // f32 [out, in], host
  Tensor bias;    // f32 [out], host
};

// Folds BatchNorm(gamma, beta, mean, var, eps) into the linear `weight` (f32 [out, in], host). gamma, beta, mean and
// var are f32 [out] host tensors. Errors (pointrt::Error, subject `name`): a wrong dtype, device or shape; a
// non-finite value (naming the tensor and element); eps not finite or negative; var + eps <= 0 for a channel; a
// folded value that overflows float32.
FoldedLinear fold_batchnorm(const Tensor& weight, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                            const Tensor& var, float eps, const std::string& name);

}  // namespace pointrt::engine
