// NMSBEV on CUDA: three kernels per call, all on one stream, no host synchronisation (see README.md).
//   1. select: per batch item, the candidates (score >= threshold) sorted by (score desc, index asc) as 64-bit keys
//      ((score key << idx_bits) | index, so ties by index are part of the key); the first min(count, pre_max) are
//      kept with their prepared geometry (BevBox). One block radix sort per item for N <= 4096, otherwise a CUB
//      segmented radix sort plus a selection kernel.
//   2. mask: upper-triangular suppression bitmask in 64x64 tiles, bit j of word (i, j/64) = IoU(i, j) > threshold
//      for j > i (the earlier box is the first IoU argument, as in the CPU reference). Only tiles inside the actual
//      candidate count are computed; the scan never reads the others.
//   3. scan: one block per item; its first warp walks the candidates in order with a shared-memory "removed" bitmap:
//      find the next unremoved candidate with a ballot, keep it, OR its mask row into the bitmap, until P kept.
//      Then the whole block copies the kept rows and zero-fills the rest.
#include <cuda_runtime.h>

#include <cub/block/block_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <climits>

#include "core/cuda_utils.h"
#include "ops/nms_bev/iou_bev.h"
#include "ops/nms_bev/nms_bev.h"

namespace pointrt::ops {

namespace {

using nms_bev_detail::BevBox;
using u64 = unsigned long long;

constexpr std::int64_t kBlockSortMax = 4096;          // N up to this: one block radix sort per item
constexpr std::int64_t kMaxConsidered = 262144;        // M limit: scan bitmap in shared memory (32 KiB)
constexpr int kScanThreads = 256;
constexpr std::uint32_t kNotCandidate = 0xFFFFFFFFu;  // high key part of a box below the score threshold

int index_bits(std::int64_t n) {
  int bits = 1;
  while (bits < 31 && (std::int64_t{1} << bits) < n) ++bits;
  return bits;
}

struct Layout {
  int* count = nullptr;     // [B] candidates considered per item
  int* order = nullptr;     // [B, M] box index of the r-th candidate
  BevBox* geo = nullptr;    // [B, M] prepared geometry of the r-th candidate
  u64* mask = nullptr;      // [B, M, words]
  int* kept_pos = nullptr;  // [B, P] candidate rank of the k-th kept box
  u64* keys_in = nullptr;   // [B, N] (general path only)
  u64* keys_out = nullptr;  // [B, N]
  int* offsets = nullptr;   // [B + 1]
  void* cub_temp = nullptr;
  std::size_t cub_bytes = 0;
  std::size_t total = 0;
};

Layout carve(void* base, std::int64_t batch, std::int64_t n, const NmsBevParams& params) {
  const std::int64_t m = nms_bev_detail::max_considered(n, params);
  const std::int64_t words = (m + 63) / 64;
  const auto sz = [](std::int64_t v) { return static_cast<std::size_t>(v); };
  WorkspaceCarver c(base);
  Layout l;
  l.count = c.take<int>(sz(batch));
  l.order = c.take<int>(sz(batch * m));
  l.geo = c.take<BevBox>(sz(batch * m));
  l.mask = c.take<u64>(sz(batch * m * words));
  l.kept_pos = c.take<int>(sz(batch * params.max_out));
  if (n > kBlockSortMax) {
    l.keys_in = c.take<u64>(sz(batch * n));
    l.keys_out = c.take<u64>(sz(batch * n));
    l.offsets = c.take<int>(sz(batch + 1));
    POINTRT_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(
        nullptr, l.cub_bytes, l.keys_in, l.keys_out, static_cast<int>(batch * n), static_cast<int>(batch), l.offsets,
        l.offsets, 0, 32 + index_bits(n)));
    l.cub_temp = c.take<char>(l.cub_bytes);
  }
  l.total = c.size();
  return l;
}

__device__ __forceinline__ u64 candidate_key(float score, float threshold, int index, int idx_bits) {
  const std::uint32_t hi = score >= threshold ? nms_bev_detail::score_desc_key(score) : kNotCandidate;
  return (static_cast<u64>(hi) << idx_bits) | static_cast<u64>(index);
}

__device__ __forceinline__ BevBox prepare(const float* row) {
  return nms_bev_detail::make_bev_box(row[0], row[1], row[3], row[4], row[6]);
}

// ---- 1a. fast path: one block sorts one item ------------------------------------------------------------------
template <int kThreads, int kItems>
__global__ void __launch_bounds__(kThreads)
    select_block_kernel(const float* __restrict__ boxes, const float* __restrict__ scores, int n, int m_max,
                        float score_threshold, int idx_bits, int* __restrict__ count, int* __restrict__ order,
                        BevBox* __restrict__ geo) {
  using Sort = cub::BlockRadixSort<u64, kThreads, kItems>;
  __shared__ typename Sort::TempStorage temp;
  __shared__ int s_candidates;
  const int b = blockIdx.x;
  const float* sc = scores + static_cast<std::size_t>(b) * n;
  if (threadIdx.x == 0) s_candidates = 0;
  u64 keys[kItems];
  int local = 0;
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    const int i = static_cast<int>(threadIdx.x) * kItems + k;
    if (i < n) {
      const float s = sc[i];
      local += s >= score_threshold ? 1 : 0;
      keys[k] = candidate_key(s, score_threshold, i, idx_bits);
    } else {
      keys[k] = ~0ull;  // after everything within the sorted bits
    }
  }
  __syncthreads();
  if (local != 0) atomicAdd(&s_candidates, local);
  Sort(temp).Sort(keys, 0, 32 + idx_bits);  // contains barriers
  __syncthreads();
  const int cnt = min(s_candidates, m_max);
  const u64 idx_mask = (1ull << idx_bits) - 1ull;
#pragma unroll
  for (int k = 0; k < kItems; ++k) {
    const int r = static_cast<int>(threadIdx.x) * kItems + k;
    if (r < cnt) {
      const int idx = static_cast<int>(keys[k] & idx_mask);
      order[static_cast<std::size_t>(b) * m_max + r] = idx;
      geo[static_cast<std::size_t>(b) * m_max + r] = prepare(boxes + (static_cast<std::size_t>(b) * n + idx) * 8);
    }
  }
  if (threadIdx.x == 0) count[b] = cnt;
}

