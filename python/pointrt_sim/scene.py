"""Random KITTI-like street scenes: sloped road/sidewalk/terrain patches with kerbs, buildings, walls, poles,
signs, trees and bushes, parked and moving cars, pedestrians and cyclists."""
import math

import numpy as np

from . import geometry as g
from . import kitti
from .lidar import (GLASS, LAMBERT, SENSOR_HEIGHT, SPOKES, VEGETATION, Entity, Ground, Material, Primitive,
                    Scene)

# KITTI Car size statistics (train split): mean l, w, h and spread
CAR_MEAN = np.array([3.9, 1.6, 1.56])
CAR_STD = np.array([0.42, 0.10, 0.14])
PED_MEAN = np.array([0.8, 0.6, 1.73])
PED_STD = np.array([0.18, 0.08, 0.10])
CYC_MEAN = np.array([1.76, 0.6, 1.73])
CYC_STD = np.array([0.15, 0.07, 0.08])


# --------------------------------------------------------------------------------------------- object builders

def _place(local_prims, box):
    """Local primitives (kind, centre, R, size, material) in the object frame (origin at the box centre, x along
    the heading) -> world primitives for the LiDAR box."""
    c = np.asarray(box[:3], dtype=np.float64)
    Ro = g.rotation_z(box[6])
    out = []
    for kind, cl, Rl, size, mat in local_prims:
        out.append(Primitive(kind, c + Ro.T @ np.asarray(cl, dtype=np.float64), np.asarray(Rl) @ Ro, size, mat))
    return out


