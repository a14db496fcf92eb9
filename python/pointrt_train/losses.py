"""IA-SSD training objectives (see docs/training.md for the terms, targets and weights).

Ground truth per batch: ``gt [B, G, 8]`` float (x, y, z, dx, dy, dz, heading, label) with label 1..C, 0 = padding.

Terms (all weights in ``LossConfig``):
* ``ins{i}``   instance-aware sampling supervision of every centre-aware sampler (sa3's, the vote layer's): the
               points a sampler scores are positive inside a GT box enlarged by ``ins_extra``; soft target =
               centerness in that enlarged box (centroid-aware), one-hot by class when the sampler has one score
               per class, class-agnostic when it has one; sigmoid BCE (or focal), normalised by the positives.
* ``vote``     smooth L1 from each vote centre to its GT box centre, for centres whose origin point lies inside a GT
               box enlarged by ``assign_extra``; mean over those.
* ``cls``      sigmoid BCE over the classes of the 256 centres; target one-hot(class) x centerness of the vote centre
               in its (unenlarged) GT box; normalised by the foreground count.
* ``box``      bin-residual regression of foreground centres: smooth L1 on the 6 centre/size codes, cross-entropy on
               the heading bin, smooth L1 on the true bin's residual.
* ``corner``   Huber distance between the 8 corners of the decoded predicted box and of the GT box (the closer of
               the GT box and its 180-degree flip), mean over corners and foreground.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F

from . import ops


@dataclass
class LossConfig:
    ins_weights: List[float] = field(default_factory=lambda: [1.0, 1.0])  # per centre-aware sampler, in order
    ins_extra: float = 0.2            # GT size enlargement (m, total) for sampler positives
    ins_loss: str = "bce"             # "bce" or "focal"
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    assign_extra: float = 1.0         # GT size enlargement (m, total) for centre foreground (origin point test)
    vote_weight: float = 1.0
    cls_weight: float = 1.0
    box_weight: float = 1.0
    code_weights: List[float] = field(default_factory=lambda: [1.0] * 6)
    dir_cls_weight: float = 0.2
    dir_res_weight: float = 1.0
    corner_weight: float = 1.0
    smooth_l1_beta: float = 1.0 / 9.0

    def to_dict(self):
        return asdict(self)


def _smooth_l1(x: torch.Tensor, beta: float) -> torch.Tensor:
    a = x.abs()
    return torch.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)


def _huber(x: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    a = x.abs()
    q = torch.clamp(a, max=delta)
    return 0.5 * q * q + delta * (a - q)


def _sigmoid_loss(logits, target, cfg: LossConfig):
    if cfg.ins_loss == "focal":
        p = torch.sigmoid(logits)
        ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        pt = p * target + (1 - p) * (1 - target)
        at = cfg.focal_alpha * target + (1 - cfg.focal_alpha) * (1 - target)
        return at * (1 - pt).pow(cfg.focal_gamma) * ce
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def _gather_gt(gt: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
    """gt [B,G,8], gi [B,N] (-1 allowed) -> [B,N,8] (rows of -1 are gt row 0 / zeros when G == 0)."""
    B, N = gi.shape
    if gt.shape[1] == 0:
        return gt.new_zeros(B, N, gt.shape[-1])
    return torch.gather(gt, 1, gi.clamp(min=0)[..., None].expand(B, N, gt.shape[-1]))


def _local_of(local: torch.Tensor, gi: torch.Tensor) -> torch.Tensor:
    """local [B,N,G,3], gi [B,N] -> the coordinates in the assigned box [B,N,3]."""
    if local.shape[2] == 0:
        return local.new_zeros(local.shape[0], local.shape[1], 3)
    return torch.gather(local, 2, gi.clamp(min=0)[:, :, None, None].expand(-1, -1, 1, 3))[:, :, 0]


def sampler_loss(logits: torch.Tensor, points: torch.Tensor, gt: torch.Tensor, ncls: int, cfg: LossConfig):
    valid = gt[..., 7] > 0
    with torch.no_grad():
        gi, local = ops.assign_points(points, gt, valid, cfg.ins_extra)
        fg = gi >= 0
        g = _gather_gt(gt, gi)
        ctn = ops.centerness(_local_of(local, gi), g[..., 3:6], cfg.ins_extra) * fg.to(points.dtype)
        C = logits.shape[-1]
        if C == 1:
            target = ctn[..., None]
        else:
            cls = (g[..., 7].long() - 1).clamp(0, C - 1)
            target = F.one_hot(cls, C).to(points.dtype) * ctn[..., None]
    loss = _sigmoid_loss(logits, target, cfg).sum() / fg.sum().clamp(min=1).to(logits.dtype)
    return loss, int(fg.sum())


def encode_targets(gt_rows: torch.Tensor, centers: torch.Tensor, head: dict):
    """GT boxes [F,8] and anchor centres [F,3] -> (codes [F,6], bin [F], residual [F]) with the GT class's mean size."""
    nb = head["num_heading_bins"]
    mean = torch.tensor(head["mean_size"], dtype=gt_rows.dtype, device=gt_rows.device)
    ms = mean[(gt_rows[:, 7].long() - 1).clamp(0, mean.shape[0] - 1)]
    diag = torch.sqrt(ms[:, 0] ** 2 + ms[:, 1] ** 2)
    xt = (gt_rows[:, 0] - centers[:, 0]) / diag
    yt = (gt_rows[:, 1] - centers[:, 1]) / diag
    zt = (gt_rows[:, 2] - centers[:, 2]) / ms[:, 2]
    sizes = torch.log(gt_rows[:, 3:6].clamp(min=1e-3) / ms)
    b, res = ops.encode_heading(gt_rows[:, 6], nb, head.get("box_coder", "bin_residual"))
    return torch.cat([torch.stack([xt, yt, zt], dim=1), sizes], dim=1), b, res


