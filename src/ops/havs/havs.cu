// HAVSampling, CUDA: speculative bisection. Each round kernel counts, in parallel over many blocks, the distinct
// cells of every voxel size the next kDepth passes of the bisection could visit (a binary tree of 2^kDepth - 1
// sizes), in global-memory hash tables (L2 resident); the next launch recomputes the path the counts select.
// A final kernel selects the per-cell representatives and, in its last block per batch element, writes the output.
// See README.md beside this file.
#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/cuda_utils.h"
#include "ops/havs/havs.h"

namespace pointrt::ops {

namespace {

constexpr const char* kOp = "havs";
using u64 = unsigned long long;
using havs_detail::SearchState;

constexpr int kDepth = 3;                        // bisection passes evaluated per round (measured best on H200)
constexpr int kMaxNodes = (1 << kDepth) - 1;     // candidate sizes per round
constexpr int kMaxPasses = 1024;                 // the float bisection is stationary long before (see README)
constexpr int kRoundThreads = 256;               // one point per thread in the round kernels
constexpr int kSelectThreads = 1024;             // one point per thread in the selection kernel
constexpr int kSelectWarps = kSelectThreads / 32;
constexpr int kOutChunks = 16;                   // output pass: 16 * 1024 points per block-wide scan
constexpr int kStateWords = static_cast<int>(sizeof(SearchState) / sizeof(int));
static_assert(sizeof(SearchState) % sizeof(int) == 0, "SearchState must be a whole number of words");
static_assert(kStateWords <= kRoundThreads, "state copy uses one thread per word");
static_assert(kOutChunks * kSelectWarps <= kSelectThreads, "output scan uses one thread per (chunk, warp)");

// Table entries (0 = empty slot). Packed: bit 63 set, bit 62 clear, the cell triple biased by 2^19 in 20 bits per
// axis (exact while |k| <= 2^19 - 1). Fallback (any larger coordinate): bits 63 and 62 set, the 32-bit cell hash in
// bits 30..61 and the index of the point that created the entry in bits 0..29; on a hash match the triple of that
// point is recomputed and compared. Whether a cell is packed depends on its triple only, so all points of a cell
// agree and cell identity is exact in both forms.
constexpr int kPackMax = (1 << 19) - 1;
constexpr int kPackBias = 1 << 19;
constexpr u64 kValid = 1ull << 63;
constexpr u64 kFallback = 1ull << 62;
constexpr u64 kIndexMask = (1ull << 30) - 1;

struct Cell {
  float rx, ry, rz;  // rounded coordinates (floats, used for the cell centre)
  int kx, ky, kz;
  std::uint32_t hash;
  u64 key;
  bool packed;
};

__device__ __forceinline__ std::uint32_t cell_hash(int kx, int ky, int kz) {
  std::uint32_t h = 2166136261u;
  h = (h ^ static_cast<std::uint32_t>(kx + 10000)) * 16777619u;
  h = (h ^ static_cast<std::uint32_t>(ky + 10000)) * 16777619u;
  h = (h ^ static_cast<std::uint32_t>(kz + 10000)) * 16777619u;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

__device__ __forceinline__ bool fits_pack(int k) { return k >= -kPackMax && k <= kPackMax; }

__device__ __forceinline__ Cell make_cell(const float* pts, int i, const float c[3]) {
  Cell q;
  q.rx = havs_detail::cell_coord(pts[3 * i + 0], c[0]);
  q.ry = havs_detail::cell_coord(pts[3 * i + 1], c[1]);
  q.rz = havs_detail::cell_coord(pts[3 * i + 2], c[2]);
  q.kx = havs_detail::cell_int(q.rx);
  q.ky = havs_detail::cell_int(q.ry);
  q.kz = havs_detail::cell_int(q.rz);
  q.hash = cell_hash(q.kx, q.ky, q.kz);
  q.packed = fits_pack(q.kx) && fits_pack(q.ky) && fits_pack(q.kz);
  if (q.packed) {
    q.key = kValid | (static_cast<u64>(q.kx + kPackBias) << 40) | (static_cast<u64>(q.ky + kPackBias) << 20) |
            static_cast<u64>(q.kz + kPackBias);
  } else {
    q.key = kValid | kFallback | (static_cast<u64>(q.hash) << 30) | static_cast<u64>(i);
  }
  return q;
}

// Whether the non-empty entry e stands for the cell of q (at voxel c).
__device__ __forceinline__ bool same_cell(u64 e, const Cell& q, const float* pts, const float c[3]) {
  if (q.packed) return e == q.key;
  if ((e & kFallback) == 0 || static_cast<std::uint32_t>(e >> 30) != q.hash) return false;
  const int j = static_cast<int>(e & kIndexMask);
  return havs_detail::cell_int(havs_detail::cell_coord(pts[3 * j + 0], c[0])) == q.kx &&
         havs_detail::cell_int(havs_detail::cell_coord(pts[3 * j + 1], c[1])) == q.ky &&
         havs_detail::cell_int(havs_detail::cell_coord(pts[3 * j + 2], c[2])) == q.kz;
}

// Tables are probed linearly in buckets of four slots (one 32-byte sector, read with two 16-byte loads that bypass
// L1), so a probe step costs one L2 round trip whatever the load. Entries never change once written within a
// round, so a snapshot that shows an entry is final; an empty snapshot slot is claimed with a CAS, whose result is
// examined like a read. This is exactly slot-wise linear probing, so each cell is created once.
constexpr int kBucket = 4;

__device__ __forceinline__ int home_bucket(std::uint32_t hash, int buckets) {
  return static_cast<int>((static_cast<u64>(hash) * static_cast<u64>(buckets)) >> 32);
}

__device__ __forceinline__ void load_bucket(const u64* table, int bucket, u64 e[kBucket]) {
  const ulonglong2* p = reinterpret_cast<const ulonglong2*>(table + static_cast<std::int64_t>(bucket) * kBucket);
  const ulonglong2 lo = __ldcg(p), hi = __ldcg(p + 1);
  e[0] = lo.x;
  e[1] = lo.y;
  e[2] = hi.x;
  e[3] = hi.y;
}

// Inserts the cell of q (creating it when absent); returns whether this call created it. The probe is bounded by
// the table size so that a full table (impossible at load <= 1/2 unless the table was not cleared) cannot hang.
__device__ __forceinline__ bool insert_cell(u64* table, int slots, const Cell& q, const float* pts, const float c[3]) {
  const int buckets = slots / kBucket;
  int bucket = home_bucket(q.hash, buckets);
  for (int step = 0; step < buckets; ++step) {
    u64 e[kBucket];
    load_bucket(table, bucket, e);
#pragma unroll
    for (int j = 0; j < kBucket; ++j) {
      u64 x = e[j];
      if (x == 0ull) {
        x = atomicCAS(table + static_cast<std::int64_t>(bucket) * kBucket + j, 0ull, q.key);
        if (x == 0ull) return true;
      }
      if (same_cell(x, q, pts, c)) return false;
    }
    bucket = bucket + 1 == buckets ? 0 : bucket + 1;
  }
  return false;
}

// Slot of the cell of q, which the table holds.
__device__ __forceinline__ int find_cell(const u64* table, int slots, const Cell& q, const float* pts, const float c[3]) {
  const int buckets = slots / kBucket;
  int bucket = home_bucket(q.hash, buckets);
  for (int step = 0; step < buckets; ++step) {
    u64 e[kBucket];
    load_bucket(table, bucket, e);
#pragma unroll
    for (int j = 0; j < kBucket; ++j) {
      // An empty slot cannot come before the cell (it was inserted at this size); stop there defensively.
      if (e[j] == 0ull || same_cell(e[j], q, pts, c)) return bucket * kBucket + j;
    }
    bucket = bucket + 1 == buckets ? 0 : bucket + 1;
  }
  return 0;
}

// Table slots for N points: a multiple of 32 (whole buckets, 256-byte aligned tables), load <= 1/2 even when every
// point is its own cell (the small candidate sizes come close to that).
std::int64_t table_slots(std::int64_t n) { return (2 * n + 1 + 31) / 32 * 32; }

struct Common {
  const float* xyz;
  int n;
  int s;
  float tolerance;
  int max_iter;
  int depth;   // passes per round (min(kDepth, max_iter))
  int nodes;   // 2^depth - 1 candidate sizes per round
  int slots;   // table slots
  int* counts;       // [B][3][kMaxNodes] distinct-cell counts, ring of three rounds
  SearchState* rec;  // [B][2] root state of each round, ring of two
  u64* set0;         // [B][nodes][slots] hash tables of the even rounds
  u64* set1;         // [B][nodes][slots] hash tables of the odd rounds
};

__device__ __forceinline__ int* counts_of(const Common& a, int b, int round) {
  return a.counts + (static_cast<std::int64_t>(b) * 3 + round % 3) * kMaxNodes;
}
__device__ __forceinline__ u64* table_of(const Common& a, int b, int round, int node) {
  u64* set = (round & 1) ? a.set1 : a.set0;
  return set + (static_cast<std::int64_t>(b) * a.nodes + (node - 1)) * a.slots;
}

// Root state of round `round` (> 0): the previous round's root walked along the previous round's counts.
__device__ void load_state(const Common& a, int b, int round, SearchState& st, SearchState& s_state, int* s_counts) {
  const int tid = static_cast<int>(threadIdx.x);
  const int* src = reinterpret_cast<const int*>(a.rec + static_cast<std::int64_t>(b) * 2 + (round - 1) % 2);
  if (tid < kStateWords) reinterpret_cast<int*>(&s_state)[tid] = __ldcg(src + tid);
  const int* cnt = counts_of(a, b, round - 1);
  if (tid < a.nodes) s_counts[tid] = __ldcg(cnt + tid);
  __syncthreads();
  st = s_state;
  havs_detail::walk_round(st, s_counts, a.depth, round - 1, a.s, a.tolerance, a.max_iter);
}

// ---- round kernel: grid (nodes * chunks, B); block (node, chunk) inserts 256 points at the node's voxel size ----
__global__ void __launch_bounds__(kRoundThreads) havs_round_kernel(Common a, int round, int chunks, float v0x,
                                                                   float v0y, float v0z) {
  __shared__ SearchState s_state;
  __shared__ int s_counts[kMaxNodes];
  const int tid = static_cast<int>(threadIdx.x);
  const int b = static_cast<int>(blockIdx.y);
  SearchState st;
  if (round == 0) {
    const float v0[3] = {v0x, v0y, v0z};
    havs_detail::search_init(v0, st);
  } else {
    load_state(a, b, round, st, s_state, s_counts);
  }
  if (blockIdx.x == 0) {
    if (tid == 0) a.rec[static_cast<std::int64_t>(b) * 2 + round % 2] = st;
    // The counts of round + 1 reuse the ring entry of round - 2 (read by round - 1's launch, finished).
    if (round >= 1 && tid < kMaxNodes) counts_of(a, b, round + 1)[tid] = 0;
  }
  if (st.done) return;

  // Clear the other table set for the next round (it holds round - 1's tables, which the search no longer needs).
  {
    u64* next = table_of(a, b, round + 1, 1);
    const std::int64_t total = static_cast<std::int64_t>(a.nodes) * a.slots;
    const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kRoundThreads;
    for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * kRoundThreads + tid; t < total; t += stride) {
      next[t] = 0ull;
    }
  }

  const int node = static_cast<int>(blockIdx.x) / chunks + 1;
  const int chunk = static_cast<int>(blockIdx.x) % chunks;
  if (st.passes + havs_detail::node_depth(node) + 1 > a.max_iter) return;  // beyond the pass budget
  float c[3];
  havs_detail::node_voxel(st, node, c);
  const float* pts = a.xyz + static_cast<std::int64_t>(b) * a.n * 3;
  u64* table = table_of(a, b, round, node);

  const int i = chunk * kRoundThreads + tid;
  const bool valid = i < a.n;
  Cell q{};
  if (valid) q = make_cell(pts, i, c);
  // Points of one warp in the same (packed) cell: only the lowest lane inserts.
  const unsigned peers = __match_any_sync(0xffffffffu, valid ? q.key : 0ull);
  int created = 0;
  if (valid && (tid & 31) == __ffs(peers) - 1) created = insert_cell(table, a.slots, q, pts, c) ? 1 : 0;
  created = __syncthreads_count(created);
  if (tid == 0 && created != 0) atomicAdd(counts_of(a, b, round) + node - 1, created);
}

// ---- selection kernel: grid (ceil(N / 1024), B). Finishes the walk, takes per cell the minimum of
// (delta bits, index) with a 64-bit atomicMax of its complement; the last block of each element writes the output ----
struct SelectArgs {
  int rounds;
  u64* minima;    // [B][slots], zero on entry (complemented keys)
  int* slot_of;   // [B][N]
  int* arrived;   // [B], zero on entry
  int* out_idx;
  float* out_voxel;
  int* out_cells;
};

__global__ void __launch_bounds__(kSelectThreads) havs_select_kernel(Common a, SelectArgs sa) {
  using BlockScan = cub::BlockScan<int, kSelectThreads>;
  __shared__ typename BlockScan::TempStorage scan_storage;
  __shared__ SearchState s_state;
  __shared__ int s_counts[kMaxNodes];
  __shared__ int s_warp[kOutChunks * kSelectWarps];
  __shared__ int s_last;
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31, warp = tid >> 5;
  const int b = static_cast<int>(blockIdx.y);
  const int n = a.n;
  SearchState st;
  load_state(a, b, sa.rounds, st, s_state, s_counts);  // done: rounds * depth >= the passes the search can take
  const float c[3] = {st.c[0], st.c[1], st.c[2]};
  const float* pts = a.xyz + static_cast<std::int64_t>(b) * n * 3;
  const u64* table = table_of(a, b, st.final_round, st.final_node);
  u64* minima = sa.minima + static_cast<std::int64_t>(b) * a.slots;
  int* slot_of = sa.slot_of + static_cast<std::int64_t>(b) * n;

  const int i = static_cast<int>(blockIdx.x) * kSelectThreads + tid;
  const bool valid = i < n;
  Cell q{};
  u64 best = ~0ull;
  if (valid) {
    q = make_cell(pts, i, c);
    const float d2 = havs_detail::centre_dist2(pts[3 * i + 0], pts[3 * i + 1], pts[3 * i + 2], q.rx, q.ry, q.rz, c[0],
                                               c[1], c[2]);
    best = (static_cast<u64>(__float_as_uint(d2)) << 32) | static_cast<u64>(i);
  }
  // Points of one warp in the same (packed) cell: the lowest lane looks the cell up and posts the group minimum.
  const unsigned peers = __match_any_sync(0xffffffffu, valid ? q.key : 0ull);
  const int leader = __ffs(peers) - 1;
  {
    const u64 mine = best;
    for (int src = 0; src < 32; ++src) {
      const u64 other = __shfl_sync(0xffffffffu, mine, src);
      if ((peers >> src) & 1u) best = other < best ? other : best;
    }
  }
  int slot = 0;
  if (valid && lane == leader) {
    slot = find_cell(table, a.slots, q, pts, c);
    atomicMax(minima + slot, ~best);
  }
  slot = __shfl_sync(0xffffffffu, slot, leader);
  if (valid) slot_of[i] = slot;
  __threadfence();
  __syncthreads();
  if (tid == 0) s_last = atomicAdd(sa.arrived + b, 1) == static_cast<int>(gridDim.x) - 1;
  __syncthreads();
  if (!s_last) return;
  __threadfence();

  // Last block of element b: winners in ascending index (ballots per warp and chunk, one block scan per 16384
  // points), truncation to S, cyclic padding.
  int* out = sa.out_idx + static_cast<std::int64_t>(b) * a.s;
  int kept = 0;
  for (int base = 0; base < n; base += kOutChunks * kSelectThreads) {
    unsigned ballot[kOutChunks];
#pragma unroll
    for (int k = 0; k < kOutChunks; ++k) {
      const int p = base + k * kSelectThreads + tid;
      bool win = false;
      if (p < n) {
        const int slot = __ldcg(slot_of + p);
        win = static_cast<std::uint32_t>(~__ldcg(minima + slot)) == static_cast<std::uint32_t>(p);
      }
      ballot[k] = __ballot_sync(0xffffffffu, win);
    }
    if (lane == 0) {
#pragma unroll
      for (int k = 0; k < kOutChunks; ++k) s_warp[k * kSelectWarps + warp] = __popc(ballot[k]);
    }
    __syncthreads();
    const int v = tid < kOutChunks * kSelectWarps ? s_warp[tid] : 0;
    int offset = 0, total = 0;
    BlockScan(scan_storage).ExclusiveSum(v, offset, total);
    __syncthreads();  // everyone has read s_warp
    if (tid < kOutChunks * kSelectWarps) s_warp[tid] = offset;
    __syncthreads();
    const unsigned below = (1u << lane) - 1u;
#pragma unroll
    for (int k = 0; k < kOutChunks; ++k) {
      if ((ballot[k] >> lane) & 1u) {
        const int rank = kept + s_warp[k * kSelectWarps + warp] + __popc(ballot[k] & below);
        if (rank < a.s) out[rank] = base + k * kSelectThreads + tid;
      }
    }
    kept += total;
    __syncthreads();  // s_warp and the scan storage are reused; the writes above become visible to the padding
  }
  // kept >= 1 whenever N >= 1 (every point lies in some cell); the guard only protects against corrupt state.
  if (kept > 0) {
    for (int j = kept + tid; j < a.s; j += kSelectThreads) out[j] = out[j % kept];
  }
  if (tid == 0) {
    for (int k = 0; k < 3; ++k) sa.out_voxel[static_cast<std::int64_t>(b) * 3 + k] = c[k];
    sa.out_cells[b] = st.count;
  }
}

struct Layout {
  int* counts;
  int* arrived;
  u64* minima;
  u64* set0;
  u64* set1;
  SearchState* rec;
  int* slot_of;
  std::size_t size;
};

// The workspace; the part from `counts` to the end of set0 is zeroed by one memset per call.
Layout carve(void* base, std::int64_t batch, std::int64_t n, int nodes) {
  const std::int64_t slots = table_slots(n);
  WorkspaceCarver carver(base);
  Layout l{};
  l.counts = carver.take<int>(static_cast<std::size_t>(batch * 3 * kMaxNodes));
  l.arrived = carver.take<int>(static_cast<std::size_t>(batch));
  l.minima = carver.take<u64>(static_cast<std::size_t>(batch * slots));
  l.set0 = carver.take<u64>(static_cast<std::size_t>(batch * nodes * slots));
  l.set1 = carver.take<u64>(static_cast<std::size_t>(batch * nodes * slots));
  l.rec = carver.take<SearchState>(static_cast<std::size_t>(batch * 2));
  l.slot_of = carver.take<int>(static_cast<std::size_t>(batch * n));
  l.size = carver.size();
  return l;
}

}  // namespace

std::size_t havs_workspace_bytes(std::int64_t batch, std::int64_t num_points, std::int64_t sample_num) {
  (void)sample_num;
  return carve(nullptr, batch, num_points, kMaxNodes).size;
}

void havs_cuda(const Tensor& xyz, const HavsParams& params, Tensor& indices, Tensor& voxel, Tensor& num_cells,
               void* workspace, std::size_t workspace_bytes, StreamHandle stream) {
  havs_detail::validate(xyz, params, indices, voxel, num_cells, Device::CUDA);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1);
  check_arg(batch <= 65535, kOp, "xyz: at most 65535 batch elements on CUDA, got " + xyz.describe());
  const std::size_t needed = havs_workspace_bytes(batch, n, params.sample_num);
  check_workspace(workspace, workspace_bytes, needed, kOp);
  if (batch == 0) return;

