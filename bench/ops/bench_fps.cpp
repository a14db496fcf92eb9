// D-FPS on real KITTI frames: 16384 -> 4096 and 4096 -> 1024 (the original IA-SSD sampler; HAVS replaces it in
// hvcsx2, so these are numbers for comparison), batch 1 and 8.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/fps/fps.h"

namespace {

void BM_Fps(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const auto n = static_cast<std::size_t>(state.range(1));
  const int m = static_cast<int>(state.range(2));
  const pointrt::Tensor pts = pointrt::bench::kitti_points(batch, n);
  pointrt::Tensor xyz = pointrt::Tensor::empty({batch, static_cast<std::int64_t>(n), 3}, pointrt::DType::F32);
  for (std::int64_t i = 0; i < batch * static_cast<std::int64_t>(n); ++i) {
    for (int c = 0; c < 3; ++c) xyz.data_as<float>()[i * 3 + c] = pts.data_as<float>()[i * 4 + c];
  }
  pointrt::Tensor d_xyz = xyz.to(pointrt::Device::CUDA);
  pointrt::Tensor d_idx = pointrt::Tensor::empty({batch, m}, pointrt::DType::I32, pointrt::Device::CUDA);
  const pointrt::ops::FpsParams params{m};
  const std::size_t ws_bytes = pointrt::ops::fps_workspace_bytes(batch, static_cast<std::int64_t>(n), params);
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    pointrt::ops::fps_cuda(d_xyz, d_idx, params, ws.get(), ws_bytes, s);
  });
}

}  // namespace

BENCHMARK(BM_Fps)->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "n", "m"})
    ->Args({1, 16384, 4096})
    ->Args({8, 16384, 4096})
    ->Args({1, 4096, 1024})
    ->Args({8, 4096, 1024});
