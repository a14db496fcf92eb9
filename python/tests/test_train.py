"""Tests of pointrt_train (training code for IA-SSD) on a TINY config and 3 simulated scenes (reduced azimuth
resolution), so the whole file runs in well under a minute on 2 CPU cores."""
import copy
import json
import math
import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from pointrt_ref import model as ref_model  # noqa: E402
from pointrt_ref import ops as ref_ops  # noqa: E402
from pointrt_ref.safetensors_io import load_file  # noqa: E402
from pointrt_sim import generate, kitti  # noqa: E402
from pointrt_sim.lidar import LidarConfig  # noqa: E402
from pointrt_train import data, export, losses, ops, predict, train  # noqa: E402
from pointrt_train.model import IASSDNet  # noqa: E402

SEED = 5
COLUMNS = 400
NUM_SCENES = 3

TINY = {
    "format": "pointrt-iassd", "version": 1, "name": "iassd_tiny_test",
    "classes": ["Car", "Pedestrian", "Cyclist"],
    "input": {"num_points": 1024, "features": ["intensity"], "point_cloud_range": [0, -40, -3, 70.4, 40, 1],
              "crop_z": False},
    "sa_layers": [
        {"name": "sa1", "sampler": {"type": "havs", "num_samples": 256, "voxel": [1.0, 1.0, 0.9], "tolerance": 0.01,
                                    "max_iter": 20},
         "groupers": [{"radius": 0.8, "nsample": 8, "mlp": [8, 16]}, {"radius": 1.6, "nsample": 16, "mlp": [8, 16]}],
         "query": "ball", "aggregation": 16},
        {"name": "sa2", "sampler": {"type": "havs", "num_samples": 128, "voxel": [3.0, 3.0, 2.6], "tolerance": 0.01,
                                    "max_iter": 20},
         "groupers": [{"radius": 1.6, "nsample": 8, "mlp": [16, 32]}, {"radius": 3.2, "nsample": 16, "mlp": [16, 32]}],
         "query": "ball", "aggregation": 32},
        {"name": "sa3", "sampler": {"type": "ctr_topk", "num_samples": 64, "mlp": [16], "num_scores": 1},
         "groupers": [{"radius": 3.2, "nsample": 8, "mlp": [32, 32]}, {"radius": 4.8, "nsample": 16, "mlp": [32, 32]}],
         "query": "ball", "aggregation": 32}],
    "vote": {"name": "vote", "sampler": {"type": "ctr_topk", "num_samples": 32, "mlp": [16], "num_scores": 1},
             "offset_mlp": [16], "max_translation": [3.0, 3.0, 2.0]},
    "vote_sa": {"name": "vote_sa", "groupers": [{"radius": 4.8, "nsample": 8, "mlp": [32, 32]},
                                                {"radius": 6.4, "nsample": 16, "mlp": [32, 64]}], "query": "ball"},
    "head": {"shared_fc": [64], "cls_fc": [32], "reg_fc": [32], "num_heading_bins": 12, "box_coder": "bin_residual",
             "mean_size": [[3.9, 1.6, 1.56], [0.8, 0.6, 1.73], [1.76, 0.6, 1.73]]},
    "empty_ball": "zero",
    "post": {"score_threshold": 0.1, "iou_threshold": 0.01, "max_out": 32, "pre_max": 4096},
    "batchnorm_eps": 1e-5,
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """(data root, config path, config, generated frames) for 3 simulated scenes."""
    root = tmp_path_factory.mktemp("train")
    frames = []
    cfg = LidarConfig(columns=COLUMNS)
    for i in range(NUM_SCENES):
        pts, labels, calib, info = generate.generate_frame(SEED, i, cfg)
        generate.write_frame(str(root / "sim"), "training", i, pts, labels, calib)
        frames.append((pts, labels, calib, info))
    cfg_path = root / "tiny.json"
    cfg_path.write_text(json.dumps(TINY))
    return str(root / "sim"), str(cfg_path), ref_model.load_config(str(cfg_path)), frames, root


@pytest.fixture(scope="module")
def run_a(sim):
    """4 uninterrupted training steps (batch 2)."""
    d, cfg_path, _, _, root = sim
    out = str(root / "run_a")
    res = train.train(_train_args(d, cfg_path, out, 4))
    assert res["step"] == 4
    return out


def _train_args(d, cfg_path, out, steps, extra=()):
    return ["--data", d, "--config", cfg_path, "--out", out, "--steps", str(steps), "--device", "cpu",
            "--workers", "0", "--batch-size", "2", "--save-every", "0", "--log-every", "1", "--lr", "0.003",
            "--seed", "1"] + list(extra)


# ------------------------------------------------------------------------------------------------------------ data

def test_label_to_box_round_trips_against_simulator(sim):
    d, _, _, frames, _ = sim
    root = data.resolve_root(d)
    n = 0
    for i, (_, labels, _, info) in enumerate(frames):
        calib = data.read_calib(os.path.join(root, "calib", "%06d.txt" % i))
        with open(os.path.join(root, "label_2", "%06d.txt" % i)) as f:
            parsed = data.parse_labels(f.read())
        boxes = data.labels_to_boxes(parsed, calib, TINY["classes"])
        objs = [lab for lab in labels if lab["type"] != "DontCare"]
        assert boxes.shape == (len(objs), 8)
        for box, lab in zip(boxes, objs):
            e = info["scene"].entities[lab["entity"]]
            assert np.allclose(box[:6], e.box[:6], atol=1e-6)
            assert abs(kitti.wrap_angle(box[6] - e.box[6])) < 1e-6
            assert box[7] == TINY["classes"].index(e.cls) + 1
            n += 1
    assert n >= 5


def test_augmentation_keeps_points_inside_boxes(sim):
    d, _, cfg, _, _ = sim
    ds = data.KittiDataset(d, cfg, seed=0)
    pts, boxes, _ = ds.load_raw(0)
    assert boxes.shape[0] > 0
    before = data.points_in_boxes(pts, boxes)
    assert before.sum() > 20
    flips = set()
    for s in range(6):
        rng = np.random.default_rng([9, s])
        flips.add(float(rng.random()) < 0.5)
        rng = np.random.default_rng([9, s])
        p2, b2 = data.augment(pts, boxes, rng)
        assert p2.shape == pts.shape and b2.shape == boxes.shape
        after = data.points_in_boxes(p2, b2, margin=1e-4)
        assert (after | ~before).all()  # every point inside a box before is inside the transformed box
        # sizes scale together, heading stays wrapped, labels untouched
        assert np.all(np.abs(b2[:, 6]) <= math.pi + 1e-9)
        assert np.array_equal(b2[:, 7], boxes[:, 7])
    assert flips == {True, False}


def test_samples_are_deterministic_and_sized(sim):
    d, _, cfg, _, _ = sim
    ds = data.KittiDataset(d, cfg, seed=3)
    a, b = ds.make_sample(1, 2, 5), ds.make_sample(1, 2, 5)
    c = ds.make_sample(1, 2, 6)
    assert a["points"].shape == (1024, 4) and np.array_equal(a["points"], b["points"])
    assert np.array_equal(a["boxes"], b["boxes"])
    assert not np.array_equal(a["points"], c["points"])
    r = TINY["input"]["point_cloud_range"]
    assert (a["points"][:, 0] >= r[0]).all() and (a["points"][:, 1] <= r[4]).all()


# ------------------------------------------------------------------------------------------------------------ ops

def test_torch_ops_match_reference(sim):
    d, _, cfg, _, _ = sim
    ds = data.KittiDataset(d, cfg, train=False, fov=False)
    x = torch.stack([torch.from_numpy(ds.make_sample(i, 0, i)["points"]) for i in range(2)])
    xyz = x[..., :3].contiguous()
    ri, rv, rc = ref_ops.havs(xyz, 256, [1.0, 1.0, 0.9])
    ti, tv, tc = ops.havs(xyz, 256, [1.0, 1.0, 0.9])
    assert torch.equal(ri, ti) and torch.equal(rv, tv) and torch.equal(rc, tc)
    centres = ref_ops.gather_points(xyz, ri)
    rcnt, ridx = ref_ops.ball_query(xyz, centres, 1.6, 16)
    tcnt, tidx = ops.ball_query(xyz, centres, 1.6, 16, max_elements=5000)  # several chunks
    assert torch.equal(rcnt, tcnt) and torch.equal(ridx, tidx)
    # fewer distinct points than samples: cyclic padding, never out of range
    few = xyz[:, :50].repeat(1, 4, 1)
    i2 = ops.havs(few, 128, [0.5, 0.5, 0.5])[0]
    assert torch.equal(i2, ref_ops.havs(few, 128, [0.5, 0.5, 0.5])[0])


@pytest.mark.parametrize("coder", ["bin_residual", "bin_ori"])
def test_heading_coder_round_trip(coder):
    th = torch.linspace(-math.pi, math.pi, 97, dtype=torch.float64)
    b, res = ops.encode_heading(th, 12, coder)
    lim = 0.5 if coder == "bin_residual" else 1.0
    assert (res >= -lim - 1e-9).all() and (res < lim + 1e-9).all() and (b >= 0).all() and (b < 12).all()
    back = ops.decode_heading(b, res, 12, coder)
    diff = torch.remainder(back - th + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-9


# ------------------------------------------------------------------------------------------------------------ model

def test_module_names_are_the_weight_convention():
    m = IASSDNet(TINY)
    shapes = ref_model.weight_shapes(TINY)
    sd = m.state_dict()
    assert {k for k in sd if not k.endswith("num_batches_tracked")} == set(shapes)
    assert all(tuple(sd[k].shape) == s for k, s in shapes.items())


def test_losses_finite_and_decrease_on_fixed_batch(sim):
    d, _, cfg, _, _ = sim
    ds = data.KittiDataset(d, cfg, seed=0)
    batch = data.collate([ds.make_sample(i, 0, i) for i in range(NUM_SCENES)])
    assert batch["gt"].shape[1] > 0
    torch.manual_seed(0)
    m = IASSDNet(cfg).train()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    hist = []
    for _ in range(20):
        inter = m(batch["points"])
        loss, terms = losses.compute_losses(inter, batch["gt"], cfg, losses.LossConfig())
        assert all(math.isfinite(v) for v in terms.values()), terms
        assert terms["fg"] > 0 and terms["ins0_pos"] > 0
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(terms)
    first, last = hist[0], hist[-1]
    assert last["total"] < 0.75 * first["total"], (first, last)
    for k in ("vote", "box", "corner"):
        assert last[k] < first[k], (k, first[k], last[k])
    # BatchNorm running statistics were updated in train mode
    assert int(m.sa1.grouper0.mlp0.bn.num_batches_tracked) == 20


# ------------------------------------------------------------------------------------------------------------ train

def test_resume_continues_identically(sim, run_a):
    d, cfg_path, _, _, root = sim
    out_b = str(root / "run_b")
    r1 = train.train(_train_args(d, cfg_path, out_b, 4, ["--stop-at", "2"]))
    assert r1["step"] == 2 and r1["stopped"] == "stop_at"
    r2 = train.train(_train_args(d, cfg_path, out_b, 4, ["--resume"]))
    assert r2["step"] == 4
    a = train.load_checkpoint(os.path.join(run_a, "checkpoint.pt"))
    b = train.load_checkpoint(os.path.join(out_b, "checkpoint.pt"))
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for k in sa:
        for n in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[k][n], sb[k][n])
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    la = [json.loads(x) for x in open(os.path.join(run_a, "log.jsonl"))]
    lb = [json.loads(x) for x in open(os.path.join(out_b, "log.jsonl"))]
    assert [x["total"] for x in la] == [x["total"] for x in lb]


def test_budget_sizes_the_schedule_and_resume_keeps_it(sim):
    d, cfg_path, _, _, root = sim
    out = str(root / "run_budget")
    # a huge --steps is replaced by budget / measured time per step; stop right after the calibration
    r1 = train.train(_train_args(d, cfg_path, out, 10**9, ["--budget-minutes", "0.05", "--calibrate-steps", "6",
                                                           "--stop-at", "7"]))
    assert r1["step"] == 7 and r1["stopped"] == "stop_at"
    total = r1["total_steps"]
    assert 7 < total < 10**9
    meta = json.load(open(os.path.join(out, "args.json")))
    assert meta["total_steps"] == total and meta["calibrated_sec_per_step"] > 0
    # 3 s of budget at the measured time per step (within rounding)
    assert abs(total * meta["calibrated_sec_per_step"] - 3.0) <= meta["calibrated_sec_per_step"] + 1e-9
    ck = train.load_checkpoint(os.path.join(out, "checkpoint.pt"))
    assert ck["total_steps"] == total and ck["scheduler"]["total_steps"] == total + 1
    assert ck["scheduler"]["last_epoch"] == 7
    r2 = train.train(_train_args(d, cfg_path, out, 10**9, ["--budget-minutes", "0.05", "--resume", "--stop-at", "8"]))
    assert r2["total_steps"] == total and r2["step"] == 8


def test_export_loads_in_reference_and_matches_module(sim, run_a, tmp_path, capsys):
    d, cfg_path, cfg, _, _ = sim
    w = str(tmp_path / "w.safetensors")
    assert export.main(["--checkpoint", os.path.join(run_a, "checkpoint.pt"), "--config", cfg_path, "--out", w,
                        "--check-data", d]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["tensors"] == len(ref_model.weight_shapes(cfg)) and rep["compare"]["indices_equal"]
    assert max(rep["compare"][k] for k in ("vote.centers", "head.cls", "head.reg")) < 1e-5
    tensors, meta = load_file(w)
    assert meta == {"format": "pointrt-iassd", "config_name": "iassd_tiny_test"}
    assert set(tensors) == set(ref_model.weight_shapes(cfg))
    ref = ref_model.load_model(cfg_path, w)
    mod = export.load_trained(os.path.join(run_a, "checkpoint.pt"), cfg)
    ds = data.KittiDataset(d, cfg, train=False, fov=False)
    x = torch.stack([torch.from_numpy(ds.make_sample(i, 0, i)["points"]) for i in range(2)])
    with torch.no_grad():
        inter = mod(x)
        boxes, scores, nums, rinter = ref.forward(x)
    for l in cfg["sa_layers"]:
        assert torch.equal(inter[f"{l['name']}.indices"], rinter[f"{l['name']}.indices"].long())
    assert torch.equal(inter["vote.indices"], rinter["vote.indices"].long())
    for k in ("sa3.sampler.logits", "vote.centers", "head.cls", "head.reg"):
        assert torch.allclose(inter[k], rinter[k], atol=1e-5, rtol=1e-5), (k, (inter[k] - rinter[k]).abs().max())
    # trained BN statistics made it into the file
    assert not torch.equal(tensors["sa1.grouper0.mlp0.bn.running_var"], torch.ones_like(
        tensors["sa1.grouper0.mlp0.bn.running_var"]))
    # the module round-trips through the export dict
    m2 = IASSDNet(cfg)
    m2.load_export_state(tensors)
    m2.eval()
    with torch.no_grad():
        assert torch.equal(m2(x)["head.reg"], inter["head.reg"])


def test_predict_writes_kitti_labels(sim, run_a, tmp_path):
    d, cfg_path, cfg, _, _ = sim
    w = str(tmp_path / "w.safetensors")
    export.main(["--checkpoint", os.path.join(run_a, "checkpoint.pt"), "--config", cfg_path, "--out", w])
    out = tmp_path / "pred"
    assert predict.main(["--weights", w, "--data", d, "--out", str(out), "--config", cfg_path, "--limit", "2"]) == 0
    files = sorted(os.listdir(out))
    assert files == ["000000.txt", "000001.txt"]
    for name in files:
        for line in open(out / name):
            cols = line.split()
            assert len(cols) == 16 and cols[0] in TINY["classes"]
            assert 0.0 <= float(cols[15]) <= 1.0
    # the torch engine gives the same files (same weights, same preprocessing)
    out2 = tmp_path / "pred_torch"
    assert predict.main(["--weights", w, "--data", d, "--out", str(out2), "--config", cfg_path, "--limit", "2",
                         "--engine", "torch"]) == 0
    for name in files:
        assert (out / name).read_text() == (out2 / name).read_text()
    # --dump-inputs writes the rows the network saw; --presampled on them gives the same labels
    dumped = tmp_path / "inputs"
    out3 = tmp_path / "pred_dump"
    assert predict.main(["--weights", w, "--data", d, "--out", str(out3), "--config", cfg_path, "--limit", "2",
                         "--dump-inputs", str(dumped)]) == 0
    for name in files:
        stem = name[:-4]
        rows = np.fromfile(dumped / "velodyne" / (stem + ".bin"), dtype="<f4")
        assert rows.size == TINY["input"]["num_points"] * 4
        assert (dumped / "calib" / name).exists() and (dumped / "label_2" / name).exists()
    out4 = tmp_path / "pred_presampled"
    assert predict.main(["--weights", w, "--data", str(dumped), "--out", str(out4), "--config", cfg_path,
                         "--presampled"]) == 0
    for name in files:
        assert (out / name).read_text() == (out4 / name).read_text()
    # a frame of another size is refused under --presampled
    with pytest.raises(SystemExit, match="needs 1024 points"):
        predict.main(["--weights", w, "--data", d, "--out", str(tmp_path / "bad"), "--config", cfg_path,
                      "--presampled", "--limit", "1"])
