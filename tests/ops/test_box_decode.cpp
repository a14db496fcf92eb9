// Bin-residual box decoding: pointrt's own float32 exp against exp in double (dense sweep, ulp bound), the CPU
// reference against hand-worked boxes and an independent double-precision oracle for both heading coders,
// properties, validation errors, and the CUDA kernel against the CPU reference bit for bit (outputs pre-filled with
// garbage, guard regions behind every buffer).
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
#include "ops/box_decode/box_decode.h"
#include "ops/box_decode/box_math.h"
#include "ops/ops_test_util.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::BoxDecodeParams;
using pointrt::ops::HeadingCoder;
namespace bm = pointrt::ops::box_math;

namespace {

using pointrt::testing::expect_error;

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr double kPiD = 3.14159265358979323846;

const std::vector<std::array<float, 3>> kKittiMean = {{3.9f, 1.6f, 1.56f}, {0.8f, 0.6f, 1.73f}, {1.76f, 0.6f, 1.73f}};

BoxDecodeParams kitti_params(HeadingCoder coder = HeadingCoder::BinResidual, int nb = 12) {
  BoxDecodeParams p;
  p.num_heading_bins = nb;
  p.coder = coder;
  p.mean_size = kKittiMean;
  return p;
}

float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Error of `got` in units in the last place of the float32 binade of the exact value `exact` (an infinite `got` is
// valued 2^128, one ulp above FLT_MAX; ulps below 2^-126 are the subnormal spacing 2^-149).
double ulp_error(float got, double exact) {
  const double top = std::ldexp(1.0, 128);
  const double g = std::isinf(got) ? top : static_cast<double>(got);
  const double e = exact > top ? top : exact;
  int ex = 0;
  std::frexp(e, &ex);  // e = f * 2^ex, f in [0.5, 1)
  return std::fabs(g - e) / std::ldexp(1.0, std::max(ex - 24, -149));
}

struct Decoded {
  Tensor boxes, scores;
};

Decoded cpu_decode(const Tensor& cls, const Tensor& reg, const Tensor& centers, const BoxDecodeParams& p) {
  Decoded d{Tensor::zeros({cls.dim(0), cls.dim(1), 8}, DType::F32),
            Tensor::zeros({cls.dim(0), cls.dim(1)}, DType::F32)};
  ops::box_decode_cpu(cls, reg, centers, d.boxes, d.scores, p);
  return d;
}

// One row as host tensors [1, 1, *].
struct Row {
  std::vector<float> cls, reg;
  std::array<float, 3> center{0.f, 0.f, 0.f};
};

Decoded decode_row(const Row& r, const BoxDecodeParams& p) {
  return cpu_decode(Tensor::from_vector(r.cls, {1, 1, static_cast<std::int64_t>(r.cls.size())}),
                    Tensor::from_vector(r.reg, {1, 1, static_cast<std::int64_t>(r.reg.size())}),
                    Tensor::from_vector(std::vector<float>(r.center.begin(), r.center.end()), {1, 1, 3}), p);
}

// A regression row for NB bins: centre/size codes, bin scores, residuals.
std::vector<float> reg_row(std::array<float, 6> codes, std::vector<float> bins, std::vector<float> res) {
  std::vector<float> r(codes.begin(), codes.end());
  r.insert(r.end(), bins.begin(), bins.end());
  r.insert(r.end(), res.begin(), res.end());
  return r;
}

// Inputs of a realistic head: logits ~ N(0, 3), centre codes ~ N(0, 0.5), log-size codes ~ N(0, 0.3), bin scores
// ~ N(0, 2), residuals in the coder's training range, vote centres inside the KITTI range.
struct Inputs {
  Tensor cls, reg, centers;
};

Inputs realistic_inputs(int batch, int m, int nc, int nb, HeadingCoder coder, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> logit(0.f, 3.f), code(0.f, 0.5f), size(0.f, 0.3f), bin(0.f, 2.f);
  const float rmax = coder == HeadingCoder::BinOri ? 1.f : 0.5f;
  std::uniform_real_distribution<float> res(-rmax, rmax), x(0.f, 70.4f), y(-40.f, 40.f), z(-3.f, 1.f);
  std::vector<float> c(static_cast<std::size_t>(batch) * m * nc), r, ctr;
  for (float& v : c) v = logit(rng);
  for (int i = 0; i < batch * m; ++i) {
    for (int a = 0; a < 3; ++a) r.push_back(code(rng));
    for (int a = 0; a < 3; ++a) r.push_back(size(rng));
    for (int k = 0; k < nb; ++k) r.push_back(bin(rng));
    for (int k = 0; k < nb; ++k) r.push_back(res(rng));
    ctr.push_back(x(rng));
    ctr.push_back(y(rng));
    ctr.push_back(z(rng));
  }
  return {Tensor::from_vector(c, {batch, m, nc}), Tensor::from_vector(r, {batch, m, 6 + 2 * nb}),
          Tensor::from_vector(ctr, {batch, m, 3})};
}

// Adversarial inputs: many exact ties (small integers), huge and tiny codes (exp overflow / underflow), infinities
// and NaNs sprinkled everywhere.
[[maybe_unused]] Inputs adversarial_inputs(int batch, int m, int nc, int nb, std::uint64_t seed) {  // used by the CUDA tests
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, 19), small(-2, 2);
  std::uniform_real_distribution<float> wide(-120.f, 120.f);
  const float specials[] = {kInf, -kInf, kNan, 0.f, -0.f, 88.7228394f, -103.97f, 1e-30f, -1e38f, 3e38f};
  auto draw = [&]() -> float {
    const int k = pick(rng);
    if (k == 0) return specials[std::uniform_int_distribution<int>(0, 9)(rng)];
    if (k < 8) return static_cast<float>(small(rng));
    return wide(rng);
  };
  const std::int64_t rows = static_cast<std::int64_t>(batch) * m;
  std::vector<float> c(static_cast<std::size_t>(rows * nc)), r(static_cast<std::size_t>(rows * (6 + 2 * nb))),
      ctr(static_cast<std::size_t>(rows * 3));
  for (float& v : c) v = draw();
  for (float& v : r) v = draw();
  for (float& v : ctr) v = draw();
  return {Tensor::from_vector(c, {batch, m, nc}), Tensor::from_vector(r, {batch, m, 6 + 2 * nb}),
          Tensor::from_vector(ctr, {batch, m, 3})};
}

// Independent oracle in double precision (finite inputs without NaN): the decode formulas of spec §5 with exact
// constants; argmaxes by a plain first-maximum scan.
std::array<double, 9> oracle_row(const float* cls, int nc, const float* reg, int nb, const float* ctr,
                                 const BoxDecodeParams& p) {
  int c = 0;
  for (int i = 1; i < nc; ++i) c = cls[i] > cls[c] ? i : c;
  int b = 0;
  for (int i = 1; i < nb; ++i) b = reg[6 + i] > reg[6 + b] ? i : b;
  const double dxa = p.mean_size[c][0], dya = p.mean_size[c][1], dza = p.mean_size[c][2];
  const double diag = std::sqrt(dxa * dxa + dya * dya);
  const double w = 2 * kPiD / nb, res = reg[6 + nb + b];
  const double heading = p.coder == HeadingCoder::BinResidual ? (b + res) * w : -kPiD + (b + 0.5) * w + res * w / 2;
  return {reg[0] * diag + ctr[0],
          reg[1] * diag + ctr[1],
          reg[2] * dza + ctr[2],
          std::exp(static_cast<double>(reg[3])) * dxa,
          std::exp(static_cast<double>(reg[4])) * dya,
          std::exp(static_cast<double>(reg[5])) * dza,
          heading,
          static_cast<double>(c + 1),
          1.0 / (1.0 + std::exp(-static_cast<double>(cls[c])))};
}

void expect_matches_oracle(const Inputs& in, const BoxDecodeParams& p) {
  const Decoded d = cpu_decode(in.cls, in.reg, in.centers, p);
  const int nc = static_cast<int>(in.cls.dim(2)), nb = p.num_heading_bins, width = 6 + 2 * nb;
  const std::int64_t rows = in.cls.dim(0) * in.cls.dim(1);
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::array<double, 9> want = oracle_row(in.cls.data_as<float>() + i * nc, nc,
                                                  in.reg.data_as<float>() + i * width, nb,
                                                  in.centers.data_as<float>() + i * 3, p);
    const float* got = d.boxes.data_as<float>() + i * 8;
    for (int a = 0; a < 8; ++a) {
      // A few float32 roundings of values up to ~80 m: well inside 1e-5 absolute + 2e-6 relative.
      EXPECT_NEAR(got[a], want[a], 1e-5 + 2e-6 * std::fabs(want[a])) << "row " << i << " channel " << a;
    }
    EXPECT_EQ(got[7], static_cast<float>(want[7])) << "row " << i << ": label";
    EXPECT_NEAR(d.scores.data_as<float>()[i], want[8], 3e-7) << "row " << i << ": score";
  }
}

}  // namespace

