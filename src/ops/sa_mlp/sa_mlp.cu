// Fused set-abstraction grouper: CUDA kernels (see sa_mlp.h for the contract and README.md for the design).
// sa_mlp_cuda runs the float32 SIMT kernel below, or, when SaMlpParams::math asks for Tf32x3, the tensor-core kernel
// (3xTF32, sa_mlp_tc.cuh) where it applies (sm_80+, K in {16, 32, 64}, chain fits; independent of the batch size).
//
// One launch: a block takes G = TR / K consecutive groups (b, m) (TR = 32..256 rows, see ops/mlp/mlp_tile.cuh),
// gathers their G*K neighbour rows [xyz - centre, features] into shared memory (channel-major a[c][row]), runs the
// layer chain as register-tiled mini-GEMMs with the activations kept in two shared-memory buffers (ping-pong) and the
// weights streamed from global memory/L2 through double-buffered shared-memory tiles, and max-pools the last layer
// over each group's K rows straight from a shared-memory staging tile: no [B, M, K, C] tensor touches global memory.
// Bad indices: the row is never read, the group's output slice is zeroed, the lowest flat position goes through an
// atomicMin into the workspace and the last block to finish writes `error` (one memset + one kernel per call).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "core/cuda_utils.h"
#include "ops/sa_mlp/sa_mlp_error.cuh"
#include "ops/mlp/mlp_tile.cuh"
#include "ops/sa_mlp/sa_mlp.h"
#include "ops/sa_mlp/sa_mlp_path.h"
#include "ops/sa_mlp/sa_mlp_tc.cuh"

