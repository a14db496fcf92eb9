// Gather and grouping: CUDA kernels (see group.h for the contract).
//
// Both kernels are memory-bound row copies (grid-stride over output rows: a thread per row when rows are narrow, a
// warp per row when they have 32 or more channels), so index arithmetic is paid once per row. A row whose index is
// outside [0, N) is written as zeros without dereferencing it, and its flat position goes through atomicMin into an
// 8-byte workspace slot (reset by cudaMemsetAsync); a one-thread kernel decodes the lowest one into
// error = {found, b, m, k}.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>

#include "core/cuda_utils.h"
#include "ops/group/group.h"

namespace pointrt::ops {

namespace {

constexpr int kThreads = 256;
constexpr unsigned long long kNone = ~0ull;

// Rows are handed out one per thread (narrow rows, W < 32 channels: each thread writes its W consecutive floats, so a
// warp still stores one contiguous span) or one per warp (W >= 32: lanes stride over the channels). The index
// arithmetic (divisions) is done once per row.
template <bool kWarpPerRow, typename I>
__device__ __forceinline__ void row_range(I& first, I& stride, int& lane, int& lanes) {
  const I tid = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x;
  const I threads = static_cast<I>(gridDim.x) * kThreads;
  if constexpr (kWarpPerRow) {
    first = tid / 32;
    stride = threads / 32;
    lane = static_cast<int>(threadIdx.x & 31);
    lanes = 32;
  } else {
    first = tid;
    stride = threads;
    lane = 0;
    lanes = 1;
  }
}

template <bool kWarpPerRow, typename I>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(const float* __restrict__ x, const std::int32_t* __restrict__ ind, float* __restrict__ out, I rows,
                  int n, I m, int c, unsigned long long* __restrict__ first_bad) {
  I first, stride;
  int lane, lanes;
  row_range<kWarpPerRow>(first, stride, lane, lanes);
  for (I row = first; row < rows; row += stride) {
    const std::int32_t i = ind[row];
    float* o = out + row * static_cast<I>(c);
    if (i >= 0 && i < n) {
      const float* src = x + ((row / m) * static_cast<I>(n) + static_cast<I>(i)) * static_cast<I>(c);
      for (int ch = lane; ch < c; ch += lanes) o[ch] = src[ch];
    } else {
      if (lane == 0) atomicMin(first_bad, static_cast<unsigned long long>(row));
      for (int ch = lane; ch < c; ch += lanes) o[ch] = 0.0f;
    }
  }
}

template <bool kWarpPerRow, typename I>
__global__ void __launch_bounds__(kThreads)
    group_kernel(const float* __restrict__ xyz, const float* __restrict__ feats, const float* __restrict__ new_xyz,
                 const std::int32_t* __restrict__ idx, const std::int32_t* __restrict__ cnt, float* __restrict__ out,
                 float* __restrict__ mask, I rows, I rows_bm, int n, I m, I k, int c,
                 unsigned long long* __restrict__ first_bad) {
  if (mask != nullptr) {
    const I tid = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x;
    const I threads = static_cast<I>(gridDim.x) * kThreads;
    for (I e = tid; e < rows_bm; e += threads) mask[e] = cnt[e] > 0 ? 1.0f : 0.0f;
  }
  I first, stride;
  int lane, lanes;
  row_range<kWarpPerRow>(first, stride, lane, lanes);
  const int w = 3 + c;
  for (I row = first; row < rows; row += stride) {  // row = flat (b, m, k)
    const std::int32_t i = idx[row];
    float* o = out + row * static_cast<I>(w);
    if (i >= 0 && i < n) {
      const I bm = row / k;
      const I src = (bm / m) * static_cast<I>(n) + static_cast<I>(i);
      const float* p = xyz + src * 3;
      const float* q = new_xyz + bm * 3;
      const float* f = feats + src * static_cast<I>(c);
      for (int ch = lane; ch < w; ch += lanes) o[ch] = ch < 3 ? p[ch] - q[ch] : f[ch - 3];
    } else {
      if (lane == 0) atomicMin(first_bad, static_cast<unsigned long long>(row));
      for (int ch = lane; ch < w; ch += lanes) o[ch] = 0.0f;
    }
  }
}

// k_dim = 0: positions are (b, m) rows of [B, M]; otherwise (b, m, k) rows of [B, M, K].
__global__ void finalize_error_kernel(const unsigned long long* __restrict__ first_bad, long long m, long long k_dim,
                                      std::int32_t* __restrict__ error) {
  const unsigned long long pos = *first_bad;
  if (pos == kNone) {
    error[0] = 0;
    error[1] = -1;
    error[2] = -1;
    error[3] = -1;
    return;
  }
  const long long p = static_cast<long long>(pos);
  const long long kk = k_dim > 0 ? k_dim : 1;
  error[0] = 1;
  error[1] = static_cast<std::int32_t>(p / kk / m);
  error[2] = static_cast<std::int32_t>((p / kk) % m);
  error[3] = k_dim > 0 ? static_cast<std::int32_t>(p % kk) : -1;
}

unsigned blocks_for(std::int64_t total) {
  const std::int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min<std::int64_t>(blocks, 1 << 20)));
}

void check_error_tensor(const Tensor& error, const char* op) {
  check_tensor(error, op, "error", DType::I32, Device::CUDA, {4});
}

}  // namespace

