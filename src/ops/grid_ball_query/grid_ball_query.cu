// GridBallQuery on CUDA: a counting-sort hash grid of the sources, then one warp per (query, set).
//
// Build (per batch item, cell size read from the device voxel tensor), all on the stream:
//   memset  — keys = empty marker, cell words = -1, range cursor = -1 (one cudaMemsetAsync: all-ones bytes);
//   count   — one thread per source: cell, open-addressing insert (compare-and-swap, linear probing, load factor
//             <= 0.5), atomicAdd on the cell's counter gives the source its rank within the cell;
//   alloc   — one thread per slot: an occupied cell takes a contiguous range [start, start + count) of the cell-ordered
//             array from a per-item cursor (atomicAdd; where a range lands does not affect the result);
//   scatter — one thread per source: writes (x, y, z, index) as a float4 to start + rank.
// Query (one warp per query and (r, K) set; several sets share one build and one launch): the window's cells are
// looked up 32 at a time (one per lane), a warp prefix sum over their counts flattens the round's candidate ranges and
// the lanes test 32 consecutive candidates per step (a shuffle binary search finds each candidate's cell), each a
// single coalesced float4 load. In-radius candidates set their index's bit in a per-warp bitmask over the source
// indices in shared memory (N bits); the warp then reads the bitmask between the smallest and largest marked index,
// each lane a contiguous run of words, and a prefix sum of the popcounts places the first K set bits — the K lowest
// indices in ascending order, exactly BallQuery's list. Queries whose window is too large, or whose voxel or
// coordinates are not finite, run the linear index-ordered scan (ballot + popc) instead; so do all queries when the
// bitmasks would not fit in 48 KiB (N > 49152).
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "core/cuda_utils.h"
#include "ops/grid_ball_query/grid_ball_query.h"

namespace pointrt::ops {

namespace {

using namespace detail;

constexpr int kBuildThreads = 256;
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr std::size_t kMaxDynamicSmem = 48 * 1024;
constexpr unsigned kFull = 0xffffffffu;

struct Layout {
  std::uint32_t* keys;   // [B, T]
  int2* cells;           // [B, T]: (start, count - 1); -1 words when unused
  std::int32_t* cursor;  // [B]
  std::int32_t* slot;    // [B, N]: slot of each source, -1 if not in the grid
  std::int32_t* rank;    // [B, N]
  float4* sorted;        // [B, N]: cell order
};

Layout carve(void* workspace, std::int64_t batch, std::int64_t n, std::int64_t slots, std::size_t* memset_bytes) {
  const auto b = static_cast<std::size_t>(batch), nn = static_cast<std::size_t>(n), t = static_cast<std::size_t>(slots);
  WorkspaceCarver c(workspace);
  Layout l{};
  auto* table = c.take<std::uint32_t>(3 * b * t + b);  // same sequence as grid_ball_query_workspace_bytes
  l.keys = table;
  l.cells = reinterpret_cast<int2*>(table + b * t);  // b * t is a multiple of 1024: 8-byte aligned
  l.cursor = reinterpret_cast<std::int32_t*>(table + 3 * b * t);
  l.slot = c.take<std::int32_t>(b * nn);
  l.rank = c.take<std::int32_t>(b * nn);
  l.sorted = reinterpret_cast<float4*>(c.take<float>(4 * b * nn));
  *memset_bytes = (3 * b * t + b) * sizeof(std::uint32_t);
  return l;
}

__global__ void __launch_bounds__(kBuildThreads)
    gbq_count_kernel(const float* __restrict__ xyz, const float* __restrict__ voxel, int n, int slots, Layout l) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * kBuildThreads + static_cast<int>(threadIdx.x);
  if (i >= n) return;
  const std::size_t gi = static_cast<std::size_t>(b) * static_cast<std::size_t>(n) + static_cast<std::size_t>(i);
  const float vx = voxel[3 * b], vy = voxel[3 * b + 1], vz = voxel[3 * b + 2];
  const float px = xyz[gi * 3], py = xyz[gi * 3 + 1], pz = xyz[gi * 3 + 2];
  // Invalid voxel: every query of this item scans linearly. Non-finite source: never inside any ball.
  if (!gbq_voxel_ok(vx, vy, vz) || !gbq_finite(px) || !gbq_finite(py) || !gbq_finite(pz)) {
    l.slot[gi] = -1;
    return;
  }
  const std::uint32_t key = gbq_key(gbq_cell(px, vx), gbq_cell(py, vy), gbq_cell(pz, vz));
  const std::uint32_t mask = static_cast<std::uint32_t>(slots) - 1u;
  const std::size_t table = static_cast<std::size_t>(b) * static_cast<std::size_t>(slots);
  std::uint32_t* tk = l.keys + table;
  std::uint32_t slot = key & mask;
  for (;;) {  // terminates: at most N of the >= 2N slots are ever taken
    const std::uint32_t prev = atomicCAS(tk + slot, kGbqEmptyKey, key);
    if (prev == kGbqEmptyKey || prev == key) break;
    slot = (slot + 1u) & mask;
  }
  const int before = atomicAdd(&l.cells[table + slot].y, 1);  // starts at -1
  l.slot[gi] = static_cast<std::int32_t>(slot);
  l.rank[gi] = before + 1;
}

__global__ void __launch_bounds__(kBuildThreads) gbq_alloc_kernel(int slots, Layout l) {
  const int b = blockIdx.y;
  const int s = blockIdx.x * kBuildThreads + static_cast<int>(threadIdx.x);
  if (s >= slots) return;
  const std::size_t at = static_cast<std::size_t>(b) * static_cast<std::size_t>(slots) + static_cast<std::size_t>(s);
  if (l.keys[at] == kGbqEmptyKey) return;
  const int count = l.cells[at].y + 1;
  l.cells[at].x = atomicAdd(l.cursor + b, count) + 1;  // the cursor starts at -1
}

__global__ void __launch_bounds__(kBuildThreads)
    gbq_scatter_kernel(const float* __restrict__ xyz, int n, int slots, Layout l) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * kBuildThreads + static_cast<int>(threadIdx.x);
  if (i >= n) return;
  const std::size_t gi = static_cast<std::size_t>(b) * static_cast<std::size_t>(n) + static_cast<std::size_t>(i);
  const int s = l.slot[gi];
  if (s < 0) return;
  const int start = l.cells[static_cast<std::size_t>(b) * static_cast<std::size_t>(slots) + static_cast<std::size_t>(s)].x;
  l.sorted[static_cast<std::size_t>(b) * static_cast<std::size_t>(n) + static_cast<std::size_t>(start + l.rank[gi])] =
      make_float4(xyz[gi * 3], xyz[gi * 3 + 1], xyz[gi * 3 + 2], __int_as_float(i));
}

