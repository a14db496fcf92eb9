#include "pointrt/version.h"

#include "core/gpu.h"

namespace pointrt {

const char* version() { return POINTRT_VERSION_STRING; }

std::string build_info() {
  std::string s = std::string("pointrt ") + POINTRT_VERSION_STRING + " (" + POINTRT_BUILD_TYPE + ", ";
  if (core::cuda_compiled()) {
    s += std::string("CUDA architectures ") + POINTRT_CUDA_ARCHS;
  } else {
    s += "CPU only";
  }
  return s + ")";
}

}  // namespace pointrt