namespace pointrt::ops {

namespace {

using tile::kKT;
using tile::kThreads;

constexpr int kMaxLayers = 8;

struct LayerArg {
  const float* weight;  // [cout, cin]
  const float* bias;    // [cout]
  int cin, cout;
  int kpad;  // cin rounded up to kKT: rows of the layer's input buffer
  int relu;
};

struct SaMlpArgs {
  const float* xyz;      // [B, N, 3]
  const float* feats;    // [B, N, C] or null
  const float* new_xyz;  // [B, M, 3]
  const std::int32_t* idx;
  const std::int32_t* cnt;
  float* out;  // [B, M, Ctot]
  unsigned long long* first_bad;
  unsigned int* blocks_done;
  std::int32_t* error;
  long long groups;  // B * M
  int m, n, k, c, ctot, offset, mask_empty, groups_per_block, num_layers;
  int buf_off[2];  // float offsets of the two activation buffers in dynamic shared memory
  int wt_off;      // float offset of the two weight tiles
  int flag_off;    // float offset of the per-group flags (int)
  LayerArg layers[kMaxLayers];
};

template <int CT>
__global__ void __launch_bounds__(kThreads) sa_mlp_kernel(const SaMlpArgs args) {
  using S = tile::Shape<CT>;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  constexpr int kLda = S::kTR + 4;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % CT, ty = tid / CT;
  const int k = args.k, gpb = args.groups_per_block;
  const long long g0 = static_cast<long long>(blockIdx.x) * gpb;
  int* flags = reinterpret_cast<int*>(smem + args.flag_off);  // 1: output slice is zero (empty ball or bad index)

  // Flags: groups past the end and (with mask_empty) empty balls.
  for (int g = tid; g < gpb; g += kThreads) {
    const long long bm = g0 + g;
    flags[g] = bm >= args.groups || (args.mask_empty != 0 && args.cnt[bm] == 0) ? 1 : 0;
  }
  __syncthreads();  // the gather below may set flags of groups with a bad index

  // Gather: one warp per row, lanes over the channels; rows past the block's groups are zero.
  {
    float* a0 = smem + args.buf_off[0];
    const int warp = tid / 32, lane = tid % 32;
    const int w = 3 + args.c, kpad0 = args.layers[0].kpad;
    for (int r = warp; r < S::kTR; r += kThreads / 32) {
      const int g = r / k;
      const long long bm = g0 + g;
      bool valid = g < gpb && bm < args.groups;
      long long src = 0;
      const float* centre = nullptr;
      if (valid) {
        const long long pos = bm * k + (r - g * k);
        const std::int32_t i = __ldg(args.idx + pos);
        if (i < 0 || i >= args.n) {
          valid = false;
          if (lane == 0) {
            atomicMin(args.first_bad, static_cast<unsigned long long>(pos));
            flags[g] = 1;
          }
        } else {
          src = (bm / args.m) * args.n + i;
          centre = args.new_xyz + bm * 3;
        }
      }
      for (int ch = lane; ch < kpad0; ch += 32) {
        float v = 0.0f;
        if (valid && ch < w) {
          v = ch < 3 ? __fsub_rn(__ldg(args.xyz + src * 3 + ch), __ldg(centre + ch))
                     : __ldg(args.feats + src * args.c + (ch - 3));
        }
        a0[ch * kLda + r] = v;
      }
    }
  }
  __syncthreads();

  float acc[4][8];
  float* w_tiles = smem + args.wt_off;
  for (int j = 0; j < args.num_layers; ++j) {
    const LayerArg L = args.layers[j];
    const float* a = smem + args.buf_off[j & 1];
    const bool last = j + 1 == args.num_layers;
    float* o = smem + args.buf_off[(j + 1) & 1];
    // Hidden layers store their output up to the next layer's padded width (zeros past cout: zero weights, zero
    // bias); the last layer only up to cout.
    const int n_store = last ? L.cout : args.layers[j + 1].kpad;
    for (int n0 = 0; n0 < n_store; n0 += S::kTC) {
      tile::gemm_smem_a<CT>(acc, a + ty * 4, kLda, L.kpad, L.weight, L.cin, L.cout, n0, w_tiles, tx);
      float bias[8];
#pragma unroll
      for (int jj = 0; jj < 8; ++jj) {
        const int n = n0 + tile::tile_col<CT>(tx, jj);
        bias[jj] = n < L.cout ? __ldg(L.bias + n) : 0.0f;
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) {
          const float v = __fadd_rn(acc[i][jj], bias[jj]);
          acc[i][jj] = L.relu != 0 ? fmaxf(v, 0.0f) : v;
        }
      }
      if (!last) {
        // a_next[n][row], four rows per float4.
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) {
          const int n = n0 + tile::tile_col<CT>(tx, jj);
          if (n < n_store) {
            *reinterpret_cast<float4*>(o + n * kLda + ty * 4) =
                make_float4(acc[0][jj], acc[1][jj], acc[2][jj], acc[3][jj]);
          }
        }
        // The next chunk's first __syncthreads (in gemm_smem_a) orders these stores before any read of them.
      } else {
        // Staging tile st[row][col] (row-major, stride TC + 4), then max over each group's K rows.
        constexpr int kLds = S::kTC + 4;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float* row = o + (ty * 4 + i) * kLds + tx * 4;
          *reinterpret_cast<float4*>(row) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
          *reinterpret_cast<float4*>(row + S::kTC / 2) = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
        }
        __syncthreads();
        const int cols = min(S::kTC, L.cout - n0);
        for (int e = tid; e < gpb * S::kTC; e += kThreads) {
          const int g = e / S::kTC, col = e % S::kTC;
          const long long bm = g0 + g;
          if (col >= cols || bm >= args.groups) continue;
          float best = 0.0f;
          if (flags[g] == 0) {
            const float* st = o + g * k * kLds + col;
            best = st[0];
            for (int s = 1; s < k; ++s) best = fmaxf(best, st[s * kLds]);
          }
          args.out[bm * args.ctot + args.offset + n0 + col] = best;
        }
        // The next chunk's first __syncthreads orders these reads before the staging tile is overwritten.
      }
    }
  }

  // Error record: the last block to finish decodes the lowest bad position.
  sa_detail::finish_error_record(args.blocks_done, args.first_bad, args.error, k, args.m, tid);
}

// Launch plan: tile shape (CT), groups per block and the shared-memory layout.
struct Plan {
  int ct = 0;
  int groups_per_block = 0;
  int buf_off[2] = {0, 0};
  int wt_off = 0, flag_off = 0;
  std::size_t smem_bytes = 0;
  long long blocks = 0;
};

