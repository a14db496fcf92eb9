// BallQuery and GridBallQuery on real KITTI frames: each of the eight IA-SSD hvcsx2 ball queries alone, and all eight
// back to back on one stream (the number design.md's targets refer to), at batch 1 and 8. BM_GridBallQuery_All8 runs
// the two sets of each SA layer through grid_ball_query_multi_cuda (one build and one query launch per layer).
// Sources of a layer are the first N points of the preprocessed (shuffled) frame, queries the first M sources; the
// vote-SA queries are shifted by up to 1.5 m. Grid cell sizes: (0.4, 0.4, 0.35) for SA1, (2, 2, 1.75) for SA2 (the
// HAVSampling start sizes), and cells of the larger radius of the layer for SA3 (4.8) and vote-SA (6.4).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/cuda_utils.h"
#include "ops/ball_query/ball_query.h"
#include "ops/bench_util.h"
#include "ops/grid_ball_query/grid_ball_query.h"

using namespace pointrt;

namespace {

struct Layer {
  const char* name;
  int n, m;
  float r;
  int k;
  bool vote;
  float vx, vy, vz;
};

const Layer kLayers[8] = {
    {"SA1_r0.2_k16", 16384, 4096, 0.2f, 16, false, 0.4f, 0.4f, 0.35f},
    {"SA1_r0.8_k32", 16384, 4096, 0.8f, 32, false, 0.4f, 0.4f, 0.35f},
    {"SA2_r0.8_k16", 4096, 1024, 0.8f, 16, false, 2.f, 2.f, 1.75f},
    {"SA2_r1.6_k32", 4096, 1024, 1.6f, 32, false, 2.f, 2.f, 1.75f},
    {"SA3_r1.6_k16", 1024, 512, 1.6f, 16, false, 4.8f, 4.8f, 4.8f},
    {"SA3_r4.8_k32", 1024, 512, 4.8f, 32, false, 4.8f, 4.8f, 4.8f},
    {"VSA_r4.8_k16", 512, 256, 4.8f, 16, true, 6.4f, 6.4f, 6.4f},
    {"VSA_r6.4_k32", 512, 256, 6.4f, 32, true, 6.4f, 6.4f, 6.4f},
};

// Device inputs, outputs and workspace of one layer at one batch size, allocated once.
struct LayerData {
  core::DeviceBuffer xyz, q, vox, cnt, idx, ws_ball, ws_grid;
  Tensor t_xyz, t_q, t_vox, t_cnt, t_idx;
  std::size_t ball_bytes = 0, grid_bytes = 0;

  LayerData(const Tensor& points, const Layer& l) {
    const std::int64_t b = points.dim(0), total = points.dim(1);
    std::vector<float> h_xyz, h_q, h_vox;
    for (std::int64_t i = 0; i < b; ++i) {
      for (int j = 0; j < l.n; ++j) {
        const float* p = points.data_as<float>() + (i * total + j) * 4;
        h_xyz.insert(h_xyz.end(), {p[0], p[1], p[2]});
        if (j < l.m) {
          const float dx = l.vote ? 0.75f * static_cast<float>(j % 5) - 1.5f : 0.f;
          h_q.insert(h_q.end(), {p[0] + dx, p[1], p[2]});
        }
      }
      h_vox.insert(h_vox.end(), {l.vx, l.vy, l.vz});
    }
    t_xyz = upload(xyz, Tensor::from_vector(h_xyz, {b, l.n, 3}));
    t_q = upload(q, Tensor::from_vector(h_q, {b, l.m, 3}));
    t_vox = upload(vox, Tensor::from_vector(h_vox, {b, 3}));
    cnt = core::DeviceBuffer(static_cast<std::size_t>(b * l.m) * 4);
    idx = core::DeviceBuffer(static_cast<std::size_t>(b * l.m * l.k) * 4);
    t_cnt = Tensor::view(cnt.get(), {b, l.m}, DType::I32, Device::CUDA);
    t_idx = Tensor::view(idx.get(), {b, l.m, l.k}, DType::I32, Device::CUDA);
    ball_bytes = ops::ball_query_workspace_bytes(b, l.n, l.m, {l.r, l.k});
    grid_bytes = ops::grid_ball_query_workspace_bytes(b, l.n, l.m, {l.r, l.k});
    if (ball_bytes > 0) ws_ball = core::DeviceBuffer(ball_bytes);
    ws_grid = core::DeviceBuffer(grid_bytes);
  }

