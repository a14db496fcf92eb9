// Pointwise MLP: CUDA kernels (see mlp.h for the contract).
//
// Batch invariance: the summation order of every output depends on the layer widths only, never on the row count.
// A layer with cin <= kSeqMaxCin is summed as one ascending-k __fmaf_rn chain from zero plus the bias; a wider layer
// with the in-block split-K order of dense_kernel<kSplit, ...> (slice s accumulates the k groups s, s + kSplit, ...
// of kKT values each, the kSplit partials are added in slice order, then the bias). The tile shape of a layer is a
// function of its cin alone, so a row gives the same bits whether it is part of R = M or R = 3M rows.
//
// Two paths, chosen from the widths only:
//  * chains whose layers all have cin <= kSeqMaxCin run fused, one launch for the whole chain (ops/mlp/mlp_fused.cuh:
//    a block runs every layer on a tile of rows, hidden activations ping-pong in shared memory);
//  * otherwise one launch per layer: out = act(x W^T + b) with x [R, Cin] read from global memory (the input, or the
//    previous layer's output in the workspace), a TR x TC output tile per block with the register-tiled mini-GEMM of
//    ops/mlp/mlp_tile.cuh, both operands streamed through double-buffered shared-memory tiles (k-major). With
//    kSplit slices the 256 threads of a block split k (in-block split-K, no atomics, no global partials), which
//    keeps the GPU busy at the few rows (R = 256 .. 4096 at batch 1) of IA-SSD's pointwise layers.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda_utils.h"
#include "ops/mlp/mlp.h"
#include "ops/mlp/mlp_fused.cuh"
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


// Layers with at most this many inputs are summed sequentially (and may be fused); wider ones use split-K.
constexpr std::int64_t kSeqMaxCin = 64;
constexpr int kSplit = 8;

// One layer on its own launch; the tile shape (and so the summation order) depends on cin only.
void run_layer(const float* x, const DenseLayer& layer, float* y, long long rows, cudaStream_t stream) {
  if (layer.weight.dim(1) <= kSeqMaxCin) {
    launch_dense<1, 16>(x, layer, y, rows, stream);
  } else {
    launch_dense<kSplit, 4>(x, layer, y, rows, stream);
  }
}

bool chain_is_sequential(const std::vector<DenseLayer>& layers) {
  for (const DenseLayer& l : layers) {
    if (l.weight.dim(1) > kSeqMaxCin) return false;
  }
  return true;
}

// Shared memory a fused segment may use with its smallest tile configuration (<32, 2>), independent of the device
// so that the workspace size is too (every supported architecture, sm_80 and newer, allows at least 99 KiB; the
// kernel needs cp.async, sm_80 and newer).
constexpr std::size_t kFuseBudgetBytes = 96 * 1024;

int kpad_of(std::int64_t cin) { return fused::round_up(static_cast<int>(cin), fused::kKT); }

// Floats of one hidden-activation buffer of the segment [b, e) for configuration C (0 without hidden layers).
template <typename C>
int segment_act_floats(const std::vector<DenseLayer>& layers, std::size_t b, std::size_t e) {
  int widest = 0;
  for (std::size_t j = b; j + 1 < e; ++j) widest = std::max(widest, kpad_of(layers[j].weight.dim(0)));
  return C::act_floats_for(widest);
}

// Cuts the chain into fused segments [b, e): greedy, at most fused::kMaxLayers layers each, hidden activations
// within kFuseBudgetBytes with the smallest configuration. Depends on the layer widths only.
std::vector<std::pair<std::size_t, std::size_t>> plan_segments(const std::vector<DenseLayer>& layers) {
  using Small = fused::Cfg<32, 2>;
  std::vector<std::pair<std::size_t, std::size_t>> segs;
  std::size_t b = 0;
  while (b < layers.size()) {
    std::size_t e = b + 1;
    while (e < layers.size() && e - b < static_cast<std::size_t>(fused::kMaxLayers) &&
           Small::smem_bytes(segment_act_floats<Small>(layers, b, e + 1)) <= kFuseBudgetBytes) {
      ++e;
    }
    segs.emplace_back(b, e);
    b = e;
  }
  return segs;
}

std::int64_t widest_hidden(const std::vector<DenseLayer>& layers) {
  std::int64_t w = 0;
  for (std::size_t j = 0; j + 1 < layers.size(); ++j) w = std::max(w, layers[j].weight.dim(0));
  return w;
}

struct Choice {
  double cost = 0;
  int gy = 1;
};

// Estimated time of a configuration for a segment: per-thread issue slots of one block (FMAs plus shared-memory
// loads per k step, over every column pass of every layer) x how many blocks share a multiprocessor's schedulers,
// plus a per-pass pipeline fill (the latency of the first stages, which few resident warps cannot hide).
template <int CT, int MR>
Choice estimate(const std::vector<DenseLayer>& layers, std::size_t b, std::size_t e, long long rows, int sms) {
  using C = fused::Cfg<CT, MR>;
  Choice ch;
  if (e - b == 1) ch.gy = static_cast<int>((layers[b].weight.dim(0) + C::kTC - 1) / C::kTC);
  double steps = 0;
  for (std::size_t j = b; j < e; ++j) {
    const bool last = j + 1 == e;
    const long long cols = last ? (layers[j].weight.dim(0) + ch.gy - 1) / ch.gy : kpad_of(layers[j + 1].weight.dim(1));
    const long long passes = (cols + C::kTC - 1) / C::kTC;
    steps += static_cast<double>(passes) * (kpad_of(layers[j].weight.dim(1)) + 64);
  }
  const long long blocks = (rows + C::kTR - 1) / C::kTR * ch.gy;
  const double per_sm = static_cast<double>((blocks + sms - 1) / sms) * (C::kThreads / 32) / 4.0;
  ch.cost = steps * (MR * 4 + (MR + 4) / 4.0) * std::max(1.0, per_sm);
  return ch;
}

