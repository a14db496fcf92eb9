// KITTI calibration files (calib/NNNNNN.txt): "KEY: v1 v2 ..." lines. pointrt needs P2 (3x4), R0_rect (3x3) and
// Tr_velo_to_cam (3x4); "R_rect" and "Tr_velo_cam" are accepted as aliases (some KITTI-derived datasets use them).
// Every other key (P0, P1, P3, Tr_imu_to_velo, calib_time, ...) is ignored without looking at its values.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "pointrt/detection.h"
#include "io/file_util.h"
#include "pointrt/error.h"

namespace pointrt {
namespace {

using io::is_space;
using io::read_text_file;
using io::split_whitespace;

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

struct Needed {
  const char* name;        // canonical key, used in messages
  const char* alias;       // accepted alternative spelling
  std::size_t count;       // number of values
  double* out;             // destination (count values)
  bool seen = false;
};

}  // namespace

KittiCalib parse_kitti_calib(const std::string& text, const std::string& name) {
  KittiCalib calib;
  Needed needed[] = {
      {"P2", "P2", calib.P2.size(), calib.P2.data()},
      {"R0_rect", "R_rect", calib.R0_rect.size(), calib.R0_rect.data()},
      {"Tr_velo_to_cam", "Tr_velo_cam", calib.Tr_velo_to_cam.size(), calib.Tr_velo_to_cam.data()},
  };

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::string where = "line " + std::to_string(line_no);

    if (trim(line).empty()) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) fail(name, where + ": expected 'KEY: values', got '" + trim(line) + "'");
    const std::string key = trim(line.substr(0, colon));

    Needed* target = nullptr;
    for (Needed& n : needed) {
      if (key == n.name || key == n.alias) target = &n;
    }
    if (target == nullptr) continue;  // a key pointrt does not use
    if (target->seen) fail(name, where + ": " + target->name + " is given twice (as '" + key + "')");
    target->seen = true;

    const std::string rest = line.substr(colon + 1);
    const std::vector<std::string_view> values = split_whitespace(rest);
    if (values.size() != target->count) {
      fail(name, where + ": " + key + " has " + std::to_string(values.size()) + " values, expected " +
                     std::to_string(target->count));
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string token(values[i]);
      double v = 0;
      const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
      if (ec == std::errc::result_out_of_range) {
        fail(name, where + ": " + key + " value " + std::to_string(i + 1) + " '" + token + "' is out of range");
      }
      if (ec != std::errc() || ptr != token.data() + token.size()) {
        fail(name, where + ": " + key + " value " + std::to_string(i + 1) + " '" + token + "' is not a number");
      }
      if (!std::isfinite(v)) {
        fail(name, where + ": " + key + " value " + std::to_string(i + 1) + " '" + token + "' is not finite");
      }
      target->out[i] = v;
    }
  }

  for (const Needed& n : needed) {
    if (!n.seen) fail(name, std::string("missing key ") + n.name);
  }
  return calib;
}

KittiCalib read_kitti_calib(const std::string& path) { return parse_kitti_calib(read_text_file(path), path); }

}  // namespace pointrt
