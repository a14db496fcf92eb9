// NMSBEV on CUDA, batch 1 and 8, N = 256, 1024 (batch 1) and 4096 candidates (all above the score threshold). Names:
//   BM_NMSBEV_Clustered/<N>/<B>: jittered copies of the ground truth of KITTI frame b % 6 (frame 0 has one object,
//     so ~90% of the boxes sit in one cluster): the worst case.
//   BM_NMSBEV_Scene/<N>/<B>: a realistic pre-NMS set: ~N/16 objects (the frame's real boxes plus car / pedestrian /
//     cyclist sized pseudo-objects uniform in x 0..70, y -40..40, random headings), ~15 jittered copies each with
//     scores falling with the jitter, plus ~N/16 scattered low-score boxes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
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

std::vector<pointrt::Box3D> frame_boxes(int b) {
  const std::string root = pointrt::bench::shared_data_dir() + "/kitti/training/";
  const std::string id = "00000" + std::to_string(b % 6);
  const pointrt::KittiCalib calib = pointrt::read_kitti_calib(root + "calib/" + id + ".txt");
  std::vector<pointrt::Box3D> gt;
  for (const pointrt::KittiObject& o : pointrt::read_kitti_labels(root + "label_2/" + id + ".txt")) {
    if (o.type != "DontCare") gt.push_back(pointrt::to_lidar_box(o, calib));
  }
  return gt;
}

void scene_boxes(int batch, int n, std::vector<float>& boxes, std::vector<float>& scores) {
  boxes.clear();
  scores.clear();
  for (int b = 0; b < batch; ++b) {
    std::vector<pointrt::Box3D> objects = frame_boxes(b);
    std::mt19937_64 rng(4321u + static_cast<unsigned>(b));
    std::normal_distribution<float> jit(0.f, 1.f);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    const int n_objects = std::max(1, n / 16);
    const float sizes[3][3] = {{3.9f, 1.6f, 1.56f}, {0.8f, 0.6f, 1.73f}, {1.76f, 0.6f, 1.73f}};  // car, ped, cyclist
    while (static_cast<int>(objects.size()) < n_objects) {
      const float* sz = sizes[rng() % 3];
      pointrt::Box3D o{};
      o.x = 70.f * u(rng);
      o.y = 80.f * u(rng) - 40.f;
      o.z = -1.f;
      o.dx = sz[0] * (0.9f + 0.2f * u(rng));
      o.dy = sz[1] * (0.9f + 0.2f * u(rng));
      o.dz = sz[2];
      o.heading = 6.28f * u(rng) - 3.14f;
      objects.push_back(o);
    }
    const int n_scattered = n / 16;
    for (int i = 0; i < n; ++i) {
      if (i < n_scattered) {
        boxes.insert(boxes.end(), {70.f * u(rng), 80.f * u(rng) - 40.f, -1.f, 0.5f + 4.f * u(rng), 0.5f + 2.f * u(rng),
                                   1.5f, 6.28f * u(rng) - 3.14f, 1.f});
        scores.push_back(0.1f + 0.2f * u(rng));
      } else {
        const pointrt::Box3D& g = objects[static_cast<std::size_t>(i) % objects.size()];
        const float e = std::abs(jit(rng));  // jitter size; the score falls with it
        const float ex = 0.3f * e * jit(rng), ey = 0.3f * e * jit(rng);
        boxes.insert(boxes.end(), {g.x + ex, g.y + ey, g.z, g.dx * (1.f + 0.08f * e * jit(rng)),
                                   g.dy * (1.f + 0.08f * e * jit(rng)), g.dz, g.heading + 0.1f * e * jit(rng), 1.f});
        const float base = 0.5f + 0.45f * static_cast<float>((static_cast<std::size_t>(i) % objects.size()) % 7) / 7.f;
        scores.push_back(std::max(0.1f, base - 0.15f * e + 0.02f * u(rng)));
      }
    }
  }
}

void run_nms(benchmark::State& state, bool scene) {
  const int n = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  std::vector<float> boxes, scores;
  if (scene) {
    scene_boxes(batch, n, boxes, scores);
  } else {
    jittered_boxes(batch, n, boxes, scores);
  }
  const pointrt::ops::NmsBevParams params;  // 0.1 / 0.01 / P = 256 / pre_max 4096
  const std::int64_t b = batch, p = params.max_out;
  pointrt::core::DeviceBuffer d_boxes(boxes.size() * sizeof(float)), d_scores(scores.size() * sizeof(float));
  pointrt::core::DeviceBuffer d_ob(static_cast<std::size_t>(b * p * 8) * sizeof(float)),
      d_os(static_cast<std::size_t>(b * p) * sizeof(float)), d_on(static_cast<std::size_t>(b) * sizeof(int));
  pointrt::core::cuda_copy(d_boxes.get(), true, boxes.data(), false, d_boxes.size());  // waits for the device
  pointrt::core::cuda_copy(d_scores.get(), true, scores.data(), false, d_scores.size());
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
  // Kept boxes of item 0 (outside the timing): shows how far the greedy pass went.
  int kept = 0;
  POINTRT_CUDA_CHECK(cudaMemcpy(&kept, d_on.get(), sizeof(int), cudaMemcpyDeviceToHost));
  state.counters["kept0"] = kept;
}

void BM_NMSBEV_Clustered(benchmark::State& state) { run_nms(state, false); }
void BM_NMSBEV_Scene(benchmark::State& state) { run_nms(state, true); }

}  // namespace

BENCHMARK(BM_NMSBEV_Clustered)->Apply(pointrt::bench::device_timed)
    ->Args({256, 1})
    ->Args({1024, 1})
    ->Args({4096, 1})
    ->Args({256, 8})
    ->Args({4096, 8});
BENCHMARK(BM_NMSBEV_Scene)->Apply(pointrt::bench::device_timed)
    ->Args({256, 1})
    ->Args({1024, 1})
    ->Args({4096, 1})
    ->Args({256, 8})
    ->Args({4096, 8});