  static Tensor upload(core::DeviceBuffer& buf, const Tensor& host) {
    buf = core::DeviceBuffer(host.nbytes());
    Tensor t = Tensor::view(buf.get(), host.shape(), host.dtype(), Device::CUDA);
    t.copy_from(host);
    return t;
  }

  void ball(const Layer& l, cudaStream_t s) {
    ops::ball_query_cuda(t_xyz, t_q, {l.r, l.k}, t_cnt, t_idx, ws_ball.get(), ball_bytes, s);
  }
  void grid(const Layer& l, cudaStream_t s) {
    ops::grid_ball_query_cuda(t_xyz, t_q, t_vox, {l.r, l.k}, t_cnt, t_idx, ws_grid.get(), grid_bytes, s);
  }
};

std::vector<std::unique_ptr<LayerData>> make_all(int batch) {
  const Tensor points = bench::kitti_points(batch);
  std::vector<std::unique_ptr<LayerData>> all;
  for (const Layer& l : kLayers) all.push_back(std::make_unique<LayerData>(points, l));
  return all;
}

void BM_BallQuery(benchmark::State& state, int layer) {
  const int batch = static_cast<int>(state.range(0));
  const Tensor points = bench::kitti_points(batch);
  LayerData d(points, kLayers[layer]);
  core::Stream stream;
  bench::time_cuda(state, stream.get(), [&](cudaStream_t s) { d.ball(kLayers[layer], s); });
}

void BM_GridBallQuery(benchmark::State& state, int layer) {
  const int batch = static_cast<int>(state.range(0));
  const Tensor points = bench::kitti_points(batch);
  LayerData d(points, kLayers[layer]);
  core::Stream stream;
  bench::time_cuda(state, stream.get(), [&](cudaStream_t s) { d.grid(kLayers[layer], s); });
}

void BM_BallQuery_All8(benchmark::State& state) {
  auto all = make_all(static_cast<int>(state.range(0)));
  core::Stream stream;
  bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    for (int i = 0; i < 8; ++i) all[static_cast<std::size_t>(i)]->ball(kLayers[i], s);
  });
}

// The two groupers of an SA layer share sources, queries and voxel: one grid build and one query launch per layer
// (grid_ball_query_multi_cuda), as the engine runs them.
void BM_GridBallQuery_All8(benchmark::State& state) {
  auto all = make_all(static_cast<int>(state.range(0)));
  core::Stream stream;
  bench::time_cuda(state, stream.get(), [&](cudaStream_t s) {
    for (int i = 0; i < 8; i += 2) {
      LayerData& a = *all[static_cast<std::size_t>(i)];
      LayerData& c = *all[static_cast<std::size_t>(i) + 1];
      const ops::GridBallQuerySet sets[2] = {{{kLayers[i].r, kLayers[i].k}, &a.t_cnt, &a.t_idx},
                                             {{kLayers[i + 1].r, kLayers[i + 1].k}, &c.t_cnt, &c.t_idx}};
      ops::grid_ball_query_multi_cuda(a.t_xyz, a.t_q, a.t_vox, sets, 2, a.ws_grid.get(), a.grid_bytes, s);
    }
  });
}

int register_all() {
  for (int i = 0; i < 8; ++i) {
    benchmark::RegisterBenchmark((std::string("BM_BallQuery/") + kLayers[i].name).c_str(), BM_BallQuery, i)
        ->Apply(bench::device_timed)->ArgName("batch")->Arg(1)->Arg(8);
  }
  for (int i = 0; i < 8; ++i) {
    benchmark::RegisterBenchmark((std::string("BM_GridBallQuery/") + kLayers[i].name).c_str(), BM_GridBallQuery, i)
        ->Apply(bench::device_timed)->ArgName("batch")->Arg(1)->Arg(8);
  }
  return 0;
}

const int kRegistered = register_all();

}  // namespace

BENCHMARK(BM_BallQuery_All8)->Apply(bench::device_timed)->ArgName("batch")->Arg(1)->Arg(8);
BENCHMARK(BM_GridBallQuery_All8)->Apply(bench::device_timed)->ArgName("batch")->Arg(1)->Arg(8);
