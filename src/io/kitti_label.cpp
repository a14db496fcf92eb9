// KITTI label_2 files: reading, formatting, writing, and the LiDAR box <-> KITTI object geometry.
//
// Columns: type truncated occluded alpha left top right bottom h w l x y z rotation_y [score].
// Written precision (format_kitti_labels): truncated %.2f, occluded %d, alpha %.4f, bbox %.2f (pixels),
// h w l x y z rotation_y %.4f (metres / radians: 0.1 mm, 1e-4 rad), score %.6f. Numbers are written and read with
// std::to_chars / std::from_chars, so the output does not depend on the C locale.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <Eigen/Dense>

#include "pointrt/detection.h"
#include "io/file_util.h"
#include "pointrt/error.h"

namespace pointrt {
namespace {

using io::is_space;
using io::read_text_file;
using io::split_whitespace;

constexpr double kPi = 3.14159265358979323846;

const char* const kColumnNames[16] = {"type", "truncated", "occluded", "alpha",      "bbox left", "bbox top",
                                      "bbox right", "bbox bottom", "h",       "w",          "l",         "x",
                                      "y",    "z",          "rotation_y", "score"};

// Parses column `col` (0-based) of a label line as a finite float.
double parse_number(const std::string& token, std::size_t col, const std::string& where) {
  const std::string what = std::string("column ") + std::to_string(col + 1) + " (" + kColumnNames[col] + ") '" +
                           token + "'";
  double v = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec == std::errc::result_out_of_range) fail(where, what + " is out of range");
  if (ec != std::errc() || ptr != token.data() + token.size()) fail(where, what + " is not a number");
  if (!std::isfinite(v)) fail(where, what + " is not finite");
  if (std::abs(v) > static_cast<double>(std::numeric_limits<float>::max())) fail(where, what + " is out of range");
  return v;
}

// Wraps an angle to [-pi, pi).
double wrap_angle(double a) {
  double w = a - 2.0 * kPi * std::floor((a + kPi) / (2.0 * kPi));
  if (w >= kPi) w -= 2.0 * kPi;
  if (w < -kPi) w += 2.0 * kPi;
  return w;
}

// An angle wrapped in double precision, as a float that stays inside [-pi, pi]: float(pi) is slightly above pi, so
// values that round onto it are moved to the float just below pi (and likewise at -pi).
float angle_to_float(double wrapped) {
  float f = static_cast<float>(wrapped);
  if (static_cast<double>(f) >= kPi) f = std::nextafter(static_cast<float>(kPi), 0.f);
  if (static_cast<double>(f) < -kPi) f = std::nextafter(static_cast<float>(-kPi), 0.f);
  return f;
}

void append_fixed(std::string& out, double value, int precision) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, precision);
  if (ec != std::errc()) fail("KITTI label", "cannot format a value");  // unreachable for finite float values
  out.append(buf, ptr);
}

// R0_rect * Tr_velo_to_cam as one 4x4 transform: LiDAR -> rectified camera.
Eigen::Matrix4d lidar_to_rect(const KittiCalib& calib) {
  Eigen::Matrix4d tr = Eigen::Matrix4d::Identity();
  Eigen::Matrix4d r0 = Eigen::Matrix4d::Identity();
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) tr(r, c) = calib.Tr_velo_to_cam[static_cast<std::size_t>(r * 4 + c)];
    for (int c = 0; c < 3; ++c) r0(r, c) = calib.R0_rect[static_cast<std::size_t>(r * 3 + c)];
  }
  return r0 * tr;
}

Eigen::Matrix<double, 3, 4> p2_matrix(const KittiCalib& calib) {
  Eigen::Matrix<double, 3, 4> p;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) p(r, c) = calib.P2[static_cast<std::size_t>(r * 4 + c)];
  }
  return p;
}

