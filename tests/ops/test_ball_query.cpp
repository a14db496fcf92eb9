// BallQuery: the CPU reference against a brute-force oracle and the contract's properties, CUDA against the CPU
// reference (exact) on real KITTI frames for the eight hvcsx2 configurations and on adversarial clouds, with guard
// regions, and clear errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ops/ball_query/ball_query.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::BallQueryParams;

namespace {

using pointrt::testing::first_rows;

struct Layer {
  const char* name;
  int n;     // sources (the first n points of the frame)
  int m;     // queries
  float r;
  int k;
  bool vote; // queries shifted off the sources (vote centres), some into empty space
};

// The eight ball queries of IA-SSD hvcsx2 (spec/ops.md section 0).
const Layer kLayers[] = {
    {"SA1_0", 16384, 4096, 0.2f, 16, false}, {"SA1_1", 16384, 4096, 0.8f, 32, false},
    {"SA2_0", 4096, 1024, 0.8f, 16, false},  {"SA2_1", 4096, 1024, 1.6f, 32, false},
    {"SA3_0", 1024, 512, 1.6f, 16, false},   {"SA3_1", 1024, 512, 4.8f, 32, false},
    {"VSA_0", 512, 256, 4.8f, 16, true},     {"VSA_1", 512, 256, 6.4f, 32, true},
};

// Queries of a layer: the first m sources; for vote layers shifted by up to a few metres, every 8th one 60 m up.
Tensor layer_queries(const Tensor& sources, const Layer& l) {
  Tensor q = first_rows(sources, l.m);
  if (l.vote) {
    float* p = q.data_as<float>();
    for (std::int64_t i = 0; i < q.dim(0) * l.m; ++i) {
      p[3 * i] += 0.75f * static_cast<float>(i % 5) - 1.5f;
      p[3 * i + 1] += 0.5f * static_cast<float>(i % 3) - 0.5f;
      if (i % 8 == 3) p[3 * i + 2] += 60.f;
    }
  }
  return q;
}

struct Result {
  Tensor cnt, idx;
};

Result run_cpu(const Tensor& xyz, const Tensor& q, float r, int k) {
  Result out{Tensor::zeros({xyz.dim(0), q.dim(1)}, DType::I32), Tensor::zeros({xyz.dim(0), q.dim(1), k}, DType::I32)};
  ops::ball_query_cpu(xyz, q, BallQueryParams{r, k}, out.cnt, out.idx);
  return out;
}

// Obviously correct oracle: list every in-radius index in order, keep the first k, pad cyclically.
Result oracle(const Tensor& xyz, const Tensor& q, float r, int k) {
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1), m = q.dim(1);
  std::vector<std::int32_t> cnt, idx;
  const float r2 = r * r;
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < m; ++j) {
      const float* c = q.data_as<float>() + (i * m + j) * 3;
      std::vector<std::int32_t> all;
      for (std::int64_t s = 0; s < n; ++s) {
        const float* p = xyz.data_as<float>() + (i * n + s) * 3;
        const float dx = c[0] - p[0];
        const float dy = c[1] - p[1];
        const float dz = c[2] - p[2];
        const float dx2 = dx * dx, dy2 = dy * dy, dz2 = dz * dz;
        const float d2 = (dx2 + dy2) + dz2;
        if (d2 < r2) all.push_back(static_cast<std::int32_t>(s));
      }
      if (all.size() > static_cast<std::size_t>(k)) all.resize(static_cast<std::size_t>(k));
      cnt.push_back(static_cast<std::int32_t>(all.size()));
      for (int t = 0; t < k; ++t) idx.push_back(all.empty() ? 0 : all[static_cast<std::size_t>(t) % all.size()]);
    }
  }
  return {Tensor::from_vector(cnt, {b, m}), Tensor::from_vector(idx, {b, m, k})};
}

float dist2(const Tensor& xyz, const Tensor& q, std::int64_t b, std::int64_t j, std::int64_t s) {
  const float* c = q.data_as<float>() + (b * q.dim(1) + j) * 3;
  const float* p = xyz.data_as<float>() + (b * xyz.dim(1) + s) * 3;
  const float dx = c[0] - p[0], dy = c[1] - p[1], dz = c[2] - p[2];
  const float dx2 = dx * dx, dy2 = dy * dy, dz2 = dz * dz;
  return (dx2 + dy2) + dz2;
}

