"""Point-cloud operators of IA-SSD in plain PyTorch / numpy (CPU), following pointrt's decisions.

Every operator here is the *reference* pointrt's C++/CUDA kernels are compared against, so each one follows
the decisions block at the top of shared/spec/ops.md exactly (deterministic, ties by index):

* ``havs``            HAVSampling (spec ops.md section 2), devel budget semantics, (delta, index)-minimum per cell,
                      ascending index output, cyclic padding.
* ``ctr_topk``        centre-aware top-k (section 5): rank by the max logit, ties to the lower index.
* ``ball_query``      exact ball query (section 6): strict d2 < r*r in float32, first K by index, cyclic padding.
* ``group``           gather + relative xyz + features (section 8).
* ``rotated_iou_bev`` / ``nms_bev``  class-agnostic rotated BEV NMS (section 9) with pointrt's rules:
                      keep score >= thr, suppress IoU > thr, order by score with ties by index, max_out outputs.

Float32 care: all float arithmetic that decides an index (cell coordinates, distances, radius test) is done in
float32 with the same operation order as the spec, so the C++ CPU kernels can be bit-exact with it.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np
import torch

F32 = np.float32


# ---------------------------------------------------------------------------------------------------------------
# HAVSampling
# ---------------------------------------------------------------------------------------------------------------

def round_half_away(x: np.ndarray) -> np.ndarray:
    """C ``roundf`` on a float32 array: round half away from zero, result as float32.

    ``sign(x) * floor(|x| + 0.5)`` is wrong in float32 for 0.49999997 (|x| + 0.5 rounds up to 1.0), so this uses the
    exact decomposition x = trunc(x) + frac (frac is exact in float32) and bumps away from zero iff |frac| >= 0.5.
    torch.round / np.round are round-half-to-even and must not be used.
    """
    x = np.asarray(x, dtype=F32)
    t = np.trunc(x)
    frac = x - t  # exact: t and x share the exponent range, the difference is representable
    bump = np.where(np.abs(frac) >= F32(0.5), np.sign(x), F32(0)).astype(F32)
    return (t + bump).astype(F32)


def cell_coords(xyz: np.ndarray, voxel: np.ndarray) -> np.ndarray:
    """Cell coordinate k = roundf(p / v) per axis (float32 division), returned as float32 (spec ops 1.1)."""
    q = (xyz.astype(F32) / voxel.astype(F32)).astype(F32)
    return round_half_away(q)


def cell_distance(xyz: np.ndarray, k: np.ndarray, voxel: np.ndarray) -> np.ndarray:
    """delta = (px-kx*vx)^2 + (py-ky*vy)^2 + (pz-kz*vz)^2 in float32, summed left to right (spec ops 1.2)."""
    c = (k * voxel.astype(F32)).astype(F32)
    d = (xyz.astype(F32) - c).astype(F32)
    d2 = d * d
    return ((d2[:, 0] + d2[:, 1]) + d2[:, 2]).astype(F32)


def _cell_ids(k: np.ndarray) -> Tuple[np.ndarray, int]:
    """Dense ids 0..C-1 of the distinct cells of the float cell coordinates k [N,3] (and C).

    Cells are identified by their exact integer triple. (pointrt's device kernels use the 32-bit FNV key of spec 1.3;
    two distinct cells sharing a key are merged there; probability ~2^-32 per pair, ignored here.)
    """
    if k.shape[0] == 0:
        return np.zeros(0, np.int64), 0
    ki = k.astype(np.int64)
    lim = 1 << 20
    if np.all(np.abs(ki) < lim):
        packed = ((ki[:, 0] + lim) << 42) | ((ki[:, 1] + lim) << 21) | (ki[:, 2] + lim)
        uniq, inv = np.unique(packed, return_inverse=True)
    else:  # huge coordinates / tiny voxels: fall back to row-unique
        uniq, inv = np.unique(ki, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), int(uniq.shape[0])


def count_cells(xyz: np.ndarray, voxel: np.ndarray) -> int:
    """Number of distinct occupied cells of xyz [N,3] at voxel size ``voxel``."""
    return _cell_ids(cell_coords(xyz, voxel))[1]


def havs_voxel_search(xyz: np.ndarray, num_samples: int, voxel0: Sequence[float], tolerance: float,
                      max_iter: int) -> Tuple[np.ndarray, int, int, bool]:
    """Phase A of HAVSampling for one batch element (spec ops 2.2), devel budget semantics.

    State cur = v0, lo = 0, hi = 2*v0 (float32 3-vectors). At most ``max_iter`` counting passes; after a count,
    converged iff S <= K <= S*(1+tol) (both bounds float32); otherwise lo = cur if K > S, hi = cur if K < S, and
    cur = (lo+hi)/2 -- except after the last allowed pass, so the final size is always the last *evaluated* one.
    Returns (final voxel [3] float32, count at the final voxel, passes used, converged).
    """
    v0 = np.asarray(voxel0, dtype=F32)
    cur, lo, hi = v0.copy(), np.zeros(3, F32), (v0 * F32(2)).astype(F32)
    lower = F32(num_samples)
    upper = F32(F32(num_samples) * (F32(1) + F32(tolerance)))
    count, passes, converged = -1, 0, False
    for it in range(max_iter):
        count = count_cells(xyz, cur)
        passes += 1
        if lower <= F32(count) <= upper:
            converged = True
            break
        if it == max_iter - 1:
            break  # budget exhausted: keep the size that was just counted
        if count > num_samples:
            lo = cur
        else:
            hi = cur
        cur = ((lo + hi) / F32(2)).astype(F32)
    if passes == 0:  # max_iter == 0: no search, the initial size is used
        count = count_cells(xyz, cur)
    return cur, count, passes, converged


def havs_select(xyz: np.ndarray, voxel: np.ndarray, num_samples: int) -> np.ndarray:
    """Phase B+C for one element (spec ops 2.3/2.4 + pointrt decision 1).

    Per occupied cell keep the point with the smallest (delta, index); output the kept points in ascending index;
    keep the first S if there are more; if fewer (but > 0), pad by repeating the kept list cyclically; N == 0 gives
    all zeros. Returns int64 [S].
    """
    n = xyz.shape[0]
    out = np.zeros(num_samples, np.int64)
    if n == 0 or num_samples == 0:
        return out
    k = cell_coords(xyz, voxel)
    delta = cell_distance(xyz, k, voxel)
    cid, _ = _cell_ids(k)
    idx = np.arange(n, dtype=np.int64)
    order = np.lexsort((idx, delta, cid))  # primary cell, then delta, then index
    first = np.ones(n, dtype=bool)
    first[1:] = cid[order][1:] != cid[order][:-1]
    kept = np.sort(order[first])
    cnt = kept.shape[0]
    if cnt >= num_samples:
        return kept[:num_samples].copy()
    return kept[np.arange(num_samples) % cnt]


def havs(xyz: torch.Tensor, num_samples: int, voxel0: Sequence[float], tolerance: float = 0.01,
         max_iter: int = 20):
    """HAVSampling on xyz [B,N,3] float32 -> (indices [B,S] int64, voxel [B,3] float32, num_cells [B] int64)."""
    x = xyz.detach().cpu().numpy().astype(F32)
    B = x.shape[0]
    ind = np.zeros((B, num_samples), np.int64)
    vox = np.zeros((B, 3), F32)
    cells = np.zeros(B, np.int64)
    for b in range(B):
        v, c, _, _ = havs_voxel_search(x[b], num_samples, voxel0, tolerance, max_iter)
        ind[b] = havs_select(x[b], v, num_samples)
        vox[b], cells[b] = v, c
    return torch.from_numpy(ind), torch.from_numpy(vox), torch.from_numpy(cells)


# ---------------------------------------------------------------------------------------------------------------
# Centre-aware top-k
# ---------------------------------------------------------------------------------------------------------------

def ctr_topk(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k points by max class logit (logits [B,N,C]) -> int64 [B,k], descending, ties to the lower index."""
    key = logits.max(dim=-1).values
    order = torch.sort(-key, dim=1, stable=True).indices  # stable on -key: equal keys keep ascending index
    return order[:, :k].contiguous()


