// libFuzzer target: parse_plan on arbitrary bytes. The target writes the correct CRC-32 into the input before
// parsing (when the sizes in the fixed header allow), so mutations reach the header and network checks behind the
// checksum. A pointrt::Error is the expected answer; a plan that parses must serialise to bytes that parse again and
// serialise identically (the JSON text may be normalised), and must describe itself without error.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "engine/plan.h"
#include "engine/plan_impl.h"
#include "pointrt/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size >= 40) {
    std::uint64_t header = 0, blob = 0;
    std::memcpy(&header, &bytes[16], 8);
    std::memcpy(&blob, &bytes[24], 8);
    if (header <= size && blob <= size) {
      const std::uint64_t body = (40 + header + 255) / 256 * 256;
      if (body + blob == size) {
        auto* p = reinterpret_cast<const Bytef*>(bytes.data());
        std::uint32_t crc = static_cast<std::uint32_t>(crc32_z(0, p + 40, header));
        crc = static_cast<std::uint32_t>(crc32_z(crc, p + body, blob));
        std::memcpy(&bytes[32], &crc, 4);
      }
    }
  }
  pointrt::engine::PlanData plan;
  try {
    plan = pointrt::engine::parse_plan(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "fuzz");
  } catch (const pointrt::Error&) {
    return 0;
  }
  const std::string once = pointrt::engine::serialize_plan(plan);
  const pointrt::engine::PlanData again =
      pointrt::engine::parse_plan(reinterpret_cast<const std::uint8_t*>(once.data()), once.size(), "fuzz");
  if (pointrt::engine::serialize_plan(again) != once) __builtin_trap();
  try {
    const pointrt::Plan p = pointrt::engine::make_plan(plan);
    (void)p.describe();
    (void)p.describe_json();
  } catch (const pointrt::Error&) {
  }
  return 0;
}
