// GridBallQuery: returns exactly what BallQuery returns (CPU and CUDA) on real KITTI frames with voxel sizes around,
// far below and far above the radius, per-batch voxel sizes, invalid voxel sizes (linear-scan fallback) and
// adversarial clouds; the window lemma on random pairs; guard regions; clear errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/ball_query/ball_query.h"
#include "ops/grid_ball_query/grid_ball_query.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::BallQueryParams;
using pointrt::ops::GridBallQueryParams;

namespace {

using pointrt::testing::first_rows;

// [B, 3] with the same voxel size for every batch item.
Tensor voxels(std::int64_t b, float vx, float vy, float vz) {
  std::vector<float> v;
  for (std::int64_t i = 0; i < b; ++i) v.insert(v.end(), {vx, vy, vz});
  return Tensor::from_vector(v, {b, 3});
}

struct Result {
  Tensor cnt, idx;
};

Result ball_cpu(const Tensor& xyz, const Tensor& q, float r, int k) {
  Result out{Tensor::zeros({xyz.dim(0), q.dim(1)}, DType::I32), Tensor::zeros({xyz.dim(0), q.dim(1), k}, DType::I32)};
  ops::ball_query_cpu(xyz, q, BallQueryParams{r, k}, out.cnt, out.idx);
  return out;
}

Result grid_cpu(const Tensor& xyz, const Tensor& q, const Tensor& vox, float r, int k) {
  Result out{Tensor::zeros({xyz.dim(0), q.dim(1)}, DType::I32), Tensor::zeros({xyz.dim(0), q.dim(1), k}, DType::I32)};
  ops::grid_ball_query_cpu(xyz, q, vox, GridBallQueryParams{r, k}, out.cnt, out.idx);
  return out;
}

void expect_same(const Result& want, const Result& got, const std::string& what) {
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want.cnt, got.cnt), "") << what << " idx_cnt";
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want.idx, got.idx), "") << what << " idx";
}

// How many queries take the grid path (the rest scan linearly), to show a case exercises what it claims to.
std::int64_t grid_path_queries(const Tensor& xyz, const Tensor& q, const Tensor& vox, float r) {
  std::int64_t count = 0;
  for (std::int64_t b = 0; b < q.dim(0); ++b) {
    const float* v = vox.data_as<float>() + 3 * b;
    for (std::int64_t j = 0; j < q.dim(1); ++j) {
      const float* c = q.data_as<float>() + (b * q.dim(1) + j) * 3;
      ops::detail::GbqWindow w{};
      count += ops::detail::gbq_window(c[0], c[1], c[2], v[0], v[1], v[2], r, xyz.dim(1), &w) ? 1 : 0;
    }
  }
  return count;
}

struct RealCase {
  std::string name;
  int n, m;
  float r;
  int k;
  float vx, vy, vz;
  bool all_grid;  // every query must take the grid path
};

const std::vector<RealCase>& real_cases() {
  static const std::vector<RealCase> cases = {
      {"SA1_0 v=0.4", 16384, 4096, 0.2f, 16, 0.4f, 0.4f, 0.35f, true},
      {"SA1_1 v=0.4", 16384, 4096, 0.8f, 32, 0.4f, 0.4f, 0.35f, true},
      {"SA2_0 v=2", 4096, 1024, 0.8f, 16, 2.f, 2.f, 1.75f, true},
      {"SA2_1 v=2", 4096, 1024, 1.6f, 32, 2.f, 2.f, 1.75f, true},
      {"SA1_0 v=0.05 (small)", 16384, 4096, 0.2f, 16, 0.05f, 0.05f, 0.05f, true},
      {"SA1_1 v=0.01 (tiny: scan)", 16384, 4096, 0.8f, 32, 0.01f, 0.01f, 0.01f, false},
      {"SA1_1 v=8 (large)", 16384, 4096, 0.8f, 32, 8.f, 8.f, 7.f, true},
      {"SA2_1 v=100 (huge)", 4096, 1024, 1.6f, 32, 100.f, 100.f, 100.f, true},
      {"SA2_0 v=0.4 (r = 2 cells)", 4096, 1024, 0.8f, 16, 0.4f, 0.4f, 0.4f, true},
  };
  return cases;
}

