#include "support/test_data.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "pointrt/error.h"

#include <unistd.h>

namespace fs = std::filesystem;

namespace pointrt::testing {

std::string shared_data_dir() {
  if (const char* env = std::getenv("POINTRT_SHARED_DATA")) return env;
  return POINTRT_SHARED_DATA_DIR;
}

std::string source_path(const std::string& relative) { return std::string(POINTRT_SOURCE_DIR) + "/" + relative; }

std::string shared_data_missing() {
  const std::string dir = shared_data_dir();
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "kitti", ec)) return {};
  return "shared LiDAR data not found at " + dir + " (set POINTRT_SHARED_DATA or configure -DPOINTRT_SHARED_DATA=...)";
}

std::string make_temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() /
                       ("pointrt_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << (parts.empty() ? "" : parts.front()) << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "message '" << message << "' lacks '" << part << "'";
    }
  }
}

}  // namespace pointrt::testing
