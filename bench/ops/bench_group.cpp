// Point gather and grouping at the SA1 (N=16384, M=4096, K=32, C=1) and SA3 (N=1024, M=512, K=32, C=128) sizes,
// batch 1 and 8, on real KITTI xyz with strided centres and pseudo-random valid neighbour indices.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/group/group.h"

namespace {

using pointrt::DType;
using pointrt::Device;
using pointrt::Tensor;

struct Inputs {
  Tensor xyz, feats, centres, idx, cnt, ind;
};

Inputs make_inputs(int batch, std::int64_t n, std::int64_t m, std::int64_t k, std::int64_t c) {
  const Tensor pts = pointrt::bench::kitti_points(batch, static_cast<std::size_t>(n));
  std::vector<float> xyz, feats, centres;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> d(0.f, 1.f);
  std::uniform_int_distribution<std::int32_t> u(0, static_cast<std::int32_t>(n - 1));
  for (std::int64_t i = 0; i < batch * n; ++i) {
    for (int j = 0; j < 3; ++j) xyz.push_back(pts.data_as<float>()[i * 4 + j]);
    for (std::int64_t j = 0; j < c; ++j) feats.push_back(c == 1 ? pts.data_as<float>()[i * 4 + 3] : d(rng));
  }
  std::vector<std::int32_t> idx, cnt, ind;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t src = b * n + j * (n / m);
      for (int q = 0; q < 3; ++q) centres.push_back(xyz[static_cast<std::size_t>(src * 3 + q)]);
      ind.push_back(static_cast<std::int32_t>(j * (n / m)));
      cnt.push_back(static_cast<std::int32_t>(k));
      for (std::int64_t q = 0; q < k; ++q) idx.push_back(u(rng));
    }
  }
  Inputs in;
  in.xyz = Tensor::from_vector(xyz, {batch, n, 3}).to(Device::CUDA);
  in.feats = Tensor::from_vector(feats, {batch, n, c}).to(Device::CUDA);
  in.centres = Tensor::from_vector(centres, {batch, m, 3}).to(Device::CUDA);
  in.idx = Tensor::from_vector(idx, {batch, m, k}).to(Device::CUDA);
  in.cnt = Tensor::from_vector(cnt, {batch, m}).to(Device::CUDA);
  in.ind = Tensor::from_vector(ind, {batch, m}).to(Device::CUDA);
  return in;
}

void BM_Gather(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::int64_t n = state.range(1), m = state.range(2), c = state.range(4);
  const Inputs in = make_inputs(batch, n, m, 1, c);
  Tensor out = Tensor::empty({batch, m, c}, DType::F32, Device::CUDA);
  Tensor err = Tensor::empty({4}, DType::I32, Device::CUDA);
  const std::size_t ws_bytes = pointrt::ops::gather_points_workspace_bytes();
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    pointrt::ops::gather_points_cuda(in.feats, in.ind, out, err, ws.get(), ws_bytes, s);
  });
}

void BM_Group(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::int64_t n = state.range(1), m = state.range(2), k = state.range(3), c = state.range(4);
  const Inputs in = make_inputs(batch, n, m, k, c);
  Tensor out = Tensor::empty({batch, m, k, 3 + c}, DType::F32, Device::CUDA);
  Tensor mask = Tensor::empty({batch, m}, DType::F32, Device::CUDA);
  Tensor err = Tensor::empty({4}, DType::I32, Device::CUDA);
  const std::size_t ws_bytes = pointrt::ops::group_workspace_bytes();
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    pointrt::ops::group_cuda(in.xyz, &in.feats, in.centres, in.idx, in.cnt, out, pointrt::ops::GroupParams{}, err,
                             ws.get(), ws_bytes, s, &mask);
  });
}

}  // namespace

// Args: batch, N, M, K, C (SA1 and SA3 sizes; K is unused by the point gather).
BENCHMARK(BM_Gather)->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "n", "m", "k", "c"})
    ->Args({1, 16384, 4096, 32, 1})
    ->Args({8, 16384, 4096, 32, 1})
    ->Args({1, 1024, 512, 32, 128})
    ->Args({8, 1024, 512, 32, 128});
BENCHMARK(BM_Group)->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "n", "m", "k", "c"})
    ->Args({1, 16384, 4096, 32, 1})
    ->Args({8, 16384, 4096, 32, 1})
    ->Args({1, 1024, 512, 32, 128})
    ->Args({8, 1024, 512, 32, 128});