std::vector<std::pair<std::string, std::vector<Tensor>>> adversarial_cases() {
  // (name, {xyz, q, voxel, r as [1] tensor, k as [1] tensor})
  std::vector<std::pair<std::string, std::vector<Tensor>>> cases;
  auto add = [&](const std::string& name, const Tensor& xyz, const Tensor& q, const Tensor& vox, float r, int k) {
    cases.push_back({name, {xyz, q, vox, Tensor::from_vector(std::vector<float>{r}, {1}),
                            Tensor::from_vector(std::vector<std::int32_t>{k}, {1})}});
  };
  Tensor same = pointrt::testing::identical_points(2, 100, 1.f, 2.f, -1.f);
  add("identical", same, first_rows(same, 7), voxels(2, 0.4f, 0.4f, 0.35f), 0.2f, 16);
  Tensor few = pointrt::testing::identical_points(2, 5, 1.f, 2.f, -1.f);
  add("fewer_than_k", few, few, voxels(2, 0.4f, 0.4f, 0.35f), 0.2f, 16);
  Tensor one = pointrt::testing::identical_points(1, 1, 3.f, 0.f, 0.f);
  add("one_point", one, pointrt::testing::identical_points(1, 3, 3.1f, 0.f, 0.f), voxels(1, 0.4f, 0.4f, 0.4f), 0.2f, 8);
  Tensor clusters = pointrt::testing::clustered_points(3, 2048, 8, 0.05f, 11);
  add("clusters", clusters, first_rows(clusters, 300), voxels(3, 0.1f, 0.1f, 0.1f), 0.2f, 32);
  add("clusters_k100", clusters, first_rows(clusters, 70), voxels(3, 0.4f, 0.4f, 0.35f), 0.3f, 100);
  add("empty_balls", clusters, pointrt::testing::identical_points(3, 40, 500.f, 500.f, 500.f),
      voxels(3, 0.4f, 0.4f, 0.35f), 1.f, 16);
  Tensor lattice = pointrt::testing::lattice_points(2, 1000, 0.5f);
  // Points exactly on cell faces and exactly on the sphere.
  add("lattice_cell_eq_step", lattice, first_rows(lattice, 1000), voxels(2, 0.5f, 0.5f, 0.5f), 0.5f, 8);
  add("lattice_cell_eq_step_r_up", lattice, first_rows(lattice, 1000), voxels(2, 0.5f, 0.5f, 0.5f),
      std::nextafter(0.5f, 1.f), 8);
  add("lattice_cell_half_step", lattice, first_rows(lattice, 1000), voxels(2, 0.25f, 0.25f, 0.25f), 1.f, 32);
  add("lattice_cell_r", lattice, first_rows(lattice, 1000), voxels(2, 1.f, 1.f, 1.f), 1.f, 32);
  Tensor uniform = pointrt::testing::uniform_points(2, 3000, -2.f, 2.f, 5);
  add("uniform_negative_coords", uniform, first_rows(uniform, 500), voxels(2, 0.3f, 0.2f, 0.7f), 0.45f, 40);
  add("voxel_zero_scans", uniform, first_rows(uniform, 100), voxels(2, 0.f, 0.3f, 0.3f), 0.45f, 40);
  add("voxel_nan_scans", uniform, first_rows(uniform, 100),
      voxels(2, std::numeric_limits<float>::quiet_NaN(), 0.3f, 0.3f), 0.45f, 40);
  add("voxel_negative_scans", uniform, first_rows(uniform, 100), voxels(2, -0.3f, 0.3f, 0.3f), 0.45f, 40);
  add("voxel_denormal", uniform, first_rows(uniform, 100), voxels(2, 1e-44f, 0.3f, 0.3f), 0.45f, 40);
  Tensor holes = uniform;
  holes = first_rows(uniform, 3000);
  holes.data_as<float>()[3 * 10] = std::numeric_limits<float>::quiet_NaN();
  holes.data_as<float>()[3 * 20 + 1] = std::numeric_limits<float>::infinity();
  Tensor hq = first_rows(holes, 64);
  add("non_finite_points", holes, hq, voxels(2, 0.3f, 0.3f, 0.3f), 0.45f, 16);
  // Different voxel per batch item.
  std::vector<float> per_item = {0.4f, 0.4f, 0.35f, 2.f, 2.f, 1.75f, 0.05f, 0.07f, 0.09f};
  add("per_item_voxel", clusters, first_rows(clusters, 256), Tensor::from_vector(per_item, {3, 3}), 0.2f, 16);
  Tensor none = Tensor::empty({2, 0, 3}, DType::F32);
  add("no_sources", none, first_rows(uniform, 9), voxels(2, 0.3f, 0.3f, 0.3f), 0.9f, 4);
  return cases;
}

}  // namespace

