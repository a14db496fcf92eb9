// libFuzzer target: KITTI calib parsing and the box conversions that use it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pointrt/detection.h"
#include "pointrt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const pointrt::KittiCalib calib =
        pointrt::parse_kitti_calib(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    pointrt::Detection d;
    d.box = {10.f, 1.f, -1.f, 4.f, 1.8f, 1.5f, 0.3f};
    d.score = 0.9f;
    d.label = 1;
    const pointrt::KittiObject o = pointrt::to_kitti_object(d, "Car", calib);
    (void)pointrt::to_lidar_box(o, calib);
  } catch (const pointrt::Error&) {
  }
  return 0;
}
