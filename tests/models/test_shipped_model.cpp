// The shipped default model (models/iassd_hvcsx2_kitti.safetensors, trained on simulated scenes; docs/model.md) on
// the sample frame shipped with the repository (KITTI training frame 000003, camera field of view): it must find the
// frame's one labelled car. Heading is not asserted: on real frames the model's headings are off by up to about one
// 30-degree bin (measured in docs/model.md).
#include <gtest/gtest.h>

#include <cmath>

#include "pointrt/detection.h"
#include "pointrt/engine.h"
#include "pointrt/pointcloud.h"
#include "support/test_data.h"

namespace {

using pointrt::testing::source_path;

TEST(ShippedModel, FindsTheLabelledCarOfTheSampleFrame) {
  pointrt::BuildOptions o;
  o.target = pointrt::Target::CPU;
  pointrt::Engine engine(pointrt::Plan::build(source_path("models/iassd_hvcsx2_kitti.json"),
                                              source_path("models/iassd_hvcsx2_kitti.safetensors"), o));
  const auto frame = pointrt::preprocess(pointrt::read_point_cloud(source_path("data/sample/kitti_000003.bin")),
                                         engine.preprocess_options());
  const auto dets = engine.detect({frame});
  ASSERT_EQ(dets.size(), 1u);

  // KITTI's label_2/000003.txt: its only object (the rest of the file is DontCare).
  const auto gt = pointrt::parse_kitti_labels(
      "Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62\n", "label_2/000003.txt");
  ASSERT_EQ(gt.size(), 1u);
  const auto calib = pointrt::read_kitti_calib(source_path("data/sample/kitti_000003_calib.txt"));
  const pointrt::Box3D car = pointrt::to_lidar_box(gt[0], calib);

  const pointrt::Detection* best = nullptr;
  double best_d = 1e9;
  for (const auto& d : dets[0]) {
    const double dist = std::hypot(d.box.x - car.x, d.box.y - car.y);
    if (dist < best_d) best_d = dist, best = &d;
  }
  ASSERT_NE(best, nullptr) << "no detection at all";
  EXPECT_LT(best_d, 0.5) << "nearest detection " << best_d << " m from the labelled car";
  EXPECT_EQ(best->label, 1) << "class of the nearest detection";
  EXPECT_GE(best->score, 0.5f);
  EXPECT_NEAR(best->box.dx, car.dx, 0.5);
  EXPECT_NEAR(best->box.dy, car.dy, 0.3);
  EXPECT_NEAR(best->box.dz, car.dz, 0.3);
  EXPECT_NEAR(best->box.z, car.z, 0.3);
}

}  // namespace
