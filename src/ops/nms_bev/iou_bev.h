// Rotated bird's-eye-view geometry shared by the NMSBEV CPU reference and its CUDA kernels.
//
// Everything here is written once as inline functions that compile for the host and the device, in float32 with
// only +, -, *, / (no FMA contraction on either side: the library builds with -ffp-contract=off / -fmad=false and
// IEEE division), so the CPU and the GPU compute bit-identical IoU values and therefore identical NMS decisions.
// sin/cos are not taken from libm or CUDA's math library (their results differ in the last bit); nms_sincos()
// below is our own float32 range reduction plus minimax polynomial, accurate to about 2 ulp for |heading| < 1e5.
// Double precision was the alternative, but libm and CUDA double sin/cos differ too, and float64 is slow on most
// GPUs this project targets (sm_86/87/89).
//
// IoU of two boxes (x, y, dx, dy, heading; corners rotated counter-clockwise by heading about the centre):
// the intersection area is computed exactly (up to float rounding) as the area of the convex polygon A ∩ B, from its
// boundary (each box's edges clipped to the other box, Green's theorem; see intersection_area), in coordinates
// relative to A's centre; points within 1e-6 x (box extents) of an edge line count as on it.
// IoU = inter / max(area_a + area_b - inter, kIouEps). No containment margin. A box with dx <= 0, dy <= 0,
// a non-finite x, y, dx, dy or heading, or |heading| >= 1e5 is degenerate: its IoU with everything is 0.
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define PT_HD __host__ __device__ __forceinline__
#else
#define PT_HD inline
#endif

namespace pointrt::ops::nms_bev_detail {

constexpr float kIouEps = 1e-8f;        // lower bound of the union in the IoU denominator
constexpr float kMaxHeading = 1e5f;     // |heading| beyond this (or non-finite) makes a box degenerate

PT_HD float pt_abs(float v) { return v < 0.0f ? -v : v; }
PT_HD bool pt_finite(float v) { return v - v == 0.0f; }  // false for NaN and +-inf

// Round to nearest integer (ties away from zero is fine: any k works for the reduction), for |v| < 2^22.
PT_HD float pt_round(float v) {
  const float t = static_cast<float>(static_cast<int>(pt_abs(v) + 0.5f));
  return v < 0.0f ? -t : t;
}

// sin and cos of x in float32, identical on host and device. Valid for |x| < kMaxHeading (caller checks).
PT_HD void nms_sincos(float x, float* s_out, float* c_out) {
  // x = k * pi/2 + r, |r| <= pi/4 (+ rounding); pi/2 is split into three parts so that k * part1 and k * part2 are
  // exact for |k| < 2^16 (Cody-Waite reduction).
  const float k = pt_round(x * 0.636619772367581343f);
  const float r = ((x - k * 1.5703125f) - k * 4.837512969970703125e-4f) - k * 7.549789948768648e-8f;
  const float z = r * r;
  // Minimax polynomials on [-pi/4, pi/4].
  const float sr = r + r * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
  const float cr = (1.0f - 0.5f * z) + z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f + z * 2.443315711809948e-5f));
  const int q = static_cast<int>(k) & 3;  // two's complement: correct quadrant for negative k too
  float s, c;
  if (q == 0) {
    s = sr;
    c = cr;
  } else if (q == 1) {
    s = cr;
    c = -sr;
  } else if (q == 2) {
    s = -sr;
    c = -cr;
  } else {
    s = -cr;
    c = sr;
  }
  *s_out = s;
  *c_out = c;
}

// A box prepared for IoU tests: centre, unit axis (c, s), half sizes, half extents of its axis-aligned bounding box
// and its area (0 for a degenerate box).
struct alignas(16) BevBox {
  float cx, cy, c, s;
  float hx, hy, ex, ey;
  float area, pad0, pad1, pad2;
};

PT_HD BevBox make_bev_box(float x, float y, float dx, float dy, float heading) {
  BevBox b;
  b.pad0 = b.pad1 = b.pad2 = 0.0f;
  const bool ok = pt_finite(x) && pt_finite(y) && pt_finite(dx) && pt_finite(dy) && pt_finite(heading) &&
                  dx > 0.0f && dy > 0.0f && pt_abs(heading) < kMaxHeading;
  if (!ok) {
    b.cx = b.cy = b.hx = b.hy = b.ex = b.ey = b.area = b.s = 0.0f;
    b.c = 1.0f;
    return b;
  }
  float s, c;
  nms_sincos(heading, &s, &c);
  b.cx = x;
  b.cy = y;
  b.c = c;
  b.s = s;
  b.hx = 0.5f * dx;
  b.hy = 0.5f * dy;
  b.ex = b.hx * pt_abs(c) + b.hy * pt_abs(s);
  b.ey = b.hx * pt_abs(s) + b.hy * pt_abs(c);
  b.area = dx * dy;
  if (!(b.area > 0.0f) || !pt_finite(b.area)) b.area = 0.0f;  // underflow / overflow: treat as degenerate
  return b;
}

