// The GPU runtime of a build without CUDA: nothing is available, and every attempt to use it says so.
#include "core/gpu.h"

#include "pointrt/error.h"

namespace pointrt::core {

namespace {
const char* const kReason = "pointrt was built without CUDA (configure with -DPOINTRT_CUDA=ON on a machine with nvcc)";
}

bool cuda_compiled() { return false; }
std::string cuda_unavailable_reason() { return kReason; }
std::string cuda_device_summary() { return kReason; }
void cuda_check_kernel_image() { fail("CUDA", kReason); }
void* cuda_malloc(std::size_t) { fail("CUDA", kReason); }
void cuda_free(void*) noexcept {}
void cuda_memset_zero(void*, std::size_t) { fail("CUDA", kReason); }
void cuda_copy(void*, bool, const void*, bool, std::size_t) { fail("CUDA", kReason); }

void* cuda_stream_create() { fail("CUDA", kReason); }
void cuda_stream_destroy(void*) noexcept {}
void cuda_stream_synchronize(void*) { fail("CUDA", kReason); }
DeviceTimer::DeviceTimer() = default;
DeviceTimer::~DeviceTimer() = default;
void DeviceTimer::start(void*) { fail("CUDA", kReason); }
void DeviceTimer::stop(void*) { fail("CUDA", kReason); }
float DeviceTimer::elapsed_ms() { fail("CUDA", kReason); }

}  // namespace pointrt::core