TEST(GridBallQuery, WindowCoversEveryInRadiusSource) {
  // The lemma the grid relies on, checked on random pairs near the sphere and random cell sizes.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> coord(-80.f, 80.f), unit(-1.f, 1.f), size(0.01f, 3.f), rad(0.05f, 7.f);
  int inside = 0;
  for (int t = 0; t < 200000; ++t) {
    const float r = rad(rng), vx = size(rng), vy = size(rng), vz = size(rng);
    const float qx = coord(rng), qy = coord(rng), qz = coord(rng);
    float dx = unit(rng), dy = unit(rng), dz = unit(rng);
    const float len = std::sqrt(dx * dx + dy * dy + dz * dz) + 1e-12f;
    const float scale = r * (1.f + 2e-7f * unit(rng)) / len;  // on the sphere, give or take an ulp
    const float sx = qx + dx * scale, sy = qy + dy * scale, sz = qz + dz * scale;
    const float ex = qx - sx, ey = qy - sy, ez = qz - sz;
    const float ex2 = ex * ex, ey2 = ey * ey, ez2 = ez * ez;
    if (!((ex2 + ey2) + ez2 < r * r)) continue;
    ++inside;
    int x0, nx, y0, ny, z0, nz;
    ops::detail::gbq_axis(qx, r, vx, &x0, &nx);
    ops::detail::gbq_axis(qy, r, vy, &y0, &ny);
    ops::detail::gbq_axis(qz, r, vz, &z0, &nz);
    const int cx = ops::detail::gbq_cell(sx, vx), cy = ops::detail::gbq_cell(sy, vy), cz = ops::detail::gbq_cell(sz, vz);
    ASSERT_TRUE(cx >= x0 && cx < x0 + nx && cy >= y0 && cy < y0 + ny && cz >= z0 && cz < z0 + nz)
        << "t=" << t << " r=" << r;
  }
  EXPECT_GT(inside, 50000);
}

TEST(GridBallQuery, CpuEqualsBallQueryOnRealFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor frames = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 2}));
  for (const RealCase& c : real_cases()) {
    const Tensor xyz = first_rows(frames, c.n);
    const Tensor q = first_rows(xyz, c.m);
    const Tensor vox = voxels(2, c.vx, c.vy, c.vz);
    const std::int64_t grid = grid_path_queries(xyz, q, vox, c.r);
    if (c.all_grid) {
      EXPECT_EQ(grid, 2 * c.m) << c.name;
    } else {
      EXPECT_EQ(grid, 0) << c.name;
    }
    expect_same(ball_cpu(xyz, q, c.r, c.k), grid_cpu(xyz, q, vox, c.r, c.k), c.name);
  }
}

TEST(GridBallQuery, CpuEqualsBallQueryOnAdversarialClouds) {
  for (const auto& [name, t] : adversarial_cases()) {
    const float r = t[3].data_as<float>()[0];
    const int k = t[4].data_as<std::int32_t>()[0];
    expect_same(ball_cpu(t[0], t[1], r, k), grid_cpu(t[0], t[1], t[2], r, k), name);
  }
}