def decode_with_size(reg: torch.Tensor, centers: torch.Tensor, cls_idx: torch.Tensor, head: dict) -> torch.Tensor:
    """Differentiable decoding [F,30] -> boxes [F,7] with the mean size of class ``cls_idx`` (0-based) and the
    arg-max heading bin."""
    nb = head["num_heading_bins"]
    mean = torch.tensor(head["mean_size"], dtype=reg.dtype, device=reg.device)
    ms = mean[cls_idx]
    diag = torch.sqrt(ms[:, 0] ** 2 + ms[:, 1] ** 2)
    x = reg[:, 0] * diag + centers[:, 0]
    y = reg[:, 1] * diag + centers[:, 1]
    z = reg[:, 2] * ms[:, 2] + centers[:, 2]
    d = torch.exp(reg[:, 3:6].clamp(max=6.0)) * ms
    b = torch.argmax(reg[:, 6:6 + nb], dim=1)
    res = torch.gather(reg[:, 6 + nb:6 + 2 * nb], 1, b[:, None])[:, 0]
    th = ops.decode_heading(b, res, nb, head.get("box_coder", "bin_residual"))
    return torch.cat([torch.stack([x, y, z], 1), d, th[:, None]], dim=1)


def corner_loss(pred: torch.Tensor, gt7: torch.Tensor) -> torch.Tensor:
    cp = ops.box_corners(pred)
    cg = ops.box_corners(gt7)
    flip = gt7.clone()
    flip[:, 6] = flip[:, 6] + math.pi
    cf = ops.box_corners(flip)
    dist = torch.minimum((cp - cg).norm(dim=-1), (cp - cf).norm(dim=-1))
    return _huber(dist, 1.0).mean(dim=1)


