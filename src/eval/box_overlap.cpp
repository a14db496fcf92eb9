// Overlaps of KITTI objects in double precision: 2D image boxes, rotated ground-plane rectangles (own convex
// polygon clipping) and 3D boxes.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "pointrt/eval.h"

namespace pointrt {
namespace {

struct Point {
  double x = 0, z = 0;
};

// A convex polygon with at most 8 vertices (clipping a rectangle by a rectangle cannot give more).
struct Polygon {
  std::array<Point, 16> v{};
  std::size_t n = 0;
};

double cross(const Point& o, const Point& a, const Point& b) {
  return (a.x - o.x) * (b.z - o.z) - (a.z - o.z) * (b.x - o.x);
}

double polygon_area(const Polygon& p) {
  double twice = 0;
  for (std::size_t i = 0; i < p.n; ++i) {
    const Point& a = p.v[i];
    const Point& b = p.v[(i + 1) % p.n];
    twice += a.x * b.z - b.x * a.z;
  }
  return 0.5 * std::abs(twice);
}

bool valid_size(double l, double w) { return std::isfinite(l) && std::isfinite(w) && l > 0 && w > 0; }

// The footprint of a box in the x-z plane, counter-clockwise (positive signed area in x-z coordinates). A point
// (u, v) of the box's own frame (u along its length, v along its width) lies at
// (x + cos(ry) u + sin(ry) v, z - sin(ry) u + cos(ry) v): the rotation about the camera's y axis.
Polygon footprint(const KittiObject& o) {
  const double c = std::cos(static_cast<double>(o.rotation_y));
  const double s = std::sin(static_cast<double>(o.rotation_y));
  const double hl = 0.5 * static_cast<double>(o.l), hw = 0.5 * static_cast<double>(o.w);
  const double us[4] = {hl, -hl, -hl, hl};
  const double vs[4] = {hw, hw, -hw, -hw};
  Polygon p;
  p.n = 4;
  for (std::size_t i = 0; i < 4; ++i) {
    p.v[i] = {static_cast<double>(o.x) + c * us[i] + s * vs[i], static_cast<double>(o.z) - s * us[i] + c * vs[i]};
  }
  // Rotations keep the orientation; make it counter-clockwise whatever the order above gives.
  double twice = 0;
  for (std::size_t i = 0; i < 4; ++i) twice += cross(p.v[0], p.v[i], p.v[(i + 1) % 4]);
  if (twice < 0) std::reverse(p.v.begin(), p.v.begin() + 4);
  return p;
}

// Keeps the part of `subject` on the left of the directed line a -> b (Sutherland-Hodgman, one edge).
Polygon clip_by_edge(const Polygon& subject, const Point& a, const Point& b) {
  Polygon out;
  if (subject.n == 0) return out;
  for (std::size_t i = 0; i < subject.n; ++i) {
    const Point& p = subject.v[i];
    const Point& q = subject.v[(i + 1) % subject.n];
    const double dp = cross(a, b, p);
    const double dq = cross(a, b, q);
    if (dp >= 0) {
      if (out.n < out.v.size()) out.v[out.n++] = p;
    }
    if ((dp >= 0) != (dq >= 0)) {
      const double t = dp / (dp - dq);
      if (out.n < out.v.size()) out.v[out.n++] = {p.x + t * (q.x - p.x), p.z + t * (q.z - p.z)};
    }
  }
  return out;
}

// Area of the intersection of two boxes' footprints; 0 for degenerate sizes or far-apart boxes.
double ground_intersection(const KittiObject& a, const KittiObject& b) {
  const double la = a.l, wa = a.w, lb = b.l, wb = b.w;
  if (!valid_size(la, wa) || !valid_size(lb, wb)) return 0;
  const double dx = static_cast<double>(a.x) - static_cast<double>(b.x);
  const double dz = static_cast<double>(a.z) - static_cast<double>(b.z);
  const double reach = 0.5 * (std::hypot(la, wa) + std::hypot(lb, wb));
  if (!(dx * dx + dz * dz <= reach * reach)) return 0;  // also rejects non-finite centres
  const Polygon pa = footprint(a);
  Polygon clipped = footprint(b);
  for (std::size_t i = 0; i < pa.n && clipped.n > 0; ++i) clipped = clip_by_edge(clipped, pa.v[i], pa.v[(i + 1) % pa.n]);
  if (clipped.n < 3) return 0;
  return polygon_area(clipped);
}

double bbox_intersection(const KittiObject& a, const KittiObject& b) {
  const double w = std::min<double>(a.bbox[2], b.bbox[2]) - std::max<double>(a.bbox[0], b.bbox[0]);
  const double h = std::min<double>(a.bbox[3], b.bbox[3]) - std::max<double>(a.bbox[1], b.bbox[1]);
  if (!(w > 0 && h > 0)) return 0;
  return w * h;
}

double bbox_area(const KittiObject& o) {
  return (static_cast<double>(o.bbox[2]) - o.bbox[0]) * (static_cast<double>(o.bbox[3]) - o.bbox[1]);
}

double ratio(double intersection, double denominator) {
  if (!(intersection > 0) || !(denominator > 0)) return 0;
  return intersection / denominator;
}

}  // namespace

double kitti_iou_bbox(const KittiObject& a, const KittiObject& b) {
  const double inter = bbox_intersection(a, b);
  return ratio(inter, bbox_area(a) + bbox_area(b) - inter);
}

double kitti_bbox_overlap_of_first(const KittiObject& a, const KittiObject& b) {
  return ratio(bbox_intersection(a, b), bbox_area(a));
}

double kitti_iou_bev(const KittiObject& a, const KittiObject& b) {
  const double inter = ground_intersection(a, b);
  const double area_a = static_cast<double>(a.l) * a.w, area_b = static_cast<double>(b.l) * b.w;
  return ratio(inter, area_a + area_b - inter);
}

double kitti_iou_3d(const KittiObject& a, const KittiObject& b) {
  const double ha = a.h, hb = b.h;
  if (!(std::isfinite(ha) && std::isfinite(hb) && ha > 0 && hb > 0)) return 0;
  // Camera y points down and y is the bottom of the box: the box spans [y - h, y].
  const double top = std::max(static_cast<double>(a.y) - ha, static_cast<double>(b.y) - hb);
  const double bottom = std::min<double>(a.y, b.y);
  const double dy = bottom - top;
  if (!(dy > 0)) return 0;
  const double inter = ground_intersection(a, b) * dy;
  const double vol_a = static_cast<double>(a.l) * a.w * ha, vol_b = static_cast<double>(b.l) * b.w * hb;
  return ratio(inter, vol_a + vol_b - inter);
}

}  // namespace pointrt