Plan make_plan(int ct, std::int64_t k, std::int64_t groups, const std::vector<DenseLayer>& layers) {
  const int tr = 4 * kThreads / ct, tc = 8 * ct;
  Plan p;
  p.ct = ct;
  if (k > tr) return p;
  p.groups_per_block = static_cast<int>(tr / k);
  const int lda = tr + 4;
  const std::size_t nl = layers.size();
  long long size[2] = {0, 0};  // floats
  for (std::size_t j = 0; j < nl; ++j) {
    const long long kpad = tile::round_up(static_cast<int>(layers[j].weight.dim(1)), kKT);
    size[j & 1] = std::max(size[j & 1], kpad * lda);
  }
  size[nl & 1] = std::max<long long>(size[nl & 1], static_cast<long long>(tr) * (tc + 4));  // staging
  p.buf_off[0] = 0;
  p.buf_off[1] = static_cast<int>(size[0]);
  p.wt_off = static_cast<int>(size[0] + size[1]);
  p.flag_off = p.wt_off + 2 * kKT * (tc + 4);
  p.smem_bytes = static_cast<std::size_t>(p.flag_off + tile::round_up(p.groups_per_block, 4)) * sizeof(float);
  p.blocks = std::max<long long>(1, (groups + p.groups_per_block - 1) / p.groups_per_block);
  return p;
}

// Picks the tile shape with the least estimated time: waves of blocks x issued MACs per block (padding included).
Plan choose_plan(std::int64_t k, std::int64_t groups, const std::vector<DenseLayer>& layers) {
  const tile::DeviceLimits dev = tile::device_limits();
  Plan best;
  double best_cost = 0.0;
  for (int ct : {4, 8, 16, 32}) {
    const Plan p = make_plan(ct, k, groups, layers);
    if (p.groups_per_block == 0 || p.smem_bytes > static_cast<std::size_t>(dev.smem_optin)) continue;
    const int tr = 4 * kThreads / ct, tc = 8 * ct;
    double issued = 0.0;
    for (std::size_t j = 0; j < layers.size(); ++j) {
      const int cin = static_cast<int>(layers[j].weight.dim(1)), cout = static_cast<int>(layers[j].weight.dim(0));
      const int stored = j + 1 == layers.size() ? cout : tile::round_up(cout, kKT);
      issued += static_cast<double>(tr) * tile::round_up(stored, tc) * tile::round_up(cin, kKT);
    }
    const long long per_sm =
        std::max<long long>(1, std::min<long long>(2, dev.smem_per_sm / static_cast<long long>(p.smem_bytes + 1024)));
    const long long waves = (p.blocks + dev.sms * per_sm - 1) / (dev.sms * per_sm);
    const double cost = static_cast<double>(waves * per_sm) * issued * (per_sm == 1 ? 1.1 : 1.0);
    if (best.groups_per_block == 0 || cost < best_cost) {
      best = p;
      best_cost = cost;
    }
  }
  return best;
}

template <int CT>
void launch(const Plan& p, const SaMlpArgs& args, cudaStream_t stream) {
  tile::allow_max_dynamic_smem(reinterpret_cast<const void*>(&sa_mlp_kernel<CT>));
  sa_mlp_kernel<CT><<<static_cast<unsigned>(p.blocks), kThreads, p.smem_bytes, stream>>>(args);
}

// ---- tensor-core path (3xTF32, sa_mlp_tc.cuh) -------------------------------------------------------------------

std::atomic<int> g_force_path{0};     // detail::SaMlpPath
std::atomic<int> g_force_tc_cfg{-1};  // index into kTcCfgs, -1 automatic

// Tile shapes (WM warps across rows, MT m16 tiles per warp): TR = 16 * WM * MT rows, TC = 256 / WM columns.
constexpr int kTcCfgs[][2] = {{1, 2}, {1, 4}, {2, 2}, {2, 4}, {4, 2}, {4, 4}, {8, 2}};
constexpr int kNumTcCfgs = static_cast<int>(sizeof(kTcCfgs) / sizeof(kTcCfgs[0]));

