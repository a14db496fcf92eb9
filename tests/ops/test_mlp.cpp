// Pointwise MLP: the CPU reference against a double-precision brute-force oracle (random inputs and real KITTI
// points), validation errors by message, thread-count invariance, and the CUDA kernels against the CPU reference at
// the IA-SSD pointwise sizes (guard regions, garbage-filled outputs, two runs bit-identical).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/parallel.h"
#include "ops/mlp/mlp.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::DenseLayer;
using pointrt::testing::DeviceLayers;
using pointrt::testing::expect_error;

namespace {


Tensor random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, {rows, cols});
}

// Brute force in double: plain loops, no blocking.
std::vector<double> oracle(const Tensor& x, const std::vector<DenseLayer>& layers) {
  const std::int64_t rows = x.dim(0);
  std::vector<double> out;
  for (std::int64_t r = 0; r < rows; ++r) {
    std::vector<double> h(x.data_as<float>() + r * x.dim(1), x.data_as<float>() + (r + 1) * x.dim(1));
    for (const DenseLayer& l : layers) {
      const std::int64_t cout = l.weight.dim(0), cin = l.weight.dim(1);
      std::vector<double> next(static_cast<std::size_t>(cout));
      for (std::int64_t o = 0; o < cout; ++o) {
        double s = l.bias.data_as<float>()[o];
        for (std::int64_t i = 0; i < cin; ++i) s += static_cast<double>(l.weight.data_as<float>()[o * cin + i]) * h[i];
        next[o] = l.relu ? std::max(s, 0.0) : s;
      }
      h = next;
    }
    out.insert(out.end(), h.begin(), h.end());
  }
  return out;
}

// max |got - want| / (1e-3 + max |want|) over the output (normalised error), and every element within
// atol_rel * max|want| + rtol * |want|.
void expect_close_to_oracle(const std::vector<double>& want, const Tensor& got, double rel) {
  ASSERT_EQ(static_cast<std::int64_t>(want.size()), got.numel());
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  int bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = got.data_as<float>()[i];
    if (!(std::fabs(g - want[i]) <= rel * (1e-3 + scale) + rel * std::fabs(want[i]))) {
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": want " << want[i] << ", got " << g;
    }
  }
  EXPECT_EQ(bad, 0);
}

Tensor run_cpu(const Tensor& x, const std::vector<DenseLayer>& layers) {
  Tensor out = Tensor::zeros({x.dim(0), layers.back().weight.dim(0)}, DType::F32);
  ops::mlp_cpu(x, layers, out);
  return out;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

}  // namespace

// Tolerance: float32 accumulation of at most a few hundred O(1) products: 1e-5 relative to the output's scale.
TEST(Mlp, CpuMatchesDoubleOracleOnRandomInputs) {
  for (const auto& widths : std::vector<std::vector<std::int64_t>>{{5, 17, 33, 3}, {1, 1}, {64, 128}, {7, 300, 2}}) {
    for (std::int64_t rows : {1, 37, 600}) {
      SCOPED_TRACE("rows " + std::to_string(rows) + ", C0 " + std::to_string(widths[0]));
      const Tensor x = random_matrix(rows, widths[0], 11);
      const auto layers = pointrt::testing::random_dense_layers(widths, 12, false);
      expect_close_to_oracle(oracle(x, layers), run_cpu(x, layers), 1e-5);
    }
  }
}

TEST(Mlp, CpuMatchesDoubleOracleOnRealKittiPoints) {
  POINTRT_REQUIRE_SHARED_DATA();
  // SA1-like aggregation input: the points themselves (x, y, z, intensity), 4 -> 64 -> 96 -> 64 with ReLU.
  const Tensor pts = pointrt::testing::kitti_points({0, 3}, 4096);
  const Tensor x = pts.reshape({2 * 4096, 4});
  const auto layers = pointrt::testing::random_dense_layers({4, 64, 96, 64}, 21, true);
  expect_close_to_oracle(oracle(x, layers), run_cpu(x, layers), 1e-5);
}