// ---- pointrt's float32 exp ------------------------------------------------------------------------------------

TEST(BoxDecodeExp, WithinOneUlpOfExactOnDenseSweep) {
  // Every 37th float in [-104.5, 89.5] (about 60 million values) plus both ends of the range: measured max error
  // over ALL floats of the range is 0.952 ulp (at x = -5.84602022); assert < 1 ulp. Also monotone.
  double worst = 0.0;
  float worst_x = 0.0f;
  for (int sign = 0; sign < 2; ++sign) {
    const float end = sign == 0 ? 89.5f : 104.5f;
    std::uint32_t end_bits;
    std::memcpy(&end_bits, &end, sizeof end_bits);
    float prev = sign == 0 ? 0.0f : kInf;
    auto visit = [&](std::uint32_t u) {
      const float x = bits_to_float(u | (sign == 0 ? 0u : 0x80000000u));
      const float got = bm::pt_expf(x);
      const double err = ulp_error(got, std::exp(static_cast<double>(x)));
      if (err > worst) {
        worst = err;
        worst_x = x;
      }
      // exp is increasing in x: positive x ascend with u, negative x descend.
      const bool monotone = sign == 0 ? got >= prev : got <= prev;
      prev = got;
      return monotone;
    };
    for (std::uint32_t u = 0; u < end_bits; u += 37) ASSERT_TRUE(visit(u)) << "not monotone at bits " << u;
    ASSERT_TRUE(visit(end_bits));
  }
  RecordProperty("max_ulp_error", std::to_string(worst));
  std::printf("pt_expf: max error %.4f ulp (at x = %.9g) on the sweep\n", worst, static_cast<double>(worst_x));
  EXPECT_LT(worst, 1.0) << "at x = " << worst_x;
}