def _box_prim(x0, x1, y0, y1, z0, z1, mat):
    return ("box", [(x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2], np.eye(3),
            [(x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2], mat)


def _seg_cyl(a, b, radius, mat):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ax = b - a
    n = np.linalg.norm(ax)
    return ("cyl", (a + b) / 2, g.frame_from_axis(ax / n), [radius, n / 2], mat)


def _frame_zy(axis_z):
    """Rotation with local z along axis_z (in the x-z plane) and local y along the object's y."""
    z = np.asarray(axis_z, dtype=np.float64)
    z = z / np.linalg.norm(z)
    y = np.array([0.0, 1.0, 0.0])
    x = np.cross(y, z)
    return np.stack([x, y, z])


_Y_AXIS = g.frame_from_axis([0.0, 1.0, 0.0])

CAR_SHAPES = {
    # clearance, body top (fraction of h), cabin x range (fraction of l)
    "sedan": (0.16, 0.55, -0.30, 0.17),
    "hatchback": (0.15, 0.55, -0.46, 0.12),
    "suv": (0.22, 0.60, -0.46, 0.17),
    "van": (0.18, 0.62, -0.48, 0.32),
}


def car_shape_for(l, w, h, rng):
    if h > 1.70:
        return "van" if (l > 4.3 and rng.random() < 0.6) else "suv"
    if l < 3.75:
        return "hatchback" if rng.random() < 0.8 else "sedan"
    return "sedan" if rng.random() < 0.7 else "hatchback"


def paint_rho(rng):
    r = rng.random()
    if r < 0.25:
        return rng.uniform(0.03, 0.08)   # black
    if r < 0.65:
        return rng.uniform(0.25, 0.6)    # white / silver / grey
    return rng.uniform(0.08, 0.35)       # coloured


def car_primitives(box, shape, rho, rng):
    l, w, h = box[3], box[4], box[5]
    # the body sits a few cm inside its label box, like KITTI's hand-fitted boxes (sensor noise is 2 cm)
    hl, hw = l / 2 - 0.06, w / 2 - 0.05
    bot, top = -h / 2, h / 2 - 0.02
    clear, body_frac, cx0, cx1 = CAR_SHAPES[shape]
    paint = Material(rho)
    glass = Material(0.08, GLASS)
    rubber = Material(0.06)
    plate = Material(0.95)
    body_top = bot + body_frac * h
    prims = [
        _box_prim(-hl, hl, -hw, hw, bot + clear, body_top, paint),
        _box_prim(max(cx0 * l, -hl), min(cx1 * l, hl), -(hw - 0.08), hw - 0.08, body_top, top - 0.06, glass),
        _box_prim(max(cx0 * l, -hl) + 0.08, min(cx1 * l, hl) - 0.12, -(hw - 0.11), hw - 0.11, top - 0.06, top, paint),
    ]
    # bonnet: a lower step in front of the windscreen for sedans/SUVs
    rw = min(0.34, clear + 0.16)
    ax = hl - max(0.62, 0.19 * l)
    for sx in (-1, 1):
        for sy in (-1, 1):
            prims.append(("cyl", [sx * ax, sy * (hw - 0.11), bot + rw], _Y_AXIS, [rw, 0.10], rubber))
    pz = bot + clear + 0.22
    prims.append(_box_prim(-hl - 0.012, -hl + 0.01, -0.26, 0.26, pz - 0.055, pz + 0.055, plate))
    prims.append(_box_prim(hl - 0.01, hl + 0.012, -0.26, 0.26, pz - 0.055, pz + 0.055, plate))
    return _place(prims, box)


def pedestrian_primitives(box, rng):
    l, w, h = box[3], box[4], box[5]
    s = h / 1.75
    bot = -h / 2
    cloth = Material(rng.uniform(0.05, 0.45))
    trousers = Material(rng.uniform(0.05, 0.35))
    skin = Material(rng.uniform(0.2, 0.4))
    r_head = 0.11 * s
    head_z = h / 2 - r_head - 0.01
    shoulder_z = head_z - r_head - 0.06 * s
    hip_z = bot + 0.50 * h
    thx = min(0.11 * s, l / 2 - 0.04)
    thy = max(0.08, min(0.19 * s, w / 2 - 0.11))
    stride = rng.uniform(-1.0, 1.0) * max(0.0, min(0.35, l / 2 - 0.12))
    prims = [("ell", [0.0, 0.0, head_z], np.eye(3), [r_head, r_head * 0.9, r_head * 1.1], skin),
             _box_prim(-thx, thx, -thy, thy, hip_z, shoulder_z, cloth)]
    for sy, sgn in ((1, 1), (-1, -1)):
        prims.append(_seg_cyl([0.0, sy * 0.09 * s, hip_z + 0.02], [sgn * stride, sy * 0.10 * s, bot + 0.08],
                              0.075 * s, trousers))
        ay = sy * (thy + 0.05)
        prims.append(_seg_cyl([0.0, ay, shoulder_z - 0.03], [-sgn * 0.6 * stride, ay, hip_z - 0.05], 0.045 * s,
                              cloth))
    return _place(prims, box)


def cyclist_primitives(box, rng):
    l, w, h = box[3], box[4], box[5]
    sh = h / 1.73
    bot = -h / 2
    r = float(np.clip(0.33 * l / 1.76, 0.28, 0.36))
    xf = l / 2 - r - 0.03
    xr = -xf
    metal = Material(rng.uniform(0.3, 0.6))
    spokes = Material(0.15, SPOKES, porosity=0.35)
    cloth = Material(rng.uniform(0.05, 0.45))
    trousers = Material(rng.uniform(0.05, 0.35))
    skin = Material(rng.uniform(0.2, 0.4))
    zr = bot + r
    seat = np.array([-0.15 * l / 1.76, 0.0, bot + 0.92 * sh])
    bar = np.array([xf - 0.12, 0.0, bot + 1.02 * sh])
    bb = np.array([0.0, 0.0, bot + 0.30])
    tt = np.array([xf - 0.18, 0.0, bot + 0.85 * sh])
    prims = [("cyl", [xr, 0.0, zr], _Y_AXIS, [r, 0.02], spokes), ("cyl", [xf, 0.0, zr], _Y_AXIS, [r, 0.02], spokes),
             _seg_cyl([xr, 0, zr], seat, 0.02, metal), _seg_cyl(seat, tt, 0.025, metal),
             _seg_cyl(tt, bb, 0.025, metal), _seg_cyl(bb, [xr, 0, zr], 0.02, metal),
             _seg_cyl([xf, 0, zr], bar, 0.02, metal),
             ("cyl", bar, _Y_AXIS, [0.02, min(0.25, w / 2 - 0.05)], metal)]
    hip = seat + np.array([0.0, 0.0, 0.06])
    lean = math.radians(rng.uniform(25, 45))
    tlen = 0.55 * sh
    axis = np.array([math.sin(lean), 0.0, math.cos(lean)])
    shoulder = hip + tlen * axis
    thy = max(0.08, min(0.17 * sh, w / 2 - 0.10))
    prims.append(("box", (hip + shoulder) / 2, _frame_zy(axis), [0.10 * sh, thy, tlen / 2], cloth))
    r_head = 0.11 * sh
    head = shoulder + np.array([0.08, 0.0, r_head + 0.05 * sh])
    head[2] = min(head[2], h / 2 - 1.1 * r_head - 0.01)
    prims.append(("ell", head, np.eye(3), [r_head, r_head * 0.9, r_head * 1.1], skin))
    for sy in (1, -1):
        ay = sy * (thy + 0.03)
        prims.append(_seg_cyl(shoulder + np.array([0, ay, -0.03]), bar + np.array([0, sy * min(0.2, w / 2 - 0.08), 0]),
                              0.04 * sh, cloth))
        phase = rng.uniform(-1, 1)
        pedal = bb + np.array([0.15 * phase * sy, sy * 0.1, 0.15 * math.sqrt(max(0.0, 1 - phase * phase)) * sy])
        prims.append(_seg_cyl(hip + np.array([0, sy * 0.09, 0]), pedal, 0.07 * sh, trousers))
    return _place(prims, box)


# ------------------------------------------------------------------------------------------------ size sampling

def sample_car_size(rng):
    z = rng.standard_normal(3)
    l = CAR_MEAN[0] + CAR_STD[0] * z[0]
    w = CAR_MEAN[1] + CAR_STD[1] * (0.6 * z[0] + 0.8 * z[1])
    hgt = CAR_MEAN[2] + CAR_STD[2] * (0.25 * z[0] + 0.968 * z[2])
    return (float(np.clip(l, 2.9, 5.3)), float(np.clip(w, 1.35, 1.95)), float(np.clip(hgt, 1.2, 2.05)))


def sample_size(rng, mean, std, lo, hi):
    v = mean + std * rng.standard_normal(3)
    return tuple(float(x) for x in np.clip(v, lo, hi))


# --------------------------------------------------------------------------------------------------- objects

def labelled_box(x, y, yaw, l, w, h, ground, calib):
    """A LiDAR box standing on the ground at (x, y), quantised through its KITTI label (2 decimals, as written) so
    that the geometry and the label file agree exactly. Returns (box, label dict)."""
    zb = float(ground.height(np.array([x]), np.array([y]))[0])
    box = np.array([x, y, zb + h / 2, l, w, h, yaw])
    lab = kitti.lidar_box_to_label(box, calib)
    q = {k: kitti.round2(v) for k, v in lab.items()}
    boxq = kitti.label_to_lidar_box(q["h"], q["w"], q["l"], q["x"], q["y"], q["z"], q["ry"], calib)
    q["alpha"] = kitti.round2(kitti.lidar_box_to_label(boxq, calib)["alpha"])
    return boxq, q


def make_object(cls, x, y, yaw, size, ground, calib, rng):
    l, w, h = size
    box, lab = labelled_box(x, y, yaw, l, w, h, ground, calib)
    if cls == "Car":
        prims = car_primitives(box, car_shape_for(l, w, h, rng), paint_rho(rng), rng)
    elif cls == "Pedestrian":
        prims = pedestrian_primitives(box, rng)
    else:
        prims = cyclist_primitives(box, rng)
    e = Entity(prims, cls=cls, box=box, name=cls)
    e.label = lab
    return e


# --------------------------------------------------------------------------------------------------- scenery

class _RoadFrame:
    def __init__(self, theta):
        self.theta = theta
        self.c, self.s = math.cos(theta), math.sin(theta)

    def xy(self, u, v):
        return u * self.c - v * self.s, u * self.s + v * self.c


def _static_box(rf, u0, u1, v0, v1, z0, z1, mat, extra_yaw=0.0):
    uc, vc = (u0 + u1) / 2, (v0 + v1) / 2
    x, y = rf.xy(uc, vc)
    return Primitive("box", [x, y, (z0 + z1) / 2], g.rotation_z(rf.theta + extra_yaw),
                     [(u1 - u0) / 2, (v1 - v0) / 2, (z1 - z0) / 2], mat)


def _footprint_z(ground, rf, u0, u1, v0, v1):
    us = np.array([u0, u1, u0, u1, (u0 + u1) / 2])
    vs = np.array([v0, v0, v1, v1, (v0 + v1) / 2])
    x, y = rf.xy(us, vs)
    z = ground.height(x, y)
    return float(np.nanmin(z)), float(np.nanmax(z))


class _Occupancy:
    def __init__(self):
        self.discs = [(0.0, 0.0, 3.0)]  # the ego car

    def free(self, x, y, r):
        for (a, b, rr) in self.discs:
            if (a - x) ** 2 + (b - y) ** 2 < (r + rr) ** 2:
                return False
        return True

    def add(self, x, y, r):
        self.discs.append((x, y, r))


def random_scene(rng, calib, extent=80.0):
    """A random street scene around the sensor (at the origin, 1.73 m above the road). Returns a Scene whose
    labelled entities carry `.label` (quantised KITTI geometry) and `.box`."""
    theta = float(np.clip(rng.normal(0.0, 0.12), -0.3, 0.3))
    rf = _RoadFrame(theta)
    lane_w = rng.uniform(3.0, 3.6)
    n_lanes = int(rng.choice([2, 2, 3, 4]))
    n_fwd = (n_lanes + 1) // 2
    ego_lane = int(rng.integers(0, n_fwd))
    park_r = rng.random() < 0.6
    park_l = rng.random() < 0.6
    pw = 2.3
    vR = -(ego_lane + 0.5) * lane_w - (pw if park_r else 0.0)
    vL = (n_lanes - ego_lane - 0.5) * lane_w + (pw if park_l else 0.0)
    v_c = (n_fwd - ego_lane - 0.5) * lane_w
    sw_r, sw_l = rng.uniform(1.5, 4.5, size=2)
    kerb_r, kerb_l = rng.uniform(0.08, 0.18, size=2)
    cam = rng.uniform(0.0, 0.02)
    s_tr, s_tl = rng.uniform(-0.06, 0.08, size=2)
    g0 = rng.uniform(-0.04, 0.04)
    ub1, ub2 = -rng.uniform(15, 60), rng.uniform(15, 60)
    gb, gf = g0 + rng.uniform(-0.04, 0.04), g0 + rng.uniform(-0.04, 0.04)

    asphalt = Material(rng.uniform(0.25, 0.4))
    concrete = Material(rng.uniform(0.35, 0.5))
    grass = Material(rng.uniform(0.3, 0.5))

    hR = cam * vR
    hL = 2 * cam * v_c - cam * vL
    outR, outL = vR - sw_r, vL + sw_l
    hout_r = hR + kerb_r + 0.02 * sw_r
    hout_l = hL + kerb_l + 0.02 * sw_l
    # v segments: (v0, v1, alpha, beta, material) with Lat(v) = alpha + beta v
    vsegs = [(-np.inf, outR, hout_r + s_tr * outR, -s_tr, grass),
             (outR, vR, hR + kerb_r + 0.02 * vR, -0.02, concrete),
             (vR, v_c, 0.0, cam, asphalt),
             (v_c, vL, 2 * cam * v_c, -cam, asphalt),
             (vL, outL, hL + kerb_l - 0.02 * vL, 0.02, concrete),
             (outL, np.inf, hout_l - s_tl * outL, s_tl, grass)]
    # u segments: G(u) = gamma + delta u, continuous, G(0) = 0
    usegs = [(-np.inf, ub1, (g0 - gb) * ub1, gb), (ub1, ub2, 0.0, g0), (ub2, np.inf, (g0 - gf) * ub2, gf)]
    patches = []
    for (u0, u1, gam, dlt) in usegs:
        for (v0, v1, al, be, mat) in vsegs:
            patches.append((u0, u1, v0, v1, -SENSOR_HEIGHT + al + gam, dlt, be, mat))
    kerbs = []
    for (u0, u1, gam, dlt) in usegs:
        a = -SENSOR_HEIGHT + gam
        kerbs.append((vR, u0, u1, (a + 0.0, dlt, cam), (a + hR + kerb_r + 0.02 * vR, dlt, -0.02), concrete))
        kerbs.append((vL, u0, u1, (a + 2 * cam * v_c, dlt, -cam), (a + hL + kerb_l - 0.02 * vL, dlt, 0.02), concrete))
    # road markings: centre line (solid), lane lines (dashed), edge lines
    marks = [(v_c - 0.07, v_c + 0.07, 0.0)]
    for i in range(n_lanes + 1):
        vb = (i - ego_lane - 0.5) * lane_w
        if abs(vb - v_c) < 0.1:
            continue
        marks.append((vb - 0.06, vb + 0.06, 0.0 if i in (0, n_lanes) else 9.0))
    ground = Ground(theta, patches, kerbs, road_v=(vR, vL), markings=marks)
    # lateral centre offset of the ground test for the road band only
    entities = []
    occ = _Occupancy()

    # ---- buildings, walls, backdrop
    for side in (-1, 1):
        edge = outL if side > 0 else outR
        setback = rng.uniform(0.0, 9.0)
        u = -extent - rng.uniform(0, 20)
        while u < extent + 10:
            length = rng.uniform(6, 35)
            if rng.random() < 0.25:
                u += rng.uniform(3, 15)
                continue
            depth = rng.uniform(6, 15)
            height = rng.uniform(3.5, 20)
            v0 = edge + side * (setback + rng.uniform(0, 2.0))
            v1 = v0 + side * depth
            va, vb = min(v0, v1), max(v0, v1)
            zmin, zmax = _footprint_z(ground, rf, u, u + length, va, vb)
            mat = Material(rng.uniform(0.12, 0.55))
            prims = [_static_box(rf, u, u + length, va, vb, zmin - 0.5, zmax + height, mat)]
            if rng.random() < 0.5:  # a window band / balcony slab that juts out a little
                zz = zmax + rng.uniform(2.5, min(height - 0.5, 6.0)) if height > 3.5 else zmax + 2.0
                vj = v0 - side * 0.4
                prims.append(_static_box(rf, u, u + length, min(vj, v0), max(vj, v0), zz, zz + 0.25,
                                         Material(rng.uniform(0.1, 0.5))))
            entities.append(Entity(prims, name="building"))
            u += length + rng.uniform(0.0, 3.0)
        # garden walls / fences along the sidewalk's outer edge
        u = -extent
        while u < extent:
            seg = rng.uniform(8, 30)
            if rng.random() < 0.3 and setback > 1.0:
                hgt = rng.uniform(0.8, 2.3)
                v0 = edge + side * 0.1
                v1 = v0 + side * 0.25
                zmin, zmax = _footprint_z(ground, rf, u, u + seg, min(v0, v1), max(v0, v1))
                entities.append(Entity([_static_box(rf, u, u + seg, min(v0, v1), max(v0, v1), zmin - 0.3,
                                                    zmax + hgt, Material(rng.uniform(0.15, 0.5)))], name="wall"))
            elif rng.random() < 0.3 and setback > 1.5:  # hedge
                hgt = rng.uniform(0.6, 1.8)
                v0 = edge + side * 0.15
                v1 = v0 + side * rng.uniform(0.5, 1.2)
                zmin, zmax = _footprint_z(ground, rf, u, u + seg, min(v0, v1), max(v0, v1))
                entities.append(Entity([_static_box(rf, u, u + seg, min(v0, v1), max(v0, v1), zmin - 0.3,
                                                    zmax + hgt, Material(rng.uniform(0.2, 0.5), VEGETATION, 0.35))],
                                       name="hedge"))
            u += seg
    for sgn, p in ((1, 0.75), (-1, 0.5)):  # T-junction backdrop far ahead / behind
        if rng.random() < p:
            u0 = sgn * rng.uniform(75, 110)
            u1 = u0 + sgn * rng.uniform(8, 15)
            va, vb = outR - 40, outL + 40
            zmin, zmax = _footprint_z(ground, rf, min(u0, u1), max(u0, u1), va, vb)
            entities.append(Entity([_static_box(rf, min(u0, u1), max(u0, u1), va, vb, zmin - 0.5,
                                                zmax + rng.uniform(6, 20), Material(rng.uniform(0.15, 0.5)))],
                                   name="backdrop"))

    # ---- poles, signs, trees, bushes
    for side in (-1, 1):
        kerb_v = vL if side > 0 else vR
        sw = sw_l if side > 0 else sw_r
        u = -extent + rng.uniform(0, 20)
        while u < extent:
            v = kerb_v + side * rng.uniform(0.4, 0.8)
            x, y = rf.xy(u, v)
            if occ.free(x, y, 0.5):
                zb = float(ground.height(np.array([x]), np.array([y]))[0])
                rad = rng.uniform(0.06, 0.14)
                hgt = rng.uniform(3.0, 9.0)
                prims = [Primitive("cyl", [x, y, zb + hgt / 2 - 0.2], np.eye(3), [rad, hgt / 2 + 0.2],
                                   Material(rng.uniform(0.3, 0.6)))]
                if rng.random() < 0.4:
                    sz = min(hgt - 0.3, rng.uniform(2.0, 2.8))
                    xs, ys = rf.xy(u, v + side * 0.0)
                    prims.append(Primitive("box", [xs, ys, zb + sz], g.rotation_z(theta),
                                           [0.03, 0.35, 0.35], Material(rng.uniform(0.8, 1.0))))
                entities.append(Entity(prims, name="pole"))
                occ.add(x, y, 0.5)
            u += rng.uniform(12, 35)
        # trees on the outer sidewalk / front yards
        u = -extent + rng.uniform(0, 10)
        tree_gap = rng.uniform(8, 30)
        while u < extent:
            v = kerb_v + side * rng.uniform(min(1.2, sw - 0.3), sw + 2.0)
            x, y = rf.xy(u, v)
            if occ.free(x, y, 0.8):
                zb = float(ground.height(np.array([x]), np.array([y]))[0])
                tr = rng.uniform(0.1, 0.25)
                th = rng.uniform(1.8, 3.2)
                rx, rz = rng.uniform(1.2, 3.0), rng.uniform(1.2, 3.0)
                leaves = Material(rng.uniform(0.2, 0.5), VEGETATION, rng.uniform(0.3, 0.7))
                entities.append(Entity([
                    Primitive("cyl", [x, y, zb + th / 2], np.eye(3), [tr, th / 2 + 0.1], Material(0.3)),
                    Primitive("ell", [x, y, zb + th + 0.7 * rz], g.rotation_z(rng.uniform(0, math.pi)),
                              [rx, rx * rng.uniform(0.8, 1.2), rz], leaves)], name="tree"))
                occ.add(x, y, 0.8)
            u += tree_gap * rng.uniform(0.7, 1.3)
        # bushes (noisy blobs) in the front yards
        for _ in range(int(rng.poisson(6))):
            u = rng.uniform(-extent, extent)
            v = kerb_v + side * (sw + rng.uniform(0.5, 8.0))
            x, y = rf.xy(u, v)
            if not occ.free(x, y, 1.0):
                continue
            zb = float(ground.height(np.array([x]), np.array([y]))[0])
            r = rng.uniform(0.4, 1.4, size=3)
            entities.append(Entity([Primitive("ell", [x, y, zb + 0.3 * r[2]], g.rotation_z(rng.uniform(0, 3)),
                                              r, Material(rng.uniform(0.2, 0.5), VEGETATION, 0.4))], name="bush"))
            occ.add(x, y, float(r[:2].max()))

    # ---- objects
    def add_obj(cls, u, v, yaw, size):
        x, y = rf.xy(u, v)
        rad = 0.5 * math.hypot(size[0], size[1]) + 0.15
        if not occ.free(x, y, rad):
            return False
        entities.append(make_object(cls, x, y, yaw, size, ground, calib, rng))
        occ.add(x, y, rad)
        return True

    for side, has_park in ((-1, park_r), (1, park_l)):
        if not has_park:
            continue
        edge = vR if side < 0 else vL
        fill = rng.uniform(0.3, 0.9)
        u = -extent + rng.uniform(0, 8)
        while u < extent:
            size = sample_car_size(rng)
            if rng.random() < fill:
                v = edge - side * (size[1] / 2 + rng.uniform(0.15, 0.4))
                yaw = theta + (0.0 if side < 0 or rng.random() < 0.3 else math.pi) + rng.normal(0, 0.03)
                add_obj("Car", u + size[0] / 2, v, yaw, size)
                u += size[0] + rng.uniform(0.6, 3.0)
            else:
                u += rng.uniform(3.0, 9.0)
    for lane in range(n_lanes):
        vl = (lane - ego_lane) * lane_w
        fwd = lane < n_fwd
        for _ in range(int(rng.poisson(1.3))):
            u = rng.uniform(-60, 70)
            if lane == ego_lane and abs(u) < 8:
                continue
            size = sample_car_size(rng)
            yaw = theta + (0.0 if fwd else math.pi) + rng.normal(0, 0.03)
            add_obj("Car", u, vl + rng.uniform(-0.3, 0.3), yaw, size)
    # cars parked in driveways / front yards, across the street direction
    for _ in range(int(rng.poisson(0.8))):
        side = 1 if rng.random() < 0.5 else -1
        edge = outL if side > 0 else outR
        size = sample_car_size(rng)
        add_obj("Car", rng.uniform(-50, 60), edge + side * (size[0] / 2 + rng.uniform(0.3, 2.0)),
                theta + side * math.pi / 2 + rng.normal(0, 0.1) + (math.pi if rng.random() < 0.5 else 0.0), size)
    # pedestrians on the sidewalks (some in groups), a few crossing
    for _ in range(int(rng.poisson(3.0))):
        side = 1 if rng.random() < 0.5 else -1
        kerb_v = vL if side > 0 else vR
        sw = sw_l if side > 0 else sw_r
        u = rng.uniform(-40, 55)
        v = kerb_v + side * rng.uniform(0.5, max(0.6, sw - 0.4))
        heading = theta + (0.0 if rng.random() < 0.5 else math.pi) + rng.normal(0, 0.3)
        for k in range(1 + int(rng.random() < 0.3) * int(rng.integers(1, 3))):
            add_obj("Pedestrian", u + k * rng.uniform(0.7, 1.2), v + rng.normal(0, 0.3), heading + rng.normal(0, 0.2),
                    sample_size(rng, PED_MEAN, PED_STD, (0.4, 0.45, 1.4), (1.2, 0.85, 2.0)))
    for _ in range(int(rng.poisson(0.4))):
        add_obj("Pedestrian", rng.uniform(6, 40), rng.uniform(vR + 0.5, vL - 0.5),
                theta + (math.pi / 2 if rng.random() < 0.5 else -math.pi / 2) + rng.normal(0, 0.2),
                sample_size(rng, PED_MEAN, PED_STD, (0.4, 0.45, 1.4), (1.2, 0.85, 2.0)))
    # cyclists: at the right edge of the driving lanes (either direction) or on a sidewalk
    for _ in range(int(rng.poisson(0.9))):
        size = sample_size(rng, CYC_MEAN, CYC_STD, (1.4, 0.45, 1.5), (2.1, 0.8, 1.95))
        r = rng.random()
        if r < 0.45:
            v = -(ego_lane + 0.5) * lane_w + 0.7
            yaw = theta
        elif r < 0.8:
            v = (n_lanes - ego_lane - 0.5) * lane_w - 0.7
            yaw = theta + math.pi
        else:
            side = 1 if rng.random() < 0.5 else -1
            v = (vL if side > 0 else vR) + side * 0.8
            yaw = theta + (0.0 if rng.random() < 0.5 else math.pi)
        add_obj("Cyclist", rng.uniform(-45, 60), v, yaw + rng.normal(0, 0.05), size)
    return Scene(ground, entities)


def flat_ground(material=None):
    """A flat infinite ground plane 1.73 m below the sensor (for tests and custom scenes)."""
    m = material or Material(0.25)
    return Ground(0.0, [(-np.inf, np.inf, -np.inf, np.inf, -SENSOR_HEIGHT, 0.0, 0.0, m)], [])
