// Fused set-abstraction grouper (gather -> MLP -> max-pool): the CPU reference against a double-precision
// brute-force oracle (random inputs and real KITTI frames with ball-query neighbours), validation errors by message,
// the empty-ball mask and the output slice, thread-count invariance, and the CUDA kernel against the CPU reference
// at the IA-SSD grouper sizes (guard regions, garbage-filled outputs, batch > 1, bad indices through `error`, two runs
// bit-identical); both CUDA paths (3xTF32 tensor cores and FP32 SIMT) forced in turn, every tensor-core tile shape
// bit-identical to the others, and batch invariance (B = 3 rows bit-identical to B = 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/gpu.h"
#include "core/parallel.h"
#include "ops/ops_test_util.h"
#include "ops/sa_mlp/sa_mlp.h"
#include "ops/sa_mlp/sa_mlp_path.h"
#include "pointrt/error.h"
#include "support/test_data.h"

using namespace pointrt;
using pointrt::ops::DenseLayer;
using pointrt::ops::SaMlpParams;
using pointrt::testing::DeviceLayers;
using pointrt::testing::expect_error;

namespace {

constexpr float kSentinel = 7.25f;  // pre-filled into out; channels outside the slice must keep it

Tensor random_features(std::int64_t batch, std::int64_t n, std::int64_t c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<std::size_t>(batch * n * c));
  for (float& x : v) x = d(rng);
  return Tensor::from_vector(v, {batch, n, c});
}

Tensor random_indices(const Shape& shape, std::int32_t lo, std::int32_t hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> u(lo, hi);
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  std::vector<std::int32_t> v(static_cast<std::size_t>(count));
  for (auto& x : v) x = u(rng);
  return Tensor::from_vector(v, shape);
}

Tensor strided_indices(std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t stride) {
  std::vector<std::int32_t> v;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) v.push_back(static_cast<std::int32_t>((j * stride + b) % n));
  }
  return Tensor::from_vector(v, {batch, m});
}


// All inputs of one call.
struct Inputs {
  Tensor xyz, feats, centres, idx, cnt;
  bool has_feats = true;
  std::vector<DenseLayer> layers;
  const Tensor* features() const { return has_feats ? &feats : nullptr; }
  std::int64_t cl() const { return layers.back().weight.dim(0); }
};

// Real frames: KITTI xyz (n points per item), centres strided over the cloud, ball-query neighbours. C = 1 uses the
// intensity channel, otherwise random features. Items with index >= 1 get every other centre shifted by 30 m in x,
// so some balls are empty.
Inputs real_inputs(const std::vector<int>& frames, std::size_t n, std::int64_t m, float r, int k, std::int64_t c,
                   const std::vector<std::int64_t>& widths, bool empty_balls) {
  Inputs in;
  const Tensor pts = pointrt::testing::kitti_points(frames, n);
  const std::int64_t batch = static_cast<std::int64_t>(frames.size()), nn = static_cast<std::int64_t>(n);
  in.xyz = pointrt::testing::xyz_of(pts);
  in.centres = pointrt::testing::gather_rows(in.xyz, strided_indices(batch, m, nn, nn / m));
  if (empty_balls) {
    for (std::int64_t b = 1; b < batch; ++b) {
      for (std::int64_t j = 0; j < m; j += 2) in.centres.data_as<float>()[(b * m + j) * 3] += 30.f;
    }
  }
  std::tie(in.idx, in.cnt) = pointrt::testing::simple_ball_query(in.xyz, in.centres, r, k);
  if (c == 1) {
    std::vector<float> v;
    for (std::int64_t i = 0; i < batch * nn; ++i) v.push_back(pts.data_as<float>()[i * 4 + 3]);
    in.feats = Tensor::from_vector(v, {batch, nn, 1});
  } else {
    in.feats = random_features(batch, nn, c, 9);
  }
  in.layers = pointrt::testing::random_dense_layers(widths, 10);
  return in;
}

Inputs small_inputs(std::int64_t batch, std::int64_t n, std::int64_t m, std::int64_t k, std::int64_t c,
                    const std::vector<std::int64_t>& hidden, std::uint64_t seed) {
  Inputs in;
  in.xyz = pointrt::testing::uniform_points(static_cast<int>(batch), static_cast<int>(n), -2.f, 2.f, seed);
  in.centres = pointrt::testing::uniform_points(static_cast<int>(batch), static_cast<int>(m), -1.f, 1.f, seed + 1);
  in.has_feats = c > 0;
  if (c > 0) in.feats = random_features(batch, n, c, seed + 2);
  in.idx = random_indices({batch, m, k}, 0, static_cast<std::int32_t>(n - 1), seed + 3);
  in.cnt = random_indices({batch, m}, 0, 2, seed + 4);  // about a third of the balls empty
  std::vector<std::int64_t> widths{3 + c};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  in.layers = pointrt::testing::random_dense_layers(widths, seed + 5);
  return in;
}

