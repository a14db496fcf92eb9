"""PyTorch reference of the IA-SSD hvcsx2 network (CPU, float32), following shared/spec/model-iassd.md and
pointrt's operator decisions (shared/spec/ops.md).

The network is written functionally over a flat weight dict whose names and shapes are the shared convention
(``weight_shapes(config)``). ``IASSD.forward(points)`` takes an already *preprocessed* ``[B, N, 4]`` float32 tensor
(x, y, z, intensity) and returns ``(boxes [B,P,8], scores [B,P], nums [B] int32, inter)`` where ``inter`` maps a
stable name (e.g. ``sa1.indices``, ``sa3.sampler.logits``, ``vote.centers``, ``head.cls``, ``decode.boxes``) to every
intermediate tensor.

Preprocessing: ``preprocess_simple`` is a deliberately simple deterministic routine for tests and dumps (crop
x in [0, 70.4], y in [-40, 40] inclusive; seeded permutation then first N, or cyclic repetition if fewer). It is NOT
the C++ preprocessing (src/io/preprocess.cpp); parity tests feed the C++-preprocessed points to both sides.
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from . import ops

F32 = np.float32

# ---------------------------------------------------------------------------------------------------------------
# Config and weight names
# ---------------------------------------------------------------------------------------------------------------


def load_config(path: str) -> dict:
    with open(path, "r", encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("format") != "pointrt-iassd":
        raise ValueError(f"{path}: not a pointrt-iassd config (format={cfg.get('format')!r})")
    return cfg


def _conv_shapes(name: str, cin: int, cout: int) -> Dict[str, Tuple[int, ...]]:
    return {f"{name}.weight": (cout, cin), f"{name}.bn.weight": (cout,), f"{name}.bn.bias": (cout,),
            f"{name}.bn.running_mean": (cout,), f"{name}.bn.running_var": (cout,)}


def _linear_shapes(name: str, cin: int, cout: int) -> Dict[str, Tuple[int, ...]]:
    return {f"{name}.weight": (cout, cin), f"{name}.bias": (cout,)}


def conv_block_names(config: dict) -> List[str]:
    """Names of all conv (Linear+BN+ReLU) blocks in evaluation order."""
    return [n[:-len(".bn.running_var")] for n in weight_shapes(config) if n.endswith(".bn.running_var")]


def weight_shapes(config: dict) -> Dict[str, Tuple[int, ...]]:
    """Every weight tensor name -> shape (conventions section 2), in network evaluation order."""
    shapes: Dict[str, Tuple[int, ...]] = {}
    c = len(config["input"]["features"])
    for layer in config["sa_layers"]:
        L = layer["name"]
        smp = layer["sampler"]
        if smp["type"] == "ctr_topk":
            h = c
            for j, w in enumerate(smp["mlp"]):
                shapes.update(_conv_shapes(f"{L}.sampler.mlp{j}", h, w))
                h = w
            shapes.update(_linear_shapes(f"{L}.sampler.out", h, smp["num_scores"]))
        total = 0
        for g, grp in enumerate(layer["groupers"]):
            h = 3 + c
            for j, w in enumerate(grp["mlp"]):
                shapes.update(_conv_shapes(f"{L}.grouper{g}.mlp{j}", h, w))
                h = w
            total += h
        shapes.update(_conv_shapes(f"{L}.aggregation", total, layer["aggregation"]))
        c = layer["aggregation"]
    vote = config["vote"]
    h = c
    for j, w in enumerate(vote["sampler"]["mlp"]):
        shapes.update(_conv_shapes(f"vote.sampler.mlp{j}", h, w))
        h = w
    shapes.update(_linear_shapes("vote.sampler.out", h, vote["sampler"]["num_scores"]))
    h = c
    for j, w in enumerate(vote["offset_mlp"]):
        shapes.update(_conv_shapes(f"vote.offset.mlp{j}", h, w))
        h = w
    shapes.update(_linear_shapes("vote.offset.out", h, 3))
    total = 0
    for g, grp in enumerate(config["vote_sa"]["groupers"]):
        h = 3 + c
        for j, w in enumerate(grp["mlp"]):
            shapes.update(_conv_shapes(f"vote_sa.grouper{g}.mlp{j}", h, w))
            h = w
        total += h
    head = config["head"]
    h = total
    for j, w in enumerate(head["shared_fc"]):
        shapes.update(_conv_shapes(f"head.shared_fc{j}", h, w))
        h = w
    shared = h
    ncls = len(config["classes"])
    for branch, outw in (("cls", ncls), ("reg", 6 + 2 * head["num_heading_bins"])):
        h = shared
        for j, w in enumerate(head[f"{branch}_fc"]):
            shapes.update(_conv_shapes(f"head.{branch}.mlp{j}", h, w))
            h = w
        shapes.update(_linear_shapes(f"head.{branch}.out", h, outw))
    return shapes


# ---------------------------------------------------------------------------------------------------------------
# Data helpers (tests and dumps only)
# ---------------------------------------------------------------------------------------------------------------


def shared_data_dir() -> str:
    """$POINTRT_SHARED_DATA, else <repo>/../shared/data."""
    env = os.environ.get("POINTRT_SHARED_DATA")
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "data")


def kitti_frame_path(frame: int) -> str:
    return os.path.join(shared_data_dir(), "kitti", "training", "velodyne_reduced", f"{frame:06d}.bin")


def load_kitti_bin(path: str) -> np.ndarray:
    """KITTI velodyne .bin -> float32 [n,4] (x, y, z, intensity)."""
    data = np.fromfile(path, dtype="<f4")
    if data.size % 4:
        raise ValueError(f"{path}: size is not a multiple of 16 bytes")
    return data.reshape(-1, 4).astype(F32)


def preprocess_simple(points: np.ndarray, num_points: int, point_cloud_range=(0, -40, -3, 70.4, 40, 1),
                      seed: int = 0) -> np.ndarray:
    """Deterministic test preprocessing -> float32 [num_points, 4].

    Crop 0 <= x <= 70.4 and -40 <= y <= 40 (inclusive, compared in float32; z not cropped); if more than
    num_points remain take the first num_points of a seeded permutation; if fewer, repeat them cyclically;
    no points -> zeros. Differs from src/io/preprocess.cpp on purpose (parity tests share C++ points).
    """
    p = np.asarray(points, dtype=F32)
    r = [F32(v) for v in point_cloud_range]
    m = (p[:, 0] >= r[0]) & (p[:, 0] <= r[3]) & (p[:, 1] >= r[1]) & (p[:, 1] <= r[4])
    p = p[m]
    n = p.shape[0]
    if n == 0:
        return np.zeros((num_points, 4), F32)
    if n >= num_points:
        perm = np.random.default_rng(seed).permutation(n)[:num_points]
        return np.ascontiguousarray(p[perm])
    return np.ascontiguousarray(p[np.arange(num_points) % n])


def load_frames(frames: List[int], num_points: int, seed: int = 0) -> torch.Tensor:
    """Stack preprocessed KITTI frames -> [B, num_points, 4] float32."""
    return torch.from_numpy(np.stack([preprocess_simple(load_kitti_bin(kitti_frame_path(f)), num_points,
                                                        seed=seed) for f in frames]))


# ---------------------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------------------


class IASSD:
    """Functional IA-SSD reference over a flat weight dict (name -> float32 tensor).

    ``calibrate=True`` turns every conv block into a statistics probe: it sets its BN running_mean/var from the
    pre-BN activations it sees (population variance over all rows), then normalises with them. Used by
    make_random_weights to give random weights realistic BatchNorm statistics, layer by layer.
    """

    def __init__(self, config: dict, weights: Dict[str, torch.Tensor]):
        self.cfg = config
        self.w = weights
        self.eps = float(config.get("batchnorm_eps", 1e-5))
        self.calibrate = False
        self.inter: Dict[str, torch.Tensor] = {}

    # -- building blocks --------------------------------------------------------------------------------------

    def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Linear (no bias) -> eval BatchNorm -> ReLU on the last axis."""
        y = torch.matmul(x, self.w[f"{name}.weight"].t())
        if self.calibrate:
            flat = y.reshape(-1, y.shape[-1]).double()
            self.w[f"{name}.bn.running_mean"] = flat.mean(0).float()
            self.w[f"{name}.bn.running_var"] = flat.var(0, unbiased=False).float()
        mean, var = self.w[f"{name}.bn.running_mean"], self.w[f"{name}.bn.running_var"]
        gamma, beta = self.w[f"{name}.bn.weight"], self.w[f"{name}.bn.bias"]
        y = (y - mean) / torch.sqrt(var + self.eps) * gamma + beta
        return torch.relu(y)

    def linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.w[f"{name}.weight"].t()) + self.w[f"{name}.bias"]

    def score_head(self, prefix: str, smp: dict, feats: torch.Tensor) -> torch.Tensor:
        h = feats
        for j in range(len(smp["mlp"])):
            h = self.conv(f"{prefix}.mlp{j}", h)
        return self.linear(f"{prefix}.out", h)

    def groupers(self, prefix: str, groupers: List[dict], xyz, feats, new_xyz) -> torch.Tensor:
        """Ball query + group + MLP + empty-ball handling + max-pool per grouper; concat in grouper order."""
        outs = []
        for g, grp in enumerate(groupers):
            name = f"{prefix}.grouper{g}"
            cnt, idx = ops.ball_query(xyz, new_xyz, grp["radius"], grp["nsample"])
            self.inter[f"{name}.cnt"] = cnt.int()
            self.inter[f"{name}.idx"] = idx.int()
            x = ops.group(xyz, feats, new_xyz, idx)
            for j in range(len(grp["mlp"])):
                x = self.conv(f"{name}.mlp{j}", x)
            if self.cfg.get("empty_ball", "zero") == "zero":
                x = x * (cnt > 0).to(x.dtype)[:, :, None, None]
            pooled = x.max(dim=2).values
            self.inter[f"{name}.pooled"] = pooled
            outs.append(pooled)
        return torch.cat(outs, dim=-1)

    # -- network ----------------------------------------------------------------------------------------------

    def forward(self, points: torch.Tensor):
        cfg = self.cfg
        self.inter = {}
        points = points.float().contiguous()
        self.inter["input.points"] = points
        xyz, feats = points[..., :3].contiguous(), points[..., 3:].contiguous()

        for layer in cfg["sa_layers"]:
            L, smp = layer["name"], layer["sampler"]
            if smp["type"] == "havs":
                ind, vox, cells = ops.havs(xyz, smp["num_samples"], smp["voxel"], smp.get("tolerance", 0.01),
                                           smp.get("max_iter", 20))
                self.inter[f"{L}.sampler.voxel"] = vox
                self.inter[f"{L}.sampler.num_cells"] = cells.int()
            elif smp["type"] == "ctr_topk":
                logits = self.score_head(f"{L}.sampler", smp, feats)
                self.inter[f"{L}.sampler.logits"] = logits
                ind = ops.ctr_topk(logits, smp["num_samples"])
            else:
                raise NotImplementedError(f"{L}: sampler type {smp['type']!r} not in the reference yet")
            # "query": "grid" needs no code here: GridBallQuery must return exactly what BallQuery returns
            # (ops.md decision 2), so the reference always runs the exact ball query.
            new_xyz = ops.gather_points(xyz, ind)
            self.inter[f"{L}.indices"] = ind.int()
            self.inter[f"{L}.xyz"] = new_xyz
            cat = self.groupers(L, layer["groupers"], xyz, feats, new_xyz)
            self.inter[f"{L}.concat"] = cat
            feats = self.conv(f"{L}.aggregation", cat)
            xyz = new_xyz
            self.inter[f"{L}.features"] = feats

        # vote layer: top-k of SA3 points, offset MLP, clamp, add
        vote = cfg["vote"]
        vlog = self.score_head("vote.sampler", vote["sampler"], feats)
        self.inter["vote.sampler.logits"] = vlog
        vidx = ops.ctr_topk(vlog, vote["sampler"]["num_samples"])
        ctr_xyz, ctr_feat = ops.gather_points(xyz, vidx), ops.gather_points(feats, vidx)
        h = ctr_feat
        for j in range(len(vote["offset_mlp"])):
            h = self.conv(f"vote.offset.mlp{j}", h)
        off = self.linear("vote.offset.out", h)
        lim = torch.tensor(vote["max_translation"], dtype=torch.float32)
        off_c = torch.maximum(torch.minimum(off, lim), -lim)
        centers = ctr_xyz + off_c
        self.inter.update({"vote.indices": vidx.int(), "vote.ctr_xyz": ctr_xyz, "vote.ctr_features": ctr_feat,
                           "vote.offsets": off, "vote.centers": centers})

        # vote SA: centres = vote centres, sources = all SA3 points
        vfeat = self.groupers("vote_sa", cfg["vote_sa"]["groupers"], xyz, feats, centers)
        self.inter["vote_sa.features"] = vfeat

        head = cfg["head"]
        h = vfeat
        for j in range(len(head["shared_fc"])):
            h = self.conv(f"head.shared_fc{j}", h)
        self.inter["head.shared"] = h
        branch_out = {}
        for branch in ("cls", "reg"):
            x = h
            for j in range(len(head[f"{branch}_fc"])):
                x = self.conv(f"head.{branch}.mlp{j}", x)
            branch_out[branch] = self.linear(f"head.{branch}.out", x)
            self.inter[f"head.{branch}"] = branch_out[branch]

        boxes_in, scores_in = decode_boxes(branch_out["cls"], branch_out["reg"], centers, head)
        self.inter["decode.boxes"] = boxes_in
        self.inter["decode.scores"] = scores_in

        post = cfg["post"]
        boxes, scores, nums, _ = ops.nms_bev(boxes_in, scores_in, post["score_threshold"], post["iou_threshold"],
                                             post["max_out"], post.get("pre_max", 0))
        self.inter.update({"out.boxes": boxes, "out.scores": scores, "out.nums": nums})
        return boxes, scores, nums, self.inter


