// Vote centres: the CPU reference against hand-worked clamps and a double-precision oracle, properties, validation
// errors, and the CUDA kernel against the CPU reference bit for bit (outputs pre-filled with garbage, guard regions).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "ops/ops_test_util.h"
#include "ops/vote/vote.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::VoteParams;

namespace {

using pointrt::testing::expect_error;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

Tensor cpu_vote(const Tensor& xyz, const Tensor& off, const VoteParams& p = VoteParams{}) {
  Tensor out = Tensor::zeros(xyz.shape(), DType::F32);
  ops::vote_cpu(xyz, off, out, p);
  return out;
}

Tensor row(std::vector<float> v) { return Tensor::from_vector(v, {1, static_cast<std::int64_t>(v.size()) / 3, 3}); }

// Vote-layer-like inputs: SA3 centres inside the KITTI range, offsets ~ N(0, 2) (a good share beyond the clamp).
struct Inputs {
  Tensor xyz, off;
};

Inputs realistic_inputs(int batch, int m, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> x(0.f, 70.4f), y(-40.f, 40.f), z(-3.f, 1.f);
  std::normal_distribution<float> off(0.f, 2.f);
  std::vector<float> a, o;
  for (int i = 0; i < batch * m; ++i) {
    a.insert(a.end(), {x(rng), y(rng), z(rng)});
    o.insert(o.end(), {off(rng), off(rng), off(rng)});
  }
  return {Tensor::from_vector(a, {batch, m, 3}), Tensor::from_vector(o, {batch, m, 3})};
}

// Exact clamp boundaries, signed zeros, infinities, NaNs and huge values.
[[maybe_unused]] Inputs adversarial_inputs(int batch, int m, std::uint64_t seed) {  // used by the CUDA tests
  std::mt19937_64 rng(seed);
  const float specials[] = {kInf, -kInf, kNan, 0.f, -0.f, 3.f, -3.f, 2.f, -2.f, 3.0000002f, -2.0000002f, 1e-40f,
                            3e38f, -3e38f};
  std::uniform_int_distribution<int> pick(0, 3), which(0, 13);
  std::uniform_real_distribution<float> wide(-100.f, 100.f);
  auto draw = [&] { return pick(rng) == 0 ? specials[which(rng)] : wide(rng); };
  std::vector<float> a(static_cast<std::size_t>(batch) * m * 3), o(a.size());
  for (float& v : a) v = draw();
  for (float& v : o) v = draw();
  return {Tensor::from_vector(a, {batch, m, 3}), Tensor::from_vector(o, {batch, m, 3})};
}

}  // namespace

TEST(Vote, HandWorkedClamps) {
  // t = (3, 3, 2): inside passes through, beyond is clamped per axis, exactly on the bound stays.
  const Tensor xyz = row({10.f, -5.f, -1.f, 10.f, -5.f, -1.f, 0.f, 0.f, 0.f});
  const Tensor off = row({1.5f, -2.f, 0.5f, 5.f, -7.f, 2.5f, 3.f, -3.f, -2.f});
  const Tensor c = cpu_vote(xyz, off);
  const std::vector<float> want = {11.5f, -7.f, -0.5f, 13.f, -8.f, 1.f, 3.f, -3.f, -2.f};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(c.data_as<float>()[i], want[static_cast<std::size_t>(i)]) << i;
}

TEST(Vote, InfiniteOffsetsClampNanStaysNan) {
  const Tensor c = cpu_vote(row({1.f, 2.f, 3.f, 1.f, 2.f, 3.f}), row({kInf, -kInf, kNan, -kInf, kNan, kInf}));
  const float* v = c.data_as<float>();
  EXPECT_EQ(v[0], 4.f);
  EXPECT_EQ(v[1], -1.f);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], -2.f);
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(v[5], 5.f);
}