// The contract's properties; returns the first violation or "".
std::string check_properties(const Tensor& xyz, const Tensor& q, float r, int k, const Result& res) {
  const float r2 = r * r;
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1), m = q.dim(1);
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::string where = "[" + std::to_string(i) + ", " + std::to_string(j) + "]";
      const int cnt = res.cnt.data_as<std::int32_t>()[i * m + j];
      const std::int32_t* row = res.idx.data_as<std::int32_t>() + (i * m + j) * k;
      if (cnt < 0 || cnt > k) return "cnt out of range at " + where;
      for (int t = 0; t < cnt; ++t) {
        if (row[t] < 0 || row[t] >= n) return "index out of range at " + where;
        if (t > 0 && row[t] <= row[t - 1]) return "indices not strictly increasing at " + where;
        if (!(dist2(xyz, q, i, j, row[t]) < r2)) return "listed point not strictly inside at " + where;
      }
      if (cnt < k) {
        int inside = 0;
        for (std::int64_t s = 0; s < n; ++s) inside += dist2(xyz, q, i, j, s) < r2 ? 1 : 0;
        if (inside != cnt) return "cnt " + std::to_string(cnt) + " < K but " + std::to_string(inside) + " inside at " + where;
      } else {
        // The K found are the K lowest: nothing inside below the last listed index is missing.
        int inside = 0;
        for (std::int64_t s = 0; s <= row[k - 1]; ++s) inside += dist2(xyz, q, i, j, s) < r2 ? 1 : 0;
        if (inside != k) return "not the K lowest-index points at " + where;
      }
      for (int t = cnt; t < k; ++t) {
        const std::int32_t want = cnt == 0 ? 0 : row[t % cnt];
        if (row[t] != want) return "padding broken at " + where + " slot " + std::to_string(t);
      }
    }
  }
  return {};
}

void expect_same(const Result& want, const Result& got, const std::string& what) {
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want.cnt, got.cnt), "") << what << " idx_cnt";
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want.idx, got.idx), "") << what << " idx";
}

// Adversarial inputs shared by the CPU and CUDA tests: (name, sources, queries, r, k).
struct Case {
  std::string name;
  Tensor xyz, q;
  float r;
  int k;
};

std::vector<Case> adversarial_cases() {
  std::vector<Case> cases;
  Tensor same = pointrt::testing::identical_points(2, 100, 1.f, 2.f, -1.f);
  cases.push_back({"identical", same, first_rows(same, 7), 0.2f, 16});
  Tensor few = pointrt::testing::identical_points(2, 5, 1.f, 2.f, -1.f);
  cases.push_back({"fewer_than_k", few, few, 0.2f, 16});
  Tensor one = pointrt::testing::identical_points(1, 1, 3.f, 0.f, 0.f);
  cases.push_back({"one_point", one, pointrt::testing::identical_points(1, 3, 3.1f, 0.f, 0.f), 0.2f, 8});
  Tensor clusters = pointrt::testing::clustered_points(3, 2048, 8, 0.05f, 11);
  cases.push_back({"clusters", clusters, first_rows(clusters, 300), 0.2f, 32});
  cases.push_back({"clusters_k1", clusters, first_rows(clusters, 300), 0.1f, 1});
  cases.push_back({"clusters_k100", clusters, first_rows(clusters, 70), 0.3f, 100});
  Tensor empty_q = pointrt::testing::identical_points(3, 40, 500.f, 500.f, 500.f);
  cases.push_back({"empty_balls", clusters, empty_q, 1.f, 16});
  Tensor lattice = pointrt::testing::lattice_points(2, 1000, 0.5f);
  cases.push_back({"lattice_on_radius", lattice, first_rows(lattice, 200), 0.5f, 8});
  cases.push_back({"lattice_diagonal", lattice, first_rows(lattice, 200), std::sqrt(0.5f), 32});
  Tensor uniform = pointrt::testing::uniform_points(2, 3000, -2.f, 2.f, 5);
  cases.push_back({"uniform_not_multiple_of_32", uniform, first_rows(uniform, 77), 0.9f, 40});
  // More than 32 hits in one source segment of the CUDA kernel (K > 32): exercises its rescan, for 8 and 32 queries a
  // block.
  Tensor many = pointrt::testing::identical_points(1, 3000, 1.f, 2.f, -1.f);
  cases.push_back({"identical_k100", many, first_rows(many, 5), 0.2f, 100});
  Tensor wide = pointrt::testing::identical_points(1, 2000, -4.f, 2.f, 1.f);
  cases.push_back({"identical_4000_queries_k64", wide,
                   pointrt::testing::identical_points(1, 4000, -4.f, 2.f, 1.05f), 0.2f, 64});
  Tensor none = Tensor::empty({2, 0, 3}, DType::F32);
  cases.push_back({"no_sources", none, first_rows(uniform, 9), 0.9f, 4});
  return cases;
}

}  // namespace