// ---- 1b. general path: keys for a device-wide segmented sort, then selection ------------------------------------
__global__ void make_keys_kernel(const float* __restrict__ scores, int batch, int n, float score_threshold,
                                 int idx_bits, u64* __restrict__ keys, int* __restrict__ offsets) {
  const std::int64_t total = static_cast<std::int64_t>(batch) * n;
  for (std::int64_t g = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; g < total;
       g += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(g % n);
    keys[g] = candidate_key(scores[g], score_threshold, i, idx_bits);
    if (g <= batch) offsets[g] = static_cast<int>(g * n);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0 && total <= batch) {
    for (int g = static_cast<int>(total); g <= batch; ++g) offsets[g] = g * n;  // tiny inputs
  }
}

__global__ void select_sorted_kernel(const u64* __restrict__ keys, const float* __restrict__ boxes, int n, int m_max,
                                     int idx_bits, int* __restrict__ count, int* __restrict__ order,
                                     BevBox* __restrict__ geo) {
  const int b = blockIdx.y;
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= m_max) return;
  const u64* k = keys + static_cast<std::size_t>(b) * n;
  const bool cand = static_cast<std::uint32_t>(k[r] >> idx_bits) != kNotCandidate;
  if (!cand) return;
  const int idx = static_cast<int>(k[r] & ((1ull << idx_bits) - 1ull));
  order[static_cast<std::size_t>(b) * m_max + r] = idx;
  geo[static_cast<std::size_t>(b) * m_max + r] = prepare(boxes + (static_cast<std::size_t>(b) * n + idx) * 8);
  const bool last = r + 1 == m_max || static_cast<std::uint32_t>(k[r + 1] >> idx_bits) == kNotCandidate;
  if (last) count[b] = r + 1;  // exactly one thread per item (count was zeroed before)
}

