// Fused set-abstraction grouper (gather -> MLP -> max-pool) at the sizes of the eight groupers of IA-SSD hvcsx2
// (SA1 M=4096, SA2 M=1024, SA3 M=512, vote SA M=256; K 16 and 32), batch 1 and 8, on real KITTI xyz with strided
// centres, pseudo-random valid neighbour indices and random (Kaiming-scaled) weights. Counters: GMAC per call and
// TFLOP/s at the median (2 FLOP per MAC). BM_SaMlp_All8 runs the eight groupers as one captured graph. BM_SaMlp uses
// the automatic path; BM_SaMlpSimt forces the FP32 SIMT kernel and BM_SaMlpTc/<grouper>/cfg<i> the tensor-core
// kernel with tile shape i (for tuning the shape choice; a shape that does not fit falls back to the automatic one).
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/sa_mlp/sa_mlp.h"
#include "ops/sa_mlp/sa_mlp_path.h"

namespace {

using pointrt::Device;
using pointrt::DType;
using pointrt::Tensor;
using pointrt::ops::DenseLayer;

struct Grouper {
  const char* name;
  std::int64_t n, m, k, c;  // source points, centres, neighbours, feature channels (input width 3 + c)
  std::vector<std::int64_t> hidden;
};

// The eight groupers of IA-SSD hvcsx2 (spec/model-iassd.md section 2.3 and the vote SA layer).
const std::vector<Grouper>& groupers() {
  static const std::vector<Grouper> g{
      {"SA1_r0.2_K16", 16384, 4096, 16, 1, {16, 16, 32}},    {"SA1_r0.8_K32", 16384, 4096, 32, 1, {32, 32, 64}},
      {"SA2_r0.8_K16", 4096, 1024, 16, 64, {64, 64, 128}},   {"SA2_r1.6_K32", 4096, 1024, 32, 64, {64, 96, 128}},
      {"SA3_r1.6_K16", 1024, 512, 16, 128, {128, 128, 256}}, {"SA3_r4.8_K32", 1024, 512, 32, 128, {128, 256, 256}},
      {"VSA_r4.8_K16", 512, 256, 16, 256, {256, 256, 512}},  {"VSA_r6.4_K32", 512, 256, 32, 256, {256, 512, 1024}}};
  return g;
}

double macs(const Grouper& g, int batch) {
  double per_row = 0;
  std::int64_t cin = 3 + g.c;
  for (std::int64_t w : g.hidden) {
    per_row += static_cast<double>(cin) * static_cast<double>(w);
    cin = w;
  }
  return per_row * static_cast<double>(batch * g.m * g.k);
}

// Device inputs and outputs of one grouper call.
struct Call {
  Tensor xyz, feats, centres, idx, cnt, out, err;
  std::vector<DenseLayer> layers;
  pointrt::core::DeviceBuffer ws;
  std::size_t ws_bytes = 0;

