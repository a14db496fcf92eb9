// HAVSampling on real KITTI frames: SA1 (16384 -> 4096, v0 = (0.4, 0.4, 0.35)) and SA2 (4096 -> 1024 on the points
// SA1 selects, v0 = (2.0, 2.0, 1.75)), batch 1 and 8. Everything is allocated outside the timed loop.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/havs/havs.h"

namespace {

using pointrt::DType;
using pointrt::Device;
using pointrt::Tensor;

pointrt::ops::HavsParams params(int s, float vx, float vy, float vz) {
  pointrt::ops::HavsParams p;
  p.sample_num = s;
  p.voxel[0] = vx;
  p.voxel[1] = vy;
  p.voxel[2] = vz;
  return p;
}

// xyz [B, N, 3] from points [B, N, 4].
Tensor xyz_of(const Tensor& points) {
  const std::int64_t b = points.dim(0), n = points.dim(1);
  Tensor out = Tensor::empty({b, n, 3}, DType::F32);
  for (std::int64_t i = 0; i < b * n; ++i) {
    std::memcpy(out.data_as<float>() + 3 * i, points.data_as<float>() + 4 * i, 3 * sizeof(float));
  }
  return out;
}

// The SA1 samples of real frames (CPU reference), as the SA2 input [B, 4096, 3].
Tensor sa1_samples(const Tensor& xyz) {
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  const auto p = params(4096, 0.4f, 0.4f, 0.35f);
  Tensor idx = Tensor::empty({b, 4096}, DType::I32), vox = Tensor::empty({b, 3}, DType::F32),
         cells = Tensor::empty({b}, DType::I32);
  pointrt::ops::havs_cpu(xyz, p, idx, vox, cells);
  Tensor out = Tensor::empty({b, 4096, 3}, DType::F32);
  for (std::int64_t e = 0; e < b; ++e) {
    for (std::int64_t m = 0; m < 4096; ++m) {
      const std::int64_t i = idx.data_as<std::int32_t>()[e * 4096 + m];
      std::memcpy(out.data_as<float>() + (e * 4096 + m) * 3, xyz.data_as<float>() + (e * n + i) * 3, 3 * sizeof(float));
    }
  }
  return out;
}

void run(benchmark::State& state, const Tensor& host_xyz, const pointrt::ops::HavsParams& p) {
  const std::int64_t b = host_xyz.dim(0), n = host_xyz.dim(1);
  Tensor xyz = host_xyz.to(Device::CUDA);
  Tensor idx = Tensor::empty({b, p.sample_num}, DType::I32, Device::CUDA);
  Tensor vox = Tensor::empty({b, 3}, DType::F32, Device::CUDA);
  Tensor cells = Tensor::empty({b}, DType::I32, Device::CUDA);
  const std::size_t bytes = pointrt::ops::havs_workspace_bytes(b, n, p.sample_num);
  pointrt::core::DeviceBuffer ws(bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    pointrt::ops::havs_cuda(xyz, p, idx, vox, cells, ws.get(), bytes, s);
  });
}

void BM_HAVS_16384_to_4096(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  run(state, xyz_of(pointrt::bench::kitti_points(batch)), params(4096, 0.4f, 0.4f, 0.35f));
}

void BM_HAVS_4096_to_1024(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  run(state, sa1_samples(xyz_of(pointrt::bench::kitti_points(batch))), params(1024, 2.0f, 2.0f, 1.75f));
}

}  // namespace

BENCHMARK(BM_HAVS_16384_to_4096)->Apply(pointrt::bench::device_timed)
    ->Arg(1)
    ->Arg(8);
BENCHMARK(BM_HAVS_4096_to_1024)->Apply(pointrt::bench::device_timed)
    ->Arg(1)
    ->Arg(8);
