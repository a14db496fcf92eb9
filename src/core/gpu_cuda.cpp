// The GPU runtime of a build with CUDA.
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "core/cuda_utils.h"
#include "core/gpu.h"
#include "pointrt/error.h"

namespace pointrt::core {

// Defined in kernel_probe.cu: attributes of a trivial kernel, which fail when no image fits the device.
cudaError_t probe_kernel_image();

bool cuda_compiled() { return true; }

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a failed query
    return std::string("no usable CUDA device: ") + cudaGetErrorString(status);
  }
  if (count == 0) return "no CUDA device found";
  return {};
}

std::string cuda_device_summary() {
  std::string reason = cuda_unavailable_reason();
  if (!reason.empty()) return reason;
  int device = 0;
  POINTRT_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  POINTRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  char mem[32];
  std::snprintf(mem, sizeof(mem), "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " + mem + ")";
}

void cuda_check_kernel_image() {
  std::string reason = cuda_unavailable_reason();
  if (!reason.empty()) fail("CUDA", reason);
  const cudaError_t status = probe_kernel_image();
  if (status == cudaSuccess) return;
  cudaGetLastError();
  int device = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&device) == cudaSuccess) cudaGetDeviceProperties(&prop, device);
  fail("CUDA", std::string("this build of pointrt has no kernel image for ") + prop.name + " (sm_" +
                   std::to_string(prop.major) + std::to_string(prop.minor) + "); it was built for CUDA architectures " +
                   POINTRT_CUDA_ARCHS + ". Rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + std::to_string(prop.major) +
                   std::to_string(prop.minor) + " (" + cudaGetErrorString(status) + ")");
}

void* cuda_malloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();
    fail("CUDA", "cannot allocate " + std::to_string(bytes) + " bytes of device memory: " + cudaGetErrorString(status));
  }
  return ptr;
}

void cuda_free(void* ptr) noexcept {
  if (ptr != nullptr) cudaFree(ptr);
}

// cudaMemset and a pageable cudaMemcpy may return before the device has finished (they run on the legacy default
// stream, which pointrt's non-blocking streams do not wait for), so these synchronous helpers wait for it.
void cuda_memset_zero(void* ptr, std::size_t bytes) {
  if (bytes == 0) return;
  POINTRT_CUDA_CHECK(cudaMemset(ptr, 0, bytes));
  POINTRT_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
}

void cuda_copy(void* dst, bool dst_on_device, const void* src, bool src_on_device, std::size_t bytes) {
  if (bytes == 0) return;
  cudaMemcpyKind kind = cudaMemcpyDefault;
  if (dst_on_device && src_on_device) kind = cudaMemcpyDeviceToDevice;
  else if (dst_on_device) kind = cudaMemcpyHostToDevice;
  else if (src_on_device) kind = cudaMemcpyDeviceToHost;
  else kind = cudaMemcpyHostToHost;
  POINTRT_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
  POINTRT_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
}

void* cuda_stream_create() {
  cudaStream_t s = nullptr;
  POINTRT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}
void cuda_stream_destroy(void* stream) noexcept {
  if (stream != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream));
}
void cuda_stream_synchronize(void* stream) { POINTRT_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream))); }

DeviceTimer::DeviceTimer() {
  cudaEvent_t a = nullptr, b = nullptr;
  POINTRT_CUDA_CHECK(cudaEventCreate(&a));
  POINTRT_CUDA_CHECK(cudaEventCreate(&b));
  start_ = a;
  stop_ = b;
}
DeviceTimer::~DeviceTimer() {
  if (start_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  if (stop_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}
void DeviceTimer::start(void* stream) {
  POINTRT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(start_), static_cast<cudaStream_t>(stream)));
}
void DeviceTimer::stop(void* stream) {
  POINTRT_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(stop_), static_cast<cudaStream_t>(stream)));
}
float DeviceTimer::elapsed_ms() {
  POINTRT_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)));
  float ms = 0.f;
  POINTRT_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)));
  return ms;
}

}  // namespace pointrt::core
