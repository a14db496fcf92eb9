"""Operator tests: pointrt_ref.ops against brute-force loops on small inputs, plus safetensors I/O."""
import math
import os
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pointrt_ref import ops  # noqa: E402
from pointrt_ref.safetensors_io import SafetensorsError, load_bytes, load_file, save_file  # noqa: E402

F32 = np.float32


# ---------------------------------------------------------------------------------------------------------- rounding

def test_round_half_away_matches_c_roundf():
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 2.4999998, 1e7 + 0.5, 0.0, -0.0,
                  3.7, -3.7, 8388607.5], dtype=F32)
    got = ops.round_half_away(x)
    # brute force in Python: exact decimal from the float32 value, half away from zero
    want = np.array([math.copysign(math.floor(abs(float(v)) + 0.5), float(v)) for v in x], dtype=np.float64)
    # float64 has no problem with |x| + 0.5 for these values
    assert np.array_equal(got.astype(np.float64), want)
    assert got[6] == 0 and got[7] == 0  # the classic float32 trap


# ---------------------------------------------------------------------------------------------------------- HAVS

def _random_cloud(n, seed, scale=(20.0, 20.0, 3.0), dup=0):
    rng = np.random.default_rng(seed)
    p = (rng.random((n, 3)) * np.array(scale) - np.array(scale) / 2).astype(F32)
    if dup:
        p[-dup:] = p[:dup]  # exact duplicates are normal input
    return p


def _brute_select(xyz, voxel):
    """Brute force: dict cell -> (delta, index) minimum; return sorted representatives."""
    best = {}
    for i, p in enumerate(xyz):
        k = []
        for a in range(3):
            q = F32(F32(p[a]) / F32(voxel[a]))
            r = math.copysign(math.floor(abs(float(q)) + 0.5), float(q))  # exact in float64
            k.append(F32(r))
        d = [F32(F32(p[a]) - F32(k[a] * F32(voxel[a]))) for a in range(3)]
        delta = F32(F32(F32(d[0] * d[0]) + F32(d[1] * d[1])) + F32(d[2] * d[2]))
        key = tuple(int(v) for v in k)
        if key not in best or (delta, i) < best[key]:
            best[key] = (delta, i)
    return sorted(v[1] for v in best.values())


@pytest.mark.parametrize("seed,dup", [(0, 0), (1, 50), (2, 200)])
def test_havs_one_per_cell_min_delta_ascending(seed, dup):
    xyz = _random_cloud(600, seed, dup=dup)
    S = 128
    ind, vox, cells = ops.havs(torch.from_numpy(xyz)[None], S, (1.0, 1.0, 0.5), 0.01, 20)
    ind = ind[0].numpy()
    v = vox[0].numpy()
    reps = _brute_select(xyz, v)
    assert cells[0].item() == len(reps)
    n_real = min(S, len(reps))
    assert list(ind[:n_real]) == reps[:n_real]              # (delta, index)-min per cell, ascending, truncated
    assert np.all(np.diff(ind[:n_real]) > 0)
    k = ops.cell_coords(xyz[ind[:n_real]], v)
    assert len({tuple(r) for r in k.tolist()}) == n_real    # one per cell
    if len(reps) < S:                                       # cyclic padding
        assert list(ind) == [reps[j % len(reps)] for j in range(S)]


