"""Vectorised ray-primitive intersections (numpy). All rays start at one point (the sensor), so every function
takes the ray origin `o` (3,) and unit directions `d` (N, 3) already in the primitive's local frame and returns
(t_near, t_far, cos_incidence): t_near = inf where the ray misses; t_far is the exit distance (for porous
primitives); cos_incidence = |n . d| at the entry point."""
import numpy as np

INF = np.inf


def rotation_z(yaw):
    """Rows are the local axes expressed in the parent frame (local = R @ (p - c)) for a frame yawed by `yaw`."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def frame_from_axis(axis):
    """Rotation whose third row (local z) is `axis` (unit), rows local axes in the parent frame."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(helper, a)
    u /= np.linalg.norm(u)
    v = np.cross(a, u)
    return np.stack([u, v, a])


def _safe_inv(d):
    with np.errstate(divide="ignore"):
        inv = 1.0 / d
    return np.where(d == 0.0, 1e30, inv)


def ray_box(o, d, half):
    """Axis-aligned box centred at the local origin with half extents `half`."""
    inv = _safe_inv(d)
    t1 = (-half - o) * inv
    t2 = (half - o) * inv
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    axis = np.argmax(tmin, axis=1)
    tn = np.take_along_axis(tmin, axis[:, None], 1)[:, 0]
    tf = tmax.min(axis=1)
    hit = (tn <= tf) & (tn > 0.0)
    cos = np.abs(np.take_along_axis(d, axis[:, None], 1)[:, 0])
    return np.where(hit, tn, INF), np.where(hit, tf, INF), cos


def ray_cylinder(o, d, radius, half_h):
    """Cylinder along local z, centred at the origin, with end caps."""
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2.0 * (o[0] * d[:, 0] + o[1] * d[:, 1])
    c = o[0] ** 2 + o[1] ** 2 - radius * radius
    disc = b * b - 4.0 * a * c
    ok = (disc >= 0.0) & (a > 1e-18)
    sq = np.sqrt(np.where(ok, disc, 0.0))
    a_safe = np.where(a > 1e-18, a, 1.0)
    ts0 = (-b - sq) / (2.0 * a_safe)
    ts1 = (-b + sq) / (2.0 * a_safe)
    z0 = o[2] + ts0 * d[:, 2]
    side = ok & (ts0 > 0.0) & (np.abs(z0) <= half_h)
    t_side = np.where(side, ts0, INF)
    # caps
    dz_inv = _safe_inv(d[:, 2])
    tc_a = (half_h - o[2]) * dz_inv
    tc_b = (-half_h - o[2]) * dz_inv
    t_cap = np.minimum(tc_a, tc_b)
    px = o[0] + t_cap * d[:, 0]
    py = o[1] + t_cap * d[:, 1]
    cap = (t_cap > 0.0) & (px * px + py * py <= radius * radius)
    t_cap = np.where(cap, t_cap, INF)
    tn = np.minimum(t_side, t_cap)
    # exit: the far side or the far cap
    tf_side = np.where(ok, ts1, INF)
    tf = np.where(np.isfinite(tn), np.minimum(tf_side, np.maximum(tc_a, tc_b)), INF)
    # incidence
    ts = np.where(side, ts0, 0.0)
    hx = o[0] + ts * d[:, 0]
    hy = o[1] + ts * d[:, 1]
    with np.errstate(invalid="ignore"):
        cos_side = np.abs(hx * d[:, 0] + hy * d[:, 1]) / radius
    cos = np.where(t_side <= t_cap, cos_side, np.abs(d[:, 2]))
    return tn, tf, np.nan_to_num(np.clip(cos, 0.0, 1.0))


def ray_ellipsoid(o, d, radii):
    """Ellipsoid centred at the origin with semi-axes `radii` along local x, y, z."""
    r = np.asarray(radii, dtype=np.float64)
    os_ = o / r
    ds = d / r
    a = (ds * ds).sum(1)
    b = 2.0 * (ds @ os_)
    c = float(os_ @ os_) - 1.0
    disc = b * b - 4.0 * a * c
    ok = disc >= 0.0
    sq = np.sqrt(np.where(ok, disc, 0.0))
    t0 = (-b - sq) / (2.0 * a)
    t1 = (-b + sq) / (2.0 * a)
    hit = ok & (t0 > 0.0)
    p = o + t0[:, None] * d
    n = p / (r * r)
    nn = np.linalg.norm(n, axis=1)
    nn = np.where(nn > 0, nn, 1.0)
    cos = np.abs((n * d).sum(1)) / nn
    return np.where(hit, t0, INF), np.where(hit, t1, INF), cos
