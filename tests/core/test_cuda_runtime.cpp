// CUDA runtime wrappers: checked calls, device buffers, streams and events. Skipped without a GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pointrt/error.h"
#include "support/test_data.h"

#ifdef POINTRT_WITH_CUDA
#include "core/cuda_utils.h"

using namespace pointrt;

TEST(CudaRuntime, FailedCallNamesTheExpressionAndLocation) {
  POINTRT_REQUIRE_CUDA();
  try {
    POINTRT_CUDA_CHECK(cudaSetDevice(1 << 20));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaSetDevice(1 << 20)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda_runtime.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorInvalidDevice"), std::string::npos) << msg;
  }
}

TEST(CudaRuntime, BufferStreamEventAsyncCopyRoundTrip) {
  POINTRT_REQUIRE_CUDA();
  constexpr std::size_t kN = 1 << 20;
  std::vector<float> host(kN), back(kN, -1.f);
  for (std::size_t i = 0; i < kN; ++i) host[i] = static_cast<float>(i);
  core::DeviceBuffer buf(kN * sizeof(float));
  EXPECT_EQ(buf.size(), kN * sizeof(float));
  core::DeviceBuffer moved = std::move(buf);
  EXPECT_EQ(buf.get(), nullptr);
  core::Stream stream;
  core::Event start, stop;
  start.record(stream.get());
  POINTRT_CUDA_CHECK(cudaMemcpyAsync(moved.get(), host.data(), kN * sizeof(float), cudaMemcpyHostToDevice, stream.get()));
  POINTRT_CUDA_CHECK(cudaMemcpyAsync(back.data(), moved.get(), kN * sizeof(float), cudaMemcpyDeviceToHost, stream.get()));
  stop.record(stream.get());
  stop.synchronize();
  EXPECT_GE(stop.elapsed_ms_since(start), 0.f);
  EXPECT_EQ(back, host);
}

TEST(CudaRuntime, OversizedAllocationIsAClearError) {
  POINTRT_REQUIRE_CUDA();
  try {
    core::DeviceBuffer huge(std::size_t{1} << 50);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot allocate 1125899906842624 bytes"), std::string::npos) << e.what();
  }
}

#else

TEST(CudaRuntime, NotBuilt) { GTEST_SKIP() << "GPU test: pointrt was built without CUDA"; }

#endif
