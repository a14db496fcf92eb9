"""The simulated Velodyne HDL-64E and the ray caster.

A scene is a ground height field (planar patches in a road frame, with kerb faces) plus a list of entities, each a
set of primitives (boxes, cylinders, ellipsoids). Every ray of the scan grid (64 beams x N azimuth columns) is
intersected with the ground over the whole grid and with each entity only inside the entity's angular window
(beam range x column range that its bounding box covers); a depth buffer keeps the first hit along each ray, so
occlusion is physical.
"""
import math

import numpy as np

from . import geometry as g

SENSOR_HEIGHT = 1.73


def hdl64_elevations():
    """64 beam elevations in degrees, top first: the upper block of 32 lasers at 1/3 deg spacing from +2.0 to
    -8.33, the lower block of 32 at ~0.52 deg spacing from -8.83 to -24.9 (HDL-64E's non-uniform layout), with a
    fixed small per-laser calibration offset (deterministic, +-0.03 deg)."""
    upper = 2.0 - np.arange(32) / 3.0
    lower = np.linspace(-8.83, -24.9, 32)
    el = np.concatenate([upper, lower])
    offs = np.sin(np.arange(64) * 12.9898) * 0.03  # fixed 'calibration' jitter, not random per scene
    el = el + offs
    el[0], el[-1] = 2.0, -24.9
    return el


class LidarConfig:
    """Sensor parameters. `columns` is the number of firings per laser per revolution: 2083 (0.1728 deg) gives
    64 x 2083 = 133k rays, the HDL-64E's 1.33 M points/s at KITTI's 10 Hz spin."""

    def __init__(self, columns=2083, max_range=120.0, min_range=1.0, range_noise=0.02, random_dropout=0.03,
                 intensity_noise=0.02, detect_range=55.0):
        self.columns = int(columns)
        self.max_range = float(max_range)
        self.min_range = float(min_range)
        self.range_noise = float(range_noise)
        self.random_dropout = float(random_dropout)
        self.intensity_noise = float(intensity_noise)
        self.detect_range = float(detect_range)  # range where a ground-like return (reflectivity 0.25) is 50 % lost
        self.elevations = hdl64_elevations()

    @property
    def azimuth_res_deg(self):
        return 360.0 / self.columns

    def directions(self):
        el = np.radians(self.elevations)
        az = -math.pi + (np.arange(self.columns) + 0.5) * (2.0 * math.pi / self.columns)
        ce = np.cos(el)[:, None]
        return np.stack([ce * np.cos(az)[None, :], ce * np.sin(az)[None, :],
                         np.broadcast_to(np.sin(el)[:, None], (64, self.columns))], axis=-1)


# ---------------------------------------------------------------------------------------------------- materials
# kind: 0 lambertian, 1 glass (often no return, dark), 2 vegetation (porous, random orientation),
#       3 spoked wheel (mostly see-through)
LAMBERT, GLASS, VEGETATION, SPOKES = 0, 1, 2, 3


class Material:
    def __init__(self, rho, kind=LAMBERT, porosity=0.3):
        self.rho = float(rho)
        self.kind = kind
        self.porosity = float(porosity)  # vegetation: mean penetration depth (m); spokes: hit probability


class Primitive:
    """kind 'box' (half extents), 'cyl' (radius, half height along local z), 'ell' (semi-axes). `R` rows are the
    local axes in the world frame; local = R @ (p - centre)."""

    def __init__(self, kind, centre, R, size, material):
        self.kind = kind
        self.centre = np.asarray(centre, dtype=np.float64)
        self.R = np.asarray(R, dtype=np.float64)
        self.size = np.asarray(size, dtype=np.float64)
        self.material = material

    def bound_corners(self):
        if self.kind == "box":
            h = self.size
        elif self.kind == "cyl":
            h = np.array([self.size[0], self.size[0], self.size[1]])
        else:
            h = self.size
        s = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
        return self.centre + (s * h) @ self.R