# ---------------------------------------------------------------------------------------------------------------
# Ball query and grouping
# ---------------------------------------------------------------------------------------------------------------

def radius_squared(radius: float) -> np.float32:
    """r*r as the float32 product of float32(r) with itself (spec ops 6, step 1)."""
    r = F32(radius)
    return F32(r * r)


def ball_query(xyz: torch.Tensor, new_xyz: torch.Tensor, radius: float, nsample: int, chunk: int = 256):
    """Exact ball query: xyz [B,N,3] sources, new_xyz [B,M,3] centres -> (cnt [B,M] int64, idx [B,M,K] int64).

    Accept source k iff d2 < r2 (strict) with d = centre - point, d2 = dx*dx + dy*dy + dz*dz in float32 in that
    order; keep the first K accepted by ascending source index; pad 0 < cnt < K cyclically (idx[j] = idx[j % cnt]);
    cnt == 0 gives all-zero indices.
    """
    xyz = xyz.float()
    new_xyz = new_xyz.float()
    B, N, _ = xyz.shape
    M = new_xyz.shape[1]
    K = nsample
    r2 = torch.tensor(radius_squared(radius), dtype=torch.float32)
    cnt_all = torch.zeros(B, M, dtype=torch.int64)
    idx_all = torch.zeros(B, M, K, dtype=torch.int64)
    src_index = torch.arange(N, dtype=torch.int64)
    for m0 in range(0, M, chunk):
        q = new_xyz[:, m0:m0 + chunk]                      # [B,m,3]
        d = q[:, :, None, :] - xyz[:, None, :, :]          # [B,m,N,3]  centre - point
        d2 = (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]) + d[..., 2] * d[..., 2]
        inside = d2 < r2                                   # [B,m,N]
        pos = torch.cumsum(inside.to(torch.int64), dim=2) - 1  # rank among accepted points
        take = inside & (pos < K)
        slot = torch.where(take, pos, torch.full_like(pos, K))  # rejected points go to a dump slot K
        buf = torch.zeros(B, q.shape[1], K + 1, dtype=torch.int64)
        buf.scatter_(2, slot, src_index.expand_as(slot) * take.to(torch.int64))
        found = buf[:, :, :K]
        cnt = torch.clamp(inside.sum(dim=2), max=K)
        # cyclic padding: slot j reads slot j % cnt (cnt == 0 -> slot 0, which holds 0)
        j = torch.arange(K, dtype=torch.int64)
        src_slot = j[None, None, :] % torch.clamp(cnt, min=1)[:, :, None]
        idx_all[:, m0:m0 + chunk] = torch.gather(found, 2, src_slot)
        cnt_all[:, m0:m0 + chunk] = cnt
    return cnt_all, idx_all