TEST(Vote, PerAxisTranslationAndZeroRange) {
  VoteParams p;
  p.max_translation = {0.5f, 0.f, 10.f};
  const Tensor c = cpu_vote(row({1.f, 1.f, 1.f}), row({-4.f, 4.f, -4.f}), p);
  EXPECT_EQ(c.data_as<float>()[0], 0.5f);
  EXPECT_EQ(c.data_as<float>()[1], 1.f);  // t = 0: no movement
  EXPECT_EQ(c.data_as<float>()[2], -3.f);
}

TEST(Vote, CpuMatchesDoubleOracle) {
  // Oracle: clamp in double, add in double (exact for these magnitudes), round once to float32.
  VoteParams p;
  p.max_translation = {3.f, 2.5f, 2.f};
  const Inputs in = realistic_inputs(3, 512, 1);
  const Tensor c = cpu_vote(in.xyz, in.off, p);
  for (std::int64_t i = 0; i < c.numel(); ++i) {
    const double t = p.max_translation[static_cast<std::size_t>(i % 3)];
    const double o = std::min(std::max(static_cast<double>(in.off.data_as<float>()[i]), -t), t);
    const float want = static_cast<float>(static_cast<double>(in.xyz.data_as<float>()[i]) + o);
    ASSERT_EQ(c.data_as<float>()[i], want) << "element " << i;
  }
}

TEST(Vote, Properties) {
  const VoteParams p;
  const Inputs in = realistic_inputs(4, 256, 2);
  const Tensor c = cpu_vote(in.xyz, in.off, p);
  for (std::int64_t i = 0; i < c.numel(); ++i) {
    const float a = in.xyz.data_as<float>()[i], o = in.off.data_as<float>()[i], v = c.data_as<float>()[i];
    const float t = p.max_translation[static_cast<std::size_t>(i % 3)];
    // Moves by at most t (plus one rounding of the sum), in the offset's direction.
    EXPECT_LE(std::fabs(v - a), t + 1e-5f);
    if (o > 0.f) {
      EXPECT_GE(v, a);
    } else if (o < 0.f) {
      EXPECT_LE(v, a);
    }
    if (std::fabs(o) <= t) {
      EXPECT_EQ(v, a + o);
    }
  }
  // Row-local: a different batch layout of the same rows gives the same bits.
  const Tensor c2 = cpu_vote(in.xyz.reshape({1, 1024, 3}), in.off.reshape({1, 1024, 3}), p);
  EXPECT_EQ(std::memcmp(c.data(), c2.data(), c.nbytes()), 0);
  // Empty input is valid.
  EXPECT_EQ(cpu_vote(Tensor::zeros({2, 0, 3}, DType::F32), Tensor::zeros({2, 0, 3}, DType::F32)).numel(), 0);
}

