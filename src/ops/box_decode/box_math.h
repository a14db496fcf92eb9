// Float32 math of the box decoder, shared by the CPU reference and the CUDA kernel (see box_decode.h).
//
// Everything here is written once as inline functions that compile for the host and the device, so box_decode_cpu
// and box_decode_cuda produce bit-identical boxes and scores:
//   * Every arithmetic step is one IEEE float32 operation, rounded to nearest, in the order written. On the device
//     the steps are spelled with the __fadd_rn/__fmul_rn/__fdiv_rn/__fsqrt_rn intrinsics, which the compiler never
//     contracts or approximates, so this holds whatever flags include this header (the ops library also builds
//     with -fmad=false -prec-div=true -prec-sqrt=true). On the host, pointrt builds all C++ with -ffp-contract=off.
//   * exp is not taken from libm or CUDA's math library (their results differ in the last bit): pt_expf() below is
//     pointrt's own float32 exp: Cody-Waite reduction x = k*ln2 + r (ln2 split in two so that k*ln2_hi is exact),
//     a degree-7 polynomial 1 + r + r^2 * q(r) on |r| <= ln2/2 (q: Chebyshev fit of (e^r - 1 - r)/r^2, degree 5,
//     coefficients rounded to float32; approximation error < 0.02 ulp), and scaling by 2^k in two exact halves so
//     that subnormal results are rounded once. Measured against exp in double over every float in [-104, 89]:
//     max error 0.952 ulp (tests/ops/test_box_decode.cpp asserts < 1 ulp on a dense sweep). exp(0) == 1 exactly,
//     results above FLT_MAX round to +inf, below half the smallest subnormal to +0; exp(+inf) = +inf,
//     exp(-inf) = +0, and a NaN input is returned unchanged. Subnormal inputs and results are honoured (no
//     flush to zero on either side).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops/box_decode/box_decode.h"

#ifdef __CUDACC__
#define POINTRT_BM_HD __host__ __device__ __forceinline__
#else
#define POINTRT_BM_HD inline
#endif

