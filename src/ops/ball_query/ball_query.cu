// BallQuery on CUDA: lane per query, the sources split into segments across the lanes of a block, merged in order.
//
// A block serves QB consecutive queries (QB = 32, 16 or 8, picked on the host so that there are enough blocks to fill
// the GPU). Each of its 16 warps is split into 32 / QB sub-streams of QB lanes; lane (sub-stream s, query j) tests
// query j against every source of segment s — the segments are consecutive index ranges of seg_len sources (a
// multiple of 32), one per sub-stream of the block, so a block covers all N sources. Every warp stages its segments
// through a warp-private float4 tile in shared memory (32 sources per sub-stream, the next tile prefetched into
// registers while the current one is tested); the lanes of a sub-stream read the same float4, so the read is a
// broadcast. A lane walks its segment in ascending index, records the in-radius sources of a 32-source tile in a bit
// mask and appends them in index order to its own list (shared memory, up to cap = min(K, 32) entries) and counts
// them up to K; once it has K it stops accepting (its r2 becomes -1). Merge: the lists of the segments of a query,
// concatenated in segment order, are exactly the query's in-radius sources in ascending index order, so the lane of
// segment s writes its entries at offset sum_{s' < s} min(count_s', K) and drops those at or beyond K. A segment with
// more than cap hits (only possible for K > 32) rescans itself to write entries cap.. directly. Padding follows a
// block barrier. The arithmetic is the CPU reference's expression (the library is built with -fmad=false), so the
// result is bit-identical; padding tiles use NaN coordinates, which are never inside.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "core/cuda_utils.h"
#include "ops/ball_query/ball_query.h"

