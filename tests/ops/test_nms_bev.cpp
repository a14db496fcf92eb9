// NMSBEV: rotated BEV IoU against a float64 Sutherland-Hodgman oracle, the CPU reference against an independent
// greedy oracle and NMS properties (synthetic and jittered KITTI ground truth), CUDA against CPU (exact rows and
// nums, guard regions) and the error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/nms_bev/iou_bev.h"
#include "ops/nms_bev/nms_bev.h"
#include "ops/ops_test_util.h"
#include "pointrt/detection.h"
#include "pointrt/error.h"
#include "support/test_data.h"

#ifdef POINTRT_WITH_CUDA
#include "core/cuda_utils.h"
#endif

using namespace pointrt;
using pointrt::ops::NmsBevParams;

namespace {

constexpr double kPi = 3.14159265358979323846;

// ---- float64 oracle: Sutherland-Hodgman clipping of one rotated rectangle by another --------------------------
struct P2 {
  double x, y;
};

std::vector<P2> corners(const float* b) {
  const double c = std::cos(static_cast<double>(b[6])), s = std::sin(static_cast<double>(b[6]));
  const double hx = 0.5 * b[3], hy = 0.5 * b[4];
  const double lx[4] = {-hx, hx, hx, -hx}, ly[4] = {-hy, -hy, hy, hy};
  std::vector<P2> out;
  for (int k = 0; k < 4; ++k) out.push_back({b[0] + lx[k] * c - ly[k] * s, b[1] + lx[k] * s + ly[k] * c});
  return out;
}

double cross(P2 o, P2 a, P2 b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

double oracle_iou(const float* a, const float* b) {
  if (!(a[3] > 0 && a[4] > 0 && b[3] > 0 && b[4] > 0)) return 0.0;
  std::vector<P2> poly = corners(a);
  const std::vector<P2> clip = corners(b);
  for (int e = 0; e < 4 && !poly.empty(); ++e) {
    const P2 c0 = clip[e], c1 = clip[(e + 1) % 4];
    std::vector<P2> next;
    for (std::size_t i = 0; i < poly.size(); ++i) {
      const P2 cur = poly[i], prev = poly[(i + poly.size() - 1) % poly.size()];
      const double dc = cross(c0, c1, cur), dp = cross(c0, c1, prev);
      if (dc >= 0) {
        if (dp < 0) next.push_back({prev.x + (cur.x - prev.x) * dp / (dp - dc), prev.y + (cur.y - prev.y) * dp / (dp - dc)});
        next.push_back(cur);
      } else if (dp >= 0) {
        next.push_back({prev.x + (cur.x - prev.x) * dp / (dp - dc), prev.y + (cur.y - prev.y) * dp / (dp - dc)});
      }
    }
    poly = next;
  }
  double area = 0;
  for (std::size_t i = 0; i < poly.size(); ++i) {
    const P2 p = poly[i], q = poly[(i + 1) % poly.size()];
    area += p.x * q.y - q.x * p.y;
  }
  const double inter = std::max(0.0, 0.5 * area);
  const double uni = static_cast<double>(a[3]) * a[4] + static_cast<double>(b[3]) * b[4] - inter;
  return inter / std::max(uni, 1e-8);
}

std::vector<float> box(float x, float y, float dx, float dy, float h, float label = 1.f) {
  return {x, y, -1.f, dx, dy, 1.5f, h, label};
}

float iou(const std::vector<float>& a, const std::vector<float>& b) {
  return pointrt::ops::nms_bev_detail::iou_bev(a.data(), b.data());
}

// ---- inputs ---------------------------------------------------------------------------------------------------
struct Input {
  Tensor boxes;   // [B, N, 8]
  Tensor scores;  // [B, N]
};

Input make_input(const std::vector<std::vector<float>>& rows_per_item, const std::vector<std::vector<float>>& scores) {
  const std::int64_t b = static_cast<std::int64_t>(rows_per_item.size());
  const std::int64_t n = b == 0 ? 0 : static_cast<std::int64_t>(scores[0].size());
  std::vector<float> bx, sc;
  for (std::int64_t i = 0; i < b; ++i) {
    bx.insert(bx.end(), rows_per_item[i].begin(), rows_per_item[i].end());
    sc.insert(sc.end(), scores[i].begin(), scores[i].end());
  }
  return {Tensor::from_vector(bx, {b, n, 8}), Tensor::from_vector(sc, {b, n})};
}

// Uniformly scattered random boxes with some clusters, seeded.
Input random_input(int batch, int n, std::uint64_t seed, float extent = 20.f) {
  std::vector<std::vector<float>> rows(batch), scores(batch);
  for (int b = 0; b < batch; ++b) {
    std::mt19937_64 rng(seed * 1000003u + static_cast<std::uint64_t>(b));
    std::uniform_real_distribution<float> pos(-extent, extent), size(0.3f, 5.f), head(-3.2f, 3.2f), u(0.f, 1.f);
    for (int i = 0; i < n; ++i) {
      const std::vector<float> r = box(pos(rng), pos(rng), size(rng), size(rng), head(rng), 1.f + static_cast<float>(i % 3));
      rows[b].insert(rows[b].end(), r.begin(), r.end());
      scores[b].push_back(std::round(u(rng) * 64.f) / 64.f);  // coarse: many equal scores
    }
  }
  return make_input(rows, scores);
}

// Boxes jittered around the KITTI ground truth of frame (b % 6) for item b, seeded, with random scores.
Input kitti_jittered(int batch, int n, std::uint64_t seed) {
  std::vector<std::vector<float>> rows(batch), scores(batch);
  const std::string root = pointrt::testing::shared_data_dir() + "/kitti/training/";
  for (int b = 0; b < batch; ++b) {
    const std::string id = "00000" + std::to_string(b % 6);
    const KittiCalib calib = read_kitti_calib(root + "calib/" + id + ".txt");
    std::vector<Box3D> gt;
    std::vector<float> labels;
    for (const KittiObject& o : read_kitti_labels(root + "label_2/" + id + ".txt")) {
      if (o.type == "DontCare") continue;
      gt.push_back(to_lidar_box(o, calib));
      labels.push_back(o.type == "Car" ? 1.f : o.type == "Pedestrian" ? 2.f : 3.f);
    }
    std::mt19937_64 rng(seed * 7919u + static_cast<std::uint64_t>(b));
    std::normal_distribution<float> jit(0.f, 1.f);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int i = 0; i < n; ++i) {
      std::vector<float> r;
      if (gt.empty() || u(rng) < 0.1f) {  // background clutter
        r = box(70.f * u(rng), 80.f * u(rng) - 40.f, 0.5f + 4.f * u(rng), 0.5f + 2.f * u(rng), 6.28f * u(rng) - 3.14f);
      } else {
        const std::size_t k = static_cast<std::size_t>(rng() % gt.size());
        const Box3D& g = gt[k];
        r = std::vector<float>{g.x + 0.4f * jit(rng), g.y + 0.4f * jit(rng), g.z + 0.1f * jit(rng), g.dx * (1.f + 0.1f * jit(rng)),
             g.dy * (1.f + 0.1f * jit(rng)), g.dz * (1.f + 0.05f * jit(rng)), g.heading + 0.15f * jit(rng), labels[k]};
      }
      rows[b].insert(rows[b].end(), r.begin(), r.end());
      scores[b].push_back(u(rng));
    }
  }
  return make_input(rows, scores);
}

struct Output {
  Tensor boxes, scores, nums;
};

Output run_cpu(const Input& in, const NmsBevParams& p) {
  const std::int64_t b = in.boxes.dim(0);
  Output o{Tensor::empty({b, p.max_out, 8}, DType::F32), Tensor::empty({b, p.max_out}, DType::F32),
           Tensor::empty({b}, DType::I32)};
  // Garbage in the outputs first: the operator must overwrite everything.
  std::memset(o.boxes.data(), 0x7f, o.boxes.nbytes());
  std::memset(o.scores.data(), 0x7f, o.scores.nbytes());
  std::memset(o.nums.data(), 0x7f, o.nums.nbytes());
  pointrt::ops::nms_bev_cpu(in.boxes, in.scores, o.boxes, o.scores, o.nums, p);
  return o;
}

// Independent greedy oracle: indices kept per item, using std::stable_sort on float comparisons.
std::vector<std::vector<std::int64_t>> oracle_kept(const Input& in, const NmsBevParams& p) {
  const std::int64_t batch = in.boxes.dim(0), n = in.boxes.dim(1);
  const float* bx = in.boxes.data_as<float>();
  const float* sc = in.scores.data_as<float>();
  std::vector<std::vector<std::int64_t>> result(batch);
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<std::int64_t> cand;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!std::isnan(sc[b * n + i]) && sc[b * n + i] >= p.score_threshold) cand.push_back(i);
    }
    std::stable_sort(cand.begin(), cand.end(), [&](std::int64_t l, std::int64_t r) { return sc[b * n + l] > sc[b * n + r]; });
    if (p.pre_max > 0 && cand.size() > static_cast<std::size_t>(p.pre_max)) cand.resize(p.pre_max);
    for (std::int64_t j : cand) {
      if (static_cast<int>(result[b].size()) == p.max_out) break;
      bool keep = true;
      for (std::int64_t k : result[b]) {
        if (pointrt::ops::nms_bev_detail::iou_bev(bx + (b * n + k) * 8, bx + (b * n + j) * 8) > p.iou_threshold) {
          keep = false;
          break;
        }
      }
      if (keep) result[b].push_back(j);
    }
  }
  return result;
}

