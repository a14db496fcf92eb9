// IA-SSD weight loading: a safetensors checkpoint checked against expected_weights(config), with every conv block's
// BatchNorm folded into its linear layer.
//
// The file must hold exactly the tensors of expected_weights(config), each f32 with the exact shape, all finite, and
// every running_var + batchnorm_eps > 0. When the file has "__metadata__", its "format" must be "pointrt-iassd" (a
// file without metadata is accepted). Every error is a pointrt::Error starting with the file name and naming the
// tensor, e.g. "w.safetensors: missing tensor 'sa2.grouper1.mlp0.weight'".
#pragma once

#include <map>
#include <string>

#include "engine/batchnorm_fold.h"
#include "engine/safetensors.h"
#include "models/iassd/config.h"

namespace pointrt::models::iassd {

// Value of "__metadata__"["format"] in a pointrt IA-SSD weight file.
inline constexpr const char* kWeightFormat = "pointrt-iassd";

struct IassdWeights {
  // By layer prefix ("sa1.grouper0.mlp0", "head.cls.out", ...): conv blocks with BatchNorm folded in
  // (config.batchnorm_eps), final linears ("*.out") with their weight and bias as stored.
  std::map<std::string, engine::FoldedLinear> layers;

  // The layer `prefix`; throws pointrt::Error naming it when there is none.
  const engine::FoldedLinear& at(const std::string& prefix) const;
};

// Checks `file` (named `file_name` in errors) against `config` and folds it.
IassdWeights load_weights(const IassdConfig& config, const engine::WeightFile& file, const std::string& file_name);
// Reads the safetensors file at `path` and loads it as above.
IassdWeights load_weights(const IassdConfig& config, const std::string& path);

}  // namespace pointrt::models::iassd