// The 2D box of a KITTI 3D box (bottom centre x y z, sizes h w l, rotation_y; rectified camera frame) in the image
// of P2. Each of the 12 edges is clipped against the near plane depth >= kNear, where depth is the third row of
// P2 * [X; 1] (for KITTI that is z_rect + ~0.005 m); the remaining points are projected and their extent is clipped
// to the image. Nothing in front of the near plane gives (0, 0, 0, 0).
std::array<float, 4> project_box(const KittiObject& o, const KittiCalib& calib, const ImageSize& image) {
  constexpr double kNear = 0.1;
  const double l = o.l, h = o.h, w = o.w;
  // KITTI corner order: bottom face 0..3 (y = 0), top face 4..7 (y = -h, camera y points down).
  const double xs[8] = {l / 2, l / 2, -l / 2, -l / 2, l / 2, l / 2, -l / 2, -l / 2};
  const double ys[8] = {0, 0, 0, 0, -h, -h, -h, -h};
  const double zs[8] = {w / 2, -w / 2, -w / 2, w / 2, w / 2, -w / 2, -w / 2, w / 2};
  const double c = std::cos(static_cast<double>(o.rotation_y));
  const double s = std::sin(static_cast<double>(o.rotation_y));
  const Eigen::Matrix<double, 3, 4> p = p2_matrix(calib);

  Eigen::Vector3d projected[8];  // P2 * [corner; 1]: (u*d, v*d, d)
  for (int i = 0; i < 8; ++i) {
    // Rotation about the camera y axis: [c 0 s; 0 1 0; -s 0 c].
    const Eigen::Vector4d corner(c * xs[i] + s * zs[i] + o.x, ys[i] + o.y, -s * xs[i] + c * zs[i] + o.z, 1.0);
    projected[i] = p * corner;
  }

  static constexpr int kEdges[12][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 0}, {4, 5}, {5, 6},
                                        {6, 7}, {7, 4}, {0, 4}, {1, 5}, {2, 6}, {3, 7}};
  double umin = std::numeric_limits<double>::infinity(), vmin = umin;
  double umax = -umin, vmax = -umin;
  bool any = false;
  auto add = [&](const Eigen::Vector3d& q) {
    const double u = q[0] / q[2], v = q[1] / q[2];
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    vmin = std::min(vmin, v);
    vmax = std::max(vmax, v);
    any = true;
  };
  for (const auto& edge : kEdges) {
    const Eigen::Vector3d& a = projected[edge[0]];
    const Eigen::Vector3d& b = projected[edge[1]];
    const bool a_in = a[2] >= kNear, b_in = b[2] >= kNear;
    if (a_in) add(a);
    if (b_in) add(b);
    if (a_in != b_in) {
      // Projection is linear in homogeneous coordinates, so clipping the projected edge equals projecting the
      // clipped 3D edge.
      const double t = (kNear - a[2]) / (b[2] - a[2]);
      add(a + t * (b - a));
    }
  }
  if (!any) return {0.f, 0.f, 0.f, 0.f};
  const double max_u = std::max(0, image.width - 1), max_v = std::max(0, image.height - 1);
  auto clamp = [](double v, double hi) { return static_cast<float>(std::min(std::max(v, 0.0), hi)); };
  return {clamp(umin, max_u), clamp(vmin, max_v), clamp(umax, max_u), clamp(vmax, max_v)};
}

}  // namespace

// ---- reading -------------------------------------------------------------------------------------------------

