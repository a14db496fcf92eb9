// NMSBEV on CUDA: N candidate boxes jittered around the KITTI ground truth (real overlap), batch 1 and 8.
// Names: BM_NMSBEV/<N>/<B>.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/cuda_utils.h"
#include "ops/nms_bev/nms_bev.h"
#include "pointrt/detection.h"

namespace {


// [B, n, 8] boxes and [B, n] scores, item b around the ground truth of KITTI frame b % 6; seeded.
void jittered_boxes(int batch, int n, std::vector<float>& boxes, std::vector<float>& scores) {
  const std::string root = pointrt::bench::shared_data_dir() + "/kitti/training/";
  boxes.clear();
  scores.clear();
  for (int b = 0; b < batch; ++b) {
    const std::string id = "00000" + std::to_string(b % 6);
    const pointrt::KittiCalib calib = pointrt::read_kitti_calib(root + "calib/" + id + ".txt");
    std::vector<pointrt::Box3D> gt;
    for (const pointrt::KittiObject& o : pointrt::read_kitti_labels(root + "label_2/" + id + ".txt")) {
      if (o.type != "DontCare") gt.push_back(pointrt::to_lidar_box(o, calib));
    }
    std::mt19937_64 rng(1234u + static_cast<unsigned>(b));
    std::normal_distribution<float> jit(0.f, 1.f);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int i = 0; i < n; ++i) {
      if (gt.empty() || u(rng) < 0.1f) {
        boxes.insert(boxes.end(), {70.f * u(rng), 80.f * u(rng) - 40.f, -1.f, 0.5f + 4.f * u(rng), 0.5f + 2.f * u(rng),
                                   1.5f, 6.28f * u(rng) - 3.14f, 1.f});
      } else {
        const pointrt::Box3D& g = gt[static_cast<std::size_t>(rng() % gt.size())];
        boxes.insert(boxes.end(), {g.x + 0.4f * jit(rng), g.y + 0.4f * jit(rng), g.z, g.dx * (1.f + 0.1f * jit(rng)),
                                   g.dy * (1.f + 0.1f * jit(rng)), g.dz, g.heading + 0.15f * jit(rng), 1.f});
      }
      scores.push_back(0.1f + 0.9f * u(rng));  // all candidates: N is the candidate count
    }
  }
}

void BM_NMSBEV(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  std::vector<float> boxes, scores;
  jittered_boxes(batch, n, boxes, scores);
  const pointrt::ops::NmsBevParams params;  // 0.1 / 0.01 / P = 256 / pre_max 4096
  const std::int64_t b = batch, p = params.max_out;
  pointrt::core::DeviceBuffer d_boxes(boxes.size() * sizeof(float)), d_scores(scores.size() * sizeof(float));
  pointrt::core::DeviceBuffer d_ob(static_cast<std::size_t>(b * p * 8) * sizeof(float)),
      d_os(static_cast<std::size_t>(b * p) * sizeof(float)), d_on(static_cast<std::size_t>(b) * sizeof(int));
  POINTRT_CUDA_CHECK(cudaMemcpy(d_boxes.get(), boxes.data(), d_boxes.size(), cudaMemcpyHostToDevice));
  POINTRT_CUDA_CHECK(cudaMemcpy(d_scores.get(), scores.data(), d_scores.size(), cudaMemcpyHostToDevice));
  using pointrt::Tensor;
  const Tensor t_boxes = Tensor::view(d_boxes.get(), {b, n, 8}, pointrt::DType::F32, pointrt::Device::CUDA);
  const Tensor t_scores = Tensor::view(d_scores.get(), {b, n}, pointrt::DType::F32, pointrt::Device::CUDA);
  Tensor t_ob = Tensor::view(d_ob.get(), {b, p, 8}, pointrt::DType::F32, pointrt::Device::CUDA);
  Tensor t_os = Tensor::view(d_os.get(), {b, p}, pointrt::DType::F32, pointrt::Device::CUDA);
  Tensor t_on = Tensor::view(d_on.get(), {b}, pointrt::DType::I32, pointrt::Device::CUDA);
  const std::size_t ws_bytes = pointrt::ops::nms_bev_workspace_bytes(b, n, params);
  pointrt::core::DeviceBuffer ws(ws_bytes);
  pointrt::core::Stream stream;
  pointrt::bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    pointrt::ops::nms_bev_cuda(t_boxes, t_scores, t_ob, t_os, t_on, params, ws.get(), ws_bytes, s);
  });
  state.counters["candidates"] = n;
  state.counters["batch"] = batch;
}

}  // namespace

BENCHMARK(BM_NMSBEV)
    ->Args({256, 1})
    ->Args({4096, 1})
    ->Args({256, 8})
    ->Args({4096, 8})
    ->UseManualTime()
    ->Iterations(pointrt::bench::kIterations)
    ->Unit(benchmark::kMicrosecond);