// Checks the CPU output against the oracle and the NMS properties; returns "" or the first problem.
std::string check_against_oracle(const Input& in, const Output& out, const NmsBevParams& p) {
  const auto kept = oracle_kept(in, p);
  const std::int64_t batch = in.boxes.dim(0), n = in.boxes.dim(1), P = p.max_out;
  const float* bx = in.boxes.data_as<float>();
  const float* sc = in.scores.data_as<float>();
  const float* ob = out.boxes.data_as<float>();
  const float* os = out.scores.data_as<float>();
  const std::int32_t* on = out.nums.data_as<std::int32_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::string where = "item " + std::to_string(b) + ": ";
    if (on[b] != static_cast<std::int32_t>(kept[b].size()))
      return where + "nums " + std::to_string(on[b]) + " vs oracle " + std::to_string(kept[b].size());
    if (on[b] > P) return where + "nums above P";
    for (std::int64_t k = 0; k < P; ++k) {
      const float* row = ob + (b * P + k) * 8;
      if (k < on[b]) {
        const std::int64_t j = kept[b][k];
        if (std::memcmp(row, bx + (b * n + j) * 8, 8 * sizeof(float)) != 0 || os[b * P + k] != sc[b * n + j])
          return where + "row " + std::to_string(k) + " is not box " + std::to_string(j);
        if (k > 0 && os[b * P + k] > os[b * P + k - 1]) return where + "scores not descending at " + std::to_string(k);
        if (!(os[b * P + k] >= p.score_threshold)) return where + "score below threshold kept";
        for (std::int64_t l = 0; l < k; ++l) {
          if (pointrt::ops::nms_bev_detail::iou_bev(ob + (b * P + l) * 8, row) > p.iou_threshold)
            return where + "kept rows " + std::to_string(l) + " and " + std::to_string(k) + " overlap";
        }
      } else {
        for (int c = 0; c < 8; ++c) {
          if (row[c] != 0.f) return where + "padding row " + std::to_string(k) + " not zero";
        }
        if (os[b * P + k] != 0.f) return where + "padding score not zero";
      }
    }
  }
  return "";
}

}  // namespace

// ================================ (a) IoU against the float64 oracle =============================================

TEST(NmsBevIou, SinCosMatchLibmClosely) {
  float worst = 0;
  for (int i = -200000; i <= 200000; ++i) {
    const float x = static_cast<float>(i) * 1e-4f;  // [-20, 20]
    float s, c;
    pointrt::ops::nms_bev_detail::nms_sincos(x, &s, &c);
    worst = std::max(worst, static_cast<float>(std::fabs(s - std::sin(static_cast<double>(x)))));
    worst = std::max(worst, static_cast<float>(std::fabs(c - std::cos(static_cast<double>(x)))));
  }
  EXPECT_LT(worst, 3e-7f);
}

TEST(NmsBevIou, RandomRotatedBoxesMatchDoubleOracle) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> pos(-3.f, 3.f), size(0.2f, 5.f), head(-7.f, 7.f), off(-60.f, 60.f);
  int overlapping = 0;
  double worst = 0;
  for (int t = 0; t < 20000; ++t) {
    const float ox = off(rng), oy = off(rng);
    const auto a = box(ox + pos(rng), oy + pos(rng), size(rng), size(rng), head(rng));
    const auto b = box(ox + pos(rng), oy + pos(rng), size(rng), size(rng), head(rng));
    const double expect = oracle_iou(a.data(), b.data());
    const float got = iou(a, b);
    overlapping += expect > 0 ? 1 : 0;
    worst = std::max(worst, std::fabs(got - expect));
    ASSERT_NEAR(got, expect, 1e-5) << "case " << t;
    ASSERT_NEAR(iou(b, a), expect, 1e-5) << "case " << t << " (swapped)";
  }
  EXPECT_GT(overlapping, 5000);  // the test exercised real overlaps
  RecordProperty("max_abs_error", std::to_string(worst));
}