std::vector<KittiObject> parse_kitti_labels(const std::string& text, const std::string& name) {
  std::vector<KittiObject> objects;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line_text = text.substr(pos, end - pos);
    const std::vector<std::string_view> tokens = split_whitespace(line_text);
    const std::vector<std::string> cols(tokens.begin(), tokens.end());
    pos = end + 1;
    ++line_no;
    if (cols.empty()) continue;
    const std::string where = name + ":" + std::to_string(line_no);
    if (cols.size() != 15 && cols.size() != 16) {
      fail(where, "expected 15 or 16 columns (16 with a score), got " + std::to_string(cols.size()));
    }
    double v[16] = {};
    for (std::size_t i = 1; i < cols.size(); ++i) v[i] = parse_number(cols[i], i, where);
    if (v[2] != std::floor(v[2])) fail(where, "column 3 (occluded) '" + cols[2] + "' is not an integer");
    if (std::abs(v[2]) > 1e6) fail(where, "column 3 (occluded) '" + cols[2] + "' is out of range");

    KittiObject o;
    o.type = cols[0];
    o.truncated = static_cast<float>(v[1]);
    o.occluded = static_cast<int>(v[2]);
    o.alpha = static_cast<float>(v[3]);
    for (std::size_t i = 0; i < 4; ++i) o.bbox[i] = static_cast<float>(v[4 + i]);
    o.h = static_cast<float>(v[8]);
    o.w = static_cast<float>(v[9]);
    o.l = static_cast<float>(v[10]);
    o.x = static_cast<float>(v[11]);
    o.y = static_cast<float>(v[12]);
    o.z = static_cast<float>(v[13]);
    o.rotation_y = static_cast<float>(v[14]);
    o.has_score = cols.size() == 16;
    o.score = o.has_score ? static_cast<float>(v[15]) : 0.f;
    objects.push_back(std::move(o));
  }
  return objects;
}

std::vector<KittiObject> read_kitti_labels(const std::string& path) {
  return parse_kitti_labels(read_text_file(path), path);
}

// ---- writing -------------------------------------------------------------------------------------------------

std::string format_kitti_labels(const std::vector<KittiObject>& objects) {
  std::string out;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const KittiObject& o = objects[i];
    const std::string subject = "KITTI label object " + std::to_string(i) + " (" + o.type + ")";
    if (o.type.empty() || std::any_of(o.type.begin(), o.type.end(), is_space)) {
      fail(subject, "type must be a non-empty word without whitespace");
    }
    const float values[] = {o.truncated, o.alpha, o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3], o.h, o.w,
                            o.l,         o.x,     o.y,       o.z,       o.rotation_y, o.has_score ? o.score : 0.f};
    for (float value : values) {
      if (!std::isfinite(value)) fail(subject, "has a non-finite value, which a label file cannot hold");
    }
    out += o.type;
    out += ' ';
    append_fixed(out, o.truncated, 2);
    out += ' ';
    out += std::to_string(o.occluded);
    out += ' ';
    append_fixed(out, o.alpha, 4);
    for (float b : o.bbox) {
      out += ' ';
      append_fixed(out, b, 2);
    }
    for (float g : {o.h, o.w, o.l, o.x, o.y, o.z, o.rotation_y}) {
      out += ' ';
      append_fixed(out, g, 4);
    }
    if (o.has_score) {
      out += ' ';
      append_fixed(out, o.score, 6);
    }
    out += '\n';
  }
  return out;
}

void write_kitti_labels(const std::string& path, const std::vector<KittiObject>& objects) {
  const std::string text = format_kitti_labels(objects);
  // Written to a temporary file beside the target and renamed over it, so a failed write never leaves a
  // half-written label file under the final name.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(path, std::string("cannot open for writing: ") + std::strerror(errno));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail(path, "write failed");
    }
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail(path, "write failed while closing the file");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    fail(path, "cannot rename the written file into place: " + ec.message());
  }
}

// ---- geometry ------------------------------------------------------------------------------------------------

KittiObject to_kitti_object(const Detection& detection, const std::string& type, const KittiCalib& calib,
                            const ImageSize& image) {
  const Box3D& b = detection.box;
  const Eigen::Matrix4d t = lidar_to_rect(calib);
  const Eigen::Vector4d bottom_lidar(b.x, b.y, static_cast<double>(b.z) - 0.5 * static_cast<double>(b.dz), 1.0);
  const Eigen::Vector4d bottom_rect = t * bottom_lidar;

  KittiObject o;
  o.type = type;
  o.truncated = 0.f;
  o.occluded = 0;
  o.h = b.dz;
  o.w = b.dy;
  o.l = b.dx;
  o.x = static_cast<float>(bottom_rect[0]);
  o.y = static_cast<float>(bottom_rect[1]);
  o.z = static_cast<float>(bottom_rect[2]);
  const double ry = wrap_angle(-static_cast<double>(b.heading) - kPi / 2);
  o.rotation_y = angle_to_float(ry);
  o.alpha = angle_to_float(wrap_angle(ry - std::atan2(bottom_rect[0], bottom_rect[2])));
  o.score = detection.score;
  o.has_score = true;
  o.bbox = project_box(o, calib, image);
  return o;
}

