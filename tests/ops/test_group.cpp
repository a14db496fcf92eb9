// Gather and grouping: the CPU reference against trivial oracles, the CUDA kernels against the CPU reference
// (bit-identical) on real frames with ball-query indices, bad indices (CPU error naming the position; CUDA zero row
// plus the device error record), guard regions, and validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/gpu.h"
#include "ops/group/group.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::GroupParams;

namespace {

using pointrt::testing::expect_error;


Tensor strided_indices(std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t stride) {
  std::vector<std::int32_t> v;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) v.push_back(static_cast<std::int32_t>((j * stride + b) % n));
  }
  return Tensor::from_vector(v, {batch, m});
}

Tensor random_features(std::int64_t batch, std::int64_t n, std::int64_t c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(batch * n * c));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, {batch, n, c});
}

Tensor random_indices(const Shape& shape, std::int32_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> u(0, n - 1);
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  std::vector<std::int32_t> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector(v, shape);
}

struct Grouped {
  Tensor out, mask;
};

Grouped cpu_group(const Tensor& xyz, const Tensor* feats, const Tensor& centres, const Tensor& idx, const Tensor& cnt) {
  const std::int64_t c = feats != nullptr ? feats->dim(2) : 0;
  Grouped g{Tensor::zeros({xyz.dim(0), centres.dim(1), idx.dim(2), 3 + c}, DType::F32),
            Tensor::zeros({xyz.dim(0), centres.dim(1)}, DType::F32)};
  ops::group_cpu(xyz, feats, centres, idx, cnt, g.out, GroupParams{}, &g.mask);
  return g;
}


}  // namespace

TEST(Gather, CpuMatchesOracle) {
  const Tensor x = random_features(2, 50, 5, 1);
  const Tensor ind = random_indices({2, 30}, 50, 2);
  Tensor out = Tensor::zeros({2, 30, 5}, DType::F32);
  ops::gather_points_cpu(x, ind, out);
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 30; ++j) {
      const int i = ind.data_as<std::int32_t>()[b * 30 + j];
      for (int c = 0; c < 5; ++c) {
        ASSERT_EQ(out.data_as<float>()[(b * 30 + j) * 5 + c], x.data_as<float>()[(b * 50 + i) * 5 + c]);
      }
    }
  }
  EXPECT_EQ(pointrt::testing::compare_close_f32(pointrt::testing::gather_rows(x, ind), out, 0.f, 0.f), "");
}

TEST(Group, CpuMatchesOracleOnRealFramesWithBallQuery) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor pts = pointrt::testing::kitti_points({0, 1}, 4096);
  const Tensor xyz = pointrt::testing::xyz_of(pts);
  const Tensor centres = pointrt::testing::gather_rows(xyz, strided_indices(2, 256, 4096, 16));
  const auto [idx, cnt] = pointrt::testing::simple_ball_query(xyz, centres, 0.8f, 32);
  const Tensor feats = random_features(2, 4096, 3, 5);
  const Grouped g = cpu_group(xyz, &feats, centres, idx, cnt);
  int empty = 0;
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 256; ++j) {
      const int bm = b * 256 + j;
      const int n_found = cnt.data_as<std::int32_t>()[bm];
      empty += n_found == 0;
      EXPECT_EQ(g.mask.data_as<float>()[bm], n_found > 0 ? 1.f : 0.f);
      for (int s = 0; s < 32; ++s) {
        const int i = idx.data_as<std::int32_t>()[bm * 32 + s];
        const float* o = g.out.data_as<float>() + (bm * 32 + s) * 6;
        const float* p = xyz.data_as<float>() + (b * 4096 + i) * 3;
        const float* q = centres.data_as<float>() + bm * 3;
        ASSERT_EQ(o[0], p[0] - q[0]);
        ASSERT_EQ(o[1], p[1] - q[1]);
        ASSERT_EQ(o[2], p[2] - q[2]);
        for (int c = 0; c < 3; ++c) ASSERT_EQ(o[3 + c], feats.data_as<float>()[(b * 4096 + i) * 3 + c]);
      }
    }
  }
  // Centres are cloud points, so every ball contains at least its own centre.
  EXPECT_EQ(empty, 0);
}

