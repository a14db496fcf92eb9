#include "core/cuda_utils.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "pointrt/error.h"

namespace pointrt::core {

void cuda_check(cudaError_t status, const char* expr, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw Error(std::string("CUDA: ") + expr + " failed at " + file + ":" + std::to_string(line) + ": " +
              cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

bool cuda_sync_after_launch() {
  static const bool enabled = [] {
    const char* v = std::getenv("POINTRT_CUDA_SYNC");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return enabled;
}

void cuda_check_launch(const char* what, const char* file, int line) {
  cuda_check(cudaGetLastError(), what, file, line);
  if (cuda_sync_after_launch()) cuda_check(cudaDeviceSynchronize(), what, file, line);
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t status = cudaMalloc(&ptr_, bytes);
  if (status != cudaSuccess) {
    ptr_ = nullptr;
    throw Error("CUDA: cannot allocate " + std::to_string(bytes) + " bytes of device memory: " +
                cudaGetErrorString(status));
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Stream::Stream() { POINTRT_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
Stream::~Stream() {
  if (s_ != nullptr) cudaStreamDestroy(s_);
}
void Stream::synchronize() const { POINTRT_CUDA_CHECK(cudaStreamSynchronize(s_)); }

Event::Event() { POINTRT_CUDA_CHECK(cudaEventCreate(&e_)); }
Event::~Event() {
  if (e_ != nullptr) cudaEventDestroy(e_);
}
void Event::record(cudaStream_t stream) { POINTRT_CUDA_CHECK(cudaEventRecord(e_, stream)); }
void Event::synchronize() const { POINTRT_CUDA_CHECK(cudaEventSynchronize(e_)); }
float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0.f;
  POINTRT_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
  return ms;
}

}  // namespace pointrt::core