TEST(BoxDecodeExp, SpecialValuesOverflowUnderflowAndNan) {
  EXPECT_EQ(bm::pt_expf(0.0f), 1.0f);
  EXPECT_EQ(bm::pt_expf(-0.0f), 1.0f);
  EXPECT_EQ(bm::pt_expf(1e-30f), 1.0f);
  EXPECT_EQ(bm::pt_expf(kInf), kInf);
  EXPECT_EQ(bm::pt_expf(-kInf), 0.0f);
  EXPECT_FALSE(std::signbit(bm::pt_expf(-kInf)));
  EXPECT_EQ(bm::pt_expf(1e30f), kInf);
  EXPECT_EQ(bm::pt_expf(-1e30f), 0.0f);
  EXPECT_TRUE(std::isnan(bm::pt_expf(kNan)));
  EXPECT_TRUE(std::isnan(bm::pt_expf(-kNan)));
  // ln(FLT_MAX) = 88.7228391...: the float just below is finite, the one above overflows to +inf.
  EXPECT_TRUE(std::isfinite(bm::pt_expf(88.72283f)));
  EXPECT_EQ(bm::pt_expf(88.7228394f), kInf);
  EXPECT_EQ(bm::pt_expf(88.8f), kInf);
  // Subnormal results: exp(-103.97) rounds to the smallest subnormal 2^-149, exp(-103.98) to +0.
  EXPECT_EQ(bm::pt_expf(-103.97f), bits_to_float(1u));
  EXPECT_EQ(bm::pt_expf(-103.98f), 0.0f);
  // Exact powers of e to 1 ulp at a few landmarks, and exp(ln 2) close to 2.
  for (float x : {1.0f, -1.0f, 10.0f, -10.0f, 50.0f, -50.0f, 0.693147182f, -87.3365479f}) {
    EXPECT_LE(ulp_error(bm::pt_expf(x), std::exp(static_cast<double>(x))), 1.0) << "x = " << x;
  }
}

// ---- CPU reference ----------------------------------------------------------------------------------------------

