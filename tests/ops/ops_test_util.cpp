#include "ops/ops_test_util.h"

#include <cmath>
#include <cstring>
#include <random>

#include "core/gpu.h"
#include "pointrt/error.h"
#include "pointrt/pointcloud.h"

namespace pointrt::testing {

namespace {

constexpr std::size_t kGuardBytes = 4096;
constexpr std::uint8_t kGuardByte = 0xA5;

void fill_guard(void* base, std::size_t offset) {
  std::vector<std::uint8_t> guard(kGuardBytes, kGuardByte);
  core::cuda_copy(static_cast<char*>(base) + offset, true, guard.data(), false, kGuardBytes);
}

bool guard_ok(const void* base, std::size_t offset) {
  std::vector<std::uint8_t> guard(kGuardBytes, 0);
  core::cuda_copy(guard.data(), false, static_cast<const char*>(base) + offset, true, kGuardBytes);
  for (std::uint8_t b : guard) {
    if (b != kGuardByte) return false;
  }
  return true;
}

std::mt19937_64 rng_for(std::uint64_t seed, int b) { return std::mt19937_64(seed * 7919u + static_cast<std::uint64_t>(b)); }

}  // namespace

Tensor kitti_points(const std::vector<int>& frames, std::size_t n, bool reduced) {
  std::vector<Tensor> items;
  for (int f : frames) {
    const std::string path = shared_data_dir() + (reduced ? "/kitti/training/velodyne_reduced/" : "/kitti/training/velodyne/") +
                             "00000" + std::to_string(f) + ".bin";
    PreprocessOptions o;
    o.num_points = n;
    const PreparedPoints p = preprocess(read_point_cloud(path), o);
    items.push_back(Tensor::from_vector(p.values, {static_cast<std::int64_t>(n), 4}));
  }
  return stack(items);
}

Tensor xyz_of(const Tensor& points) {
  const std::int64_t b = points.dim(0), n = points.dim(1), c = points.dim(2);
  Tensor out = Tensor::empty({b, n, 3}, DType::F32);
  const float* src = points.data_as<float>();
  float* dst = out.data_as<float>();
  for (std::int64_t i = 0; i < b * n; ++i) std::memcpy(dst + 3 * i, src + c * i, 3 * sizeof(float));
  return out;
}

Tensor first_rows(const Tensor& t, std::int64_t n) {
  const std::int64_t b = t.dim(0), total = t.dim(1), c = t.dim(2);
  if (n > total) fail("first_rows", "asked for " + std::to_string(n) + " of " + std::to_string(total) + " rows");
  Tensor out = Tensor::empty({b, n, c}, DType::F32);
  for (std::int64_t i = 0; i < b; ++i) {
    std::memcpy(out.data_as<float>() + i * n * c, t.data_as<float>() + i * total * c,
                static_cast<std::size_t>(n * c) * sizeof(float));
  }
  return out;
}

Tensor gather_rows(const Tensor& src, const Tensor& idx) {
  const std::int64_t b = src.dim(0), n = src.dim(1), c = src.dim(2), m = idx.dim(1);
  Tensor out = Tensor::empty({b, m, c}, DType::F32);
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int32_t k = idx.data_as<std::int32_t>()[i * m + j];
      if (k < 0 || k >= n) fail("gather_rows", "index " + std::to_string(k) + " out of range");
      std::memcpy(out.data_as<float>() + (i * m + j) * c, src.data_as<float>() + (i * n + k) * c, c * sizeof(float));
    }
  }
  return out;
}

Tensor identical_points(int batch, int n, float x, float y, float z) {
  std::vector<float> v;
  for (int i = 0; i < batch * n; ++i) v.insert(v.end(), {x, y, z});
  return Tensor::from_vector(v, {batch, n, 3});
}

Tensor clustered_points(int batch, int n, int clusters, float spread, std::uint64_t seed) {
  std::vector<float> v;
  for (int b = 0; b < batch; ++b) {
    auto rng = rng_for(seed, b);
    std::uniform_real_distribution<float> cx(0.f, 70.f), cy(-40.f, 40.f), cz(-3.f, 1.f);
    std::normal_distribution<float> d(0.f, spread);
    std::vector<float> centres;
    for (int k = 0; k < clusters; ++k) centres.insert(centres.end(), {cx(rng), cy(rng), cz(rng)});
    for (int i = 0; i < n; ++i) {
      const int k = i % clusters;
      v.insert(v.end(), {centres[3 * k] + d(rng), centres[3 * k + 1] + d(rng), centres[3 * k + 2] + d(rng)});
    }
  }
  return Tensor::from_vector(v, {batch, n, 3});
}

Tensor uniform_points(int batch, int n, float lo, float hi, std::uint64_t seed) {
  std::vector<float> v;
  for (int b = 0; b < batch; ++b) {
    auto rng = rng_for(seed, b);
    std::uniform_real_distribution<float> u(lo, hi);
    for (int i = 0; i < 3 * n; ++i) v.push_back(u(rng));
  }
  return Tensor::from_vector(v, {batch, n, 3});
}

Tensor lattice_points(int batch, int n, float step) {
  std::vector<float> v;
  const int side = static_cast<int>(std::ceil(std::cbrt(static_cast<double>(n))));
  for (int b = 0; b < batch; ++b) {
    for (int i = 0; i < n; ++i) {
      v.insert(v.end(), {step * static_cast<float>(i % side), step * static_cast<float>((i / side) % side),
                         step * static_cast<float>(i / (side * side))});
    }
  }
  return Tensor::from_vector(v, {batch, n, 3});
}

