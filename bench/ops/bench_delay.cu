// A kernel that keeps the GPU busy for a given time, so that the host can queue the benchmarked work behind it and
// the CUDA events then measure device time only (not the host's submission latency).
#include <cuda_runtime.h>

#include "core/cuda_utils.h"

namespace pointrt::bench {

namespace {
__global__ void spin_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}
}  // namespace

void gpu_delay(cudaStream_t stream, int microseconds) {
  static const long long cycles_per_us = [] {
    int device = 0, khz = 0;
    POINTRT_CUDA_CHECK(cudaGetDevice(&device));
    POINTRT_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
    return static_cast<long long>(khz) / 1000;
  }();
  spin_kernel<<<1, 1, 0, stream>>>(cycles_per_us * microseconds);
  POINTRT_CHECK_LAUNCH("spin_kernel");
}

}  // namespace pointrt::bench