// ---- 2. suppression mask --------------------------------------------------------------------------------------
// One block per 64x64 tile; warp w handles rows w, w + kMaskWarps, ...; lane l tests columns l and l + 32, and two
// ballots assemble the row's 64-bit word (spreads the IoU work over 32x more threads than one thread per row).
constexpr int kMaskWarps = 16;

__global__ void __launch_bounds__(kMaskWarps * 32)
    mask_kernel(const BevBox* __restrict__ geo, const int* __restrict__ count, int m_max, int words,
                float iou_threshold, u64* __restrict__ mask) {
  const int cb = blockIdx.x, rb = blockIdx.y, b = blockIdx.z;
  if (cb < rb) return;  // lower triangle: never read
  const int cnt = count[b];
  const int col0 = cb * 64, row0 = rb * 64;
  if (col0 >= cnt) return;  // then row0 <= col0 < cnt for the blocks that go on
  __shared__ BevBox cols[64];
  __shared__ BevBox rows[64];
  const BevBox* g = geo + static_cast<std::size_t>(b) * m_max;
  const int ncol = min(64, cnt - col0);
  const int nrow = min(64, cnt - row0);
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < ncol) cols[tid] = g[col0 + tid];
  if (tid >= 64 && tid < 64 + nrow) rows[tid - 64] = g[row0 + tid - 64];
  __syncthreads();
  const int warp = tid >> 5, lane = tid & 31;
  for (int r = warp; r < nrow; r += kMaskWarps) {  // warp-uniform loop
    const int first = cb == rb ? r + 1 : 0;       // only j > i
    const int j0 = lane, j1 = lane + 32;
    const bool p0 = j0 >= first && j0 < ncol && nms_bev_detail::iou_prepared(rows[r], cols[j0]) > iou_threshold;
    const bool p1 = j1 >= first && j1 < ncol && nms_bev_detail::iou_prepared(rows[r], cols[j1]) > iou_threshold;
    const unsigned lo = __ballot_sync(0xffffffffu, p0);
    const unsigned hi = __ballot_sync(0xffffffffu, p1);
    if (lane == 0) {
      mask[(static_cast<std::size_t>(b) * m_max + row0 + r) * words + cb] = (static_cast<u64>(hi) << 32) | lo;
    }
  }
}