// Axis-aligned bounding box of a prepared box for the GPU's cheap pre-test: centre and half extents, with the
// extents of a degenerate box (area 0) set to kNoExtent so that every pre-test involving it rejects.
constexpr float kNoExtent = -3.0e38f;  // valid extents are <= sqrt(2) * FLT_MAX / 2 < 2.5e38, so any sum is < 0

struct alignas(16) BevAabb {
  float cx, cy, ex, ey;
};

PT_HD BevAabb make_bev_aabb(const BevBox& b) {
  BevAabb r;
  r.cx = b.cx;
  r.cy = b.cy;
  r.ex = b.area == 0.0f ? kNoExtent : b.ex;
  r.ey = b.area == 0.0f ? kNoExtent : b.ey;
  return r;
}

// false => intersection_area(a, b) == 0 exactly, hence IoU 0 (not > any threshold >= 0): either box is degenerate
// (intersection_area returns 0 on area == 0), or this is bit for bit the bounding-box test intersection_area starts
// with (same operands, same float expressions: b.cx - a.cx, a.ex + b.ex, ...). Only ever used to skip work.
PT_HD bool bev_aabb_may_overlap(const BevAabb& a, const BevAabb& b) {
  const float bx = b.cx - a.cx;
  const float by = b.cy - a.cy;
  return !(pt_abs(bx) >= a.ex + b.ex || pt_abs(by) >= a.ey + b.ey);
}

// Signed distances of the four points (x[k], y[k]) -- relative to A's centre -- inside the four edge half-planes of
// a box with centre (bx, by), axis (c, s) and half sizes (hx, hy); edges counter-clockwise: 0 bottom, 1 right,
// 2 top, 3 left; >= 0 is inside. Distances within `tol` of 0 are snapped to exactly 0 (on the edge's line).
PT_HD void side_distances(const float (&x)[4], const float (&y)[4], float bx, float by, float c, float s, float hx,
                          float hy, float tol, float (&d)[4][4]) {
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int k = 0; k < 4; ++k) {
    const float rx = x[k] - bx;
    const float ry = y[k] - by;
    const float lx = rx * c + ry * s;
    const float ly = ry * c - rx * s;
    d[k][0] = hy + ly;
    d[k][1] = hx - lx;
    d[k][2] = hy - ly;
    d[k][3] = hx + lx;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int e = 0; e < 4; ++e) {
      if (pt_abs(d[k][e]) <= tol) d[k][e] = 0.0f;
    }
  }
}

// Twice the shoelace contribution x_u * y_v - x_v * y_u of the part of segment p -> q that lies inside all four
// half-planes (distances dp, dq of its ends). A segment lying on a half-plane's line (both distances 0) counts as
// inside unless bit e of `drop_on_line` is set.
PT_HD float clipped_edge_term(float px, float py, float qx, float qy, const float (&dp)[4], const float (&dq)[4],
                              unsigned drop_on_line) {
  float t0 = 0.0f, t1 = 1.0f;
  bool empty = false;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int e = 0; e < 4; ++e) {
    const float a = dp[e], b = dq[e];
    if (a == 0.0f && b == 0.0f) {
      if ((drop_on_line >> e) & 1u) empty = true;
    } else if (a < 0.0f && b < 0.0f) {
      empty = true;
    } else if (a < 0.0f) {
      const float t = a / (a - b);  // entering
      t0 = t > t0 ? t : t0;
    } else if (b < 0.0f) {
      const float t = a / (a - b);  // leaving
      t1 = t < t1 ? t : t1;
    }
  }
  if (empty || !(t0 < t1)) return 0.0f;
  const float ux = t0 == 0.0f ? px : px + t0 * (qx - px);
  const float uy = t0 == 0.0f ? py : py + t0 * (qy - py);
  const float vx = t1 == 1.0f ? qx : px + t1 * (qx - px);
  const float vy = t1 == 1.0f ? qy : py + t1 * (qy - py);
  return ux * vy - vx * uy;
}

