// HAVSampling: CPU reference against a brute-force oracle and properties, CUDA against CPU (exact), CUDA graph
// capture, determinism, and validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ops/havs/havs.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

#ifdef POINTRT_WITH_CUDA
#include "core/cuda_utils.h"
#endif

using namespace pointrt;
using ops::HavsParams;

namespace {

using Triple = std::tuple<long long, long long, long long>;

struct HavsOut {
  Tensor indices;
  Tensor voxel;
  Tensor cells;
};

HavsParams params_of(int s, float vx, float vy, float vz, int max_iter = 20, float tol = 0.01f) {
  HavsParams p;
  p.sample_num = s;
  p.voxel[0] = vx;
  p.voxel[1] = vy;
  p.voxel[2] = vz;
  p.max_iter = max_iter;
  p.tolerance = tol;
  return p;
}

HavsParams sa1() { return params_of(4096, 0.4f, 0.4f, 0.35f); }
HavsParams sa2() { return params_of(1024, 2.0f, 2.0f, 1.75f); }

HavsOut run_cpu(const Tensor& xyz, const HavsParams& p) {
  const std::int64_t b = xyz.dim(0);
  HavsOut o{Tensor::empty({b, p.sample_num}, DType::I32), Tensor::empty({b, 3}, DType::F32),
            Tensor::empty({b}, DType::I32)};
  ops::havs_cpu(xyz, p, o.indices, o.voxel, o.cells);
  return o;
}

Triple cell_of(const float* q, const float* v) {
  return {static_cast<long long>(std::round(q[0] / v[0])), static_cast<long long>(std::round(q[1] / v[1])),
          static_cast<long long>(std::round(q[2] / v[2]))};
}

float dist2_to_centre(const float* q, const float* v) {
  float d[3];
  for (int a = 0; a < 3; ++a) {
    const float r = std::round(q[a] / v[a]);
    const float centre = r * v[a];
    d[a] = q[a] - centre;
  }
  float s = d[0] * d[0];
  s = s + d[1] * d[1];
  s = s + d[2] * d[2];
  return s;
}

// Independent brute-force oracle of one batch element: std::map from cell triple to the (delta, index) minimum,
// float32 bisection with at most max_iter counting passes ending on the last evaluated size.
struct OracleResult {
  std::vector<int> indices;
  float voxel[3];
  int cells;
  bool converged;
};

OracleResult oracle(const float* pts, int n, const HavsParams& p) {
  float c[3], l[3], u[3];
  for (int a = 0; a < 3; ++a) {
    c[a] = p.voxel[a];
    l[a] = 0.0f;
    u[a] = p.voxel[a] + p.voxel[a];
  }
  const float lower = static_cast<float>(p.sample_num);
  const float upper = static_cast<float>(p.sample_num) * (1.0f + p.tolerance);
  int k = 0;
  bool conv = false;
  for (int pass = 1; pass <= p.max_iter; ++pass) {
    std::set<Triple> cells;
    for (int i = 0; i < n; ++i) cells.insert(cell_of(pts + 3 * i, c));
    k = static_cast<int>(cells.size());
    conv = lower <= static_cast<float>(k) && static_cast<float>(k) <= upper;
    if (conv || pass == p.max_iter) break;
    if (k > p.sample_num) std::copy(c, c + 3, l);
    if (k < p.sample_num) std::copy(c, c + 3, u);
    for (int a = 0; a < 3; ++a) c[a] = (l[a] + u[a]) / 2.0f;
  }
  std::map<Triple, std::pair<float, int>> best;
  for (int i = 0; i < n; ++i) {
    const std::pair<float, int> cand{dist2_to_centre(pts + 3 * i, c), i};
    auto [it, inserted] = best.emplace(cell_of(pts + 3 * i, c), cand);
    if (!inserted && cand < it->second) it->second = cand;
  }
  std::vector<int> reps;
  for (const auto& kv : best) reps.push_back(kv.second.second);
  std::sort(reps.begin(), reps.end());
  OracleResult r{};
  for (int j = 0; j < p.sample_num; ++j) r.indices.push_back(reps[static_cast<std::size_t>(j) % reps.size()]);
  std::copy(c, c + 3, r.voxel);
  r.cells = k;
  r.converged = conv;
  return r;
}

std::uint32_t bits(float f) {
  std::uint32_t b = 0;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// Exact equality of two results (indices, voxel bit patterns, cell counts); "" when equal.
std::string compare_results(const HavsOut& e, const HavsOut& a) {
  std::string d = pointrt::testing::compare_exact_i32(e.indices, a.indices);
  if (!d.empty()) return "indices: " + d;
  d = pointrt::testing::compare_exact_i32(e.cells, a.cells);
  if (!d.empty()) return "num_cells: " + d;
  const float* ev = e.voxel.data_as<float>();
  const float* av = a.voxel.data_as<float>();
  for (std::int64_t i = 0; i < e.voxel.numel(); ++i) {
    if (bits(ev[i]) != bits(av[i])) {
      return "voxel[" + std::to_string(i) + "]: expected " + std::to_string(ev[i]) + " got " + std::to_string(av[i]);
    }
  }
  return "";
}

void expect_matches_oracle(const Tensor& xyz, const HavsParams& p, const HavsOut& got, bool expect_converged) {
  const int n = static_cast<int>(xyz.dim(1));
  for (std::int64_t b = 0; b < xyz.dim(0); ++b) {
    const OracleResult r = oracle(xyz.data_as<float>() + b * n * 3, n, p);
    const std::int32_t* idx = got.indices.data_as<std::int32_t>() + b * p.sample_num;
    EXPECT_EQ(std::vector<int>(idx, idx + p.sample_num), r.indices) << "batch " << b;
    for (int a = 0; a < 3; ++a) EXPECT_EQ(bits(got.voxel.data_as<float>()[b * 3 + a]), bits(r.voxel[a])) << "batch " << b;
    EXPECT_EQ(got.cells.data_as<std::int32_t>()[b], r.cells) << "batch " << b;
    if (expect_converged) {
      EXPECT_TRUE(r.converged) << "batch " << b << ": search did not converge";
    }
  }
}

// Properties of a result that hold whatever the search did.
void expect_properties(const Tensor& xyz, const HavsParams& p, const HavsOut& got) {
  const int n = static_cast<int>(xyz.dim(1)), s = p.sample_num;
  for (std::int64_t b = 0; b < xyz.dim(0); ++b) {
    const float* pts = xyz.data_as<float>() + b * n * 3;
    const float* v = got.voxel.data_as<float>() + b * 3;
    const std::int32_t* idx = got.indices.data_as<std::int32_t>() + b * s;
    const int k = got.cells.data_as<std::int32_t>()[b];
    std::map<Triple, std::pair<float, int>> best;
    for (int i = 0; i < n; ++i) {
      const std::pair<float, int> cand{dist2_to_centre(pts + 3 * i, v), i};
      auto [it, inserted] = best.emplace(cell_of(pts + 3 * i, v), cand);
      if (!inserted && cand < it->second) it->second = cand;
    }
    ASSERT_EQ(static_cast<int>(best.size()), k) << "num_cells is not the distinct cell count at the final voxel";
    const int kept = std::min(k, s);
    std::set<Triple> seen;
    for (int j = 0; j < kept; ++j) {
      ASSERT_GE(idx[j], 0);
      ASSERT_LT(idx[j], n);
      if (j > 0) {
        EXPECT_LT(idx[j - 1], idx[j]) << "not strictly increasing at " << j;
      }
      const Triple cell = cell_of(pts + 3 * idx[j], v);
      EXPECT_TRUE(seen.insert(cell).second) << "two outputs share a cell at " << j;
      EXPECT_EQ(best.at(cell).second, idx[j]) << "output " << j << " is not its cell's (delta, index) minimum";
    }
    if (k > s) {
      // Ascending-index truncation: no dropped representative has a smaller index than the last kept one.
      for (const auto& kv : best) {
        if (!seen.count(kv.first)) {
          EXPECT_GT(kv.second.second, idx[s - 1]);
        }
      }
    }
    for (int j = kept; j < s; ++j) EXPECT_EQ(idx[j], idx[j % k]) << "padding not cyclic at " << j;
  }
}

// SA1's sampled points (xyz of the indices chosen by the CPU reference), the input of SA2.
Tensor sa1_samples(const Tensor& xyz) { return pointrt::testing::gather_rows(xyz, run_cpu(xyz, sa1()).indices); }

// Large coordinates with a tiny voxel: cell coordinates beyond 2^20 (the kernel's exact fallback entries).
Tensor far_points(int batch, int n) {
  Tensor t = pointrt::testing::uniform_points(batch, n, 0.0f, 1.0f, 99);
  float* v = t.data_as<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) v[i] = 20000.0f + 0.1f * v[i];
  return t;
}

// Far apart points: even 2 * v0 leaves every point in its own cell, so the search needs t > 2 and cannot converge.
Tensor spread_points(int batch, int n) { return pointrt::testing::uniform_points(batch, n, -500.0f, 500.0f, 7); }

struct Case {
  std::string name;
  Tensor xyz;
  HavsParams params;
};

std::vector<Case> adversarial_cases() {
  std::vector<Case> cases;
  cases.push_back({"identical", pointrt::testing::identical_points(2, 1000, 1.5f, -2.0f, 0.25f), params_of(64, 0.4f, 0.4f, 0.35f)});
  cases.push_back({"one_point", pointrt::testing::identical_points(1, 1, 3.0f, 4.0f, 5.0f), params_of(16, 0.4f, 0.4f, 0.35f)});
  cases.push_back({"fewer_points_than_samples", pointrt::testing::uniform_points(2, 100, -5.0f, 5.0f, 3), params_of(256, 0.4f, 0.4f, 0.35f)});
  cases.push_back({"tight_clusters", pointrt::testing::clustered_points(3, 8192, 12, 0.05f, 11), params_of(1024, 0.4f, 0.4f, 0.35f)});
  cases.push_back({"lattice_half_cells", pointrt::testing::lattice_points(2, 4096, 0.5f), params_of(512, 1.0f, 1.0f, 1.0f)});
  cases.push_back({"needs_t_above_2", spread_points(2, 3000), params_of(100, 0.4f, 0.4f, 0.35f)});
  cases.push_back({"max_iter_1", pointrt::testing::uniform_points(2, 5000, -20.0f, 20.0f, 5), params_of(500, 0.4f, 0.4f, 0.35f, 1)});
  cases.push_back({"far_coordinates", far_points(2, 3000), params_of(300, 0.01f, 0.01f, 0.01f)});
  cases.push_back({"mixed_batch", pointrt::testing::stack({pointrt::testing::identical_points(1, 2048, 0.f, 0.f, 0.f).reshape({2048, 3}),
                                                            pointrt::testing::uniform_points(1, 2048, -30.f, 30.f, 8).reshape({2048, 3}),
                                                            pointrt::testing::clustered_points(1, 2048, 3, 0.2f, 9).reshape({2048, 3})}),
                   params_of(300, 0.4f, 0.4f, 0.35f)});
  return cases;
}

}  // namespace