def gather_points(x: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """out[b,m,:] = x[b, ind[b,m], :] for x [B,N,C], ind [B,M] (any integer dtype)."""
    ind = ind.long()
    return torch.gather(x, 1, ind[..., None].expand(-1, -1, x.shape[-1]))


def group(xyz: torch.Tensor, feats: torch.Tensor, new_xyz: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Grouped input [B,M,K,3+C] = [xyz[idx] - new_xyz (not radius-normalised), feats[idx]]."""
    B, M, K = idx.shape
    flat = idx.reshape(B, M * K)
    rel = gather_points(xyz, flat).reshape(B, M, K, 3) - new_xyz[:, :, None, :]
    if feats is None or feats.shape[-1] == 0:
        return rel
    f = gather_points(feats, flat).reshape(B, M, K, feats.shape[-1])
    return torch.cat([rel, f], dim=-1)


# ---------------------------------------------------------------------------------------------------------------
# Rotated BEV IoU and NMS
# ---------------------------------------------------------------------------------------------------------------

def box_corners_bev(box: Sequence[float]) -> List[Tuple[float, float]]:
    """Counter-clockwise BEV corners (float64) of a box (x, y, z, dx, dy, dz, heading, ...)."""
    x, y, dx, dy, th = float(box[0]), float(box[1]), float(box[3]), float(box[4]), float(box[6])
    c, s = math.cos(th), math.sin(th)
    out = []
    for px, py in ((-dx / 2, -dy / 2), (dx / 2, -dy / 2), (dx / 2, dy / 2), (-dx / 2, dy / 2)):
        out.append((x + px * c - py * s, y + px * s + py * c))
    return out


def _clip(poly: List[Tuple[float, float]], a: Tuple[float, float], b: Tuple[float, float]):
    """Sutherland-Hodgman: keep the part of ``poly`` left of (or on) the directed edge a->b."""
    def side(p):
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        sp, sq = side(p), side(q)
        if sp >= 0:
            out.append(p)
        if (sp >= 0) != (sq >= 0):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def polygon_area(poly: List[Tuple[float, float]]) -> float:
    """Shoelace area (absolute value)."""
    a = 0.0
    for i in range(len(poly)):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % len(poly)]
        a += x0 * y1 - x1 * y0
    return abs(a) / 2.0


def rotated_iou_bev(a: Sequence[float], b: Sequence[float]) -> float:
    """Rotated BEV IoU of two boxes by exact convex polygon clipping in float64 (no containment margin)."""
    area_a = float(a[3]) * float(a[4])
    area_b = float(b[3]) * float(b[4])
    if area_a <= 0 or area_b <= 0:
        return 0.0
    # cheap reject: circumscribed circles do not meet
    ra = 0.5 * math.hypot(float(a[3]), float(a[4]))
    rb = 0.5 * math.hypot(float(b[3]), float(b[4]))
    if math.hypot(float(a[0]) - float(b[0]), float(a[1]) - float(b[1])) > ra + rb:
        return 0.0
    poly = box_corners_bev(a)
    cb = box_corners_bev(b)
    for i in range(4):
        if not poly:
            break
        poly = _clip(poly, cb[i], cb[(i + 1) % 4])
    inter = polygon_area(poly) if len(poly) >= 3 else 0.0
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def nms_bev(boxes: torch.Tensor, scores: torch.Tensor, score_threshold: float, iou_threshold: float,
            max_out: int, pre_max: int = 0):
    """Class-agnostic rotated BEV NMS per batch element (pointrt decision 6).

    boxes [B,N,D] (x,y,z,dx,dy,dz,heading,label...), scores [B,N]. Candidates: score >= score_threshold (float32
    compare), sorted by score descending with ties to the lower index, optionally capped to the first ``pre_max``
    (0 = no cap). Greedy: a candidate is kept unless an already kept box has IoU > iou_threshold with it; stop at
    max_out. Returns (boxes [B,P,D], scores [B,P], nums [B] int32, kept indices list per element); tails are zero.
    """
    B, N, D = boxes.shape
    out_b = torch.zeros(B, max_out, D, dtype=boxes.dtype)
    out_s = torch.zeros(B, max_out, dtype=scores.dtype)
    nums = torch.zeros(B, dtype=torch.int32)
    kept_all = []
    thr = torch.tensor(score_threshold, dtype=scores.dtype)
    for b in range(B):
        s = scores[b]
        order = torch.sort(-s, stable=True).indices
        order = order[s[order] >= thr]
        if pre_max > 0:
            order = order[:pre_max]
        cand = order.tolist()
        bx = boxes[b].double().tolist()
        kept: List[int] = []
        for i in cand:
            if len(kept) >= max_out:
                break
            if all(rotated_iou_bev(bx[k], bx[i]) <= iou_threshold for k in kept):
                kept.append(i)
        kept_all.append(kept)
        if kept:
            kt = torch.tensor(kept, dtype=torch.int64)
            out_b[b, :len(kept)] = boxes[b, kt]
            out_s[b, :len(kept)] = s[kt]
        nums[b] = len(kept)
    return out_b, out_s, nums, kept_all
