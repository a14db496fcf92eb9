// Fused set-abstraction grouper on tensor cores with FP32 accuracy ("3xTF32", sm_80+). Included by sa_mlp.cu only;
// see README.md for the design.
//
// Same structure as the SIMT kernel (one block = a tile of TR = G * K neighbour rows, gather -> layer chain with the
// activations resident in shared memory -> max-pool over K), but every layer is a warp-level mma.sync m16n8k8 TF32
// GEMM in which each fp32 operand x is split into big = tf32(x) and small = tf32(x - big) and the product is
// accumulated in fp32 as small_a * big_w + big_a * small_w + big_a * big_w (the small * small term, ~2^-22 relative,
// is dropped). k runs in increasing steps of 8 with the three mma in that fixed order, starting from zero, whatever
// the tile shape: the result of a row depends only on that row and the weights, never on the batch size, the block
// or the row's position in the tile (bit-identical in any batch). Deterministic: no atomics on data.
//
// Block: 256 threads = 8 warps as WM (rows) x WN (columns); a warp owns MT m16 tiles x 4 n8 tiles (64 fp32
// accumulators for MT = 4), so TR = WM * MT * 16 rows and TC = WN * 32 output columns per chunk. Activations are
// row-major in shared memory, act[row][k] with stride kpad + 4 (kpad = cin rounded up to 8; stride = 4 mod 8 makes
// the fragment loads conflict-free). Weights are staged per 16-deep k tile as w[n][k] (stride 20), raw fp32, split
// when the fragment is loaded, double-buffered where shared memory allows (else single-buffered), prefetched through
// registers. K must be 16, 32 or 64 and divide the 16 * MT rows of a warp: the last layer is max-pooled straight
// from the accumulators (rows g and g + 8 of each m tile, then across m tiles of the group, then a butterfly over the
// eight row lanes), so it needs no staging tile.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/sa_mlp/sa_mlp_error.cuh"

namespace pointrt::ops::sa_tc {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxLayers = 8;
constexpr int kKT = 16;        // k depth of one staged weight tile
constexpr int kLdw = kKT + 4;  // row stride (floats) of a staged weight tile w[n][k]
constexpr int kGatherUnroll = 8;  // gathered values in flight per thread

struct Layer {
  const float* weight;  // [cout, cin]
  const float* bias;    // [cout]
  int cin, cout;
  int kpad;  // cin rounded up to 8; the input buffer's row stride is kpad + 4
  int relu;
};

struct Args {
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
  int buf_off[2];  // float offsets of the two activation buffers
  int wt_off;      // float offset of the weight tile(s)
  int wt_bufs;     // 1 or 2 weight tiles
  int src_off;     // float offset of the per-row source index (int, -1: zero row)
  int flag_off;    // float offset of the per-group flags (int)
  Layer layers[kMaxLayers];
};

template <int WM, int MT>
struct Cfg {
  static_assert(kWarps % WM == 0 && (MT == 1 || MT == 2 || MT == 4), "bad tensor-core tile shape");
  static constexpr int kWN = kWarps / WM;
  static constexpr int kTR = WM * MT * 16;
  static constexpr int kTC = kWN * 32;
  static constexpr int kWeightTile = kTC * kLdw;  // floats
  static constexpr int kPer = kTC * kKT / kThreads;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define POINTRT_SA_TC_ENABLED 1
#else
#define POINTRT_SA_TC_ENABLED 0
#endif

// x = big + small: big = x with the 13 low mantissa bits cleared (an exact tf32 value), small = x - big (exact in
// fp32, |small| < 2^-10 |x|). small is passed to the mma as raw fp32 bits: the tensor core reads the tf32 part of it,
// an error below 2^-10 |small| < 2^-20 |x| whether it truncates or rounds. Two full-rate instructions (LOP, FADD)
// instead of two cvt.rna.tf32 conversions.
__device__ __forceinline__ void split_tf32(float x, std::uint32_t& big, std::uint32_t& small) {
  const std::uint32_t b = __float_as_uint(x) & 0xffffe000u;
  big = b;
  small = __float_as_uint(__fsub_rn(x, __uint_as_float(b)));
}

// d += a * b (m16n8k8, A row-major 16x8, B col-major 8x8, fp32 accumulate).
__device__ __forceinline__ void mma_tf32(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                         std::uint32_t b1) {
#if POINTRT_SA_TC_ENABLED
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  (void)d;
  (void)a;
  (void)b0;
  (void)b1;
#endif
}

// Weight tile loader: w[nn][kk] = W[n0 + nn][k0 + kk] (zero outside), TC x 16 values, kPer per thread; 16
// consecutive threads read 16 consecutive floats of one weight row.
template <int TC>
struct WeightLoader {
  static constexpr int kPer = TC * kKT / kThreads;
  float v[kPer];

