// Centroid-aware top-k sampling: the CPU reference against a std::stable_sort oracle and hand-worked tie / NaN /
// signed-zero cases, the CUDA kernels against the CPU reference (exact indices and keys), and validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "ops/ops_test_util.h"
#include "ops/topk_sample/topk_sample.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::TopkSampleParams;

namespace {

using pointrt::testing::expect_error;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

// Deterministic logits with many exact ties: half-integer steps in [-6, 6], a quarter saturated at 20.
Tensor tie_heavy_logits(int batch, int n, int c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> step(-12, 12), pick(0, 3);
  std::vector<float> v(static_cast<std::size_t>(batch) * n * c);
  for (float& x : v) x = pick(rng) == 0 ? 20.f : 0.5f * static_cast<float>(step(rng));
  return Tensor::from_vector(v, {batch, n, c});
}

Tensor logits_of(const std::vector<float>& v, int c) {
  return Tensor::from_vector(v, {1, static_cast<std::int64_t>(v.size()) / c, c});
}

struct Result {
  Tensor indices, keys;
};

Result cpu_topk(const Tensor& logits, int s) {
  Result r{Tensor::zeros({logits.dim(0), s}, DType::I32), Tensor::zeros({logits.dim(0), s}, DType::F32)};
  ops::topk_sample_cpu(logits, r.indices, TopkSampleParams{s}, &r.keys);
  return r;
}

// Oracle: the NaN-skipping maximum over classes, then std::stable_sort of 0..N-1 by "ranks before": a number before
// NaN, a larger number before a smaller one (so equal keys, -0 == +0 included, keep ascending index).
std::vector<std::int32_t> oracle(const float* l, int n, int c, int s) {
  std::vector<float> key(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    float k = kNan;
    for (int j = 0; j < c; ++j) {
      const float v = l[i * c + j];
      if (!std::isnan(v) && (std::isnan(k) || v > k)) k = v;
    }
    key[i] = k;
  }
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](std::int32_t a, std::int32_t b) {
    if (std::isnan(key[a])) return false;
    if (std::isnan(key[b])) return true;
    return key[a] > key[b];
  });
  perm.resize(static_cast<std::size_t>(s));
  return perm;
}

std::vector<std::int32_t> row_i(const Tensor& t, std::int64_t b) {
  const std::int64_t m = t.dim(1);
  return std::vector<std::int32_t>(t.data_as<std::int32_t>() + b * m, t.data_as<std::int32_t>() + (b + 1) * m);
}

void expect_matches_oracle(const Tensor& logits, int s) {
  const Result r = cpu_topk(logits, s);
  const int n = static_cast<int>(logits.dim(1)), c = static_cast<int>(logits.dim(2));
  for (std::int64_t b = 0; b < logits.dim(0); ++b) {
    const float* l = logits.data_as<float>() + b * n * c;
    ASSERT_EQ(row_i(r.indices, b), oracle(l, n, c, s)) << "batch item " << b;
    for (int j = 0; j < s; ++j) {
      const std::int32_t i = r.indices.data_as<std::int32_t>()[b * s + j];
      const float got = r.keys.data_as<float>()[b * s + j];
      float want = kNan;
      for (int q = 0; q < c; ++q) {
        const float v = l[i * c + q];
        if (!std::isnan(v) && (std::isnan(want) || v > want)) want = v;
      }
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got));
      } else {
        EXPECT_EQ(got, want) << "key of rank " << j;
      }
    }
  }
}


}  // namespace

TEST(TopkSample, CpuMatchesStableSortOracleWithTiesC1AndC3) {
  expect_matches_oracle(tie_heavy_logits(2, 1024, 1, 1), 512);
  expect_matches_oracle(tie_heavy_logits(2, 512, 1, 2), 256);
  expect_matches_oracle(tie_heavy_logits(3, 1024, 3, 3), 512);
  expect_matches_oracle(tie_heavy_logits(1, 512, 3, 4), 256);
  expect_matches_oracle(tie_heavy_logits(1, 300, 2, 5), 300);  // S == N: a full ranking
}