Box3D to_lidar_box(const KittiObject& object, const KittiCalib& calib) {
  const Eigen::Matrix4d inv = lidar_to_rect(calib).inverse();
  const Eigen::Vector4d bottom_lidar = inv * Eigen::Vector4d(object.x, object.y, object.z, 1.0);
  Box3D b;
  b.x = static_cast<float>(bottom_lidar[0]);
  b.y = static_cast<float>(bottom_lidar[1]);
  b.z = static_cast<float>(bottom_lidar[2] + 0.5 * static_cast<double>(object.h));
  b.dx = object.l;
  b.dy = object.w;
  b.dz = object.h;
  b.heading = angle_to_float(wrap_angle(-static_cast<double>(object.rotation_y) - kPi / 2));
  return b;
}

// ---- camera field of view -------------------------------------------------------------------------------------

// Mirrors python/pointrt_train/data.py fov_mask (kitti.Calib.project_lidar): compose M = R0_rect * Tr_velo_to_cam,
// then X_rect = M[:, :3] p + M[:, 3], q = P2[:, :3] X_rect + P2[:, 3], u = q0 / q2, v = q1 / q2. Sums run left to
// right and the build has -ffp-contract=off, so this is the plain double-precision evaluation of that formula.
PointCloud filter_to_camera_fov(const PointCloud& cloud, const KittiCalib& calib, const ImageSize& image) {
  const std::size_t f = cloud.num_fields();
  if (f < 3) fail(cloud.source, "a point cloud needs at least the fields x, y, z");
  const auto& tr = calib.Tr_velo_to_cam;
  const auto& r0 = calib.R0_rect;
  const auto& p2 = calib.P2;
  double m[3][4];
  for (std::size_t r = 0; r < 3; ++r) {
    for (std::size_t c = 0; c < 4; ++c) {
      m[r][c] = r0[r * 3 + 0] * tr[0 * 4 + c] + r0[r * 3 + 1] * tr[1 * 4 + c] + r0[r * 3 + 2] * tr[2 * 4 + c];
    }
  }
  const double width = static_cast<double>(image.width), height = static_cast<double>(image.height);

  PointCloud out;
  out.source = cloud.source;
  out.format = cloud.format;
  out.fields = cloud.fields;
  out.dropped_nonfinite = cloud.dropped_nonfinite;
  out.values.reserve(cloud.values.size());
  const std::size_t n = cloud.num_points();
  for (std::size_t i = 0; i < n; ++i) {
    const float* pt = cloud.point(i);
    const double x = pt[0], y = pt[1], z = pt[2];
    double cam[3];
    for (std::size_t r = 0; r < 3; ++r) cam[r] = x * m[r][0] + y * m[r][1] + z * m[r][2] + m[r][3];
    double q[3];
    for (std::size_t r = 0; r < 3; ++r) {
      q[r] = cam[0] * p2[r * 4 + 0] + cam[1] * p2[r * 4 + 1] + cam[2] * p2[r * 4 + 2] + p2[r * 4 + 3];
    }
    const double d = q[2];
    if (!(d > 0)) continue;
    const double u = q[0] / d, v = q[1] / d;
    if (u >= 0 && u < width && v >= 0 && v < height) out.values.insert(out.values.end(), pt, pt + f);
  }
  out.values.shrink_to_fit();
  return out;
}

}  // namespace pointrt