TEST(Mlp, CpuIsIndependentOfTheThreadCount) {
  const Tensor x = random_matrix(1000, 96, 3);
  const auto layers = pointrt::testing::random_dense_layers({96, 64, 30}, 4, false);
  core::set_cpu_threads(1);
  const Tensor one = run_cpu(x, layers);
  core::set_cpu_threads(2);
  const Tensor two = run_cpu(x, layers);
  core::set_cpu_threads(0);
  const Tensor all = run_cpu(x, layers);
  EXPECT_TRUE(bit_identical(one, two));
  EXPECT_TRUE(bit_identical(one, all));
}

TEST(Mlp, BadShapesAreRefused) {
  const Tensor x = random_matrix(10, 8, 1);
  const auto layers = pointrt::testing::random_dense_layers({8, 16, 4}, 2, false);
  Tensor out = Tensor::zeros({10, 4}, DType::F32);
  EXPECT_NO_THROW(ops::mlp_cpu(x, layers, out));
  expect_error(
      [&] {
        ops::mlp_cpu(x.reshape({10, 8, 1}), layers, out);
      },
      {"mlp: x: expected f32[*, *]@host, got f32[10, 8, 1]@host"});
  expect_error([&] { ops::mlp_cpu(Tensor::zeros({10, 8}, DType::I32), layers, out); }, {"mlp: x: expected f32"});
  expect_error([&] { ops::mlp_cpu(random_matrix(10, 9, 1), layers, out); },
               {"mlp: layers[0].weight: expected f32[*, 9]@host, got f32[16, 8]@host"});
  // Mismatched widths inside the chain: 8 -> 16, then a layer expecting 12 inputs.
  auto broken = layers;
  broken[1] = pointrt::testing::random_dense_layers({12, 4}, 3, false)[0];
  expect_error([&] { ops::mlp_cpu(x, broken, out); },
               {"mlp: layers[1].weight: expected f32[*, 16]@host, got f32[4, 12]@host"});
  auto bad_bias = layers;
  bad_bias[0].bias = Tensor::zeros({15}, DType::F32);
  expect_error([&] { ops::mlp_cpu(x, bad_bias, out); }, {"mlp: layers[0].bias: expected f32[16]@host"});
  auto bad_dtype = layers;
  bad_dtype[1].weight = Tensor::zeros({4, 16}, DType::I32);
  expect_error([&] { ops::mlp_cpu(x, bad_dtype, out); }, {"mlp: layers[1].weight: expected f32[*, 16]@host"});
  Tensor wrong_out = Tensor::zeros({10, 5}, DType::F32);
  expect_error([&] { ops::mlp_cpu(x, layers, wrong_out); },
               {"mlp: out: expected f32[10, 4]@host, got f32[10, 5]@host"});
  Tensor wrong_rows = Tensor::zeros({9, 4}, DType::F32);
  expect_error([&] { ops::mlp_cpu(x, layers, wrong_rows); }, {"mlp: out: expected f32[10, 4]@host"});
  expect_error([&] { ops::mlp_cpu(x, {}, out); }, {"mlp: layers: need at least one layer"});
#ifdef POINTRT_WITH_CUDA
  expect_error([&] { ops::mlp_cuda(x, layers, out, nullptr, 0, nullptr); }, {"mlp: x: expected f32[*, *]@cuda"});
#endif
}

TEST(Mlp, EmptyInputIsValid) {
  const Tensor x = Tensor::zeros({0, 8}, DType::F32);
  const auto layers = pointrt::testing::random_dense_layers({8, 4}, 2, false);
  Tensor out = Tensor::zeros({0, 4}, DType::F32);
  EXPECT_NO_THROW(ops::mlp_cpu(x, layers, out));
}

#ifdef POINTRT_WITH_CUDA