  __device__ __forceinline__ void load(const float* __restrict__ weight, int cin, int cout, int n0, int k0) {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      const int kk = e % kKT, nn = e / kKT;
      const int n = n0 + nn, kx = k0 + kk;
      v[p] = (n < cout && kx < cin) ? __ldg(weight + static_cast<std::int64_t>(n) * cin + kx) : 0.0f;
    }
  }
  __device__ __forceinline__ void store(float* __restrict__ w) const {
#pragma unroll
    for (int p = 0; p < kPer; ++p) {
      const int e = static_cast<int>(threadIdx.x) + p * kThreads;
      w[(e / kKT) * kLdw + e % kKT] = v[p];
    }
  }
};

// acc[mt][nt] = A[warp rows, 0:kpad] * W[n0 + warp columns, 0:kpad]^T for this warp's MT m tiles and its first
// `ntiles` n tiles (the others are left at zero). `a` points at the warp's first row (stride lda); `wt` holds the
// staged weight tile(s). Starts and ends with all threads synchronised.
template <int WM, int MT>
__device__ __forceinline__ void gemm_3xtf32(float (&acc)[MT][4][4], const float* __restrict__ a, int lda, int kpad,
                                            const Layer& L, int n0, float* __restrict__ wt, int wt_bufs, int wn,
                                            int ntiles, int lane) {
  using C = Cfg<WM, MT>;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[mt][nt][q] = 0.0f;
    }
  }
  const int ktiles = (kpad + kKT - 1) / kKT;
  // One 16-deep k tile from the staged weight tile `wtile`.
  auto compute_tile = [&](int kt, const float* __restrict__ wtile) {
    const float* w = wtile + (wn * 32 + g) * kLdw + t;
    const float* ak = a + kt * kKT + g * lda + t;
    const int ksteps = min(2, (kpad - kt * kKT) / 8);
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      if (s < ksteps) {
        std::uint32_t ahi[MT][4], alo[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          const float* p = ak + mt * 16 * lda + s * 8;
          split_tf32(p[0], ahi[mt][0], alo[mt][0]);
          split_tf32(p[8 * lda], ahi[mt][1], alo[mt][1]);
          split_tf32(p[4], ahi[mt][2], alo[mt][2]);
          split_tf32(p[8 * lda + 4], ahi[mt][3], alo[mt][3]);
        }
        std::uint32_t bhi[4][2], blo[4][2];
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
            const float* wb = w + nt * 8 * kLdw + s * 8;
            split_tf32(wb[0], bhi[nt][0], blo[nt][0]);
            split_tf32(wb[4], bhi[nt][1], blo[nt][1]);
          }
        }
        // Three passes over the MT x 4 accumulators, so that consecutive mma are independent (the tensor-core
        // latency is hidden within the warp); per accumulator the order stays small*big, big*small, big*big.
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) mma_tf32(acc[mt][nt], alo[mt], bhi[nt][0], bhi[nt][1]);
          }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) mma_tf32(acc[mt][nt], ahi[mt], blo[nt][0], blo[nt][1]);
          }
        }
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) mma_tf32(acc[mt][nt], ahi[mt], bhi[nt][0], bhi[nt][1]);
          }
        }
      }
    }
  };
  // Register prefetch of the next tile while the current one is computed; with two tiles in shared memory one
  // barrier per tile, with one tile two. (A cp.async ring of 2-3 tiles measured slightly slower on the H200.)
  WeightLoader<C::kTC> loader;
  loader.load(L.weight, L.cin, L.cout, n0, 0);
  loader.store(wt);
  __syncthreads();
  for (int kt = 0; kt < ktiles; ++kt) {
    const bool more = kt + 1 < ktiles;
    if (more) loader.load(L.weight, L.cin, L.cout, n0, (kt + 1) * kKT);
    compute_tile(kt, wt + (wt_bufs == 2 ? (kt & 1) : 0) * C::kWeightTile);
    if (more) {
      if (wt_bufs == 1) __syncthreads();  // everyone is done with the only tile
      loader.store(wt + (wt_bufs == 2 ? ((kt + 1) & 1) : 0) * C::kWeightTile);
    }
    __syncthreads();
  }
}