TEST(GridBallQuery, WorkspaceGrowsWithBatchAndSources) {
  const GridBallQueryParams p{0.8f, 32};
  EXPECT_EQ(ops::detail::grid_ball_query_table_slots(16384), 32768);
  EXPECT_EQ(ops::detail::grid_ball_query_table_slots(4096), 8192);
  EXPECT_EQ(ops::detail::grid_ball_query_table_slots(10), 1024);
  // Table (keys + cell ranges + cursor, rounded up to 256 bytes), slot and rank per source, float4 per source.
  EXPECT_EQ(ops::grid_ball_query_workspace_bytes(1, 16384, 4096, p), 393472u + 2u * 65536u + 262144u);
  EXPECT_EQ(ops::grid_ball_query_workspace_bytes(8, 16384, 4096, p), 3145984u + 2u * 524288u + 2097152u);
  EXPECT_EQ(ops::grid_ball_query_workspace_bytes(8, 16384, 4096, p),
            ops::grid_ball_query_workspace_bytes(8, 16384, 4096, GridBallQueryParams{4.8f, 100}));
}

TEST(GridBallQuery, MultiCpuEqualsSingleCalls) {
  Tensor clusters = pointrt::testing::clustered_points(2, 2048, 8, 0.05f, 13);
  const Tensor q = first_rows(clusters, 200);
  const Tensor vox = voxels(2, 0.1f, 0.1f, 0.1f);
  Result a{Tensor::zeros({2, 200}, DType::I32), Tensor::zeros({2, 200, 16}, DType::I32)};
  Result c{Tensor::zeros({2, 200}, DType::I32), Tensor::zeros({2, 200, 40}, DType::I32)};
  const ops::GridBallQuerySet sets[2] = {{{0.1f, 16}, &a.cnt, &a.idx}, {{0.3f, 40}, &c.cnt, &c.idx}};
  ops::grid_ball_query_multi_cpu(clusters, q, vox, sets, 2);
  expect_same(ball_cpu(clusters, q, 0.1f, 16), a, "multi set 0");
  expect_same(ball_cpu(clusters, q, 0.3f, 40), c, "multi set 1");
  try {
    ops::grid_ball_query_multi_cpu(clusters, q, vox, sets, 0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GridBallQuery: multi: 1 to 4 sets, got 0"), std::string::npos) << e.what();
  }
  const ops::GridBallQuerySet bad[1] = {{{0.1f, 16}, &a.cnt, nullptr}};
  try {
    ops::grid_ball_query_multi_cpu(clusters, q, vox, bad, 1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GridBallQuery: multi: null output tensor"), std::string::npos) << e.what();
  }
}

TEST(GridBallQuery, RejectsBadInput) {
  Tensor xyz = Tensor::zeros({2, 10, 3}, DType::F32);
  Tensor q = Tensor::zeros({2, 4, 3}, DType::F32);
  Tensor vox = voxels(2, 0.4f, 0.4f, 0.35f);
  Tensor cnt = Tensor::zeros({2, 4}, DType::I32);
  Tensor idx = Tensor::zeros({2, 4, 8}, DType::I32);
  auto message = [&](const Tensor& x, const Tensor& qq, const Tensor& v, GridBallQueryParams p, Tensor& c,
                     Tensor& i) -> std::string {
    try {
      ops::grid_ball_query_cpu(x, qq, v, p, c, i);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const GridBallQueryParams good{0.5f, 8};
  EXPECT_EQ(message(xyz, q, vox, good, cnt, idx), "no error");
  EXPECT_NE(message(xyz, q, vox, {0.f, 8}, cnt, idx).find("GridBallQuery: radius must be finite and > 0"),
            std::string::npos);
  EXPECT_NE(message(xyz, q, vox, {std::numeric_limits<float>::infinity(), 8}, cnt, idx).find("radius"),
            std::string::npos);
  EXPECT_NE(message(xyz, q, vox, {0.5f, 0}, cnt, idx).find("GridBallQuery: nsample must be >= 1, got 0"),
            std::string::npos);
  Tensor vox_b = voxels(3, 0.4f, 0.4f, 0.35f);
  EXPECT_NE(message(xyz, q, vox_b, good, cnt, idx).find("GridBallQuery: voxel: expected f32[2, 3]@host, got f32[3, 3]"),
            std::string::npos);
  Tensor vox_2 = Tensor::zeros({2, 2}, DType::F32);
  EXPECT_NE(message(xyz, q, vox_2, good, cnt, idx).find("GridBallQuery: voxel: expected f32[2, 3]"), std::string::npos);
  Tensor q_batch = Tensor::zeros({1, 4, 3}, DType::F32);
  EXPECT_NE(message(xyz, q_batch, vox, good, cnt, idx).find("GridBallQuery: new_xyz: expected f32[2, *, 3]@host"),
            std::string::npos);
  Tensor idx_k = Tensor::zeros({2, 4, 9}, DType::I32);
  EXPECT_NE(message(xyz, q, vox, good, cnt, idx_k).find("GridBallQuery: idx: expected i32[2, 4, 8]@host"),
            std::string::npos);
#ifdef POINTRT_WITH_CUDA
  try {
    ops::grid_ball_query_cuda(xyz, q, vox, good, cnt, idx, nullptr, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GridBallQuery: xyz: expected f32[*, *, 3]@cuda"), std::string::npos)
        << e.what();
  }
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

Result grid_cuda(const Tensor& xyz, const Tensor& q, const Tensor& vox, float r, int k) {
  const std::int64_t b = xyz.dim(0), m = q.dim(1);
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz), d_q(q), d_vox(vox);
  std::vector<std::int32_t> garbage_cnt(static_cast<std::size_t>(b * m), -7);
  std::vector<std::int32_t> garbage_idx(static_cast<std::size_t>(b * m * k), -7);
  pointrt::testing::GuardedDeviceTensor d_cnt(Tensor::from_vector(garbage_cnt, {b, m}));
  pointrt::testing::GuardedDeviceTensor d_idx(Tensor::from_vector(garbage_idx, {b, m, k}));
  const GridBallQueryParams p{r, k};
  pointrt::testing::GuardedWorkspace ws(ops::grid_ball_query_workspace_bytes(b, xyz.dim(1), m, p));
  ops::grid_ball_query_cuda(d_xyz.tensor(), d_q.tensor(), d_vox.tensor(), p, d_cnt.tensor(), d_idx.tensor(), ws.get(),
                            ws.size(), nullptr);
  Result out{d_cnt.to_host(), d_idx.to_host()};
  EXPECT_TRUE(d_cnt.guards_intact()) << "idx_cnt guard";
  EXPECT_TRUE(d_idx.guards_intact()) << "idx guard";
  EXPECT_TRUE(d_xyz.guards_intact() && d_q.guards_intact() && d_vox.guards_intact()) << "input guard";
  EXPECT_TRUE(ws.guards_intact()) << "workspace guard";
  return out;
}

}  // namespace

TEST(GridBallQueryCuda, EqualsBallQueryOnRealFrames) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor one = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0}));
  const Tensor three = pointrt::testing::xyz_of(pointrt::testing::kitti_points({1, 3, 5}));
  for (const Tensor* frames : {&one, &three}) {
    for (const RealCase& c : real_cases()) {
      const Tensor xyz = first_rows(*frames, c.n);
      const Tensor q = first_rows(xyz, c.m);
      const Tensor vox = voxels(frames->dim(0), c.vx, c.vy, c.vz);
      expect_same(ball_cpu(xyz, q, c.r, c.k), grid_cuda(xyz, q, vox, c.r, c.k),
                  c.name + " B=" + std::to_string(frames->dim(0)));
    }
  }
}