def test_havs_converged_window_and_budget():
    xyz = _random_cloud(4000, 3, scale=(40.0, 40.0, 4.0))
    S, tol = 256, 0.05
    v, count, passes, conv = ops.havs_voxel_search(xyz, S, (4.0, 4.0, 2.0), tol, 20)
    assert conv and S <= count <= S * (1 + tol)
    assert ops.count_cells(xyz, v) == count                  # final size is an evaluated one
    # budget of 1 pass: the initial size is counted and kept
    v1, c1, p1, _ = ops.havs_voxel_search(xyz, S, (1.0, 1.0, 0.5), tol, 1)
    assert p1 == 1 and np.array_equal(v1, np.array([1.0, 1.0, 0.5], F32)) and c1 == ops.count_cells(xyz, v1)
    # unreachable window (too few distinct points): runs max_iter passes, size still evaluated
    few = np.repeat(xyz[:10], 5, axis=0)
    v2, c2, p2, conv2 = ops.havs_voxel_search(few, S, (1.0, 1.0, 0.5), tol, 7)
    assert not conv2 and p2 == 7 and c2 == ops.count_cells(few, v2) and c2 <= 10
    ind, _, _ = ops.havs(torch.from_numpy(few)[None], S, (1.0, 1.0, 0.5), tol, 7)
    reps = _brute_select(few, v2)
    assert list(ind[0].numpy()) == [reps[j % len(reps)] for j in range(S)]


def test_havs_bisection_trace_matches_spec():
    """Replay the bisection by hand from the counted sizes."""
    xyz = _random_cloud(3000, 4, scale=(30.0, 30.0, 3.0))
    S, tol, it = 300, 0.01, 6
    v0 = np.array([0.4, 0.4, 0.35], F32)
    cur, lo, hi = v0.copy(), np.zeros(3, F32), (v0 * F32(2)).astype(F32)
    for i in range(it):
        c = ops.count_cells(xyz, cur)
        if S <= c <= F32(S) * F32(1 + F32(tol)) or i == it - 1:
            break
        if c > S:
            lo = cur
        else:
            hi = cur
        cur = ((lo + hi) / F32(2)).astype(F32)
    v, _, _, _ = ops.havs_voxel_search(xyz, S, v0, tol, it)
    assert np.array_equal(v, cur)


def test_havs_empty_input():
    ind, _, _ = ops.havs(torch.zeros(1, 0, 3), 8, (1.0, 1.0, 1.0))
    assert ind.shape == (1, 8) and int(ind.abs().sum()) == 0


# ---------------------------------------------------------------------------------------------------------- ctr top-k

def test_ctr_topk_ties_to_lower_index():
    logits = torch.tensor([[[1.0, 0.0], [3.0, 3.0], [2.0, 3.0], [0.5, -1.0], [3.0, 1.0], [2.0, 2.0]]])
    got = ops.ctr_topk(logits, 4)[0].tolist()
    # keys: 1, 3, 3, 0.5, 3, 2 -> descending with ties by index
    assert got == [1, 2, 4, 5]
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 5, size=(2, 50, 3)).astype(F32))
    got = ops.ctr_topk(x, 20)
    for b in range(2):
        key = x[b].max(-1).values.tolist()
        want = sorted(range(50), key=lambda i: (-key[i], i))[:20]
        assert got[b].tolist() == want


# ---------------------------------------------------------------------------------------------------------- ball query

def _brute_ball(xyz, q, r, K):
    r2 = F32(F32(r) * F32(r))
    found = []
    for k, p in enumerate(xyz):
        d = [F32(F32(q[a]) - F32(p[a])) for a in range(3)]
        d2 = F32(F32(F32(d[0] * d[0]) + F32(d[1] * d[1])) + F32(d[2] * d[2]))
        if d2 < r2:
            found.append(k)
            if len(found) == K:
                break
    cnt = len(found)
    idx = [found[j % cnt] for j in range(K)] if cnt else [0] * K
    return cnt, idx