template <int CT, int MR>
void launch_segment(const float* x, float* y, long long rows, const std::vector<DenseLayer>& layers, std::size_t b,
                    std::size_t e, int gy, cudaStream_t stream) {
  using C = fused::Cfg<CT, MR>;
  fused::ChainArgs args{};
  args.x = x;
  args.out = y;
  args.rows = rows;
  args.num_layers = static_cast<int>(e - b);
  args.act_floats = segment_act_floats<C>(layers, b, e);
  for (std::size_t j = b; j < e; ++j) {
    const DenseLayer& l = layers[j];
    fused::LayerArg& a = args.layers[j - b];
    a.weight = l.weight.data_as<float>();
    a.bias = l.bias.data_as<float>();
    a.cin = static_cast<int>(l.weight.dim(1));
    a.cout = static_cast<int>(l.weight.dim(0));
    a.kpad = kpad_of(a.cin);
    a.relu = l.relu ? 1 : 0;
  }
  const std::size_t smem = C::smem_bytes(args.act_floats);
  if (smem > 48 * 1024) tile::allow_max_dynamic_smem(reinterpret_cast<const void*>(&fused::mlp_chain_kernel<CT, MR>));
  const dim3 grid(static_cast<unsigned>((rows + C::kTR - 1) / C::kTR), static_cast<unsigned>(gy));
  fused::mlp_chain_kernel<CT, MR><<<grid, C::kThreads, smem, stream>>>(args);
  POINTRT_CHECK_LAUNCH("mlp_chain_kernel");
}

// Picks the cheapest configuration whose shared memory fits the device and launches the segment.
void run_segment(const float* x, float* y, long long rows, const std::vector<DenseLayer>& layers, std::size_t b,
                 std::size_t e, const tile::DeviceLimits& dev, cudaStream_t stream) {
  using Launch = void (*)(const float*, float*, long long, const std::vector<DenseLayer>&, std::size_t, std::size_t,
                          int, cudaStream_t);
  struct Option {
    Choice choice;
    std::size_t smem;
    Launch launch;
  };
  auto option = [&](auto cfg_tag, Choice c, Launch l) {
    using C = decltype(cfg_tag);
    return Option{c, C::smem_bytes(segment_act_floats<C>(layers, b, e)), l};
  };
  const int sms = dev.sms;
  const Option options[] = {
      option(fused::Cfg<32, 2>{}, estimate<32, 2>(layers, b, e, rows, sms), &launch_segment<32, 2>),
      option(fused::Cfg<64, 2>{}, estimate<64, 2>(layers, b, e, rows, sms), &launch_segment<64, 2>),
      option(fused::Cfg<32, 4>{}, estimate<32, 4>(layers, b, e, rows, sms), &launch_segment<32, 4>),
      option(fused::Cfg<64, 4>{}, estimate<64, 4>(layers, b, e, rows, sms), &launch_segment<64, 4>),
      option(fused::Cfg<32, 8>{}, estimate<32, 8>(layers, b, e, rows, sms), &launch_segment<32, 8>),
      option(fused::Cfg<64, 8>{}, estimate<64, 8>(layers, b, e, rows, sms), &launch_segment<64, 8>),
  };
  const Option* best = nullptr;
  for (const Option& o : options) {
    if (o.smem > static_cast<std::size_t>(dev.smem_optin)) continue;
    if (best == nullptr || o.choice.cost < best->choice.cost) best = &o;
  }
  check_arg(best != nullptr, "mlp",
            "the device's shared memory per block (" + std::to_string(dev.smem_optin) + " bytes) is too small");
  best->launch(x, y, rows, layers, b, e, best->choice.gy, stream);
}

}  // namespace

std::size_t mlp_workspace_bytes(std::int64_t rows, const std::vector<DenseLayer>& layers) {
  WorkspaceCarver c(nullptr);
  const bool fused = chain_is_sequential(layers);
  if (layers.size() >= 2 && (!fused || plan_segments(layers).size() >= 2)) {
    const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(widest_hidden(layers));
    c.take<float>(n);  // outputs of even layers (segments)
    c.take<float>(n);  // outputs of odd layers (segments)
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
    check_arg(l.weight.dim(0) <= INT32_MAX - kKT && l.weight.dim(1) <= INT32_MAX - kKT, "mlp",
              "layer widths exceed int32");
  }
  if (rows == 0) return;
  WorkspaceCarver carver(workspace);
  float* buf[2] = {nullptr, nullptr};
  if (workspace_bytes > 0 && mlp_workspace_bytes(rows, layers) > 0) {
    const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(widest_hidden(layers));
    buf[0] = carver.take<float>(n);
    buf[1] = carver.take<float>(n);
  }
  const float* in = x.data_as<float>();
  if (chain_is_sequential(layers)) {
    const tile::DeviceLimits dev = tile::device_limits();
    const auto segs = plan_segments(layers);
    for (std::size_t s = 0; s < segs.size(); ++s) {
      float* y = s + 1 == segs.size() ? out.data_as<float>() : buf[s & 1];
      run_segment(in, y, rows, layers, segs[s].first, segs[s].second, dev, stream);
      in = y;
    }
    return;
  }
  for (std::size_t j = 0; j < layers.size(); ++j) {
    float* y = j + 1 == layers.size() ? out.data_as<float>() : buf[j & 1];
    run_layer(in, layers[j], y, rows, stream);
    in = y;
  }
}

}  // namespace pointrt::ops