// Brute force in double (the relative coordinates are float32 differences, as the contract says). Returns
// [B, M, CL].
std::vector<double> oracle(const Inputs& in, bool mask_empty) {
  const std::int64_t batch = in.xyz.dim(0), n = in.xyz.dim(1), m = in.centres.dim(1), k = in.idx.dim(2);
  const std::int64_t c = in.has_feats ? in.feats.dim(2) : 0;
  std::vector<double> out;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t bm = b * m + j;
      std::vector<double> pooled;
      for (std::int64_t s = 0; s < k; ++s) {
        const std::int64_t i = in.idx.data_as<std::int32_t>()[bm * k + s];
        std::vector<double> h;
        for (int q = 0; q < 3; ++q) {
          h.push_back(in.xyz.data_as<float>()[(b * n + i) * 3 + q] - in.centres.data_as<float>()[bm * 3 + q]);
        }
        for (std::int64_t q = 0; q < c; ++q) h.push_back(in.feats.data_as<float>()[(b * n + i) * c + q]);
        for (const DenseLayer& l : in.layers) {
          const std::int64_t cout = l.weight.dim(0), cin = l.weight.dim(1);
          std::vector<double> next(static_cast<std::size_t>(cout));
          for (std::int64_t o = 0; o < cout; ++o) {
            double acc = l.bias.data_as<float>()[o];
            for (std::int64_t t = 0; t < cin; ++t)
              acc += static_cast<double>(l.weight.data_as<float>()[o * cin + t]) * h[t];
            next[o] = l.relu ? std::max(acc, 0.0) : acc;
          }
          h = next;
        }
        if (s == 0) {
          pooled = h;
        } else {
          for (std::size_t o = 0; o < h.size(); ++o) pooled[o] = std::max(pooled[o], h[o]);
        }
      }
      if (mask_empty && in.cnt.data_as<std::int32_t>()[bm] == 0) std::fill(pooled.begin(), pooled.end(), 0.0);
      out.insert(out.end(), pooled.begin(), pooled.end());
    }
  }
  return out;
}

Tensor filled(const Shape& shape, float value) {
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  return Tensor::from_vector(std::vector<float>(static_cast<std::size_t>(count), value), shape);
}

// out [B, M, ctot] pre-filled with kSentinel; the slice [offset, offset + CL) written by the CPU reference.
Tensor run_cpu(const Inputs& in, const SaMlpParams& p, std::int64_t ctot) {
  Tensor out = filled({in.xyz.dim(0), in.centres.dim(1), ctot}, kSentinel);
  ops::sa_mlp_cpu(in.xyz, in.features(), in.centres, in.idx, in.cnt, in.layers, out, p);
  return out;
}