TEST(NmsBevIou, SpecialConfigurations) {
  const auto a = box(10.f, -5.f, 4.f, 2.f, 0.3f);
  EXPECT_NEAR(iou(a, a), 1.0, 1e-6);                                            // identical
  EXPECT_EQ(iou(a, box(20.f, -5.f, 4.f, 2.f, 0.3f)), 0.f);                      // disjoint
  EXPECT_NEAR(iou(box(0, 0, 4, 4, 0), box(0.5f, 0.5f, 1, 2, 0.7f)), 2.0 / 16.0, 1e-6);  // contained
  EXPECT_EQ(iou(box(0, 0, 2, 2, 0), box(2, 0, 2, 2, 0)), 0.f);                  // touching edge
  EXPECT_EQ(iou(box(0, 0, 2, 2, 0), box(2, 2, 2, 2, 0)), 0.f);                  // touching corner
  EXPECT_NEAR(iou(box(0, 0, 4, 2, 0), box(0, 0, 4, 2, static_cast<float>(kPi / 2))), 4.0 / 12.0, 1e-6);  // 90 deg
  EXPECT_NEAR(iou(box(0, 0, 2, 2, 0), box(0, 0, 2, 2, static_cast<float>(kPi / 4))),
              oracle_iou(box(0, 0, 2, 2, 0).data(), box(0, 0, 2, 2, static_cast<float>(kPi / 4)).data()), 1e-6);
  EXPECT_NEAR(iou(box(0, 0, 2, 2, 0), box(1, 0, 2, 2, 0)), 2.0 / 6.0, 1e-6);    // half shifted
  EXPECT_NEAR(iou(box(0, 0, 2, 2, 0), box(1, 0, 2, 2, static_cast<float>(2 * kPi))), 2.0 / 6.0, 1e-5);
  // Collinear edges: partly overlapping along a shared line, same and opposite directions, also rotated.
  EXPECT_NEAR(iou(box(1, 0.5f, 2, 1, 0), box(2, 0.5f, 2, 1, 0)), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(iou(box(1, 0.5f, 2, 1, 0), box(2, 0.5f, 2, 1, static_cast<float>(kPi))), 1.0 / 3.0, 1e-6);
  {
    const float h = 0.3f, c = std::cos(h), s = std::sin(h);
    const auto r0 = box(30.f, 10.f, 4.f, 2.f, h), r1 = box(30.f - 2.f * s, 10.f + 2.f * c, 4.f, 2.f, h);  // stacked
    EXPECT_NEAR(iou(r0, r1), oracle_iou(r0.data(), r1.data()), 1e-5);
    EXPECT_LT(iou(r0, r1), 1e-5f);
    const auto r2 = box(30.f + 1.f * c, 10.f + 1.f * s, 2.f, 2.f, h);  // inside r0, sharing three edge lines
    EXPECT_NEAR(iou(r0, r2), 0.5, 1e-5);
    EXPECT_NEAR(iou(r2, r0), 0.5, 1e-5);
  }
  // Degenerate boxes have IoU 0 with everything, themselves included.
  EXPECT_EQ(iou(box(0, 0, 0, 2, 0), box(0, 0, 0, 2, 0)), 0.f);
  EXPECT_EQ(iou(box(0, 0, 2, -1, 0), a), 0.f);
  EXPECT_EQ(iou(box(0, 0, 2, 2, std::numeric_limits<float>::quiet_NaN()), box(0, 0, 2, 2, 0)), 0.f);
  EXPECT_EQ(iou(box(std::numeric_limits<float>::infinity(), 0, 2, 2, 0), box(0, 0, 2, 2, 0)), 0.f);
  // Identical boxes at KITTI distances: IoU ~ 1.
  EXPECT_NEAR(iou(box(69.f, 39.f, 3.9f, 1.6f, -2.9f), box(69.f, 39.f, 3.9f, 1.6f, -2.9f)), 1.0, 1e-5);
}

TEST(NmsBevIou, TinyOverlapsAgreeWithOracle) {
  // Boxes that barely touch after rotation: the result is tiny and close to the oracle.
  for (int i = 0; i < 100; ++i) {
    const float gap = -1e-3f + 2e-5f * static_cast<float>(i);
    const auto a = box(0, 0, 2, 2, 0), b = box(2.f + gap, 0.5f, 2, 2, 0.01f * static_cast<float>(i % 7));
    EXPECT_NEAR(iou(a, b), oracle_iou(a.data(), b.data()), 1e-5) << i;
  }
}

// ================================ (b) CPU reference ==============================================================

TEST(NmsBevCpu, RandomBoxesMatchGreedyOracleAndProperties) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    const Input in = random_input(3, 300 + 37 * static_cast<int>(seed), seed, 10.f);
    NmsBevParams p;
    p.iou_threshold = seed % 2 == 0 ? 0.01f : 0.3f;
    p.max_out = seed == 3 ? 7 : 256;
    p.pre_max = seed == 4 ? 50 : 4096;
    const Output out = run_cpu(in, p);
    EXPECT_EQ(check_against_oracle(in, out, p), "") << "seed " << seed;
    if (seed == 3) {
      for (int b = 0; b < 3; ++b) EXPECT_EQ(out.nums.data_as<std::int32_t>()[b], 7);
    }
  }
}

TEST(NmsBevCpu, KittiJitteredMatchGreedyOracleAndEveryDropIsExplained) {
  POINTRT_REQUIRE_SHARED_DATA();
  const Input in = kitti_jittered(6, 1000, 5);
  NmsBevParams p;
  const Output out = run_cpu(in, p);
  EXPECT_EQ(check_against_oracle(in, out, p), "");
  // Every dropped candidate (score >= threshold) overlaps a kept box that comes before it in score order.
  const std::int64_t n = 1000, P = p.max_out;
  const float* bx = in.boxes.data_as<float>();
  const float* sc = in.scores.data_as<float>();
  const float* ob = out.boxes.data_as<float>();
  const float* os = out.scores.data_as<float>();
  int dropped = 0;
  for (int b = 0; b < 6; ++b) {
    const int nums = out.nums.data_as<std::int32_t>()[b];
    EXPECT_GT(nums, 0);
    ASSERT_LT(nums, P);  // did not hit P, so every drop must be explained by an overlap
    for (std::int64_t i = 0; i < n; ++i) {
      const float s = sc[b * n + i];
      if (!(s >= p.score_threshold)) continue;
      const float* row = bx + (b * n + i) * 8;
      bool kept = false, explained = false;
      for (int k = 0; k < nums; ++k) {
        const float* kr = ob + (b * P + k) * 8;
        if (std::memcmp(kr, row, 32) == 0 && os[b * P + k] == s) kept = true;
        if (os[b * P + k] >= s && pointrt::ops::nms_bev_detail::iou_bev(kr, row) > p.iou_threshold) explained = true;
      }
      if (!kept) {
        ++dropped;
        EXPECT_TRUE(explained) << "item " << b << " box " << i << " dropped without an overlapping kept box";
      }
    }
  }
  EXPECT_GT(dropped, 1000);  // real overlap in the input
}

