// Shared device code of the dense-layer kernels (ops/mlp/mlp.cu, ops/sa_mlp/sa_mlp.cu): a register-tiled FP32
// mini-GEMM over shared-memory tiles, and the host helpers that size and configure the launches.
//
// Tile shape: a block has kThreads = 256 threads; a thread owns a 4 x 8 output tile (rows ty*4 .. ty*4+3, columns
// tx*4 .. tx*4+3 and TC/2 + tx*4 .. +3, so that the float4 loads of a warp hit consecutive addresses). CT threads
// across the columns give a block tile of TR = 4 * 256 / CT rows by TC = 8 * CT columns (CT in {4, 8, 16, 32}:
// 256x32, 128x64, 64x128, 32x256). Operands live in shared memory k-major: A as a[k][row] (row stride lda), the
// weights as w[k][col] (row stride ldw), so one k step is one float4 of A and two float4 of W for 32 FMAs. Every
// product is an explicit __fmaf_rn and k runs in increasing order, so the summation order of an output is fixed by
// the shapes alone (the library is compiled with -fmad=false, where a*b+c would not be fused).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "core/cuda_utils.h"

namespace pointrt::ops::tile {

constexpr int kThreads = 256;
constexpr int kKT = 16;  // k depth of one shared-memory weight tile

template <int CT>
struct Shape {
  static_assert(CT == 4 || CT == 8 || CT == 16 || CT == 32, "CT must be 4, 8, 16 or 32");
  static constexpr int kCT = CT;             // threads across columns
  static constexpr int kRT = kThreads / CT;  // threads across rows
  static constexpr int kTR = 4 * kRT;        // rows of the block tile
  static constexpr int kTC = 8 * CT;         // columns of the block tile
  static constexpr int kLdw = kTC + 4;       // row stride (floats) of a weight tile w[k][col]
  static constexpr int kWeightTile = kKT * kLdw;
};

constexpr int round_up(int v, int m) { return (v + m - 1) / m * m; }

// acc[i][j] += sum over kk < kKT of a[kk * lda + i] * w[kk * ldw + col(j)], with `a` pointing at the thread's first
// row and `w` at the thread's first column (tx * 4); col(j) = j for j < 4, half + j - 4 otherwise.
template <int kHalf>
__device__ __forceinline__ void fma_ktile(float (&acc)[4][8], const float* __restrict__ a, int lda,
                                          const float* __restrict__ w, int ldw) {
#pragma unroll
  for (int kk = 0; kk < kKT; ++kk) {
    const float4 av = *reinterpret_cast<const float4*>(a + kk * lda);
    const float4 b0 = *reinterpret_cast<const float4*>(w + kk * ldw);
    const float4 b1 = *reinterpret_cast<const float4*>(w + kk * ldw + kHalf);
    const float ar[4] = {av.x, av.y, av.z, av.w};
    const float br[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = __fmaf_rn(ar[i], br[j], acc[i][j]);
    }
  }
}

// Column (within the block tile) of a thread's accumulator column j.
template <int CT>
__device__ __forceinline__ int tile_col(int tx, int j) {
  return j < 4 ? tx * 4 + j : Shape<CT>::kTC / 2 + tx * 4 + (j - 4);
}

// Weight tile loader: w_tile[kk][nn] = W[n0 + nn][k0 + kk] for W [cout, cin] row-major, zero outside. Each thread
// moves kPer = kKT * TC / kThreads values; 16 consecutive threads read 16 consecutive floats of one weight row.
template <int CT>
struct WeightLoader {
  static constexpr int kPer = kKT * Shape<CT>::kTC / kThreads;
  float v[kPer];

  __device__ __forceinline__ void load(const float* __restrict__ weight, int cin, int cout, int n0, int k0) {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      const int kk = e % kKT, nn = e / kKT;
      const int n = n0 + nn, k = k0 + kk;
      v[p] = (n < cout && k < cin) ? __ldg(weight + static_cast<std::int64_t>(n) * cin + k) : 0.0f;
    }
  }
  __device__ __forceinline__ void store(float* __restrict__ w_tile) const {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      w_tile[(e % kKT) * Shape<CT>::kLdw + e / kKT] = v[p];
    }
  }
};

// One block-tile pass of a dense layer with A resident in shared memory: acc = A[rows of the block tile, 0:kpad] *
// W[n0 : n0 + TC, 0:kpad]^T, with A stored a[k][row] (stride lda, the thread's rows at a + ty * 4) and the weights
// streamed from global memory through the double-buffered tiles w_tiles (2 * kWeightTile floats). kpad is a multiple
// of kKT and A must be finite (zero) in rows k in [cin, kpad). Starts and ends with all threads synchronised (the
// weight tiles may be reused right after).
template <int CT>
__device__ __forceinline__ void gemm_smem_a(float (&acc)[4][8], const float* __restrict__ a, int lda, int kpad,
                                            const float* __restrict__ weight, int cin, int cout, int n0,
                                            float* __restrict__ w_tiles, int tx) {
  using S = Shape<CT>;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
  }
  WeightLoader<CT> loader;
  loader.load(weight, cin, cout, n0, 0);
  loader.store(w_tiles);
  __syncthreads();
  const int ktiles = kpad / kKT;
  for (int kt = 0; kt < ktiles; ++kt) {
    const bool more = kt + 1 < ktiles;
    if (more) loader.load(weight, cin, cout, n0, (kt + 1) * kKT);
    const float* w = w_tiles + (kt & 1) * S::kWeightTile + tx * 4;
    fma_ktile<S::kTC / 2>(acc, a + kt * kKT * lda, lda, w, S::kLdw);
    if (more) loader.store(w_tiles + ((kt + 1) & 1) * S::kWeightTile);
    __syncthreads();
  }
}

// ---- host helpers ----------------------------------------------------------------------------------------------

struct DeviceLimits {
  int sms = 0;
  int smem_optin = 0;   // max dynamic shared memory per block (opt-in)
  int smem_per_sm = 0;  // shared memory per multiprocessor
};

// Attributes of the current device (queried once per device).
inline DeviceLimits device_limits() {
  static std::mutex mu;
  static std::map<int, DeviceLimits> cache;
  int dev = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  const auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  DeviceLimits l;
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, dev));
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&l.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&l.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
  cache.emplace(dev, l);
  return l;
}

// Raises a kernel's dynamic shared-memory limit to the device's opt-in maximum, once per (kernel, device) — never
// per call, so concurrent host threads do not race on the attribute while launching.
inline void allow_max_dynamic_smem(const void* kernel) {
  static std::mutex mu;
  static std::set<std::pair<const void*, int>> done;
  int dev = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  if (done.count({kernel, dev}) != 0) return;
  int optin = 0;
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  POINTRT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  done.insert({kernel, dev});
}

}  // namespace pointrt::ops::tile
