"""Write KITTI label files (with score) for every frame of a KITTI-layout directory, for `pointrt eval`.

    python -m pointrt_train.predict --weights W.safetensors --data DIR --out PRED_DIR
        [--config models/iassd_hvcsx2_kitti.json] [--engine ref|torch] [--device cpu|cuda] [--fov] [--seed 0]

Runs the reference network (pointrt_ref.model, CPU) by default; ``--engine torch`` runs the training module with the
same weights instead (faster, on --device). Preprocessing: crop to the config's x/y range, sample to num_points
keeping far points (seeded per frame), like pointrt's; ``--fov`` also keeps only points in the camera's view.
``--dump-inputs`` writes the rows the network saw, so `pointrt detect --presampled` can run on exactly the same input.
Each detection becomes one label_2 line: class, truncated 0, occluded 0, alpha, the 2D box of the projected 3D box
(clipped to the image), h w l x y z rotation_y in the rectified camera frame, and the score. Boxes with no part in
front of the camera are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import zlib
from typing import List, Optional

import numpy as np
import torch

from pointrt_ref.model import load_config, load_model
from pointrt_sim import kitti

from .data import crop, fov_mask, list_frames, read_calib, read_points, resolve_root, sample_points


def label_lines(boxes: np.ndarray, scores: np.ndarray, classes: List[str], calib) -> List[str]:
    lines = []
    for box, score in zip(boxes, scores):
        cls = int(round(float(box[7]))) - 1
        if cls < 0 or cls >= len(classes):
            continue
        lab = kitti.lidar_box_to_label(box[:7], calib)
        full = kitti.project_box_unclipped(lab["h"], lab["w"], lab["l"], lab["x"], lab["y"], lab["z"], lab["ry"],
                                           calib)
        if full is None:
            continue
        l, t, r, b = kitti.clip_box(full)
        lines.append("%s 0.00 0 %.4f %.2f %.2f %.2f %.2f %.4f %.4f %.4f %.4f %.4f %.4f %.4f %.6f" % (
            classes[cls], lab["alpha"], l, t, r, b, lab["h"], lab["w"], lab["l"], lab["x"], lab["y"], lab["z"],
            lab["ry"], float(score)))
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default_cfg = os.path.join(here, "..", "..", "models", "iassd_hvcsx2_kitti.json")
    ap = argparse.ArgumentParser(prog="pointrt_train.predict", description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default=default_cfg)
    ap.add_argument("--engine", choices=["ref", "torch"], default="ref")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fov", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-file", default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N frames")
    ap.add_argument("--presampled", action="store_true",
                    help="frames already hold the model's num_points rows (as --dump-inputs writes them): no FOV "
                         "filter, crop or sampling")
    ap.add_argument("--dump-inputs", default=None, metavar="DIR",
                    help="also write each frame's network input (num_points rows, float32) to DIR/velodyne with "
                         "its calib and label_2, for `pointrt detect --presampled` on the very same rows")
    a = ap.parse_args(argv)
    cfg = load_config(a.config)
    root = resolve_root(a.data)
    frames = list_frames(root, a.split_file)
    if a.limit is not None:
        frames = frames[:a.limit]
    os.makedirs(a.out, exist_ok=True)
    ref = load_model(a.config, a.weights)
    net = None
    if a.engine == "torch":
        from .model import IASSDNet
        from pointrt_ref import ops as ref_ops
        net = IASSDNet(cfg)
        net.load_export_state(ref.w)
        net = net.to(a.device).eval()
    inp = cfg["input"]
    n_det = 0
    if a.dump_inputs:
        for sub in ("velodyne", "calib", "label_2"):
            os.makedirs(os.path.join(a.dump_inputs, sub), exist_ok=True)
    for name in frames:
        pts = read_points(os.path.join(root, "velodyne", name + ".bin"))
        calib = read_calib(os.path.join(root, "calib", name + ".txt"))
        if a.presampled:
            if pts.shape[0] != inp["num_points"]:
                raise SystemExit(f"{name}.bin: --presampled needs {inp['num_points']} points, the file has "
                                 f"{pts.shape[0]}")
            sampled = np.ascontiguousarray(pts.astype(np.float32))
        else:
            if a.fov:
                pts = pts[fov_mask(pts, calib)]
            pts = crop(pts, inp["point_cloud_range"], inp.get("crop_z", False))
            rng = np.random.default_rng([a.seed, zlib.crc32(name.encode())])
            sampled = sample_points(pts, inp["num_points"], rng)
        if a.dump_inputs:
            sampled.astype("<f4").tofile(os.path.join(a.dump_inputs, "velodyne", name + ".bin"))
            for sub in ("calib", "label_2"):
                src = os.path.join(root, sub, name + ".txt")
                if os.path.exists(src):
                    shutil.copyfile(src, os.path.join(a.dump_inputs, sub, name + ".txt"))
        x = torch.from_numpy(sampled)[None]
        with torch.no_grad():
            if net is None:
                boxes, scores, nums, _ = ref.forward(x)
            else:
                from .model import decode
                inter = net(x.to(a.device))
                bi, si = decode(inter, cfg["head"])
                bi, si = bi.cpu(), si.cpu()
                post = cfg["post"]
                boxes, scores, nums, _ = ref_ops.nms_bev(bi, si, post["score_threshold"], post["iou_threshold"],
                                                         post["max_out"], post.get("pre_max", 0))
        k = int(nums[0])
        lines = label_lines(boxes[0, :k].numpy().astype(np.float64), scores[0, :k].numpy(), cfg["classes"], calib)
        n_det += len(lines)
        with open(os.path.join(a.out, name + ".txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(ln + "\n" for ln in lines))
    print(json.dumps({"frames": len(frames), "detections": n_det, "out": a.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
