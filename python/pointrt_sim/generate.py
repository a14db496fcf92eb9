"""Writes simulated KITTI-like frames.

    /usr/bin/python3 -m pointrt_sim.generate --out DIR --scenes N --seed S [--split training]
        [--points-per-scan 133312 | --columns 2083] [--start 0]

Frame i is generated from numpy's generator seeded with (seed, i) only, so the same seed gives byte-identical
files and any frame can be regenerated alone. See docs/simulator.md.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from . import kitti
from .lidar import LidarConfig, cast, returns
from .scene import random_scene

MIN_POINTS = 5          # fewer LiDAR points in the image than this: DontCare (if its 2D box is in the image)
MIN_BOX_HEIGHT = 15.0   # 2D box shorter than this (pixels): DontCare
MAX_LABEL_DIST = 80.0   # farther than this (m): DontCare


def occlusion_level(frac_blocked):
    """KITTI-like occlusion from the fraction of the object's rays that first hit something nearer."""
    if frac_blocked < 0.1:
        return 0
    if frac_blocked < 0.5:
        return 1
    if frac_blocked < 0.8:
        return 2
    return 3


def simulate(scene, cfg, rng, calib):
    """Ray-casts `scene` and labels its objects. Returns (points [N,4] float32, labels, info) where labels is the
    list of written label dicts (DontCare included) and info has per-entity statistics."""
    hits = cast(scene, cfg, rng)
    pts, pent, _ = returns(hits, cfg, rng)
    u, v, d = calib.project_lidar(pts[:, :3])
    in_img = (d > 0) & (u >= 0) & (u < kitti.IMAGE_W) & (v >= 0) & (v < kitti.IMAGE_H)
    labels = []
    stats = {}
    for ei, (bs, cols, te) in sorted(hits["per_obj"].items()):
        e = scene.entities[ei]
        n_total = int(np.isfinite(te).sum())
        n_first = int((hits["ent"][bs][:, cols] == ei).sum())
        blocked = 1.0 - n_first / n_total if n_total else 1.0
        mine = pent == ei
        n_pts = int(mine.sum())
        n_img = int((mine & in_img).sum())
        lab = e.label
        full = kitti.project_box_unclipped(lab["h"], lab["w"], lab["l"], lab["x"], lab["y"], lab["z"], lab["ry"],
                                           calib)
        st = {"cls": e.cls, "rays": n_total, "first_hits": n_first, "points": n_pts, "points_in_image": n_img,
              "blocked": blocked, "status": "dropped"}
        stats[ei] = st
        if full is None or n_img == 0:
            continue
        bbox = kitti.clip_box(full)
        if bbox[2] - bbox[0] <= 0 or bbox[3] - bbox[1] <= 0:
            continue
        dist = math.hypot(e.box[0], e.box[1])
        if n_img < MIN_POINTS or bbox[3] - bbox[1] < MIN_BOX_HEIGHT or dist > MAX_LABEL_DIST:
            labels.append({"type": "DontCare", "bbox": bbox, "entity": ei})
            st["status"] = "dontcare"
            continue
        obj = dict(lab)
        obj.update({"type": e.cls, "truncated": kitti.round2(kitti.truncation(full)),
                    "occluded": occlusion_level(blocked), "bbox": bbox, "entity": ei})
        labels.append(obj)
        st["status"] = "labelled"
    # objects have no points unless they are hit: also count entities never reached (outside every window)
    for ei, e in enumerate(scene.entities):
        if e.cls is not None and ei not in stats:
            stats[ei] = {"cls": e.cls, "rays": 0, "first_hits": 0, "points": 0, "points_in_image": 0,
                         "blocked": 1.0, "status": "dropped"}
    # KITTI lists the labelled objects first, then DontCare regions
    labels.sort(key=lambda o: (o["type"] == "DontCare", o["entity"]))
    return pts, labels, {"entities": stats, "point_entity": pent}


def frame_rng(seed, index):
    return np.random.default_rng([int(seed), int(index)])


def generate_frame(seed, index, cfg=None, calib=None):
    cfg = cfg or LidarConfig()
    calib = calib or kitti.Calib()
    rng = frame_rng(seed, index)
    scene = random_scene(rng, calib)
    pts, labels, info = simulate(scene, cfg, rng, calib)
    info["scene"] = scene
    return pts, labels, calib, info


def write_frame(root, split, index, pts, labels, calib):
    base = os.path.join(root, split)
    for sub in ("velodyne", "label_2", "calib"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    name = "%06d" % index
    np.ascontiguousarray(pts, dtype="<f4").tofile(os.path.join(base, "velodyne", name + ".bin"))
    with open(os.path.join(base, "label_2", name + ".txt"), "w", newline="\n") as f:
        f.write("".join(kitti.format_label_line(o) + "\n" for o in labels))
    with open(os.path.join(base, "calib", name + ".txt"), "w", newline="\n") as f:
        f.write(calib.to_text())


def main(argv=None):
    ap = argparse.ArgumentParser(prog="pointrt_sim.generate", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output root; files go to OUT/<split>/{velodyne,label_2,calib}")
    ap.add_argument("--scenes", type=int, required=True, help="number of frames")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="training")
    ap.add_argument("--start", type=int, default=0, help="index of the first frame (frame i uses (seed, i))")
    grp = ap.add_mutually_exclusive_group()
    grp.add_argument("--points-per-scan", type=int, default=None,
                     help="laser firings per revolution (64 x columns), default 133312 (HDL-64E at 10 Hz)")
    grp.add_argument("--columns", type=int, default=None, help="firings per laser per revolution (default 2083)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="worker processes (frames are independent, so the output is the same for any number)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.scenes < 0 or a.start < 0:
        ap.error("--scenes and --start must be >= 0")
    if a.jobs < 1:
        ap.error("--jobs must be >= 1")
    cols = 2083
    if a.points_per_scan is not None:
        cols = max(16, int(round(a.points_per_scan / 64)))
    if a.columns is not None:
        cols = max(16, a.columns)
    cfg = LidarConfig(columns=cols)
    work = [(a.out, a.split, a.seed, i, cfg) for i in range(a.start, a.start + a.scenes)]
    if a.jobs == 1:
        results = map(_make_one, work)
    else:
        import multiprocessing
        pool = multiprocessing.get_context("spawn").Pool(a.jobs)
        results = pool.imap(_make_one, work, chunksize=4)
    for i, n_pts, n_lab, n_dc, sec in results:
        if not a.quiet:
            print("%06d: %d points, %d objects, %d DontCare, %.2f s" % (i, n_pts, n_lab, n_dc, sec), file=sys.stderr)
    if a.jobs > 1:
        pool.close()
        pool.join()
    return 0


def _make_one(job):
    root, split, seed, i, cfg = job
    t0 = time.perf_counter()
    pts, labels, calib, _ = generate_frame(seed, i, cfg)
    write_frame(root, split, i, pts, labels, calib)
    n_lab = sum(o["type"] != "DontCare" for o in labels)
    return i, len(pts), n_lab, len(labels) - n_lab, time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
