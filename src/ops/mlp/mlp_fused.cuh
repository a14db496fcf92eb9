// Internal to ops/mlp/mlp.cu: the fused dense-chain kernel (one launch for a whole chain of dense layers).
//
// A block owns TR consecutive rows and runs every layer of the chain on them: the chain input x and the weights are
// streamed from global memory/L2 into shared memory by a kStages-deep cp.async pipeline (tiles of kKT k values,
// row-major t[row][k] with a padded stride so that float4 reads along k are conflict-free); the activations of the
// hidden layers stay in shared memory (two buffers act[row][k], ping-pong). A block has 4 x CT threads; a thread owns
// an MR x 4 register tile (rows ty*MR .. +MR-1, columns tx + c*CT, c < 4, of the current column pass), so a block
// pass covers TR = 4*MR rows by TC = 4*CT columns; a layer wider than TC takes several passes. When the
// chain has a single layer its columns may also be spread over blockIdx.y (more blocks for few rows).
//
// Summation order (batch invariance): every output is acc = 0; acc = __fmaf_rn(h[k], W[n][k], acc) for k = 0, 1, ...
// up to cin rounded up to kKT (the padding contributes exact zeros), then v = acc + b[n] (one rounding), then ReLU.
// This order depends on the layer widths only: not on the row count, the tile configuration, the column passes or
// whether the chain is fused, so a row gives the same bits whatever the batch it is part of.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace pointrt::ops::fused {

constexpr int kKT = 16;        // k depth of one shared-memory tile
constexpr int kMaxLayers = 8;  // longer chains are split into several launches

struct LayerArg {
  const float* weight;  // [cout, cin]
  const float* bias;    // [cout]
  int cin, cout;
  int kpad;  // cin rounded up to kKT
  int relu;
};

struct ChainArgs {
  const float* x;    // [rows, layers[0].cin]
  float* out;        // [rows, layers[L-1].cout]
  long long rows;
  int num_layers;
  int act_floats;  // floats of one hidden-activation buffer in shared memory (0 when num_layers == 1)
  LayerArg layers[kMaxLayers];
};

constexpr int round_up(int v, int m) { return (v + m - 1) / m * m; }

constexpr int kStages = 4;        // cp.async pipeline depth (stages of kKT k values)
constexpr int kLdk = kKT + 4;     // row stride (floats) of a staged tile t[row][k]: conflict-free float4 reads

template <int CT, int MR>
struct Cfg {
  static_assert(CT == 32 || CT == 64, "CT must be 32 or 64");
  static_assert(MR == 2 || MR == 4 || MR == 8, "MR must be 2, 4 or 8");
  static constexpr int kThreads = 4 * CT;
  static constexpr int kTR = 4 * MR;        // rows of a block
  static constexpr int kTC = 4 * CT;        // columns of one pass
  static constexpr int kWStage = kTC * kLdk;  // floats of one staged weight tile w[col][k]
  static constexpr int kXStage = kTR * kLdk;  // floats of one staged input tile x[row][k]
  // Dynamic shared memory: the weight stages, the input stages, then the two hidden-activation buffers.
  static constexpr int kFixedFloats = kStages * (kWStage + kXStage);
  static std::size_t smem_bytes(int act_floats) {
    return static_cast<std::size_t>(kFixedFloats + 2 * act_floats) * sizeof(float);
  }
  // Row stride and floats of one hidden-activation buffer act[row][k] for hidden widths padded to kpad.
  static int act_ld(int kpad) { return kpad + 4; }
  static int act_floats_for(int kpad) { return kpad == 0 ? 0 : kTR * act_ld(kpad); }
};