TEST(Group, CpuWithoutFeaturesAndEmptyBallMask) {
  const Tensor xyz = Tensor::from_vector(std::vector<float>{0, 0, 0, 1, 2, 3, 4, 5, 6}, {1, 3, 3});
  const Tensor centres = Tensor::from_vector(std::vector<float>{1, 1, 1, 10, 10, 10}, {1, 2, 3});
  const Tensor idx = Tensor::from_vector(std::vector<std::int32_t>{2, 1, 0, 0}, {1, 2, 2});
  const Tensor cnt = Tensor::from_vector(std::vector<std::int32_t>{2, 0}, {1, 2});
  const Grouped g = cpu_group(xyz, nullptr, centres, idx, cnt);
  EXPECT_EQ(g.out.shape(), (Shape{1, 2, 2, 3}));
  const std::vector<float> want{3, 4, 5, 0, 1, 2, -10, -10, -10, -10, -10, -10};
  EXPECT_EQ(std::vector<float>(g.out.data_as<float>(), g.out.data_as<float>() + 12), want);
  EXPECT_EQ(g.mask.data_as<float>()[0], 1.f);
  EXPECT_EQ(g.mask.data_as<float>()[1], 0.f);
}

TEST(Group, CpuBadIndexNamesThePosition) {
  const Tensor xyz = pointrt::testing::uniform_points(2, 10, 0.f, 1.f, 3);
  const Tensor centres = pointrt::testing::uniform_points(2, 4, 0.f, 1.f, 4);
  std::vector<std::int32_t> v(2 * 4 * 3, 1);
  v[(1 * 4 + 2) * 3 + 1] = 10;  // first bad: (1, 2, 1)
  v[(1 * 4 + 3) * 3 + 0] = -1;
  const Tensor idx = Tensor::from_vector(v, {2, 4, 3});
  const Tensor cnt = Tensor::zeros({2, 4}, DType::I32);
  expect_error([&] { cpu_group(xyz, nullptr, centres, idx, cnt); }, {"group: idx[1, 2, 1] = 10 is outside [0, N = 10)"});
  const Tensor ind = Tensor::from_vector(std::vector<std::int32_t>{0, 3, -4, 99}, {2, 2});
  Tensor out = Tensor::zeros({2, 2, 3}, DType::F32);
  expect_error([&] { ops::gather_points_cpu(xyz, ind, out); }, {"gather_points: ind[1, 0] = -4 is outside [0, N = 10)"});
}