TEST(TopkSample, CpuHandWorkedTiesInfAndNan) {
  // Keys 1, 3, 3, -inf, NaN, 3: the three 3s by index, then 1, then -inf; NaN last.
  const Result r = cpu_topk(logits_of({1, 3, 3, -kInf, kNan, 3}, 1), 6);
  EXPECT_EQ(row_i(r.indices, 0), (std::vector<std::int32_t>{1, 2, 5, 0, 3, 4}));
  EXPECT_EQ(r.keys.data_as<float>()[3], 1.f);
  EXPECT_EQ(r.keys.data_as<float>()[4], -kInf);
  EXPECT_TRUE(std::isnan(r.keys.data_as<float>()[5]));
}

TEST(TopkSample, CpuMaxOverClassesSkipsNanAndTreatsSignedZerosAsEqual) {
  // Rows (C = 3): max 2 (NaN skipped), max 5, all NaN, max -0 (== +0), max +0, max 5 again.
  const Result r =
      cpu_topk(logits_of({kNan, 2, -1, 5, 0, 1, kNan, kNan, kNan, -0.f, -3, -0.f, 0.f, -1, -2, 1, 5, 5}, 3), 6);
  EXPECT_EQ(row_i(r.indices, 0), (std::vector<std::int32_t>{1, 5, 0, 3, 4, 2}));
  const float k3 = r.keys.data_as<float>()[3];
  EXPECT_EQ(k3, 0.f);
  EXPECT_FALSE(std::signbit(k3)) << "-0 is reported as +0";
}

