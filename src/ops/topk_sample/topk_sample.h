// Centroid-aware top-k sampling (spec/ops.md §5, decision 5; model-iassd.md §2.4.4).
//
// logits f32 [B, N, C] (C >= 1: 1 in RobDet3D hvcsx2, 3 in official IA-SSD) -> indices i32 [B, S]
// (S = params.num_samples, 0 <= S <= N), optionally keys f32 [B, S]. The key of point i is the maximum of its C
// logits (ranking logits rather than sigmoid scores avoids float32 saturation ties; the sigmoid is monotonic).
// indices[b] lists the S points with the largest key in descending key order, ties to the LOWER index. NaN logits
// are ignored in the maximum; a point whose logits are all NaN has key NaN, which ranks below every number
// (including -inf); -0 and +0 are equal keys (the key is reported as +0). `keys`, when given, receives the key of
// each selected point. CPU and CUDA give identical indices and keys.
// CUDA: one block per batch element sorts (key, index) as one 44-bit integer with a CUB block radix sort for
// N <= 4096; larger N uses a rank-by-counting kernel (O(N^2) per batch element, correct but meant for rare use).
// No workspace is needed (topk_sample_workspace_bytes returns 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct TopkSampleParams {
  int num_samples = 0;  // S
};

#ifndef POINTRT_TOPK_HD
#ifdef __CUDACC__
#define POINTRT_TOPK_HD __host__ __device__ __forceinline__
#else
#define POINTRT_TOPK_HD inline
#endif
#endif

// The key of one point: the maximum of its `c` logits ignoring NaN (NaN when all are NaN), -0 reported as +0.
POINTRT_TOPK_HD float topk_point_key(const float* row, int c) {
  float key = row[0];
  for (int i = 1; i < c; ++i) {
    const float v = row[i];
    if (v == v && (key != key || v > key)) key = v;
  }
  return key == 0.0f ? 0.0f : key;
}

// Order-preserving map of a key onto uint32 (larger key -> larger value); NaN maps to 0, below -inf (0x007fffff).
POINTRT_TOPK_HD std::uint32_t topk_order_bits(float key) {
  if (key != key) return 0u;
  std::uint32_t u;
#ifdef __CUDA_ARCH__
  u = __float_as_uint(key);
#else
  std::memcpy(&u, &key, sizeof u);
#endif
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

namespace detail {
// Shared validation of both entry points (throws pointrt::Error naming "topk_sample" and the tensor).
void topk_sample_check(const Tensor& logits, const Tensor& indices, const Tensor* keys, const TopkSampleParams& params,
                       Device device);
}  // namespace detail

void topk_sample_cpu(const Tensor& logits, Tensor& indices, const TopkSampleParams& params, Tensor* keys = nullptr);

std::size_t topk_sample_workspace_bytes(std::int64_t batch, std::int64_t num_points, const TopkSampleParams& params);

void topk_sample_cuda(const Tensor& logits, Tensor& indices, const TopkSampleParams& params, void* workspace,
                      std::size_t workspace_bytes, StreamHandle stream, Tensor* keys = nullptr);

}  // namespace pointrt::ops
