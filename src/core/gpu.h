// Internal, CUDA-free view of the GPU runtime: what the host-side code (tensors, CLI, tests) needs to know about
// CUDA without including a CUDA header. Implemented by gpu_cuda.cpp, or by gpu_none.cpp in builds without CUDA.
#pragma once

#include <cstddef>
#include <string>

namespace pointrt::core {

// True when this build compiled the CUDA code.
bool cuda_compiled();
// Empty when a CUDA device can be used; otherwise why not ("built without CUDA", "no CUDA device: ...").
std::string cuda_unavailable_reason();
inline bool cuda_available() { return cuda_unavailable_reason().empty(); }
// "NVIDIA H200 (sm_90, 139.8 GiB)" or the reason no device is usable.
std::string cuda_device_summary();
// Throws Error when the current device has no kernel image in this build (e.g. built for sm_80..90 and run on a
// newer or older GPU), instead of letting the first launch fail or hang.
void cuda_check_kernel_image();

// Raw device memory (cudaMalloc / cudaFree); throws Error with the requested size on failure.
void* cuda_malloc(std::size_t bytes);
void cuda_free(void* ptr) noexcept;
// Synchronous: returns once the device memory is zeroed (also with respect to work on non-blocking streams).
void cuda_memset_zero(void* ptr, std::size_t bytes);
// Synchronous copies, complete on the device when they return. `dst_on_device` / `src_on_device` say where each
// side lives.
void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes);

// Streams and device timing for host code that must stay CUDA-free (the CLI's bench): a non-blocking stream as an
// opaque handle (a cudaStream_t), and a pair of timing events on it.
void* cuda_stream_create();
void cuda_stream_destroy(void* stream) noexcept;
void cuda_stream_synchronize(void* stream);
class DeviceTimer {
 public:
  DeviceTimer();
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  void start(void* stream);
  void stop(void* stream);
  // Milliseconds between start and stop; waits for stop to complete.
  float elapsed_ms();

 private:
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace pointrt::core
