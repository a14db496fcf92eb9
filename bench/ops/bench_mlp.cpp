// Pointwise MLPs of IA-SSD hvcsx2 at their real sizes (batch 1 and 8): the SA aggregations 4096x96->64,
// 1024x256->128, 512x512->256, their score heads (->1), the vote layer 256x256->128->3, the shared head layer
// 256x1536->512 and the class/box heads 256x512->256->256->3 / ->30.
// Inputs are the real KITTI points (x, y, z, intensity) repeated over the channels, scaled to unit range; weights
// are random (Kaiming-scaled). Counters: GMAC per call and TFLOP/s at the median.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/mlp/mlp.h"

namespace {

using pointrt::Device;
using pointrt::DType;
using pointrt::Tensor;
using pointrt::ops::DenseLayer;

struct Case {
  const char* name;
  std::int64_t rows;  // per batch item
  std::vector<std::int64_t> widths;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c{{"SA1_agg_4096x96-64", 4096, {96, 64}},
                                   {"SA2_agg_1024x256-128", 1024, {256, 128}},
                                   {"SA2_score_1024x128-128-1", 1024, {128, 128, 1}},
                                   {"SA3_agg_512x512-256", 512, {512, 256}},
                                   {"SA3_score_512x256-256-1", 512, {256, 256, 1}},
                                   {"vote_256x256-128-3", 256, {256, 128, 3}},
                                   {"shared_256x1536-512", 256, {1536, 512}},
                                   {"head_256x512-256-256-3", 256, {512, 256, 256, 3}},
                                   {"head_256x512-256-256-30", 256, {512, 256, 256, 30}}};
  return c;
}

void BM_Mlp(benchmark::State& state, const Case& c) {
  const int batch = static_cast<int>(state.range(0));
  const std::int64_t rows = batch * c.rows, c0 = c.widths.front();
  // Inputs from real points: channel j of row r is coordinate j % 4 of point r, scaled to about unit range.
  const Tensor pts = pointrt::bench::kitti_points(batch, static_cast<std::size_t>(c.rows));
  std::vector<float> xv(static_cast<std::size_t>(rows * c0));
  const float scale[4] = {1.f / 40.f, 1.f / 40.f, 1.f / 2.f, 1.f};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < c0; ++j)
      xv[static_cast<std::size_t>(r * c0 + j)] = pts.data_as<float>()[r * 4 + j % 4] * scale[j % 4];
  }
  const Tensor x = Tensor::from_vector(xv, {rows, c0}).to(Device::CUDA);
  std::mt19937_64 rng(3);
  std::vector<DenseLayer> layers;
  double macs = 0;
  for (std::size_t j = 0; j + 1 < c.widths.size(); ++j) {
    const std::int64_t cin = c.widths[j], cout = c.widths[j + 1];
    std::normal_distribution<float> wd(0.f, std::sqrt(2.f / static_cast<float>(cin)));
    std::vector<float> wv(static_cast<std::size_t>(cout * cin)), bv(static_cast<std::size_t>(cout), 0.01f);
    for (float& v : wv) v = wd(rng);
    layers.push_back({Tensor::from_vector(wv, {cout, cin}).to(Device::CUDA),
                      Tensor::from_vector(bv, {cout}).to(Device::CUDA), j + 2 < c.widths.size()});
    macs += static_cast<double>(rows) * static_cast<double>(cin * cout);
  }
  Tensor out = Tensor::empty({rows, c.widths.back()}, DType::F32, Device::CUDA);
  const std::size_t ws_bytes = pointrt::ops::mlp_workspace_bytes(rows, layers);
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(),
                            [&](cudaStream_t s) { pointrt::ops::mlp_cuda(x, layers, out, ws.get(), ws_bytes, s); });
  state.counters["gmac"] = macs * 1e-9;
  const double p50 = state.counters["p50_us"];
  if (p50 > 0) state.counters["tflops_p50"] = 2.0 * macs / (p50 * 1e-6) * 1e-12;
}

const bool registered = [] {
  for (const Case& c : cases()) {
    benchmark::RegisterBenchmark((std::string("BM_Mlp/") + c.name).c_str(),
                                 [&c](benchmark::State& st) { BM_Mlp(st, c); })
        ->Apply(pointrt::bench::device_timed_batch_1_8);
  }
  return true;
}();

}  // namespace
