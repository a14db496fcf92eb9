// Pointwise MLP: CUDA kernels (see mlp.h for the contract).
//
// One launch per layer: out = act(x W^T + b) with x [R, Cin] read from global memory (the input, or the previous
// layer's output in the workspace). A block computes a TR x TC output tile with the register-tiled mini-GEMM of
// ops/mlp/mlp_tile.cuh; both operands are streamed through double-buffered shared-memory tiles (k-major). The
// pointwise layers of IA-SSD have few rows (R = 256 .. 4096 at batch 1), so small tiles are needed to fill the GPU:
// the 256 threads of a block may be split into S slices along k (in-block split-K), each slice accumulating every
// S-th group of kKT k values, and the S partial tiles are summed in a fixed order (slice 0, 1, ...) through shared
// memory: deterministic, no atomics, no global partials. Tile shapes (S, TR x TC): (1, 64x128), (4, 32x64),
// (8, 32x32), chosen per layer by an estimate of waves x work per block.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "core/cuda_utils.h"
#include "ops/mlp/mlp.h"
#include "ops/mlp/mlp_tile.cuh"

namespace pointrt::ops {

namespace {

using tile::kKT;
using tile::kThreads;

template <int S, int CT>
struct DenseShape {
  static constexpr int kSliceThreads = kThreads / S;
  static constexpr int kRT = kSliceThreads / CT;
  static constexpr int kTR = 4 * kRT;
  static constexpr int kTC = 8 * CT;
  static constexpr int kKS = S * kKT;  // k depth of one shared-memory stage
  static constexpr int kLda = kTR + 4;
  static constexpr int kLdw = kTC + 4;
  static constexpr int kATile = kKS * kLda;
  static constexpr int kWTile = kKS * kLdw;
  static constexpr int kPerA = kKS * kTR / kThreads;
  static constexpr int kPerW = kKS * kTC / kThreads;
  static constexpr int kLdr = kTC + 4;  // partial tiles red[s][row][col]
  static constexpr int kSmemFloats = 2 * (kATile + kWTile);
  static_assert(S == 1 || S * kTR * kLdr <= kSmemFloats, "partials must fit in the tile memory");
  static_assert(kRT * CT * S == kThreads, "thread layout");
};

// Loads kPer values of the stage tile t[kk][i] = src[(i0 + i) * ld + k0 + kk] (zero outside rows x cols), 16
// consecutive threads reading 16 consecutive floats of one source row.
template <int kKS, int kPer>
struct StageLoader {
  float v[kPer];
  __device__ __forceinline__ void load(const float* __restrict__ src, long long rows, int cols, long long i0, int k0) {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      const int kk = e % kKS, i = e / kKS;
      const long long r = i0 + i;
      const int kc = k0 + kk;
      v[p] = (r < rows && kc < cols) ? __ldg(src + r * cols + kc) : 0.0f;
    }
  }
  __device__ __forceinline__ void store(float* __restrict__ t, int ld) const {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      t[(e % kKS) * ld + e / kKS] = v[p];
    }
  }
};

template <int S, int CT>
__global__ void __launch_bounds__(kThreads)
    dense_kernel(const float* __restrict__ x, const float* __restrict__ weight, const float* __restrict__ bias,
                 float* __restrict__ out, long long rows, int cin, int cout, int relu) {
  using D = DenseShape<S, CT>;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* a_tiles = smem;
  float* w_tiles = smem + 2 * D::kATile;
  const int tid = static_cast<int>(threadIdx.x);
  const int slice = tid / D::kSliceThreads, lt = tid % D::kSliceThreads;
  const int tx = lt % CT, ty = lt / CT;
  const long long r0 = static_cast<long long>(blockIdx.x) * D::kTR;
  const int n0 = static_cast<int>(blockIdx.y) * D::kTC;

  float acc[4][8];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
  }
  StageLoader<D::kKS, D::kPerA> la;
  StageLoader<D::kKS, D::kPerW> lw;
  la.load(x, rows, cin, r0, 0);
  lw.load(weight, cout, cin, n0, 0);
  la.store(a_tiles, D::kLda);
  lw.store(w_tiles, D::kLdw);
  __syncthreads();
  const int stages = (cin + D::kKS - 1) / D::kKS;
  for (int st = 0; st < stages; ++st) {
    const bool more = st + 1 < stages;
    if (more) {
      la.load(x, rows, cin, r0, (st + 1) * D::kKS);
      lw.load(weight, cout, cin, n0, (st + 1) * D::kKS);
    }
    const float* a = a_tiles + (st & 1) * D::kATile + slice * kKT * D::kLda + ty * 4;
    const float* w = w_tiles + (st & 1) * D::kWTile + slice * kKT * D::kLdw + tx * 4;
    tile::fma_ktile<D::kTC / 2>(acc, a, D::kLda, w, D::kLdw);
    if (more) {
      la.store(a_tiles + ((st + 1) & 1) * D::kATile, D::kLda);
      lw.store(w_tiles + ((st + 1) & 1) * D::kWTile, D::kLdw);
    }
    __syncthreads();
  }

  auto col_of = [&](int j) { return j < 4 ? tx * 4 + j : D::kTC / 2 + tx * 4 + (j - 4); };
  if constexpr (S == 1) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = n0 + col_of(j);
      if (n >= cout) continue;
      const float b = __ldg(bias + n);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const long long r = r0 + ty * 4 + i;
        if (r >= rows) continue;
        const float v = __fadd_rn(acc[i][j], b);
        out[r * cout + n] = relu != 0 ? fmaxf(v, 0.0f) : v;
      }
    }
  } else {
    // Partial tiles of the S slices, summed in slice order (the loop above ended with __syncthreads).
    float* red = smem;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float* row = red + (slice * D::kTR + ty * 4 + i) * D::kLdr + tx * 4;
      *reinterpret_cast<float4*>(row) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
      *reinterpret_cast<float4*>(row + D::kTC / 2) = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
    }
    __syncthreads();
    for (int e = tid; e < D::kTR * D::kTC; e += kThreads) {
      const int i = e / D::kTC, col = e % D::kTC;
      const long long r = r0 + i;
      const int n = n0 + col;
      if (r >= rows || n >= cout) continue;
      float v = red[i * D::kLdr + col];
#pragma unroll
      for (int s = 1; s < S; ++s) v = __fadd_rn(v, red[(s * D::kTR + i) * D::kLdr + col]);
      v = __fadd_rn(v, __ldg(bias + n));
      out[r * cout + n] = relu != 0 ? fmaxf(v, 0.0f) : v;
    }
  }
}