def test_ball_query_vs_double_loop_with_points_on_radius():
    rng = np.random.default_rng(5)
    xyz = (rng.random((300, 3)) * 4 - 2).astype(F32)
    # points exactly on the sphere of radius 0.5 (axis offsets) and one ulp inside it
    xyz[10] = [0.5, 0, 0]
    xyz[11] = [0, -0.5, 0]
    xyz[12] = [0, 0, np.nextafter(F32(0.5), F32(0))]
    xyz[13] = [0.3, 0.4, 0.0]
    q = np.concatenate([np.zeros((1, 3), F32), xyz[:40], np.array([[50, 50, 50]], F32)], axis=0)
    for r, K in ((0.5, 8), (0.2, 4), (1.0, 32)):
        cnt, idx = ops.ball_query(torch.from_numpy(xyz)[None], torch.from_numpy(q)[None], r, K, chunk=7)
        for m in range(q.shape[0]):
            c, i = _brute_ball(xyz, q[m], r, K)
            assert cnt[0, m].item() == c and idx[0, m].tolist() == i, (r, m)
    cnt, idx = ops.ball_query(torch.from_numpy(xyz)[None], torch.from_numpy(q[:1])[None], 0.5, 300)
    members = set(idx[0, 0, :cnt[0, 0]].tolist())
    assert 10 not in members and 11 not in members and 12 in members  # strict < r^2
    assert cnt[0, -1].item() >= 0


def test_radius_squared_is_float32_product():
    assert ops.radius_squared(0.2) == F32(F32(0.2) * F32(0.2))
    assert ops.radius_squared(0.2) != F32(0.04)  # one ulp above, as the spec notes


def test_group_layout():
    xyz = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    feats = torch.tensor([[[10.0], [11.0], [12.0], [13.0]]])
    new_xyz = xyz[:, :2]
    idx = torch.tensor([[[1, 2], [3, 3]]])
    g = ops.group(xyz, feats, new_xyz, idx)
    assert g.shape == (1, 2, 2, 4)
    assert g[0, 0, 1].tolist() == [6.0, 6.0, 6.0, 12.0] and g[0, 1, 0].tolist() == [6.0, 6.0, 6.0, 13.0]


# ---------------------------------------------------------------------------------------------------------- NMS

def _poly_clip_iou(a, b):
    """Independent rotated IoU: clip A by each half-plane of B, written from scratch for the test."""
    def corners(bx):
        x, y, dx, dy, t = bx[0], bx[1], bx[3], bx[4], bx[6]
        c, s = math.cos(t), math.sin(t)
        return [(x + u * c - v * s, y + u * s + v * c) for u, v in
                ((dx / 2, dy / 2), (-dx / 2, dy / 2), (-dx / 2, -dy / 2), (dx / 2, -dy / 2))]
    pa, pb = corners(a), corners(b)
    poly = pa
    for i in range(4):
        e0, e1 = pb[i], pb[(i + 1) % 4]
        nxt = []
        for j in range(len(poly)):
            p, q = poly[j - 1], poly[j]
            f = lambda z: (e1[0] - e0[0]) * (z[1] - e0[1]) - (e1[1] - e0[1]) * (z[0] - e0[0])
            fp, fq = f(p), f(q)
            if fq >= 0:
                if fp < 0:
                    t = fp / (fp - fq)
                    nxt.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
                nxt.append(q)
            elif fp >= 0:
                t = fp / (fp - fq)
                nxt.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
        poly = nxt
        if not poly:
            return 0.0
    area = abs(sum(poly[i - 1][0] * poly[i][1] - poly[i][0] * poly[i - 1][1] for i in range(len(poly)))) / 2
    return area / (a[3] * a[4] + b[3] * b[4] - area)


def test_rotated_iou_known_values():
    a = [0, 0, 0, 2, 2, 1, 0, 1]
    assert ops.rotated_iou_bev(a, a) == pytest.approx(1.0)
    assert ops.rotated_iou_bev(a, [1, 0, 0, 2, 2, 1, 0, 1]) == pytest.approx(2 / 6)
    assert ops.rotated_iou_bev(a, [5, 0, 0, 2, 2, 1, 0, 1]) == 0.0
    # square rotated 45 deg inside-out: octagon intersection area = 8 (sqrt2 - 1) for unit half-width
    assert ops.rotated_iou_bev(a, [0, 0, 0, 2, 2, 1, math.pi / 4, 1]) == pytest.approx(
        8 * (math.sqrt(2) - 1) / (8 - 8 * (math.sqrt(2) - 1)))
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = [*rng.random(2) * 3, 0, *(rng.random(2) * 3 + 0.2), 1, rng.random() * 6.3, 1]
        b = [*rng.random(2) * 3, 0, *(rng.random(2) * 3 + 0.2), 1, rng.random() * 6.3, 1]
        assert ops.rotated_iou_bev(a, b) == pytest.approx(_poly_clip_iou(a, b), abs=1e-9)