TEST(Group, BadShapesAreRefused) {
  const Tensor xyz = pointrt::testing::uniform_points(1, 10, 0.f, 1.f, 3);
  const Tensor centres = pointrt::testing::uniform_points(1, 4, 0.f, 1.f, 4);
  const Tensor idx = Tensor::zeros({1, 4, 8}, DType::I32);
  const Tensor cnt = Tensor::zeros({1, 4}, DType::I32);
  const Tensor feats = Tensor::zeros({1, 10, 2}, DType::F32);
  Tensor out = Tensor::zeros({1, 4, 8, 5}, DType::F32);
  GroupParams p;
  EXPECT_NO_THROW(ops::group_cpu(xyz, &feats, centres, idx, cnt, out, p));
  expect_error([&] { ops::group_cpu(xyz, nullptr, centres, idx, cnt, out, p); },
               {"group: grouped: expected f32[1, 4, 8, 3]@host, got f32[1, 4, 8, 5]@host"});
  const Tensor feats_wrong_n = Tensor::zeros({1, 9, 2}, DType::F32);
  expect_error([&] { ops::group_cpu(xyz, &feats_wrong_n, centres, idx, cnt, out, p); }, {"group: features"});
  expect_error(
      [&] {
        ops::group_cpu(xyz, &feats, centres, Tensor::zeros({1, 5, 8}, DType::I32), cnt, out, p);
      },
      {"group: idx: expected i32[1, 4, *]@host"});
  expect_error(
      [&] {
        ops::group_cpu(xyz, &feats, centres, Tensor::zeros({1, 4, 8}, DType::F32), cnt, out, p);
      },
      {"group: idx"});
  expect_error(
      [&] {
        ops::group_cpu(xyz, &feats, centres, idx, Tensor::zeros({1, 3}, DType::I32), out, p);
      },
      {"group: idx_cnt"});
  expect_error(
      [&] {
        ops::group_cpu(Tensor::zeros({1, 10, 2}, DType::F32), &feats, centres, idx, cnt, out, p);
      },
      {"group: xyz"});
  Tensor bad_mask = Tensor::zeros({1, 5}, DType::F32);
  expect_error([&] { ops::group_cpu(xyz, &feats, centres, idx, cnt, out, p, &bad_mask); }, {"group: mask"});
  Tensor gout = Tensor::zeros({1, 4, 3}, DType::F32);
  expect_error(
      [&] {
        ops::gather_points_cpu(xyz, Tensor::zeros({2, 4}, DType::I32), gout);
      },
      {"gather_points: ind: expected i32[1, *]@host"});
  expect_error([&] { ops::gather_points_cpu(xyz, Tensor::zeros({1, 4}, DType::I32), out); }, {"gather_points: out"});
#ifdef POINTRT_WITH_CUDA
  Tensor err = Tensor::zeros({4}, DType::I32);
  expect_error([&] { ops::group_cuda(xyz, &feats, centres, idx, cnt, out, p, err, nullptr, 0, nullptr); },
               {"group: xyz: expected f32[*, *, 3]@cuda"});
  expect_error(
      [&] {
        ops::gather_points_cuda(xyz, Tensor::zeros({1, 4}, DType::I32), gout, err, nullptr, 0, nullptr);
      },
      {"gather_points: x: expected f32[*, *, *]@cuda"});
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

std::vector<std::int32_t> error_record(const pointrt::testing::GuardedDeviceTensor& err) {
  const Tensor h = err.to_host();
  return std::vector<std::int32_t>(h.data_as<std::int32_t>(), h.data_as<std::int32_t>() + 4);
}

// Runs group on guarded device copies; returns {grouped, mask, error record}.
std::tuple<Tensor, Tensor, std::vector<std::int32_t>> cuda_group(const Tensor& xyz, const Tensor* feats,
                                                                 const Tensor& centres, const Tensor& idx,
                                                                 const Tensor& cnt) {
  const std::int64_t c = feats != nullptr ? feats->dim(2) : 0;
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz), d_centres(centres), d_idx(idx), d_cnt(cnt);
  std::unique_ptr<pointrt::testing::GuardedDeviceTensor> d_feats;
  if (feats != nullptr) d_feats = std::make_unique<pointrt::testing::GuardedDeviceTensor>(*feats);
  pointrt::testing::GuardedDeviceTensor d_out({xyz.dim(0), centres.dim(1), idx.dim(2), 3 + c}, DType::F32);
  pointrt::testing::GuardedDeviceTensor d_mask({xyz.dim(0), centres.dim(1)}, DType::F32);
  pointrt::testing::GuardedDeviceTensor d_err({4}, DType::I32);
  pointrt::testing::GuardedWorkspace ws(ops::group_workspace_bytes());
  ops::group_cuda(d_xyz.tensor(), d_feats ? &d_feats->tensor() : nullptr, d_centres.tensor(), d_idx.tensor(),
                  d_cnt.tensor(), d_out.tensor(), GroupParams{}, d_err.tensor(), ws.get(), ws.size(), nullptr,
                  &d_mask.tensor());
  Tensor out = d_out.to_host(), mask = d_mask.to_host();
  EXPECT_TRUE(d_out.guards_intact()) << "kernel wrote past grouped";
  EXPECT_TRUE(d_mask.guards_intact()) << "kernel wrote past the mask";
  EXPECT_TRUE(d_err.guards_intact()) << "kernel wrote past the error record";
  EXPECT_TRUE(ws.guards_intact()) << "kernel wrote past the workspace";
  EXPECT_TRUE(d_xyz.guards_intact() && d_centres.guards_intact() && d_idx.guards_intact() && d_cnt.guards_intact());
  return {out, mask, error_record(d_err)};
}