const void* tc_kernel(int cfg) {
  switch (cfg) {
    case 0:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<1, 2>);
    case 1:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<1, 4>);
    case 2:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<2, 2>);
    case 3:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<2, 4>);
    case 4:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<4, 2>);
    case 5:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<4, 4>);
    default:
      return reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<8, 2>);
  }
}

// Whether the current device runs the tensor-core kernel (sm_80+ and a binary built for it), queried once.
bool tc_device_ok() {
  static std::mutex mu;
  static std::map<int, bool> cache;
  int dev = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  const auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  int major = 0;
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  cudaFuncAttributes fa{};
  POINTRT_CUDA_CHECK(cudaFuncGetAttributes(&fa, tc_kernel(0)));
  const bool ok = major >= 8 && fa.binaryVersion >= 80;
  cache.emplace(dev, ok);
  return ok;
}

// Resident blocks per SM of a tile shape at a dynamic shared-memory size (queried once per key).
int tc_blocks_per_sm(int cfg, std::size_t smem) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, std::size_t>, int> cache;
  int dev = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&dev));
  const void* kernel = tc_kernel(cfg);
  tile::allow_max_dynamic_smem(kernel);
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(dev, cfg, smem);
  const auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  int n = 0;
  POINTRT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, sa_tc::kThreads, smem));
  cache.emplace(key, std::max(n, 1));
  return std::max(n, 1);
}

struct TcPlan {
  int cfg = -1;
  int groups_per_block = 0;
  int buf_off[2] = {0, 0};
  int wt_off = 0, wt_bufs = 0, src_off = 0, flag_off = 0;
  std::size_t smem_bytes = 0;
  long long blocks = 0;
};

// The plan of one tile shape, or cfg = -1 when K does not suit it or the chain does not fit shared memory. Whether a
// shape is valid depends on K, the widths and the device only (not on the number of groups).
TcPlan make_tc_plan(int cfg, std::int64_t k, std::int64_t groups, const std::vector<DenseLayer>& layers,
                    int smem_optin) {
  TcPlan p;
  const int wm = kTcCfgs[cfg][0], mt = kTcCfgs[cfg][1];
  const int tr = 16 * wm * mt, tc = 32 * (sa_tc::kWarps / wm), warp_rows = 16 * mt;
  if ((k != 16 && k != 32 && k != 64) || k > warp_rows || warp_rows % k != 0) return p;
  if (layers.size() > static_cast<std::size_t>(sa_tc::kMaxLayers)) return p;
  const int gpb = static_cast<int>(tr / k);
  long long size[2] = {0, 0};  // floats; the last layer's output stays in registers
  for (std::size_t j = 0; j < layers.size(); ++j) {
    const long long kpad = tile::round_up(static_cast<int>(layers[j].weight.dim(1)), 8);
    size[j & 1] = std::max(size[j & 1], static_cast<long long>(tr) * (kpad + 4));
  }
  const long long wtile = static_cast<long long>(tc) * sa_tc::kLdw;
  const long long extra = tr + tile::round_up(gpb, 4);
  for (int bufs : {2, 1}) {  // weight tiles: double-buffered where they fit
    const long long floats = size[0] + size[1] + bufs * wtile + extra;
    if (floats * static_cast<long long>(sizeof(float)) > smem_optin) continue;
    p.cfg = cfg;
    p.groups_per_block = gpb;
    p.buf_off[0] = 0;
    p.buf_off[1] = static_cast<int>(size[0]);
    p.wt_off = static_cast<int>(size[0] + size[1]);
    p.wt_bufs = bufs;
    p.src_off = static_cast<int>(p.wt_off + bufs * wtile);
    p.flag_off = p.src_off + tr;
    p.smem_bytes = static_cast<std::size_t>(floats) * sizeof(float);
    p.blocks = std::max<long long>(1, (groups + gpb - 1) / gpb);
    return p;
  }
  return p;
}

