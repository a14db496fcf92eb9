"""KITTI-layout dataset for training: reading, label -> LiDAR box conversion, augmentation, preprocessing.

Layout (real KITTI or pointrt_sim output): ``ROOT/[training/]velodyne/NNNNNN.bin``, ``label_2/NNNNNN.txt``,
``calib/NNNNNN.txt``; optionally ``ROOT/ImageSets/<split>.txt`` lists the frame ids of a split.

Every random choice of a sample comes from numpy's ``default_rng([seed, epoch, position])`` only, so a sample is a
pure function of (frame, seed, epoch, position in the epoch): data order and augmentation are reproducible, also
across a resume and with any number of loader workers.
"""
from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from pointrt_sim import kitti

F32 = np.float32


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------

def resolve_root(path: str) -> str:
    """DIR or DIR/training, whichever holds velodyne/."""
    for cand in (path, os.path.join(path, "training")):
        if os.path.isdir(os.path.join(cand, "velodyne")):
            return cand
    raise FileNotFoundError(f"{path}: no velodyne/ directory (looked in {path} and {path}/training)")


def list_frames(root: str, split_file: Optional[str] = None) -> List[str]:
    if split_file:
        with open(split_file, "r", encoding="utf-8") as f:
            return [ln.strip() for ln in f if ln.strip()]
    names = sorted(n[:-4] for n in os.listdir(os.path.join(root, "velodyne")) if n.endswith(".bin"))
    return names


def read_points(path: str) -> np.ndarray:
    data = np.fromfile(path, dtype="<f4")
    if data.size % 4:
        raise ValueError(f"{path}: size is not a multiple of 16 bytes")
    return data.reshape(-1, 4).astype(F32)


def read_calib(path: str) -> kitti.Calib:
    """KITTI calib file -> pointrt_sim Calib (needs P2, R0_rect, Tr_velo_to_cam; accepts R_rect/Tr_velo_cam)."""
    values: Dict[str, List[float]] = {}
    with open(path, "r", encoding="utf-8") as f:
        for line in f:
            if ":" not in line:
                continue
            key, rest = line.split(":", 1)
            try:
                values[key.strip()] = [float(x) for x in rest.split()]
            except ValueError:
                continue
    aliases = {"R_rect": "R0_rect", "Tr_velo_cam": "Tr_velo_to_cam"}
    for a, k in aliases.items():
        if a in values and k not in values:
            values[k] = values[a]
    for k, n in (("P2", 12), ("R0_rect", 9), ("Tr_velo_to_cam", 12)):
        if k not in values or len(values[k]) != n:
            raise ValueError(f"{path}: missing or malformed {k}")
    return kitti.Calib({k: values[k] for k in ("P2", "R0_rect", "Tr_velo_to_cam")})


def parse_labels(text: str) -> List[dict]:
    """label_2 lines (15 columns, or 16 with a score) -> dicts (type, truncated, occluded, alpha, bbox, h, w, l, x, y,
    z, ry[, score]): the simulator's strict parser (finite numbers, integer occlusion)."""
    return kitti.parse_label_text(text, with_score=True)


def labels_to_boxes(labels: List[dict], calib: kitti.Calib, classes: Sequence[str]) -> np.ndarray:
    """Objects of ``classes`` (others, DontCare included, are skipped) -> LiDAR boxes [G,8] float64
    (x, y, z, dx, dy, dz, heading, label 1..C): bottom centre through the inverse calib, z += h/2,
    (dx, dy, dz) = (l, w, h), heading = -ry - pi/2 wrapped to [-pi, pi)."""
    rows = []
    for o in labels:
        if o["type"] not in classes:
            continue
        rows.append((o["x"], o["y"], o["z"], o["h"], o["w"], o["l"], o["ry"], classes.index(o["type"]) + 1))
    if not rows:
        return np.zeros((0, 8), np.float64)
    a = np.asarray(rows, np.float64)
    bottom = calib.cam_to_lidar(a[:, 0:3])
    heading = -a[:, 6] - math.pi / 2
    heading = heading - 2 * math.pi * np.floor((heading + math.pi) / (2 * math.pi))
    return np.stack([bottom[:, 0], bottom[:, 1], bottom[:, 2] + a[:, 3] / 2, a[:, 5], a[:, 4], a[:, 3], heading,
                     a[:, 7]], axis=1)


def fov_mask(points: np.ndarray, calib: kitti.Calib) -> np.ndarray:
    """Points whose projection by P2 lies in the image (KITTI's labelled field of view)."""
    u, v, d = calib.project_lidar(points[:, :3])
    return (d > 0) & (u >= 0) & (u < kitti.IMAGE_W) & (v >= 0) & (v < kitti.IMAGE_H)


# ---------------------------------------------------------------------------------------------------------------
# Geometry helpers (numpy)
# ---------------------------------------------------------------------------------------------------------------