TEST(BoxDecode, HandWorkedBinResidualBox) {
  // Class 1 (Pedestrian) wins; zero size codes give exactly the mean size; bin 3 with residual 0.25.
  Row r;
  r.cls = {-1.f, 2.f, 0.5f};
  r.reg = reg_row({0.5f, -1.f, 0.25f, 0.f, 0.f, 0.f}, {0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0},
                  {9, 9, 9, 0.25f, 9, 9, 9, 9, 9, 9, 9, 9});
  r.center = {10.f, -5.f, -1.f};
  const Decoded d = decode_row(r, kitti_params());
  const float* b = d.boxes.data_as<float>();
  const float diag = std::sqrt(0.8f * 0.8f + 0.6f * 0.6f);  // float32 of 1.0
  EXPECT_EQ(b[0], 0.5f * diag + 10.f);
  EXPECT_EQ(b[1], -1.f * diag - 5.f);
  EXPECT_EQ(b[2], 0.25f * 1.73f - 1.f);
  EXPECT_EQ(b[3], 0.8f);
  EXPECT_EQ(b[4], 0.6f);
  EXPECT_EQ(b[5], 1.73f);
  const float w = static_cast<float>(2 * kPiD / 12);
  EXPECT_EQ(b[6], (3.f + 0.25f) * w);
  EXPECT_NEAR(b[6], 3.25 * kPiD / 6, 1e-6);
  EXPECT_EQ(b[7], 2.f);
  EXPECT_NEAR(d.scores.data_as<float>()[0], 1.0 / (1.0 + std::exp(-2.0)), 1e-7);
}

TEST(BoxDecode, HandWorkedBinOriBox) {
  // Official coder: bins start at -pi; bin 3 with residual 0.5 -> -pi + 3.5 w + 0.25 w = -pi + 3.75 * pi/6.
  Row r;
  r.cls = {4.f, 2.f, 0.5f};
  r.reg = reg_row({0.f, 0.f, 0.f, std::log(2.f), 0.f, -std::log(2.f)}, {0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0},
                  {9, 9, 9, 0.5f, 9, 9, 9, 9, 9, 9, 9, 9});
  r.center = {1.f, 2.f, 3.f};
  const Decoded d = decode_row(r, kitti_params(HeadingCoder::BinOri));
  const float* b = d.boxes.data_as<float>();
  EXPECT_EQ(b[0], 1.f);
  EXPECT_EQ(b[1], 2.f);
  EXPECT_EQ(b[2], 3.f);
  EXPECT_NEAR(b[3], 7.8, 1e-5);
  EXPECT_EQ(b[4], 1.6f);
  EXPECT_NEAR(b[5], 0.78, 1e-6);
  const float w = static_cast<float>(2 * kPiD / 12), half = static_cast<float>(kPiD / 12);
  EXPECT_EQ(b[6], ((3.f * w) - static_cast<float>(kPiD)) + half + 0.5f * half);
  EXPECT_NEAR(b[6], -kPiD + 3.75 * kPiD / 6, 1e-6);
  EXPECT_EQ(b[7], 1.f);
}

TEST(BoxDecode, CodersDifferByHalfABinAndResidualScale) {
  // Same codes through both coders: bin 0, residual 0 -> BinResidual 0, BinOri -pi + w/2.
  Row r;
  r.cls = {0.f, 0.f, 0.f};
  r.reg = reg_row({0, 0, 0, 0, 0, 0}, std::vector<float>(12, 0.f), std::vector<float>(12, 0.f));
  EXPECT_EQ(decode_row(r, kitti_params()).boxes.data_as<float>()[6], 0.f);
  EXPECT_NEAR(decode_row(r, kitti_params(HeadingCoder::BinOri)).boxes.data_as<float>()[6], -kPiD + kPiD / 12, 1e-6);
  // Last bin, extreme residuals: BinResidual (11 +- 0.5) w, BinOri -pi + 11.5 w +- w/2 = pi - w/2 +- w/2.
  r.reg[6 + 11] = 1.f;
  r.reg[6 + 12 + 11] = 0.5f;
  EXPECT_NEAR(decode_row(r, kitti_params()).boxes.data_as<float>()[6], 11.5 * kPiD / 6, 2e-6);
  r.reg[6 + 12 + 11] = 1.f;
  EXPECT_NEAR(decode_row(r, kitti_params(HeadingCoder::BinOri)).boxes.data_as<float>()[6], kPiD, 2e-6);
}

