// A trivial kernel whose attributes tell whether this build carries an image for the current device.
#include <cuda_runtime.h>

namespace pointrt::core {

namespace {
__global__ void probe_kernel(int* out) {
  if (out != nullptr) *out = 1;
}
}  // namespace

cudaError_t probe_kernel_image() {
  cudaFuncAttributes attributes{};
  return cudaFuncGetAttributes(&attributes, probe_kernel);
}

}  // namespace pointrt::core