TEST(BallQuery, CpuMatchesOracleOnAdversarialClouds) {
  for (const Case& c : adversarial_cases()) {
    const Result got = run_cpu(c.xyz, c.q, c.r, c.k);
    expect_same(oracle(c.xyz, c.q, c.r, c.k), got, c.name);
    EXPECT_EQ(check_properties(c.xyz, c.q, c.r, c.k, got), "") << c.name;
  }
}

TEST(BallQuery, IdenticalPointsFindMinOfNAndK) {
  Tensor same = pointrt::testing::identical_points(1, 100, 1.f, 2.f, -1.f);
  const Result a = run_cpu(same, first_rows(same, 3), 0.2f, 16);
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(a.cnt.data_as<std::int32_t>()[j], 16);
    for (int t = 0; t < 16; ++t) EXPECT_EQ(a.idx.data_as<std::int32_t>()[j * 16 + t], t);
  }
  Tensor five = pointrt::testing::identical_points(1, 5, 1.f, 2.f, -1.f);
  const Result b = run_cpu(five, first_rows(five, 1), 0.2f, 12);
  EXPECT_EQ(b.cnt.data_as<std::int32_t>()[0], 5);
  const std::vector<std::int32_t> want = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1};
  for (int t = 0; t < 12; ++t) EXPECT_EQ(b.idx.data_as<std::int32_t>()[t], want[static_cast<std::size_t>(t)]) << t;
}

TEST(BallQuery, PointsExactlyOnTheRadiusAreExcluded) {
  // Lattice spacing 0.5 and r = 0.5: the six face neighbours lie exactly on the sphere (d2 = 0.25 = r2 exactly).
  Tensor lattice = pointrt::testing::lattice_points(1, 1000, 0.5f);
  const Result on = run_cpu(lattice, first_rows(lattice, 1000), 0.5f, 8);
  for (int j = 0; j < 1000; ++j) {
    ASSERT_EQ(on.cnt.data_as<std::int32_t>()[j], 1) << j;  // only the centre itself
    ASSERT_EQ(on.idx.data_as<std::int32_t>()[j * 8 + 5], j);
  }
  // A hair larger radius takes the face neighbours in: interior point 111 = (0.5, 0.5, 0.5) has 6 of them.
  const Result in = run_cpu(lattice, first_rows(lattice, 1000), std::nextafter(0.5f, 1.f), 8);
  EXPECT_EQ(in.cnt.data_as<std::int32_t>()[111], 7);
  const std::vector<std::int32_t> want = {11, 101, 110, 111, 112, 121, 211, 11};
  for (int t = 0; t < 8; ++t) EXPECT_EQ(in.idx.data_as<std::int32_t>()[111 * 8 + t], want[static_cast<std::size_t>(t)]);
}