void gather_points_cuda(const Tensor& x, const Tensor& ind, Tensor& out, Tensor& error, void* workspace,
                        std::size_t workspace_bytes, StreamHandle stream) {
  detail::gather_points_check(x, ind, out, Device::CUDA);
  check_error_tensor(error, "gather_points");
  check_workspace(workspace, workspace_bytes, gather_points_workspace_bytes(), "gather_points");
  WorkspaceCarver carver(workspace);
  unsigned long long* first_bad = carver.take<unsigned long long>(1);
  const std::int64_t n = x.dim(1), c = x.dim(2), m = ind.dim(1);
  const std::int64_t total = out.numel();
  POINTRT_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), stream));
  const std::int64_t rows = x.dim(0) * m;
  if (total > 0) {
    const bool wide = c >= 32;
    const unsigned blocks = blocks_for(wide ? rows * 32 : rows);
    const float* xs = x.data_as<float>();
    const std::int32_t* is = ind.data_as<std::int32_t>();
    float* os = out.data_as<float>();
    const int ni = static_cast<int>(n), ci = static_cast<int>(c);
    if (total <= INT32_MAX && x.numel() <= INT32_MAX) {
      using I = std::uint32_t;
      if (wide) {
        gather_kernel<true, I>
            <<<blocks, kThreads, 0, stream>>>(xs, is, os, static_cast<I>(rows), ni, static_cast<I>(m), ci, first_bad);
      } else {
        gather_kernel<false, I>
            <<<blocks, kThreads, 0, stream>>>(xs, is, os, static_cast<I>(rows), ni, static_cast<I>(m), ci, first_bad);
      }
    } else {
      using I = std::uint64_t;
      if (wide) {
        gather_kernel<true, I>
            <<<blocks, kThreads, 0, stream>>>(xs, is, os, static_cast<I>(rows), ni, static_cast<I>(m), ci, first_bad);
      } else {
        gather_kernel<false, I>
            <<<blocks, kThreads, 0, stream>>>(xs, is, os, static_cast<I>(rows), ni, static_cast<I>(m), ci, first_bad);
      }
    }
    POINTRT_CHECK_LAUNCH("gather_points_kernel");
  }
  finalize_error_kernel<<<1, 1, 0, stream>>>(first_bad, std::max<std::int64_t>(m, 1), 0, error.data_as<std::int32_t>());
  POINTRT_CHECK_LAUNCH("gather_points_finalize_error_kernel");
}

void group_cuda(const Tensor& xyz, const Tensor* features, const Tensor& new_xyz, const Tensor& idx,
                const Tensor& idx_cnt, Tensor& grouped, const GroupParams& params, Tensor& error, void* workspace,
                std::size_t workspace_bytes, StreamHandle stream, Tensor* mask) {
  (void)params;
  const std::int64_t c = detail::group_check(xyz, features, new_xyz, idx, idx_cnt, grouped, mask, Device::CUDA);
  check_error_tensor(error, "group");
  check_workspace(workspace, workspace_bytes, group_workspace_bytes(), "group");
  WorkspaceCarver carver(workspace);
  unsigned long long* first_bad = carver.take<unsigned long long>(1);
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1), k = idx.dim(2);
  const std::int64_t total = grouped.numel();
  const std::int64_t rows_bm = mask != nullptr ? b * m : 0;
  const float* feats = c > 0 ? features->data_as<float>() : nullptr;
  float* mk = mask != nullptr ? mask->data_as<float>() : nullptr;
  POINTRT_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), stream));
  const std::int64_t rows = b * m * k;
  if (total > 0 || rows_bm > 0) {
    const bool wide = 3 + c >= 32;
    const unsigned blocks = blocks_for(std::max(wide ? rows * 32 : rows, rows_bm));
    const std::int64_t largest_source = std::max<std::int64_t>(xyz.numel(), c > 0 ? features->numel() : 0);
    const float* ps = xyz.data_as<float>();
    const float* qs = new_xyz.data_as<float>();
    const std::int32_t* is = idx.data_as<std::int32_t>();
    const std::int32_t* cs = idx_cnt.data_as<std::int32_t>();
    float* os = grouped.data_as<float>();
    const int ni = static_cast<int>(n), ci = static_cast<int>(c);
    if (total <= INT32_MAX && largest_source <= INT32_MAX) {
      using I = std::uint32_t;
      if (wide) {
        group_kernel<true, I><<<blocks, kThreads, 0, stream>>>(ps, feats, qs, is, cs, os, mk, static_cast<I>(rows),
                                                               static_cast<I>(rows_bm), ni, static_cast<I>(m),
                                                               static_cast<I>(k), ci, first_bad);
      } else {
        group_kernel<false, I><<<blocks, kThreads, 0, stream>>>(ps, feats, qs, is, cs, os, mk, static_cast<I>(rows),
                                                                static_cast<I>(rows_bm), ni, static_cast<I>(m),
                                                                static_cast<I>(k), ci, first_bad);
      }
    } else {
      using I = std::uint64_t;
      if (wide) {
        group_kernel<true, I><<<blocks, kThreads, 0, stream>>>(ps, feats, qs, is, cs, os, mk, static_cast<I>(rows),
                                                               static_cast<I>(rows_bm), ni, static_cast<I>(m),
                                                               static_cast<I>(k), ci, first_bad);
      } else {
        group_kernel<false, I><<<blocks, kThreads, 0, stream>>>(ps, feats, qs, is, cs, os, mk, static_cast<I>(rows),
                                                                static_cast<I>(rows_bm), ni, static_cast<I>(m),
                                                                static_cast<I>(k), ci, first_bad);
      }
    }
    POINTRT_CHECK_LAUNCH("group_kernel");
  }
  finalize_error_kernel<<<1, 1, 0, stream>>>(first_bad, std::max<std::int64_t>(m, 1), std::max<std::int64_t>(k, 1),
                                             error.data_as<std::int32_t>());
  POINTRT_CHECK_LAUNCH("group_finalize_error_kernel");
}

}  // namespace pointrt::ops