// ---- (1) CPU reference against the oracle, real frames ----

TEST(HavsCpu, MatchesOracleOnRealFramesSa1) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor xyz = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1, 2}));
  const HavsOut got = run_cpu(xyz, sa1());
  expect_matches_oracle(xyz, sa1(), got, /*expect_converged=*/true);
}

TEST(HavsCpu, MatchesOracleOnRealFramesSa2) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor xyz = sa1_samples(pointrt::testing::xyz_of(pointrt::testing::kitti_points({3, 4})));
  ASSERT_EQ(xyz.dim(1), 4096);
  const HavsOut got = run_cpu(xyz, sa2());
  expect_matches_oracle(xyz, sa2(), got, /*expect_converged=*/true);
}

TEST(HavsCpu, MatchesOracleOnAdversarialClouds) {
  for (const Case& c : adversarial_cases()) {
    SCOPED_TRACE(c.name);
    expect_matches_oracle(c.xyz, c.params, run_cpu(c.xyz, c.params), false);
  }
}

// ---- (2) properties ----

TEST(HavsCpu, PropertiesOnRealFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor xyz = pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 5}));
  const HavsOut got = run_cpu(xyz, sa1());
  expect_properties(xyz, sa1(), got);
  for (int b = 0; b < 2; ++b) {
    const int k = got.cells.data_as<std::int32_t>()[b];
    EXPECT_GE(k, 4096);
    EXPECT_LE(static_cast<float>(k), 4096.0f * 1.01f);
  }
}

