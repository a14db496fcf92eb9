// pointrt — detections and the files they are written to (KITTI label_2, JSON).
//
// Boxes follow the OpenPCDet LiDAR convention: x, y, z is the centre, dx, dy, dz the sizes along the box's own
// axes, heading the rotation about +z in radians (counter-clockwise from +x). Class labels start at 1.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "pointrt/pointcloud.h"

namespace pointrt {

struct Box3D {
  float x = 0, y = 0, z = 0;     // centre, LiDAR frame, metres
  float dx = 0, dy = 0, dz = 0;  // length, width, height, metres
  float heading = 0;             // radians about +z
};

struct Detection {
  Box3D box;
  float score = 0;
  int label = 0;  // 1-based class id (Car = 1, Pedestrian = 2, Cyclist = 3 for the KITTI models)
};

// ---- KITTI calibration ---------------------------------------------------------------------------------------

// The matrices of a KITTI `calib/NNNNNN.txt` file that pointrt uses, row-major.
struct KittiCalib {
  std::array<double, 12> P2{};              // 3x4 projection of the left colour camera (rectified)
  std::array<double, 9> R0_rect{};          // 3x3 rectifying rotation
  std::array<double, 12> Tr_velo_to_cam{};  // 3x4 LiDAR → reference camera
};

// Reads a calib file; throws Error("<path>: <reason>") when it is missing, unreadable or lacks P2, R0_rect or
// Tr_velo_to_cam, or a matrix has the wrong number of values.
KittiCalib read_kitti_calib(const std::string& path);
KittiCalib parse_kitti_calib(const std::string& text, const std::string& name);

// ---- KITTI label_2 -------------------------------------------------------------------------------------------

// One line of a KITTI label file (camera-rect frame).
struct KittiObject {
  std::string type;           // "Car", "Pedestrian", "Cyclist", "DontCare", ...
  float truncated = 0;        // 0..1
  int occluded = 0;           // 0..3
  float alpha = 0;            // observation angle, radians
  std::array<float, 4> bbox{};  // 2D box left, top, right, bottom in pixels
  float h = 0, w = 0, l = 0;  // height, width, length, metres
  float x = 0, y = 0, z = 0;  // bottom centre in the rectified camera frame, metres
  float rotation_y = 0;       // radians about the camera's y axis
  float score = 0;            // only meaningful when has_score
  bool has_score = false;     // 16th column present (detections) or not (ground truth)
};

struct ImageSize {
  int width = 1242;  // KITTI images are 1224..1242 × 370..375; the calib file does not say which
  int height = 375;
};

// Reads label_2 text: 15 columns (ground truth) or 16 (with score). Empty lines are skipped. Throws Error naming
// "<path>:<line>" and the reason for any malformed line.
std::vector<KittiObject> read_kitti_labels(const std::string& path);
std::vector<KittiObject> parse_kitti_labels(const std::string& text, const std::string& name);

// Formats objects as label_2 lines (16 columns when has_score). Writing throws Error naming the path on failure.
std::string format_kitti_labels(const std::vector<KittiObject>& objects);
void write_kitti_labels(const std::string& path, const std::vector<KittiObject>& objects);

// LiDAR box → KITTI object: h w l = dz dy dx; bottom centre through Tr_velo_to_cam and R0_rect;
// rotation_y = -heading - pi/2 (wrapped to [-pi, pi)); alpha = rotation_y - atan2(x_cam, z_cam);
// bbox = the 8 corners projected by P2 (edges clipped at the camera's near plane), clipped to the image.
// Boxes entirely behind the camera get bbox (0, 0, 0, 0).
KittiObject to_kitti_object(const Detection& detection, const std::string& type, const KittiCalib& calib,
                            const ImageSize& image = {});
// KITTI object → LiDAR box (the inverse of the geometric part of to_kitti_object).
Box3D to_lidar_box(const KittiObject& object, const KittiCalib& calib);

// ---- camera field of view -------------------------------------------------------------------------------------

// The points of `cloud` that the left colour camera sees (KITTI's labelled field of view), in their order, with
// every field; source, format, fields and dropped_nonfinite are copied. The rule is the one of the PyTorch training
// code (python/pointrt_train/data.py fov_mask), in double precision: with X_rect = M * [x y z 1]^T where
// M = R0_rect * Tr_velo_to_cam (3x4; R0_rect applied to Tr's rotation and translation), and
// q = P2 * [X_rect; 1], d = q[2] (the depth row of P2: for KITTI z_rect + ~0.0027 m), u = q[0] / d, v = q[1] / d,
// a point is kept iff
//   d > 0  and  0 <= u < image.width  and  0 <= v < image.height
// (default image 1242 x 375; the calib file does not give the size). Points with a non-finite coordinate fail the
// test and are dropped.
PointCloud filter_to_camera_fov(const PointCloud& cloud, const KittiCalib& calib, const ImageSize& image = {});

// ---- JSON ----------------------------------------------------------------------------------------------------

// {"source": ..., "detections": [{"label": 1, "class": "Car", "score": ..., "box": {"x":..,"y":..,"z":..,
//  "dx":..,"dy":..,"dz":..,"heading":..}}, ...]}. class_names[label - 1] names the class ("" when out of range).
std::string detections_to_json(const std::vector<Detection>& detections, const std::vector<std::string>& class_names,
                               const std::string& source);

}  // namespace pointrt
