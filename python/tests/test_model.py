"""Network tests on one real KITTI frame with a scaled-down copy of the hvcsx2 config (2048 points,
samples 512/256/128/64) so the suite stays fast on 2 CPU cores; widths, radii and heads are the real ones."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..")
sys.path.insert(0, PYDIR)

from pointrt_ref import model  # noqa: E402
from pointrt_ref.make_random_weights import make_weights  # noqa: E402
from pointrt_ref.safetensors_io import load_file  # noqa: E402

# Identical to conventions section 1 (models/iassd_hvcsx2_kitti.json is written from the same text).
CONFIG = {
    "format": "pointrt-iassd", "version": 1,
    "name": "iassd_hvcsx2_kitti",
    "classes": ["Car", "Pedestrian", "Cyclist"],
    "input": {"num_points": 16384, "features": ["intensity"], "point_cloud_range": [0, -40, -3, 70.4, 40, 1],
              "crop_z": False},
    "sa_layers": [
        {"name": "sa1", "sampler": {"type": "havs", "num_samples": 4096, "voxel": [0.4, 0.4, 0.35], "tolerance": 0.01,
                                    "max_iter": 20},
         "groupers": [{"radius": 0.2, "nsample": 16, "mlp": [16, 16, 32]},
                      {"radius": 0.8, "nsample": 32, "mlp": [32, 32, 64]}],
         "query": "ball", "aggregation": 64},
        {"name": "sa2", "sampler": {"type": "havs", "num_samples": 1024, "voxel": [2.0, 2.0, 1.75], "tolerance": 0.01,
                                    "max_iter": 20},
         "groupers": [{"radius": 0.8, "nsample": 16, "mlp": [64, 64, 128]},
                      {"radius": 1.6, "nsample": 32, "mlp": [64, 96, 128]}],
         "query": "ball", "aggregation": 128},
        {"name": "sa3", "sampler": {"type": "ctr_topk", "num_samples": 512, "mlp": [128], "num_scores": 1},
         "groupers": [{"radius": 1.6, "nsample": 16, "mlp": [128, 128, 256]},
                      {"radius": 4.8, "nsample": 32, "mlp": [128, 256, 256]}],
         "query": "ball", "aggregation": 256},
    ],
    "vote": {"name": "vote", "sampler": {"type": "ctr_topk", "num_samples": 256, "mlp": [256], "num_scores": 1},
             "offset_mlp": [128], "max_translation": [3.0, 3.0, 2.0]},
    "vote_sa": {"name": "vote_sa", "groupers": [{"radius": 4.8, "nsample": 16, "mlp": [256, 256, 512]},
                                                {"radius": 6.4, "nsample": 32, "mlp": [256, 512, 1024]}],
                "query": "ball"},
    "head": {"shared_fc": [512], "cls_fc": [256, 256], "reg_fc": [256, 256], "num_heading_bins": 12,
             "box_coder": "bin_residual", "mean_size": [[3.9, 1.6, 1.56], [0.8, 0.6, 1.73], [1.76, 0.6, 1.73]]},
    "empty_ball": "zero",
    "post": {"score_threshold": 0.1, "iou_threshold": 0.01, "max_out": 256, "pre_max": 4096},
    "batchnorm_eps": 1e-5,
}
CONFIG_FILE = os.path.join(HERE, "..", "..", "models", "iassd_hvcsx2_kitti.json")


def small_config():
    cfg = copy.deepcopy(CONFIG)
    cfg["input"]["num_points"] = 2048
    for layer, s in zip(cfg["sa_layers"], (512, 256, 128)):
        layer["sampler"]["num_samples"] = s
    cfg["vote"]["sampler"]["num_samples"] = 64
    return cfg


def frame_path():
    p = model.kitti_frame_path(0)
    if not os.path.exists(p):
        pytest.skip(f"KITTI frame not found at {p} (set POINTRT_SHARED_DATA)")
    return p


@pytest.fixture(scope="module")
def setup():
    frame_path()
    cfg = small_config()
    pts = model.load_frames([0], cfg["input"]["num_points"])
    w = make_weights(cfg, 0, pts)
    net = model.IASSD(cfg, dict(w))
    with torch.no_grad():
        out = net.forward(pts)
    return cfg, w, pts, out


def test_config_file_matches_convention():
    if not os.path.exists(CONFIG_FILE):
        pytest.skip("models/iassd_hvcsx2_kitti.json not written yet")
    assert model.load_config(CONFIG_FILE) == CONFIG


def test_weight_names_and_counts():
    shapes = model.weight_shapes(CONFIG)
    conv = model.conv_block_names(CONFIG)
    assert len(conv) == 35 and len(shapes) == 35 * 5 + 5 * 2
    assert shapes["sa1.grouper0.mlp0.weight"] == (16, 4)
    assert shapes["sa2.grouper1.mlp0.weight"] == (64, 67)
    assert shapes["sa3.grouper0.mlp0.weight"] == (128, 131)
    assert shapes["sa3.sampler.mlp0.weight"] == (128, 128) and shapes["sa3.sampler.out.weight"] == (1, 128)
    assert shapes["vote.sampler.out.bias"] == (1,) and shapes["vote.offset.out.weight"] == (3, 128)
    assert shapes["vote_sa.grouper1.mlp2.weight"] == (1024, 512) and shapes["vote_sa.grouper0.mlp0.weight"] == (256, 259)
    assert shapes["head.shared_fc0.weight"] == (512, 1536)
    assert shapes["head.cls.out.weight"] == (3, 256) and shapes["head.reg.out.weight"] == (30, 256)
    # parameter count of spec section 9 (C_ctr = 1): weights + BN affine
    params = sum(int(np.prod(s)) for n, s in shapes.items() if "running" not in n)
    assert params == 2696870


def test_preprocess_simple():
    frame_path()
    raw = model.load_kitti_bin(model.kitti_frame_path(0))
    p = model.preprocess_simple(raw, 2048)
    assert p.shape == (2048, 4) and p.dtype == np.float32
    assert (p[:, 0] >= 0).all() and (p[:, 0] <= np.float32(70.4)).all() and (np.abs(p[:, 1]) <= 40).all()
    assert np.array_equal(p, model.preprocess_simple(raw, 2048))
    few = model.preprocess_simple(raw[:10], 25)
    assert np.array_equal(few[10:20], few[:10])


def test_output_shapes_and_scores(setup):
    cfg, w, pts, (boxes, scores, nums, inter) = setup
    P = cfg["post"]["max_out"]
    assert boxes.shape == (1, P, 8) and scores.shape == (1, P) and nums.shape == (1,) and nums.dtype == torch.int32
    n = int(nums[0])
    assert n >= 1
    s = inter["decode.scores"]
    assert float(s.min()) > 0 and float(s.max()) < 1
    assert float(s.min()) < 0.3 < float(s.max())
    assert (scores[0, :n] >= np.float32(0.1)).all() and (scores[0, n:] == 0).all() and (boxes[0, n:] == 0).all()
    labels = boxes[0, :n, 7]
    assert set(labels.tolist()) <= {1.0, 2.0, 3.0}
    assert (boxes[0, :n, 3:6] > 0).all()


def test_intermediate_shapes(setup):
    cfg, w, pts, (_, _, _, inter) = setup
    B, N = 1, 2048
    want = {"input.points": (B, N, 4)}
    prev_n, c = N, 1
    for layer in cfg["sa_layers"]:
        L, M = layer["name"], layer["sampler"]["num_samples"]
        want[f"{L}.indices"] = (B, M)
        want[f"{L}.xyz"] = (B, M, 3)
        for g, grp in enumerate(layer["groupers"]):
            want[f"{L}.grouper{g}.cnt"] = (B, M)
            want[f"{L}.grouper{g}.idx"] = (B, M, grp["nsample"])
            want[f"{L}.grouper{g}.pooled"] = (B, M, grp["mlp"][-1])
        want[f"{L}.concat"] = (B, M, sum(g["mlp"][-1] for g in layer["groupers"]))
        want[f"{L}.features"] = (B, M, layer["aggregation"])
        if layer["sampler"]["type"] == "ctr_topk":
            want[f"{L}.sampler.logits"] = (B, prev_n, 1)
        else:
            want[f"{L}.sampler.voxel"] = (B, 3)
        prev_n = M
    V = cfg["vote"]["sampler"]["num_samples"]
    want.update({"vote.sampler.logits": (B, 128, 1), "vote.indices": (B, V), "vote.centers": (B, V, 3),
                 "vote.offsets": (B, V, 3), "vote.ctr_features": (B, V, 256),
                 "vote_sa.grouper0.pooled": (B, V, 512), "vote_sa.grouper1.pooled": (B, V, 1024),
                 "vote_sa.features": (B, V, 1536), "head.shared": (B, V, 512), "head.cls": (B, V, 3),
                 "head.reg": (B, V, 30), "decode.boxes": (B, V, 8), "decode.scores": (B, V)})
    for name, shape in want.items():
        assert name in inter, name
        assert tuple(inter[name].shape) == shape, (name, tuple(inter[name].shape), shape)
    # structural invariants
    assert (inter["sa1.grouper0.cnt"] >= 1).all()                       # centres are source points
    assert torch.all(inter["sa1.indices"][0, 1:] > inter["sa1.indices"][0, :-1]) or \
        int(inter["sa1.sampler.num_cells"][0]) < 512                     # ascending unless padded
    off = inter["vote.centers"] - inter["vote.ctr_xyz"]
    assert (off.abs() <= torch.tensor([3.0, 3.0, 2.0]) + 1e-6).all()
    lg = inter["vote.sampler.logits"][0, :, 0]
    sel = inter["vote.indices"][0].long()
    assert torch.all(lg[sel][:-1] >= lg[sel][1:])


def test_bn_calibration_normalises(setup):
    """Post-BN (pre-affine) activations of a calibrated block are ~N(0,1) on the calibration frame."""
    cfg, w, pts, (_, _, _, inter) = setup
    x = inter["sa3.concat"]
    y = torch.matmul(x, w["sa3.aggregation.weight"].t())
    z = (y - w["sa3.aggregation.bn.running_mean"]) / torch.sqrt(w["sa3.aggregation.bn.running_var"] + 1e-5)
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 0.05


def test_determinism(setup):
    cfg, w, pts, (boxes, scores, nums, inter) = setup
    net = model.IASSD(cfg, dict(w))
    with torch.no_grad():
        b2, s2, n2, i2 = net.forward(pts)
    assert torch.equal(boxes, b2) and torch.equal(scores, s2) and torch.equal(nums, n2)
    for k in inter:
        assert torch.equal(inter[k], i2[k]), k


def test_decode_formulas():
    head = CONFIG["head"]
    cls = torch.tensor([[[0.1, 2.0, 2.0]]])
    reg = torch.zeros(1, 1, 30)
    reg[0, 0, 0:6] = torch.tensor([0.5, -0.5, 1.0, 0.0, np.log(2.0), 0.0])
    reg[0, 0, 6 + 3] = 5.0
    reg[0, 0, 18 + 3] = 0.25
    centers = torch.tensor([[[10.0, 1.0, -1.0]]])
    boxes, scores = model.decode_boxes(cls, reg, centers, head)
    diag = np.float32(np.sqrt(np.float32(0.8) ** 2 + np.float32(0.6) ** 2))
    b = boxes[0, 0].tolist()
    assert b[7] == 2.0                                              # first max -> Pedestrian
    assert b[0] == pytest.approx(10 + 0.5 * diag) and b[2] == pytest.approx(-1 + 1.73)
    assert b[4] == pytest.approx(1.2, rel=1e-6)
    assert b[6] == np.float32((np.float32(3) + np.float32(0.25)) * np.float32(2 * np.pi / 12))
    assert float(scores[0, 0]) == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_cli_weights_and_dump(tmp_path):
    """make_random_weights + dump_reference CLIs on the small config (1 calibration frame)."""
    frame_path()
    cfgp = tmp_path / "small.json"
    cfgp.write_text(json.dumps(small_config()))
    wp = tmp_path / "w.safetensors"
    env = dict(os.environ, PYTHONPATH=PYDIR)
    subprocess.run([sys.executable, "-m", "pointrt_ref.make_random_weights", "--config", str(cfgp), "--out",
                    str(wp), "--seed", "3", "--frames", "0"], check=True, env=env, capture_output=True)
    w, meta = load_file(str(wp))
    assert meta == {"format": "pointrt-iassd", "config_name": "iassd_hvcsx2_kitti"}
    model.check_weights(small_config(), w)
    out = tmp_path / "dump"
    subprocess.run([sys.executable, "-m", "pointrt_ref.dump_reference", "--config", str(cfgp), "--weights", str(wp),
                    "--frames", model.kitti_frame_path(0), "--out", str(out)], check=True, env=env,
                   capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "sa1.indices" in manifest and "out.nums" in manifest
    pts = np.load(out / "input.points.npy")
    assert pts.shape == (1, 2048, 4)
    assert np.load(out / "out.boxes.npy").shape == (1, 256, 8)