// Checks the slice against the oracle (|got - want| <= rel * (1e-3 + max|want|) + rel * |want|) and that the other
// channels still hold the sentinel.
void expect_slice_matches(const std::vector<double>& want, const Tensor& out, std::int64_t offset, std::int64_t cl,
                          double rel) {
  const std::int64_t rows = out.dim(0) * out.dim(1), ctot = out.dim(2);
  ASSERT_EQ(static_cast<std::int64_t>(want.size()), rows * cl);
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  int bad = 0, touched = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t ch = 0; ch < ctot; ++ch) {
      const float g = out.data_as<float>()[r * ctot + ch];
      if (ch < offset || ch >= offset + cl) {
        if (g != kSentinel && ++touched <= 3) ADD_FAILURE() << "channel " << ch << " of row " << r << " was written";
        continue;
      }
      const double w = want[static_cast<std::size_t>(r * cl + ch - offset)];
      if (!(std::fabs(g - w) <= rel * (1e-3 + scale) + rel * std::fabs(w)) && ++bad <= 5) {
        ADD_FAILURE() << "row " << r << " channel " << ch - offset << ": want " << w << ", got " << g;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(touched, 0);
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

}  // namespace

// Tolerance (CPU vs double oracle): 1e-5 of the output scale (float32 sums of at most ~300 O(1) products).
TEST(SaMlp, CpuMatchesDoubleOracleOnRandomInputs) {
  struct Case {
    std::int64_t batch, n, m, k, c;
    std::vector<std::int64_t> hidden;
  };
  for (const Case& cs : {Case{2, 50, 7, 5, 6, {16, 8}}, Case{1, 20, 3, 1, 0, {4}}, Case{3, 40, 33, 16, 13, {32, 20, 9}},
                         Case{1, 300, 70, 32, 64, {64, 96, 128}}}) {
    for (bool mask : {true, false}) {
      SCOPED_TRACE("M=" + std::to_string(cs.m) + " K=" + std::to_string(cs.k) + " C=" + std::to_string(cs.c) +
                   " mask=" + std::to_string(mask));
      const Inputs in = small_inputs(cs.batch, cs.n, cs.m, cs.k, cs.c, cs.hidden, 17);
      SaMlpParams p;
      p.mask_empty = mask;
      p.channel_offset = 3;
      const Tensor out = run_cpu(in, p, 3 + in.cl() + 2);
      expect_slice_matches(oracle(in, mask), out, 3, in.cl(), 1e-5);
    }
  }
}

TEST(SaMlp, CpuMatchesDoubleOracleOnRealFrames) {
  POINTRT_REQUIRE_SHARED_DATA();
  // SA1 grouper 1 (r 0.8, K 32, intensity, 4 -> 32 -> 32 -> 64) on 256 centres of two frames, one with empty balls;
  // SA2-like grouper (r 1.6, K 32, C 64, 67 -> 64 -> 96 -> 128) on 128 centres.
  {
    const Inputs in = real_inputs({0, 1}, 4096, 256, 0.8f, 32, 1, {4, 32, 32, 64}, true);
    SaMlpParams p;
    p.channel_offset = 32;
    expect_slice_matches(oracle(in, true), run_cpu(in, p, 96), 32, 64, 1e-5);
  }
  {
    const Inputs in = real_inputs({2}, 4096, 128, 1.6f, 32, 64, {67, 64, 96, 128}, false);
    SaMlpParams p;
    p.mask_empty = false;
    expect_slice_matches(oracle(in, false), run_cpu(in, p, 128), 0, 128, 1e-5);
  }
}

TEST(SaMlp, MaskEmptyZeroesExactlyTheEmptyBalls) {
  const Inputs in = small_inputs(2, 60, 40, 8, 5, {16, 24}, 31);
  SaMlpParams p;
  p.channel_offset = 1;
  const Tensor masked = run_cpu(in, p, 1 + 24);
  p.mask_empty = false;
  const Tensor unmasked = run_cpu(in, p, 1 + 24);
  int empty = 0;
  for (std::int64_t bm = 0; bm < 80; ++bm) {
    const bool is_empty = in.cnt.data_as<std::int32_t>()[bm] == 0;
    empty += is_empty;
    bool all_zero = true, same = true;
    for (int ch = 1; ch < 25; ++ch) {
      const float a = masked.data_as<float>()[bm * 25 + ch], b = unmasked.data_as<float>()[bm * 25 + ch];
      all_zero = all_zero && a == 0.f;
      same = same && a == b;
    }
    if (is_empty) {
      EXPECT_TRUE(all_zero) << "empty ball " << bm << " not zeroed";
    } else {
      EXPECT_TRUE(same) << "non-empty ball " << bm << " changed by the mask";
      EXPECT_FALSE(all_zero) << "non-empty ball " << bm << " is all zero";  // holds for these random weights
    }
    EXPECT_EQ(masked.data_as<float>()[bm * 25], kSentinel);
  }
  EXPECT_GT(empty, 5);
  EXPECT_LT(empty, 75);
}

TEST(SaMlp, CpuIsIndependentOfTheThreadCount) {
  const Inputs in = small_inputs(2, 500, 300, 16, 20, {64, 32}, 41);
  const SaMlpParams p;
  core::set_cpu_threads(1);
  const Tensor one = run_cpu(in, p, 32);
  core::set_cpu_threads(2);
  const Tensor two = run_cpu(in, p, 32);
  core::set_cpu_threads(0);
  EXPECT_TRUE(bit_identical(one, two));
  EXPECT_TRUE(bit_identical(one, run_cpu(in, p, 32)));
}

TEST(SaMlp, CpuBadIndexNamesThePosition) {
  Inputs in = small_inputs(2, 10, 4, 3, 2, {8}, 5);
  auto at = [&](int b, int m, int k) -> std::int32_t& { return in.idx.data_as<std::int32_t>()[(b * 4 + m) * 3 + k]; };
  at(1, 2, 1) = 10;  // first bad in flat order
  at(1, 3, 0) = -1;
  const Tensor before = filled({2, 4, 8}, kSentinel);
  Tensor out = filled({2, 4, 8}, kSentinel);
  expect_error([&] { ops::sa_mlp_cpu(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, SaMlpParams{}); },
               {"sa_mlp: idx[1, 2, 1] = 10 is outside [0, N = 10)"});
  EXPECT_TRUE(bit_identical(before, out)) << "output written before the indices were validated";
  at(1, 2, 1) = 0;
  expect_error([&] { ops::sa_mlp_cpu(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, SaMlpParams{}); },
               {"sa_mlp: idx[1, 3, 0] = -1 is outside [0, N = 10)"});
}

TEST(SaMlp, BadShapesAreRefused) {
  const Inputs in = small_inputs(1, 10, 4, 8, 2, {16, 8}, 3);
  Tensor out = Tensor::zeros({1, 4, 8}, DType::F32);
  const SaMlpParams p;
  auto call = [&](const Tensor& xyz, const Tensor* f, const Tensor& q, const Tensor& idx, const Tensor& cnt,
                  const std::vector<DenseLayer>& layers, Tensor& o,
                  const SaMlpParams& params) { ops::sa_mlp_cpu(xyz, f, q, idx, cnt, layers, o, params); };
  EXPECT_NO_THROW(call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, p));
  expect_error(
      [&] {
        call(Tensor::zeros({1, 10, 2}, DType::F32), &in.feats, in.centres, in.idx, in.cnt, in.layers, out, p);
      },
      {"sa_mlp: xyz: expected f32[*, *, 3]@host, got f32[1, 10, 2]@host"});
  const Tensor f9 = Tensor::zeros({1, 9, 2}, DType::F32);
  expect_error([&] { call(in.xyz, &f9, in.centres, in.idx, in.cnt, in.layers, out, p); },
               {"sa_mlp: features: expected f32[1, 10, *]@host"});
  expect_error(
      [&] {
        call(in.xyz, &in.feats, Tensor::zeros({1, 4, 2}, DType::F32), in.idx, in.cnt, in.layers, out, p);
      },
      {"sa_mlp: new_xyz: expected f32[1, *, 3]@host"});
  expect_error(
      [&] {
        call(in.xyz, &in.feats, in.centres, Tensor::zeros({1, 5, 8}, DType::I32), in.cnt, in.layers, out, p);
      },
      {"sa_mlp: idx: expected i32[1, 4, *]@host, got i32[1, 5, 8]@host"});
  expect_error(
      [&] {
        call(in.xyz, &in.feats, in.centres, Tensor::zeros({1, 4, 8}, DType::F32), in.cnt, in.layers, out, p);
      },
      {"sa_mlp: idx: expected i32[1, 4, *]@host, got f32[1, 4, 8]@host"});
  expect_error(
      [&] {
        call(in.xyz, &in.feats, in.centres, Tensor::zeros({1, 4, 0}, DType::I32), in.cnt, in.layers, out, p);
      },
      {"sa_mlp: idx: need at least one neighbour per group (K >= 1)"});
  expect_error(
      [&] {
        call(in.xyz, &in.feats, in.centres, in.idx, Tensor::zeros({1, 3}, DType::I32), in.layers, out, p);
      },
      {"sa_mlp: idx_cnt: expected i32[1, 4]@host"});
  // First layer must take 3 + C inputs (here C = 2, i.e. 5; without features 3).
  expect_error([&] { call(in.xyz, nullptr, in.centres, in.idx, in.cnt, in.layers, out, p); },
               {"sa_mlp: layers[0].weight: expected f32[*, 3]@host, got f32[16, 5]@host"});
  auto broken = in.layers;
  broken[1] = pointrt::testing::random_dense_layers({12, 8}, 3)[0];
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, broken, out, p); },
               {"sa_mlp: layers[1].weight: expected f32[*, 16]@host, got f32[8, 12]@host"});
  auto bad_bias = in.layers;
  bad_bias[1].bias = Tensor::zeros({9}, DType::F32);
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, bad_bias, out, p); },
               {"sa_mlp: layers[1].bias: expected f32[8]@host"});
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, {}, out, p); },
               {"sa_mlp: layers: need at least one layer"});
  SaMlpParams off;
  off.channel_offset = 1;
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, off); },
               {"sa_mlp: out: channel_offset 1 + MLP width 8 exceeds the 8 channels of f32[1, 4, 8]@host"});
  off.channel_offset = -1;
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, off); },
               {"sa_mlp: out: channel_offset -1"});
  Tensor out_m = Tensor::zeros({1, 5, 8}, DType::F32);
  expect_error([&] { call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out_m, p); },
               {"sa_mlp: out: expected f32[1, 4, *]@host"});
  Tensor wide = Tensor::zeros({1, 4, 20}, DType::F32);
  off.channel_offset = 12;
  EXPECT_NO_THROW(call(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, wide, off));