template <int S, int CT>
void launch_dense(const float* x, const DenseLayer& layer, float* y, long long rows, cudaStream_t stream) {
  using D = DenseShape<S, CT>;
  const int cin = static_cast<int>(layer.weight.dim(1)), cout = static_cast<int>(layer.weight.dim(0));
  const dim3 grid(static_cast<unsigned>((rows + D::kTR - 1) / D::kTR),
                  static_cast<unsigned>((cout + D::kTC - 1) / D::kTC));
  const std::size_t smem = static_cast<std::size_t>(D::kSmemFloats) * sizeof(float);
  if (smem > 48 * 1024) tile::allow_max_dynamic_smem(reinterpret_cast<const void*>(&dense_kernel<S, CT>));
  dense_kernel<S, CT><<<grid, kThreads, smem, stream>>>(x, layer.weight.data_as<float>(), layer.bias.data_as<float>(),
                                                        y, rows, cin, cout, layer.relu ? 1 : 0);
  POINTRT_CHECK_LAUNCH("mlp_dense_kernel");
}

// Estimated cost of a tile shape: waves (two blocks per multiprocessor) x work of one block.
double dense_cost(int s, int tr, int tc, long long rows, int cin, int cout, int sms) {
  const long long blocks = ((rows + tr - 1) / tr) * ((cout + tc - 1) / tc);
  const long long waves = (blocks + 2LL * sms - 1) / (2LL * sms);
  return static_cast<double>(waves) * tr * tc * tile::round_up(cin, s * kKT);
}

void run_layer(const float* x, const DenseLayer& layer, float* y, long long rows, int sms, cudaStream_t stream) {
  const int cin = static_cast<int>(layer.weight.dim(1)), cout = static_cast<int>(layer.weight.dim(0));
  const double c0 = dense_cost(1, 64, 128, rows, cin, cout, sms);
  const double c1 = dense_cost(4, 32, 64, rows, cin, cout, sms);
  const double c2 = dense_cost(8, 32, 32, rows, cin, cout, sms);
  if (c0 <= c1 && c0 <= c2) {
    launch_dense<1, 16>(x, layer, y, rows, stream);
  } else if (c1 <= c2) {
    launch_dense<4, 8>(x, layer, y, rows, stream);
  } else {
    launch_dense<8, 4>(x, layer, y, rows, stream);
  }
}

std::int64_t widest_hidden(const std::vector<DenseLayer>& layers) {
  std::int64_t w = 0;
  for (std::size_t j = 0; j + 1 < layers.size(); ++j) w = std::max(w, layers[j].weight.dim(0));
  return w;
}

}  // namespace

std::size_t mlp_workspace_bytes(std::int64_t rows, const std::vector<DenseLayer>& layers) {
  WorkspaceCarver c(nullptr);
  if (layers.size() >= 2) {
    const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(widest_hidden(layers));
    c.take<float>(n);  // outputs of even hidden layers
    c.take<float>(n);  // outputs of odd hidden layers
  }
  return c.size();
}

void mlp_cuda(const Tensor& x, const std::vector<DenseLayer>& layers, Tensor& out, void* workspace,
              std::size_t workspace_bytes, StreamHandle stream, const MlpParams& params) {
  (void)params;
  detail::mlp_check(x, layers, out, Device::CUDA);
  const std::int64_t rows = x.dim(0);
  check_workspace(workspace, workspace_bytes, mlp_workspace_bytes(rows, layers), "mlp");
  for (const DenseLayer& l : layers) {
    check_arg(l.weight.dim(0) <= INT32_MAX && l.weight.dim(1) <= INT32_MAX, "mlp", "layer widths exceed int32");
  }
  if (rows == 0) return;
  const int sms = tile::device_limits().sms;
  WorkspaceCarver carver(workspace);
  float* buf[2] = {nullptr, nullptr};
  if (layers.size() >= 2) {
    const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(widest_hidden(layers));
    buf[0] = carver.take<float>(n);
    buf[1] = carver.take<float>(n);
  }
  const float* in = x.data_as<float>();
  for (std::size_t j = 0; j < layers.size(); ++j) {
    float* y = j + 1 == layers.size() ? out.data_as<float>() : buf[j & 1];
    run_layer(in, layers[j], y, rows, sms, stream);
    in = y;
  }
}

}  // namespace pointrt::ops