Tensor stack(const std::vector<Tensor>& items) {
  if (items.empty()) fail("stack", "no items");
  Shape shape = items[0].shape();
  shape.insert(shape.begin(), static_cast<std::int64_t>(items.size()));
  Tensor out = Tensor::empty(shape, items[0].dtype());
  char* dst = static_cast<char*>(out.data());
  for (const Tensor& t : items) {
    if (t.shape() != items[0].shape() || t.dtype() != items[0].dtype()) fail("stack", "items differ in shape or dtype");
    std::memcpy(dst, t.data(), t.nbytes());
    dst += t.nbytes();
  }
  return out;
}

GuardedDeviceTensor::GuardedDeviceTensor(const Shape& shape, DType dtype) {
  std::size_t count = 1;
  for (std::int64_t d : shape) count *= static_cast<std::size_t>(d);
  bytes_ = count * dtype_size(dtype);
  base_ = core::cuda_malloc(bytes_ + kGuardBytes);
  core::cuda_memset_zero(base_, bytes_);
  fill_guard(base_, bytes_);
  view_ = Tensor::view(base_, shape, dtype, Device::CUDA);
}

GuardedDeviceTensor::GuardedDeviceTensor(const Tensor& host) : GuardedDeviceTensor(host.shape(), host.dtype()) {
  view_.copy_from(host);
}

GuardedDeviceTensor::~GuardedDeviceTensor() { core::cuda_free(base_); }

bool GuardedDeviceTensor::guards_intact() const { return guard_ok(base_, bytes_); }

GuardedWorkspace::GuardedWorkspace(std::size_t bytes) : bytes_(bytes) {
  base_ = core::cuda_malloc(bytes_ + kGuardBytes);
  fill_guard(base_, bytes_);
}

GuardedWorkspace::~GuardedWorkspace() { core::cuda_free(base_); }

bool GuardedWorkspace::guards_intact() const { return guard_ok(base_, bytes_); }

std::string compare_exact_i32(const Tensor& expected, const Tensor& actual) {
  if (expected.shape() != actual.shape()) return "shape " + expected.describe() + " vs " + actual.describe();
  const std::int32_t* e = expected.data_as<std::int32_t>();
  const std::int32_t* a = actual.data_as<std::int32_t>();
  std::int64_t mismatches = 0, first = -1;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    if (e[i] != a[i]) {
      if (first < 0) first = i;
      ++mismatches;
    }
  }
  if (mismatches == 0) return {};
  return std::to_string(mismatches) + " of " + std::to_string(expected.numel()) + " differ; first at flat index " +
         std::to_string(first) + ": expected " + std::to_string(e[first]) + ", got " + std::to_string(a[first]);
}

std::string compare_close_f32(const Tensor& expected, const Tensor& actual, float atol, float rtol) {
  if (expected.shape() != actual.shape()) return "shape " + expected.describe() + " vs " + actual.describe();
  const float* e = expected.data_as<float>();
  const float* a = actual.data_as<float>();
  std::int64_t mismatches = 0, first = -1;
  float max_abs = 0.f;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    if (e[i] == a[i] || (std::isnan(e[i]) && std::isnan(a[i]))) continue;  // equal, equal infinities, both NaN
    const float err = std::fabs(e[i] - a[i]);
    if (!(err <= atol + rtol * std::fabs(e[i]))) {
      if (first < 0) first = i;
      ++mismatches;
    }
    if (err > max_abs) max_abs = err;
  }
  if (mismatches == 0) return {};
  return std::to_string(mismatches) + " of " + std::to_string(expected.numel()) + " outside tolerance (max abs error " +
         std::to_string(max_abs) + "); first at flat index " + std::to_string(first) + ": expected " +
         std::to_string(e[first]) + ", got " + std::to_string(a[first]);
}

std::vector<ops::DenseLayer> random_dense_layers(const std::vector<std::int64_t>& widths, std::uint64_t seed,
                                                 bool relu_last) {
  std::mt19937_64 rng(seed);
  std::vector<ops::DenseLayer> layers;
  for (std::size_t j = 0; j + 1 < widths.size(); ++j) {
    const std::int64_t cin = widths[j], cout = widths[j + 1];
    std::normal_distribution<float> w(0.f, std::sqrt(2.f / static_cast<float>(cin)));
    std::normal_distribution<float> b(0.f, 0.1f);
    std::vector<float> wv(static_cast<std::size_t>(cout * cin)), bv(static_cast<std::size_t>(cout));
    for (float& v : wv) v = w(rng);
    for (float& v : bv) v = b(rng);
    ops::DenseLayer l;
    l.weight = Tensor::from_vector(wv, {cout, cin});
    l.bias = Tensor::from_vector(bv, {cout});
    l.relu = j + 2 < widths.size() || relu_last;
    layers.push_back(l);
  }
  return layers;
}

std::pair<Tensor, Tensor> simple_ball_query(const Tensor& xyz, const Tensor& centres, float r, int k) {
  const std::int64_t batch = xyz.dim(0), n = xyz.dim(1), m = centres.dim(1);
  Tensor idx = Tensor::zeros({batch, m, k}, DType::I32);
  Tensor cnt = Tensor::zeros({batch, m}, DType::I32);
  const float r2 = r * r;
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const float* q = centres.data_as<float>() + (b * m + j) * 3;
      std::int32_t* out = idx.data_as<std::int32_t>() + (b * m + j) * k;
      int found = 0;
      for (std::int64_t i = 0; i < n && found < k; ++i) {
        const float* p = xyz.data_as<float>() + (b * n + i) * 3;
        const float dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
        if (dx * dx + dy * dy + dz * dz < r2) out[found++] = static_cast<std::int32_t>(i);
      }
      for (int s = found; s > 0 && s < k; ++s) out[s] = out[s % found];
      cnt.data_as<std::int32_t>()[b * m + j] = found;
    }
  }
  return {idx, cnt};
}

}  // namespace pointrt::testing
