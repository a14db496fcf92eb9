// FPS / D-FPS: the CPU reference against an independent oracle and hand-worked cases, the CUDA kernel against the
// CPU reference (exact indices) on real KITTI frames and adversarial clouds, and validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "ops/fps/fps.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::FpsParams;

namespace {

using pointrt::testing::expect_error;

Tensor cpu_fps(const Tensor& xyz, int m) {
  Tensor out = Tensor::zeros({xyz.dim(0), m}, DType::I32);
  ops::fps_cpu(xyz, out, FpsParams{m});
  return out;
}

// Independent oracle: for every pick j the distance of each point to its nearest earlier pick (capped at the initial
// 1e10), then the first maximum (std::max_element keeps the lowest index among equal values).
std::vector<std::int32_t> oracle_fps(const float* p, std::int64_t n, int m) {
  std::vector<std::int32_t> picks;
  if (m == 0) return picks;
  picks.push_back(0);
  std::vector<float> nearest(static_cast<std::size_t>(n), ops::kFpsInitialDistance);
  while (static_cast<int>(picks.size()) < m) {
    const std::int32_t s = picks.back();
    for (std::int64_t k = 0; k < n; ++k) {
      float dx = p[3 * k] - p[3 * s], dy = p[3 * k + 1] - p[3 * s + 1], dz = p[3 * k + 2] - p[3 * s + 2];
      float d = dx * dx;
      d = d + dy * dy;
      d = d + dz * dz;
      if (std::isnan(d)) d = 0.0f;
      nearest[k] = std::min(nearest[k], d);
    }
    picks.push_back(static_cast<std::int32_t>(std::max_element(nearest.begin(), nearest.end()) - nearest.begin()));
  }
  return picks;
}

void expect_matches_oracle(const Tensor& xyz, int m) {
  const Tensor got = cpu_fps(xyz, m);
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto want = oracle_fps(xyz.data_as<float>() + b * n * 3, n, m);
    const std::vector<std::int32_t> have(got.data_as<std::int32_t>() + b * m,
                                         got.data_as<std::int32_t>() + (b + 1) * m);
    ASSERT_EQ(have, want) << "batch item " << b;
  }
}

std::vector<std::int32_t> row(const Tensor& t, std::int64_t b) {
  const std::int64_t m = t.dim(1);
  return std::vector<std::int32_t>(t.data_as<std::int32_t>() + b * m, t.data_as<std::int32_t>() + (b + 1) * m);
}

Tensor points(const std::vector<float>& xyz) {
  return Tensor::from_vector(xyz, {1, static_cast<std::int64_t>(xyz.size() / 3), 3});
}


}  // namespace

TEST(Fps, CpuMatchesOracleOnRealFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  expect_matches_oracle(pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1})), 512);
  expect_matches_oracle(pointrt::testing::xyz_of(pointrt::testing::kitti_points({2, 3}, 4096)), 1024);
}

TEST(Fps, CpuRealFramePicksAreDistinctAndSpread) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor xyz = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0}, 4096));
  const Tensor idx = cpu_fps(xyz, 256);
  const auto picks = row(idx, 0);
  EXPECT_EQ(picks[0], 0);
  // Frames hold duplicate points, but 256 picks out of 4096 real points never run out of positive distances.
  EXPECT_EQ(std::set<std::int32_t>(picks.begin(), picks.end()).size(), picks.size());
  // The distance of pick j to its nearest earlier pick never increases with j (the FPS covering radius shrinks).
  const float* p = xyz.data_as<float>();
  float previous = std::numeric_limits<float>::infinity();
  for (std::size_t j = 1; j < picks.size(); ++j) {
    float best = std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < j; ++i) {
      best = std::min(best, ops::fps_sq_dist(p[3 * picks[j]], p[3 * picks[j] + 1], p[3 * picks[j] + 2], p[3 * picks[i]],
                                             p[3 * picks[i] + 1], p[3 * picks[i] + 2]));
    }
    EXPECT_LE(best, previous) << "pick " << j;
    EXPECT_GT(best, 0.0f) << "pick " << j;
    previous = best;
  }
}

TEST(Fps, CpuHandWorkedLineWithTies) {
  // 0 first; 4 is furthest; 2 is 4 from both 0 and 4; 1 and 3 tie at 1 -> the lower index 1, then 3; then all 0.
  const Tensor xyz = points({0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0});
  EXPECT_EQ(row(cpu_fps(xyz, 7), 0), (std::vector<std::int32_t>{0, 4, 2, 1, 3, 0, 0}));
}

