// Split of the input points [B, N, 4] (x, y, z, intensity) into xyz [B, N, 3] and features [B, N, 1] at the IA-SSD
// size (N = 16384), batch 1 and 8, on real KITTI frames. The engine previously used two cudaMemcpy2DAsync calls.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/split/split.h"

namespace {

void BM_Split(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::int64_t n = state.range(1);
  const pointrt::Tensor pts = pointrt::bench::kitti_points(batch, static_cast<std::size_t>(n)).to(pointrt::Device::CUDA);
  pointrt::Tensor xyz = pointrt::Tensor::empty({batch, n, 3}, pointrt::DType::F32, pointrt::Device::CUDA);
  pointrt::Tensor feats = pointrt::Tensor::empty({batch, n, 1}, pointrt::DType::F32, pointrt::Device::CUDA);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(),
                            [&](cudaStream_t st) { pointrt::ops::split_cuda(pts, xyz, &feats, st); });
  state.counters["GB_s"] = 2.0 * static_cast<double>(pts.nbytes()) / (state.counters["p50_us"] * 1e-6) * 1e-9;
}

// The engine's previous implementation: two strided copies.
void BM_SplitMemcpy2D(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::int64_t n = state.range(1);
  const pointrt::Tensor pts = pointrt::bench::kitti_points(batch, static_cast<std::size_t>(n)).to(pointrt::Device::CUDA);
  pointrt::Tensor xyz = pointrt::Tensor::empty({batch, n, 3}, pointrt::DType::F32, pointrt::Device::CUDA);
  pointrt::Tensor feats = pointrt::Tensor::empty({batch, n, 1}, pointrt::DType::F32, pointrt::Device::CUDA);
  const std::size_t rows = static_cast<std::size_t>(batch * n);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t st) {
    POINTRT_CUDA_CHECK(cudaMemcpy2DAsync(xyz.data(), 3 * sizeof(float), pts.data(), 4 * sizeof(float),
                                         3 * sizeof(float), rows, cudaMemcpyDeviceToDevice, st));
    POINTRT_CUDA_CHECK(cudaMemcpy2DAsync(feats.data(), sizeof(float), pts.data_as<float>() + 3, 4 * sizeof(float),
                                         sizeof(float), rows, cudaMemcpyDeviceToDevice, st));
  });
}

}  // namespace

BENCHMARK(BM_Split)->Apply(pointrt::bench::device_timed)->ArgNames({"batch", "n"})->Args({1, 16384})->Args({8, 16384});
BENCHMARK(BM_SplitMemcpy2D)
    ->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "n"})
    ->Args({1, 16384})
    ->Args({8, 16384});