TEST(NmsBevCpu, ThresholdsTiesDuplicatesAndPadding) {
  NmsBevParams p;
  p.max_out = 6;
  // 0,1: identical boxes, equal score -> index 0 kept, 1 suppressed. 2: score exactly at the threshold -> kept.
  // 3: just below -> never kept. 4: NaN -> never. 5: far away, equal score to 0 but higher index -> after 0.
  // 6: score -0, below the threshold. 7: overlaps 5 slightly (IoU ~0.0025 < 0.01) -> kept.
  std::vector<float> rows;
  const std::vector<std::vector<float>> bs = {box(0, 0, 4, 2, 0),   box(0, 0, 4, 2, 0),   box(10, 0, 1, 1, 0),
                                              box(20, 0, 1, 1, 0),  box(30, 0, 1, 1, 0),  box(40, 0, 2, 2, 0),
                                              box(50, 0, 1, 1, 0),  box(41.99f, 0, 2, 2, 0)};
  for (const auto& b : bs) rows.insert(rows.end(), b.begin(), b.end());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scores = {0.9f, 0.9f, 0.1f, std::nextafter(0.1f, 0.f), nan, 0.9f, -0.f, 0.5f};
  const Input in = make_input({rows}, {scores});
  const Output out = run_cpu(in, p);
  ASSERT_EQ(out.nums.data_as<std::int32_t>()[0], 4);
  const float* ob = out.boxes.data_as<float>();
  const float* os = out.scores.data_as<float>();
  EXPECT_EQ(ob[0 * 8 + 0], 0.f);  // box 0
  EXPECT_EQ(ob[1 * 8 + 0], 40.f);  // box 5 (equal score, higher index)
  EXPECT_EQ(ob[2 * 8 + 0], 41.99f);  // box 7
  EXPECT_EQ(ob[3 * 8 + 0], 10.f);  // box 2 at the threshold
  EXPECT_EQ(os[3], 0.1f);
  for (int k = 4; k < 6; ++k) {
    EXPECT_EQ(os[k], 0.f);
    for (int c = 0; c < 8; ++c) EXPECT_EQ(ob[k * 8 + c], 0.f);
  }
  EXPECT_EQ(check_against_oracle(in, out, p), "");
  // Suppression is strict: IoU exactly at the threshold does not suppress. Boxes 2x2 shifted by 1: IoU = 1/3.
  NmsBevParams q;
  q.iou_threshold = iou(box(0, 0, 2, 2, 0), box(1, 0, 2, 2, 0));
  const Input pair = make_input({[] {
                                   std::vector<float> r = box(0, 0, 2, 2, 0), s = box(1, 0, 2, 2, 0);
                                   r.insert(r.end(), s.begin(), s.end());
                                   return r;
                                 }()},
                                {{0.5f, 0.4f}});
  EXPECT_EQ(run_cpu(pair, q).nums.data_as<std::int32_t>()[0], 2);
  q.iou_threshold = std::nextafter(q.iou_threshold, 0.f);
  EXPECT_EQ(run_cpu(pair, q).nums.data_as<std::int32_t>()[0], 1);
}

TEST(NmsBevCpu, AllIdenticalKeepsOneAndPreMaxCapsCandidates) {
  const int n = 200;
  std::vector<float> rows, scores;
  for (int i = 0; i < n; ++i) {
    const auto b = box(5, 5, 3, 1.5f, 0.4f);
    rows.insert(rows.end(), b.begin(), b.end());
    scores.push_back(0.7f);
  }
  const Input in = make_input({rows}, {scores});
  Output out = run_cpu(in, NmsBevParams{});
  EXPECT_EQ(out.nums.data_as<std::int32_t>()[0], 1);
  // Disjoint boxes, pre_max = 10: only the 10 best by score are considered.
  std::vector<float> r2, s2;
  for (int i = 0; i < n; ++i) {
    const auto b = box(static_cast<float>(3 * i), 0, 1, 1, 0);
    r2.insert(r2.end(), b.begin(), b.end());
    s2.push_back(0.2f + 0.001f * static_cast<float>((i * 37) % n));
  }
  NmsBevParams p;
  p.pre_max = 10;
  const Input in2 = make_input({r2}, {s2});
  out = run_cpu(in2, p);
  ASSERT_EQ(out.nums.data_as<std::int32_t>()[0], 10);
  EXPECT_EQ(check_against_oracle(in2, out, p), "");
  EXPECT_FLOAT_EQ(out.scores.data_as<float>()[9], 0.2f + 0.001f * 190.f);
  // pre_max = 0: no cap.
  p.pre_max = 0;
  EXPECT_EQ(run_cpu(in2, p).nums.data_as<std::int32_t>()[0], n);
}

TEST(NmsBevCpu, EmptyInputAndNoCandidates) {
  NmsBevParams p;
  const Input empty{Tensor::empty({2, 0, 8}, DType::F32), Tensor::empty({2, 0}, DType::F32)};
  Output out = run_cpu(empty, p);
  EXPECT_EQ(out.nums.data_as<std::int32_t>()[0], 0);
  EXPECT_EQ(out.nums.data_as<std::int32_t>()[1], 0);
  EXPECT_EQ(out.boxes.data_as<float>()[0], 0.f);
  const Input low = random_input(2, 50, 3);
  std::vector<float> s(100, 0.05f);
  const Input low2{low.boxes, Tensor::from_vector(s, {2, 50})};
  out = run_cpu(low2, p);
  EXPECT_EQ(out.nums.data_as<std::int32_t>()[1], 0);
  EXPECT_EQ(check_against_oracle(low2, out, p), "");
}

// ================================ (d) errors =====================================================================

