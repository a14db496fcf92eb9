// Centroid-aware top-k sampling: CUDA kernels (see topk_sample.h for the contract).
//
// N <= 4096: one block per batch element builds for each point the 44-bit integer
// (~order_bits(key) << 12) | index, whose ascending order is the required ranking (descending key, ascending index;
// every value is unique), sorts the block with cub::BlockRadixSort (blocked arrangement: thread t holds ranks
// t*ITEMS .. t*ITEMS+ITEMS-1) and writes the first S. Slots past N hold the all-ones value, which sorts after every
// real point when N < 4096 (a real point has index <= 4094 then).
// N > 4096: each thread computes the rank of its point by counting the points that precede it in that order
// (64-bit keys, tiles in shared memory) and writes itself at its rank if the rank is < S.
#include <cuda_runtime.h>

#include <cub/block/block_radix_sort.cuh>

#include <climits>

#include "core/cuda_utils.h"
#include "ops/topk_sample/topk_sample.h"

namespace pointrt::ops {

namespace {

constexpr int kIndexBits = 12;  // block path: N <= 4096
constexpr int kBlockMaxN = 1 << kIndexBits;
constexpr int kRankThreads = 256;

template <int THREADS, int ITEMS>
__global__ void __launch_bounds__(THREADS) topk_block_kernel(const float* __restrict__ logits, int n, int c, int s,
                                                             std::int32_t* __restrict__ out,
                                                             float* __restrict__ keys_out) {
  using Sort = cub::BlockRadixSort<unsigned long long, THREADS, ITEMS>;
  __shared__ typename Sort::TempStorage temp;
  const float* l = logits + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(n) * c;
  unsigned long long items[ITEMS];
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int k = static_cast<int>(threadIdx.x) * ITEMS + i;
    if (k < n) {
      const std::uint32_t bits = topk_order_bits(topk_point_key(l + static_cast<std::size_t>(k) * c, c));
      items[i] = (static_cast<unsigned long long>(~bits) << kIndexBits) | static_cast<unsigned long long>(k);
    } else {
      items[i] = (1ull << (32 + kIndexBits)) - 1;
    }
  }
  Sort(temp).Sort(items, 0, 32 + kIndexBits);
  std::int32_t* o = out + static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(s);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int r = static_cast<int>(threadIdx.x) * ITEMS + i;
    if (r < s) {
      const int k = static_cast<int>(items[i] & static_cast<unsigned long long>(kBlockMaxN - 1));
      o[r] = k;
      if (keys_out != nullptr) {
        keys_out[static_cast<std::size_t>(blockIdx.x) * static_cast<std::size_t>(s) + r] =
            topk_point_key(l + static_cast<std::size_t>(k) * c, c);
      }
    }
  }
}

__device__ __forceinline__ unsigned long long rank_key(const float* l, int k, int c) {
  const std::uint32_t bits = topk_order_bits(topk_point_key(l + static_cast<std::size_t>(k) * c, c));
  return (static_cast<unsigned long long>(~bits) << 32) | static_cast<unsigned long long>(k);
}

__global__ void __launch_bounds__(kRankThreads) topk_rank_kernel(const float* __restrict__ logits, int n, int c, int s,
                                                                 std::int32_t* __restrict__ out,
                                                                 float* __restrict__ keys_out) {
  __shared__ unsigned long long tile[kRankThreads];
  const float* l = logits + static_cast<std::size_t>(blockIdx.y) * static_cast<std::size_t>(n) * c;
  const int i = static_cast<int>(blockIdx.x) * kRankThreads + static_cast<int>(threadIdx.x);
  const unsigned long long mine = i < n ? rank_key(l, i, c) : ~0ull;
  int rank = 0;
  for (int base = 0; base < n; base += kRankThreads) {
    const int j = base + static_cast<int>(threadIdx.x);
    tile[threadIdx.x] = j < n ? rank_key(l, j, c) : ~0ull;
    __syncthreads();
    const int count = min(kRankThreads, n - base);
    for (int t = 0; t < count; ++t) rank += tile[t] < mine ? 1 : 0;
    __syncthreads();
  }
  if (i < n && rank < s) {
    const std::size_t at = static_cast<std::size_t>(blockIdx.y) * static_cast<std::size_t>(s) + rank;
    out[at] = i;
    if (keys_out != nullptr) keys_out[at] = topk_point_key(l + static_cast<std::size_t>(i) * c, c);
  }
}

template <int THREADS, int ITEMS>
void launch_block(const float* logits, int batch, int n, int c, int s, std::int32_t* out, float* keys,
                  cudaStream_t stream) {
  topk_block_kernel<THREADS, ITEMS><<<batch, THREADS, 0, stream>>>(logits, n, c, s, out, keys);
  POINTRT_CHECK_LAUNCH("topk_block_kernel");
}

}  // namespace

void topk_sample_cuda(const Tensor& logits, Tensor& indices, const TopkSampleParams& params, void* workspace,
                      std::size_t workspace_bytes, StreamHandle stream, Tensor* keys) {
  detail::topk_sample_check(logits, indices, keys, params, Device::CUDA);
  const std::int64_t batch64 = logits.dim(0), n64 = logits.dim(1);
  check_workspace(workspace, workspace_bytes, topk_sample_workspace_bytes(batch64, n64, params), "topk_sample");
  const int s = params.num_samples;
  if (s == 0 || batch64 == 0) return;
  check_arg(batch64 <= 65535, "topk_sample", "logits: batch " + std::to_string(batch64) + " exceeds 65535");  // grid
  const int batch = static_cast<int>(batch64), n = static_cast<int>(n64), c = static_cast<int>(logits.dim(2));
  const float* in = logits.data_as<float>();
  std::int32_t* out = indices.data_as<std::int32_t>();
  float* k = keys != nullptr ? keys->data_as<float>() : nullptr;
  if (n <= 256) {
    launch_block<64, 4>(in, batch, n, c, s, out, k, stream);
  } else if (n <= 512) {
    launch_block<128, 4>(in, batch, n, c, s, out, k, stream);
  } else if (n <= 1024) {
    launch_block<256, 4>(in, batch, n, c, s, out, k, stream);
  } else if (n <= 2048) {
    launch_block<256, 8>(in, batch, n, c, s, out, k, stream);
  } else if (n <= kBlockMaxN) {
    launch_block<512, 8>(in, batch, n, c, s, out, k, stream);
  } else {
    const dim3 grid(static_cast<unsigned>((n + kRankThreads - 1) / kRankThreads), static_cast<unsigned>(batch));
    topk_rank_kernel<<<grid, kRankThreads, 0, stream>>>(in, n, c, s, out, k);
    POINTRT_CHECK_LAUNCH("topk_rank_kernel");
  }
}

}  // namespace pointrt::ops