TEST(BoxDecode, FirstArgmaxOnTiesForClassesAndBins) {
  Row r;
  r.cls = {1.f, 3.f, 3.f};  // classes 1 and 2 tie -> class 1 (label 2)
  r.reg = reg_row({0, 0, 0, 0, 0, 0}, {0, 2, 5, 5, 1, 5, 0, 0, 0, 0, 0, 0},  // bins 2, 3, 5 tie -> bin 2
                  {0, 0, 0.125f, 0.25f, 0, 0.375f, 0, 0, 0, 0, 0, 0});
  const Decoded d = decode_row(r, kitti_params());
  const float w = static_cast<float>(2 * kPiD / 12);
  EXPECT_EQ(d.boxes.data_as<float>()[7], 2.f);
  EXPECT_EQ(d.boxes.data_as<float>()[6], (2.f + 0.125f) * w);
  EXPECT_EQ(d.boxes.data_as<float>()[3], 0.8f);  // Pedestrian mean size
  // -0 and +0 tie too: the first wins.
  r.cls = {-0.f, 0.f, -1.f};
  EXPECT_EQ(decode_row(r, kitti_params()).boxes.data_as<float>()[7], 1.f);
  r.cls = {-1.f, -0.f, 0.f};
  EXPECT_EQ(decode_row(r, kitti_params()).boxes.data_as<float>()[7], 2.f);
}

TEST(BoxDecode, SigmoidExtremesAndNan) {
  Row r;
  r.reg = reg_row({0, 0, 0, 0, 0, 0}, std::vector<float>(12, 0.f), std::vector<float>(12, 0.f));
  auto score = [&](std::vector<float> cls) {
    r.cls = std::move(cls);
    return decode_row(r, kitti_params()).scores.data_as<float>()[0];
  };
  EXPECT_EQ(score({0.f, -1.f, -2.f}), 0.5f);
  EXPECT_EQ(score({kInf, 0.f, 0.f}), 1.f);
  EXPECT_EQ(score({-kInf, -kInf, -kInf}), 0.f);
  EXPECT_EQ(score({100.f, 0.f, 0.f}), 1.f);
  EXPECT_EQ(score({20.f, 0.f, 0.f}), 1.f);  // 1 - 2e-9 rounds to 1 in float32
  EXPECT_EQ(score({-100.f, -200.f, -300.f}), 0.f);  // exp(100) overflows: 1 / inf
  EXPECT_NEAR(score({-20.f, -30.f, -40.f}), 1.0 / (1.0 + std::exp(20.0)), 1e-15);
  EXPECT_NEAR(score({-5.f, -30.f, -40.f}), 1.0 / (1.0 + std::exp(5.0)), 1e-8);
  // A NaN logit is the maximum (first NaN wins, like torch.max): label of that class, score NaN.
  r.cls = {5.f, kNan, kNan};
  const Decoded d = decode_row(r, kitti_params());
  EXPECT_EQ(d.boxes.data_as<float>()[7], 2.f);
  EXPECT_TRUE(std::isnan(d.scores.data_as<float>()[0]));
}

TEST(BoxDecode, SizeCodesAtExpLimits) {
  Row r;
  r.cls = {1.f, 0.f, 0.f};
  r.reg = reg_row({0, 0, 0, 200.f, -200.f, kNan}, std::vector<float>(12, 0.f), std::vector<float>(12, 0.f));
  const Decoded d = decode_row(r, kitti_params());
  const float* b = d.boxes.data_as<float>();
  EXPECT_EQ(b[3], kInf);
  EXPECT_EQ(b[4], 0.f);
  EXPECT_TRUE(std::isnan(b[5]));
}

TEST(BoxDecode, CpuMatchesDoubleOracleBothCodersAndShapes) {
  for (HeadingCoder coder : {HeadingCoder::BinResidual, HeadingCoder::BinOri}) {
    SCOPED_TRACE(coder == HeadingCoder::BinOri ? "BinOri" : "BinResidual");
    expect_matches_oracle(realistic_inputs(2, 256, 3, 12, coder, 1), kitti_params(coder));
    expect_matches_oracle(realistic_inputs(1, 100, 3, 1, coder, 2), kitti_params(coder, 1));
    expect_matches_oracle(realistic_inputs(3, 64, 3, 7, coder, 3), kitti_params(coder, 7));
    BoxDecodeParams one = kitti_params(coder, 24);
    one.mean_size = {{4.5f, 1.9f, 1.7f}};
    expect_matches_oracle(realistic_inputs(2, 50, 1, 24, coder, 4), one);
  }
}