#ifdef POINTRT_WITH_CUDA
  Tensor err = Tensor::zeros({4}, DType::I32);
  expect_error(
      [&] {
        ops::sa_mlp_cuda(in.xyz, &in.feats, in.centres, in.idx, in.cnt, in.layers, out, p, err, nullptr, 0, nullptr);
      },
      {"sa_mlp: xyz: expected f32[*, *, 3]@cuda"});
#endif
}

#ifdef POINTRT_WITH_CUDA

#include <cuda_runtime.h>

namespace {

std::vector<std::int32_t> error_record(const pointrt::testing::GuardedDeviceTensor& err) {
  const Tensor h = err.to_host();
  return std::vector<std::int32_t>(h.data_as<std::int32_t>(), h.data_as<std::int32_t>() + 4);
}

const std::vector<std::int32_t> kNoError{0, -1, -1, -1};

// Runs sa_mlp_cuda twice on guarded device copies, out pre-filled with kSentinel; the error record is pre-filled
// with garbage. Checks guards and bit-identical runs; returns {out, error record}.
std::pair<Tensor, std::vector<std::int32_t>> run_cuda(const Inputs& in, const SaMlpParams& p, std::int64_t ctot) {
  using pointrt::testing::GuardedDeviceTensor;
  const std::int64_t batch = in.xyz.dim(0), m = in.centres.dim(1), k = in.idx.dim(2);
  const DeviceLayers d(in.layers);
  GuardedDeviceTensor d_xyz(in.xyz), d_centres(in.centres), d_idx(in.idx), d_cnt(in.cnt);
  std::unique_ptr<GuardedDeviceTensor> d_feats;
  if (in.has_feats) d_feats = std::make_unique<GuardedDeviceTensor>(in.feats);
  GuardedDeviceTensor d_out(filled({batch, m, ctot}, kSentinel));
  GuardedDeviceTensor d_err(Tensor::from_vector(std::vector<std::int32_t>{7, 7, 7, 7}, {4}));
  pointrt::testing::GuardedWorkspace ws(ops::sa_mlp_workspace_bytes(batch, m, k, in.layers));
  auto call = [&] {
    ops::sa_mlp_cuda(d_xyz.tensor(), d_feats ? &d_feats->tensor() : nullptr, d_centres.tensor(), d_idx.tensor(),
                     d_cnt.tensor(), d.layers, d_out.tensor(), p, d_err.tensor(), ws.get(), ws.size(), nullptr);
  };
  call();
  const Tensor first = d_out.to_host();
  const std::vector<std::int32_t> err1 = error_record(d_err);
  call();
  const Tensor second = d_out.to_host();
  EXPECT_TRUE(bit_identical(first, second)) << "two runs differ";
  EXPECT_EQ(err1, error_record(d_err)) << "the error record differs between runs";
  EXPECT_TRUE(d_out.guards_intact()) << "kernel wrote past out";
  EXPECT_TRUE(d_err.guards_intact()) << "kernel wrote past the error record";
  EXPECT_TRUE(ws.guards_intact()) << "kernel wrote past the workspace";
  EXPECT_TRUE(d_xyz.guards_intact() && d_centres.guards_intact() && d_idx.guards_intact() && d_cnt.guards_intact());
  if (d_feats) {
    EXPECT_TRUE(d_feats->guards_intact());
  }
  return {first, err1};
}

// Relative tolerance: |gpu - cpu| <= 1e-4 * max|cpu| + 1e-4 * |cpu| over the slice (float32 sums of up to 512
// products in a different order); channels outside the slice compared exactly (sentinel).
void expect_cuda_matches_cpu(const Inputs& in, const SaMlpParams& p, std::int64_t ctot) {
  const Tensor want = run_cpu(in, p, ctot);
  const auto [got, err] = run_cuda(in, p, ctot);
  EXPECT_EQ(err, kNoError);
  float scale = 0.f;
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    if (want.data_as<float>()[i] != kSentinel) scale = std::max(scale, std::fabs(want.data_as<float>()[i]));
  }
  EXPECT_EQ(pointrt::testing::compare_close_f32(want, got, 1e-4f * std::max(scale, 1.f), 1e-4f), "");
  double worst = 0;  // informational: largest |cuda - cpu| relative to the output scale
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(got.data_as<float>()[i]) - want.data_as<float>()[i]));
  }
  std::printf("[sa_mlp] K %lld widths %lld->%lld: max|cuda - cpu| = %.3g = %.3g of max|cpu| %.3g\n",
              static_cast<long long>(in.idx.dim(2)), static_cast<long long>(in.layers.front().weight.dim(1)),
              static_cast<long long>(in.cl()), worst, worst / std::max(scale, 1e-30f), static_cast<double>(scale));
}

}  // namespace