TEST(GridBallQueryCuda, EqualsBallQueryOnAdversarialClouds) {
  POINTRT_REQUIRE_CUDA();
  for (const auto& [name, t] : adversarial_cases()) {
    const float r = t[3].data_as<float>()[0];
    const int k = t[4].data_as<std::int32_t>()[0];
    expect_same(ball_cpu(t[0], t[1], r, k), grid_cuda(t[0], t[1], t[2], r, k), name);
  }
}

namespace {

// Both sets of an SA layer through the multi-set entry point (one build, one query launch), guards checked.
std::pair<Result, Result> grid_cuda_pair(const Tensor& xyz, const Tensor& q, const Tensor& vox, float r0, int k0,
                                         float r1, int k1) {
  const std::int64_t b = xyz.dim(0), m = q.dim(1);
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz), d_q(q), d_vox(vox);
  auto garbage = [&](std::vector<std::int64_t> shape) {
    std::int64_t total = 1;
    for (auto d : shape) total *= d;
    return Tensor::from_vector(std::vector<std::int32_t>(static_cast<std::size_t>(total), -7), shape);
  };
  pointrt::testing::GuardedDeviceTensor c0(garbage({b, m})), i0(garbage({b, m, k0}));
  pointrt::testing::GuardedDeviceTensor c1(garbage({b, m})), i1(garbage({b, m, k1}));
  pointrt::testing::GuardedWorkspace ws(ops::grid_ball_query_workspace_bytes(b, xyz.dim(1), m, {r0, k0}));
  Tensor tc0 = c0.tensor(), ti0 = i0.tensor(), tc1 = c1.tensor(), ti1 = i1.tensor();
  const ops::GridBallQuerySet sets[2] = {{{r0, k0}, &tc0, &ti0}, {{r1, k1}, &tc1, &ti1}};
  ops::grid_ball_query_multi_cuda(d_xyz.tensor(), d_q.tensor(), d_vox.tensor(), sets, 2, ws.get(), ws.size(), nullptr);
  std::pair<Result, Result> out{{c0.to_host(), i0.to_host()}, {c1.to_host(), i1.to_host()}};
  EXPECT_TRUE(c0.guards_intact() && i0.guards_intact() && c1.guards_intact() && i1.guards_intact()) << "output guard";
  EXPECT_TRUE(d_xyz.guards_intact() && d_q.guards_intact() && d_vox.guards_intact()) << "input guard";
  EXPECT_TRUE(ws.guards_intact()) << "workspace guard";
  return out;
}

}  // namespace