def _first_argmax(x: torch.Tensor) -> torch.Tensor:
    """Index of the first maximum along the last axis (explicit, independent of torch.argmax tie rules)."""
    mx = x.max(dim=-1, keepdim=True).values
    ar = torch.arange(x.shape[-1]).expand_as(x)
    return torch.where(x == mx, ar, torch.full_like(ar, x.shape[-1])).min(dim=-1).values


def decode_boxes(cls: torch.Tensor, reg: torch.Tensor, centers: torch.Tensor, head: dict):
    """Bin-residual decoding (spec model-iassd section 5) in float32 -> (boxes [B,M,8], scores [B,M]).

    x = xt*diag + xa, y = yt*diag + ya, z = zt*dza + za, d* = exp(d*t) * mean size of the predicted class
    (first argmax of the logits), b = first argmax of the 12 bin scores, res = residual[b];
    bin_residual: theta = (b + res) * w; bin_ori: theta = ((b*w) - pi) + w/2 + res*(w/2); w = float32(2 pi / nbins).
    score = sigmoid(max logit); label = argmax + 1 as float.
    """
    nb = head["num_heading_bins"]
    mean = torch.tensor(head["mean_size"], dtype=torch.float32)        # [C,3]
    label = _first_argmax(cls)                                           # [B,M]
    ms = mean[label]                                                     # [B,M,3]
    dxa, dya, dza = ms[..., 0], ms[..., 1], ms[..., 2]
    diag = torch.sqrt(dxa * dxa + dya * dya)
    x = reg[..., 0] * diag + centers[..., 0]
    y = reg[..., 1] * diag + centers[..., 1]
    z = reg[..., 2] * dza + centers[..., 2]
    dx = torch.exp(reg[..., 3]) * dxa
    dy = torch.exp(reg[..., 4]) * dya
    dz = torch.exp(reg[..., 5]) * dza
    bins = reg[..., 6:6 + nb]
    resid = reg[..., 6 + nb:6 + 2 * nb]
    b = _first_argmax(bins)
    res = torch.gather(resid, -1, b[..., None])[..., 0]
    w = torch.tensor(F32(2 * math.pi / nb))
    bf = b.to(torch.float32)
    coder = head.get("box_coder", "bin_residual")
    if coder == "bin_residual":
        theta = (bf + res) * w
    elif coder == "bin_ori":
        pi = torch.tensor(F32(math.pi))
        half = torch.tensor(F32(F32(2 * math.pi / nb) / F32(2)))
        theta = ((bf * w) - pi) + half + res * half
    else:
        raise ValueError(f"unknown box_coder {coder!r}")
    boxes = torch.stack([x, y, z, dx, dy, dz, theta, (label + 1).to(torch.float32)], dim=-1)
    scores = torch.sigmoid(cls.max(dim=-1).values)
    return boxes, scores


def load_model(config_path: str, weights_path: str) -> IASSD:
    from .safetensors_io import load_file
    cfg = load_config(config_path)
    w, _ = load_file(weights_path)
    check_weights(cfg, w)
    return IASSD(cfg, w)


def check_weights(config: dict, weights: Dict[str, torch.Tensor]) -> None:
    """Every expected tensor present with the expected shape, and nothing else."""
    exp = weight_shapes(config)
    missing = [n for n in exp if n not in weights]
    extra = [n for n in weights if n not in exp]
    bad = [f"{n} {tuple(weights[n].shape)} != {s}" for n, s in exp.items()
           if n in weights and tuple(weights[n].shape) != s]
    if missing or extra or bad:
        raise ValueError(f"weights do not match config: missing {missing[:5]}, unexpected {extra[:5]}, "
                         f"wrong shape {bad[:5]}")