// Estimated time (SM clocks) of a plan: per block, the issued mma (idle warps of narrow layers included) at ~0.5
// mma/clk or the weight stream from L2 at ~32 B/clk, plus the per-k-tile barriers and the gather latency; blocks are
// spread over the SMs, co-resident blocks overlapping partly.
double tc_cost(const TcPlan& p, const std::vector<DenseLayer>& layers, const tile::DeviceLimits& dev) {
  const int wm = kTcCfgs[p.cfg][0], mt = kTcCfgs[p.cfg][1];
  const int tr = 16 * wm * mt, tc = 32 * (sa_tc::kWarps / wm);
  double mma = 0, l2 = 0, ktiles = 0;
  for (std::size_t j = 0; j < layers.size(); ++j) {
    const int cin = static_cast<int>(layers[j].weight.dim(1)), cout = static_cast<int>(layers[j].weight.dim(0));
    const int kpad = tile::round_up(cin, 8), kt = (kpad + 15) / 16;
    const int n_store = j + 1 == layers.size() ? cout : tile::round_up(cout, 8);
    for (int n0 = 0; n0 < n_store; n0 += tc) {
      const int busiest = std::min(4, (std::min(tc, n_store - n0) + 7) / 8);
      mma += 3.0 * sa_tc::kWarps * mt * busiest * (kpad / 8);
      l2 += static_cast<double>(kt) * tc * 16 * 4;
      ktiles += kt;
    }
  }
  const int kpad0 = tile::round_up(static_cast<int>(layers[0].weight.dim(1)), 8);
  const double block = std::max(mma / 0.5, l2 / 32.0) + 60.0 * ktiles + 2500.0 + 2.0 * tr * kpad0 / sa_tc::kThreads;
  const long long bps = tc_blocks_per_sm(p.cfg, p.smem_bytes);
  const long long per_sm = (p.blocks + dev.sms - 1) / dev.sms;
  const long long resident = std::min(bps, per_sm);
  const long long rounds = (per_sm + bps - 1) / bps;
  return static_cast<double>(rounds) * block * (1.0 + 0.5 * static_cast<double>(resident - 1));
}

// The tensor-core plan sa_mlp_cuda uses, or cfg = -1 when the path is not available (device, K or shared memory).
TcPlan choose_tc_plan(std::int64_t k, std::int64_t groups, const std::vector<DenseLayer>& layers) {
  TcPlan best;
  if (!tc_device_ok()) return best;
  const tile::DeviceLimits dev = tile::device_limits();
  const int forced = g_force_tc_cfg.load();
  if (forced >= 0 && forced < kNumTcCfgs) {
    best = make_tc_plan(forced, k, groups, layers, dev.smem_optin);
    if (best.cfg >= 0) return best;
  }
  double best_cost = 0;
  for (int cfg = 0; cfg < kNumTcCfgs; ++cfg) {
    const TcPlan p = make_tc_plan(cfg, k, groups, layers, dev.smem_optin);
    if (p.cfg < 0) continue;
    const double cost = tc_cost(p, layers, dev);
    if (best.cfg < 0 || cost < best_cost) {
      best = p;
      best_cost = cost;
    }
  }
  return best;
}

template <int WM, int MT>
void launch_tc(const TcPlan& p, const sa_tc::Args& args, cudaStream_t stream) {
  tile::allow_max_dynamic_smem(reinterpret_cast<const void*>(&sa_tc::sa_mlp_tc_kernel<WM, MT>));
  sa_tc::sa_mlp_tc_kernel<WM, MT><<<static_cast<unsigned>(p.blocks), sa_tc::kThreads, p.smem_bytes, stream>>>(args);
}

}  // namespace

std::size_t sa_mlp_workspace_bytes(std::int64_t batch, std::int64_t m, std::int64_t k,
                                   const std::vector<DenseLayer>& layers) {
  (void)batch;
  (void)m;
  (void)k;
  (void)layers;
  WorkspaceCarver c(nullptr);
  c.take<unsigned long long>(2);  // lowest bad position, finished-block counter
  return c.size();
}