// Area of the intersection of two prepared boxes (0 when either is degenerate or they are apart), by Green's theorem:
// the boundary of A ∩ B is the part of A's boundary inside B plus the part of B's boundary inside A, both
// counter-clockwise, so the area is half the sum of the shoelace terms of the eight edges clipped (Liang-Barsky) to
// the other box. An edge of B lying on the line of an edge of A is dropped when both run the same way (A's edge
// already covers it; this keeps identical boxes from counting twice) and kept when they run opposite ways (the two
// cancel: boxes that only touch). Fixed-size, branch-light code: everything stays in registers on the GPU.
PT_HD float intersection_area(const BevBox& a, const BevBox& b) {
  if (a.area == 0.0f || b.area == 0.0f) return 0.0f;
  const float bx = b.cx - a.cx;
  const float by = b.cy - a.cy;
  if (pt_abs(bx) >= a.ex + b.ex || pt_abs(by) >= a.ey + b.ey) return 0.0f;  // bounding boxes apart or touching

  // Corners relative to A's centre, counter-clockwise: (-hx,-hy), (hx,-hy), (hx,hy), (-hx,hy) rotated.
  const float aux = a.hx * a.c, auy = a.hx * a.s, avx = -a.hy * a.s, avy = a.hy * a.c;
  const float bux = b.hx * b.c, buy = b.hx * b.s, bvx = -b.hy * b.s, bvy = b.hy * b.c;
  const float ax[4] = {-aux - avx, aux - avx, aux + avx, -aux + avx};
  const float ay[4] = {-auy - avy, auy - avy, auy + avy, -auy + avy};
  const float qx[4] = {bx + (-bux - bvx), bx + (bux - bvx), bx + (bux + bvx), bx + (-bux + bvx)};
  const float qy[4] = {by + (-buy - bvy), by + (buy - bvy), by + (buy + bvy), by + (-buy + bvy)};
  const float tol = 1e-6f * (a.ex + a.ey + b.ex + b.ey + pt_abs(bx) + pt_abs(by));

  float da[4][4], db[4][4];
  side_distances(ax, ay, bx, by, b.c, b.s, b.hx, b.hy, tol, da);      // A's corners against B's edges
  side_distances(qx, qy, 0.0f, 0.0f, a.c, a.s, a.hx, a.hy, tol, db);  // B's corners against A's edges

  // Directions of the edges: A: +u, +v, -u, -v (u along its x axis); B likewise. Edge k of B runs the same way as
  // edge e of A when dot > 0.
  const float adx[4] = {aux, avx, -aux, -avx}, ady[4] = {auy, avy, -auy, -avy};
  const float bdx[4] = {bux, bvx, -bux, -bvx}, bdy[4] = {buy, bvy, -buy, -bvy};
  float twice = 0.0f;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int k = 0; k < 4; ++k) {
    const int k1 = (k + 1) & 3;
    twice += clipped_edge_term(ax[k], ay[k], ax[k1], ay[k1], da[k], da[k1], 0u);
  }
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int k = 0; k < 4; ++k) {
    const int k1 = (k + 1) & 3;
    unsigned drop = 0u;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int e = 0; e < 4; ++e) {
      if (bdx[k] * adx[e] + bdy[k] * ady[e] > 0.0f) drop |= 1u << e;
    }
    twice += clipped_edge_term(qx[k], qy[k], qx[k1], qy[k1], db[k], db[k1], drop);
  }
  const float area = 0.5f * twice;
  return area > 0.0f ? area : 0.0f;
}

PT_HD float iou_prepared(const BevBox& a, const BevBox& b) {
  const float inter = intersection_area(a, b);
  if (inter == 0.0f) return 0.0f;
  float uni = a.area + b.area - inter;
  if (uni < kIouEps) uni = kIouEps;
  return inter / uni;
}

// IoU of two raw boxes given as (x, y, z, dx, dy, dz, heading, ...) rows.
PT_HD float iou_bev(const float* box_a, const float* box_b) {
  const BevBox a = make_bev_box(box_a[0], box_a[1], box_a[3], box_a[4], box_a[6]);
  const BevBox b = make_bev_box(box_b[0], box_b[1], box_b[3], box_b[4], box_b[6]);
  return iou_prepared(a, b);
}

// Sort key of a score: ascending order of the key = descending score. -0 and +0 map to the same key (they compare
// equal, so ties between them go by index as for any equal scores). Only meaningful for non-NaN scores.
PT_HD std::uint32_t score_desc_key(float score) {
  std::uint32_t bits;
#ifdef __CUDA_ARCH__
  bits = __float_as_uint(score);
#else
  std::memcpy(&bits, &score, sizeof(bits));
#endif
  if (bits == 0x80000000u) bits = 0u;
  const std::uint32_t asc = (bits & 0x80000000u) != 0u ? ~bits : (bits | 0x80000000u);  // ascending with score
  return ~asc;
}

}  // namespace pointrt::ops::nms_bev_detail
