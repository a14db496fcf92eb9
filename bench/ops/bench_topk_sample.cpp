// Centroid-aware top-k at the IA-SSD sizes (1024 -> 512 for SA3, 512 -> 256 for the vote sampler), C = 1 and 3,
// batch 1 and 8, on deterministic pseudo-random logits with many exact ties (a quarter saturated at 20).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/topk_sample/topk_sample.h"

namespace {

void BM_TopkSample(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int n = static_cast<int>(state.range(1));
  const int s = static_cast<int>(state.range(2));
  const int c = static_cast<int>(state.range(3));
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<int> step(-12, 12), pick(0, 3);
  std::vector<float> v(static_cast<std::size_t>(batch) * n * c);
  for (float& x : v) x = pick(rng) == 0 ? 20.f : 0.5f * static_cast<float>(step(rng));
  pointrt::Tensor d_logits = pointrt::Tensor::from_vector(v, {batch, n, c}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_idx = pointrt::Tensor::empty({batch, s}, pointrt::DType::I32, pointrt::Device::CUDA);
  const pointrt::ops::TopkSampleParams params{s};
  const std::size_t ws_bytes = pointrt::ops::topk_sample_workspace_bytes(batch, n, params);
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t st) {
    pointrt::ops::topk_sample_cuda(d_logits, d_idx, params, ws.get(), ws_bytes, st);
  });
}

}  // namespace

BENCHMARK(BM_TopkSample)->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "n", "s", "c"})
    ->Args({1, 1024, 512, 1})
    ->Args({8, 1024, 512, 1})
    ->Args({1, 512, 256, 1})
    ->Args({8, 512, 256, 1})
    ->Args({1, 1024, 512, 3})
    ->Args({8, 1024, 512, 3});