namespace {

// Runs mlp_cuda twice on guarded device copies (the output pre-filled with NaN garbage); checks guards and that the
// two runs are bit-identical; returns the output.
Tensor run_cuda(const Tensor& x, const std::vector<DenseLayer>& layers) {
  const std::int64_t rows = x.dim(0), cl = layers.back().weight.dim(0);
  const DeviceLayers d(layers);
  pointrt::testing::GuardedDeviceTensor d_x(x);
  std::vector<float> garbage(static_cast<std::size_t>(rows * cl), std::nanf(""));
  pointrt::testing::GuardedDeviceTensor d_out(Tensor::from_vector(garbage, {rows, cl}));
  pointrt::testing::GuardedWorkspace ws(ops::mlp_workspace_bytes(rows, layers));
  ops::mlp_cuda(d_x.tensor(), d.layers, d_out.tensor(), ws.get(), ws.size(), nullptr);
  const Tensor first = d_out.to_host();
  ops::mlp_cuda(d_x.tensor(), d.layers, d_out.tensor(), ws.get(), ws.size(), nullptr);
  const Tensor second = d_out.to_host();
  EXPECT_TRUE(bit_identical(first, second)) << "two runs differ";
  EXPECT_TRUE(d_out.guards_intact()) << "kernel wrote past out";
  EXPECT_TRUE(ws.guards_intact()) << "kernel wrote past the workspace";
  EXPECT_TRUE(d_x.guards_intact());
  return first;
}

// Relative tolerance: |gpu - cpu| <= 1e-4 * max|cpu| + 1e-4 * |cpu| (different float32 summation orders over up to
// 1536 products).
void expect_cuda_matches_cpu(const Tensor& x, const std::vector<DenseLayer>& layers) {
  const Tensor want = run_cpu(x, layers);
  const Tensor got = run_cuda(x, layers);
  float scale = 0.f;
  for (std::int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::fabs(want.data_as<float>()[i]));
  EXPECT_EQ(pointrt::testing::compare_close_f32(want, got, 1e-4f * std::max(scale, 1.f), 1e-4f), "");
}

}  // namespace

