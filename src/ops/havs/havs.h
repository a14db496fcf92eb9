// HAVSampling — hierarchical adaptive voxel-guided sampling (spec: shared/spec/ops.md §1–2, decision 1).
//
// Input xyz f32 [B, N, 3] (N >= 1). Outputs, written into caller-allocated tensors: indices i32 [B, S] (point
// indices into dim 1 of xyz), voxel f32 [B, 3] (the final voxel size of each batch element; GridBallQuery uses it as
// its cell size) and num_cells i32 [B] (occupied cells at that size, before truncation or padding). Per element, a
// point p lies in cell k = roundf(p / v) (float32 division, per axis); the voxel size v = t * v0 is searched by a
// float32 bisection on the triple (l, c, u), starting at c = v0, l = 0, u = 2 v0: each pass counts the distinct
// cells K at c and stops when S <= K <= S * (1 + tolerance) (both bounds float32); otherwise K > S sets l = c,
// K < S sets u = c, and c = (l + u) / 2. At most max_iter passes run and the final size is the last evaluated one.
// In every occupied cell the point with the smallest (squared distance to the cell centre k * v, point index) is
// kept; kept points are emitted in ascending point index; with more than S cells the S smallest indices survive,
// with K < S cells the output repeats cyclically (out[j] = out[j mod K]). Cells are identified by their exact
// integer triple (coordinates beyond +-2^30 cells are clamped to +-2^30). Deterministic; CPU and CUDA agree bit
// for bit (indices, voxel, num_cells). The CUDA path runs the whole search on the device (a memset and
// ceil(max_iter / 3) + 1 kernel launches for max_iter <= 1024; no host synchronisation, no allocation, capturable in a
// CUDA graph) with a workspace of havs_workspace_bytes().
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "ops/common/op_common.h"