TEST(BallQuery, EmptyBallsAreZeroFilled) {
  Tensor pts = pointrt::testing::uniform_points(1, 100, 0.f, 1.f, 3);
  Result res{Tensor::empty({1, 2}, DType::I32), Tensor::empty({1, 2, 4}, DType::I32)};
  for (int i = 0; i < 2; ++i) res.cnt.data_as<std::int32_t>()[i] = -5;
  for (int i = 0; i < 8; ++i) res.idx.data_as<std::int32_t>()[i] = -5;  // the call must write every slot
  ops::ball_query_cpu(pts, pointrt::testing::identical_points(1, 2, 50.f, 0.f, 0.f), BallQueryParams{1.f, 4}, res.cnt,
                      res.idx);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(res.cnt.data_as<std::int32_t>()[i], 0);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(res.idx.data_as<std::int32_t>()[i], 0);
}

TEST(BallQuery, CpuMatchesOracleOnRealFramesAllLayers) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor frames = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1}));
  for (const Layer& l : kLayers) {
    const Tensor xyz = first_rows(frames, l.n);
    const Tensor q = layer_queries(xyz, l);
    const Result got = run_cpu(xyz, q, l.r, l.k);
    expect_same(oracle(xyz, q, l.r, l.k), got, l.name);
    if (l.m <= 1024) {
      EXPECT_EQ(check_properties(xyz, q, l.r, l.k, got), "") << l.name;
    }
    // Non-vote centres are sources themselves, so no ball is empty; vote centres 60 m up always are.
    const std::int32_t* cnt = got.cnt.data_as<std::int32_t>();
    for (std::int64_t j = 0; j < 2 * l.m; ++j) {
      if (!l.vote) {
        ASSERT_GE(cnt[j], 1) << l.name << " " << j;
      } else if (j % 8 == 3) {
        ASSERT_EQ(cnt[j], 0) << l.name << " " << j;
      }
    }
  }
}