std::pair<Tensor, std::vector<std::int32_t>> cuda_gather(const Tensor& x, const Tensor& ind) {
  pointrt::testing::GuardedDeviceTensor d_x(x), d_ind(ind);
  pointrt::testing::GuardedDeviceTensor d_out({x.dim(0), ind.dim(1), x.dim(2)}, DType::F32);
  pointrt::testing::GuardedDeviceTensor d_err({4}, DType::I32);
  pointrt::testing::GuardedWorkspace ws(ops::gather_points_workspace_bytes());
  ops::gather_points_cuda(d_x.tensor(), d_ind.tensor(), d_out.tensor(), d_err.tensor(), ws.get(), ws.size(), nullptr);
  Tensor out = d_out.to_host();
  EXPECT_TRUE(d_out.guards_intact());
  EXPECT_TRUE(d_err.guards_intact());
  EXPECT_TRUE(ws.guards_intact());
  return {out, error_record(d_err)};
}

const std::vector<std::int32_t> kNoError{0, -1, -1, -1};

}  // namespace

TEST(GroupCuda, MatchesCpuOnRealFramesAtModelSizes) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  struct Case {
    std::size_t n;
    std::int64_t m, c;
    float r;
    int k;
  };
  for (const Case& cs :
       {Case{16384, 4096, 1, 0.8f, 32}, Case{4096, 1024, 64, 1.6f, 16}, Case{1024, 512, 128, 4.8f, 32}}) {
    SCOPED_TRACE("N=" + std::to_string(cs.n) + " C=" + std::to_string(cs.c));
    const Tensor pts = pointrt::testing::kitti_points({0, 1, 2}, cs.n);
    const Tensor xyz = pointrt::testing::xyz_of(pts);
    const std::int64_t n = static_cast<std::int64_t>(cs.n);
    const Tensor centres = pointrt::testing::gather_rows(xyz, strided_indices(3, cs.m, n, n / cs.m));
    // Centres shifted by 5 m in x for batch item 2 so some balls are empty (cnt 0, zero-padded indices).
    Tensor shifted = centres.to(Device::Host);
    for (std::int64_t j = 0; j < cs.m; j += 2) shifted.data_as<float>()[(2 * cs.m + j) * 3] += 5.f;
    const auto [idx, cnt] = pointrt::testing::simple_ball_query(xyz, shifted, cs.r, cs.k);
    Tensor feats_c = random_features(3, n, cs.c, 9);
    if (cs.c == 1) {  // intensity channel only
      std::vector<float> v;
      for (std::int64_t i = 0; i < 3 * n; ++i) v.push_back(pts.data_as<float>()[i * 4 + 3]);
      feats_c = Tensor::from_vector(v, {3, n, 1});
    }
    const Grouped want = cpu_group(xyz, &feats_c, shifted, idx, cnt);
    const auto [out, mask, err] = cuda_group(xyz, &feats_c, shifted, idx, cnt);
    EXPECT_EQ(pointrt::testing::compare_close_f32(want.out, out, 0.f, 0.f), "");
    EXPECT_EQ(pointrt::testing::compare_close_f32(want.mask, mask, 0.f, 0.f), "");
    EXPECT_EQ(err, kNoError);
    // Point gather of the centres, compared with the CPU gather.
    const Tensor ind = strided_indices(3, cs.m, n, 3);
    Tensor want_g = Tensor::zeros({3, cs.m, cs.c}, DType::F32);
    ops::gather_points_cpu(feats_c, ind, want_g);
    const auto [got_g, err_g] = cuda_gather(feats_c, ind);
    EXPECT_EQ(pointrt::testing::compare_close_f32(want_g, got_g, 0.f, 0.f), "");
    EXPECT_EQ(err_g, kNoError);
  }
}