def compute_losses(inter: Dict[str, torch.Tensor], gt: torch.Tensor, config: dict, cfg: LossConfig):
    """All loss terms -> (total, {name: float}) for one forward's outputs ``inter``."""
    head = config["head"]
    ncls = len(config["classes"])
    nb = head["num_heading_bins"]
    dtype = inter["head.cls"].dtype
    gt = gt.to(dtype)
    valid = gt[..., 7] > 0
    terms: Dict[str, torch.Tensor] = {}
    stats: Dict[str, float] = {}

    # 1. instance-aware sampling supervision
    samplers = [f"{l['name']}.sampler" for l in config["sa_layers"] if l["sampler"]["type"] == "ctr_topk"]
    samplers.append("vote.sampler")
    for i, s in enumerate(samplers):
        w = cfg.ins_weights[i] if i < len(cfg.ins_weights) else 1.0
        if w == 0:
            continue
        l, npos = sampler_loss(inter[f"{s}.logits"], inter[f"{s}.points"], gt, ncls, cfg)
        terms[f"ins{i}"] = w * l
        stats[f"ins{i}_pos"] = npos

    # 2. foreground centres: origin point inside an enlarged GT box
    centers = inter["vote.centers"]
    with torch.no_grad():
        gi, _ = ops.assign_points(inter["vote.ctr_xyz"], gt, valid, cfg.assign_extra)
        fg = gi >= 0
        g = _gather_gt(gt, gi)
        local_c = ops.to_box_frame(centers.detach(), gt)
        ctn = ops.centerness(_local_of(local_c, gi), g[..., 3:6]) * fg.to(dtype)
    nfg = fg.sum()
    norm = nfg.clamp(min=1).to(dtype)
    stats["fg"] = int(nfg)

    # vote
    vd = _smooth_l1(centers - g[..., :3], cfg.smooth_l1_beta).sum(-1)
    terms["vote"] = cfg.vote_weight * (vd * fg.to(dtype)).sum() / norm

    # 3. classification of the centres
    cls_logits = inter["head.cls"]
    with torch.no_grad():
        onehot = F.one_hot((g[..., 7].long() - 1).clamp(0, ncls - 1), ncls).to(dtype)
        target = onehot * ctn[..., None]
    terms["cls"] = cfg.cls_weight * F.binary_cross_entropy_with_logits(cls_logits, target,
                                                                       reduction="none").sum() / norm

    # 4. box regression + 5. corners, foreground only
    reg = inter["head.reg"][fg]
    if reg.shape[0] > 0:
        g_fg = g[fg]
        c_fg = centers[fg]
        with torch.no_grad():
            codes, b, res = encode_targets(g_fg, c_fg.detach(), head)
        cw = torch.tensor(cfg.code_weights, dtype=dtype, device=reg.device)
        l_code = (_smooth_l1(reg[:, :6] - codes, cfg.smooth_l1_beta) * cw).sum() / norm
        l_bin = F.cross_entropy(reg[:, 6:6 + nb], b, reduction="sum") / norm
        res_pred = torch.gather(reg[:, 6 + nb:6 + 2 * nb], 1, b[:, None])[:, 0]
        l_res = _smooth_l1(res_pred - res, cfg.smooth_l1_beta).sum() / norm
        terms["box"] = cfg.box_weight * (l_code + cfg.dir_cls_weight * l_bin + cfg.dir_res_weight * l_res)
        pred = decode_with_size(reg, c_fg, (g_fg[:, 7].long() - 1).clamp(0, ncls - 1), head)
        terms["corner"] = cfg.corner_weight * corner_loss(pred, g_fg[:, :7]).sum() / norm
        stats.update({"box_code": float(l_code), "box_bin": float(l_bin), "box_res": float(l_res)})
    else:
        zero = inter["head.reg"].sum() * 0.0
        terms["box"] = zero
        terms["corner"] = zero

    total = sum(terms.values())
    out = {k: float(v.detach()) for k, v in terms.items()}
    out.update(stats)
    out["total"] = float(total.detach())
    return total, out