TEST(BoxDecode, Properties) {
  for (HeadingCoder coder : {HeadingCoder::BinResidual, HeadingCoder::BinOri}) {
    const Inputs in = realistic_inputs(4, 256, 3, 12, coder, 5);
    const BoxDecodeParams p = kitti_params(coder);
    const Decoded d = cpu_decode(in.cls, in.reg, in.centers, p);
    const double w = 2 * kPiD / 12;
    for (std::int64_t i = 0; i < 4 * 256; ++i) {
      const float* b = d.boxes.data_as<float>() + i * 8;
      const float s = d.scores.data_as<float>()[i];
      EXPECT_TRUE(b[7] == 1.f || b[7] == 2.f || b[7] == 3.f);
      EXPECT_GT(b[3], 0.f);
      EXPECT_GT(b[4], 0.f);
      EXPECT_GT(b[5], 0.f);
      EXPECT_GE(s, 0.f);
      EXPECT_LE(s, 1.f);
      // Heading ranges with residuals in the training range (spec §5 table), plus float slack.
      if (coder == HeadingCoder::BinResidual) {
        EXPECT_GE(b[6], -w / 2 - 1e-6);
        EXPECT_LE(b[6], 2 * kPiD - w / 2 + 1e-6);
      } else {
        EXPECT_GE(b[6], -kPiD - 1e-6);
        EXPECT_LE(b[6], kPiD + 1e-6);
      }
      // The score is the sigmoid of the winning logit, which is the row maximum.
      const float* c = in.cls.data_as<float>() + i * 3;
      const int label = static_cast<int>(b[7]) - 1;
      for (int k = 0; k < 3; ++k) EXPECT_LE(c[k], c[label]);
    }
    // Decoding is row-local: the same rows in another batch layout give the same bits.
    const Tensor cls2 = in.cls.reshape({1, 1024, 3}), reg2 = in.reg.reshape({1, 1024, 30});
    const Decoded d2 = cpu_decode(cls2, reg2, in.centers.reshape({1, 1024, 3}), p);
    EXPECT_EQ(std::memcmp(d.boxes.data(), d2.boxes.data(), d.boxes.nbytes()), 0);
    EXPECT_EQ(std::memcmp(d.scores.data(), d2.scores.data(), d.scores.nbytes()), 0);
  }
}

TEST(BoxDecode, EmptyInputIsValid) {
  const Inputs in = realistic_inputs(2, 0, 3, 12, HeadingCoder::BinResidual, 6);
  const Decoded d = cpu_decode(in.cls, in.reg, in.centers, kitti_params());
  EXPECT_EQ(d.boxes.numel(), 0);
}

