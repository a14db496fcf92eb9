// Split points into xyz and features: the CPU reference against a trivial per-element oracle (C = 0, 1, 2, B > 1,
// real KITTI points), validation errors by message, and the CUDA kernel against the CPU reference bit for bit
// (outputs pre-filled with garbage, guard regions behind every buffer).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "ops/ops_test_util.h"
#include "ops/split/split.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;

namespace {

using pointrt::testing::expect_error;

Tensor random_points(std::int64_t b, std::int64_t n, std::int64_t w, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 10.f);
  std::vector<float> v(static_cast<std::size_t>(b * n * w));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, {b, n, w});
}

struct Split {
  Tensor xyz, features;  // features empty (numel 0, shape {0}) when C == 0
};

Split cpu_split(const Tensor& points) {
  const std::int64_t b = points.dim(0), n = points.dim(1), c = points.dim(2) - 3;
  Split s{Tensor::zeros({b, n, 3}, DType::F32), c > 0 ? Tensor::zeros({b, n, c}, DType::F32) : Tensor()};
  ops::split_cpu(points, s.xyz, c > 0 ? &s.features : nullptr);
  return s;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

// Oracle: element by element with explicit indices.
void expect_matches_oracle(const Tensor& points, const Split& s) {
  const std::int64_t b = points.dim(0), n = points.dim(1), w = points.dim(2), c = w - 3;
  const float* p = points.data_as<float>();
  for (std::int64_t bi = 0; bi < b; ++bi) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t ch = 0; ch < w; ++ch) {
        const float want = p[(bi * n + i) * w + ch];
        const float got = ch < 3 ? s.xyz.data_as<float>()[(bi * n + i) * 3 + ch]
                                 : s.features.data_as<float>()[(bi * n + i) * c + ch - 3];
        ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0) << "b " << bi << " n " << i << " ch " << ch;
      }
    }
  }
}

}  // namespace

TEST(Split, CpuMatchesOracle) {
  for (std::int64_t c : {0, 1, 2, 5}) {
    for (std::int64_t b : {1, 3}) {
      SCOPED_TRACE("C " + std::to_string(c) + ", B " + std::to_string(b));
      const Tensor pts = random_points(b, 37, 3 + c, static_cast<std::uint64_t>(10 * c + b));
      const Split s = cpu_split(pts);
      expect_matches_oracle(pts, s);
      if (c == 0) {
        EXPECT_TRUE(same_bits(s.xyz, pts));
      }
    }
  }
  // Empty clouds are valid.
  const Split e = cpu_split(Tensor::zeros({2, 0, 4}, DType::F32));
  EXPECT_EQ(e.xyz.numel(), 0);
}

TEST(Split, CpuOnRealKittiPoints) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor pts = pointrt::testing::kitti_points({0, 2}, 16384);
  const Split s = cpu_split(pts);
  expect_matches_oracle(pts, s);
  EXPECT_TRUE(same_bits(s.xyz, pointrt::testing::xyz_of(pts)));
}