// The kernel arguments both paths share (their argument structs name these fields alike).
template <typename Args>
void fill_common_args(Args& a, const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                      const Tensor& idx_cnt, Tensor& out, Tensor& error, unsigned long long* slots, std::int64_t groups,
                      std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t c, const SaMlpParams& params) {
  a.xyz = xyz.data_as<float>();
  a.feats = c > 0 ? features->data_as<float>() : nullptr;
  a.new_xyz = new_xyz.data_as<float>();
  a.idx = idx.data_as<std::int32_t>();
  a.cnt = idx_cnt.data_as<std::int32_t>();
  a.out = out.data_as<float>();
  a.first_bad = slots;
  a.blocks_done = reinterpret_cast<unsigned int*>(slots + 1);
  a.error = error.data_as<std::int32_t>();
  a.groups = groups;
  a.m = static_cast<int>(std::max<std::int64_t>(m, 1));
  a.n = static_cast<int>(n);
  a.k = static_cast<int>(k);
  a.c = static_cast<int>(c);
  a.ctot = static_cast<int>(out.dim(2));
  a.offset = params.channel_offset;
  a.mask_empty = params.mask_empty ? 1 : 0;
}

void sa_mlp_cuda(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                 const Tensor& idx_cnt, const std::vector<DenseLayer>& layers, Tensor& out, const SaMlpParams& params,
                 Tensor& error, void* workspace, std::size_t workspace_bytes, StreamHandle stream) {
  const std::int64_t c = detail::sa_mlp_check(xyz, features, new_xyz, idx, idx_cnt, layers, out, params, Device::CUDA);
  check_tensor(error, "sa_mlp", "error", DType::I32, Device::CUDA, {4});
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1), k = idx.dim(2);
  check_workspace(workspace, workspace_bytes, sa_mlp_workspace_bytes(batch, m, k, layers), "sa_mlp");
  check_arg(layers.size() <= static_cast<std::size_t>(kMaxLayers), "sa_mlp",
            "layers: the CUDA kernel takes at most " + std::to_string(kMaxLayers) + " layers, got " +
                std::to_string(layers.size()));
  check_arg(m <= INT32_MAX && out.dim(2) <= INT32_MAX && c <= INT32_MAX - 3, "sa_mlp", "sizes exceed int32");
  const std::int64_t groups = batch * m;
  // Path: with params.math == Tf32x3, tensor cores (3xTF32) where available for this K, chain and device; else the
  // FP32 SIMT kernel. The choice does not depend on the batch size (see sa_mlp_path.h).
  const int forced = g_force_path.load();
  TcPlan tc_plan;
  const bool want_tc = forced == static_cast<int>(detail::SaMlpPath::TensorCore) ||
                       (forced == static_cast<int>(detail::SaMlpPath::Auto) && params.math == SaMlpMath::Tf32x3);
  if (want_tc) tc_plan = choose_tc_plan(k, groups, layers);
  if (forced == static_cast<int>(detail::SaMlpPath::TensorCore) && tc_plan.cfg < 0) {
    fail("sa_mlp", "the tensor-core path was forced but is not available for K = " + std::to_string(k) +
                       " and this layer chain on this device");
  }
  if (tc_plan.cfg >= 0) {
    WorkspaceCarver carver(workspace);
    unsigned long long* slots = carver.take<unsigned long long>(2);
    sa_tc::Args a{};
    fill_common_args(a, xyz, features, new_xyz, idx, idx_cnt, out, error, slots, groups, m, n, k, c, params);
    a.groups_per_block = tc_plan.groups_per_block;
    a.num_layers = static_cast<int>(layers.size());
    a.buf_off[0] = tc_plan.buf_off[0];
    a.buf_off[1] = tc_plan.buf_off[1];
    a.wt_off = tc_plan.wt_off;
    a.wt_bufs = tc_plan.wt_bufs;
    a.src_off = tc_plan.src_off;
    a.flag_off = tc_plan.flag_off;
    for (std::size_t j = 0; j < layers.size(); ++j) {
      sa_tc::Layer& l = a.layers[j];
      l.weight = layers[j].weight.data_as<float>();
      l.bias = layers[j].bias.data_as<float>();
      l.cin = static_cast<int>(layers[j].weight.dim(1));
      l.cout = static_cast<int>(layers[j].weight.dim(0));
      l.kpad = tile::round_up(l.cin, 8);
      l.relu = layers[j].relu ? 1 : 0;
    }
    POINTRT_CUDA_CHECK(cudaMemsetAsync(slots, 0xff, 2 * sizeof(unsigned long long), stream));
    switch (tc_plan.cfg) {
      case 0:
        launch_tc<1, 2>(tc_plan, a, stream);
        break;
      case 1:
        launch_tc<1, 4>(tc_plan, a, stream);
        break;
      case 2:
        launch_tc<2, 2>(tc_plan, a, stream);
        break;
      case 3:
        launch_tc<2, 4>(tc_plan, a, stream);
        break;
      case 4:
        launch_tc<4, 2>(tc_plan, a, stream);
        break;
      case 5:
        launch_tc<4, 4>(tc_plan, a, stream);
        break;
      default:
        launch_tc<8, 2>(tc_plan, a, stream);
        break;
    }
    POINTRT_CHECK_LAUNCH("sa_mlp_tc_kernel");
    return;
  }
  const Plan plan = choose_plan(k, groups, layers);
  if (plan.groups_per_block == 0) {
    fail("sa_mlp", "K = " + std::to_string(k) + " with MLP widths up to " +
                       std::to_string(std::max_element(layers.begin(), layers.end(),
                                                       [](const DenseLayer& a, const DenseLayer& b) {
                                                         return a.weight.dim(0) < b.weight.dim(0);
                                                       })
                                          ->weight.dim(0)) +
                       " does not fit the shared memory of the fused CUDA kernel");
  }
  WorkspaceCarver carver(workspace);
  unsigned long long* slots = carver.take<unsigned long long>(2);

  SaMlpArgs a{};
  fill_common_args(a, xyz, features, new_xyz, idx, idx_cnt, out, error, slots, groups, m, n, k, c, params);
  a.groups_per_block = plan.groups_per_block;
  a.num_layers = static_cast<int>(layers.size());
  a.buf_off[0] = plan.buf_off[0];
  a.buf_off[1] = plan.buf_off[1];
  a.wt_off = plan.wt_off;
  a.flag_off = plan.flag_off;
  for (std::size_t j = 0; j < layers.size(); ++j) {
    LayerArg& l = a.layers[j];
    l.weight = layers[j].weight.data_as<float>();
    l.bias = layers[j].bias.data_as<float>();
    l.cin = static_cast<int>(layers[j].weight.dim(1));
    l.cout = static_cast<int>(layers[j].weight.dim(0));
    l.kpad = tile::round_up(l.cin, kKT);
    l.relu = layers[j].relu ? 1 : 0;
  }
  POINTRT_CUDA_CHECK(cudaMemsetAsync(slots, 0xff, 2 * sizeof(unsigned long long), stream));
  switch (plan.ct) {
    case 4:
      launch<4>(plan, a, stream);
      break;
    case 8:
      launch<8>(plan, a, stream);
      break;
    case 16:
      launch<16>(plan, a, stream);
      break;
    default:
      launch<32>(plan, a, stream);
      break;
  }
  POINTRT_CHECK_LAUNCH("sa_mlp_kernel");
}

namespace detail {

void sa_mlp_force_path(SaMlpPath path) { g_force_path.store(static_cast<int>(path)); }
void sa_mlp_force_tc_config(int index) { g_force_tc_cfg.store(index); }
int sa_mlp_tc_config_count() { return kNumTcCfgs; }

SaMlpPath sa_mlp_path(std::int64_t k, const std::vector<DenseLayer>& layers, SaMlpMath math) {
  const int forced = g_force_path.load();
  if (forced == static_cast<int>(SaMlpPath::Simt)) return SaMlpPath::Simt;
  if (forced == static_cast<int>(SaMlpPath::Auto) && math != SaMlpMath::Tf32x3) return SaMlpPath::Simt;
  return choose_tc_plan(k, 1, layers).cfg >= 0 ? SaMlpPath::TensorCore : SaMlpPath::Simt;
}

}  // namespace detail

}  // namespace pointrt::ops
