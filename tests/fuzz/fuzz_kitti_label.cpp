// libFuzzer target: KITTI label_2 parsing. A pointrt::Error is the expected answer to bad input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pointrt/detection.h"
#include "pointrt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto objects = pointrt::parse_kitti_labels(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)pointrt::format_kitti_labels(objects);
  } catch (const pointrt::Error&) {
  }
  return 0;
}
