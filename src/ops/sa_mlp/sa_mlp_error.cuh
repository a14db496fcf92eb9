// The error record of the fused grouper kernels (both paths): every thread of a block calls this at its end; the
// last block to finish decodes the lowest bad flat position (b, m, k) in `first_bad` into `error` = {found, b, m, k}
// ({0, -1, -1, -1} when every index was valid). `blocks_done` starts at 0xFFFFFFFF (the call's memset sets it).
#pragma once

#include <cstdint>

namespace pointrt::ops::sa_detail {

__device__ __forceinline__ void finish_error_record(unsigned int* blocks_done, unsigned long long* first_bad,
                                                    std::int32_t* error, long long k, long long m, int tid) {
  __threadfence();
  __syncthreads();
  if (tid != 0) return;
  const unsigned int prev = atomicAdd(blocks_done, 1u);
  if (prev + 2u != gridDim.x) return;
  __threadfence();
  const unsigned long long pos = atomicMin(first_bad, ~0ull);
  if (pos == ~0ull) {
    error[0] = 0;
    error[1] = -1;
    error[2] = -1;
    error[3] = -1;
  } else {
    const long long p = static_cast<long long>(pos);
    error[0] = 1;
    error[1] = static_cast<std::int32_t>(p / k / m);
    error[2] = static_cast<std::int32_t>((p / k) % m);
    error[3] = static_cast<std::int32_t>(p % k);
  }
}

}  // namespace pointrt::ops::sa_detail