TEST(TopkSample, CpuSaturatedLogitsKeepIndexOrder) {
  const Tensor logits = Tensor::from_vector(std::vector<float>(64, 20.f), {1, 64, 1});
  const Result r = cpu_topk(logits, 10);
  EXPECT_EQ(row_i(r.indices, 0), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(TopkSample, CpuZeroSamples) {
  const Result r = cpu_topk(tie_heavy_logits(2, 16, 1, 6), 0);
  EXPECT_EQ(r.indices.numel(), 0);
}

TEST(TopkSample, BadInputsGiveClearErrors) {
  const Tensor logits = tie_heavy_logits(1, 16, 1, 7);
  Tensor out = Tensor::zeros({1, 8}, DType::I32);
  expect_error([&] { ops::topk_sample_cpu(logits, out, TopkSampleParams{17}); },
               {"topk_sample: num_samples must be in [0, N = 16], got 17"});
  expect_error([&] { ops::topk_sample_cpu(logits, out, TopkSampleParams{-2}); }, {"topk_sample: num_samples"});
  expect_error(
      [&] {
        ops::topk_sample_cpu(Tensor::zeros({1, 16, 0}, DType::F32), out, TopkSampleParams{8});
      },
      {"topk_sample: logits: need at least one class channel"});
  expect_error(
      [&] {
        ops::topk_sample_cpu(Tensor::zeros({16, 1}, DType::F32), out, TopkSampleParams{8});
      },
      {"topk_sample: logits: expected f32[*, *, *]@host, got f32[16, 1]@host"});
  expect_error([&] { ops::topk_sample_cpu(logits, out, TopkSampleParams{4}); },
               {"topk_sample: indices: expected i32[1, 4]@host, got i32[1, 8]@host"});
  Tensor bad_keys = Tensor::zeros({1, 7}, DType::F32);
  expect_error([&] { ops::topk_sample_cpu(logits, out, TopkSampleParams{8}, &bad_keys); }, {"topk_sample: keys"});
#ifdef POINTRT_WITH_CUDA
  expect_error([&] { ops::topk_sample_cuda(logits, out, TopkSampleParams{8}, nullptr, 0, nullptr); },
               {"topk_sample: logits: expected f32[*, *, *]@cuda"});
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

void expect_cuda_matches_cpu(const Tensor& logits, int s, const std::string& what, bool with_keys = true) {
  SCOPED_TRACE(what);
  const TopkSampleParams params{s};
  const Result want = cpu_topk(logits, s);
  pointrt::testing::GuardedDeviceTensor d_logits(logits);
  pointrt::testing::GuardedDeviceTensor d_idx({logits.dim(0), s}, DType::I32);
  pointrt::testing::GuardedDeviceTensor d_keys({logits.dim(0), s}, DType::F32);
  pointrt::testing::GuardedWorkspace ws(ops::topk_sample_workspace_bytes(logits.dim(0), logits.dim(1), params));
  ops::topk_sample_cuda(d_logits.tensor(), d_idx.tensor(), params, ws.get(), ws.size(), nullptr,
                        with_keys ? &d_keys.tensor() : nullptr);
  EXPECT_EQ(pointrt::testing::compare_exact_i32(want.indices, d_idx.to_host()), "");
  if (with_keys) {
    const Tensor got = d_keys.to_host();
    // Keys are copies of input values: bit-identical (infinities and NaN included).
    ASSERT_EQ(want.keys.nbytes(), got.nbytes());
    EXPECT_EQ(std::memcmp(want.keys.data(), got.data(), got.nbytes()), 0) << "keys differ bitwise";
  }
  EXPECT_TRUE(d_idx.guards_intact());
  EXPECT_TRUE(d_keys.guards_intact());
  EXPECT_TRUE(d_logits.guards_intact());
  EXPECT_TRUE(ws.guards_intact());
}

}  // namespace

TEST(TopkSampleCuda, MatchesCpuAtModelSizes) {
  POINTRT_REQUIRE_CUDA();
  for (int c : {1, 3}) {
    expect_cuda_matches_cpu(tie_heavy_logits(1, 1024, c, 10 + c), 512, "1024->512 B=1 C=" + std::to_string(c));
    expect_cuda_matches_cpu(tie_heavy_logits(4, 1024, c, 20 + c), 512, "1024->512 B=4 C=" + std::to_string(c));
    expect_cuda_matches_cpu(tie_heavy_logits(3, 512, c, 30 + c), 256, "512->256 B=3 C=" + std::to_string(c));
  }
  expect_cuda_matches_cpu(tie_heavy_logits(2, 1024, 1, 40), 512, "no keys output", false);
}

TEST(TopkSampleCuda, MatchesCpuOnEveryKernelPath) {
  POINTRT_REQUIRE_CUDA();
  // Block radix sort for N <= 4096 (each block-size configuration), rank counting beyond.
  for (int n : {1, 2, 100, 256, 257, 512, 700, 1024, 1500, 2048, 3000, 4095, 4096, 4097, 9000}) {
    for (int s : {1, n / 2 + 1, n}) {
      expect_cuda_matches_cpu(tie_heavy_logits(2, n, 2, static_cast<std::uint64_t>(n * 7 + s)), s,
                              "N=" + std::to_string(n) + " S=" + std::to_string(s));
    }
  }
}

TEST(TopkSampleCuda, MatchesCpuOnAdversarialLogits) {
  POINTRT_REQUIRE_CUDA();
  expect_cuda_matches_cpu(Tensor::from_vector(std::vector<float>(2 * 1024, 20.f), {2, 1024, 1}), 512, "all saturated");
  expect_cuda_matches_cpu(logits_of({1, 3, 3, -kInf, kNan, 3}, 1), 6, "ties, -inf, NaN");
  expect_cuda_matches_cpu(logits_of({kNan, 2, -1, 5, 0, 1, kNan, kNan, kNan, -0.f, -3, -0.f, 0.f, -1, -2, 1, 5, 5}, 3),
                          6, "C=3 NaN, -0");
  std::vector<float> many_nan(4096, kNan);
  for (int i = 0; i < 4096; i += 3) many_nan[i] = static_cast<float>(i % 5);
  expect_cuda_matches_cpu(Tensor::from_vector(many_nan, {1, 4096, 1}), 3000, "NaN-heavy N=4096");
  std::vector<float> big_nan(6000, kNan);
  for (int i = 0; i < 6000; i += 4) big_nan[i] = -kInf;
  expect_cuda_matches_cpu(Tensor::from_vector(big_nan, {1, 6000, 1}), 5000, "NaN-heavy rank path");
  // Different logits per batch item.
  expect_cuda_matches_cpu(pointrt::testing::stack({tie_heavy_logits(1, 512, 1, 50).reshape({512, 1}),
                                                   Tensor::from_vector(std::vector<float>(512, -1.f), {512, 1})}),
                          256, "mixed batch");
  expect_cuda_matches_cpu(tie_heavy_logits(2, 64, 1, 51), 0, "S = 0");
}

#endif  // POINTRT_WITH_CUDA