TEST(SaMlpCuda, MatchesCpuAtSa1Sizes) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  // Both SA1 groupers writing their slices of one [B, 4096, 96] tensor (empty balls in item 1).
  const Inputs g0 = real_inputs({0, 1}, 16384, 4096, 0.2f, 16, 1, {4, 16, 16, 32}, true);
  SaMlpParams p;
  expect_cuda_matches_cpu(g0, p, 96);
  const Inputs g1 = real_inputs({0, 1}, 16384, 4096, 0.8f, 32, 1, {4, 32, 32, 64}, true);
  p.channel_offset = 32;
  expect_cuda_matches_cpu(g1, p, 96);
}

TEST(SaMlpCuda, MatchesCpuAtSa2AndSa3Sizes) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  SaMlpParams p;
  expect_cuda_matches_cpu(real_inputs({0, 2}, 4096, 1024, 0.8f, 16, 64, {67, 64, 64, 128}, false), p, 128);
  expect_cuda_matches_cpu(real_inputs({0, 2}, 4096, 1024, 1.6f, 32, 64, {67, 64, 96, 128}, false), p, 128);
  p.channel_offset = 256;
  expect_cuda_matches_cpu(real_inputs({1, 3}, 1024, 512, 1.6f, 16, 128, {131, 128, 128, 256}, true), p, 512);
  expect_cuda_matches_cpu(real_inputs({1, 3}, 1024, 512, 4.8f, 32, 128, {131, 128, 256, 256}, true), p, 512);
}

TEST(SaMlpCuda, MatchesCpuAtVoteSaSizes) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  SaMlpParams p;
  expect_cuda_matches_cpu(real_inputs({4, 5}, 512, 256, 4.8f, 16, 256, {259, 256, 256, 512}, true), p, 1536);
  p.channel_offset = 512;
  expect_cuda_matches_cpu(real_inputs({4, 5}, 512, 256, 6.4f, 32, 256, {259, 256, 512, 1024}, true), p, 1536);
}

TEST(SaMlpCuda, MatchesCpuOnOddShapes) {
  POINTRT_REQUIRE_CUDA();
  struct Case {
    std::int64_t batch, n, m, k, c;
    std::vector<std::int64_t> hidden;
  };
  // Odd K and widths (padding of rows and channels), no features, one layer, K above 64, widths up to 1024.
  for (const Case& cs : {Case{2, 50, 7, 5, 6, {16, 8}}, Case{1, 20, 3, 1, 0, {4}}, Case{3, 40, 33, 16, 13, {32, 20, 9}},
                         Case{2, 300, 70, 100, 1, {32, 48}}, Case{1, 200, 45, 24, 30, {1024, 7}},
                         Case{2, 64, 9, 3, 256, {256, 512, 1024}}}) {
    SCOPED_TRACE("M=" + std::to_string(cs.m) + " K=" + std::to_string(cs.k) + " C=" + std::to_string(cs.c));
    const Inputs in = small_inputs(cs.batch, cs.n, cs.m, cs.k, cs.c, cs.hidden, 23);
    for (bool mask : {true, false}) {
      SaMlpParams p;
      p.mask_empty = mask;
      p.channel_offset = 2;
      expect_cuda_matches_cpu(in, p, in.cl() + 5);
    }
  }
}

