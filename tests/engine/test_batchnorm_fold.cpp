// Tests of BatchNorm folding (engine/batchnorm_fold.h): the folded linear reproduces linear + eval-mode BatchNorm
// computed directly in double, a zero-variance channel works thanks to eps, and bad input is refused with an error
// naming the layer and the tensor.
#include "engine/batchnorm_fold.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pointrt/error.h"
#include "support/test_data.h"

namespace {

using pointrt::DType;
using pointrt::Tensor;
using pointrt::engine::fold_batchnorm;
using pointrt::engine::FoldedLinear;
using pointrt::testing::expect_error;

struct Bn {
  Tensor weight, gamma, beta, mean, var;
};

Tensor random_tensor(std::mt19937& rng, const pointrt::Shape& shape, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  std::vector<float> values(static_cast<std::size_t>(n));
  for (float& v : values) v = dist(rng);
  return Tensor::from_vector(values, shape);
}

Bn random_bn(std::mt19937& rng, std::int64_t out, std::int64_t in) {
  return Bn{random_tensor(rng, {out, in}, -1.0f, 1.0f), random_tensor(rng, {out}, 0.5f, 2.0f),
            random_tensor(rng, {out}, -1.0f, 1.0f), random_tensor(rng, {out}, -0.5f, 0.5f),
            random_tensor(rng, {out}, 0.05f, 3.0f)};
}

// linear (no bias) then eval-mode BatchNorm, in double.
std::vector<double> reference(const Bn& bn, float eps, const std::vector<double>& x) {
  const std::int64_t out = bn.weight.dim(0);
  const std::int64_t in = bn.weight.dim(1);
  const float* w = bn.weight.data_as<float>();
  std::vector<double> y(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) {
    double acc = 0.0;
    for (std::int64_t i = 0; i < in; ++i) acc += static_cast<double>(w[o * in + i]) * x[static_cast<std::size_t>(i)];
    const double g = bn.gamma.data_as<float>()[o];
    const double b = bn.beta.data_as<float>()[o];
    const double m = bn.mean.data_as<float>()[o];
    const double v = bn.var.data_as<float>()[o];
    y[static_cast<std::size_t>(o)] = (acc - m) / std::sqrt(v + static_cast<double>(eps)) * g + b;
  }
  return y;
}

std::vector<double> apply_folded(const FoldedLinear& f, const std::vector<double>& x) {
  const std::int64_t out = f.weight.dim(0);
  const std::int64_t in = f.weight.dim(1);
  const float* w = f.weight.data_as<float>();
  std::vector<double> y(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) {
    double acc = f.bias.data_as<float>()[o];
    for (std::int64_t i = 0; i < in; ++i) acc += static_cast<double>(w[o * in + i]) * x[static_cast<std::size_t>(i)];
    y[static_cast<std::size_t>(o)] = acc;
  }
  return y;
}

void expect_matches(const Bn& bn, float eps, std::mt19937& rng) {
  const FoldedLinear f = fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, eps, "layer");
  ASSERT_EQ(f.weight.shape(), bn.weight.shape());
  ASSERT_EQ(f.bias.shape(), (pointrt::Shape{bn.weight.dim(0)}));
  EXPECT_EQ(f.weight.dtype(), DType::F32);
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  for (int trial = 0; trial < 8; ++trial) {
    std::vector<double> x(static_cast<std::size_t>(bn.weight.dim(1)));
    for (double& v : x) v = dist(rng);
    const std::vector<double> want = reference(bn, eps, x);
    const std::vector<double> got = apply_folded(f, x);
    // Relative to the magnitude of the sum (|b'| + sum |W' x|), which bounds the float32 rounding of W' and b'.
    const std::int64_t in = f.weight.dim(1);
    for (std::size_t o = 0; o < want.size(); ++o) {
      double magnitude = std::abs(static_cast<double>(f.bias.data_as<float>()[o]));
      for (std::int64_t i = 0; i < in; ++i) {
        magnitude += std::abs(static_cast<double>(f.weight.data_as<float>()[static_cast<std::int64_t>(o) * in + i]) *
                              x[static_cast<std::size_t>(i)]);
      }
      EXPECT_NEAR(got[o], want[o], 1e-5 * magnitude) << "channel " << o << " trial " << trial;
    }
  }
}

TEST(BatchNormFold, MatchesLinearPlusBatchNorm) {
  std::mt19937 rng(1234);
  for (const auto& dims : std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 1}, {16, 4}, {64, 67}, {128, 256}}) {
    SCOPED_TRACE("out " + std::to_string(dims.first) + " in " + std::to_string(dims.second));
    expect_matches(random_bn(rng, dims.first, dims.second), 1e-5f, rng);
  }
}