// ---- 3. greedy scan and output --------------------------------------------------------------------------------
__global__ void __launch_bounds__(kScanThreads)
    scan_kernel(const float* __restrict__ boxes, const float* __restrict__ scores, int n, const int* __restrict__ count,
                const int* __restrict__ order, const u64* __restrict__ mask, int m_max, int words, int p,
                int* __restrict__ kept_pos, float* __restrict__ out_boxes, float* __restrict__ out_scores,
                int* __restrict__ nums) {
  extern __shared__ u64 removed[];  // [words]
  __shared__ int s_kept;
  const int b = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  const int cnt = count[b];
  const int nw = (cnt + 63) / 64;
  for (int w = tid; w < nw; w += kScanThreads) removed[w] = 0ull;
  __syncthreads();
  int* kp = kept_pos + static_cast<std::size_t>(b) * p;
  if (tid < 32) {
    const int lane = tid;
    const u64* rows = mask + static_cast<std::size_t>(b) * m_max * words;
    const u64 tail_mask = (cnt & 63) != 0 ? (1ull << (cnt & 63)) - 1ull : ~0ull;
    int kept = 0;
    int pos = 0;
    while (kept < p && pos < cnt) {
      // First candidate >= pos that is not removed: a ballot over 32 words at a time.
      int found = -1;
      const int w0 = pos >> 6;
      for (int base = w0; base < nw; base += 32) {
        const int w = base + lane;
        u64 avail = 0;
        if (w < nw) {
          avail = ~removed[w];
          if (w == w0) avail &= ~0ull << (pos & 63);
          if (w == nw - 1) avail &= tail_mask;
        }
        const unsigned ballot = __ballot_sync(0xffffffffu, avail != 0ull);
        if (ballot != 0u) {
          const int f = __ffs(static_cast<int>(ballot)) - 1;
          const u64 word = __shfl_sync(0xffffffffu, avail, f);
          found = (base + f) * 64 + __ffsll(static_cast<long long>(word)) - 1;
          break;
        }
      }
      if (found < 0) break;
      if (lane == 0) kp[kept] = found;
      ++kept;
      if (kept == p) break;
      const u64* row = rows + static_cast<std::size_t>(found) * words;
      for (int w = (found >> 6) + lane; w < nw; w += 32) removed[w] |= row[w];
      __syncwarp();
      pos = found + 1;
    }
    if (lane == 0) s_kept = kept;
  }
  __syncthreads();  // also orders warp 0's kept_pos writes before the reads below
  const int kept = s_kept;
  const float* bx = boxes + static_cast<std::size_t>(b) * n * 8;
  float* ob = out_boxes + static_cast<std::size_t>(b) * p * 8;
  float* os = out_scores + static_cast<std::size_t>(b) * p;
  for (int r = tid; r < kept; r += kScanThreads) {
    const int idx = order[static_cast<std::size_t>(b) * m_max + kp[r]];
    const float* src = bx + static_cast<std::size_t>(idx) * 8;
    float v[8];
#pragma unroll
    for (int c = 0; c < 8; ++c) v[c] = src[c];
    const float s = scores[static_cast<std::size_t>(b) * n + idx];
#pragma unroll
    for (int c = 0; c < 8; ++c) ob[static_cast<std::size_t>(r) * 8 + c] = v[c];
    os[r] = s;
  }
  for (int e = kept * 8 + tid; e < p * 8; e += kScanThreads) ob[e] = 0.0f;
  for (int r = kept + tid; r < p; r += kScanThreads) os[r] = 0.0f;
  if (tid == 0) nums[b] = kept;
}

}  // namespace

std::size_t nms_bev_workspace_bytes(std::int64_t batch, std::int64_t n, const NmsBevParams& params) {
  check_arg(batch >= 0 && n >= 0, "nms_bev", "workspace: batch and n must be >= 0");
  check_arg(params.max_out >= 1, "nms_bev", "max_out must be >= 1, got " + std::to_string(params.max_out));
  check_arg(params.pre_max >= 0, "nms_bev", "pre_max must be >= 0 (0 = no cap), got " + std::to_string(params.pre_max));
  if (batch == 0 || n == 0) return 0;
  return carve(nullptr, batch, n, params).total;
}