  Call(const Grouper& g, int batch, std::uint64_t seed) {
    const Tensor pts = pointrt::bench::kitti_points(batch, static_cast<std::size_t>(g.n));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.f, 1.f);
    std::uniform_int_distribution<std::int32_t> u(0, static_cast<std::int32_t>(g.n - 1));
    std::vector<float> xyz_v, feats_v, centres_v;
    std::vector<std::int32_t> idx_v, cnt_v;
    for (std::int64_t i = 0; i < batch * g.n; ++i) {
      for (int j = 0; j < 3; ++j) xyz_v.push_back(pts.data_as<float>()[i * 4 + j]);
      for (std::int64_t j = 0; j < g.c; ++j) feats_v.push_back(g.c == 1 ? pts.data_as<float>()[i * 4 + 3] : d(rng));
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t j = 0; j < g.m; ++j) {
        const std::int64_t src = b * g.n + j * (g.n / g.m);
        for (int q = 0; q < 3; ++q) centres_v.push_back(xyz_v[static_cast<std::size_t>(src * 3 + q)]);
        cnt_v.push_back(static_cast<std::int32_t>(g.k));
        for (std::int64_t q = 0; q < g.k; ++q) idx_v.push_back(u(rng));
      }
    }
    xyz = Tensor::from_vector(xyz_v, {batch, g.n, 3}).to(Device::CUDA);
    feats = Tensor::from_vector(feats_v, {batch, g.n, g.c}).to(Device::CUDA);
    centres = Tensor::from_vector(centres_v, {batch, g.m, 3}).to(Device::CUDA);
    idx = Tensor::from_vector(idx_v, {batch, g.m, g.k}).to(Device::CUDA);
    cnt = Tensor::from_vector(cnt_v, {batch, g.m}).to(Device::CUDA);
    std::int64_t cin = 3 + g.c;
    for (std::int64_t w : g.hidden) {
      std::normal_distribution<float> wd(0.f, std::sqrt(2.f / static_cast<float>(cin)));
      std::vector<float> wv(static_cast<std::size_t>(w * cin)), bv(static_cast<std::size_t>(w));
      for (float& v : wv) v = wd(rng);
      for (float& v : bv) v = 0.1f * d(rng);
      layers.push_back(
          {Tensor::from_vector(wv, {w, cin}).to(Device::CUDA), Tensor::from_vector(bv, {w}).to(Device::CUDA), true});
      cin = w;
    }
    out = Tensor::empty({batch, g.m, g.hidden.back()}, DType::F32, Device::CUDA);
    err = Tensor::empty({4}, DType::I32, Device::CUDA);
    ws_bytes = pointrt::ops::sa_mlp_workspace_bytes(batch, g.m, g.k, layers);
    ws = pointrt::core::DeviceBuffer(ws_bytes);
  }

  void run(cudaStream_t s) {
    pointrt::ops::sa_mlp_cuda(xyz, &feats, centres, idx, cnt, layers, out, pointrt::ops::SaMlpParams{}, err, ws.get(),
                              ws_bytes, s);
  }
};

void report(benchmark::State& state, double total_macs) {
  state.counters["gmac"] = total_macs * 1e-9;
  const double p50 = state.counters["p50_us"];
  if (p50 > 0) state.counters["tflops_p50"] = 2.0 * total_macs / (p50 * 1e-6) * 1e-12;
}

void BM_SaMlp(benchmark::State& state, const Grouper& g) {
  const int batch = static_cast<int>(state.range(0));
  Call call(g, batch, 7);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) { call.run(s); });
  report(state, macs(g, batch));
}

void BM_SaMlpForced(benchmark::State& state, const Grouper& g, pointrt::ops::detail::SaMlpPath path, int cfg) {
  pointrt::ops::detail::sa_mlp_force_path(path);
  pointrt::ops::detail::sa_mlp_force_tc_config(cfg);
  BM_SaMlp(state, g);
  pointrt::ops::detail::sa_mlp_force_path(pointrt::ops::detail::SaMlpPath::Auto);
  pointrt::ops::detail::sa_mlp_force_tc_config(-1);
}

void BM_SaMlp_All8(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<Call>> calls;
  double total = 0;
  for (const Grouper& g : groupers()) {
    calls.push_back(std::make_unique<Call>(g, batch, 11));
    total += macs(g, batch);
  }
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    for (auto& c : calls) c->run(s);
  });
  report(state, total);
}

const bool registered = [] {
  for (const Grouper& g : groupers()) {
    benchmark::RegisterBenchmark((std::string("BM_SaMlp/") + g.name).c_str(),
                                 [&g](benchmark::State& st) { BM_SaMlp(st, g); })
        ->Apply(pointrt::bench::device_timed_batch_1_8);
    benchmark::RegisterBenchmark((std::string("BM_SaMlpSimt/") + g.name).c_str(),
                                 [&g](benchmark::State& st) {
                                   BM_SaMlpForced(st, g, pointrt::ops::detail::SaMlpPath::Simt, -1);
                                 })
        ->Apply(pointrt::bench::device_timed_batch_1_8);
    for (int cfg = 0; cfg < pointrt::ops::detail::sa_mlp_tc_config_count(); ++cfg) {
      benchmark::RegisterBenchmark((std::string("BM_SaMlpTc/") + g.name + "/cfg" + std::to_string(cfg)).c_str(),
                                   [&g, cfg](benchmark::State& st) {
                                     BM_SaMlpForced(st, g, pointrt::ops::detail::SaMlpPath::TensorCore, cfg);
                                   })
          ->Apply(pointrt::bench::device_timed_batch_1_8);
    }
  }
  return true;
}();

}  // namespace

BENCHMARK(BM_SaMlp_All8)->Apply(pointrt::bench::device_timed_batch_1_8);