class Entity:
    """A group of primitives: one labelled object (`cls` set) or one piece of static scenery."""

    def __init__(self, primitives, cls=None, box=None, name=""):
        self.primitives = list(primitives)
        self.cls = cls          # 'Car', 'Pedestrian', 'Cyclist' or None
        self.box = box          # LiDAR box (x, y, z, dx, dy, dz, heading) for labelled objects
        self.name = name
        self.corners = np.concatenate([p.bound_corners() for p in self.primitives])


class Ground:
    """Height field z(u, v) in a road frame (u along the road at angle `theta`, v to its left), made of planar
    patches z = a + b u + c v over rectangles [u0, u1) x [v0, v1), plus vertical kerb faces at v = vk between the
    heights of the two patches that meet there. `materials[i]` is the patch material; `markings` lists lateral
    (v0, v1, dash_period or 0) painted lines on the road."""

    def __init__(self, theta, patches, kerbs, road_v=None, markings=()):
        self.theta = float(theta)
        self.patches = patches     # list of (u0, u1, v0, v1, a, b, c, material)
        self.kerbs = kerbs         # list of (v, u0, u1, (a, b, c) lower patch, (a, b, c) upper patch, material)
        self.road_v = road_v
        self.markings = list(markings)

    def uv(self, x, y):
        c, s = math.cos(self.theta), math.sin(self.theta)
        return x * c + y * s, -x * s + y * c

    def height(self, x, y):
        """Ground height at LiDAR-frame (x, y) (arrays), ignoring kerb faces."""
        u, v = self.uv(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        z = np.full(np.shape(u), np.nan)
        for (u0, u1, v0, v1, a, b, c, _m) in self.patches:
            m = (u >= u0) & (u < u1) & (v >= v0) & (v < v1)
            z = np.where(m, a + b * u + c * v, z)
        return z

    def intersect(self, d):
        """Ground hit for unit directions d [..., 3] from the origin: t, cos, rho."""
        shape = d.shape[:-1]
        d = d.reshape(-1, 3)
        c, s = math.cos(self.theta), math.sin(self.theta)
        du = d[:, 0] * c + d[:, 1] * s
        dv = -d[:, 0] * s + d[:, 1] * c
        t = np.full(len(d), np.inf)
        cos = np.zeros(len(d))
        rho = np.zeros(len(d))
        for (u0, u1, v0, v1, a, b, cc, mat) in self.patches:
            den = d[:, 2] - b * du - cc * dv
            with np.errstate(divide="ignore", invalid="ignore"):
                tp = a / den
            ok = np.isfinite(tp) & (tp > 0.0) & (tp < t)
            uu = tp * du
            vv = tp * dv
            ok &= (uu >= u0) & (uu < u1) & (vv >= v0) & (vv < v1)
            if not ok.any():
                continue
            nrm = math.sqrt(1.0 + b * b + cc * cc)
            t = np.where(ok, tp, t)
            cos = np.where(ok, np.abs(den) / nrm, cos)
            r = np.full(len(d), mat.rho)
            if self.markings and self.road_v is not None and self.road_v[0] <= v0 and v1 <= self.road_v[1]:
                for (m0, m1, period) in self.markings:
                    mm = (vv >= m0) & (vv < m1)
                    if period > 0:
                        mm &= np.mod(uu, period) < 0.5 * period
                    r = np.where(mm, 0.75, r)
            rho = np.where(ok, r, rho)
        for (vk, u0, u1, lo_patch, hi_patch, mat) in self.kerbs:
            with np.errstate(divide="ignore", invalid="ignore"):
                tk = vk / dv
            ok = np.isfinite(tk) & (tk > 0.0) & (tk < t)
            uu = tk * du
            zz = tk * d[:, 2]
            a0, b0, c0 = lo_patch
            a1, b1, c1 = hi_patch
            z_lo = a0 + b0 * uu + c0 * vk
            z_hi = a1 + b1 * uu + c1 * vk
            ok &= (uu >= u0) & (uu < u1) & (zz >= np.minimum(z_lo, z_hi)) & (zz <= np.maximum(z_lo, z_hi))
            t = np.where(ok, tk, t)
            cos = np.where(ok, np.abs(dv), cos)
            rho = np.where(ok, mat.rho, rho)
        return t.reshape(shape), cos.reshape(shape), rho.reshape(shape)


class Scene:
    def __init__(self, ground, entities):
        self.ground = ground
        self.entities = list(entities)


# ------------------------------------------------------------------------------------------------------ casting

def _entity_window(ent, cfg, elev_sorted_desc):
    """(beam slice, column index array) covering the entity's bounding corners, or None."""
    pts = ent.corners
    xy = pts[:, :2]
    cxy = xy.mean(0)
    rad = np.linalg.norm(xy - cxy, axis=1).max()
    dc = float(np.linalg.norm(cxy))
    if dc <= rad + 0.05:
        return None  # contains the sensor in xy: not supported for entities
    dmin, dmax = dc - rad, dc + rad
    if dmin > cfg.max_range:
        return None
    zlo, zhi = pts[:, 2].min(), pts[:, 2].max()
    e_lo = math.atan2(zlo, dmin if zlo < 0 else dmax)
    e_hi = math.atan2(zhi, dmin if zhi > 0 else dmax)
    el = np.radians(elev_sorted_desc)
    beams = np.nonzero((el >= e_lo - 1e-9) & (el <= e_hi + 1e-9))[0]
    if len(beams) == 0:
        return None
    ac = math.atan2(cxy[1], cxy[0])
    rel = np.arctan2(xy[:, 1], xy[:, 0]) - ac
    rel = (rel + math.pi) % (2 * math.pi) - math.pi
    amin, amax = ac + rel.min(), ac + rel.max()
    res = 2.0 * math.pi / cfg.columns
    j0 = math.ceil((amin + math.pi) / res - 0.5)
    j1 = math.floor((amax + math.pi) / res - 0.5)
    if j1 < j0:
        return None
    cols = np.arange(j0, j1 + 1) % cfg.columns
    return slice(int(beams[0]), int(beams[-1]) + 1), cols


def _intersect_primitive(p, dirs, rng):
    o = p.R @ (-p.centre)
    dl = dirs @ p.R.T
    if p.kind == "box":
        tn, tf, cos = g.ray_box(o, dl, p.size)
    elif p.kind == "cyl":
        tn, tf, cos = g.ray_cylinder(o, dl, p.size[0], p.size[1])
    else:
        tn, tf, cos = g.ray_ellipsoid(o, dl, p.size)
    m = p.material
    if m.kind == VEGETATION:
        hit = np.isfinite(tn)
        pen = rng.exponential(m.porosity, size=tn.shape)
        t2 = tn + pen
        keep = hit & (t2 < tf)
        tn = np.where(keep, t2, np.inf)
        cos = np.where(keep, rng.uniform(0.2, 1.0, size=tn.shape), cos)
    elif m.kind == SPOKES:
        keep = rng.random(tn.shape) < m.porosity
        tn = np.where(keep, tn, np.inf)
    return tn, cos


def cast(scene, cfg, rng):
    """Casts the full scan grid. Returns dict with per-ray arrays t, cos, rho, kind, ent (entity index or -1 for
    ground / -2 for none) and per labelled entity: (window, t_entity) for the occlusion statistics."""
    D = cfg.directions()
    nb, nc = D.shape[:2]
    t, cos, rho = scene.ground.intersect(D)
    t = np.where(t <= cfg.max_range, t, np.inf)
    ent = np.where(np.isfinite(t), -1, -2).astype(np.int32)
    kind = np.zeros((nb, nc), dtype=np.int8)
    per_obj = {}
    for ei, e in enumerate(scene.entities):
        win = _entity_window(e, cfg, cfg.elevations)
        if win is None:
            continue
        bs, cols = win
        dirs = D[bs][:, cols]
        shp = dirs.shape[:2]
        dflat = dirs.reshape(-1, 3)
        te = np.full(len(dflat), np.inf)
        ce = np.zeros(len(dflat))
        re = np.zeros(len(dflat))
        ke = np.zeros(len(dflat), dtype=np.int8)
        for p in e.primitives:
            tp, cp = _intersect_primitive(p, dflat, rng)
            better = tp < te
            if not better.any():
                continue
            te = np.where(better, tp, te)
            ce = np.where(better, cp, ce)
            re = np.where(better, p.material.rho, re)
            ke = np.where(better, p.material.kind, ke)
        te = np.where(te <= cfg.max_range, te, np.inf).reshape(shp)
        if not np.isfinite(te).any():
            continue
        cur = t[bs][:, cols]
        upd = te < cur
        t[bs, cols] = np.where(upd, te, cur)
        cos[bs, cols] = np.where(upd, ce.reshape(shp), cos[bs][:, cols])
        rho[bs, cols] = np.where(upd, re.reshape(shp), rho[bs][:, cols])
        kind[bs, cols] = np.where(upd, ke.reshape(shp), kind[bs][:, cols])
        ent[bs, cols] = np.where(upd, ei, ent[bs][:, cols])
        if e.cls is not None:
            per_obj[ei] = (bs, cols, te)
    return {"dirs": D, "t": t, "cos": cos, "rho": rho, "kind": kind, "ent": ent, "per_obj": per_obj}


def returns(hits, cfg, rng):
    """Turns first hits into measured points: range noise, dropout (random, grazing incidence, weak return,
    glass) and intensity. Returns (points float32 [N,4], entity index per point [N])."""
    t, cos, rho, kind, ent = hits["t"], hits["cos"], hits["rho"], hits["kind"], hits["ent"]
    D = hits["dirs"]
    shape = t.shape
    hit = np.isfinite(t) & (t >= cfg.min_range)
    tt = np.where(hit, t, 1.0)
    # all random draws cover the whole grid so the stream does not depend on which rays hit
    u_det = rng.random(shape)
    noise = rng.standard_normal(shape)
    inoise = rng.standard_normal(shape)
    # weak returns: received power ~ rho * (0.15 + 0.85 cos) / r^2; a logistic detection curve centred where a
    # rho = 0.25 surface at grazing-ish incidence (cos 0.05) sits at `detect_range`
    power = rho * (0.15 + 0.85 * cos) / (tt * tt)
    p0 = 0.25 * (0.15 + 0.85 * 0.05) / (cfg.detect_range ** 2)
    with np.errstate(divide="ignore"):
        p_det = 1.0 / (1.0 + np.exp(-(np.log(np.maximum(power, 1e-30)) - math.log(p0)) / 0.35))
    # grazing incidence: returns fade below ~1.5 deg
    p_graze = np.clip(cos / 0.025, 0.0, 1.0)
    p_keep = (1.0 - cfg.random_dropout) * p_det * p_graze
    p_keep = np.where(kind == GLASS, p_keep * 0.45, p_keep)
    keep = hit & (u_det < p_keep)
    r = tt + cfg.range_noise * np.clip(noise, -3.0, 3.0)
    pts = D * r[..., None]
    # intensity: reflectivity x incidence (Lambert-like with a floor), mild range fall-off, sensor noise, quantised
    # to 0.01 like KITTI's
    inten = rho * (0.5 + 0.5 * cos) * (1.0 - 0.25 * np.clip(tt / cfg.max_range, 0.0, 1.0))
    inten = np.where(kind == GLASS, inten * 0.5, inten)
    inten = inten + cfg.intensity_noise * inoise
    inten = np.clip(np.round(inten * 100.0) / 100.0, 0.0, 0.99)
    sel = keep.reshape(-1)
    out = np.concatenate([pts.reshape(-1, 3)[sel], inten.reshape(-1)[sel, None]], axis=1).astype(np.float32)
    return out, ent.reshape(-1)[sel], np.nonzero(sel)[0]
