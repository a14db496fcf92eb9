"""KITTI calibration, label geometry and file formats for the simulator (numpy only).

Geometry follows pointrt's C++ readers (src/io/kitti_label.cpp): a LiDAR box is (x, y, z, dx, dy, dz, heading)
with heading about +z; the KITTI object has h w l = dz dy dx, the bottom centre (x, y, z - dz/2) mapped through
Tr_velo_to_cam then R0_rect, rotation_y = -heading - pi/2 and alpha = rotation_y - atan2(x_cam, z_cam), both
wrapped to [-pi, pi); the 2D box is the hull of the 8 corners projected by P2 with every box edge clipped at 0.1 m
in front of the camera, then clipped to the image.
"""
import math

import numpy as np

IMAGE_W = 1242
IMAGE_H = 375
NEAR = 0.1

# The calibration of KITTI's 2011_09_26 recording day (the one used by most object-detection frames), written with
# the same layout as the dataset's calib files.
_P0 = [7.215377e02, 0.0, 6.095593e02, 0.0, 0.0, 7.215377e02, 1.728540e02, 0.0, 0.0, 0.0, 1.0, 0.0]
_P1 = [7.215377e02, 0.0, 6.095593e02, -3.875744e02, 0.0, 7.215377e02, 1.728540e02, 0.0, 0.0, 0.0, 1.0, 0.0]
_P2 = [7.215377e02, 0.0, 6.095593e02, 4.485728e01, 0.0, 7.215377e02, 1.728540e02, 2.163791e-01, 0.0, 0.0, 1.0,
       2.745884e-03]
_P3 = [7.215377e02, 0.0, 6.095593e02, -3.395242e02, 0.0, 7.215377e02, 1.728540e02, 2.199936e00, 0.0, 0.0, 1.0,
       2.729905e-03]
_R0 = [9.999239e-01, 9.837760e-03, -7.445048e-03, -9.869795e-03, 9.999421e-01, -4.278459e-03, 7.402527e-03,
       4.351614e-03, 9.999631e-01]
_TR_VELO = [7.533745e-03, -9.999714e-01, -6.166020e-04, -4.069766e-03, 1.480249e-02, 7.280733e-04, -9.998902e-01,
            -7.631618e-02, 9.998621e-01, 7.523790e-03, 1.480755e-02, -2.717806e-01]
_TR_IMU = [9.999976e-01, 7.553071e-04, -2.035826e-03, -8.086759e-01, -7.854027e-04, 9.998898e-01, -1.482298e-02,
           3.195559e-01, 2.024406e-03, 1.482454e-02, 9.998881e-01, -7.997231e-01]

CALIB_KEYS = [("P0", 12), ("P1", 12), ("P2", 12), ("P3", 12), ("R0_rect", 9), ("Tr_velo_to_cam", 12),
              ("Tr_imu_to_velo", 12)]