TEST(GroupCuda, MatchesCpuOnAdversarialInputs) {
  POINTRT_REQUIRE_CUDA();
  // No features (C = 0), random valid indices, identical points, one point.
  const Tensor xyz = pointrt::testing::clustered_points(2, 300, 3, 0.05f, 4);
  const Tensor centres = pointrt::testing::uniform_points(2, 17, 0.f, 10.f, 5);
  const Tensor idx = random_indices({2, 17, 5}, 300, 6);
  const Tensor cnt = random_indices({2, 17}, 3, 7);  // 0, 1 or 2
  const Grouped want = cpu_group(xyz, nullptr, centres, idx, cnt);
  const auto [out, mask, err] = cuda_group(xyz, nullptr, centres, idx, cnt);
  EXPECT_EQ(pointrt::testing::compare_close_f32(want.out, out, 0.f, 0.f), "");
  EXPECT_EQ(pointrt::testing::compare_close_f32(want.mask, mask, 0.f, 0.f), "");
  EXPECT_EQ(err, kNoError);

  const Tensor one = pointrt::testing::identical_points(1, 1, 1.f, 2.f, 3.f);
  const Tensor f1 = random_features(1, 1, 7, 8);
  const Tensor idx1 = Tensor::zeros({1, 3, 4}, DType::I32);
  const Tensor cnt1 = Tensor::from_vector(std::vector<std::int32_t>{1, 0, 4}, {1, 3});
  const Tensor c1 = pointrt::testing::identical_points(1, 3, 1.f, 2.f, 3.f);
  const Grouped want1 = cpu_group(one, &f1, c1, idx1, cnt1);
  const auto [out1, mask1, err1] = cuda_group(one, &f1, c1, idx1, cnt1);
  EXPECT_EQ(pointrt::testing::compare_close_f32(want1.out, out1, 0.f, 0.f), "");
  EXPECT_EQ(pointrt::testing::compare_close_f32(want1.mask, mask1, 0.f, 0.f), "");
  EXPECT_EQ(err1, kNoError);
}

TEST(GroupCuda, BadIndicesGiveZeroRowsAndTheFirstPosition) {
  POINTRT_REQUIRE_CUDA();
  const Tensor xyz = pointrt::testing::uniform_points(2, 50, -1.f, 1.f, 3);
  const Tensor feats = random_features(2, 50, 4, 4);
  const Tensor centres = pointrt::testing::uniform_points(2, 6, -1.f, 1.f, 5);
  Tensor idx = random_indices({2, 6, 8}, 50, 6);
  auto at = [&](int b, int m, int k) -> std::int32_t& { return idx.data_as<std::int32_t>()[(b * 6 + m) * 8 + k]; };
  at(1, 4, 7) = 1 << 30;
  at(1, 3, 2) = 50;  // first bad in flat order
  at(1, 5, 0) = -7;
  const Tensor cnt = Tensor::zeros({2, 6}, DType::I32);
  const auto [out, mask, err] = cuda_group(xyz, &feats, centres, idx, cnt);
  EXPECT_EQ(err, (std::vector<std::int32_t>{1, 1, 3, 2}));
  // Valid rows match the CPU on a copy with the bad indices replaced; bad rows are zero.
  Tensor fixed = idx.to(Device::Host);
  for (auto [b, m, k] : {std::tuple{1, 4, 7}, std::tuple{1, 3, 2}, std::tuple{1, 5, 0}}) {
    fixed.data_as<std::int32_t>()[(b * 6 + m) * 8 + k] = 0;
  }
  Grouped want = cpu_group(xyz, &feats, centres, fixed, cnt);
  for (auto [b, m, k] : {std::tuple{1, 4, 7}, std::tuple{1, 3, 2}, std::tuple{1, 5, 0}}) {
    for (int c = 0; c < 7; ++c) want.out.data_as<float>()[((b * 6 + m) * 8 + k) * 7 + c] = 0.f;
  }
  EXPECT_EQ(pointrt::testing::compare_close_f32(want.out, out, 0.f, 0.f), "");

  const Tensor ind = Tensor::from_vector(std::vector<std::int32_t>{0, 49, 3, 77, -1, 2}, {2, 3});
  const auto [gout, gerr] = cuda_gather(feats, ind);
  EXPECT_EQ(gerr, (std::vector<std::int32_t>{1, 1, 0, -1}));
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(gout.data_as<float>()[3 * 4 + c], 0.f);
    EXPECT_EQ(gout.data_as<float>()[4 * 4 + c], 0.f);
    EXPECT_EQ(gout.data_as<float>()[1 * 4 + c], feats.data_as<float>()[49 * 4 + c]);
  }
}

#endif  // POINTRT_WITH_CUDA
