// Detections as JSON:
//   {"source": "...", "detections": [{"label": 1, "class": "Car", "score": 0.9,
//                                     "box": {"x": .., "y": .., "z": .., "dx": .., "dy": .., "dz": .., "heading": ..}}]}
// Keys keep this order. Each float is written as the shortest decimal that reads back as the same float (0.9, not
// 0.8999999761581421). A non-finite value is refused (JSON has no NaN; nlohmann would silently write null).
// Invalid UTF-8 in `source` or a class name is replaced by U+FFFD rather than failing. Output is indented by two
// spaces and ends with a newline.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "pointrt/detection.h"
#include "pointrt/error.h"

namespace pointrt {
namespace {

// The double nearest to the shortest decimal representation of `value`, so that printing it gives that decimal.
double shortest(float value) {
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf) - 1, value);
  if (ec != std::errc()) return static_cast<double>(value);
  *ptr = '\0';
  double out = 0;
  const auto result = std::from_chars(buf, ptr, out);
  if (result.ec != std::errc()) return static_cast<double>(value);
  return out;
}

}  // namespace

std::string detections_to_json(const std::vector<Detection>& detections, const std::vector<std::string>& class_names,
                               const std::string& source) {
  using Json = nlohmann::ordered_json;
  Json list = Json::array();
  for (std::size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    const Box3D& b = d.box;
    for (float v : {d.score, b.x, b.y, b.z, b.dx, b.dy, b.dz, b.heading}) {
      if (!std::isfinite(v)) fail(source, "detection " + std::to_string(i) + " has a non-finite value");
    }
    Json box = Json::object();
    box["x"] = shortest(b.x);
    box["y"] = shortest(b.y);
    box["z"] = shortest(b.z);
    box["dx"] = shortest(b.dx);
    box["dy"] = shortest(b.dy);
    box["dz"] = shortest(b.dz);
    box["heading"] = shortest(b.heading);

    Json item = Json::object();
    item["label"] = d.label;
    const bool named = d.label >= 1 && static_cast<std::size_t>(d.label) <= class_names.size();
    item["class"] = named ? class_names[static_cast<std::size_t>(d.label) - 1] : std::string();
    item["score"] = shortest(d.score);
    item["box"] = std::move(box);
    list.push_back(std::move(item));
  }
  Json root = Json::object();
  root["source"] = source;
  root["detections"] = std::move(list);
  return root.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace pointrt