__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async4(float* dst, const float* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Stages t[i][kk] = src[(i0 + i) * cols + k0 + kk] for i < kN, kk < kKT (zero outside nrows x cols) with
// asynchronous copies: 16-byte chunks when `vec` (cols % 4 == 0 and src 16-byte aligned), else 4-byte elements.
template <int kN, int kNThreads>
__device__ __forceinline__ void stage_tile(float* __restrict__ t, const float* __restrict__ src, long long nrows,
                                           int cols, long long i0, int k0, bool vec) {
  const int tid = static_cast<int>(threadIdx.x);
  if (vec) {
    for (int e = tid; e < kN * (kKT / 4); e += kNThreads) {
      const int i = e / (kKT / 4), q = e % (kKT / 4);
      const long long r = i0 + i;
      const int k = k0 + 4 * q;
      const bool ok = r < nrows && k < cols;
      cp_async16(t + i * kLdk + 4 * q, ok ? src + r * cols + k : src, ok);
    }
  } else {
    for (int e = tid; e < kN * kKT; e += kNThreads) {
      const int i = e / kKT, kk = e % kKT;
      const long long r = i0 + i;
      const int k = k0 + kk;
      const bool ok = r < nrows && k < cols;
      cp_async4(t + i * kLdk + kk, ok ? src + r * cols + k : src, ok);
    }
  }
}

template <int CT, int MR>
__global__ void __launch_bounds__(4 * CT) mlp_chain_kernel(const ChainArgs args) {
  using C = Cfg<CT, MR>;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* const w_st = smem;
  float* const x_st = smem + kStages * C::kWStage;
  float* const act0 = smem + C::kFixedFloats;
  float* const act1 = act0 + args.act_floats;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % CT, ty = tid / CT;
  const long long r0 = static_cast<long long>(blockIdx.x) * C::kTR;
  const int nl = args.num_layers;
  const bool x_vec = (reinterpret_cast<std::uintptr_t>(args.x) & 15) == 0;

  for (int j = 0; j < nl; ++j) {
    const LayerArg L = args.layers[j];
    const bool first = j == 0, last = j + 1 == nl;
    const float* a_res = (j & 1) != 0 ? act0 : act1;  // resident input of a hidden layer (j >= 1)
    float* a_out = (j & 1) != 0 ? act1 : act0;
    const int lda_in = first ? kLdk : L.kpad + 4;
    // Hidden layers store up to the next layer's padded width (zeros past cout: zero weights, zero bias).
    const int n_store = last ? L.cout : args.layers[j + 1].kpad;
    const int lda_out = n_store + 4;
    const int ktiles = L.kpad / kKT;
    const bool w_vec = (L.cin % 4) == 0 && (reinterpret_cast<std::uintptr_t>(L.weight) & 15) == 0;
    const bool in_vec = w_vec && x_vec;
    for (int n0 = last ? static_cast<int>(blockIdx.y) * C::kTC : 0; n0 < n_store;
         n0 += (last ? static_cast<int>(gridDim.y) : 1) * C::kTC) {
      auto issue = [&](int kt) {
        if (kt < ktiles) {
          const int buf = kt % kStages;
          stage_tile<C::kTC, C::kThreads>(w_st + buf * C::kWStage, L.weight, L.cout, L.cin, n0, kt * kKT, w_vec);
          if (first) {
            stage_tile<C::kTR, C::kThreads>(x_st + buf * C::kXStage, args.x, args.rows, L.cin, r0, kt * kKT,
                                            in_vec);
          }
        }
        cp_async_commit();
      };
      float acc[MR][4];
#pragma unroll
      for (int i = 0; i < MR; ++i) {
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;
      }
#pragma unroll
      for (int s = 0; s < kStages - 1; ++s) issue(s);
      for (int kt = 0; kt < ktiles; ++kt) {
        cp_async_wait<kStages - 2>();
        __syncthreads();  // stage kt has landed for every thread; stage kt - 1 is no longer read
        issue(kt + kStages - 1);
        const int buf = kt % kStages;
        const float* a = first ? x_st + buf * C::kXStage : a_res + kt * kKT;
        const float* w = w_st + buf * C::kWStage;
#pragma unroll
        for (int q = 0; q < kKT / 4; ++q) {
          float4 ar[MR], wr[4];
#pragma unroll
          for (int i = 0; i < MR; ++i) ar[i] = *reinterpret_cast<const float4*>(a + (ty * MR + i) * lda_in + 4 * q);
#pragma unroll
          for (int c = 0; c < 4; ++c) wr[c] = *reinterpret_cast<const float4*>(w + (tx + c * CT) * kLdk + 4 * q);
#pragma unroll
          for (int i = 0; i < MR; ++i) {
#pragma unroll
            for (int c = 0; c < 4; ++c) {
              acc[i][c] = __fmaf_rn(ar[i].x, wr[c].x, acc[i][c]);
              acc[i][c] = __fmaf_rn(ar[i].y, wr[c].y, acc[i][c]);
              acc[i][c] = __fmaf_rn(ar[i].z, wr[c].z, acc[i][c]);
              acc[i][c] = __fmaf_rn(ar[i].w, wr[c].w, acc[i][c]);
            }
          }
        }
      }
      cp_async_wait<0>();
      __syncthreads();  // every stage consumed: the next pass may refill them
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int n = n0 + tx + c * CT;
        const float b = n < L.cout ? __ldg(L.bias + n) : 0.0f;
#pragma unroll
        for (int i = 0; i < MR; ++i) {
          const float v = __fadd_rn(acc[i][c], b);
          acc[i][c] = L.relu != 0 ? fmaxf(v, 0.0f) : v;
        }
      }
      if (!last) {
        // a_out[row][n]; the next layer reads it after its first __syncthreads.
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int n = n0 + tx + c * CT;
          if (n >= n_store) continue;
#pragma unroll
          for (int i = 0; i < MR; ++i) a_out[(ty * MR + i) * lda_out + n] = acc[i][c];
        }
      } else {
#pragma unroll
        for (int i = 0; i < MR; ++i) {
          const long long r = r0 + ty * MR + i;
          if (r >= args.rows) continue;
          float* dst = args.out + r * L.cout;
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            const int n = n0 + tx + c * CT;
            if (n < L.cout) dst[n] = acc[i][c];
          }
        }
      }
    }
  }
}

}  // namespace pointrt::ops::fused