TEST(Fps, CpuAllIdenticalGivesZeros) {
  const Tensor xyz = pointrt::testing::identical_points(2, 100, 1.5f, -2.f, 0.25f);
  const Tensor idx = cpu_fps(xyz, 10);
  for (int b = 0; b < 2; ++b) EXPECT_EQ(row(idx, b), std::vector<std::int32_t>(10, 0));
}

TEST(Fps, CpuOnePointAndZeroSamples) {
  EXPECT_EQ(row(cpu_fps(points({3, 4, 5}), 4), 0), std::vector<std::int32_t>(4, 0));
  const Tensor none = cpu_fps(points({3, 4, 5}), 0);
  EXPECT_EQ(none.numel(), 0);
  // M = 0 on an empty cloud is valid too.
  Tensor empty = Tensor::zeros({2, 0, 3}, DType::F32);
  EXPECT_EQ(cpu_fps(empty, 0).numel(), 0);
}

TEST(Fps, CpuMoreSamplesThanPoints) {
  const Tensor xyz = pointrt::testing::uniform_points(2, 20, -5.f, 5.f, 7);
  const Tensor idx = cpu_fps(xyz, 50);
  for (int b = 0; b < 2; ++b) {
    const auto r = row(idx, b);
    EXPECT_EQ(std::set<std::int32_t>(r.begin(), r.begin() + 20).size(), 20u) << "first N picks are a permutation";
    for (int j = 20; j < 50; ++j) EXPECT_EQ(r[j], 0) << "excess pick " << j;
  }
  expect_matches_oracle(xyz, 50);
}

TEST(Fps, CpuLatticeAndClustersMatchOracle) {
  expect_matches_oracle(pointrt::testing::lattice_points(2, 1000, 0.5f), 300);
  expect_matches_oracle(pointrt::testing::clustered_points(3, 2000, 5, 0.05f, 11), 64);
  // Duplicates: every lattice point twice, so excess picks happen after 512 distinct ones.
  const Tensor lat = pointrt::testing::lattice_points(1, 512, 1.f);
  Tensor twice = pointrt::testing::stack({lat.reshape({512, 3}), lat.reshape({512, 3})}).reshape({1, 1024, 3});
  expect_matches_oracle(twice, 600);
}

TEST(Fps, CpuNanCoordinatesCountAsCovered) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor xyz = points({0, 0, 0, nan, 0, 0, 1, 0, 0, 2, 0, 0});
  EXPECT_EQ(row(cpu_fps(xyz, 4), 0), (std::vector<std::int32_t>{0, 3, 2, 0}));
}

TEST(Fps, BadInputsGiveClearErrors) {
  const Tensor xyz = pointrt::testing::uniform_points(1, 10, 0.f, 1.f, 1);
  Tensor out = Tensor::zeros({1, 4}, DType::I32);
  expect_error(
      [&] {
        ops::fps_cpu(Tensor::zeros({1, 10, 4}, DType::F32), out, FpsParams{4});
      },
      {"fps: xyz: expected f32[*, *, 3]@host, got f32[1, 10, 4]@host"});
  expect_error([&] { ops::fps_cpu(Tensor::zeros({10, 3}, DType::F32), out, FpsParams{4}); }, {"fps: xyz"});
  expect_error([&] { ops::fps_cpu(Tensor::zeros({1, 10, 3}, DType::I32), out, FpsParams{4}); }, {"fps: xyz"});
  expect_error([&] { ops::fps_cpu(xyz, out, FpsParams{-1}); }, {"fps: num_samples must be >= 0, got -1"});
  expect_error([&] { ops::fps_cpu(xyz, out, FpsParams{5}); }, {"fps: indices: expected i32[1, 5]@host"});
  Tensor wrong_dtype = Tensor::zeros({1, 4}, DType::F32);
  expect_error([&] { ops::fps_cpu(xyz, wrong_dtype, FpsParams{4}); }, {"fps: indices"});
  expect_error(
      [&] {
        ops::fps_cpu(Tensor::zeros({1, 0, 3}, DType::F32), out, FpsParams{4});
      },
      {"fps: xyz: cannot sample 4 points from an empty cloud"});
#ifdef POINTRT_WITH_CUDA
  // Host tensors handed to the CUDA entry point are refused before any device work.
  expect_error([&] { ops::fps_cuda(xyz, out, FpsParams{4}, nullptr, 0, nullptr); },
               {"fps: xyz: expected f32[*, *, 3]@cuda, got f32[1, 10, 3]@host"});
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

// Runs the kernel on guarded device copies and compares with the CPU reference, exactly.
void expect_cuda_matches_cpu(const Tensor& xyz, int m, const std::string& what) {
  SCOPED_TRACE(what);
  const FpsParams params{m};
  const Tensor want = cpu_fps(xyz, m);
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz);
  pointrt::testing::GuardedDeviceTensor d_idx({xyz.dim(0), m}, DType::I32);
  pointrt::testing::GuardedWorkspace ws(ops::fps_workspace_bytes(xyz.dim(0), xyz.dim(1), params));
  ops::fps_cuda(d_xyz.tensor(), d_idx.tensor(), params, ws.get(), ws.size(), nullptr);
  const Tensor got = d_idx.to_host();
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want, got), "");
  EXPECT_TRUE(d_idx.guards_intact()) << "kernel wrote past the indices";
  EXPECT_TRUE(d_xyz.guards_intact());
  EXPECT_TRUE(ws.guards_intact()) << "kernel wrote past the workspace";
}

}  // namespace