def points_in_boxes(points: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """[N,G] bool: point inside box (each half size enlarged by margin)."""
    if boxes.shape[0] == 0:
        return np.zeros((points.shape[0], 0), bool)
    d = points[:, None, :3].astype(np.float64) - boxes[None, :, :3]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    lx = d[..., 0] * c + d[..., 1] * s
    ly = -d[..., 0] * s + d[..., 1] * c
    return ((np.abs(lx) <= boxes[:, 3] / 2 + margin) & (np.abs(ly) <= boxes[:, 4] / 2 + margin) &
            (np.abs(d[..., 2]) <= boxes[:, 5] / 2 + margin))


# ---------------------------------------------------------------------------------------------------------------
# Augmentation (all in the LiDAR frame; points [N,>=3], boxes [G,8])
# ---------------------------------------------------------------------------------------------------------------

def flip_x(points: np.ndarray, boxes: np.ndarray):
    """Mirror across the x axis (the x-z plane): y -> -y, heading -> -heading."""
    p, b = points.copy(), boxes.copy()
    p[:, 1] = -p[:, 1]
    b[:, 1] = -b[:, 1]
    b[:, 6] = -b[:, 6]
    return p, b


def rotate_z(points: np.ndarray, boxes: np.ndarray, angle: float):
    c, s = math.cos(angle), math.sin(angle)
    p, b = points.copy(), boxes.copy()
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    p[:, 0] = c * x - s * y
    p[:, 1] = s * x + c * y
    bx, by = boxes[:, 0].copy(), boxes[:, 1].copy()
    b[:, 0] = c * bx - s * by
    b[:, 1] = s * bx + c * by
    b[:, 6] = boxes[:, 6] + angle
    return p, b


def scale(points: np.ndarray, boxes: np.ndarray, factor: float):
    p, b = points.copy(), boxes.copy()
    p[:, :3] = p[:, :3] * factor
    b[:, :6] = b[:, :6] * factor
    return p, b


def wrap(a: np.ndarray) -> np.ndarray:
    return a - 2 * math.pi * np.floor((a + math.pi) / (2 * math.pi))


def augment(points: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, rot: float = math.pi / 4,
            scale_range=(0.95, 1.05), flip: bool = True):
    """Random flip along x (p = 0.5), global rotation U(-rot, rot) about z, global scaling U(scale_range)."""
    if flip and rng.random() < 0.5:
        points, boxes = flip_x(points, boxes)
    if rot > 0:
        points, boxes = rotate_z(points, boxes, float(rng.uniform(-rot, rot)))
    if scale_range is not None and scale_range[0] != scale_range[1]:
        points, boxes = scale(points, boxes, float(rng.uniform(scale_range[0], scale_range[1])))
    boxes = boxes.copy()
    boxes[:, 6] = wrap(boxes[:, 6])
    return points.astype(F32), boxes


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing (pointrt semantics: crop x/y inclusive, keep far points, sample to N, shuffle)
# ---------------------------------------------------------------------------------------------------------------

def crop(points: np.ndarray, pc_range: Sequence[float], crop_z: bool = False) -> np.ndarray:
    r = [F32(v) for v in pc_range]
    m = (points[:, 0] >= r[0]) & (points[:, 0] <= r[3]) & (points[:, 1] >= r[1]) & (points[:, 1] <= r[4])
    if crop_z:
        m &= (points[:, 2] >= r[2]) & (points[:, 2] <= r[5])
    return points[m]


def sample_points(points: np.ndarray, num_points: int, rng: np.random.Generator,
                  far_threshold: float = 40.0) -> np.ndarray:
    """Exactly num_points rows: more -> all points at range >= far_threshold plus near points drawn without
    replacement (or num_points from all if the far ones alone suffice); fewer -> every point, whole copies while they
    fit, the rest drawn without replacement; none -> zeros. Rows are shuffled."""
    m = points.shape[0]
    if m == 0:
        return np.zeros((num_points, points.shape[1] if points.ndim == 2 else 4), F32)
    if m > num_points:
        d2 = (points[:, :3].astype(F32) ** 2).sum(1)
        far = np.nonzero(d2 >= F32(far_threshold) ** 2)[0]
        near = np.nonzero(d2 < F32(far_threshold) ** 2)[0]
        if far.shape[0] >= num_points:
            chosen = rng.choice(m, num_points, replace=False)
        else:
            chosen = np.concatenate([far, rng.choice(near, num_points - far.shape[0], replace=False)])
    else:
        reps = num_points // m
        chosen = np.concatenate([np.tile(np.arange(m), reps), rng.choice(m, num_points - reps * m, replace=False)])
    chosen = chosen[rng.permutation(chosen.shape[0])]
    return np.ascontiguousarray(points[chosen].astype(F32))


def boxes_in_range(boxes: np.ndarray, pc_range: Sequence[float]) -> np.ndarray:
    """Boxes whose centre lies in the x/y range (as training pipelines drop boxes outside the cropped area)."""
    return ((boxes[:, 0] >= pc_range[0]) & (boxes[:, 0] <= pc_range[3]) & (boxes[:, 1] >= pc_range[1]) &
            (boxes[:, 1] <= pc_range[4]))


# ---------------------------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------------------------

class KittiDataset(torch.utils.data.Dataset):
    """Items are addressed by (frame position, epoch, position in epoch); see EpochSampler."""

    def __init__(self, root: str, config: dict, frames: Optional[List[str]] = None, seed: int = 0,
                 train: bool = True, fov: bool = True, min_points_in_box: int = 1, aug: Optional[dict] = None,
                 cache: bool = False):
        self.root = resolve_root(root)
        self.cfg = config
        self.classes = list(config["classes"])
        self.frames = frames if frames is not None else list_frames(self.root)
        if not self.frames:
            raise ValueError(f"{root}: no frames")
        self.seed = seed
        self.train = train
        self.fov = fov
        self.min_points_in_box = min_points_in_box
        self.aug = {"flip": True, "rot": math.pi / 4, "scale": (0.95, 1.05)}
        if aug:
            self.aug.update(aug)
        self._cache: Optional[dict] = {} if cache else None

    def __len__(self):
        return len(self.frames)

    def load_raw(self, i: int):
        """(points [N,4] float32, boxes [G,8] float64, calib) of frame i, FOV-filtered if enabled."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        name = self.frames[i]
        pts = read_points(os.path.join(self.root, "velodyne", name + ".bin"))
        calib = read_calib(os.path.join(self.root, "calib", name + ".txt"))
        lab_path = os.path.join(self.root, "label_2", name + ".txt")
        boxes = np.zeros((0, 8))
        if os.path.exists(lab_path):
            with open(lab_path, "r", encoding="utf-8") as f:
                boxes = labels_to_boxes(parse_labels(f.read()), calib, self.classes)
        if self.fov:
            pts = pts[fov_mask(pts, calib)]
        if self.min_points_in_box > 0 and boxes.shape[0]:
            n_in = points_in_boxes(pts, boxes).sum(0)
            boxes = boxes[n_in >= self.min_points_in_box]
        out = (pts, boxes, calib)
        if self._cache is not None:
            self._cache[i] = out
        return out

    def make_sample(self, i: int, epoch: int, pos: int) -> dict:
        pts, boxes, _ = self.load_raw(i)
        rng = np.random.default_rng([self.seed, epoch, pos])
        if self.train:
            pts, boxes = augment(pts, boxes, rng, rot=self.aug["rot"], scale_range=self.aug["scale"],
                                 flip=self.aug["flip"])
        inp = self.cfg["input"]
        pc_range = inp["point_cloud_range"]
        pts = crop(pts, pc_range, inp.get("crop_z", False))
        boxes = boxes[boxes_in_range(boxes, pc_range)]
        pts = sample_points(pts, inp["num_points"], rng)
        return {"points": pts, "boxes": boxes.astype(F32), "frame": self.frames[i]}

    def __getitem__(self, key):
        if isinstance(key, tuple):
            i, epoch, pos = key
        else:
            i, epoch, pos = int(key), 0, int(key)
        return self.make_sample(i, epoch, pos)


def collate(samples: List[dict]) -> dict:
    B = len(samples)
    G = max([s["boxes"].shape[0] for s in samples] + [0])
    gt = np.zeros((B, G, 8), F32)
    for b, s in enumerate(samples):
        gt[b, :s["boxes"].shape[0]] = s["boxes"]
    return {"points": torch.from_numpy(np.stack([s["points"] for s in samples])), "gt": torch.from_numpy(gt),
            "frames": [s["frame"] for s in samples]}


class EpochSampler(torch.utils.data.Sampler):
    """Yields (frame, epoch, position) keys: epoch e visits the frames in the order
    default_rng([seed, e]).permutation(n), batches are consecutive runs of batch_size (the last partial batch of an
    epoch is dropped); starts at global step ``start_step``."""

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int = 0, shuffle: bool = True):
        self.n, self.bs, self.seed, self.start, self.shuffle = n, batch_size, seed, start_step, shuffle
        self.steps_per_epoch = max(1, n // batch_size)

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def __iter__(self):
        step = self.start
        while True:
            epoch, k = divmod(step, self.steps_per_epoch)
            order = self.order(epoch)
            if self.n < self.bs:  # tiny datasets: cycle the order
                order = np.resize(order, self.bs)
            for j in range(k * self.bs, (k + 1) * self.bs):
                yield (int(order[j]), epoch, j)
            step += 1

    def __len__(self):  # infinite in practice
        return 1 << 62