TEST(BoxDecode, BadInputsGiveClearErrors) {
  const Inputs in = realistic_inputs(1, 4, 3, 12, HeadingCoder::BinResidual, 7);
  Tensor boxes = Tensor::zeros({1, 4, 8}, DType::F32), scores = Tensor::zeros({1, 4}, DType::F32);
  auto run = [&](const Tensor& cls, const Tensor& reg, const Tensor& ctr, Tensor& bx, Tensor& sc,
                 const BoxDecodeParams& p) { return [&, p] { ops::box_decode_cpu(cls, reg, ctr, bx, sc, p); }; };
  const BoxDecodeParams ok = kitti_params();
  expect_error(run(Tensor::zeros({4, 3}, DType::F32), in.reg, in.centers, boxes, scores, ok),
               {"box_decode: cls: expected f32[*, *, *]@host, got f32[4, 3]@host"});
  expect_error(run(Tensor::zeros({1, 4, 3}, DType::I32), in.reg, in.centers, boxes, scores, ok),
               {"box_decode: cls: expected f32[*, *, *]@host, got i32[1, 4, 3]@host"});
  expect_error(run(Tensor::zeros({1, 4, 0}, DType::F32), in.reg, in.centers, boxes, scores, ok),
               {"box_decode: cls: need at least one class channel"});
  BoxDecodeParams nb10 = kitti_params(HeadingCoder::BinResidual, 10);
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, nb10),
               {"box_decode: reg: width 30 does not match 6 + 2 * num_heading_bins = 26 (num_heading_bins = 10)"});
  expect_error(run(in.cls, Tensor::zeros({1, 5, 30}, DType::F32), in.centers, boxes, scores, ok),
               {"box_decode: reg: expected f32[1, 4, *]@host, got f32[1, 5, 30]@host"});
  expect_error(run(in.cls, Tensor::zeros({1, 4, 30}, DType::I32), in.centers, boxes, scores, ok),
               {"box_decode: reg: expected f32"});
  BoxDecodeParams two = ok;
  two.mean_size.pop_back();
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, two),
               {"box_decode: mean_size has 2 entries but cls has NC = 3 classes"});
  BoxDecodeParams bad_mean = ok;
  bad_mean.mean_size[1][1] = 0.f;
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, bad_mean),
               {"box_decode: mean_size[1] must be finite and > 0, got (0.800000, 0.000000, 1.730000)"});
  bad_mean.mean_size[1][1] = kNan;
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, bad_mean), {"box_decode: mean_size[1] must be finite"});
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, kitti_params(HeadingCoder::BinResidual, 0)),
               {"box_decode: num_heading_bins must be in [1, 1048576], got 0"});
  BoxDecodeParams bad_coder = ok;
  bad_coder.coder = static_cast<HeadingCoder>(7);
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores, bad_coder),
               {"box_decode: coder: unknown heading coder 7"});
  BoxDecodeParams many = ok;
  many.mean_size.assign(257, {1.f, 1.f, 1.f});
  expect_error(run(Tensor::zeros({1, 4, 257}, DType::F32), in.reg, in.centers, boxes, scores, many),
               {"box_decode: cls: NC = 257 classes exceeds the supported 256"});
  expect_error(run(in.cls, in.reg, Tensor::zeros({1, 4, 2}, DType::F32), boxes, scores, ok),
               {"box_decode: centers: expected f32[1, 4, 3]@host, got f32[1, 4, 2]@host"});
  Tensor boxes7 = Tensor::zeros({1, 4, 7}, DType::F32);
  expect_error(run(in.cls, in.reg, in.centers, boxes7, scores, ok),
               {"box_decode: boxes: expected f32[1, 4, 8]@host, got f32[1, 4, 7]@host"});
  Tensor scores3 = Tensor::zeros({1, 4, 1}, DType::F32);
  expect_error(run(in.cls, in.reg, in.centers, boxes, scores3, ok),
               {"box_decode: scores: expected f32[1, 4]@host, got f32[1, 4, 1]@host"});
#ifdef POINTRT_WITH_CUDA
  expect_error([&] { ops::box_decode_cuda(in.cls, in.reg, in.centers, boxes, scores, ok, nullptr); },
               {"box_decode: cls: expected f32[*, *, *]@cuda, got f32[1, 4, 3]@host"});
#endif
}

#ifdef POINTRT_WITH_CUDA

namespace {

// A host tensor of `shape` full of a NaN bit pattern (a kernel that skips an element leaves it visible).
Tensor garbage(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::vector<std::uint32_t> bits(static_cast<std::size_t>(t.numel()), 0x7fc0deadu);
  if (!bits.empty()) std::memcpy(t.data(), bits.data(), t.nbytes());
  return t;
}

// "" when `a` and `b` hold the same float bits everywhere (any NaN equals any NaN), else the first difference.
std::string first_bit_difference(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return "shape " + a.describe() + " vs " + b.describe();
  const std::int64_t inner = a.rank() == 3 ? a.dim(2) : 1;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const float x = a.data_as<float>()[i], y = b.data_as<float>()[i];
    std::uint32_t xb, yb;
    std::memcpy(&xb, &x, sizeof xb);
    std::memcpy(&yb, &y, sizeof yb);
    if (xb != yb && !(std::isnan(x) && std::isnan(y))) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "row %lld channel %lld: cpu %.9g (0x%08x), cuda %.9g (0x%08x)",
                    static_cast<long long>(i / inner), static_cast<long long>(i % inner), static_cast<double>(x), xb,
                    static_cast<double>(y), yb);
      return buf;
    }
  }
  return "";
}