TEST(HavsCpu, PropertiesOnAdversarialClouds) {
  for (const Case& c : adversarial_cases()) {
    SCOPED_TRACE(c.name);
    expect_properties(c.xyz, c.params, run_cpu(c.xyz, c.params));
  }
}

TEST(HavsCpu, AdversarialSpecifics) {
  {  // all points identical: one cell, every output is point 0 (ties go to the smallest index)
    const Tensor xyz = pointrt::testing::identical_points(1, 500, 7.0f, 7.0f, 7.0f);
    const HavsOut o = run_cpu(xyz, params_of(32, 0.4f, 0.4f, 0.35f));
    EXPECT_EQ(o.cells.data_as<std::int32_t>()[0], 1);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(o.indices.data_as<std::int32_t>()[j], 0);
  }
  {  // fewer distinct points than samples: cyclic repetition of every point
    const Tensor xyz = pointrt::testing::lattice_points(1, 10, 5.0f);
    const HavsOut o = run_cpu(xyz, params_of(25, 0.4f, 0.4f, 0.35f));
    EXPECT_EQ(o.cells.data_as<std::int32_t>()[0], 10);
    for (int j = 0; j < 25; ++j) EXPECT_EQ(o.indices.data_as<std::int32_t>()[j], j % 10);
  }
  {  // max_iter = 1: the initial voxel is the final one
    const Tensor xyz = pointrt::testing::uniform_points(1, 2000, -10.f, 10.f, 1);
    const HavsOut o = run_cpu(xyz, params_of(100, 0.4f, 0.4f, 0.35f, 1));
    EXPECT_EQ(o.voxel.data_as<float>()[0], 0.4f);
    EXPECT_EQ(o.voxel.data_as<float>()[1], 0.4f);
    EXPECT_EQ(o.voxel.data_as<float>()[2], 0.35f);
  }
  {  // needs t > 2: the search runs out of passes just below 2 * v0 with too many cells
    const Tensor xyz = spread_points(1, 3000);
    const HavsParams p = params_of(100, 0.4f, 0.4f, 0.35f, 5);
    const HavsOut o = run_cpu(xyz, p);
    EXPECT_GT(o.cells.data_as<std::int32_t>()[0], 101);
    EXPECT_GT(o.voxel.data_as<float>()[0], 0.4f);
    EXPECT_LT(o.voxel.data_as<float>()[0], 0.8f);
    EXPECT_NEAR(o.voxel.data_as<float>()[0], 0.4f * 1.9375f, 1e-6f);  // t = 1, 1.5, 1.75, 1.875, 1.9375
  }
}

