// GridBallQuery — BallQuery (ops/ball_query/ball_query.h) accelerated by a grid of the sources; returns EXACTLY what
// BallQuery returns (decision 2 of spec/ops.md; section 7 describes the reference it replaces).
//
// Inputs: xyz (sources) f32 [B, N, 3], new_xyz (queries) f32 [B, M, 3], voxel f32 [B, 3] (the cell size of batch item
// b, e.g. HAVSampling's final voxel size; on CUDA it stays on the device and is read by the kernels). Outputs
// idx_cnt i32 [B, M] and idx i32 [B, M, K], with BallQuery's semantics bit for bit: strict d2 < r * r in float32, the
// K lowest-index sources inside in ascending order, cyclic padding, cnt = 0 → all K slots 0. The cell of a point is
// floor(p_a / v_a) per axis (float32 division, clamped to ±2^29); a query visits the cells from cell(q_a - R') to
// cell(q_a + R'), R' = r plus a margin that provably covers float rounding (every source with d2 < r2 lies inside).
// Within that window the in-radius candidates are collected and the K smallest indices are kept. Queries whose window
// would exceed grid_ball_query_max_window_cells(N) cells (v much smaller than r), queries with non-finite
// coordinates and batch items with a voxel size that is not finite and > 0 fall back to the exact linear scan, so
// every input gives BallQuery's answer. Workspace: grid_ball_query_workspace_bytes(B, N, M, params).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

#ifdef __CUDACC__
#define PT_GBQ_HD __host__ __device__
#else
#define PT_GBQ_HD
#endif