// The index-ordered linear scan of BallQuery for one query (whole warp); returns the count found (<= k).
__device__ int gbq_scan(const float* __restrict__ src, int n, float qx, float qy, float qz, float r2, int k,
                        std::int32_t* __restrict__ row, int lane) {
  const unsigned below = (1u << lane) - 1u;
  int cnt = 0;
  for (int j = 0; j < n; j += 32) {
    const int p = j + lane;
    bool in = false;
    if (p < n) {
      const float dx = qx - __ldg(src + 3 * static_cast<std::size_t>(p));
      const float dy = qy - __ldg(src + 3 * static_cast<std::size_t>(p) + 1);
      const float dz = qz - __ldg(src + 3 * static_cast<std::size_t>(p) + 2);
      const float d2 = dx * dx + dy * dy + dz * dz;
      in = d2 < r2;
    }
    const unsigned hits = __ballot_sync(kFull, in);
    if (hits != 0u) {
      const int pos = cnt + __popc(hits & below);
      if (in && pos < k) row[pos] = p;
      cnt += __popc(hits);
      if (cnt >= k) return k;
    }
  }
  return cnt;
}

struct QuerySet {
  float r, r2;
  int k;
  std::int32_t* cnt;
  std::int32_t* idx;
};
struct QuerySets {
  QuerySet s[kGridBallQueryMaxSets];
};

__device__ __forceinline__ int warp_inclusive_sum(int v, int lane) {
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int t = __shfl_up_sync(kFull, v, d);
    if (lane >= d) v += t;
  }
  return v;
}