namespace pointrt::ops {

struct HavsParams {
  int sample_num = 4096;                   // S >= 1
  float voxel[3] = {0.4f, 0.4f, 0.35f};    // initial voxel size v0, each finite and > 0
  float tolerance = 0.01f;                 // >= 0, finite
  int max_iter = 20;                       // >= 1 counting passes
};

// Reference implementation on host tensors. Throws pointrt::Error("havs: <tensor or parameter>: <reason>").
void havs_cpu(const Tensor& xyz, const HavsParams& params, Tensor& indices, Tensor& voxel, Tensor& num_cells);

// CUDA implementation on device tensors; asynchronous on `stream`. `workspace` must hold
// havs_workspace_bytes(B, N, S) bytes of device memory (contents on entry are irrelevant).
void havs_cuda(const Tensor& xyz, const HavsParams& params, Tensor& indices, Tensor& voxel, Tensor& num_cells,
               void* workspace, std::size_t workspace_bytes, StreamHandle stream);

std::size_t havs_workspace_bytes(std::int64_t batch, std::int64_t num_points, std::int64_t sample_num);

// ---- shared float32 arithmetic of the CPU reference and the kernel (identical expressions on both sides) ----
namespace havs_detail {

#ifdef __CUDACC__
#define PT_HAVS_HD __host__ __device__
#else
#define PT_HAVS_HD
#endif

constexpr int kCellClamp = 1 << 30;

// Validation shared by havs_cpu and havs_cuda (tensors on `device`).
void validate(const Tensor& xyz, const HavsParams& params, const Tensor& indices, const Tensor& voxel,
              const Tensor& num_cells, Device device);

// Rounded cell coordinate as a float (used for the cell centre) ...
PT_HAVS_HD inline float cell_coord(float p, float v) { return roundf(p / v); }

// ... and as the integer identifying the cell (clamped to +-2^30; NaN maps to -2^30).
PT_HAVS_HD inline int cell_int(float r) {
  const float lim = 1073741824.0f;  // 2^30
  if (r >= -lim && r <= lim) return static_cast<int>(r);
  return r > 0.0f ? kCellClamp : -kCellClamp;
}

// Squared distance of p to the centre of its cell (r = rounded coordinates), summed x, y, z in that order.
PT_HAVS_HD inline float centre_dist2(float px, float py, float pz, float rx, float ry, float rz, float vx, float vy,
                                     float vz) {
  const float dx = px - rx * vx;
  const float dy = py - ry * vy;
  const float dz = pz - rz * vz;
  return dx * dx + dy * dy + dz * dz;
}

// Window test and bisection step, shared so that CPU and GPU take the same decisions.
PT_HAVS_HD inline bool converged(int count, int sample_num, float tolerance) {
  const float lower = static_cast<float>(sample_num);
  const float upper = static_cast<float>(sample_num) * (1.0f + tolerance);
  const float k = static_cast<float>(count);
  return lower <= k && k <= upper;
}

PT_HAVS_HD inline float midpoint(float lo, float hi) { return (lo + hi) * 0.5f; }

// ---- speculative bisection (CUDA path): the next `depth` passes of the bisection can only visit the 2^depth - 1
// voxel sizes of a binary tree (heap order, node 1 = the current size; child 2h follows "count > S" (l = c), child
// 2h + 1 follows "count < S" (u = c); count == S always converges). The kernel counts all of them at once and then
// follows the path the counts select, which reproduces the sequential passes exactly (same float expressions).
struct SearchState {
  float l[3], c[3], u[3];  // bisection triple; c = the size the next pass evaluates (or the final size when done)
  int passes;              // passes evaluated so far
  int count;               // distinct cells of the final pass (when done)
  int done;                // 1 once the search has ended
  int final_round;         // speculative round and tree node (1-based) of the final pass (when done)
  int final_node;
  int pad;
};

PT_HAVS_HD inline void search_init(const float v0[3], SearchState& s) {
  for (int a = 0; a < 3; ++a) {
    s.c[a] = v0[a];
    s.l[a] = 0.0f;
    s.u[a] = 2.0f * v0[a];
  }
  s.passes = 0;
  s.count = 0;
  s.done = 0;
  s.final_round = 0;
  s.final_node = 1;
  s.pad = 0;
}

PT_HAVS_HD inline int node_depth(int h) {
  int d = 0;
  while (h > 1) {
    h >>= 1;
    ++d;
  }
  return d;
}

// Voxel size evaluated by node h of the tree rooted at s.
PT_HAVS_HD inline void node_voxel(const SearchState& s, int h, float c[3]) {
  float l[3], u[3];
  for (int a = 0; a < 3; ++a) {
    l[a] = s.l[a];
    c[a] = s.c[a];
    u[a] = s.u[a];
  }
  for (int k = node_depth(h) - 1; k >= 0; --k) {
    const bool fewer = ((h >> k) & 1) != 0;  // this step followed "count < S"
    for (int a = 0; a < 3; ++a) {
      if (fewer) {
        u[a] = c[a];
      } else {
        l[a] = c[a];
      }
      c[a] = midpoint(l[a], u[a]);
    }
  }
}

// Follows one speculative round (tree of the given depth rooted at s, counts[h - 1] = cells of node h) exactly as the
// sequential passes would: s becomes the root of the next round, or done. A pass that leaves (l, c, u) unchanged
// makes every later pass repeat it, so the search ends there with the same result as running to max_iter.
PT_HAVS_HD inline void walk_round(SearchState& s, const int* counts, int depth, int round, int sample_num,
                                  float tolerance, int max_iter) {
  if (s.done) return;
  int h = 1;
  for (int k = 0; k < depth; ++k) {
    const int count = counts[h - 1];
    s.passes += 1;
    bool stop = converged(count, sample_num, tolerance) || s.passes >= max_iter;
    float nl[3], nc[3], nu[3];
    bool same = true;
    for (int a = 0; a < 3; ++a) {
      nl[a] = count > sample_num ? s.c[a] : s.l[a];
      nu[a] = count < sample_num ? s.c[a] : s.u[a];
      nc[a] = midpoint(nl[a], nu[a]);
      same = same && nl[a] == s.l[a] && nu[a] == s.u[a] && nc[a] == s.c[a];
    }
    stop = stop || same;
    if (stop) {
      s.done = 1;
      s.count = count;
      s.final_round = round;
      s.final_node = h;
      return;
    }
    for (int a = 0; a < 3; ++a) {
      s.l[a] = nl[a];
      s.c[a] = nc[a];
      s.u[a] = nu[a];
    }
    h = 2 * h + (count < sample_num ? 1 : 0);
  }
}

}  // namespace havs_detail
}  // namespace pointrt::ops