TEST(SaMlpCuda, BadIndicesGiveZeroSlicesAndTheFirstPosition) {
  POINTRT_REQUIRE_CUDA();
  Inputs in = small_inputs(2, 50, 6, 8, 4, {32, 16}, 61);
  std::fill(in.cnt.data_as<std::int32_t>(), in.cnt.data_as<std::int32_t>() + 12, 3);  // no empty balls
  auto at = [&](int b, int m, int k) -> std::int32_t& { return in.idx.data_as<std::int32_t>()[(b * 6 + m) * 8 + k]; };
  at(1, 4, 7) = 1 << 30;
  at(1, 3, 2) = 50;  // first bad in flat order
  at(1, 5, 0) = -7;
  SaMlpParams p;
  p.channel_offset = 4;
  const auto [out, err] = run_cuda(in, p, 24);
  EXPECT_EQ(err, (std::vector<std::int32_t>{1, 1, 3, 2}));
  // Valid groups match the CPU on a copy with the bad groups' indices repaired; bad groups are zero.
  Inputs fixed = in;
  fixed.idx = in.idx.to(Device::Host);
  for (auto [b, m, k] : {std::tuple{1, 4, 7}, std::tuple{1, 3, 2}, std::tuple{1, 5, 0}}) {
    fixed.idx.data_as<std::int32_t>()[(b * 6 + m) * 8 + k] = 0;
  }
  Tensor want = run_cpu(fixed, p, 24);
  for (int m : {3, 4, 5}) {
    for (int ch = 4; ch < 20; ++ch) want.data_as<float>()[(6 + m) * 24 + ch] = 0.f;
  }
  EXPECT_EQ(pointrt::testing::compare_close_f32(want, out, 1e-4f, 1e-4f), "");
  // All valid again: the record is reset to "no error".
  const auto [out2, err2] = run_cuda(fixed, p, 24);
  EXPECT_EQ(err2, kNoError);
}

TEST(SaMlpCuda, BadArgumentsAreRefused) {
  POINTRT_REQUIRE_CUDA();
  const Inputs in = small_inputs(1, 10, 4, 8, 2, {16, 8}, 3);
  const DeviceLayers d(in.layers);
  Tensor xyz = in.xyz.to(Device::CUDA), feats = in.feats.to(Device::CUDA), q = in.centres.to(Device::CUDA);
  Tensor idx = in.idx.to(Device::CUDA), cnt = in.cnt.to(Device::CUDA);
  Tensor out = Tensor::zeros({1, 4, 8}, DType::F32, Device::CUDA);
  Tensor err = Tensor::zeros({4}, DType::I32, Device::CUDA);
  const SaMlpParams p;
  expect_error([&] { ops::sa_mlp_cuda(xyz, &feats, q, idx, cnt, d.layers, out, p, err, nullptr, 0, nullptr); },
               {"sa_mlp: workspace of 0 bytes"});
  Tensor err_host = Tensor::zeros({4}, DType::I32);
  pointrt::testing::GuardedWorkspace ws(ops::sa_mlp_workspace_bytes(1, 4, 8, in.layers));
  expect_error(
      [&] { ops::sa_mlp_cuda(xyz, &feats, q, idx, cnt, d.layers, out, p, err_host, ws.get(), ws.size(), nullptr); },
      {"sa_mlp: error: expected i32[4]@cuda"});
  expect_error(
      [&] { ops::sa_mlp_cuda(xyz, &feats, q, idx, cnt, in.layers, out, p, err, ws.get(), ws.size(), nullptr); },
      {"sa_mlp: layers[0].weight: expected f32[*, 5]@cuda, got f32[16, 5]@host"});
  // Two 1024-wide activations of 64 rows do not fit in shared memory: refused with the reason, not launched.
  const Inputs big = small_inputs(1, 10, 4, 64, 2, {1024, 1024}, 3);
  const DeviceLayers dbig(big.layers);
  Tensor idx64 = big.idx.to(Device::CUDA), out_big = Tensor::zeros({1, 4, 1024}, DType::F32, Device::CUDA);
  Tensor feats_big = big.feats.to(Device::CUDA);
  expect_error(
      [&] {
        ops::sa_mlp_cuda(xyz, &feats_big, q, idx64, cnt, dbig.layers, out_big, p, err, ws.get(), ws.size(), nullptr);
      },
      {"sa_mlp: K = 64 with MLP widths up to 1024 does not fit the shared memory of the fused CUDA kernel"});
}