TEST(HavsCpu, DeterministicAcrossRuns) {
  const Tensor xyz = pointrt::testing::clustered_points(2, 8192, 20, 0.3f, 4);
  EXPECT_EQ(compare_results(run_cpu(xyz, sa2()), run_cpu(xyz, sa2())), "");
}

// ---- (6) validation ----

namespace {

std::string cpu_error(const Tensor& xyz, const HavsParams& p, Tensor indices, Tensor voxel, Tensor cells) {
  try {
    ops::havs_cpu(xyz, p, indices, voxel, cells);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& msg, const std::string& fragment) {
  EXPECT_NE(msg.find("havs"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
}

}  // namespace

TEST(HavsCpu, BadShapesAndParametersAreClearErrors) {
  const Tensor xyz = pointrt::testing::uniform_points(2, 64, 0.f, 1.f, 1);
  const HavsParams p = params_of(16, 0.4f, 0.4f, 0.35f);
  auto idx = [](std::int64_t b, std::int64_t s) { return Tensor::empty({b, s}, DType::I32); };
  auto vox = [](std::int64_t b) { return Tensor::empty({b, 3}, DType::F32); };
  auto cnt = [](std::int64_t b) { return Tensor::empty({b}, DType::I32); };
  EXPECT_EQ(cpu_error(xyz, p, idx(2, 16), vox(2), cnt(2)), "");
  expect_error(cpu_error(Tensor::empty({2, 64, 4}, DType::F32), p, idx(2, 16), vox(2), cnt(2)), "xyz: expected f32[*, *, 3]");
  expect_error(cpu_error(Tensor::empty({64, 3}, DType::F32), p, idx(2, 16), vox(2), cnt(2)), "xyz");
  expect_error(cpu_error(Tensor::empty({2, 64, 3}, DType::I32), p, idx(2, 16), vox(2), cnt(2)), "xyz");
  expect_error(cpu_error(Tensor::empty({2, 0, 3}, DType::F32), p, idx(2, 16), vox(2), cnt(2)), "N >= 1");
  expect_error(cpu_error(xyz, p, idx(2, 17), vox(2), cnt(2)), "indices: expected i32[2, 16]");
  expect_error(cpu_error(xyz, p, idx(1, 16), vox(2), cnt(2)), "indices");
  expect_error(cpu_error(xyz, p, idx(2, 16), Tensor::empty({2, 3}, DType::I32), cnt(2)), "voxel: expected f32[2, 3]");
  expect_error(cpu_error(xyz, p, idx(2, 16), vox(2), Tensor::empty({2}, DType::F32)), "num_cells: expected i32[2]");
  HavsParams bad = p;
  bad.sample_num = 0;
  expect_error(cpu_error(xyz, bad, idx(2, 0), vox(2), cnt(2)), "sample_num must be >= 1");
  bad = p;
  bad.max_iter = 0;
  expect_error(cpu_error(xyz, bad, idx(2, 16), vox(2), cnt(2)), "max_iter must be >= 1");
  bad = p;
  bad.tolerance = -0.5f;
  expect_error(cpu_error(xyz, bad, idx(2, 16), vox(2), cnt(2)), "tolerance must be finite and >= 0");
  bad.tolerance = NAN;
  expect_error(cpu_error(xyz, bad, idx(2, 16), vox(2), cnt(2)), "tolerance");
  bad = p;
  bad.voxel[1] = 0.0f;
  expect_error(cpu_error(xyz, bad, idx(2, 16), vox(2), cnt(2)), "voxel[1] must be finite and > 0");
  bad.voxel[1] = INFINITY;
  expect_error(cpu_error(xyz, bad, idx(2, 16), vox(2), cnt(2)), "voxel[1]");
}

// ---- (3)-(5) CUDA ----

#ifdef POINTRT_WITH_CUDA

namespace {

Tensor filled_i32(const Shape& shape, std::int32_t value) {
  Tensor t = Tensor::empty(shape, DType::I32);
  std::fill(t.data_as<std::int32_t>(), t.data_as<std::int32_t>() + t.numel(), value);
  return t;
}

Tensor filled_f32(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::fill(t.data_as<float>(), t.data_as<float>() + t.numel(), value);
  return t;
}

// One havs_cuda call with guarded inputs, outputs (pre-filled with garbage) and workspace (pre-filled with 0x5A).
HavsOut run_cuda(const Tensor& xyz, const HavsParams& p) {
  const std::int64_t b = xyz.dim(0), n = xyz.dim(1);
  pointrt::testing::GuardedDeviceTensor dxyz(xyz);
  pointrt::testing::GuardedDeviceTensor idx(filled_i32({b, p.sample_num}, -7));
  pointrt::testing::GuardedDeviceTensor vox(filled_f32({b, 3}, -1.0f));
  pointrt::testing::GuardedDeviceTensor cells(filled_i32({b}, -7));
  pointrt::testing::GuardedWorkspace ws(ops::havs_workspace_bytes(b, n, p.sample_num));
  core::Stream stream;
  // Dirty the workspace on the op's own stream (core::Stream is non-blocking: it would not wait for a legacy-stream
  // memset, which could then land in the middle of the operator).
  if (ws.get() != nullptr) POINTRT_CUDA_CHECK(cudaMemsetAsync(ws.get(), 0x5A, ws.size(), stream.get()));
  ops::havs_cuda(dxyz.tensor(), p, idx.tensor(), vox.tensor(), cells.tensor(), ws.get(), ws.size(), stream.get());
  stream.synchronize();
  EXPECT_TRUE(dxyz.guards_intact());
  EXPECT_TRUE(idx.guards_intact()) << "write past the indices";
  EXPECT_TRUE(vox.guards_intact()) << "write past the voxel sizes";
  EXPECT_TRUE(cells.guards_intact()) << "write past num_cells";
  EXPECT_TRUE(ws.guards_intact()) << "write past the workspace";
  return {idx.to_host(), vox.to_host(), cells.to_host()};
}

void expect_cuda_matches_cpu(const Tensor& xyz, const HavsParams& p) {
  const HavsOut cpu = run_cpu(xyz, p);
  const HavsOut gpu = run_cuda(xyz, p);
  EXPECT_EQ(compare_results(cpu, gpu), "");
}

}  // namespace

TEST(HavsCuda, MatchesCpuOnRealFramesSa1) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({0})), sa1());
  expect_cuda_matches_cpu(pointrt::testing::xyz_of(pointrt::testing::kitti_points({1, 2, 3, 4})), sa1());
}