template <int WM, int MT>
__global__ void __launch_bounds__(kThreads, (MT <= 2 && WM >= 2) ? 2 : 1) sa_mlp_tc_kernel(const Args args) {
#if POINTRT_SA_TC_ENABLED
  using C = Cfg<WM, MT>;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int wm = warp / C::kWN, wn = warp % C::kWN;
  const int k = args.k, gpb = args.groups_per_block;
  const long long g0 = static_cast<long long>(blockIdx.x) * gpb;
  int* flags = reinterpret_cast<int*>(smem + args.flag_off);  // 1: output slice is zero (empty ball or bad index)
  int* src_row = reinterpret_cast<int*>(smem + args.src_off);

  for (int q = tid; q < gpb; q += kThreads) {
    const long long bm = g0 + q;
    flags[q] = bm >= args.groups || (args.mask_empty != 0 && args.cnt[bm] == 0) ? 1 : 0;
  }
  __syncthreads();  // the index pass below may set flags of groups with a bad index

  // Gather, pass 1: one thread per row validates its index (never dereferencing a bad one).
  for (int r = tid; r < C::kTR; r += kThreads) {
    const int q = r / k;
    const long long bm = g0 + q;
    int i = -1;
    if (q < gpb && bm < args.groups) {
      const long long pos = bm * k + (r - q * k);
      const std::int32_t v = __ldg(args.idx + pos);
      if (v < 0 || v >= args.n) {
        atomicMin(args.first_bad, static_cast<unsigned long long>(pos));
        flags[q] = 1;
      } else {
        i = v;
      }
    }
    src_row[r] = i;
  }
  __syncthreads();

  // Gather, pass 2: all threads over (row, channel), kGatherUnroll independent loads in flight per thread; channels past
  // 3 + C (up to kpad) and invalid rows are zero.
  {
    float* a0 = smem + args.buf_off[0];
    const int kpad0 = args.layers[0].kpad, lda0 = kpad0 + 4, w = 3 + args.c;
    const int total = C::kTR * kpad0;
    for (int e0 = tid; e0 < total; e0 += kGatherUnroll * kThreads) {
      float v[kGatherUnroll];
      int dst[kGatherUnroll];
#pragma unroll
      for (int u = 0; u < kGatherUnroll; ++u) {
        const int e = e0 + u * kThreads;
        v[u] = 0.0f;
        dst[u] = -1;
        if (e < total) {
          const int r = e / kpad0, ch = e - r * kpad0;
          dst[u] = r * lda0 + ch;
          const int i = src_row[r];
          if (i >= 0 && ch < w) {
            const long long bm = g0 + r / k;
            const long long src = (bm / args.m) * args.n + i;
            v[u] = ch < 3 ? __fsub_rn(__ldg(args.xyz + src * 3 + ch), __ldg(args.new_xyz + bm * 3 + ch))
                          : __ldg(args.feats + src * args.c + (ch - 3));
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kGatherUnroll; ++u) {
        if (dst[u] >= 0) a0[dst[u]] = v[u];
      }
    }
  }
  __syncthreads();

  float acc[MT][4][4];
  float* wt = smem + args.wt_off;
  const int row0 = wm * MT * 16;  // the warp's first row in the tile
  for (int j = 0; j < args.num_layers; ++j) {
    const Layer L = args.layers[j];
    const int lda = L.kpad + 4;
    const float* a = smem + args.buf_off[j & 1] + row0 * lda;
    const bool last = j + 1 == args.num_layers;
    float* o = smem + args.buf_off[(j + 1) & 1];
    // Hidden layers store up to the next layer's kpad (exact zeros past cout: zero weights, zero bias); the last
    // layer is pooled up to cout.
    const int n_store = last ? L.cout : args.layers[j + 1].kpad;
    const int ldo = last ? 0 : n_store + 4;
    for (int n0 = 0; n0 < n_store; n0 += C::kTC) {
      const int wc0 = n0 + wn * 32;
      const int ntiles = max(0, min(4, (n_store - wc0 + 7) / 8));
      gemm_3xtf32<WM, MT>(acc, a, lda, L.kpad, L, n0, wt, args.wt_bufs, wn, ntiles, lane);
      if (!last) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
            const int n = wc0 + nt * 8 + 2 * t;
            const float b0 = n < L.cout ? __ldg(L.bias + n) : 0.0f;
            const float b1 = n + 1 < L.cout ? __ldg(L.bias + n + 1) : 0.0f;
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              float v[4];
#pragma unroll
              for (int q = 0; q < 4; ++q) {
                const float x = __fadd_rn(acc[mt][nt][q], (q & 1) ? b1 : b0);
                v[q] = L.relu != 0 ? fmaxf(x, 0.0f) : x;
              }
              const int r = row0 + mt * 16 + g;
              *reinterpret_cast<float2*>(o + r * ldo + n) = make_float2(v[0], v[1]);
              *reinterpret_cast<float2*>(o + (r + 8) * ldo + n) = make_float2(v[2], v[3]);
            }
          }
        }
        // The next gemm's first __syncthreads orders these stores before any read of them.
      } else {
        const int kg = k / 16;  // m tiles per group (1, 2 or 4; divides MT)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          if (nt < ntiles) {
            const int n = wc0 + nt * 8 + 2 * t;
            const float b0 = n < L.cout ? __ldg(L.bias + n) : 0.0f;
            const float b1 = n + 1 < L.cout ? __ldg(L.bias + n + 1) : 0.0f;
            float m0[MT], m1[MT];  // per m tile: max over rows g, g + 8 of columns n, n + 1
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              float v[4];
#pragma unroll
              for (int q = 0; q < 4; ++q) {
                const float x = __fadd_rn(acc[mt][nt][q], (q & 1) ? b1 : b0);
                v[q] = L.relu != 0 ? fmaxf(x, 0.0f) : x;
              }
              m0[mt] = fmaxf(v[0], v[2]);
              m1[mt] = fmaxf(v[1], v[3]);
            }
            if (kg >= 2) {
#pragma unroll
              for (int mt = 0; mt + 1 < MT; mt += 2) {
                m0[mt] = fmaxf(m0[mt], m0[mt + 1]);
                m1[mt] = fmaxf(m1[mt], m1[mt + 1]);
              }
            }
            if (kg >= 4) {
#pragma unroll
              for (int mt = 0; mt + 3 < MT; mt += 4) {
                m0[mt] = fmaxf(m0[mt], m0[mt + 2]);
                m1[mt] = fmaxf(m1[mt], m1[mt + 2]);
              }
            }
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
              for (int sh = 4; sh < 32; sh <<= 1) {
                m0[mt] = fmaxf(m0[mt], __shfl_xor_sync(0xffffffffu, m0[mt], sh));
                m1[mt] = fmaxf(m1[mt], __shfl_xor_sync(0xffffffffu, m1[mt], sh));
              }
            }
            // Lane row g == mt writes the group starting at m tile mt (when one does).
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              if (g == mt && mt % kg == 0) {
                const int q = (row0 + mt * 16) / k;
                const long long bm = g0 + q;
                if (q < gpb && bm < args.groups) {
                  const bool zero = flags[q] != 0;
                  float* dst = args.out + bm * args.ctot + args.offset;
                  if (n < L.cout) dst[n] = zero ? 0.0f : m0[mt];
                  if (n + 1 < L.cout) dst[n + 1] = zero ? 0.0f : m1[mt];
                }
              }
            }
          }
        }
      }
    }
  }

  // Error record: the last block to finish decodes the lowest bad position.
  sa_detail::finish_error_record(args.blocks_done, args.first_bad, args.error, k, args.m, tid);
#else
  (void)args;
#endif
}

}  // namespace pointrt::ops::sa_tc