def test_nms_vs_greedy():
    rng = np.random.default_rng(2)
    B, N = 2, 60
    boxes = np.zeros((B, N, 8), F32)
    boxes[..., 0:2] = rng.random((B, N, 2)) * 15
    boxes[..., 3:5] = rng.random((B, N, 2)) * 3 + 0.5
    boxes[..., 5] = 1.5
    boxes[..., 6] = rng.random((B, N)) * 6.28
    boxes[..., 7] = rng.integers(1, 4, (B, N))
    scores = rng.choice(np.array([0.05, 0.1, 0.3, 0.5, 0.7, 0.9], F32), (B, N)).astype(F32)  # many ties
    thr, iou_thr, P = 0.1, 0.01, 12
    ob, os_, nums, kept = ops.nms_bev(torch.from_numpy(boxes), torch.from_numpy(scores), thr, iou_thr, P)
    for b in range(B):
        order = sorted([i for i in range(N) if scores[b, i] >= F32(thr)], key=lambda i: (-scores[b, i], i))
        want = []
        for i in order:
            if len(want) < P and all(_poly_clip_iou(boxes[b, k].tolist(), boxes[b, i].tolist()) <= iou_thr
                                     for k in want):
                want.append(i)
        assert kept[b] == want
        n = nums[b].item()
        assert n == len(want) and n <= P
        assert torch.equal(ob[b, :n], torch.from_numpy(boxes[b, want]))
        assert int((ob[b, n:] != 0).sum()) == 0 and int((os_[b, n:] != 0).sum()) == 0
        for i in range(n):
            for j in range(i + 1, n):
                assert _poly_clip_iou(ob[b, i].tolist(), ob[b, j].tolist()) <= iou_thr
        assert all(scores[b, i] >= F32(thr) for i in want)


# ---------------------------------------------------------------------------------------------------------- safetensors

def test_safetensors_round_trip(tmp_path):
    t = {"a.weight": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int32), "c": torch.randn(2, 2).half(),
         "d": torch.randn(3).bfloat16(), "e": torch.zeros(0, 3), "s": torch.tensor(2.5)}
    p = str(tmp_path / "x.safetensors")
    save_file(t, p, {"format": "pointrt-iassd", "config_name": "x"})
    got, meta = load_file(p)
    assert meta == {"format": "pointrt-iassd", "config_name": "x"}
    assert set(got) == set(t)
    for k in t:
        assert got[k].dtype == t[k].dtype and got[k].shape == t[k].shape and torch.equal(got[k], t[k])
    raw = open(p, "rb").read()
    assert int.from_bytes(raw[:8], "little") % 8 == 0


def test_safetensors_rejects_bad_files(tmp_path):
    p = str(tmp_path / "x.safetensors")
    save_file({"w": torch.randn(10, 10)}, p)
    raw = open(p, "rb").read()
    with pytest.raises(SafetensorsError, match="truncated"):
        load_bytes(raw[:-4], "trunc")
    with pytest.raises(SafetensorsError):
        load_bytes(raw[:6])
    with pytest.raises(SafetensorsError, match="cap|past"):
        load_bytes((10 ** 12).to_bytes(8, "little") + raw[8:])
    with pytest.raises(SafetensorsError):
        load_bytes(raw + b"\0")  # trailing data