namespace pointrt::ops {

namespace {

constexpr int kWarps = 16;
constexpr int kThreads = kWarps * 32;
constexpr int kMaxCap = 32;

template <int QB>
constexpr std::size_t smem_bytes(int cap) {
  constexpr int kSub = 32 / QB;
  constexpr int kSegs = kWarps * kSub;
  return sizeof(float4) * static_cast<std::size_t>(kWarps * kSub * 32) +
         sizeof(int) * (static_cast<std::size_t>(kSegs * QB) + QB + static_cast<std::size_t>(kSegs) * cap * QB);
}

template <int QB>
__global__ void __launch_bounds__(kThreads)
    ball_query_kernel(const float* __restrict__ xyz, const float* __restrict__ new_xyz, int n, int m, int k, int cap,
                      int seg_len, float r2, std::int32_t* __restrict__ cnt_out, std::int32_t* __restrict__ idx_out) {
  constexpr int kSub = 32 / QB;         // sub-streams (segments) per warp
  constexpr int kSegs = kWarps * kSub;  // segments per block
  extern __shared__ float4 bq_smem[];
  float4* tiles = bq_smem;                                          // [kWarps][kSub][32]
  int* seg_cnt = reinterpret_cast<int*>(tiles + kWarps * kSub * 32);  // [kSegs][QB]
  int* tot = seg_cnt + kSegs * QB;                                  // [QB]
  int* hits = tot + QB;                                             // [kSegs][cap][QB]

  const int b = blockIdx.y;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int ql = lane % QB;
  const int sub = lane / QB;
  const int seg = warp * kSub + sub;
  const int q = static_cast<int>(blockIdx.x) * QB + ql;
  const bool valid = q < m;
  const std::size_t row_id = static_cast<std::size_t>(b) * static_cast<std::size_t>(m) + static_cast<std::size_t>(q);
  float qx = 0.f, qy = 0.f, qz = 0.f;
  if (valid) {
    qx = new_xyz[row_id * 3];
    qy = new_xyz[row_id * 3 + 1];
    qz = new_xyz[row_id * 3 + 2];
  }
  float r2l = valid ? r2 : -1.f;  // -1: accepts nothing (d2 is >= 0 or NaN)
  const float* src = xyz + static_cast<std::size_t>(b) * static_cast<std::size_t>(n) * 3;
  const int seg_begin = seg * seg_len;  // may lie beyond n: then the segment is empty
  const int warp_begin = warp * kSub * seg_len;
  const int ntiles = warp_begin < n ? seg_len / 32 : 0;  // warp-uniform
  float4* my_tiles = tiles + warp * kSub * 32;
  const float4* tile = my_tiles + sub * 32;
  int* my_hits = hits + seg * cap * QB + ql;
  const float nan = __int_as_float(0x7fc00000);

  float px[kSub], py[kSub], pz[kSub];
  auto load = [&](int t) {
#pragma unroll
    for (int i = 0; i < kSub; ++i) {
      const int p = (warp * kSub + i) * seg_len + t * 32 + lane;
      if (p < n) {
        px[i] = __ldg(src + 3 * static_cast<std::size_t>(p));
        py[i] = __ldg(src + 3 * static_cast<std::size_t>(p) + 1);
        pz[i] = __ldg(src + 3 * static_cast<std::size_t>(p) + 2);
      } else {
        px[i] = nan;
        py[i] = nan;
        pz[i] = nan;
      }
    }
  };
  int cnt = 0;
  if (ntiles > 0) load(0);
  for (int t = 0; t < ntiles; ++t) {
    __syncwarp();  // the previous tile has been read by every lane
#pragma unroll
    for (int i = 0; i < kSub; ++i) my_tiles[i * 32 + lane] = make_float4(px[i], py[i], pz[i], 0.f);
    __syncwarp();
    if (t + 1 < ntiles) load(t + 1);
    unsigned mask = 0u;
#pragma unroll
    for (int o = 0; o < 32; ++o) {
      const float4 p = tile[o];
      const float dx = qx - p.x;
      const float dy = qy - p.y;
      const float dz = qz - p.z;
      const float d2 = dx * dx + dy * dy + dz * dz;
      if (d2 < r2l) mask |= 1u << o;
    }
    if (mask != 0u) {
      const int base = seg_begin + t * 32;
      do {
        const int o = __ffs(static_cast<int>(mask)) - 1;
        mask &= mask - 1u;
        if (cnt < cap) my_hits[cnt * QB] = base + o;
        ++cnt;
      } while (mask != 0u && cnt < k);
      if (cnt >= k) r2l = -1.f;
    }
    if (__all_sync(0xffffffffu, r2l < 0.f)) break;  // every lane of the warp has K (or no query)
  }
  seg_cnt[seg * QB + ql] = cnt;
  __syncthreads();

  std::int32_t* row = idx_out + row_id * static_cast<std::size_t>(k);
  if (valid) {
    int off = 0;
    for (int s = 0; s < seg; ++s) off = min(k, off + seg_cnt[s * QB + ql]);
    const int mine = min(cnt, cap);
    for (int j = 0; j < mine && off + j < k; ++j) row[off + j] = my_hits[j * QB];
    if (cnt > cap && off + cap < k) {
      // More hits than the list holds (K > 32): find entries cap.. again, in order.
      const int seg_end = min(n, seg_begin + seg_len);
      int c = 0;
      for (int p = seg_begin; p < seg_end && off + c < k; ++p) {
        const float dx = qx - src[3 * static_cast<std::size_t>(p)];
        const float dy = qy - src[3 * static_cast<std::size_t>(p) + 1];
        const float dz = qz - src[3 * static_cast<std::size_t>(p) + 2];
        const float d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < r2) {
          if (c >= cap) row[off + c] = p;
          ++c;
        }
      }
    }
    if (seg == kSegs - 1) {
      const int total = min(k, off + cnt);
      tot[ql] = total;
      cnt_out[row_id] = total;
    }
  }
  __syncthreads();  // found entries (global) and totals (shared) are visible to the whole block
  const int first = static_cast<int>(blockIdx.x) * QB;
  const int nq = min(QB, m - first);
  const std::size_t block_row = static_cast<std::size_t>(b) * static_cast<std::size_t>(m) + static_cast<std::size_t>(first);
  for (int e = static_cast<int>(threadIdx.x); e < nq * k; e += kThreads) {
    const int jq = e / k;
    const int j = e - jq * k;
    const int total = tot[jq];
    if (j < total) continue;
    std::int32_t* r = idx_out + (block_row + static_cast<std::size_t>(jq)) * static_cast<std::size_t>(k);
    r[j] = total == 0 ? 0 : r[j % total];
  }
}

template <int QB>
void launch(const float* xyz, const float* new_xyz, int batch, int n, int m, int k, float r2, std::int32_t* cnt,
            std::int32_t* idx, cudaStream_t stream) {
  constexpr int kSegs = kWarps * (32 / QB);
  const int cap = k < kMaxCap ? k : kMaxCap;
  const int per = (n + kSegs - 1) / kSegs;
  const int seg_len = per <= 32 ? 32 : (per + 31) / 32 * 32;
  const std::size_t smem = smem_bytes<QB>(cap);
  POINTRT_CUDA_CHECK(
      cudaFuncSetAttribute(ball_query_kernel<QB>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>((m + QB - 1) / QB), static_cast<unsigned>(batch));
  ball_query_kernel<QB><<<grid, kThreads, smem, stream>>>(xyz, new_xyz, n, m, k, cap, seg_len, r2, cnt, idx);
}

}  // namespace

void ball_query_cuda(const Tensor& xyz, const Tensor& new_xyz, const BallQueryParams& params, Tensor& idx_cnt,
                     Tensor& idx, void* workspace, std::size_t workspace_bytes, StreamHandle stream) {
  detail::ball_query_check(xyz, new_xyz, params, idx_cnt, idx, Device::CUDA);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = new_xyz.dim(1);
  check_workspace(workspace, workspace_bytes, ball_query_workspace_bytes(batch, n, m, params), "BallQuery");
  check_arg(batch <= 65535, "BallQuery", "batch must be <= 65535, got " + std::to_string(batch));
  check_arg(n <= (std::int64_t{1} << 30), "BallQuery", "more than 2^30 sources on CUDA");
  if (batch == 0 || m == 0) return;
  const float r2 = params.radius * params.radius;
  // Enough blocks to fill the GPU: 32 queries a block when there are many queries, fewer (more segments) otherwise.
  const std::int64_t blocks32 = batch * ((m + 31) / 32), blocks16 = batch * ((m + 15) / 16);
  const auto* px = xyz.data_as<float>();
  const auto* pq = new_xyz.data_as<float>();
  auto* pc = idx_cnt.data_as<std::int32_t>();
  auto* pi = idx.data_as<std::int32_t>();
  const int b = static_cast<int>(batch), nn = static_cast<int>(n), mm = static_cast<int>(m), k = params.nsample;
  if (blocks32 >= 96) {
    launch<32>(px, pq, b, nn, mm, k, r2, pc, pi, stream);
  } else if (blocks16 >= 96) {
    launch<16>(px, pq, b, nn, mm, k, r2, pc, pi, stream);
  } else {
    launch<8>(px, pq, b, nn, mm, k, r2, pc, pi, stream);
  }
  POINTRT_CHECK_LAUNCH("BallQuery");
}

}  // namespace pointrt::ops
