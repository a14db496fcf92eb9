// FPS / D-FPS: CUDA kernel (see fps.h for the contract).
//
// One block per batch element runs the M−1 sequential rounds. Each thread owns the points k ≡ tid (mod T) and keeps
// their running minimum in registers; xyz comes from registers (N <= 4096), from a shared-memory copy (N <= 16384
// when the device's shared memory allows), or from global memory. Per round every thread finds its best
// (dist, lowest k), a warp reduces with __reduce_max_sync on the distance bits (dist >= 0, so the bit pattern orders
// like the float) followed by __reduce_min_sync on the indices holding that maximum, and the 32 warp winners are
// reduced the same way by every warp from a double-buffered shared array (one barrier per round). Ties therefore go
// to the lowest index whatever the block size.
#include <cuda_runtime.h>

#include <climits>

#include "core/cuda_utils.h"
#include "ops/fps/fps.h"

namespace pointrt::ops {

namespace {

constexpr int kThreads = 1024;
constexpr unsigned kNoIndex = 0xffffffffu;

enum class Mode { kRegisters, kShared, kGlobalXyz, kWorkspace };

// Block-wide argmax of (bits, idx) pairs: largest bits, then smallest idx. Every thread gets the result.
__device__ __forceinline__ unsigned block_argmax(unsigned bits, unsigned idx, unsigned* s_bits, unsigned* s_idx,
                                                 int parity) {
  const unsigned full = 0xffffffffu;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int nwarps = static_cast<int>(blockDim.x) >> 5;
  const unsigned wmax = __reduce_max_sync(full, bits);
  const unsigned widx = __reduce_min_sync(full, bits == wmax ? idx : kNoIndex);
  unsigned* sb = s_bits + parity * 32;
  unsigned* si = s_idx + parity * 32;
  if (lane == 0) {
    sb[warp] = wmax;
    si[warp] = widx;
  }
  // The buffer written in round j is rewritten in round j+2 only, after every thread has passed the barrier of
  // round j+1 and hence finished reading it here: one barrier per round suffices.
  __syncthreads();
  const unsigned vb = lane < nwarps ? sb[lane] : 0u;
  const unsigned vi = lane < nwarps ? si[lane] : kNoIndex;
  const unsigned bmax = __reduce_max_sync(full, vb);
  return __reduce_min_sync(full, vb == bmax ? vi : kNoIndex);
}

template <int PPT, Mode MODE>
__global__ void __launch_bounds__(kThreads) fps_kernel(const float* __restrict__ xyz, int n, int m,
                                                        std::int32_t* __restrict__ out, float* __restrict__ dist_ws) {
  extern __shared__ float s_xyz[];  // SoA copy: x[n], y[n], z[n] (kRegisters, kShared)
  __shared__ unsigned s_bits[64];
  __shared__ unsigned s_idx[64];
  const int tid = static_cast<int>(threadIdx.x);
  const int T = static_cast<int>(blockDim.x);
  const float* p = xyz + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(n) * 3;
  std::int32_t* o = out + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(m);
  constexpr bool kSharedCopy = MODE == Mode::kRegisters || MODE == Mode::kShared;
  const float* sx = s_xyz;
  const float* sy = s_xyz + n;
  const float* sz = s_xyz + 2 * n;
  if constexpr (kSharedCopy) {
    for (int k = tid; k < n; k += T) {
      s_xyz[k] = p[3 * k];
      s_xyz[n + k] = p[3 * k + 1];
      s_xyz[2 * n + k] = p[3 * k + 2];
    }
    __syncthreads();
  }
  if (tid == 0) o[0] = 0;
  unsigned last = 0;

  if constexpr (MODE == Mode::kWorkspace) {
    float* dist = dist_ws + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(n);
    for (int k = tid; k < n; k += T) dist[k] = kFpsInitialDistance;  // each thread only touches its own k
    for (int j = 1; j < m; ++j) {
      const float* q = p + 3 * static_cast<std::size_t>(last);
      const float lx = q[0], ly = q[1], lz = q[2];
      unsigned bb = 0, bi = kNoIndex;
      for (int k = tid; k < n; k += T) {
        const float* r = p + 3 * static_cast<std::size_t>(k);
        const float d = fps_sq_dist(r[0], r[1], r[2], lx, ly, lz);
        const float v = d < dist[k] ? d : dist[k];
        dist[k] = v;
        const unsigned vb = __float_as_uint(v);
        if (vb > bb || (vb == bb && static_cast<unsigned>(k) < bi)) {
          bb = vb;
          bi = static_cast<unsigned>(k);
        }
      }
      last = block_argmax(bb, bi, s_bits, s_idx, j & 1);
      if (tid == 0) o[j] = static_cast<std::int32_t>(last);
    }
  } else {
    float dist[PPT];
    float px[MODE == Mode::kRegisters ? PPT : 1];
    float py[MODE == Mode::kRegisters ? PPT : 1];
    float pz[MODE == Mode::kRegisters ? PPT : 1];
#pragma unroll
    for (int i = 0; i < PPT; ++i) {
      dist[i] = kFpsInitialDistance;
      if constexpr (MODE == Mode::kRegisters) {
        const int k = tid + i * T;
        px[i] = k < n ? sx[k] : 0.0f;
        py[i] = k < n ? sy[k] : 0.0f;
        pz[i] = k < n ? sz[k] : 0.0f;
      }
    }
    for (int j = 1; j < m; ++j) {
      float lx, ly, lz;
      if constexpr (kSharedCopy) {
        lx = sx[last];
        ly = sy[last];
        lz = sz[last];
      } else {
        lx = p[3 * last];
        ly = p[3 * last + 1];
        lz = p[3 * last + 2];
      }
      unsigned bb = 0, bi = kNoIndex;
#pragma unroll
      for (int i = 0; i < PPT; ++i) {
        const int k = tid + i * T;
        if (k < n) {
          float x, y, z;
          if constexpr (MODE == Mode::kRegisters) {
            x = px[i];
            y = py[i];
            z = pz[i];
          } else if constexpr (MODE == Mode::kShared) {
            x = sx[k];
            y = sy[k];
            z = sz[k];
          } else {
            x = p[3 * k];
            y = p[3 * k + 1];
            z = p[3 * k + 2];
          }
          const float d = fps_sq_dist(x, y, z, lx, ly, lz);
          const float v = d < dist[i] ? d : dist[i];
          dist[i] = v;
          const unsigned vb = __float_as_uint(v);
          if (vb > bb || (vb == bb && static_cast<unsigned>(k) < bi)) {
            bb = vb;
            bi = static_cast<unsigned>(k);
          }
        }
      }
      last = block_argmax(bb, bi, s_bits, s_idx, j & 1);
      if (tid == 0) o[j] = static_cast<std::int32_t>(last);
    }
  }
}

WorkspaceCarver carve(void* base, std::int64_t batch, std::int64_t n, float** dist) {
  WorkspaceCarver c(base);
  if (n > 16 * kThreads) {
    *dist = c.take<float>(static_cast<std::size_t>(batch) * static_cast<std::size_t>(n));
  } else {
    *dist = nullptr;
  }
  return c;
}

template <int PPT, Mode MODE>
void launch(const float* xyz, int batch, int n, int m, std::int32_t* out, float* dist, int threads,
            std::size_t shared_bytes, cudaStream_t stream) {
  auto kernel = fps_kernel<PPT, MODE>;
  // Always set: dynamic plus static shared memory may pass the 48 KiB default even when the dynamic part does not.
  POINTRT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
  kernel<<<batch, threads, shared_bytes, stream>>>(xyz, n, m, out, dist);
  POINTRT_CHECK_LAUNCH("fps_kernel");
}

}  // namespace

std::size_t fps_workspace_bytes(std::int64_t batch, std::int64_t num_points, const FpsParams& params) {
  (void)params;
  float* dist = nullptr;
  return carve(nullptr, batch, num_points, &dist).size();
}

void fps_cuda(const Tensor& xyz, Tensor& indices, const FpsParams& params, void* workspace,
              std::size_t workspace_bytes, StreamHandle stream) {
  detail::fps_check(xyz, indices, params, Device::CUDA);
  const std::int64_t batch = xyz.dim(0), n64 = xyz.dim(1);
  check_workspace(workspace, workspace_bytes, fps_workspace_bytes(batch, n64, params), "fps");
  const int m = params.num_samples;
  if (m == 0 || batch == 0) return;
  check_arg(batch <= INT_MAX, "fps", "xyz: batch too large");
  const int n = static_cast<int>(n64);
  const int b = static_cast<int>(batch);
  float* dist = nullptr;
  carve(workspace, batch, n64, &dist);
  const float* in = xyz.data_as<float>();
  std::int32_t* out = indices.data_as<std::int32_t>();

  int device = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&device));
  int smem_optin = 0;
  POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  const std::size_t copy_bytes = static_cast<std::size_t>(n) * 3 * sizeof(float);
  const std::size_t static_bytes = 2 * 64 * sizeof(unsigned);
  const bool fits = copy_bytes + static_bytes <= static_cast<std::size_t>(smem_optin);

  if (n <= kThreads) {
    const int threads = (n + 31) / 32 * 32;
    launch<1, Mode::kRegisters>(in, b, n, m, out, dist, threads, copy_bytes, stream);
  } else if (n <= 2 * kThreads) {
    launch<2, Mode::kRegisters>(in, b, n, m, out, dist, kThreads, copy_bytes, stream);
  } else if (n <= 4 * kThreads && fits) {
    launch<4, Mode::kRegisters>(in, b, n, m, out, dist, kThreads, copy_bytes, stream);
  } else if (n <= 4 * kThreads) {
    launch<4, Mode::kGlobalXyz>(in, b, n, m, out, dist, kThreads, 0, stream);
  } else if (n <= 8 * kThreads) {
    if (fits) {
      launch<8, Mode::kShared>(in, b, n, m, out, dist, kThreads, copy_bytes, stream);
    } else {
      launch<8, Mode::kGlobalXyz>(in, b, n, m, out, dist, kThreads, 0, stream);
    }
  } else if (n <= 16 * kThreads) {
    if (fits) {
      launch<16, Mode::kShared>(in, b, n, m, out, dist, kThreads, copy_bytes, stream);
    } else {
      launch<16, Mode::kGlobalXyz>(in, b, n, m, out, dist, kThreads, 0, stream);
    }
  } else {
    launch<1, Mode::kWorkspace>(in, b, n, m, out, dist, kThreads, 0, stream);
  }
}

}  // namespace pointrt::ops