TEST(BatchNormFold, FoldedValuesFollowTheFormula) {
  const Tensor w = Tensor::from_vector<float>({1.0f, -2.0f, 3.0f, 4.0f}, {2, 2});
  const Tensor g = Tensor::from_vector<float>({2.0f, 0.5f}, {2});
  const Tensor b = Tensor::from_vector<float>({0.25f, -1.0f}, {2});
  const Tensor m = Tensor::from_vector<float>({1.0f, 2.0f}, {2});
  const Tensor v = Tensor::from_vector<float>({4.0f, 0.0f}, {2});
  const FoldedLinear f = fold_batchnorm(w, g, b, m, v, 0.0625f, "layer");
  const double s0 = 2.0 / std::sqrt(4.0625);
  const double s1 = 0.5 / std::sqrt(0.0625);  // 2
  const float* fw = f.weight.data_as<float>();
  const float* fb = f.bias.data_as<float>();
  EXPECT_FLOAT_EQ(fw[0], static_cast<float>(1.0 * s0));
  EXPECT_FLOAT_EQ(fw[1], static_cast<float>(-2.0 * s0));
  EXPECT_FLOAT_EQ(fw[2], static_cast<float>(3.0 * s1));
  EXPECT_FLOAT_EQ(fw[3], static_cast<float>(4.0 * s1));
  EXPECT_FLOAT_EQ(fb[0], static_cast<float>(0.25 - 1.0 * s0));
  EXPECT_FLOAT_EQ(fb[1], static_cast<float>(-1.0 - 2.0 * s1));
}

TEST(BatchNormFold, ZeroVarianceChannelUsesEps) {
  std::mt19937 rng(7);
  Bn bn = random_bn(rng, 8, 5);
  bn.var.data_as<float>()[3] = 0.0f;
  expect_matches(bn, 1e-5f, rng);
  const FoldedLinear f = fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "layer");
  for (std::int64_t i = 0; i < f.weight.numel(); ++i) EXPECT_TRUE(std::isfinite(f.weight.data_as<float>()[i]));
}

TEST(BatchNormFold, NegativeVarianceIsRefused) {
  std::mt19937 rng(8);
  Bn bn = random_bn(rng, 4, 3);
  bn.var.data_as<float>()[2] = -0.5f;
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "sa1.mlp0"); },
               {"sa1.mlp0: ", "running_var", "element 2", "-0.5", "must be > 0"});
  // Zero variance with zero eps is refused too.
  bn.var.data_as<float>()[2] = 0.0f;
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 0.0f, "sa1.mlp0"); },
               {"sa1.mlp0: ", "running_var", "element 2", "must be > 0"});
}

TEST(BatchNormFold, ShapeAndDTypeMismatchesAreRefused) {
  std::mt19937 rng(9);
  const Bn bn = random_bn(rng, 4, 3);
  const Tensor short_vec = Tensor::zeros({3}, DType::F32);
  expect_error([&] { fold_batchnorm(bn.weight, short_vec, bn.beta, bn.mean, bn.var, 1e-5f, "L"); },
               {"L: ", "gamma", "expected f32[4]", "f32[3]"});
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, short_vec, bn.var, 1e-5f, "L"); },
               {"L: ", "running_mean", "expected f32[4]"});
  expect_error([&] { fold_batchnorm(bn.weight.reshape({12}), bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "L"); },
               {"L: ", "weight", "expected f32[out, in]"});
  const Tensor ints = Tensor::zeros({4}, DType::I32);
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, ints, 1e-5f, "L"); },
               {"L: ", "running_var", "i32[4]"});
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, -1.0f, "L"); },
               {"L: ", "eps"});
}

TEST(BatchNormFold, NonFiniteValuesAreRefused) {
  std::mt19937 rng(10);
  Bn bn = random_bn(rng, 4, 3);
  bn.beta.data_as<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "L"); },
               {"L: ", "beta", "element 1", "finite"});
  bn = random_bn(rng, 4, 3);
  bn.weight.data_as<float>()[5] = std::numeric_limits<float>::infinity();
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "L"); },
               {"L: ", "weight", "element 5", "finite"});
}

TEST(BatchNormFold, OverflowIsRefused) {
  std::mt19937 rng(11);
  Bn bn = random_bn(rng, 2, 2);
  bn.gamma.data_as<float>()[0] = 3e38f;
  bn.var.data_as<float>()[0] = 0.0f;
  expect_error([&] { fold_batchnorm(bn.weight, bn.gamma, bn.beta, bn.mean, bn.var, 1e-5f, "L"); },
               {"L: ", "overflows float32"});
}

}  // namespace
