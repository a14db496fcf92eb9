#include "pointrt/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/gpu.h"
#include "pointrt/error.h"

namespace pointrt {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::I32: return 4;
    case DType::I8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
    case DType::I8: return "i8";
  }
  return "?";
}

const char* device_name(Device device) { return device == Device::Host ? "host" : "cuda"; }

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

constexpr std::size_t kAlignment = 256;

// Element count of `shape`; throws on a negative dimension or when the byte size would overflow.
std::int64_t checked_numel(const Shape& shape, DType dtype) {
  std::int64_t n = 1;
  const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(dtype_size(dtype));
  for (std::int64_t d : shape) {
    if (d < 0) fail("Tensor " + shape_string(shape), "negative dimension");
    if (d != 0 && n > limit / d) fail("Tensor " + shape_string(shape), "size overflows");
    n *= d;
  }
  return n;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  const std::size_t bytes = static_cast<std::size_t>(checked_numel(shape, dtype)) * dtype_size(dtype);
  const std::size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (device == Device::Host) {
    void* p = padded == 0 ? nullptr : std::aligned_alloc(kAlignment, padded);
    if (padded != 0 && p == nullptr) {
      fail("Tensor " + shape_string(shape), "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    }
    t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  } else {
    void* p = core::cuda_malloc(padded);
    t.storage_ = std::shared_ptr<void>(p, [](void* q) { core::cuda_free(q); });
  }
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::Host) {
    if (t.nbytes() != 0) std::memset(t.data_, 0, t.nbytes());
  } else {
    core::cuda_memset_zero(t.data_, t.nbytes());
  }
  return t;
}

Tensor Tensor::view(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  if (checked_numel(shape, dtype) != 0 && data == nullptr) fail("Tensor::view " + shape_string(shape), "null data");
  t.data_ = data;
  return t;
}

std::int64_t Tensor::dim(int i) const {
  const int r = rank();
  const int k = i < 0 ? i + r : i;
  if (k < 0 || k >= r) fail("Tensor " + describe(), "dimension " + std::to_string(i) + " out of range");
  return shape_[static_cast<std::size_t>(k)];
}

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape_) n *= d;
  return n;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (checked_numel(shape, dtype_) != numel()) {
    fail("Tensor " + describe(), "cannot reshape to " + shape_string(shape) + " (different element count)");
  }
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.shape_ != shape_ || src.dtype_ != dtype_) {
    fail("Tensor " + describe(), "cannot copy from " + src.describe() + " (shape or dtype differs)");
  }
  if (nbytes() == 0) return;
  if (device_ == Device::Host && src.device_ == Device::Host) {
    std::memmove(data_, src.data_, nbytes());
  } else {
    core::cuda_copy(data_, device_ == Device::CUDA, src.data_, src.device_ == Device::CUDA, nbytes());
  }
}

std::string Tensor::describe() const {
  return std::string(dtype_name(dtype_)) + shape_string(shape_) + "@" + device_name(device_);
}

void Tensor::check_dtype(DType expected) const {
  if (expected != dtype_) {
    fail("Tensor " + describe(), std::string("accessed as ") + dtype_name(expected));
  }
}

}  // namespace pointrt