TEST(NmsBevErrors, BadShapesAndParameters) {
  const Input in = random_input(2, 10, 1);
  NmsBevParams p;
  p.max_out = 4;
  Tensor ob = Tensor::empty({2, 4, 8}, DType::F32), os = Tensor::empty({2, 4}, DType::F32),
         on = Tensor::empty({2}, DType::I32);
  auto expect_error = [&](const Tensor& boxes, const Tensor& scores, Tensor& b, Tensor& s, Tensor& n,
                          const NmsBevParams& q, const std::string& needle) {
    try {
      pointrt::ops::nms_bev_cpu(boxes, scores, b, s, n, q);
      ADD_FAILURE() << "no error, expected one containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("nms_bev"), std::string::npos) << e.what();
    }
  };
  expect_error(in.boxes.reshape({2, 20, 4}), in.scores, ob, os, on, p, "boxes");
  expect_error(in.boxes, in.scores.reshape({2, 10, 1}), ob, os, on, p, "scores");
  expect_error(in.boxes, Tensor::empty({2, 9}, DType::F32), ob, os, on, p, "scores");
  expect_error(in.boxes, Tensor::empty({2, 10}, DType::I32), ob, os, on, p, "scores");
  Tensor ob_bad = Tensor::empty({2, 5, 8}, DType::F32);
  expect_error(in.boxes, in.scores, ob_bad, os, on, p, "out_boxes");
  Tensor os_bad = Tensor::empty({1, 4}, DType::F32);
  expect_error(in.boxes, in.scores, ob, os_bad, on, p, "out_scores");
  Tensor on_bad = Tensor::empty({2}, DType::F32);
  expect_error(in.boxes, in.scores, ob, os, on_bad, p, "nums");
  NmsBevParams q = p;
  q.max_out = 0;
  expect_error(in.boxes, in.scores, ob, os, on, q, "max_out");
  q = p;
  q.iou_threshold = std::numeric_limits<float>::quiet_NaN();
  expect_error(in.boxes, in.scores, ob, os, on, q, "iou_threshold");
  q = p;
  q.iou_threshold = 1.5f;
  expect_error(in.boxes, in.scores, ob, os, on, q, "iou_threshold");
  q = p;
  q.score_threshold = std::numeric_limits<float>::quiet_NaN();
  expect_error(in.boxes, in.scores, ob, os, on, q, "score_threshold");
  q = p;
  q.pre_max = -1;
  expect_error(in.boxes, in.scores, ob, os, on, q, "pre_max");
}

// ================================ (c) CUDA against CPU ===========================================================
// ================================ (b') the CUDA algorithm, emulated on the host =================================
// The CUDA kernels skip IoU work using first[j] (smallest earlier rank overlapping j) and "surely suppressed"
// candidates (first[first[j]] == -1), pre-test with bev_aabb_may_overlap and resolve the greedy 64 ranks at a time.
// This host emulation of exactly those rules must keep the same rows as the reference, also where P binds.
namespace {

std::vector<std::vector<std::int64_t>> emulate_cuda_kept(const Input& in, const NmsBevParams& p) {
  using namespace pointrt::ops::nms_bev_detail;
  const std::int64_t batch = in.boxes.dim(0), n = in.boxes.dim(1);
  const std::int64_t m_max = max_considered(n, p);
  std::vector<std::vector<std::int64_t>> out;
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* bx = in.boxes.data_as<float>() + b * n * 8;
    const float* sc = in.scores.data_as<float>() + b * n;
    // Ranks by counting smaller unique keys, as rank_select_kernel does.
    std::vector<std::uint64_t> key(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint64_t hi = sc[i] >= p.score_threshold ? score_desc_key(sc[i]) : 0xFFFFFFFFull;
      key[static_cast<std::size_t>(i)] = (hi << 32) | static_cast<std::uint64_t>(i);
    }
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < n; ++i) total += sc[i] >= p.score_threshold ? 1 : 0;
    const int cnt = static_cast<int>(std::min(total, m_max));
    std::vector<std::int64_t> order(static_cast<std::size_t>(cnt));
    for (std::int64_t j = 0; j < n; ++j) {
      if (!(sc[j] >= p.score_threshold)) continue;
      std::int64_t rank = 0;
      for (std::int64_t i = 0; i < n; ++i) rank += key[static_cast<std::size_t>(i)] < key[static_cast<std::size_t>(j)];
      if (rank < cnt) order[static_cast<std::size_t>(rank)] = j;
    }
    std::vector<BevBox> g(static_cast<std::size_t>(cnt));
    std::vector<BevAabb> a(static_cast<std::size_t>(cnt));
    for (int r = 0; r < cnt; ++r) {
      const float* row = bx + order[static_cast<std::size_t>(r)] * 8;
      g[static_cast<std::size_t>(r)] = make_bev_box(row[0], row[1], row[3], row[4], row[6]);
      a[static_cast<std::size_t>(r)] = make_bev_aabb(g[static_cast<std::size_t>(r)]);
    }
    const auto ov = [&](int i, int j) {
      return bev_aabb_may_overlap(a[static_cast<std::size_t>(i)], a[static_cast<std::size_t>(j)]) &&
             iou_prepared(g[static_cast<std::size_t>(i)], g[static_cast<std::size_t>(j)]) > p.iou_threshold;
    };
    std::vector<int> first(static_cast<std::size_t>(cnt), -1);
    for (int j = 0; j < cnt; ++j) {
      for (int i = 0; i < j; ++i) {
        if (ov(i, j)) {
          first[static_cast<std::size_t>(j)] = i;
          break;
        }
      }
    }
    const auto sure = [&](int j) {
      const int f = first[static_cast<std::size_t>(j)];
      return f >= 0 && first[static_cast<std::size_t>(f)] < 0;
    };
    const int nw = (cnt + 63) / 64;
    // Mask, with the mask kernel's rule; dead rows are zero.
    std::vector<std::uint64_t> mask(static_cast<std::size_t>(cnt) * static_cast<std::size_t>(nw), 0);
    for (int i = 0; i < cnt; ++i) {
      if (sure(i)) continue;
      for (int j = i + 1; j < cnt; ++j) {
        const int f = first[static_cast<std::size_t>(j)];
        const int colf = (f >= 0 && first[static_cast<std::size_t>(f)] >= 0) ? f : std::numeric_limits<int>::max();
        if (colf <= i && (colf == i || ov(i, j))) {
          mask[static_cast<std::size_t>(i) * nw + static_cast<std::size_t>(j / 64)] |= 1ull << (j % 64);
        }
      }
    }
    // Block-wise scan.
    std::vector<std::uint64_t> removed(static_cast<std::size_t>(nw), 0);
    for (int j = 0; j < cnt; ++j) {
      if (sure(j)) removed[static_cast<std::size_t>(j / 64)] |= 1ull << (j % 64);
    }
    const std::uint64_t tail = (cnt & 63) != 0 ? (1ull << (cnt & 63)) - 1ull : ~0ull;
    std::vector<std::int64_t> kept;
    for (int w = 0; w < nw && static_cast<int>(kept.size()) < p.max_out; ++w) {
      std::uint64_t avail = ~removed[static_cast<std::size_t>(w)] & (w == nw - 1 ? tail : ~0ull);
      std::uint64_t kept_bits = 0;
      while (avail != 0 && static_cast<int>(kept.size()) < p.max_out) {
        int c = 0;
        while (((avail >> c) & 1ull) == 0) ++c;
        kept_bits |= 1ull << c;
        const int i = w * 64 + c;
        kept.push_back(order[static_cast<std::size_t>(i)]);
        avail &= ~mask[static_cast<std::size_t>(i) * nw + static_cast<std::size_t>(w)] & ~((2ull << c) - 1ull);
      }
      for (int c = 0; c < 64; ++c) {
        if (((kept_bits >> c) & 1ull) == 0) continue;
        for (int w2 = w + 1; w2 < nw; ++w2) {
          removed[static_cast<std::size_t>(w2)] |= mask[static_cast<std::size_t>(w * 64 + c) * nw + static_cast<std::size_t>(w2)];
        }
      }
    }
    out.push_back(kept);
  }
  return out;
}