  const int depth = std::min(kDepth, params.max_iter);
  const int nodes = (1 << depth) - 1;
  const int passes = std::min(params.max_iter, kMaxPasses);
  const int rounds = (passes + depth - 1) / depth;
  const Layout l = carve(workspace, batch, n, nodes);

  Common a{};
  a.xyz = xyz.data_as<float>();
  a.n = static_cast<int>(n);
  a.s = params.sample_num;
  a.tolerance = params.tolerance;
  a.max_iter = params.max_iter;
  a.depth = depth;
  a.nodes = nodes;
  a.slots = static_cast<int>(table_slots(n));
  a.counts = l.counts;
  a.rec = l.rec;
  a.set0 = l.set0;
  a.set1 = l.set1;

  cudaStream_t s = stream;
  const std::size_t zero_bytes =
      static_cast<std::size_t>(reinterpret_cast<char*>(l.set1) - reinterpret_cast<char*>(l.counts));
  POINTRT_CUDA_CHECK(cudaMemsetAsync(l.counts, 0, zero_bytes, s));

  const int chunks = static_cast<int>((n + kRoundThreads - 1) / kRoundThreads);
  const dim3 round_grid(static_cast<unsigned>(nodes * chunks), static_cast<unsigned>(batch));
  for (int r = 0; r < rounds; ++r) {
    havs_round_kernel<<<round_grid, kRoundThreads, 0, s>>>(a, r, chunks, params.voxel[0], params.voxel[1],
                                                           params.voxel[2]);
    POINTRT_CHECK_LAUNCH("havs_round_kernel");
  }
  SelectArgs sa{};
  sa.rounds = rounds;
  sa.minima = l.minima;
  sa.slot_of = l.slot_of;
  sa.arrived = l.arrived;
  sa.out_idx = indices.data_as<std::int32_t>();
  sa.out_voxel = voxel.data_as<float>();
  sa.out_cells = num_cells.data_as<std::int32_t>();
  const dim3 select_grid(static_cast<unsigned>((n + kSelectThreads - 1) / kSelectThreads),
                         static_cast<unsigned>(batch));
  havs_select_kernel<<<select_grid, kSelectThreads, 0, s>>>(a, sa);
  POINTRT_CHECK_LAUNCH("havs_select_kernel");
}

}  // namespace pointrt::ops