void nms_bev_cuda(const Tensor& boxes, const Tensor& scores, Tensor& out_boxes, Tensor& out_scores, Tensor& nums,
                  const NmsBevParams& params, void* workspace, std::size_t workspace_bytes, StreamHandle stream) {
  nms_bev_detail::validate(boxes, scores, out_boxes, out_scores, nums, params, Device::CUDA);
  const std::int64_t batch = boxes.dim(0), n = boxes.dim(1), p = params.max_out;
  const std::int64_t m = nms_bev_detail::max_considered(n, params);
  check_arg(m <= kMaxConsidered, "nms_bev",
            "at most " + std::to_string(kMaxConsidered) + " candidates can be considered on CUDA, got " +
                std::to_string(m) + " (set pre_max)");
  check_arg(batch * n <= INT_MAX && batch * p * 8 <= INT_MAX, "nms_bev",
            "boxes: " + boxes.describe() + " is too large for one call");
  if (batch == 0) return;
  float* ob = out_boxes.data_as<float>();
  float* os = out_scores.data_as<float>();
  std::int32_t* on = nums.data_as<std::int32_t>();
  cudaStream_t s = stream;
  if (n == 0) {
    POINTRT_CUDA_CHECK(cudaMemsetAsync(ob, 0, out_boxes.nbytes(), s));
    POINTRT_CUDA_CHECK(cudaMemsetAsync(os, 0, out_scores.nbytes(), s));
    POINTRT_CUDA_CHECK(cudaMemsetAsync(on, 0, nums.nbytes(), s));
    return;
  }
  const std::size_t needed = nms_bev_workspace_bytes(batch, n, params);
  check_workspace(workspace, workspace_bytes, needed, "nms_bev");
  const Layout l = carve(workspace, batch, n, params);
  const float* bx = boxes.data_as<float>();
  const float* sc = scores.data_as<float>();
  const int ni = static_cast<int>(n), mi = static_cast<int>(m), bi = static_cast<int>(batch);
  const int idx_bits = index_bits(n);
  const int words = static_cast<int>((m + 63) / 64);

  // 1. candidates in order.
  if (n <= kBlockSortMax) {
    if (n <= 256) {
      select_block_kernel<128, 2><<<bi, 128, 0, s>>>(bx, sc, ni, mi, params.score_threshold, idx_bits, l.count,
                                                      l.order, l.geo);
    } else if (n <= 1024) {
      select_block_kernel<256, 4><<<bi, 256, 0, s>>>(bx, sc, ni, mi, params.score_threshold, idx_bits, l.count,
                                                      l.order, l.geo);
    } else {
      select_block_kernel<512, 8><<<bi, 512, 0, s>>>(bx, sc, ni, mi, params.score_threshold, idx_bits, l.count,
                                                      l.order, l.geo);
    }
    POINTRT_CHECK_LAUNCH("nms_bev select_block_kernel");
  } else {
    const std::int64_t total = batch * n;
    const int threads = 256;
    const int blocks = static_cast<int>(std::min<std::int64_t>((total + threads - 1) / threads, 4096));
    make_keys_kernel<<<blocks, threads, 0, s>>>(sc, bi, ni, params.score_threshold, idx_bits, l.keys_in, l.offsets);
    POINTRT_CHECK_LAUNCH("nms_bev make_keys_kernel");
    std::size_t cub_bytes = l.cub_bytes;
    POINTRT_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(l.cub_temp, cub_bytes, l.keys_in, l.keys_out,
                                                               static_cast<int>(total), bi, l.offsets, l.offsets + 1,
                                                               0, 32 + idx_bits, s));
    POINTRT_CUDA_CHECK(cudaMemsetAsync(l.count, 0, static_cast<std::size_t>(batch) * sizeof(int), s));
    select_sorted_kernel<<<dim3(static_cast<unsigned>((m + 255) / 256), static_cast<unsigned>(batch)), 256, 0, s>>>(
        l.keys_out, bx, ni, mi, idx_bits, l.count, l.order, l.geo);
    POINTRT_CHECK_LAUNCH("nms_bev select_sorted_kernel");
  }

  // 2. suppression bitmask.
  mask_kernel<<<dim3(static_cast<unsigned>(words), static_cast<unsigned>(words), static_cast<unsigned>(batch)),
                kMaskWarps * 32, 0, s>>>(l.geo, l.count, mi, words, params.iou_threshold, l.mask);
  POINTRT_CHECK_LAUNCH("nms_bev mask_kernel");

  // 3. greedy scan, outputs.
  scan_kernel<<<bi, kScanThreads, static_cast<std::size_t>(words) * sizeof(u64), s>>>(
      bx, sc, ni, l.count, l.order, l.mask, mi, words, static_cast<int>(p), l.kept_pos, ob, os, on);
  POINTRT_CHECK_LAUNCH("nms_bev scan_kernel");
}

}  // namespace pointrt::ops