TEST(GridBallQueryCuda, MultiSetEqualsBallQueryOnRealFrames) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor frames = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 4}));
  struct Pair {
    int n, m;
    float r0;
    int k0;
    float r1;
    int k1;
    float vx, vy, vz;
  };
  const Pair pairs[] = {{16384, 4096, 0.2f, 16, 0.8f, 32, 0.4f, 0.4f, 0.35f},
                        {4096, 1024, 0.8f, 16, 1.6f, 32, 2.f, 2.f, 1.75f},
                        {1024, 512, 1.6f, 16, 4.8f, 32, 4.8f, 4.8f, 4.8f},
                        {512, 256, 4.8f, 16, 6.4f, 100, 6.4f, 6.4f, 6.4f}};
  for (const Pair& p : pairs) {
    const Tensor xyz = first_rows(frames, p.n);
    const Tensor q = first_rows(xyz, p.m);
    const auto [a, c] = grid_cuda_pair(xyz, q, voxels(2, p.vx, p.vy, p.vz), p.r0, p.k0, p.r1, p.k1);
    expect_same(ball_cpu(xyz, q, p.r0, p.k0), a, "multi N=" + std::to_string(p.n) + " set 0");
    expect_same(ball_cpu(xyz, q, p.r1, p.k1), c, "multi N=" + std::to_string(p.n) + " set 1");
  }
}

TEST(GridBallQueryCuda, MultiSetEqualsBallQueryOnAdversarialClouds) {
  POINTRT_REQUIRE_CUDA();
  for (const auto& [name, t] : adversarial_cases()) {
    const float r = t[3].data_as<float>()[0];
    const int k = t[4].data_as<std::int32_t>()[0];
    const auto [a, c] = grid_cuda_pair(t[0], t[1], t[2], r, k, 2.f * r, k + 7);
    expect_same(ball_cpu(t[0], t[1], r, k), a, name + " multi set 0");
    expect_same(ball_cpu(t[0], t[1], 2.f * r, k + 7), c, name + " multi set 1");
  }
}

TEST(GridBallQueryCuda, PerItemVoxelOnRealFrames) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor frames = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1, 2}));
  const Tensor q = first_rows(frames, 4096);
  const std::vector<float> per_item = {0.4f, 0.4f, 0.35f, 2.f, 2.f, 1.75f, 0.1f, 0.1f, 0.1f};
  const Tensor vox = Tensor::from_vector(per_item, {3, 3});
  expect_same(ball_cpu(frames, q, 0.8f, 32), grid_cuda(frames, q, vox, 0.8f, 32), "per-item voxel");
}

#endif  // POINTRT_WITH_CUDA