class Calib:
    """KITTI calibration: P0..P3 (3x4), R0_rect (3x3), Tr_velo_to_cam and Tr_imu_to_velo (3x4)."""

    def __init__(self, values=None):
        if values is None:
            values = {"P0": _P0, "P1": _P1, "P2": _P2, "P3": _P3, "R0_rect": _R0, "Tr_velo_to_cam": _TR_VELO,
                      "Tr_imu_to_velo": _TR_IMU}
        self.values = {k: np.asarray(v, dtype=np.float64).copy() for k, v in values.items()}
        self.P2 = self.values["P2"].reshape(3, 4)
        self.R0 = self.values["R0_rect"].reshape(3, 3)
        self.Tr = self.values["Tr_velo_to_cam"].reshape(3, 4)
        t = np.eye(4)
        t[:3, :4] = self.Tr
        r0 = np.eye(4)
        r0[:3, :3] = self.R0
        self.lidar_to_rect = r0 @ t          # 4x4, LiDAR -> rectified camera
        self.rect_to_lidar = np.linalg.inv(self.lidar_to_rect)

    def lidar_to_cam(self, pts):
        pts = np.asarray(pts, dtype=np.float64)
        return pts @ self.lidar_to_rect[:3, :3].T + self.lidar_to_rect[:3, 3]

    def cam_to_lidar(self, pts):
        pts = np.asarray(pts, dtype=np.float64)
        return pts @ self.rect_to_lidar[:3, :3].T + self.rect_to_lidar[:3, 3]

    def project_lidar(self, pts):
        """LiDAR points [N,3] -> (u, v, depth) where depth is the third row of P2 * [X_rect; 1]."""
        cam = self.lidar_to_cam(pts)
        q = cam @ self.P2[:, :3].T + self.P2[:, 3]
        d = q[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            return q[:, 0] / d, q[:, 1] / d, d

    def to_text(self):
        lines = []
        for key, n in CALIB_KEYS:
            v = self.values[key]
            assert v.size == n
            lines.append(key + ": " + " ".join("%.12e" % float(x) for x in v))
        return "\n".join(lines) + "\n"


def wrap_angle(a):
    """Wraps to [-pi, pi)."""
    w = a - 2.0 * math.pi * math.floor((a + math.pi) / (2.0 * math.pi))
    if w >= math.pi:
        w -= 2.0 * math.pi
    if w < -math.pi:
        w += 2.0 * math.pi
    return w


def box_corners_rect(h, w, l, x, y, z, ry):
    """The 8 corners of a KITTI box (camera-rect frame), KITTI order: bottom 0..3, top 4..7."""
    xs = np.array([l / 2, l / 2, -l / 2, -l / 2, l / 2, l / 2, -l / 2, -l / 2])
    ys = np.array([0, 0, 0, 0, -h, -h, -h, -h], dtype=np.float64)
    zs = np.array([w / 2, -w / 2, -w / 2, w / 2, w / 2, -w / 2, -w / 2, w / 2])
    c, s = math.cos(ry), math.sin(ry)
    return np.stack([c * xs + s * zs + x, ys + y, -s * xs + c * zs + z], axis=1)


_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def project_box_unclipped(h, w, l, x, y, z, ry, calib):
    """2D extent (umin, vmin, umax, vmax) of the box edges in front of the near plane, not clipped to the image;
    None when nothing is in front of the camera."""
    corners = box_corners_rect(h, w, l, x, y, z, ry)
    q = corners @ calib.P2[:, :3].T + calib.P2[:, 3]
    pts = []
    for a, b in _EDGES:
        qa, qb = q[a], q[b]
        ina, inb = qa[2] >= NEAR, qb[2] >= NEAR
        if ina:
            pts.append(qa)
        if inb:
            pts.append(qb)
        if ina != inb:
            t = (NEAR - qa[2]) / (qb[2] - qa[2])
            pts.append(qa + t * (qb - qa))
    if not pts:
        return None
    p = np.array(pts)
    u, v = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    return float(u.min()), float(v.min()), float(u.max()), float(v.max())


def clip_box(box, width=IMAGE_W, height=IMAGE_H):
    mu, mv = width - 1, height - 1
    return (min(max(box[0], 0.0), mu), min(max(box[1], 0.0), mv), min(max(box[2], 0.0), mu),
            min(max(box[3], 0.0), mv))


def truncation(box):
    """Fraction of the unclipped 2D box's area outside the image."""
    full = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    c = clip_box(box)
    inside = max(c[2] - c[0], 0.0) * max(c[3] - c[1], 0.0)
    if full <= 0.0:
        return 1.0
    return min(max(1.0 - inside / full, 0.0), 1.0)


def lidar_box_to_label(box, calib):
    """LiDAR box (x, y, z, dx, dy, dz, heading) -> dict(h, w, l, x, y, z, ry, alpha), unrounded."""
    x, y, z, dx, dy, dz, heading = [float(v) for v in box]
    bottom = calib.lidar_to_cam(np.array([[x, y, z - 0.5 * dz]]))[0]
    ry = wrap_angle(-heading - math.pi / 2)
    alpha = wrap_angle(ry - math.atan2(bottom[0], bottom[2]))
    return {"h": dz, "w": dy, "l": dx, "x": bottom[0], "y": bottom[1], "z": bottom[2], "ry": ry, "alpha": alpha}


def label_to_lidar_box(h, w, l, x, y, z, ry, calib):
    """KITTI object geometry -> LiDAR box (x, y, z, dx, dy, dz, heading), like pointrt's to_lidar_box."""
    bottom = calib.cam_to_lidar(np.array([[x, y, z]]))[0]
    return np.array([bottom[0], bottom[1], bottom[2] + 0.5 * h, l, w, h, wrap_angle(-ry - math.pi / 2)])


def round2(v):
    r = round(float(v), 2)
    return 0.0 if r == 0.0 else r  # no "-0.00"


def format_label_line(obj):
    """One label_2 line in KITTI's own style: every number with 2 decimals, occluded as an integer."""
    if obj["type"] == "DontCare":
        b = obj["bbox"]
        return "DontCare -1 -1 -10 %.2f %.2f %.2f %.2f -1 -1 -1 -1000 -1000 -1000 -10" % tuple(
            round2(v) for v in b)
    vals = [obj["truncated"], obj["alpha"]] + list(obj["bbox"]) + [obj["h"], obj["w"], obj["l"], obj["x"], obj["y"],
                                                                 obj["z"], obj["ry"]]
    v = [round2(x) for x in vals]
    return "%s %.2f %d %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f" % (
        obj["type"], v[0], int(obj["occluded"]), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11],
        v[12])