TEST(Split, BadInputsGiveClearErrors) {
  const Tensor pts = random_points(2, 8, 4, 1);
  Tensor xyz = Tensor::zeros({2, 8, 3}, DType::F32);
  Tensor feats = Tensor::zeros({2, 8, 1}, DType::F32);
  EXPECT_NO_THROW(ops::split_cpu(pts, xyz, &feats));
  expect_error([&] { ops::split_cpu(pts.reshape({16, 4}), xyz, &feats); },
               {"split: points: expected f32[*, *, *]@host, got f32[16, 4]@host"});
  expect_error([&] { ops::split_cpu(Tensor::zeros({2, 8, 4}, DType::I32), xyz, &feats); },
               {"split: points: expected f32[*, *, *]@host, got i32[2, 8, 4]@host"});
  expect_error([&] { ops::split_cpu(random_points(2, 8, 2, 1), xyz, &feats); },
               {"split: points: need at least the 3 coordinate channels, got f32[2, 8, 2]@host"});
  Tensor bad_xyz = Tensor::zeros({2, 7, 3}, DType::F32);
  expect_error([&] { ops::split_cpu(pts, bad_xyz, &feats); },
               {"split: xyz: expected f32[2, 8, 3]@host, got f32[2, 7, 3]@host"});
  Tensor xyz4 = Tensor::zeros({2, 8, 4}, DType::F32);
  expect_error([&] { ops::split_cpu(pts, xyz4, &feats); },
               {"split: xyz: expected f32[2, 8, 3]@host, got f32[2, 8, 4]@host"});
  Tensor xyz_i32 = Tensor::zeros({2, 8, 3}, DType::I32);
  expect_error([&] { ops::split_cpu(pts, xyz_i32, &feats); }, {"split: xyz: expected f32[2, 8, 3]@host, got i32"});
  Tensor bad_feats = Tensor::zeros({2, 8, 2}, DType::F32);
  expect_error([&] { ops::split_cpu(pts, xyz, &bad_feats); },
               {"split: features: expected f32[2, 8, 1]@host, got f32[2, 8, 2]@host"});
  Tensor feats_i32 = Tensor::zeros({2, 8, 1}, DType::I32);
  expect_error([&] { ops::split_cpu(pts, xyz, &feats_i32); },
               {"split: features: expected f32[2, 8, 1]@host, got i32[2, 8, 1]@host"});
  expect_error([&] { ops::split_cpu(pts, xyz, nullptr); },
               {"split: features: points have C = 1 feature channels, but features is null"});
  const Tensor pts3 = random_points(2, 8, 3, 2);
  expect_error([&] { ops::split_cpu(pts3, xyz, &feats); },
               {"split: features: points have no feature channels (C = 0), so features must be null, got "
                "f32[2, 8, 1]@host"});
  EXPECT_NO_THROW(ops::split_cpu(pts3, xyz, nullptr));
#ifdef POINTRT_WITH_CUDA
  expect_error([&] { ops::split_cuda(pts, xyz, &feats, nullptr); },
               {"split: points: expected f32[*, *, *]@cuda, got f32[2, 8, 4]@host"});
  if (core::cuda_available()) {
    // Device mismatch between inputs and outputs.
    const Tensor d_pts = pts.to(Device::CUDA);
    Tensor d_xyz = Tensor::zeros({2, 8, 3}, DType::F32, Device::CUDA);
    expect_error([&] { ops::split_cuda(d_pts, xyz, &feats, nullptr); },
                 {"split: xyz: expected f32[2, 8, 3]@cuda, got f32[2, 8, 3]@host"});
    expect_error([&] { ops::split_cuda(d_pts, d_xyz, &feats, nullptr); },
                 {"split: features: expected f32[2, 8, 1]@cuda, got f32[2, 8, 1]@host"});
  }
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

void expect_cuda_matches_cpu(const Tensor& points, const std::string& what) {
  SCOPED_TRACE(what);
  const std::int64_t b = points.dim(0), n = points.dim(1), c = points.dim(2) - 3;
  const Split want = cpu_split(points);
  pointrt::testing::GuardedDeviceTensor d_pts(points);
  // Outputs pre-filled with a NaN pattern so that a skipped element shows.
  auto garbage = [](const Shape& shape) {
    Tensor g = Tensor::empty(shape, DType::F32);
    if (g.numel() > 0) std::memset(g.data(), 0x7f, g.nbytes());
    return g;
  };
  pointrt::testing::GuardedDeviceTensor d_xyz(garbage({b, n, 3}));
  std::unique_ptr<pointrt::testing::GuardedDeviceTensor> d_feats;
  if (c > 0) d_feats = std::make_unique<pointrt::testing::GuardedDeviceTensor>(garbage({b, n, c}));
  ops::split_cuda(d_pts.tensor(), d_xyz.tensor(), d_feats ? &d_feats->tensor() : nullptr, nullptr);
  EXPECT_TRUE(same_bits(want.xyz, d_xyz.to_host())) << "xyz differs";
  if (c > 0) {
    EXPECT_TRUE(same_bits(want.features, d_feats->to_host())) << "features differ";
    EXPECT_TRUE(d_feats->guards_intact());
  }
  EXPECT_TRUE(d_xyz.guards_intact());
  EXPECT_TRUE(d_pts.guards_intact());
}

}  // namespace

TEST(SplitCuda, MatchesCpuBitwise) {
  POINTRT_REQUIRE_CUDA();
  for (std::int64_t c : {0, 1, 2, 7}) {
    for (std::int64_t b : {1, 2, 4}) {
      expect_cuda_matches_cpu(random_points(b, 1001, 3 + c, static_cast<std::uint64_t>(c * 7 + b)),
                              "C " + std::to_string(c) + " B " + std::to_string(b));
    }
  }
  expect_cuda_matches_cpu(random_points(3, 0, 4, 1), "N = 0");
  expect_cuda_matches_cpu(random_points(1, 1, 4, 2), "N = 1");
}

TEST(SplitCuda, MatchesCpuOnRealKittiPoints) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  expect_cuda_matches_cpu(pointrt::testing::kitti_points({0, 1, 2}, 16384), "KITTI B=3 N=16384");
}

TEST(SplitCuda, GridStrideCoversLargeInputs) {
  POINTRT_REQUIRE_CUDA();
  // 4 * 5M values exceed 65535 blocks of 256 threads: the grid-stride loop must cover the rest.
  expect_cuda_matches_cpu(random_points(1, 5000000, 4, 3), "N = 5M");
}

#endif  // POINTRT_WITH_CUDA
