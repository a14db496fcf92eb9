// Bin-residual box decoding at the IA-SSD size (M = 256 vote centres, 3 classes, 12 heading bins: codes [B, M, 30]),
// batch 1 and 8, both heading coders, on pseudo-random head outputs of realistic spread.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/box_decode/box_decode.h"

namespace {

void BM_BoxDecode(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  const bool bin_ori = state.range(2) != 0;
  constexpr int kClasses = 3, kBins = 12, kWidth = 6 + 2 * kBins;
  std::mt19937_64 rng(12345);
  std::normal_distribution<float> logit(0.f, 3.f), code(0.f, 0.5f), bin(0.f, 2.f);
  std::uniform_real_distribution<float> x(0.f, 70.4f), y(-40.f, 40.f), z(-3.f, 1.f);
  const std::size_t rows = static_cast<std::size_t>(batch) * m;
  std::vector<float> cls(rows * kClasses), reg(rows * kWidth), ctr;
  for (float& v : cls) v = logit(rng);
  for (std::size_t i = 0; i < reg.size(); ++i) reg[i] = i % kWidth < 6 ? code(rng) : bin(rng);
  for (int i = 0; i < batch * m; ++i) ctr.insert(ctr.end(), {x(rng), y(rng), z(rng)});
  pointrt::Tensor d_cls = pointrt::Tensor::from_vector(cls, {batch, m, kClasses}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_reg = pointrt::Tensor::from_vector(reg, {batch, m, kWidth}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_ctr = pointrt::Tensor::from_vector(ctr, {batch, m, 3}).to(pointrt::Device::CUDA);
  pointrt::Tensor d_boxes = pointrt::Tensor::empty({batch, m, 8}, pointrt::DType::F32, pointrt::Device::CUDA);
  pointrt::Tensor d_scores = pointrt::Tensor::empty({batch, m}, pointrt::DType::F32, pointrt::Device::CUDA);
  pointrt::ops::BoxDecodeParams params;
  params.num_heading_bins = kBins;
  params.coder = bin_ori ? pointrt::ops::HeadingCoder::BinOri : pointrt::ops::HeadingCoder::BinResidual;
  params.mean_size = {{3.9f, 1.6f, 1.56f}, {0.8f, 0.6f, 1.73f}, {1.76f, 0.6f, 1.73f}};
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t st) {
    pointrt::ops::box_decode_cuda(d_cls, d_reg, d_ctr, d_boxes, d_scores, params, st);
  });
}

}  // namespace

BENCHMARK(BM_BoxDecode)->Apply(pointrt::bench::device_timed)
    ->ArgNames({"batch", "m", "bin_ori"})
    ->Args({1, 256, 0})
    ->Args({8, 256, 0})
    ->Args({1, 256, 1})
    ->Args({8, 256, 1});
