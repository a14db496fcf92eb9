// NMSBEV on CUDA: four kernels per call, all on one stream, no host synchronisation (see README.md).
//   1. select: per batch item, the candidates (score >= threshold) ordered by (score desc, index asc) as 64-bit keys
//      ((score key << idx_bits) | index, so ties by index are part of the key); the first min(count, pre_max) are
//      kept with their prepared geometry (BevBox) and bounding box (BevAabb), in candidate order ("rank").
//      N <= 4096: rank by counting (rank = number of smaller keys; many small blocks, no sort passes). Otherwise a
//      CUB segmented radix sort plus a selection kernel.
//   2. first: for every rank j, first[j] = the smallest rank i < j with IoU(i, j) > threshold, or -1 (a warp per j,
//      32 earlier candidates per step, early exit at the first hit). This gives, exactly:
//        * j is "surely suppressed" when f = first[j] >= 0 and first[f] == -1: f has no earlier overlapper, so the
//          greedy keeps f whenever it gets as far as j, and f suppresses j;
//        * IoU(i, j) <= threshold for every i < first[j] (and for every i when first[j] == -1), and
//          IoU(first[j], j) > threshold: these mask bits need no IoU.
//   3. mask: suppression bitmask in 64x64 tiles, bit j of word (i, j/64) = IoU(i, j) > threshold for i < j (earlier
//      box first, as in the CPU reference), computed only where it can matter: rows that are not surely suppressed
//      (only kept rows are ever read), columns that are not surely suppressed (those are pre-removed in the scan),
//      rows i > first[j] (first[j] itself is a known 1), and the full IoU only after the exact bounding-box pre-test.
//   4. scan: one block per item; the removed bitmap starts as the surely-suppressed set; warp 0 walks the candidates
//      64 at a time: the diagonal words of the block (prefetched one block ahead) resolve the greedy inside it in
//      registers, then the rows of the block's kept boxes are ORed into the later words; stops at P kept. Then the
//      whole block copies the kept rows and zero-fills the rest.
#include <cuda_runtime.h>

#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <climits>

#include "core/cuda_utils.h"
#include "ops/nms_bev/iou_bev.h"
#include "ops/nms_bev/nms_bev.h"