void expect_emulation_matches_cpu(const Input& in, const NmsBevParams& p, const std::string& what) {
  SCOPED_TRACE(what);
  const Output ref = run_cpu(in, p);
  const auto kept = emulate_cuda_kept(in, p);
  const std::int64_t n = in.boxes.dim(1);
  for (std::size_t b = 0; b < kept.size(); ++b) {
    ASSERT_EQ(static_cast<int>(kept[b].size()), ref.nums.data_as<std::int32_t>()[b]) << "item " << b;
    for (std::size_t k = 0; k < kept[b].size(); ++k) {
      const float* want = ref.boxes.data_as<float>() + (b * static_cast<std::size_t>(p.max_out) + k) * 8;
      const float* got = in.boxes.data_as<float>() + (static_cast<std::int64_t>(b) * n + kept[b][k]) * 8;
      ASSERT_EQ(std::memcmp(want, got, 8 * sizeof(float)), 0) << "item " << b << " row " << k;
    }
  }
}

}  // namespace

TEST(NmsBevAlgorithm, PrunedMaskAndBlockScanMatchReference) {
  NmsBevParams p;
  expect_emulation_matches_cpu(random_input(3, 777, 9, 8.f), p, "random, dense, equal scores");
  expect_emulation_matches_cpu(random_input(2, 600, 21, 40.f), p, "random sparse");
  p.max_out = 37;
  expect_emulation_matches_cpu(random_input(2, 700, 22, 30.f), p, "P binds");
  p.max_out = 256;
  p.pre_max = 100;
  expect_emulation_matches_cpu(random_input(2, 300, 23, 10.f), p, "pre_max");
  p = NmsBevParams{};
  p.iou_threshold = 0.f;
  expect_emulation_matches_cpu(random_input(1, 500, 24, 15.f), p, "iou threshold 0");
  p.iou_threshold = 0.5f;
  expect_emulation_matches_cpu(random_input(1, 500, 25, 6.f), p, "iou threshold 0.5");
  // Chains: boxes along a line, each overlapping its neighbours (first[] of first[] is not -1 most of the time).
  {
    std::vector<float> rows, scores;
    for (int i = 0; i < 200; ++i) {
      const auto b = box(0.7f * static_cast<float>(i), 0.f, 1.f, 1.f, 0.05f * static_cast<float>(i % 5));
      rows.insert(rows.end(), b.begin(), b.end());
      scores.push_back(1.f - 0.001f * static_cast<float>((i * 37) % 200));
    }
    expect_emulation_matches_cpu(make_input({rows}, {scores}), NmsBevParams{}, "chain");
  }
  if (pointrt::testing::shared_data_missing().empty()) {
    expect_emulation_matches_cpu(kitti_jittered(2, 1000, 3), NmsBevParams{}, "kitti jittered");
  }
}

#ifdef POINTRT_WITH_CUDA

namespace {

// Boxes along a line, each overlapping its neighbours, scores shuffled: long suppression chains inside and across
// 64-rank blocks (first[first[j]] != -1 most of the time).
Input chain_input(int n, float step) {
  std::vector<float> rows, scores;
  for (int i = 0; i < n; ++i) {
    const auto b = box(step * static_cast<float>(i), 0.f, 1.f, 1.f, 0.05f * static_cast<float>(i % 5));
    rows.insert(rows.end(), b.begin(), b.end());
    scores.push_back(1.f - 0.001f * static_cast<float>((i * 37) % n));
  }
  return make_input({rows}, {scores});
}


// Runs CUDA with guarded buffers and compares with the CPU reference: nums, rows and scores bit-exact.
void expect_cuda_matches_cpu(const Input& in, const NmsBevParams& p, const std::string& what) {
  SCOPED_TRACE(what);
  const Output ref = run_cpu(in, p);
  const std::int64_t b = in.boxes.dim(0), n = in.boxes.dim(1);
  pointrt::testing::GuardedDeviceTensor d_boxes(in.boxes), d_scores(in.scores);
  pointrt::testing::GuardedDeviceTensor d_ob({b, p.max_out, 8}, DType::F32), d_os({b, p.max_out}, DType::F32),
      d_on({b}, DType::I32);
  // Garbage in the outputs: the kernel must write every element.
  {
    Tensor junk = Tensor::empty({b, p.max_out, 8}, DType::F32);
    std::memset(junk.data(), 0x5a, junk.nbytes());
    d_ob.tensor().copy_from(junk);
    Tensor junk_s = Tensor::empty({b, p.max_out}, DType::F32);
    std::memset(junk_s.data(), 0x5a, junk_s.nbytes());
    d_os.tensor().copy_from(junk_s);
  }
  {
    Tensor junk_n = Tensor::empty({b}, DType::I32);
    std::memset(junk_n.data(), 0x5a, junk_n.nbytes());
    d_on.tensor().copy_from(junk_n);
  }
  pointrt::testing::GuardedWorkspace ws(pointrt::ops::nms_bev_workspace_bytes(b, n, p));
  // A non-blocking stream (no implicit ordering with the legacy stream); the workspace is dirtied on it first.
  pointrt::core::Stream stream;
  if (ws.get() != nullptr) POINTRT_CUDA_CHECK(cudaMemsetAsync(ws.get(), 0x5a, ws.size(), stream.get()));
  for (int rep = 0; rep < 2; ++rep) {  // twice: deterministic, and a reused workspace gives the same result
    pointrt::ops::nms_bev_cuda(d_boxes.tensor(), d_scores.tensor(), d_ob.tensor(), d_os.tensor(), d_on.tensor(), p,
                               ws.get(), ws.size(), stream.get());
    stream.synchronize();
    const Tensor nums = d_on.to_host(), boxes = d_ob.to_host(), scores = d_os.to_host();
    EXPECT_EQ(pointrt::testing::compare_exact_i32(ref.nums, nums), "") << "rep " << rep;
    EXPECT_EQ(std::memcmp(ref.boxes.data(), boxes.data(), boxes.nbytes()), 0) << "rows differ, rep " << rep;
    EXPECT_EQ(std::memcmp(ref.scores.data(), scores.data(), scores.nbytes()), 0) << "scores differ, rep " << rep;
  }
  EXPECT_TRUE(d_boxes.guards_intact());
  EXPECT_TRUE(d_scores.guards_intact());
  EXPECT_TRUE(d_ob.guards_intact());
  EXPECT_TRUE(d_os.guards_intact());
  EXPECT_TRUE(d_on.guards_intact());
  EXPECT_TRUE(ws.guards_intact());
}

}  // namespace