TEST(Vote, BadInputsGiveClearErrors) {
  const Inputs in = realistic_inputs(2, 8, 3);
  Tensor out = Tensor::zeros({2, 8, 3}, DType::F32);
  auto run = [&](const Tensor& xyz, const Tensor& off, Tensor& o, const VoteParams& p) {
    return [&, p] { ops::vote_cpu(xyz, off, o, p); };
  };
  VoteParams neg;
  neg.max_translation[1] = -1.f;
  expect_error(run(in.xyz, in.off, out, neg), {"vote: max_translation[1] must be finite and >= 0, got -1.000000"});
  VoteParams nan;
  nan.max_translation[2] = kNan;
  expect_error(run(in.xyz, in.off, out, nan), {"vote: max_translation[2] must be finite and >= 0"});
  VoteParams inf;
  inf.max_translation[0] = kInf;
  expect_error(run(in.xyz, in.off, out, inf), {"vote: max_translation[0] must be finite and >= 0, got inf"});
  const VoteParams ok;
  expect_error(run(Tensor::zeros({2, 8, 4}, DType::F32), in.off, out, ok),
               {"vote: ctr_xyz: expected f32[*, *, 3]@host, got f32[2, 8, 4]@host"});
  expect_error(run(Tensor::zeros({16, 3}, DType::F32), in.off, out, ok),
               {"vote: ctr_xyz: expected f32[*, *, 3]@host, got f32[16, 3]@host"});
  expect_error(run(Tensor::zeros({2, 8, 3}, DType::I32), in.off, out, ok),
               {"vote: ctr_xyz: expected f32[*, *, 3]@host, got i32[2, 8, 3]@host"});
  expect_error(run(in.xyz, Tensor::zeros({2, 7, 3}, DType::F32), out, ok),
               {"vote: offsets: expected f32[2, 8, 3]@host, got f32[2, 7, 3]@host"});
  Tensor small = Tensor::zeros({1, 8, 3}, DType::F32);
  expect_error(run(in.xyz, in.off, small, ok), {"vote: centers: expected f32[2, 8, 3]@host, got f32[1, 8, 3]@host"});
#ifdef POINTRT_WITH_CUDA
  expect_error([&] { ops::vote_cuda(in.xyz, in.off, out, ok, nullptr); },
               {"vote: ctr_xyz: expected f32[*, *, 3]@cuda, got f32[2, 8, 3]@host"});
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

void expect_cuda_matches_cpu(const Inputs& in, const VoteParams& p, const std::string& what) {
  SCOPED_TRACE(what);
  const Tensor want = cpu_vote(in.xyz, in.off, p);
  pointrt::testing::GuardedDeviceTensor d_xyz(in.xyz), d_off(in.off);
  // Output pre-filled with a NaN pattern so that a skipped element shows.
  Tensor garbage = Tensor::empty(in.xyz.shape(), DType::F32);
  if (garbage.numel() > 0) std::memset(garbage.data(), 0x7f, garbage.nbytes());
  pointrt::testing::GuardedDeviceTensor d_out(garbage);
  ops::vote_cuda(d_xyz.tensor(), d_off.tensor(), d_out.tensor(), p, nullptr);
  const Tensor got = d_out.to_host();
  ASSERT_EQ(got.numel(), want.numel());
  // Bit for bit, except that every NaN is the same value (NaN payloads differ between x86 and CUDA).
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    const float e = want.data_as<float>()[i], a = got.data_as<float>()[i];
    std::uint32_t eb, ab;
    std::memcpy(&eb, &e, sizeof eb);
    std::memcpy(&ab, &a, sizeof ab);
    if (std::isnan(e) && std::isnan(a)) continue;
    ASSERT_EQ(eb, ab) << "element " << i << ": cpu " << e << ", cuda " << a;
  }
  EXPECT_TRUE(d_out.guards_intact());
  EXPECT_TRUE(d_xyz.guards_intact());
  EXPECT_TRUE(d_off.guards_intact());
}

}  // namespace

TEST(VoteCuda, MatchesCpuBitwise) {
  POINTRT_REQUIRE_CUDA();
  expect_cuda_matches_cpu(realistic_inputs(1, 256, 10), VoteParams{}, "B=1 M=256");
  expect_cuda_matches_cpu(realistic_inputs(8, 256, 11), VoteParams{}, "B=8 M=256");
  VoteParams p;
  p.max_translation = {0.5f, 0.f, 7.f};
  expect_cuda_matches_cpu(realistic_inputs(3, 1001, 12), p, "B=3 M=1001, per-axis ranges");
  expect_cuda_matches_cpu(adversarial_inputs(4, 4096, 13), VoteParams{}, "adversarial");
  expect_cuda_matches_cpu(adversarial_inputs(2, 777, 14), p, "adversarial, per-axis ranges");
  expect_cuda_matches_cpu(realistic_inputs(2, 0, 15), VoteParams{}, "M = 0");
}

TEST(VoteCuda, GridStrideCoversLargeInputs) {
  POINTRT_REQUIRE_CUDA();
  // 3 * 5.6M coordinates exceed 65535 blocks of 256 threads: the grid-stride loop must cover the rest.
  expect_cuda_matches_cpu(realistic_inputs(1, 5600000, 16), VoteParams{}, "M = 5.6M");
}

#endif  // POINTRT_WITH_CUDA