void expect_cuda_matches_cpu(const Inputs& in, const BoxDecodeParams& p, const std::string& what) {
  SCOPED_TRACE(what);
  const Decoded want = cpu_decode(in.cls, in.reg, in.centers, p);
  pointrt::testing::GuardedDeviceTensor d_cls(in.cls), d_reg(in.reg), d_ctr(in.centers);
  pointrt::testing::GuardedDeviceTensor d_boxes(garbage({in.cls.dim(0), in.cls.dim(1), 8}));
  pointrt::testing::GuardedDeviceTensor d_scores(garbage({in.cls.dim(0), in.cls.dim(1)}));
  ops::box_decode_cuda(d_cls.tensor(), d_reg.tensor(), d_ctr.tensor(), d_boxes.tensor(), d_scores.tensor(), p,
                       nullptr);
  const Tensor boxes = d_boxes.to_host(), scores = d_scores.to_host();
  ASSERT_EQ(boxes.nbytes(), want.boxes.nbytes());
  ASSERT_EQ(scores.nbytes(), want.scores.nbytes());
  // Bit for bit, except that every NaN is the same value (NaN payloads differ between x86 and CUDA).
  const std::string boxes_diff = first_bit_difference(want.boxes, boxes);
  EXPECT_EQ(boxes_diff, "") << "boxes";
  const std::string scores_diff = first_bit_difference(want.scores, scores);
  EXPECT_EQ(scores_diff, "") << "scores";
  EXPECT_TRUE(d_boxes.guards_intact());
  EXPECT_TRUE(d_scores.guards_intact());
  EXPECT_TRUE(d_cls.guards_intact());
  EXPECT_TRUE(d_reg.guards_intact());
  EXPECT_TRUE(d_ctr.guards_intact());
}

}  // namespace

TEST(BoxDecodeCuda, MatchesCpuBitwiseOnRealisticInputs) {
  POINTRT_REQUIRE_CUDA();
  for (HeadingCoder coder : {HeadingCoder::BinResidual, HeadingCoder::BinOri}) {
    const std::string name = coder == HeadingCoder::BinOri ? "BinOri" : "BinResidual";
    expect_cuda_matches_cpu(realistic_inputs(1, 256, 3, 12, coder, 10), kitti_params(coder), name + " B=1 M=256");
    expect_cuda_matches_cpu(realistic_inputs(8, 256, 3, 12, coder, 11), kitti_params(coder), name + " B=8 M=256");
    expect_cuda_matches_cpu(realistic_inputs(3, 1000, 3, 12, coder, 12), kitti_params(coder), name + " B=3 M=1000");
  }
}

TEST(BoxDecodeCuda, MatchesCpuBitwiseOnAdversarialInputs) {
  POINTRT_REQUIRE_CUDA();
  for (HeadingCoder coder : {HeadingCoder::BinResidual, HeadingCoder::BinOri}) {
    expect_cuda_matches_cpu(adversarial_inputs(4, 256, 3, 12, 20), kitti_params(coder), "KITTI shape");
    expect_cuda_matches_cpu(adversarial_inputs(2, 333, 3, 1, 21), kitti_params(coder, 1), "NB=1");
    expect_cuda_matches_cpu(adversarial_inputs(5, 77, 3, 9, 22), kitti_params(coder, 9), "NB=9");
    BoxDecodeParams ten = kitti_params(coder, 12);
    ten.mean_size.clear();
    for (int c = 0; c < 10; ++c) ten.mean_size.push_back({0.5f + 0.37f * c, 0.4f + 0.11f * c, 1.f + 0.05f * c});
    expect_cuda_matches_cpu(adversarial_inputs(2, 300, 10, 12, 23), ten, "NC=10");
    BoxDecodeParams many = kitti_params(coder, 4);
    many.mean_size.assign(256, {1.5f, 0.7f, 1.2f});
    many.mean_size[255] = {9.f, 3.f, 4.f};
    expect_cuda_matches_cpu(adversarial_inputs(2, 200, 256, 4, 24), many, "NC=256");
  }
  // A uniform sweep of size codes through the whole exp range, every row: exp bits agree on host and device.
  const int m = 4096;
  std::vector<float> reg(static_cast<std::size_t>(m) * 30, 0.f);
  for (int i = 0; i < m; ++i) {
    for (int a = 0; a < 3; ++a) {
      reg[static_cast<std::size_t>(i) * 30 + 3 + a] = -105.f + 195.f * static_cast<float>(3 * i + a) / (3.f * m);
    }
  }
  expect_cuda_matches_cpu({Tensor::from_vector(std::vector<float>(static_cast<std::size_t>(m) * 3, 0.5f), {1, m, 3}),
                           Tensor::from_vector(reg, {1, m, 30}),
                           Tensor::from_vector(std::vector<float>(static_cast<std::size_t>(m) * 3, 1.f), {1, m, 3})},
                          kitti_params(), "exp sweep");
  expect_cuda_matches_cpu(realistic_inputs(2, 0, 3, 12, HeadingCoder::BinResidual, 25), kitti_params(), "M = 0");
}

#endif  // POINTRT_WITH_CUDA