namespace pointrt::ops {

namespace {

using nms_bev_detail::BevAabb;
using nms_bev_detail::BevBox;
using u64 = unsigned long long;

constexpr std::int64_t kRankMax = 4096;               // N up to this: ranks by counting
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
  BevAabb* aabb = nullptr;  // [B, M] its bounding box for the pre-test
  int* first = nullptr;     // [B, M] smallest earlier rank overlapping it (IoU > threshold), -1 if none
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
  l.aabb = c.take<BevAabb>(sz(batch * m));
  l.first = c.take<int>(sz(batch * m));
  l.mask = c.take<u64>(sz(batch * m * words));
  l.kept_pos = c.take<int>(sz(batch * params.max_out));
  if (n > kRankMax) {
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

// Writes the prepared geometry and bounding box of candidate rank r (box row `row`).
__device__ __forceinline__ void store_candidate(const float* row, BevBox* geo, BevAabb* aabb, std::size_t r) {
  const BevBox g = nms_bev_detail::make_bev_box(row[0], row[1], row[3], row[4], row[6]);
  geo[r] = g;
  aabb[r] = nms_bev_detail::make_bev_aabb(g);
}

// IoU(earlier, later) > threshold, with the exact bounding-box pre-test in front (see bev_aabb_may_overlap).
__device__ __forceinline__ bool overlaps(const BevAabb& ea, const BevBox* eg, const BevAabb& la, const BevBox* lg,
                                         float iou_threshold) {
  if (!nms_bev_detail::bev_aabb_may_overlap(ea, la)) return false;
  return nms_bev_detail::iou_prepared(*eg, *lg) > iou_threshold;
}

// ---- 1a. N <= 4096: rank by counting ---------------------------------------------------------------------------
// Block (x, b) ranks boxes j = 32x .. 32x + 31 of item b (lane = j); its kRankWarps warps split the n keys between
// them, each broadcasting 32 keys at a time with shuffles; rank(j) = number of keys below key(j) (keys are unique).
// Non-candidates have keys above every candidate, so a candidate's rank is its position among the candidates. Every
// block also counts the candidates (the same number everywhere); block 0 writes count[b]. No atomics, no zeroing.
constexpr int kRankWarps = 8;

__global__ void __launch_bounds__(kRankWarps * 32)
    rank_select_kernel(const float* __restrict__ boxes, const float* __restrict__ scores, int n, int m_max,
                       float score_threshold, int idx_bits, int* __restrict__ count, int* __restrict__ order,
                       BevBox* __restrict__ geo, BevAabb* __restrict__ aabb) {
  __shared__ int s_less[kRankWarps][32];
  __shared__ int s_cand[kRankWarps];
  const int b = blockIdx.y;
  const float* sc = scores + static_cast<std::size_t>(b) * n;
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const int j = static_cast<int>(blockIdx.x) * 32 + lane;
  const float sj = j < n ? sc[j] : 0.0f;
  const bool cand_j = j < n && sj >= score_threshold;
  const u64 key_j = j < n ? candidate_key(sj, score_threshold, j, idx_bits) : ~0ull;
  int less = 0, cand = 0;
  for (int base = warp * 32; base < n; base += kRankWarps * 32) {  // warp-uniform
    const int i = base + lane;
    const float si = i < n ? sc[i] : 0.0f;
    const u64 key_i = i < n ? candidate_key(si, score_threshold, i, idx_bits) : ~0ull;  // ~0: above all real keys
    cand += __popc(__ballot_sync(0xffffffffu, i < n && si >= score_threshold));
#pragma unroll 8
    for (int t = 0; t < 32; ++t) less += __shfl_sync(0xffffffffu, key_i, t) < key_j ? 1 : 0;
  }
  s_less[warp][lane] = less;
  if (lane == 0) s_cand[warp] = cand;
  __syncthreads();
  if (warp != 0) return;
  int rank = 0, total = 0;
#pragma unroll
  for (int w = 0; w < kRankWarps; ++w) {
    rank += s_less[w][lane];
    total += s_cand[w];
  }
  const int cnt = min(total, m_max);
  if (cand_j && rank < cnt) {
    const std::size_t r = static_cast<std::size_t>(b) * m_max + rank;
    order[r] = j;
    store_candidate(boxes + (static_cast<std::size_t>(b) * n + j) * 8, geo, aabb, r);
  }
  if (blockIdx.x == 0 && lane == 0) count[b] = cnt;
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
                                     BevBox* __restrict__ geo, BevAabb* __restrict__ aabb) {
  const int b = blockIdx.y;
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= m_max) return;
  const u64* k = keys + static_cast<std::size_t>(b) * n;
  const bool cand = static_cast<std::uint32_t>(k[r] >> idx_bits) != kNotCandidate;
  if (!cand) return;
  const int idx = static_cast<int>(k[r] & ((1ull << idx_bits) - 1ull));
  const std::size_t slot = static_cast<std::size_t>(b) * m_max + r;
  order[slot] = idx;
  store_candidate(boxes + (static_cast<std::size_t>(b) * n + idx) * 8, geo, aabb, slot);
  const bool last = r + 1 == m_max || static_cast<std::uint32_t>(k[r + 1] >> idx_bits) == kNotCandidate;
  if (last) count[b] = r + 1;  // exactly one thread per item (count was zeroed before)
}

// ---- 2. first overlapper ---------------------------------------------------------------------------------------
// A warp per rank j: lanes test ranks base .. base + 31 (< j) against j; the first step with a hit ends the search.
constexpr int kFirstWarps = 8;

__global__ void __launch_bounds__(kFirstWarps * 32)
    first_kernel(const BevBox* __restrict__ geo, const BevAabb* __restrict__ aabb, const int* __restrict__ count,
                 int m_max, float iou_threshold, int* __restrict__ first) {
  const int b = blockIdx.y;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int j = static_cast<int>(blockIdx.x) * kFirstWarps + (static_cast<int>(threadIdx.x) >> 5);
  if (j >= count[b]) return;  // warp-uniform
  const BevBox* g = geo + static_cast<std::size_t>(b) * m_max;
  const BevAabb* a = aabb + static_cast<std::size_t>(b) * m_max;
  const BevAabb aj = a[j];
  int f = -1;
  for (int base = 0; base < j; base += 32) {  // warp-uniform
    const int i = base + lane;
    const bool hit = i < j && overlaps(a[i], g + i, aj, g + j, iou_threshold);
    const unsigned ballot = __ballot_sync(0xffffffffu, hit);
    if (ballot != 0u) {
      f = base + __ffs(static_cast<int>(ballot)) - 1;
      break;
    }
  }
  if (lane == 0) first[static_cast<std::size_t>(b) * m_max + j] = f;
}

// Rank j is surely suppressed (see the top of this file). `fi` = first[] of the item.
__device__ __forceinline__ bool surely_suppressed(const int* fi, int j) {
  const int f = fi[j];
  return f >= 0 && fi[f] < 0;
}

// ---- 3. suppression mask --------------------------------------------------------------------------------------
// One block per 64x64 tile (upper triangle, inside count); warp w handles rows w, w + kMaskWarps, ...; lane l
// computes columns l and l + 32, two ballots assemble the row's 64-bit word. Rows that are surely suppressed get 0
// without any test (the scan never uses them). Column j is computed for rows i > first[j] only; bit (first[j], j) is 1 by definition;
// surely suppressed columns and columns with first == -1 are 0.
constexpr int kMaskWarps = 8;
constexpr int kNoRow = INT_MAX;  // colf[] of a column with no bit to compute

__global__ void __launch_bounds__(kMaskWarps * 32)
    mask_kernel(const BevBox* __restrict__ geo, const BevAabb* __restrict__ aabb, const int* __restrict__ first,
                const int* __restrict__ count, int m_max, int words, float iou_threshold, u64* __restrict__ mask) {
  const int cb = blockIdx.x, rb = blockIdx.y, b = blockIdx.z;
  if (cb < rb) return;  // lower triangle: never read
  const int cnt = count[b];
  const int col0 = cb * 64, row0 = rb * 64;
  if (col0 >= cnt) return;  // then row0 <= col0 < cnt for the blocks that go on
  __shared__ BevBox cols[64];
  __shared__ BevBox rows[64];
  __shared__ BevAabb cola[64];
  __shared__ BevAabb rowa[64];
  __shared__ int colf[64];
  __shared__ int rowlive[64];
  const std::size_t off = static_cast<std::size_t>(b) * m_max;
  const BevBox* g = geo + off;
  const BevAabb* a = aabb + off;
  const int* fi = first + off;
  const int ncol = min(64, cnt - col0);
  const int nrow = min(64, cnt - row0);
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < ncol) {
    const int j = col0 + tid;
    const int f = fi[j];
    const bool live = f >= 0 && fi[f] >= 0;  // has an overlapper and is not surely suppressed
    colf[tid] = live ? f : kNoRow;
    if (live) {
      cols[tid] = g[j];
      cola[tid] = a[j];
    }
  } else if (tid >= 64 && tid < 64 + nrow) {
    const int r = tid - 64;
    const bool live = !surely_suppressed(fi, row0 + r);
    rowlive[r] = live ? 1 : 0;
    if (live) {
      rows[r] = g[row0 + r];
      rowa[r] = a[row0 + r];
    }
  }
  __syncthreads();
  const int warp = tid >> 5, lane = tid & 31;
  for (int r = warp; r < nrow; r += kMaskWarps) {  // warp-uniform loop
    const int i = row0 + r;
    const bool live = rowlive[r] != 0;  // warp-uniform; a dead row gets a zero word (never used, but initialised)
    bool p[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int jj = lane + 32 * h;
      const int f = jj < ncol ? colf[jj] : kNoRow;
      // f <= i implies col0 + jj > f; still require j > i (upper triangle of the diagonal tile).
      p[h] = live && f <= i && col0 + jj > i &&
             (f == i || overlaps(rowa[r], &rows[r], cola[jj], &cols[jj], iou_threshold));
    }
    const unsigned lo = __ballot_sync(0xffffffffu, p[0]);
    const unsigned hi = __ballot_sync(0xffffffffu, p[1]);
    if (lane == 0) mask[(off + i) * words + cb] = (static_cast<u64>(hi) << 32) | lo;
  }
}

// ---- 4. greedy scan and output --------------------------------------------------------------------------------
__global__ void __launch_bounds__(kScanThreads)
    scan_kernel(const float* __restrict__ boxes, const float* __restrict__ scores, int n, const int* __restrict__ count,
                const int* __restrict__ order, const int* __restrict__ first, const u64* __restrict__ mask, int m_max,
                int words, int p, int* __restrict__ kept_pos, float* __restrict__ out_boxes,
                float* __restrict__ out_scores, int* __restrict__ nums) {
  extern __shared__ u64 removed[];  // [words]
  __shared__ int s_kept;
  const int b = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31, warp = tid >> 5;
  const int cnt = count[b];
  const int nw = (cnt + 63) / 64;
  const int* fi = first + static_cast<std::size_t>(b) * m_max;
  // The removed bitmap starts as the surely suppressed candidates (their columns are not in the mask).
  for (int w = warp; w < nw; w += kScanThreads / 32) {  // warp-uniform
    const int j0 = w * 64 + lane, j1 = j0 + 32;
    const unsigned lo = __ballot_sync(0xffffffffu, j0 < cnt && surely_suppressed(fi, j0));
    const unsigned hi = __ballot_sync(0xffffffffu, j1 < cnt && surely_suppressed(fi, j1));
    if (lane == 0) removed[w] = (static_cast<u64>(hi) << 32) | lo;
  }
  __syncthreads();
  int* kp = kept_pos + static_cast<std::size_t>(b) * p;
  if (warp == 0) {
    const u64* rows = mask + static_cast<std::size_t>(b) * m_max * words;
    // Diagonal word of rank i: its bits against the later ranks of its own 64-block. Not read for i >= cnt.
    const auto diag = [&](int i) -> u64 { return i < cnt ? rows[static_cast<std::size_t>(i) * words + (i >> 6)] : 0ull; };
    const u64 tail_mask = (cnt & 63) != 0 ? (1ull << (cnt & 63)) - 1ull : ~0ull;
    int kept = 0;
    u64 d_lo = diag(lane), d_hi = diag(lane + 32);  // block 0; lane l holds ranks l and l + 32 of the block
    for (int w = 0; w < nw; ++w) {                  // warp-uniform
      // Prefetch the next block's diagonal words (independent of the scan state).
      u64 n_lo = 0ull, n_hi = 0ull;
      if (w + 1 < nw) {
        n_lo = diag((w + 1) * 64 + lane);
        n_hi = diag((w + 1) * 64 + 32 + lane);
      }
      // Greedy inside the block: the first available rank is kept, its diagonal word removes later ones.
      u64 avail = ~removed[w] & (w == nw - 1 ? tail_mask : ~0ull);
      u64 kept_bits = 0ull;
      while (avail != 0ull && kept < p) {  // warp-uniform: every lane holds the same avail
        const int c = __ffsll(static_cast<long long>(avail)) - 1;
        kept_bits |= 1ull << c;
        if (lane == 0) kp[kept] = w * 64 + c;
        ++kept;
        const u64 dc = __shfl_sync(0xffffffffu, c < 32 ? d_lo : d_hi, c & 31);
        avail &= ~dc & ~((2ull << c) - 1ull);  // c = 63: 2ull << 63 == 0, clears everything
      }
      if (kept == p) break;
      if (kept_bits != 0ull) {
        // OR the kept rows into the later words; loads batched so several are in flight per lane.
        for (int w2 = w + 1 + lane; w2 < nw; w2 += 32) {
          u64 acc = 0ull;
          u64 kb = kept_bits;
          while (kb != 0ull) {  // warp-uniform
            u64 v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
              v[u] = 0ull;
              if (kb != 0ull) {
                const int c = __ffsll(static_cast<long long>(kb)) - 1;
                kb &= kb - 1ull;
                v[u] = rows[static_cast<std::size_t>(w * 64 + c) * words + w2];
              }
            }
            acc |= (v[0] | v[1]) | (v[2] | v[3]);
          }
          removed[w2] |= acc;
        }
        __syncwarp();
      }
      d_lo = n_lo;
      d_hi = n_hi;
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
  if (n <= kRankMax) {
    rank_select_kernel<<<dim3(static_cast<unsigned>((n + 31) / 32), static_cast<unsigned>(batch)), kRankWarps * 32, 0,
                         s>>>(bx, sc, ni, mi, params.score_threshold, idx_bits, l.count, l.order, l.geo, l.aabb);
    POINTRT_CHECK_LAUNCH("nms_bev rank_select_kernel");
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
        l.keys_out, bx, ni, mi, idx_bits, l.count, l.order, l.geo, l.aabb);
    POINTRT_CHECK_LAUNCH("nms_bev select_sorted_kernel");
  }

  // 2. first overlapper of every candidate.
  first_kernel<<<dim3(static_cast<unsigned>((m + kFirstWarps - 1) / kFirstWarps), static_cast<unsigned>(batch)),
                 kFirstWarps * 32, 0, s>>>(l.geo, l.aabb, l.count, mi, params.iou_threshold, l.first);
  POINTRT_CHECK_LAUNCH("nms_bev first_kernel");

  // 3. suppression bitmask (only the parts the scan can read).
  mask_kernel<<<dim3(static_cast<unsigned>(words), static_cast<unsigned>(words), static_cast<unsigned>(batch)),
                kMaskWarps * 32, 0, s>>>(l.geo, l.aabb, l.first, l.count, mi, words, params.iou_threshold, l.mask);
  POINTRT_CHECK_LAUNCH("nms_bev mask_kernel");

  // 4. greedy scan, outputs.
  scan_kernel<<<bi, kScanThreads, static_cast<std::size_t>(words) * sizeof(u64), s>>>(
      bx, sc, ni, l.count, l.order, l.first, l.mask, mi, words, static_cast<int>(p), l.kept_pos, ob, os, on);
  POINTRT_CHECK_LAUNCH("nms_bev scan_kernel");
}

}  // namespace pointrt::ops
