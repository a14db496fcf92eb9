// Test helpers: where the shared real LiDAR frames and the repository's sample frame live.
#pragma once

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/gpu.h"

namespace pointrt::testing {

// ../shared/data beside the repository (override with the environment variable POINTRT_SHARED_DATA).
std::string shared_data_dir();
// Absolute path of a file in the repository (e.g. "data/sample/kitti_000003.bin").
std::string source_path(const std::string& relative);
// Empty when the shared data folder exists; otherwise the reason, for GTEST_SKIP. When the environment variable
// POINTRT_REQUIRE_SHARED_DATA is set (CI sets it), a missing folder is a test failure instead of a skip.
std::string shared_data_missing();
// A fresh empty temporary directory for one test.
std::string make_temp_dir(const std::string& tag);
// Writes `bytes` to `path` (binary).
void write_file(const std::string& path, const std::string& bytes);
// Runs `fn` and expects a pointrt::Error whose message contains every one of `parts` (a gtest failure otherwise).
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts);

}  // namespace pointrt::testing

// Skips the current test (or fails it in CI) when ../shared/data is not there.
#define POINTRT_REQUIRE_SHARED_DATA()                                                         \
  do {                                                                                        \
    const std::string pointrt_missing_ = ::pointrt::testing::shared_data_missing();           \
    if (!pointrt_missing_.empty()) {                                                          \
      if (std::getenv("POINTRT_REQUIRE_SHARED_DATA") != nullptr) FAIL() << pointrt_missing_;  \
      GTEST_SKIP() << pointrt_missing_;                                                       \
    }                                                                                         \
  } while (0)

// Skips the current test when no CUDA device can be used, saying why.
#define POINTRT_REQUIRE_CUDA()                                                       \
  do {                                                                               \
    const std::string pointrt_reason_ = ::pointrt::core::cuda_unavailable_reason();  \
    if (!pointrt_reason_.empty()) GTEST_SKIP() << "GPU test: " << pointrt_reason_;   \
  } while (0)