TEST(HavsCuda, MatchesCpuOnRealFramesSa2) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  expect_cuda_matches_cpu(sa1_samples(pointrt::testing::xyz_of(pointrt::testing::kitti_points({5}))), sa2());
  expect_cuda_matches_cpu(sa1_samples(pointrt::testing::xyz_of(pointrt::testing::kitti_points({0, 1, 2, 3}))), sa2());
}

TEST(HavsCuda, MatchesCpuOnAdversarialClouds) {
  POINTRT_REQUIRE_CUDA();
  for (const Case& c : adversarial_cases()) {
    SCOPED_TRACE(c.name);
    expect_cuda_matches_cpu(c.xyz, c.params);
  }
  // A larger cloud than fits the shared-memory table on any GPU: the table lives in the workspace.
  SCOPED_TRACE("global_table");
  expect_cuda_matches_cpu(pointrt::testing::clustered_points(2, 40000, 50, 0.5f, 21), params_of(4096, 0.4f, 0.4f, 0.35f));
}

TEST(HavsCuda, GraphReplayEqualsPlainLaunch) {
  POINTRT_REQUIRE_CUDA();
  const Tensor xyz = pointrt::testing::clustered_points(2, 16384, 40, 0.8f, 13);
  const HavsParams p = sa1();
  const HavsOut plain = run_cuda(xyz, p);

  pointrt::testing::GuardedDeviceTensor dxyz(xyz);
  pointrt::testing::GuardedDeviceTensor idx(filled_i32({2, p.sample_num}, -7));
  pointrt::testing::GuardedDeviceTensor vox(filled_f32({2, 3}, -1.0f));
  pointrt::testing::GuardedDeviceTensor cells(filled_i32({2}, -7));
  pointrt::testing::GuardedWorkspace ws(ops::havs_workspace_bytes(2, 16384, p.sample_num));
  core::Stream stream;
  cudaGraph_t graph = nullptr;
  POINTRT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeGlobal));
  ops::havs_cuda(dxyz.tensor(), p, idx.tensor(), vox.tensor(), cells.tensor(), ws.get(), ws.size(), stream.get());
  POINTRT_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
  cudaGraphExec_t exec = nullptr;
  POINTRT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int replay = 0; replay < 2; ++replay) {
    POINTRT_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
    stream.synchronize();
    EXPECT_EQ(compare_results(plain, {idx.to_host(), vox.to_host(), cells.to_host()}), "") << "replay " << replay;
    // Scribble over the outputs so the second replay has to write them again.
    idx.tensor().copy_from(filled_i32({2, p.sample_num}, -7));
  }
  EXPECT_TRUE(idx.guards_intact());
  EXPECT_TRUE(ws.guards_intact());
  POINTRT_CUDA_CHECK(cudaGraphExecDestroy(exec));
  POINTRT_CUDA_CHECK(cudaGraphDestroy(graph));
}

