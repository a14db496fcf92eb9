// Path selection knobs of sa_mlp_cuda (tests and benchmarks only; see README.md). With SaMlpParams::math ==
// Tf32x3, sa_mlp_cuda picks the tensor-core kernel (3xTF32, sa_mlp_tc.cuh) when the device is sm_80+, K is 16, 32 or
// 64 and the chain fits its shared memory; otherwise (and always for Fp32) the FP32 SIMT kernel. The choice depends on K, the layer widths and the device only,
// never on the batch size, so a frame gives bit-identical output in any batch.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/mlp/mlp.h"
#include "ops/sa_mlp/sa_mlp.h"

namespace pointrt::ops::detail {

enum class SaMlpPath { Auto = 0, Simt = 1, TensorCore = 2 };

// Process-wide override of the path (Auto: automatic). Forcing TensorCore where it is not available makes
// sa_mlp_cuda throw pointrt::Error. Not meant to be changed while other threads call sa_mlp_cuda.
void sa_mlp_force_path(SaMlpPath path);
// Process-wide override of the tensor-core tile shape: index into sa_mlp_tc_config_count() shapes, -1 automatic.
// A forced shape that does not fit K or shared memory falls back to the automatic choice.
void sa_mlp_force_tc_config(int index);
int sa_mlp_tc_config_count();
// The path sa_mlp_cuda takes on the current CUDA device for this K and layer chain (with the override applied;
// Simt also where neither kernel fits, in which case sa_mlp_cuda throws).
SaMlpPath sa_mlp_path(std::int64_t k, const std::vector<DenseLayer>& layers, SaMlpMath math = SaMlpMath::Fp32);

}  // namespace pointrt::ops::detail