namespace {

using pointrt::ops::detail::SaMlpPath;

// Restores the automatic path and tile shape on scope exit.
struct ForcePath {
  explicit ForcePath(SaMlpPath path, int tc_config = -1) {
    ops::detail::sa_mlp_force_path(path);
    ops::detail::sa_mlp_force_tc_config(tc_config);
  }
  ~ForcePath() {
    ops::detail::sa_mlp_force_path(SaMlpPath::Auto);
    ops::detail::sa_mlp_force_tc_config(-1);
  }
  ForcePath(const ForcePath&) = delete;
  ForcePath& operator=(const ForcePath&) = delete;
};

bool device_has_tensor_cores() {
  int dev = 0, major = 0;
  return cudaGetDevice(&dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 8;
}

// Item b of a batched input as a batch of one (same features, indices and weights).
Inputs item_of(const Inputs& in, std::int64_t b) {
  auto slice = [b](const Tensor& t) {
    Shape shape = t.shape();
    shape[0] = 1;
    Tensor out = Tensor::zeros(shape, t.dtype());
    const std::size_t bytes = out.nbytes();
    std::memcpy(out.data(), static_cast<const char*>(t.data()) + static_cast<std::size_t>(b) * bytes, bytes);
    return out;
  };
  Inputs one;
  one.xyz = slice(in.xyz);
  one.has_feats = in.has_feats;
  if (in.has_feats) one.feats = slice(in.feats);
  one.centres = slice(in.centres);
  one.idx = slice(in.idx);
  one.cnt = slice(in.cnt);
  one.layers = in.layers;
  return one;
}

// The widths of the eight IA-SSD groupers (K, C, hidden).
struct GrouperShape {
  std::int64_t k, c;
  std::vector<std::int64_t> hidden;
};
const std::vector<GrouperShape> kGrouperShapes{
    {16, 1, {16, 16, 32}},    {32, 1, {32, 32, 64}},     {16, 64, {64, 64, 128}},   {32, 64, {64, 96, 128}},
    {16, 128, {128, 128, 256}}, {32, 128, {128, 256, 256}}, {16, 256, {256, 256, 512}}, {32, 256, {256, 512, 1024}}};

}  // namespace

// With math = Tf32x3, on sm_80+ every IA-SSD grouper takes the tensor-core path; with the default Fp32 the SIMT one.
TEST(SaMlpCuda, TensorCorePathIsChosenAtTheGrouperSizes) {
  POINTRT_REQUIRE_CUDA();
  if (!device_has_tensor_cores()) GTEST_SKIP() << "no sm_80+ device";
  for (const GrouperShape& g : kGrouperShapes) {
    std::vector<std::int64_t> widths{3 + g.c};
    widths.insert(widths.end(), g.hidden.begin(), g.hidden.end());
    const auto layers = pointrt::testing::random_dense_layers(widths, 1);
    EXPECT_EQ(ops::detail::sa_mlp_path(g.k, layers, ops::SaMlpMath::Tf32x3), SaMlpPath::TensorCore)
        << "K " << g.k << " C " << g.c;
    EXPECT_EQ(ops::detail::sa_mlp_path(g.k, layers), SaMlpPath::Simt) << "K " << g.k << " C " << g.c;
  }
  // Other K and chains that do not fit fall back to SIMT.
  EXPECT_EQ(ops::detail::sa_mlp_path(5, pointrt::testing::random_dense_layers({6, 16, 8}, 1), ops::SaMlpMath::Tf32x3), SaMlpPath::Simt);
  EXPECT_EQ(ops::detail::sa_mlp_path(24, pointrt::testing::random_dense_layers({6, 16, 8}, 1), ops::SaMlpMath::Tf32x3), SaMlpPath::Simt);
  {
    const ForcePath force(SaMlpPath::Simt);
    EXPECT_EQ(ops::detail::sa_mlp_path(16, pointrt::testing::random_dense_layers({6, 16, 8}, 1)), SaMlpPath::Simt);
  }
}

// Both paths forced in turn at every grouper width (fewer centres than the network, batch 2, empty balls, slices).
TEST(SaMlpCuda, BothPathsMatchCpuAtGrouperWidths) {
  POINTRT_REQUIRE_CUDA();
  const bool tc = device_has_tensor_cores();
  for (const GrouperShape& g : kGrouperShapes) {
    const Inputs in = small_inputs(2, 400, 37, g.k, g.c, g.hidden, 71 + static_cast<std::uint64_t>(g.k + g.c));
    for (SaMlpPath path : {SaMlpPath::Simt, SaMlpPath::TensorCore}) {
      if (path == SaMlpPath::TensorCore && !tc) continue;
      SCOPED_TRACE("K=" + std::to_string(g.k) + " C=" + std::to_string(g.c) +
                   (path == SaMlpPath::Simt ? " simt" : " tensor cores"));
      const ForcePath force(path);
      SaMlpParams p;
      p.channel_offset = 3;
      p.mask_empty = g.k == 16;
      expect_cuda_matches_cpu(in, p, in.cl() + 4);
    }
  }
}

// Every tensor-core tile shape that fits gives bit-identical outputs (the summation order does not depend on it),
// and K = 64 (one group per warp) works too.
TEST(SaMlpCuda, TensorCoreTileShapesAreBitIdentical) {
  POINTRT_REQUIRE_CUDA();
  if (!device_has_tensor_cores()) GTEST_SKIP() << "no sm_80+ device";
  for (const GrouperShape& g : {kGrouperShapes[1], kGrouperShapes[4], kGrouperShapes[7],
                                GrouperShape{64, 20, {48, 40, 72}}}) {
    SCOPED_TRACE("K=" + std::to_string(g.k) + " C=" + std::to_string(g.c));
    const Inputs in = small_inputs(2, 300, 45, g.k, g.c, g.hidden, 83);
    SaMlpParams p;
    p.channel_offset = 1;
    Tensor reference;
    {
      const ForcePath force(SaMlpPath::TensorCore);
      reference = run_cuda(in, p, in.cl() + 1).first;
      if (g.k == 64) expect_cuda_matches_cpu(in, p, in.cl() + 1);
    }
    for (int cfg = 0; cfg < ops::detail::sa_mlp_tc_config_count(); ++cfg) {
      const ForcePath force(SaMlpPath::TensorCore, cfg);
      EXPECT_TRUE(bit_identical(reference, run_cuda(in, p, in.cl() + 1).first)) << "tile shape " << cfg;
    }
  }
}

// Batch invariance: the rows of a B = 3 call equal three B = 1 calls bit for bit (real frames, ball-query
// neighbours, empty balls in items 1 and 2), at four grouper sizes, on the automatic path and on both forced paths.
TEST(SaMlpCuda, BatchOfThreeEqualsThreeSingleFramesBitForBit) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  struct Case {
    std::size_t n;
    std::int64_t m;
    float r;
    int k;
    std::int64_t c;
    std::vector<std::int64_t> widths;
  };
  for (const Case& cs : {Case{16384, 4096, 0.2f, 16, 1, {4, 16, 16, 32}}, Case{4096, 1024, 1.6f, 32, 64, {67, 64, 96, 128}},
                         Case{1024, 512, 1.6f, 16, 128, {131, 128, 128, 256}},
                         Case{512, 256, 6.4f, 32, 256, {259, 256, 512, 1024}}}) {
    const Inputs batch = real_inputs({0, 1, 2}, cs.n, cs.m, cs.r, cs.k, cs.c, cs.widths, true);
    for (SaMlpPath path : {SaMlpPath::Auto, SaMlpPath::Simt, SaMlpPath::TensorCore}) {
      if (path == SaMlpPath::TensorCore && !device_has_tensor_cores()) continue;
      SCOPED_TRACE("M=" + std::to_string(cs.m) + " K=" + std::to_string(cs.k) + " path " +
                   std::to_string(static_cast<int>(path)));
      const ForcePath force(path);
      SaMlpParams p;
      p.channel_offset = 2;
      const std::int64_t ctot = batch.cl() + 3;
      const Tensor all = run_cuda(batch, p, ctot).first;
      const std::size_t item_bytes = all.nbytes() / 3;
      for (std::int64_t b = 0; b < 3; ++b) {
        const Tensor one = run_cuda(item_of(batch, b), p, ctot).first;
        ASSERT_EQ(one.nbytes(), item_bytes);
        EXPECT_EQ(std::memcmp(one.data(), static_cast<const char*>(all.data()) + static_cast<std::size_t>(b) * item_bytes,
                              item_bytes),
                  0)
            << "item " << b << " differs between B = 3 and B = 1";
      }
    }
  }
}

