// pointrt — tensors.
//
// A Tensor is a contiguous, channel-last block of f32, f16, i32 or i8 values in host or CUDA memory. It either owns
// its memory (Tensor::empty / Tensor::zeros; shared between copies of the handle, freed with the last one) or views
// memory owned by someone else (Tensor::view). Shapes are given outermost first: points are [B, N, 3 + C].
// Nothing CUDA-specific appears here; CUDA memory is only reachable through a build with CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pointrt/error.h"

namespace pointrt {

enum class DType : std::uint8_t { F32, F16, I32, I8 };
enum class Device : std::uint8_t { Host, CUDA };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);    // "f32", "f16", "i32", "i8"
const char* device_name(Device device);  // "host", "cuda"

using Shape = std::vector<std::int64_t>;
std::string shape_string(const Shape& shape);  // "[1, 16384, 4]"

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <>
struct DTypeOf<std::int32_t> { static constexpr DType value = DType::I32; };
template <>
struct DTypeOf<std::int8_t> { static constexpr DType value = DType::I8; };

class Tensor {
 public:
  Tensor() = default;

  // Owning tensors. Memory is 256-byte aligned; `empty` leaves it uninitialised, `zeros` clears it.
  // Errors: a negative dimension, a size that overflows, or Device::CUDA in a build without CUDA or on a machine
  // without a usable GPU.
  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::Host);
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::Host);
  // Host tensor holding a copy of `values`, shaped `shape` (its element count must match).
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  // Non-owning view of memory that outlives the tensor.
  static Tensor view(void* data, const Shape& shape, DType dtype, Device device = Device::Host);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int i) const;  // negative i counts from the back
  std::int64_t numel() const;
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool owns_memory() const { return static_cast<bool>(storage_); }

  void* data() { return data_; }
  const void* data() const { return data_; }
  // Typed access; throws if T does not match the dtype.
  template <typename T>
  T* data_as();
  template <typename T>
  const T* data_as() const;

  // Same memory, another shape with the same element count.
  Tensor reshape(const Shape& shape) const;
  // A new owning tensor on `device` with the same contents (synchronous copy).
  Tensor to(Device device) const;
  // Copies the contents of `src` (same shape and dtype, any device) into this tensor (synchronous).
  void copy_from(const Tensor& src);
  // "f32[1, 16384, 4]@host"
  std::string describe() const;

 private:
  void check_dtype(DType expected) const;

  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_ = Device::Host;
};

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  Tensor t = empty(shape, DTypeOf<T>::value, Device::Host);
  t.check_dtype(DTypeOf<T>::value);
  if (static_cast<std::size_t>(t.numel()) != values.size()) {
    fail("Tensor::from_vector", std::to_string(values.size()) + " values do not fill shape " + shape_string(shape));
  }
  T* dst = t.data_as<T>();
  for (std::size_t i = 0; i < values.size(); ++i) dst[i] = values[i];
  return t;
}

template <typename T>
T* Tensor::data_as() {
  check_dtype(DTypeOf<T>::value);
  return static_cast<T*>(data_);
}

template <typename T>
const T* Tensor::data_as() const {
  check_dtype(DTypeOf<T>::value);
  return static_cast<const T*>(data_);
}

}  // namespace pointrt
