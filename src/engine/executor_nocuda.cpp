// Builds without CUDA: the CUDA executor is unavailable and says so.
#include "engine/executor.h"

namespace pointrt::engine {

std::unique_ptr<Executor> make_cuda_executor(const PlanData& plan, const ExecutorOptions&) {
  fail(plan.net.name, "this build of pointrt has no CUDA support; use a CPU plan (`pointrt build --device cpu`)");
}

std::string cuda_device_arch(std::string*) { fail("cuda", "this build of pointrt has no CUDA support"); }

}  // namespace pointrt::engine
