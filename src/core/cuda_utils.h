// Internal CUDA helpers for operators and executors: checked calls, RAII device buffers, streams and events.
// Only code compiled with CUDA includes this header; nothing here reaches the public API.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace pointrt::core {

// Throws Error("CUDA: <expr> failed at <file>:<line>: <name>: <description>") unless `status` is cudaSuccess.
void cuda_check(cudaError_t status, const char* expr, const char* file, int line);
// After a kernel launch: checks the launch error and, when POINTRT_CUDA_SYNC=1 is set in the environment,
// synchronises the device so that an asynchronous fault is reported at the launch that caused it.
void cuda_check_launch(const char* what, const char* file, int line);
// True when POINTRT_CUDA_SYNC=1 (read once).
bool cuda_sync_after_launch();

}  // namespace pointrt::core

#define POINTRT_CUDA_CHECK(expr) ::pointrt::core::cuda_check((expr), #expr, __FILE__, __LINE__)
#define POINTRT_CHECK_LAUNCH(what) ::pointrt::core::cuda_check_launch((what), __FILE__, __LINE__)

namespace pointrt::core {

// Owning device allocation; move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  std::size_t size() const { return bytes_; }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(bytes_, other.bytes_);
  }
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Owning non-blocking stream; move-only.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(Stream&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  Stream& operator=(Stream&& other) noexcept {
    std::swap(s_, other.s_);
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return s_; }
  void synchronize() const;

 private:
  cudaStream_t s_ = nullptr;
};

// Owning event with timing enabled; move-only.
class Event {
 public:
  Event();
  ~Event();
  Event(Event&& other) noexcept : e_(std::exchange(other.e_, nullptr)) {}
  Event& operator=(Event&& other) noexcept {
    std::swap(e_, other.e_);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t stream);
  void synchronize() const;
  // Milliseconds between `start` and this event (both recorded and complete).
  float elapsed_ms_since(const Event& start) const;

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace pointrt::core