TEST(NmsBevCuda, KittiJitteredMatchesCpu) {
  POINTRT_REQUIRE_CUDA();
  POINTRT_REQUIRE_SHARED_DATA();
  NmsBevParams p;
  expect_cuda_matches_cpu(kitti_jittered(1, 256, 1), p, "B=1 N=256");
  expect_cuda_matches_cpu(kitti_jittered(4, 256, 2), p, "B=4 N=256");
  expect_cuda_matches_cpu(kitti_jittered(1, 4096, 3), p, "B=1 N=4096");
  expect_cuda_matches_cpu(kitti_jittered(4, 4096, 4), p, "B=4 N=4096");
  p.iou_threshold = 0.5f;
  expect_cuda_matches_cpu(kitti_jittered(4, 1000, 5), p, "B=4 N=1000 iou 0.5");
  p.max_out = 500;
  p.iou_threshold = 0.01f;
  expect_cuda_matches_cpu(kitti_jittered(2, 5000, 6), p, "B=2 N=5000 P=500 (general sort path)");
  p.pre_max = 0;
  expect_cuda_matches_cpu(kitti_jittered(2, 5000, 7), p, "B=2 N=5000 P=500 pre_max=0");
}

TEST(NmsBevCuda, RandomAndAdversarialMatchCpu) {
  POINTRT_REQUIRE_CUDA();
  NmsBevParams p;
  expect_cuda_matches_cpu(random_input(3, 777, 9, 8.f), p, "random, many equal scores, N=777");
  p.max_out = 500;
  expect_cuda_matches_cpu(random_input(2, 5000, 10, 60.f), p, "random N=5000 P=500 (P binds)");
  p = NmsBevParams{};
  p.pre_max = 100;
  expect_cuda_matches_cpu(random_input(2, 1000, 11, 40.f), p, "pre_max 100");
  p = NmsBevParams{};
  // All boxes identical, all scores equal.
  {
    std::vector<float> rows, scores;
    for (int i = 0; i < 300; ++i) {
      const auto b = box(1, 2, 3, 1, 0.5f);
      rows.insert(rows.end(), b.begin(), b.end());
      scores.push_back(0.5f);
    }
    expect_cuda_matches_cpu(make_input({rows, rows}, {scores, scores}), p, "identical");
  }
  // All scores equal, disjoint boxes (order purely by index), N not a multiple of 64, P binds.
  {
    std::vector<float> rows, scores;
    for (int i = 0; i < 333; ++i) {
      const auto b = box(static_cast<float>(i % 20) * 3.f, static_cast<float>(i / 20) * 3.f, 1, 1, 0.1f * i);
      rows.insert(rows.end(), b.begin(), b.end());
      scores.push_back(0.25f);
    }
    expect_cuda_matches_cpu(make_input({rows}, {scores}), p, "equal scores disjoint");
  }
  // No candidate above the threshold; N = 1 (kept and not kept); one item empty of candidates in a batch.
  {
    const Input r = random_input(2, 100, 12);
    expect_cuda_matches_cpu({r.boxes, Tensor::zeros({2, 100}, DType::F32)}, p, "no candidates");
    const auto b = box(0, 0, 1, 1, 0);
    expect_cuda_matches_cpu(make_input({b}, {{0.5f}}), p, "N=1 kept");
    expect_cuda_matches_cpu(make_input({b}, {{0.05f}}), p, "N=1 below threshold");
    std::vector<float> s(200, 0.f);
    for (int i = 100; i < 200; ++i) s[i] = r.scores.data_as<float>()[i];
    expect_cuda_matches_cpu({r.boxes, Tensor::from_vector(s, {2, 100})}, p, "item 0 empty");
  }
  // NaN scores, degenerate boxes, -0 vs +0 scores with threshold 0.
  {
    Input r = random_input(1, 130, 13, 3.f);
    float* s = r.scores.data_as<float>();
    float* bx = r.boxes.data_as<float>();
    for (int i = 0; i < 130; i += 7) s[i] = std::numeric_limits<float>::quiet_NaN();
    for (int i = 3; i < 130; i += 11) bx[i * 8 + 3] = 0.f;
    for (int i = 5; i < 130; i += 13) s[i] = (i % 2 == 0) ? -0.f : 0.f;
    NmsBevParams q;
    q.score_threshold = 0.f;
    expect_cuda_matches_cpu(r, q, "NaN, degenerate, signed zeros");
  }
  // Empty input.
  expect_cuda_matches_cpu({Tensor::empty({2, 0, 8}, DType::F32), Tensor::empty({2, 0}, DType::F32)}, p, "N=0");
}

