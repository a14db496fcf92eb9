// Shared by the operator tests: inputs from the real KITTI frames, adversarial clouds, comparisons, and device
// tensors with guard regions that catch stray writes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ops/mlp/mlp.h"
#include "pointrt/tensor.h"
#include "support/test_data.h"

namespace pointrt::testing {

// Points [B, n, 4] (x y z intensity), f32 host: KITTI training frames `frames` (0..5) of ../shared/data, from the
// field-of-view-reduced scans (`reduced`) or the full ones, preprocessed as the model would (crop, sample to n).
// Call POINTRT_REQUIRE_SHARED_DATA() first.
Tensor kitti_points(const std::vector<int>& frames, std::size_t n = 16384, bool reduced = true);

// The first three channels of points [B, N, C] as a new tensor [B, N, 3].
Tensor xyz_of(const Tensor& points);

// The first `n` rows of every batch item of f32 [B, N, C], as a new tensor [B, n, C].
Tensor first_rows(const Tensor& t, std::int64_t n);

// Gathers rows: out[b, m, :] = src[b, idx[b, m], :] for src [B, N, C] and idx i32 [B, M] (host).
Tensor gather_rows(const Tensor& src, const Tensor& idx);

// Adversarial clouds, all f32 host [B, n, 3]:
Tensor identical_points(int batch, int n, float x, float y, float z);
// `clusters` tight Gaussian blobs (stddev `spread` metres) at seeded random centres inside a KITTI-sized box;
// each batch item gets different centres.
Tensor clustered_points(int batch, int n, int clusters, float spread, std::uint64_t seed);
// Uniform in [lo, hi]^3 per axis, seeded; each batch item different.
Tensor uniform_points(int batch, int n, float lo, float hi, std::uint64_t seed);
// Points on an integer lattice with spacing `step` (exact float coordinates: ties and on-radius distances).
Tensor lattice_points(int batch, int n, float step);

// Stacks host tensors [N_i ...] with equal shapes into [B, ...].
Tensor stack(const std::vector<Tensor>& items);

// A device copy of a host tensor (or a zeroed device tensor) followed by a guard region filled with a known byte
// pattern; guards_intact() tells whether a kernel wrote past the end. Only usable when CUDA is available.
class GuardedDeviceTensor {
 public:
  GuardedDeviceTensor(const Shape& shape, DType dtype);
  explicit GuardedDeviceTensor(const Tensor& host);
  ~GuardedDeviceTensor();
  GuardedDeviceTensor(const GuardedDeviceTensor&) = delete;
  GuardedDeviceTensor& operator=(const GuardedDeviceTensor&) = delete;

  Tensor& tensor() { return view_; }
  Tensor to_host() const { return view_.to(Device::Host); }
  bool guards_intact() const;

 private:
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  Tensor view_;
};

// A device workspace of `bytes` with a guard region behind it (bytes may be 0).
class GuardedWorkspace {
 public:
  explicit GuardedWorkspace(std::size_t bytes);
  ~GuardedWorkspace();
  GuardedWorkspace(const GuardedWorkspace&) = delete;
  GuardedWorkspace& operator=(const GuardedWorkspace&) = delete;
  void* get() const { return bytes_ == 0 ? nullptr : base_; }
  std::size_t size() const { return bytes_; }
  bool guards_intact() const;

 private:
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
};

// Element-wise comparison helpers returning a description of the first mismatch ("" when equal).
std::string compare_exact_i32(const Tensor& expected, const Tensor& actual);
// |a - e| <= atol + rtol * |e| element-wise; also reports max abs error.
std::string compare_close_f32(const Tensor& expected, const Tensor& actual, float atol, float rtol);

// Dense layers with Kaiming-scaled random weights (activations stay O(1) through a chain) and small biases, seeded;
// every layer has ReLU except the last when `relu_last` is false.
std::vector<ops::DenseLayer> random_dense_layers(const std::vector<std::int64_t>& widths, std::uint64_t seed,
                                                 bool relu_last = true);

// Device copies of dense layers (plain tensors: the weights are inputs, not outputs), for the CUDA tests.
struct DeviceLayers {
  std::vector<ops::DenseLayer> layers;
  explicit DeviceLayers(const std::vector<ops::DenseLayer>& host) {
    for (const ops::DenseLayer& l : host) layers.push_back({l.weight.to(Device::CUDA), l.bias.to(Device::CUDA), l.relu});
  }
};

// A plain CPU ball query for building realistic neighbour lists in tests (strict d^2 < r^2, the first K by index,
// cyclic padding, zeros for an empty ball): {idx i32 [B, M, K], cnt i32 [B, M]}.
std::pair<Tensor, Tensor> simple_ball_query(const Tensor& xyz, const Tensor& centres, float r, int k);

}  // namespace pointrt::testing