TEST(FpsCuda, MatchesCpuOnRealFrames) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({0})), 4096, "16384->4096 B=1");
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1, 2})), 4096, "16384->4096 B=3");
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({3}, 4096)), 1024, "4096->1024 B=1");
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({3, 4, 5}, 4096)), 1024,
                          "4096->1024 B=3");
}

TEST(FpsCuda, MatchesCpuOnEveryKernelPath) {
  POINTRT_REQUIRE_CUDA();
  // N <= 1024 (one point per thread, partial block), <= 2048, <= 4096 (xyz in registers), <= 8192, <= 16384
  // (xyz in shared memory) and > 16384 (running minimum in the workspace).
  for (int n : {1, 31, 33, 1000, 1024, 1500, 3000, 4096, 6000, 12000, 16384, 20000}) {
    const int m = std::min(n + 5, 256);
    expect_cuda_matches_cpu(pointrt::testing::uniform_points(2, n, -40.f, 40.f, static_cast<std::uint64_t>(n)), m,
                            "uniform N=" + std::to_string(n));
  }
}

TEST(FpsCuda, MatchesCpuOnAdversarialClouds) {
  POINTRT_REQUIRE_CUDA();
  expect_cuda_matches_cpu(pointrt::testing::identical_points(2, 5000, 1.f, 2.f, 3.f), 64, "identical");
  expect_cuda_matches_cpu(points({3, 4, 5}), 8, "one point");
  expect_cuda_matches_cpu(pointrt::testing::uniform_points(3, 40, -1.f, 1.f, 3), 100, "M > N");
  expect_cuda_matches_cpu(pointrt::testing::lattice_points(2, 4096, 0.25f), 1024, "lattice 4096");
  expect_cuda_matches_cpu(pointrt::testing::lattice_points(1, 16384, 1.f), 2048, "lattice 16384");
  expect_cuda_matches_cpu(pointrt::testing::clustered_points(3, 16384, 8, 0.02f, 5), 1024, "clusters");
  expect_cuda_matches_cpu(points({0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0}), 7, "line with ties");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_cuda_matches_cpu(points({0, 0, 0, nan, 0, 0, 1, 0, 0, 2, 0, 0}), 4, "NaN coordinate");
  expect_cuda_matches_cpu(pointrt::testing::uniform_points(2, 100, 0.f, 1.f, 9), 0, "M = 0");
  // Different clouds per batch item: a lattice, a cluster set and real-like uniform noise stacked.
  const Tensor mixed =
      pointrt::testing::stack({pointrt::testing::lattice_points(1, 3000, 0.5f).reshape({3000, 3}),
                               pointrt::testing::clustered_points(1, 3000, 3, 0.1f, 8).reshape({3000, 3}),
                               pointrt::testing::identical_points(1, 3000, 0, 0, 0).reshape({3000, 3})});
  expect_cuda_matches_cpu(mixed, 512, "mixed batch");
}

TEST(FpsCuda, WorkspaceTooSmallIsRefused) {
  POINTRT_REQUIRE_CUDA();
  const Tensor xyz = pointrt::testing::uniform_points(1, 20000, 0.f, 1.f, 2);
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz);
  pointrt::testing::GuardedDeviceTensor d_idx({1, 16}, DType::I32);
  ASSERT_GT(ops::fps_workspace_bytes(1, 20000, FpsParams{16}), 0u);
  expect_error([&] { ops::fps_cuda(d_xyz.tensor(), d_idx.tensor(), FpsParams{16}, nullptr, 0, nullptr); },
               {"fps: workspace of 0 bytes is smaller than"});
}

#endif  // POINTRT_WITH_CUDA