// Small N (the model's N = 256 up to 512) at B = 1 and B > 1 with the adversarial cases: ties, NaN / inf scores,
// degenerate boxes, all suppressed, nothing passing, P binding, pre_max; non-blocking stream, garbage-prefilled
// outputs, guard regions (expect_cuda_matches_cpu). These shapes were also the fast path's test set (nms_bev.cu).
TEST(NmsBevCuda, SmallNAdversarialMatchCpu) {
  POINTRT_REQUIRE_CUDA();
  NmsBevParams p;
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  if (pointrt::testing::shared_data_missing().empty()) {
    expect_cuda_matches_cpu(kitti_jittered(1, 256, 11), p, "kitti B=1 N=256");
    expect_cuda_matches_cpu(kitti_jittered(8, 256, 12), p, "kitti B=8 N=256");
    expect_cuda_matches_cpu(kitti_jittered(1, 512, 13), p, "kitti B=1 N=512");
    expect_cuda_matches_cpu(kitti_jittered(6, 512, 14), p, "kitti B=6 N=512");
    expect_cuda_matches_cpu(kitti_jittered(2, 300, 15), p, "kitti B=2 N=300");
  }
  expect_cuda_matches_cpu(random_input(1, 256, 40, 6.f), p, "random B=1 N=256, many ties");
  expect_cuda_matches_cpu(random_input(5, 256, 41, 12.f), p, "random B=5 N=256, many ties");
  expect_cuda_matches_cpu(random_input(2, 512, 42, 20.f), p, "random B=2 N=512, many ties");
  for (int n : {1, 2, 31, 63, 64, 65, 127, 129, 300, 511}) {
    expect_cuda_matches_cpu(random_input(2, n, 43 + static_cast<std::uint64_t>(n), 5.f), p,
                            "random N=" + std::to_string(n));
  }
  expect_cuda_matches_cpu(chain_input(256, 0.7f), p, "chain N=256");
  expect_cuda_matches_cpu(chain_input(512, 0.45f), p, "chain N=512");
  expect_cuda_matches_cpu(chain_input(400, 0.2f), p, "chain N=400, step 0.2");
  {
    NmsBevParams q;
    q.max_out = 37;
    expect_cuda_matches_cpu(random_input(3, 500, 44, 30.f), q, "P binds inside a 64-rank block");
    q.max_out = 1;
    expect_cuda_matches_cpu(random_input(2, 256, 45, 30.f), q, "P = 1");
    q = NmsBevParams{};
    q.pre_max = 100;
    expect_cuda_matches_cpu(random_input(2, 400, 46, 40.f), q, "pre_max 100");
    q.pre_max = 0;
    q.max_out = 500;
    expect_cuda_matches_cpu(random_input(2, 512, 47, 60.f), q, "pre_max 0, P 500");
    q.max_out = 512;
    expect_cuda_matches_cpu(random_input(2, 512, 52, 80.f), q, "P = N = 512");
    q = NmsBevParams{};
    q.iou_threshold = 0.f;
    expect_cuda_matches_cpu(random_input(2, 512, 48, 15.f), q, "iou threshold 0");
    q.iou_threshold = 0.5f;
    expect_cuda_matches_cpu(random_input(2, 512, 49, 6.f), q, "iou threshold 0.5");
  }
  // All identical boxes and scores (everything after index 0 suppressed), at N = 256 and the maximum.
  for (int n : {256, 512}) {
    std::vector<float> rows, scores;
    for (int i = 0; i < n; ++i) {
      const auto b = box(1, 2, 3, 1, 0.5f);
      rows.insert(rows.end(), b.begin(), b.end());
      scores.push_back(0.5f);
    }
    expect_cuda_matches_cpu(make_input({rows, rows}, {scores, scores}), p, "all suppressed N=" + std::to_string(n));
  }
  // Equal scores, disjoint boxes: order purely by index, P binds at the maximum N.
  {
    std::vector<float> rows, scores;
    for (int i = 0; i < 512; ++i) {
      const auto b = box(static_cast<float>(i % 32) * 3.f, static_cast<float>(i / 32) * 3.f, 1, 1, 0.1f * i);
      rows.insert(rows.end(), b.begin(), b.end());
      scores.push_back(0.25f);
    }
    expect_cuda_matches_cpu(make_input({rows}, {scores}), p, "equal scores disjoint N=512 (P binds)");
  }
  // No candidate passes the threshold; one item without candidates in a batch.
  {
    const Input r = random_input(3, 256, 50);
    std::vector<float> low(3 * 256, 0.05f);
    expect_cuda_matches_cpu({r.boxes, Tensor::from_vector(low, {3, 256})}, p, "none passing");
    for (int i = 256; i < 3 * 256; ++i) low[static_cast<std::size_t>(i)] = r.scores.data_as<float>()[i];
    expect_cuda_matches_cpu({r.boxes, Tensor::from_vector(low, {3, 256})}, p, "item 0 without candidates");
  }
  // NaN / inf scores, degenerate boxes (zero / negative / NaN / inf sizes and coordinates), signed zeros.
  for (int n : {256, 512}) {
    Input r = random_input(2, n, 51 + static_cast<std::uint64_t>(n), 4.f);
    float* s = r.scores.data_as<float>();
    float* bx = r.boxes.data_as<float>();
    for (int i = 0; i < 2 * n; i += 7) s[i] = nan;
    for (int i = 1; i < 2 * n; i += 17) s[i] = inf;
    for (int i = 2; i < 2 * n; i += 19) s[i] = -inf;
    for (int i = 5; i < 2 * n; i += 13) s[i] = (i % 2 == 0) ? -0.f : 0.f;
    for (int i = 3; i < 2 * n; i += 11) bx[i * 8 + 3] = 0.f;
    for (int i = 4; i < 2 * n; i += 23) bx[i * 8 + 4] = -1.f;
    for (int i = 6; i < 2 * n; i += 29) bx[i * 8 + 0] = nan;
    for (int i = 8; i < 2 * n; i += 31) bx[i * 8 + 6] = inf;
    for (int i = 9; i < 2 * n; i += 37) bx[i * 8 + 1] = -inf;
    NmsBevParams q;
    q.score_threshold = 0.f;
    expect_cuda_matches_cpu(r, q, "NaN/inf scores, degenerate boxes, signed zeros, N=" + std::to_string(n));
    q.score_threshold = -inf;
    expect_cuda_matches_cpu(r, q, "threshold -inf, N=" + std::to_string(n));
  }
}

TEST(NmsBevCuda, BadWorkspaceAndDeviceAreErrors) {
  POINTRT_REQUIRE_CUDA();
  const Input in = random_input(1, 64, 1);
  NmsBevParams p;
  pointrt::testing::GuardedDeviceTensor d_boxes(in.boxes), d_scores(in.scores);
  pointrt::testing::GuardedDeviceTensor d_ob({1, p.max_out, 8}, DType::F32), d_os({1, p.max_out}, DType::F32),
      d_on({1}, DType::I32);
  try {
    pointrt::ops::nms_bev_cuda(d_boxes.tensor(), d_scores.tensor(), d_ob.tensor(), d_os.tensor(), d_on.tensor(), p,
                               nullptr, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("workspace"), std::string::npos) << e.what();
  }
  try {  // host tensors to the CUDA entry point
    Tensor ob = Tensor::empty({1, p.max_out, 8}, DType::F32), os = Tensor::empty({1, p.max_out}, DType::F32),
           on = Tensor::empty({1}, DType::I32);
    pointrt::ops::nms_bev_cuda(in.boxes, in.scores, ob, os, on, p, nullptr, 0, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nms_bev: boxes"), std::string::npos) << e.what();
  }
}

#endif  // POINTRT_WITH_CUDA