namespace pointrt::ops::box_math {

// One rounded float32 operation each (never fused, never approximated).
POINTRT_BM_HD float add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
POINTRT_BM_HD float sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
POINTRT_BM_HD float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
POINTRT_BM_HD float div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
// Correctly rounded square root on both sides (IEEE 754 requires it of the host's sqrtf).
POINTRT_BM_HD float sqrt(float a) {
#ifdef __CUDA_ARCH__
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

POINTRT_BM_HD float from_bits(std::uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// 2^e as a float, for normal exponents -126 <= e <= 127 (exact).
POINTRT_BM_HD float pow2(int e) { return from_bits(static_cast<std::uint32_t>(e + 127) << 23); }

// Nearest integer (halves away from zero; any nearby integer keeps the reduction valid), for |v| < 2^22.
POINTRT_BM_HD float round_int(float v) {
  const float t = static_cast<float>(static_cast<int>(add(v < 0.0f ? -v : v, 0.5f)));
  return v < 0.0f ? -t : t;
}

constexpr float kLog2e = 1.44269502f;           // float32(1 / ln 2)
constexpr float kLn2Hi = 0.693145751953125f;    // 0x3f317200: 15 significant bits, k * kLn2Hi exact for |k| <= 256
constexpr float kLn2Lo = 1.42860677e-06f;       // 0x35bfbe8e: float32(ln 2 - kLn2Hi)
constexpr float kExpOverflow = 89.0f;           // exp(x) > 2^128 beyond: +inf
constexpr float kExpUnderflow = -104.0f;        // exp(x) < 2^-150 below: +0
// q(r) ~ (e^r - 1 - r) / r^2 on |r| <= ln2/2, Chebyshev fit, float32 coefficients q0 .. q5.
constexpr float kQ0 = 0.5f;
constexpr float kQ1 = 0.166666672f;
constexpr float kQ2 = 4.16664630e-2f;
constexpr float kQ3 = 8.33331048e-3f;
constexpr float kQ4 = 1.39336858e-3f;
constexpr float kQ5 = 1.98910304e-4f;

// pointrt's float32 exp (see the header comment): identical bits on host and device, error <= 1 ulp.
POINTRT_BM_HD float pt_expf(float x) {
  if (x != x) return x;                                       // NaN propagates
  if (x > kExpOverflow) return from_bits(0x7f800000u);        // +inf (also for x = +inf)
  if (x < kExpUnderflow) return 0.0f;                         // also for x = -inf
  const float kf = round_int(mul(x, kLog2e));                 // |k| <= 150
  const float r = sub(sub(x, mul(kf, kLn2Hi)), mul(kf, kLn2Lo));  // x - k*kLn2Hi is exact (Sterbenz)
  const float q = add(kQ0, mul(r, add(kQ1, mul(r, add(kQ2, mul(r, add(kQ3, mul(r, add(kQ4, mul(r, kQ5))))))))));
  const float p = add(1.0f, add(r, mul(mul(r, r), q)));      // e^r in [0.70, 1.42]
  // p * 2^k in two steps, each factor a normal power of two: the first product is exact, the second rounds once
  // (into the subnormal range when k < -126, to +inf on overflow when k = 128).
  const int k = static_cast<int>(kf);
  const int k1 = k / 2;
  return mul(mul(p, pow2(k1)), pow2(k - k1));
}

// First index of the maximum of v[0 .. n), n >= 1; a NaN counts as larger than every number (like torch.max, the
// first NaN wins). Ties (including -0 == +0) go to the lower index.
POINTRT_BM_HD int first_argmax(const float* v, int n) {
  int best = 0;
  float bv = v[0];
  for (int i = 1; i < n && bv == bv; ++i) {
    const float x = v[i];
    if (x > bv || x != x) {
      best = i;
      bv = x;
    }
  }
  return best;
}

constexpr float kPi = 3.14159274f;  // float32(pi)
// Mean sizes reach the kernel as a by-value parameter (and shared memory): at most this many classes.
constexpr int kMaxClasses = 256;
constexpr int kMaxHeadingBins = 1 << 20;

// w = float32(2 pi / NB), the heading bin width (host only: formed in double like the Python constant, then
// rounded once; the kernel receives it as a parameter).
inline float bin_width(int num_heading_bins) {
  return static_cast<float>(2.0 * 3.14159265358979323846 / static_cast<double>(num_heading_bins));
}

// Decodes one row (box_decode.h gives the formulas): cls [nc] logits, reg [6 + 2*nb] codes, center [3],
// mean_size [nc * 3] (dx, dy, dz per class), w = bin_width(nb) -> box [8] and *score.
POINTRT_BM_HD void decode_row(const float* cls, int nc, const float* reg, int nb, const float* center,
                              const float* mean_size, float w, HeadingCoder coder, float* box, float* score) {
  const int c = first_argmax(cls, nc);
  const float dxa = mean_size[3 * c + 0], dya = mean_size[3 * c + 1], dza = mean_size[3 * c + 2];
  const float diag = box_math::sqrt(add(mul(dxa, dxa), mul(dya, dya)));
  box[0] = add(mul(reg[0], diag), center[0]);
  box[1] = add(mul(reg[1], diag), center[1]);
  box[2] = add(mul(reg[2], dza), center[2]);
  box[3] = mul(pt_expf(reg[3]), dxa);
  box[4] = mul(pt_expf(reg[4]), dya);
  box[5] = mul(pt_expf(reg[5]), dza);
  const int b = first_argmax(reg + 6, nb);
  const float res = reg[6 + nb + b];
  const float bf = static_cast<float>(b);
  if (coder == HeadingCoder::BinOri) {
    const float half = mul(w, 0.5f);  // exact: == float32(pi / NB)
    box[6] = add(add(sub(mul(bf, w), kPi), half), mul(res, half));
  } else {
    box[6] = mul(add(bf, res), w);
  }
  box[7] = static_cast<float>(c + 1);
  *score = div(1.0f, add(1.0f, pt_expf(-cls[c])));
}

}  // namespace pointrt::ops::box_math

namespace pointrt::ops::detail {
// Shared validation of both entry points (throws pointrt::Error naming "box_decode" and the tensor or parameter).
void box_decode_check(const Tensor& cls, const Tensor& reg, const Tensor& centers, const Tensor& boxes,
                      const Tensor& scores, const BoxDecodeParams& params, Device device);
}  // namespace pointrt::ops::detail