namespace pointrt::ops {

struct GridBallQueryParams {
  float radius = 0.f;  // r (metres); d2 < r * r (float32) is inside
  int nsample = 0;     // K
};

// Reference: host tensors.
void grid_ball_query_cpu(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                         const GridBallQueryParams& params, Tensor& idx_cnt, Tensor& idx);

// CUDA: device tensors (voxel included), enqueued on `stream`; no allocation, no host synchronisation,
// graph-capturable. Launches: one cudaMemsetAsync of the hash table, three build kernels (insert and count, allocate
// cell ranges, scatter the sources into cell order) and one query kernel.
void grid_ball_query_cuda(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                          const GridBallQueryParams& params, Tensor& idx_cnt, Tensor& idx, void* workspace,
                          std::size_t workspace_bytes, StreamHandle stream);

// One (r, K) set of the multi-set entry points: its parameters and its outputs idx_cnt [B, M], idx [B, M, K].
struct GridBallQuerySet {
  GridBallQueryParams params;
  Tensor* idx_cnt = nullptr;
  Tensor* idx = nullptr;
};
constexpr int kGridBallQueryMaxSets = 4;

// Several (r, K) sets over the same sources, queries and voxel (the two groupers of one SA layer): the grid is built
// once and one query launch serves every set. Each set's outputs are exactly what grid_ball_query_* (and BallQuery)
// return for its parameters. 1 <= count <= kGridBallQueryMaxSets; workspace as for grid_ball_query_cuda (it does not
// depend on r or K).
void grid_ball_query_multi_cpu(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                               const GridBallQuerySet* sets, int count);
void grid_ball_query_multi_cuda(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                                const GridBallQuerySet* sets, int count, void* workspace, std::size_t workspace_bytes,
                                StreamHandle stream);

// Bytes of workspace grid_ball_query_cuda needs: per batch item a hash table of T = 2^ceil(log2(max(1024, 2N)))
// slots (key 4 bytes, cell range start and count 8 bytes) and a range cursor, then per source its slot, its rank in
// the cell (4 bytes each) and its coordinates and index in cell order (16 bytes). Independent of the parameters.
std::size_t grid_ball_query_workspace_bytes(std::int64_t batch, std::int64_t num_sources, std::int64_t num_queries,
                                            const GridBallQueryParams& params);

namespace detail {

// Shared validation of both entry points; throws Error("GridBallQuery: ...").
void grid_ball_query_check(const Tensor& xyz, const Tensor& new_xyz, const Tensor& voxel,
                           const GridBallQueryParams& params, const Tensor& idx_cnt, const Tensor& idx, Device device);

// Hash-table slots per batch item.
std::int64_t grid_ball_query_table_slots(std::int64_t num_sources);

// Geometry shared verbatim by the CPU reference and the kernels (same float32 expressions on both sides).
constexpr float kGbqCellLimit = 536870912.f;  // 2^29, so that a window width (<= 2^30 + 1) fits an int
constexpr std::uint32_t kGbqEmptyKey = 0xFFFFFFFFu;

PT_GBQ_HD inline bool gbq_finite(float x) { return fabsf(x) <= 3.40282347e+38f; }  // false for inf and NaN

PT_GBQ_HD inline bool gbq_voxel_ok(float vx, float vy, float vz) {
  return gbq_finite(vx) && gbq_finite(vy) && gbq_finite(vz) && vx > 0.f && vy > 0.f && vz > 0.f;
}

// Cell coordinate of a finite coordinate p at cell size v (> 0): floor(p / v), clamped to ±2^29. Non-decreasing in p,
// which is what makes the query window exact.
PT_GBQ_HD inline int gbq_cell(float p, float v) {
  float c = floorf(p / v);
  if (!(c >= -kGbqCellLimit)) c = -kGbqCellLimit;
  if (c > kGbqCellLimit) c = kGbqCellLimit;
  return static_cast<int>(c);
}

// 32-bit key of a cell (never the empty marker). Distinct cells may share a key; that merges their lists, which only
// adds candidates (each is still tested against the radius), so results stay exact.
PT_GBQ_HD inline std::uint32_t gbq_key(int cx, int cy, int cz) {
  std::uint32_t h = static_cast<std::uint32_t>(cx) * 0x9E3779B1u;
  h ^= static_cast<std::uint32_t>(cy) * 0x85EBCA77u;
  h = (h << 13) | (h >> 19);
  h ^= static_cast<std::uint32_t>(cz) * 0xC2B2AE3Du;
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  h ^= h >> 16;
  return h == kGbqEmptyKey ? 0xFFFFFFFEu : h;
}

// Largest window (in cells) a query visits before falling back to the linear scan, for N sources.
PT_GBQ_HD inline std::int64_t gbq_max_window_cells(std::int64_t num_sources) {
  const std::int64_t by_n = num_sources / 16;
  const std::int64_t lo = by_n < 32 ? 32 : by_n;
  return lo > 1024 ? 1024 : lo;
}

struct GbqWindow {
  int x0, y0, z0;  // first cell per axis
  int nx, ny, nz;  // cells per axis
};

// Cells [c0, c0 + n) along one axis guaranteed to contain every source s with float32 d2(q, s) < r2: d2 < r2 implies
// |q_a - s_a| < r (1 + 4u) (u = 2^-24; every term of d2 is non-negative), and the bounds q_a -/+ m below, rounded, still
// enclose q_a -/+ r (1 + 4u) because m exceeds it by more than half an ulp of |q_a| + m (plus 1e-20 for underflow).
PT_GBQ_HD inline void gbq_axis(float q, float r, float v, int* c0, int* n) {
  const float rr = r + r * 1e-5f;
  const float m = rr + (fabsf(q) + rr) * 1e-6f + 1e-20f;
  const int lo = gbq_cell(q - m, v);
  const int hi = gbq_cell(q + m, v);
  *c0 = lo;
  *n = hi - lo + 1;  // <= 2^30 + 1 because the cells are clamped to ±2^29
}

// The window of query q, or false when the query must use the linear scan (non-finite query or voxel, window larger
// than gbq_max_window_cells(N)).
PT_GBQ_HD inline bool gbq_window(float qx, float qy, float qz, float vx, float vy, float vz, float r,
                                 std::int64_t num_sources, GbqWindow* w) {
  if (!gbq_voxel_ok(vx, vy, vz) || !gbq_finite(qx) || !gbq_finite(qy) || !gbq_finite(qz)) return false;
  gbq_axis(qx, r, vx, &w->x0, &w->nx);
  gbq_axis(qy, r, vy, &w->y0, &w->ny);
  gbq_axis(qz, r, vz, &w->z0, &w->nz);
  const std::int64_t limit = gbq_max_window_cells(num_sources);
  if (w->nx > limit || w->ny > limit || w->nz > limit) return false;  // also keeps the product below from overflowing
  return static_cast<std::int64_t>(w->nx) * w->ny * w->nz <= limit;
}

}  // namespace detail

}  // namespace pointrt::ops