__global__ void __launch_bounds__(kThreads)
    gbq_query_kernel(const float* __restrict__ xyz, const float* __restrict__ new_xyz, const float* __restrict__ voxel,
                     int n, int m, int slots, int words, const QuerySets sets, const Layout l) {
  extern __shared__ std::uint32_t gbq_bits[];
  const int b = blockIdx.y;
  const QuerySet& set = sets.s[blockIdx.z];
  const int k = set.k;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int q = blockIdx.x * kWarps + warp;
  if (q >= m) return;  // whole warp; no block-wide barrier below
  const std::size_t row_id = static_cast<std::size_t>(b) * static_cast<std::size_t>(m) + static_cast<std::size_t>(q);
  const float qx = new_xyz[row_id * 3], qy = new_xyz[row_id * 3 + 1], qz = new_xyz[row_id * 3 + 2];
  const float vx = voxel[3 * b], vy = voxel[3 * b + 1], vz = voxel[3 * b + 2];
  std::int32_t* row = set.idx + row_id * static_cast<std::size_t>(k);
  const float* src = xyz + static_cast<std::size_t>(b) * static_cast<std::size_t>(n) * 3;
  const float r2 = set.r2;

  GbqWindow w{};
  const bool use_grid = words > 0 && gbq_window(qx, qy, qz, vx, vy, vz, set.r, n, &w);  // warp-uniform
  int cnt = 0;
  if (!use_grid) {
    cnt = gbq_scan(src, n, qx, qy, qz, r2, k, row, lane);
  } else {
    std::uint32_t* bits = gbq_bits + static_cast<std::size_t>(warp) * static_cast<std::size_t>(words);
    for (int i = lane; i < words; i += 32) bits[i] = 0u;
    __syncwarp();
    const std::size_t table = static_cast<std::size_t>(b) * static_cast<std::size_t>(slots);
    const std::uint32_t* tk = l.keys + table;
    const int2* tc = l.cells + table;
    const float4* sorted = l.sorted + static_cast<std::size_t>(b) * static_cast<std::size_t>(n);
    const std::uint32_t mask = static_cast<std::uint32_t>(slots) - 1u;
    const int plane = w.nx * w.ny;
    const int total = plane * w.nz;
    int lo = INT_MAX, hi = -1;  // range of marked indices seen by this lane
    for (int c0 = 0; c0 < total; c0 += 32) {
      const int c = c0 + lane;
      int start = 0, count = 0;
      if (c < total) {
        const int iz = c / plane;
        const int rem = c - iz * plane;
        const int iy = rem / w.nx;
        const int ix = rem - iy * w.nx;
        const std::uint32_t key = gbq_key(w.x0 + ix, w.y0 + iy, w.z0 + iz);
        std::uint32_t slot = key & mask;
        std::uint32_t probe = __ldg(tk + slot);
        while (probe != key && probe != kGbqEmptyKey) {
          slot = (slot + 1u) & mask;
          probe = __ldg(tk + slot);
        }
        if (probe == key) {
          const int2 cell = __ldg(tc + slot);
          start = cell.x;
          count = cell.y + 1;
        }
      }
      const int incl = warp_inclusive_sum(count, lane);
      const int excl = incl - count;
      const int round_total = __shfl_sync(kFull, incl, 31);
      for (int e0 = 0; e0 < round_total; e0 += 32) {
        const int e = e0 + lane;
        int owner = 0;  // first lane whose inclusive sum exceeds e
#pragma unroll
        for (int step = 16; step > 0; step >>= 1) {
          if (__shfl_sync(kFull, incl, owner + step - 1) <= e) owner += step;
        }
        const int st = __shfl_sync(kFull, start, owner);
        const int ex = __shfl_sync(kFull, excl, owner);
        if (e < round_total) {
          const float4 p = __ldg(sorted + (st + (e - ex)));
          const float dx = qx - p.x;
          const float dy = qy - p.y;
          const float dz = qz - p.z;
          const float d2 = dx * dx + dy * dy + dz * dz;
          if (d2 < r2) {
            const int s = __float_as_int(p.w);
            atomicOr(bits + (s >> 5), 1u << (s & 31));
            lo = min(lo, s);
            hi = max(hi, s);
          }
        }
      }
    }
    __syncwarp();  // all marks are visible to the whole warp
    lo = __reduce_min_sync(kFull, lo);
    hi = __reduce_max_sync(kFull, hi);
    if (hi >= 0) {
      const int w0 = lo >> 5, w1 = hi >> 5;
      const int per = (w1 - w0 + 32) / 32;  // words per lane, contiguous runs in lane order
      const int my0 = w0 + lane * per;
      const int my1 = min(w1 + 1, my0 + per);
      int c = 0;
      for (int wi = my0; wi < my1; ++wi) c += __popc(bits[wi]);
      const int incl = warp_inclusive_sum(c, lane);
      int pos = incl - c;
      for (int wi = my0; wi < my1 && pos < k; ++wi) {
        std::uint32_t word = bits[wi];
        while (word != 0u && pos < k) {
          row[pos++] = wi * 32 + (__ffs(static_cast<int>(word)) - 1);
          word &= word - 1u;
        }
      }
      cnt = min(k, __shfl_sync(kFull, incl, 31));
    }
  }
  if (lane == 0) set.cnt[row_id] = cnt;
  __syncwarp();  // found slots written by other lanes are visible to the padding reads below
  if (cnt == 0) {
    for (int j = lane; j < k; j += 32) row[j] = 0;
  } else {
    for (int j = cnt + lane; j < k; j += 32) row[j] = row[j % cnt];
  }
}

}  // namespace