// Bad indices on both paths (K = 16: the tensor-core path where available).
TEST(SaMlpCuda, BadIndicesOnBothPaths) {
  POINTRT_REQUIRE_CUDA();
  Inputs in = small_inputs(2, 50, 6, 16, 4, {32, 16}, 63);
  std::fill(in.cnt.data_as<std::int32_t>(), in.cnt.data_as<std::int32_t>() + 12, 3);
  auto at = [&](int b, int m, int k) -> std::int32_t& {
    return in.idx.data_as<std::int32_t>()[(b * 6 + m) * 16 + k];
  };
  at(1, 4, 15) = 1 << 30;
  at(0, 3, 9) = 50;  // first bad in flat order
  at(1, 5, 0) = -7;
  Inputs fixed = in;
  fixed.idx = in.idx.to(Device::Host);
  for (auto [b, m, k] : {std::tuple{1, 4, 15}, std::tuple{0, 3, 9}, std::tuple{1, 5, 0}}) {
    fixed.idx.data_as<std::int32_t>()[(b * 6 + m) * 16 + k] = 0;
  }
  SaMlpParams p;
  p.channel_offset = 4;
  Tensor want = run_cpu(fixed, p, 24);
  for (int bm : {3, 6 + 4, 6 + 5}) {
    for (int ch = 4; ch < 20; ++ch) want.data_as<float>()[bm * 24 + ch] = 0.f;
  }
  for (SaMlpPath path : {SaMlpPath::Simt, SaMlpPath::TensorCore}) {
    if (path == SaMlpPath::TensorCore && !device_has_tensor_cores()) continue;
    SCOPED_TRACE(path == SaMlpPath::Simt ? "simt" : "tensor cores");
    const ForcePath force(path);
    const auto [out, err] = run_cuda(in, p, 24);
    EXPECT_EQ(err, (std::vector<std::int32_t>{1, 0, 3, 9}));
    EXPECT_EQ(pointrt::testing::compare_close_f32(want, out, 1e-4f, 1e-4f), "");
    const auto [out2, err2] = run_cuda(fixed, p, 24);
    EXPECT_EQ(err2, kNoError);
  }
}

// Forcing the tensor-core path where it cannot run is refused with the reason.
TEST(SaMlpCuda, ForcedTensorCorePathIsRefusedForUnsupportedK) {
  POINTRT_REQUIRE_CUDA();
  const Inputs in = small_inputs(1, 10, 4, 5, 2, {16, 8}, 3);
  const ForcePath force(SaMlpPath::TensorCore);
  expect_error([&] { run_cuda(in, SaMlpParams{}, 8); },
               {"sa_mlp: the tensor-core path was forced but is not available for K = 5"});
}

#endif  // POINTRT_WITH_CUDA