TEST(HavsCuda, BitIdenticalAcrossRuns) {
  POINTRT_REQUIRE_CUDA();
  const Tensor xyz = pointrt::testing::clustered_points(3, 16384, 60, 1.0f, 17);
  EXPECT_EQ(compare_results(run_cuda(xyz, sa1()), run_cuda(xyz, sa1())), "");
}

TEST(HavsCuda, BadArgumentsAreClearErrors) {
  POINTRT_REQUIRE_CUDA();
  const HavsParams p = params_of(16, 0.4f, 0.4f, 0.35f);
  Tensor dxyz = pointrt::testing::uniform_points(1, 64, 0.f, 1.f, 1).to(Device::CUDA);
  Tensor idx = Tensor::empty({1, 16}, DType::I32, Device::CUDA);
  Tensor vox = Tensor::empty({1, 3}, DType::F32, Device::CUDA);
  Tensor cells = Tensor::empty({1}, DType::I32, Device::CUDA);
  const std::size_t need = ops::havs_workspace_bytes(1, 64, 16);
  core::DeviceBuffer ws(need);
  auto call = [&](const Tensor& x, Tensor& i, void* w, std::size_t bytes) -> std::string {
    try {
      ops::havs_cuda(x, p, i, vox, cells, w, bytes, nullptr);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const Tensor host_xyz = pointrt::testing::uniform_points(1, 64, 0.f, 1.f, 1);
  expect_error(call(host_xyz, idx, ws.get(), need), "xyz: expected f32[*, *, 3]@cuda");
  Tensor host_idx = Tensor::empty({1, 16}, DType::I32);
  expect_error(call(dxyz, host_idx, ws.get(), need), "indices: expected i32[1, 16]@cuda");
  expect_error(call(dxyz, idx, ws.get(), need - 1), "workspace");
  expect_error(call(dxyz, idx, nullptr, 0), "workspace");
  EXPECT_EQ(call(dxyz, idx, ws.get(), need), "");
  POINTRT_CUDA_CHECK(cudaDeviceSynchronize());
}

#endif  // POINTRT_WITH_CUDA
