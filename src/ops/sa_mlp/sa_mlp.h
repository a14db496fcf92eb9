// Fused set-abstraction grouper: gather -> shared MLP -> max-pool (spec model-iassd.md §2.1, §2.2 empty balls;
// spec/ops.md §8 grouping).
//
// xyz f32 [B, N, 3], features f32 [B, N, C] (nullptr: C = 0), new_xyz f32 [B, M, 3], idx i32 [B, M, K],
// idx_cnt i32 [B, M], layers (see ops/mlp/mlp.h; every layer here has relu = true, C0 = 3 + C) ->
// out f32 [B, M, Ctot], of which only channels [channel_offset, channel_offset + CL) are written (several groupers
// write their slices of one concatenated tensor; the other channels are left untouched):
//   g[k]   = [xyz[b, i] - new_xyz[b, m], features[b, i, :]],  i = idx[b, m, k]   (xyz first, not radius-normalised)
//   out[b, m, channel_offset + o] = max_k MLP(g[k])[o]
// With params.mask_empty and idx_cnt[b, m] == 0 the MLP output is zeroed before pooling, so the slice is exactly 0
// (RobDet3D); without it an empty ball pools its (zero-filled, i.e. point 0) neighbours like any other (official).
// Indices outside [0, N): sa_mlp_cpu throws pointrt::Error naming the first bad (b, m, k); sa_mlp_cuda never reads
// through one, writes zeros for that (b, m) slice and reports the first bad position in `error` i32[4]
// {found, b, m, k} as ops/group does ({0, -1, -1, -1} when all are valid; overwritten by every call).
// No [B, M, K, C] tensor is written to global memory by the CUDA kernel: it keeps the activations of a tile of
// groups in shared memory (see README.md), so the chain must fit there; sa_mlp_cuda refuses with pointrt::Error
// (naming K and the widest layer) when not even a one-group tile of max(K, 32) rows fits. Every IA-SSD grouper fits
// (vote SA 259->256->512->1024 with K = 32 included). At most 8 layers on CUDA. Deterministic (fixed summation
// order, no atomics on data). CPU and CUDA agree to float32 rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops/common/op_common.h"
#include "ops/mlp/mlp.h"

namespace pointrt::ops {

// Arithmetic of the CUDA kernel (the CPU reference is always plain float32).
enum class SaMlpMath : std::uint8_t {
  Fp32,    // float32 fused multiply-adds (SIMT): the FP32 plans' arithmetic
  Tf32x3,  // tensor cores with 3xTF32 error compensation (sm_80+, K in {16, 32, 64}; else Fp32): about 25 % faster
           // on the H200 at IA-SSD's sizes, with roughly 10x the rounding error of Fp32 (still ~1e-5 of the scale)
};

struct SaMlpParams {
  bool mask_empty = true;  // zero the output of empty balls (idx_cnt == 0)
  int channel_offset = 0;  // first output channel written
  SaMlpMath math = SaMlpMath::Fp32;
};

void sa_mlp_cpu(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, Tensor& out,
                const SaMlpParams& params);
std::size_t sa_mlp_workspace_bytes(std::int64_t batch, std::int64_t m, std::int64_t k,
                                   const std::vector<DenseLayer>& layers);
void sa_mlp_cuda(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                 const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, Tensor& out,
                 const SaMlpParams& params, Tensor& error, void* workspace, std::size_t workspace_bytes,
                 StreamHandle stream);

namespace detail {
// Shared validation; returns C. Throws Error("sa_mlp: ...").
std::int64_t sa_mlp_check(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                          const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, const Tensor& out,
                          const SaMlpParams& params, Device device);
}  // namespace detail

}  // namespace pointrt::ops