void grid_ball_query_multi_cuda(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                                const GridBallQuerySet* sets, int count, void* workspace, std::size_t workspace_bytes,
                                StreamHandle stream) {
  constexpr const char* op = "GridBallQuery";
  check_arg(sets != nullptr && count >= 1 && count <= kGridBallQueryMaxSets, op,
            "multi: 1 to " + std::to_string(kGridBallQueryMaxSets) + " sets, got " + std::to_string(count));
  QuerySets qs{};
  for (int i = 0; i < count; ++i) {
    check_arg(sets[i].idx_cnt != nullptr && sets[i].idx != nullptr, op, "multi: null output tensor");
    grid_ball_query_check(xyz, new_xyz, voxel, sets[i].params, *sets[i].idx_cnt, *sets[i].idx, Device::CUDA);
    qs.s[i] = QuerySet{sets[i].params.radius, sets[i].params.radius * sets[i].params.radius, sets[i].params.nsample,
                       sets[i].idx_cnt->data_as<std::int32_t>(), sets[i].idx->data_as<std::int32_t>()};
  }
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1);
  check_workspace(workspace, workspace_bytes, grid_ball_query_workspace_bytes(batch, n, m, sets[0].params), op);
  check_arg(batch <= 65535, op, "batch must be <= 65535, got " + std::to_string(batch));
  if (batch == 0 || m == 0) return;
  const std::int64_t slots = grid_ball_query_table_slots(n);
  std::size_t memset_bytes = 0;
  const Layout l = carve(workspace, batch, n, slots, &memset_bytes);
  if (n > 0) {
    POINTRT_CUDA_CHECK(cudaMemsetAsync(l.keys, 0xFF, memset_bytes, stream));
    const dim3 per_source(static_cast<unsigned>((n + kBuildThreads - 1) / kBuildThreads), static_cast<unsigned>(batch));
    const dim3 per_slot(static_cast<unsigned>((slots + kBuildThreads - 1) / kBuildThreads),
                        static_cast<unsigned>(batch));
    gbq_count_kernel<<<per_source, kBuildThreads, 0, stream>>>(xyz.data_as<float>(), voxel.data_as<float>(),
                                                               static_cast<int>(n), static_cast<int>(slots), l);
    POINTRT_CHECK_LAUNCH("GridBallQuery count");
    gbq_alloc_kernel<<<per_slot, kBuildThreads, 0, stream>>>(static_cast<int>(slots), l);
    POINTRT_CHECK_LAUNCH("GridBallQuery alloc");
    gbq_scatter_kernel<<<per_source, kBuildThreads, 0, stream>>>(xyz.data_as<float>(), static_cast<int>(n),
                                                                 static_cast<int>(slots), l);
    POINTRT_CHECK_LAUNCH("GridBallQuery scatter");
  }
  int words = static_cast<int>((n + 31) / 32);
  std::size_t smem = static_cast<std::size_t>(kWarps) * static_cast<std::size_t>(words) * sizeof(std::uint32_t);
  if (smem > kMaxDynamicSmem) {  // too many sources for the bitmasks: every query scans linearly
    words = 0;
    smem = 0;
  }
  const dim3 grid(static_cast<unsigned>((m + kWarps - 1) / kWarps), static_cast<unsigned>(batch),
                  static_cast<unsigned>(count));
  gbq_query_kernel<<<grid, kThreads, smem, stream>>>(xyz.data_as<float>(), new_xyz.data_as<float>(),
                                                     voxel.data_as<float>(), static_cast<int>(n), static_cast<int>(m),
                                                     static_cast<int>(slots), words, qs, l);
  POINTRT_CHECK_LAUNCH("GridBallQuery query");
}

void grid_ball_query_cuda(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                          const GridBallQueryParams& params, Tensor& idx_cnt, Tensor& idx, void* workspace,
                          std::size_t workspace_bytes, StreamHandle stream) {
  const GridBallQuerySet set{params, &idx_cnt, &idx};
  grid_ball_query_multi_cuda(xyz, new_xyz, voxel, &set, 1, workspace, workspace_bytes, stream);
}

}  // namespace pointrt::ops
