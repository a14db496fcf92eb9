"""Torch-native point operators that run on the tensors' own device (CPU or CUDA), for training.

They keep the semantics of shared/spec/model-iassd.md and python/pointrt_ref/ops.py, and on CPU they give the same
indices as the reference for ordinary inputs (same float32 arithmetic order, same tie rules):

* ``havs``        adaptive voxel size by bisection (lo = 0, hi = 2*v0, at most max_iter counts, converged when
                  S <= cells <= S*(1+tol)); one point per occupied cell (smallest squared distance to the cell
                  centre, ties to the lower index); kept points in ascending index; cyclic padding to S.
                  Cells are identified exactly (compacted integer keys), not through a hash table.
* ``ball_query``  first K source points by index with d2 < r*r (float32), cyclic padding, empty ball -> zeros;
                  processed in chunks of centres so that the [B, m, N] work tensors stay within a memory budget.
* ``ctr_topk``, ``gather_points`` and ``group`` are the reference's own (device-agnostic) functions.

Everything that only produces indices runs under ``torch.no_grad()``.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
import torch

from pointrt_ref.ops import ctr_topk, gather_points, group, radius_squared  # noqa: F401  (re-exported)

def round_half_away(q: torch.Tensor) -> torch.Tensor:
    """C roundf (half away from zero) in float32, via the exact trunc/fraction split."""
    t = torch.trunc(q)
    frac = q - t
    return t + torch.where(frac.abs() >= 0.5, torch.sign(q), torch.zeros_like(q))


def _cell_coords(xyz: torch.Tensor, voxel: torch.Tensor) -> torch.Tensor:
    """xyz [B,N,3], voxel [B,3] -> float cell coordinates roundf(p / v) [B,N,3]."""
    return round_half_away(xyz / voxel[:, None, :])


def _cell_keys(k: torch.Tensor):
    """Float cell coordinates [B,N,3] -> (int64 keys [B,N] equal iff same batch item and same cell, divisor such
    that key // divisor is the batch item). Exact: every axis is first compacted to dense ranks (torch.unique), then
    x and y are combined and compacted again, so the final key stays far below 2**63."""
    B, N, _ = k.shape
    ki = k.clamp(-2.0 ** 40, 2.0 ** 40).to(torch.int64).reshape(-1, 3)
    ids = []
    for a in range(3):
        u, inv = torch.unique(ki[:, a], return_inverse=True)
        ids.append((inv, u.numel()))
    (ix, _), (iy, ny), (iz, nz) = ids
    uxy, ixy = torch.unique(ix * ny + iy, return_inverse=True)
    nxy = uxy.numel()
    b = torch.arange(B, device=k.device, dtype=torch.int64).repeat_interleave(N)
    div = nxy * nz
    return ((b * nxy + ixy) * nz + iz).view(B, N), div


def count_cells(xyz: torch.Tensor, voxel: torch.Tensor) -> torch.Tensor:
    """Occupied cells per batch item at voxel [B,3] -> int64 [B]."""
    B = xyz.shape[0]
    keys, div = _cell_keys(_cell_coords(xyz, voxel))
    return torch.bincount(torch.unique(keys.reshape(-1)) // div, minlength=B)


@torch.no_grad()
def havs_voxel_search(xyz: torch.Tensor, num_samples: int, voxel0: Sequence[float], tolerance: float = 0.01,
                      max_iter: int = 20) -> Tuple[torch.Tensor, torch.Tensor]:
    """Bisection of the voxel size, all batch items at once -> (voxel [B,3] float32, cells [B] int64).

    A converged item stops changing; the loop ends when all converged or after max_iter counts; the final size of
    an item is always the last one that was counted (no bisection after the last count)."""
    B = xyz.shape[0]
    dev = xyz.device
    v0 = torch.tensor(np.asarray(voxel0, dtype=np.float32), device=dev).expand(B, 3).contiguous()
    cur, lo, hi = v0.clone(), torch.zeros_like(v0), v0 * 2
    lower = float(np.float32(num_samples))
    upper = float(np.float32(np.float32(num_samples) * (np.float32(1) + np.float32(tolerance))))
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    count = count_cells(xyz, cur)
    for it in range(max(1, max_iter)):
        if it > 0:
            count = torch.where(done, count, count_cells(xyz, cur))
        cf = count.to(torch.float32)
        done = done | ((cf >= lower) & (cf <= upper))
        if it == max_iter - 1 or bool(done.all()):
            break
        more = (count > num_samples) & ~done
        less = (count <= num_samples) & ~done
        lo = torch.where(more[:, None], cur, lo)
        hi = torch.where(less[:, None], cur, hi)
        cur = torch.where(done[:, None], cur, (lo + hi) / 2)
    return cur, count


@torch.no_grad()
def havs_select(xyz: torch.Tensor, voxel: torch.Tensor, num_samples: int) -> torch.Tensor:
    """One point per occupied cell (min squared distance to the cell centre, ties to the lower index), in ascending
    index, first S kept, fewer padded cyclically -> int64 [B,S]."""
    B, N, _ = xyz.shape
    dev = xyz.device
    k = _cell_coords(xyz, voxel)
    c = k * voxel[:, None, :]
    d = xyz - c
    d2 = d * d
    delta = ((d2[..., 0] + d2[..., 1]) + d2[..., 2]).reshape(-1)
    _, inv = torch.unique(_cell_keys(k)[0].reshape(-1), return_inverse=True)
    o1 = torch.sort(delta, stable=True).indices          # by distance, ties keep index order
    o2 = torch.sort(inv[o1], stable=True).indices        # then by cell
    order = o1[o2]
    cell_sorted = inv[order]
    first = torch.ones_like(cell_sorted, dtype=torch.bool)
    first[1:] = cell_sorted[1:] != cell_sorted[:-1]
    kept = torch.zeros(B * N, dtype=torch.bool, device=dev)
    kept[order[first]] = True
    kept = kept.view(B, N)
    rank = torch.cumsum(kept.to(torch.int64), dim=1) - 1
    cnt = kept.sum(dim=1)
    take = kept & (rank < num_samples)
    slot = torch.where(take, rank, torch.full_like(rank, num_samples))
    buf = torch.zeros(B, num_samples + 1, dtype=torch.int64, device=dev)
    src = torch.arange(N, device=dev, dtype=torch.int64).expand(B, N)
    buf.scatter_(1, slot, src * take.to(torch.int64))
    found = buf[:, :num_samples]
    j = torch.arange(num_samples, device=dev, dtype=torch.int64)
    pad = j[None, :] % cnt.clamp(min=1).clamp(max=num_samples)[:, None]
    return torch.gather(found, 1, pad)


@torch.no_grad()
def havs(xyz: torch.Tensor, num_samples: int, voxel0: Sequence[float], tolerance: float = 0.01,
         max_iter: int = 20):
    """HAVSampling on xyz [B,N,3] -> (indices [B,S] int64, voxel [B,3], cells [B]) on xyz's device."""
    xyz = xyz.float()
    vox, cells = havs_voxel_search(xyz, num_samples, voxel0, tolerance, max_iter)
    return havs_select(xyz, vox, num_samples), vox, cells


@torch.no_grad()
def ball_query(xyz: torch.Tensor, new_xyz: torch.Tensor, radius: float, nsample: int,
               max_elements: int = 1 << 25):
    """Exact ball query on the inputs' device -> (cnt [B,M] int64, idx [B,M,K] int64).

    Accept source k iff dx*dx + dy*dy + dz*dz < float32(r)*float32(r) (d = centre - point, float32), keep the first
    K by index, pad 0 < cnt < K cyclically, cnt == 0 -> all zeros. Centres are processed in chunks so that one
    [B, m, N] work tensor has at most ``max_elements`` entries."""
    xyz = xyz.float()
    new_xyz = new_xyz.float()
    B, N, _ = xyz.shape
    M = new_xyz.shape[1]
    K = nsample
    dev = xyz.device
    r2 = torch.tensor(radius_squared(radius), dtype=torch.float32, device=dev)
    chunk = max(1, min(M, max_elements // max(1, B * N)))
    src = torch.arange(N, device=dev, dtype=torch.int64)
    j = torch.arange(K, device=dev, dtype=torch.int64)
    cnts, idxs = [], []
    px, py, pz = xyz[:, None, :, 0], xyz[:, None, :, 1], xyz[:, None, :, 2]
    for m0 in range(0, M, chunk):
        q = new_xyz[:, m0:m0 + chunk]
        dx = q[:, :, 0:1] - px
        dy = q[:, :, 1:2] - py
        dz = q[:, :, 2:3] - pz
        d2 = (dx * dx + dy * dy) + dz * dz
        del dx, dy, dz
        inside = d2 < r2
        del d2
        cand = torch.where(inside, src, torch.full_like(src, N))
        if N > K:
            first = torch.topk(cand, K, dim=2, largest=False, sorted=True).values
        else:
            first = torch.sort(cand, dim=2).values
            if N < K:
                first = torch.cat([first, first.new_full(first.shape[:2] + (K - N,), N)], dim=2)
        cnt = inside.sum(dim=2).clamp(max=K)
        sel = j[None, None, :] % cnt.clamp(min=1)[:, :, None]
        idx = torch.gather(first, 2, sel)
        idx = torch.where(cnt[:, :, None] > 0, idx, torch.zeros_like(idx))
        cnts.append(cnt)
        idxs.append(idx)
    return torch.cat(cnts, dim=1), torch.cat(idxs, dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Box geometry (LiDAR boxes x, y, z, dx, dy, dz, heading)
# ---------------------------------------------------------------------------------------------------------------

def to_box_frame(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """points [B,N,3], boxes [B,G,>=7] -> coordinates of every point in every box's frame [B,N,G,3]."""
    d = points[:, :, None, :] - boxes[:, None, :, :3]
    c = torch.cos(boxes[..., 6])[:, None, :]
    s = torch.sin(boxes[..., 6])[:, None, :]
    lx = d[..., 0] * c + d[..., 1] * s
    ly = -d[..., 0] * s + d[..., 1] * c
    return torch.stack([lx, ly, d[..., 2]], dim=-1)


def assign_points(points: torch.Tensor, boxes: torch.Tensor, valid: torch.Tensor, extra: float = 0.0):
    """Box index of every point (the first box, in label order, containing it after enlarging every size by
    ``extra`` metres in total) or -1 -> (gt index [B,N] int64, local coords [B,N,G,3])."""
    local = to_box_frame(points, boxes)
    half = (boxes[..., 3:6] + extra)[:, None, :, :] / 2
    inside = (local.abs() <= half).all(dim=-1) & valid[:, None, :]
    if boxes.shape[1] == 0:
        return torch.full(points.shape[:2], -1, dtype=torch.int64, device=points.device), local
    has = inside.any(dim=-1)
    first = torch.argmax(inside.to(torch.int8), dim=-1)
    return torch.where(has, first, torch.full_like(first, -1)), local


def centerness(local: torch.Tensor, dims: torch.Tensor, extra: float = 0.0) -> torch.Tensor:
    """Centroid-awareness of points given their box-frame coordinates local [...,3] and box sizes dims [...,3]
    (enlarged by ``extra``): cube root of the product over axes of min(front, back) / max(front, back) with the
    distances to opposite faces clamped at 0 -> [...] in [0, 1] (1 at the centre, 0 on or beyond a face)."""
    half = (dims + extra) / 2
    a = (half - local).clamp(min=0)
    b = (half + local).clamp(min=0)
    ratio = torch.minimum(a, b) / torch.maximum(a, b).clamp(min=1e-6)
    return ratio.prod(dim=-1).clamp(min=0).pow(1.0 / 3.0)


def box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """boxes [...,>=7] -> the 8 corners [...,8,3]."""
    sx = boxes.new_tensor([1, 1, -1, -1, 1, 1, -1, -1]) * 0.5
    sy = boxes.new_tensor([1, -1, -1, 1, 1, -1, -1, 1]) * 0.5
    sz = boxes.new_tensor([-1, -1, -1, -1, 1, 1, 1, 1]) * 0.5
    lx = boxes[..., 3:4] * sx
    ly = boxes[..., 4:5] * sy
    lz = boxes[..., 5:6] * sz
    c = torch.cos(boxes[..., 6:7])
    s = torch.sin(boxes[..., 6:7])
    x = lx * c - ly * s + boxes[..., 0:1]
    y = lx * s + ly * c + boxes[..., 1:2]
    z = lz + boxes[..., 2:3]
    return torch.stack([x, y, z], dim=-1)


def encode_heading(theta: torch.Tensor, num_bins: int, coder: str):
    """Heading -> (bin int64, residual) for the config's coder.

    bin_residual: bins centred at k*w; residual in bin units, [-0.5, 0.5); decode (b + res) * w.
    bin_ori:      bins start at -pi; residual in half-bin units, [-1, 1); decode -pi + (b + 0.5) w + res w / 2."""
    w = 2 * math.pi / num_bins
    two_pi = 2 * math.pi
    if coder == "bin_residual":
        shifted = torch.remainder(theta + w / 2, two_pi)
        b = torch.clamp(torch.floor(shifted / w), 0, num_bins - 1)
        res = (shifted - b * w - w / 2) / w
    elif coder == "bin_ori":
        t = torch.remainder(theta + math.pi, two_pi)
        b = torch.clamp(torch.floor(t / w), 0, num_bins - 1)
        res = (t - (b + 0.5) * w) / (w / 2)
    else:
        raise ValueError(f"unknown box_coder {coder!r}")
    return b.to(torch.int64), res


def decode_heading(b: torch.Tensor, res: torch.Tensor, num_bins: int, coder: str) -> torch.Tensor:
    w = 2 * math.pi / num_bins
    bf = b.to(res.dtype)
    if coder == "bin_residual":
        return (bf + res) * w
    if coder == "bin_ori":
        return -math.pi + (bf + 0.5) * w + res * (w / 2)
    raise ValueError(f"unknown box_coder {coder!r}")