TEST(MlpCuda, MatchesCpuAtModelSizes) {
  POINTRT_REQUIRE_CUDA();
  struct Case {
    std::int64_t rows;
    std::vector<std::int64_t> widths;
    bool relu_last;
  };
  const std::vector<Case> cases{
      {4096, {96, 64}, true},       {1024, {256, 128}, true},          {512, {512, 256}, true},
      {256, {1536, 512}, true},     {256, {512, 256, 256, 30}, false}, {1024, {128, 128, 3}, false},
      {8 * 256, {1536, 512}, true}, {37, {5, 17, 3}, false},           {1, {1, 1}, true},
      {300, {259, 1024}, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE("rows " + std::to_string(c.rows) + ", C0 " + std::to_string(c.widths[0]) + ", L " +
                 std::to_string(c.widths.size() - 1));
    expect_cuda_matches_cpu(random_matrix(c.rows, c.widths[0], 5), pointrt::testing::random_dense_layers(c.widths, 6, c.relu_last));
  }
}

TEST(MlpCuda, MatchesCpuOnSegmentedChains) {
  POINTRT_REQUIRE_CUDA();
  // A narrow chain with more layers than one fused launch takes (fused::kMaxLayers = 8): several fused segments
  // through the workspace; and wide layers, one launch each.
  expect_cuda_matches_cpu(random_matrix(300, 20, 7),
                          pointrt::testing::random_dense_layers({20, 32, 48, 16, 64, 8, 40, 24, 33, 17, 5, 9}, 8, true));
  expect_cuda_matches_cpu(random_matrix(77, 64, 9), pointrt::testing::random_dense_layers({64, 1500, 2000, 30}, 10, false));
  // A single wide layer and a chain ending in a single channel (IA-SSD score heads).
  expect_cuda_matches_cpu(random_matrix(1024, 128, 11), pointrt::testing::random_dense_layers({128, 128, 1}, 12, false));
  expect_cuda_matches_cpu(random_matrix(256, 256, 13), pointrt::testing::random_dense_layers({256, 128, 3}, 14, false));
}

// Batch invariance: the summation order of a row depends on the layer widths only, so the rows of an R = 3M call
// (the same M rows three times, as a batch of 3 identical frames) equal the R = M call bit for bit, for every
// IA-SSD pointwise size and for row counts that are not multiples of any tile.
TEST(MlpCuda, RowsAreBatchInvariant) {
  POINTRT_REQUIRE_CUDA();
  struct Case {
    std::int64_t rows;
    std::vector<std::int64_t> widths;
  };
  const std::vector<Case> cases{{4096, {96, 64}},       {1024, {256, 128}},          {1024, {128, 128, 1}},
                                {512, {512, 256}},      {512, {256, 256, 1}},        {256, {256, 128, 3}},
                                {256, {1536, 512}},     {256, {512, 256, 256, 3}},   {256, {512, 256, 256, 30}},
                                {37, {5, 17, 3}},       {1, {300, 40}},              {13, {64, 1500, 2000, 30}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("rows " + std::to_string(c.rows) + ", C0 " + std::to_string(c.widths[0]) + ", L " +
                 std::to_string(c.widths.size() - 1));
    const Tensor x = random_matrix(c.rows, c.widths[0], 15);
    const auto layers = pointrt::testing::random_dense_layers(c.widths, 16, false);
    const Tensor one = run_cuda(x, layers);
    const Tensor three = run_cuda(pointrt::testing::stack({x, x, x}).reshape({3 * c.rows, c.widths[0]}), layers);
    const std::size_t bytes = one.nbytes();
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(std::memcmp(one.data(), static_cast<const char*>(three.data()) + k * bytes, bytes), 0)
          << "copy " << k << " of the rows differs from the R = M call";
    }
    // And a different row offset: rows 1 .. M-1 alone equal the same rows of the full call.
    if (c.rows > 1) {
      const Tensor tail = run_cuda(
          Tensor::from_vector(std::vector<float>(x.data_as<float>() + c.widths[0],
                                                 x.data_as<float>() + c.rows * c.widths[0]),
                              {c.rows - 1, c.widths[0]}),
          layers);
      EXPECT_EQ(std::memcmp(tail.data(), one.data_as<float>() + layers.back().weight.dim(0), tail.nbytes()), 0)
          << "rows shifted by one differ";
    }
  }
}

TEST(MlpCuda, MatchesCpuOnRealKittiPoints) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  const Tensor pts = pointrt::testing::kitti_points({0, 1}, 4096);
  expect_cuda_matches_cpu(pts.reshape({2 * 4096, 4}), pointrt::testing::random_dense_layers({4, 64, 96, 64}, 21, true));
}

TEST(MlpCuda, BadWorkspaceIsRefused) {
  POINTRT_REQUIRE_CUDA();
  // A narrow chain that runs as one fused launch needs no workspace; one run layer by layer needs it and refuses a
  // missing or short one.
  const auto small = pointrt::testing::random_dense_layers({8, 16, 4}, 2, false);
  EXPECT_EQ(ops::mlp_workspace_bytes(10, small), 0u);
  const auto layers = pointrt::testing::random_dense_layers({8, 3000, 4}, 2, false);
  const std::size_t need = ops::mlp_workspace_bytes(10, layers);
  EXPECT_GT(need, 0u);
  const DeviceLayers d(layers);
  Tensor x = Tensor::zeros({10, 8}, DType::F32, Device::CUDA);
  Tensor out = Tensor::zeros({10, 4}, DType::F32, Device::CUDA);
  expect_error([&] { ops::mlp_cuda(x, d.layers, out, nullptr, 0, nullptr); }, {"mlp: workspace of 0 bytes"});
  pointrt::testing::GuardedWorkspace short_ws(need - 256);
  expect_error([&] { ops::mlp_cuda(x, d.layers, out, short_ws.get(), short_ws.size(), nullptr); },
               {"mlp: workspace of " + std::to_string(need - 256) + " bytes"});
}

#endif  // POINTRT_WITH_CUDA
