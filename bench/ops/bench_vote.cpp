// Vote centres at the IA-SSD size (M = 256 vote centres), batch 1 and 8, on pseudo-random KITTI-range centres and
// offsets ~ N(0, 2) (a good share beyond the default clamp of (3, 3, 2) m).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/vote/vote.h"

namespace {

void BM_Vote(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<float> x(0.f, 70.4f), y(-40.f, 40.f), z(-3.f, 1.f);
  std::normal_distribution<float> off(0.f, 2.f);
  std::vector<float> xyz, o;
  for (int i = 0; i < batch * m; ++i) {
    xyz.insert(xyz.end(), {x(rng), y(rng), z(rng)});
    o.insert(o.end(), {off(rng), off(rng), off(rng)});
  }
  pointrt::Tensor d_xyz = pointrt::Tensor::from_vector(xyz, {batch, m, 3}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_off = pointrt::Tensor::from_vector(o, {batch, m, 3}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_out = pointrt::Tensor::empty({batch, m, 3}, pointrt::DType::F32, pointrt::Device::CUDA);
  const pointrt::ops::VoteParams params;
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t st) {
    pointrt::ops::vote_cuda(d_xyz, d_off, d_out, params, st);
  });
}

}  // namespace

BENCHMARK(BM_Vote)->Apply(pointrt::bench::device_timed)->ArgNames({"batch", "m"})->Args({1, 256})->Args({8, 256});