TEST(BallQuery, RejectsBadInput) {
  Tensor xyz = Tensor::zeros({2, 10, 3}, DType::F32);
  Tensor q = Tensor::zeros({2, 4, 3}, DType::F32);
  Tensor cnt = Tensor::zeros({2, 4}, DType::I32);
  Tensor idx = Tensor::zeros({2, 4, 8}, DType::I32);
  auto message = [&](const Tensor& x, const Tensor& qq, BallQueryParams p, Tensor& c, Tensor& i) -> std::string {
    try {
      ops::ball_query_cpu(x, qq, p, c, i);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const BallQueryParams good{0.5f, 8};
  EXPECT_EQ(message(xyz, q, good, cnt, idx), "no error");
  EXPECT_NE(message(xyz, q, {0.f, 8}, cnt, idx).find("BallQuery: radius must be finite and > 0"), std::string::npos);
  EXPECT_NE(message(xyz, q, {-1.f, 8}, cnt, idx).find("radius must be finite and > 0"), std::string::npos);
  EXPECT_NE(message(xyz, q, {std::numeric_limits<float>::quiet_NaN(), 8}, cnt, idx).find("radius"), std::string::npos);
  EXPECT_NE(message(xyz, q, {0.5f, 0}, cnt, idx).find("BallQuery: nsample must be >= 1, got 0"), std::string::npos);
  EXPECT_NE(message(xyz, q, {0.5f, -3}, cnt, idx).find("nsample must be >= 1"), std::string::npos);
  Tensor q_batch = Tensor::zeros({3, 4, 3}, DType::F32);
  EXPECT_NE(message(xyz, q_batch, good, cnt, idx).find("BallQuery: new_xyz: expected f32[2, *, 3]@host"),
            std::string::npos);
  Tensor xyz4 = Tensor::zeros({2, 10, 4}, DType::F32);
  EXPECT_NE(message(xyz4, q, good, cnt, idx).find("BallQuery: xyz: expected f32[*, *, 3]@host, got f32[2, 10, 4]@host"),
            std::string::npos);
  Tensor xyz_i = Tensor::zeros({2, 10, 3}, DType::I32);
  EXPECT_NE(message(xyz_i, q, good, cnt, idx).find("BallQuery: xyz: expected f32"), std::string::npos);
  Tensor idx_k = Tensor::zeros({2, 4, 7}, DType::I32);
  EXPECT_NE(message(xyz, q, good, cnt, idx_k).find("BallQuery: idx: expected i32[2, 4, 8]@host"), std::string::npos);
  Tensor cnt_f = Tensor::zeros({2, 4}, DType::F32);
  EXPECT_NE(message(xyz, q, good, cnt_f, idx).find("BallQuery: idx_cnt: expected i32[2, 4]@host"), std::string::npos);
  EXPECT_EQ(ops::ball_query_workspace_bytes(2, 10, 4, good), 0u);
#ifdef POINTRT_WITH_CUDA
  // Host tensors handed to the CUDA entry point are refused before any device work.
  try {
    ops::ball_query_cuda(xyz, q, good, cnt, idx, nullptr, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BallQuery: xyz: expected f32[*, *, 3]@cuda"), std::string::npos) << e.what();
  }
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

// Runs the kernel on guarded device copies (outputs pre-filled with garbage: the call must write every element) and
// checks the guards.
Result run_cuda(const Tensor& xyz, const Tensor& q, float r, int k) {
  const std::int64_t b = xyz.dim(0), m = q.dim(1);
  pointrt::testing::GuardedDeviceTensor d_xyz(xyz), d_q(q);
  std::vector<std::int32_t> garbage_cnt(static_cast<std::size_t>(b * m), -7);
  std::vector<std::int32_t> garbage_idx(static_cast<std::size_t>(b * m * k), -7);
  pointrt::testing::GuardedDeviceTensor d_cnt(Tensor::from_vector(garbage_cnt, {b, m}));
  pointrt::testing::GuardedDeviceTensor d_idx(Tensor::from_vector(garbage_idx, {b, m, k}));
  const BallQueryParams p{r, k};
  pointrt::testing::GuardedWorkspace ws(ops::ball_query_workspace_bytes(b, xyz.dim(1), m, p));
  ops::ball_query_cuda(d_xyz.tensor(), d_q.tensor(), p, d_cnt.tensor(), d_idx.tensor(), ws.get(), ws.size(), nullptr);
  Result out{d_cnt.to_host(), d_idx.to_host()};
  EXPECT_TRUE(d_cnt.guards_intact()) << "idx_cnt guard";
  EXPECT_TRUE(d_idx.guards_intact()) << "idx guard";
  EXPECT_TRUE(d_xyz.guards_intact() && d_q.guards_intact()) << "input guard";
  EXPECT_TRUE(ws.guards_intact()) << "workspace guard";
  return out;
}

}  // namespace

TEST(BallQueryCuda, MatchesCpuOnRealFramesAllLayers) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor one = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0}));
  const Tensor three = pointrt::testing::xyz_of(pointrt::testing::kitti_points({1, 3, 5}));
  for (const Tensor* frames : {&one, &three}) {
    for (const Layer& l : kLayers) {
      const Tensor xyz = first_rows(*frames, l.n);
      const Tensor q = layer_queries(xyz, l);
      const std::string what = std::string(l.name) + " B=" + std::to_string(frames->dim(0));
      expect_same(run_cpu(xyz, q, l.r, l.k), run_cuda(xyz, q, l.r, l.k), what);
    }
  }
}

TEST(BallQueryCuda, MatchesCpuOnAdversarialClouds) {
  POINTRT_REQUIRE_CUDA();
  for (const Case& c : adversarial_cases()) expect_same(run_cpu(c.xyz, c.q, c.r, c.k), run_cuda(c.xyz, c.q, c.r, c.k), c.name);
}

TEST(BallQueryCuda, RejectsBadInput) {
  POINTRT_REQUIRE_CUDA();
  pointrt::testing::GuardedDeviceTensor xyz({2, 10, 3}, DType::F32), q({3, 4, 3}, DType::F32);
  pointrt::testing::GuardedDeviceTensor cnt({2, 4}, DType::I32), idx({2, 4, 8}, DType::I32);
  try {
    ops::ball_query_cuda(xyz.tensor(), q.tensor(), {0.5f, 8}, cnt.tensor(), idx.tensor(), nullptr, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BallQuery: new_xyz: expected f32[2, *, 3]@cuda"), std::string::npos) << e.what();
  }
}

#endif  // POINTRT_WITH_CUDA