LABEL_FIELDS = ["type", "truncated", "occluded", "alpha", "left", "top", "right", "bottom", "h", "w", "l", "x", "y",
                "z", "ry"]


def parse_label_text(text, with_score=False):
    """Parses label_2 text strictly: 15 whitespace-separated columns (or 16 with with_score, the 16th a detection's
    score), a word type, an integer 'occluded', finite numbers elsewhere. Returns a list of dicts (with "score" for
    16-column lines)."""
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        cols = line.split()
        if not cols:
            continue
        if len(cols) != 15 and not (with_score and len(cols) == 16):
            raise ValueError("line %d: expected %s columns, got %d" % (n, "15 or 16" if with_score else "15",
                                                                        len(cols)))
        d = {"type": cols[0]}
        for i in range(1, len(cols)):
            if i == 2:
                d["occluded"] = int(cols[2])
                continue
            v = float(cols[i])
            if not math.isfinite(v):
                raise ValueError("line %d: column %d is not finite" % (n, i + 1))
            d[LABEL_FIELDS[i] if i < 15 else "score"] = v
        d["bbox"] = (d["left"], d["top"], d["right"], d["bottom"])
        out.append(d)
    return out


def parse_calib_text(text):
    """Parses a KITTI calib file strictly ('KEY: v1 ... vn' lines, each key once, the expected value counts)."""
    counts = dict(CALIB_KEYS)
    values = {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise ValueError("line %d: expected 'KEY: values'" % n)
        key, rest = line.split(":", 1)
        key = key.strip()
        if key in values:
            raise ValueError("line %d: %s given twice" % (n, key))
        vals = [float(x) for x in rest.split()]
        if key in counts and len(vals) != counts[key]:
            raise ValueError("line %d: %s has %d values, expected %d" % (n, key, len(vals), counts[key]))
        if not all(math.isfinite(v) for v in vals):
            raise ValueError("line %d: non-finite value" % n)
        values[key] = vals
    for key in ("P2", "R0_rect", "Tr_velo_to_cam"):
        if key not in values:
            raise ValueError("missing key " + key)
    return values
