"""Tests of pointrt_sim, the KITTI-like LiDAR scene simulator. Most frames use a reduced azimuth resolution
(columns=400) to keep the suite fast; one full-resolution scan checks the point count."""
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pointrt_sim import generate, kitti  # noqa: E402
from pointrt_sim.lidar import LidarConfig, Entity, Material, Primitive, Scene  # noqa: E402
from pointrt_sim import geometry, scene as sim_scene  # noqa: E402

SMALL = 400
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


@pytest.fixture(scope="module")
def small_frames():
    cfg = LidarConfig(columns=SMALL)
    return [generate.generate_frame(7, i, cfg) for i in range(6)]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert generate.main(["--out", str(out), "--scenes", "3", "--seed", "11", "--columns", str(SMALL),
                          "--quiet"]) == 0
    return out


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def _in_box(pts, box, margin=0.0):
    q = pts[:, :3].astype(np.float64) - box[:3]
    c, s = math.cos(box[6]), math.sin(box[6])
    lx = q[:, 0] * c + q[:, 1] * s
    ly = -q[:, 0] * s + q[:, 1] * c
    return ((np.abs(lx) <= box[3] / 2 + margin) & (np.abs(ly) <= box[4] / 2 + margin) &
            (np.abs(q[:, 2]) <= box[5] / 2 + margin))


# -------------------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_files(written, tmp_path):
    again = tmp_path / "again"
    assert generate.main(["--out", str(again), "--scenes", "3", "--seed", "11", "--columns", str(SMALL),
                          "--quiet"]) == 0
    a, b = _files(written), _files(again)
    assert sorted(a) == sorted(b) and len(a) == 9
    for k in a:
        assert a[k] == b[k], k
    # frame i depends only on (seed, i): generating frame 2 alone gives the same bytes
    alone = tmp_path / "alone"
    generate.main(["--out", str(alone), "--scenes", "1", "--start", "2", "--seed", "11", "--columns", str(SMALL),
                   "--quiet"])
    c = _files(alone)
    assert sorted(c) == ["training/calib/000002.txt", "training/label_2/000002.txt",
                         "training/velodyne/000002.bin"]
    for k in c:
        assert c[k] == a[k]
    # worker processes write the same bytes
    par = tmp_path / "par"
    assert generate.main(["--out", str(par), "--scenes", "3", "--seed", "11", "--columns", str(SMALL), "--jobs", "2",
                          "--quiet"]) == 0
    assert _files(par) == a
    # another seed gives another scan
    other = tmp_path / "other"
    generate.main(["--out", str(other), "--scenes", "1", "--seed", "12", "--columns", str(SMALL), "--quiet"])
    assert _files(other)["training/velodyne/000000.bin"] != a["training/velodyne/000000.bin"]


# ------------------------------------------------------------------------------------------------------ sensor

def test_beam_layout_is_hdl64e():
    el = LidarConfig().elevations
    assert el.shape == (64,)
    assert el.max() == pytest.approx(2.0) and el.min() == pytest.approx(-24.9)
    assert np.all(np.diff(el) < 0)
    upper, lower = -np.diff(el[:32]), -np.diff(el[32:])
    assert 0.28 < upper.mean() < 0.38 and 0.45 < lower.mean() < 0.58  # denser upper block


def test_point_elevations_and_intensity(small_frames):
    for pts, _, _, _ in small_frames:
        assert pts.dtype == np.float32 and pts.shape[1] == 4
        r_xy = np.hypot(pts[:, 0], pts[:, 1])
        el = np.degrees(np.arctan2(pts[:, 2], r_xy))
        assert el.min() >= -24.9 - 0.01 and el.max() <= 2.0 + 0.01
        assert pts[:, 3].min() >= 0.0 and pts[:, 3].max() <= 1.0
        assert np.isfinite(pts).all()
        assert np.linalg.norm(pts[:, :3], axis=1).max() <= 120.0 + 0.1


def test_full_scan_point_count_and_speed():
    cfg = LidarConfig()
    assert 0.16 < cfg.azimuth_res_deg < 0.18 and 64 * cfg.columns > 130000
    t0 = time.perf_counter()
    pts, labels, _, info = generate.generate_frame(3, 0, cfg)
    dt = time.perf_counter() - t0
    assert 100000 <= len(pts) <= 133000, len(pts)
    assert dt < 10.0
    # and an open scene (ground only): the upper beams see the sky, most lower beams the ground
    calib = kitti.Calib()
    open_scene = Scene(sim_scene.flat_ground(), [])
    p2, _, _ = generate.simulate(open_scene, cfg, np.random.default_rng(0), calib)
    assert 95000 < len(p2) < 130000, len(p2)


def test_range_noise_is_about_2cm():
    cfg = LidarConfig(columns=720, random_dropout=0.0)
    wall = Entity([Primitive("box", [20.0, 0.0, 0.0], np.eye(3), [0.5, 10.0, 5.0], Material(0.5))])
    sc = Scene(sim_scene.flat_ground(), [wall])
    pts, _, info = generate.simulate(sc, cfg, np.random.default_rng(1), kitti.Calib())
    on = info["point_entity"] == 0
    err = pts[on, 0] - 19.5
    assert on.sum() > 500
    assert 0.015 < err.std() < 0.025 and abs(err.mean()) < 0.005


# ------------------------------------------------------------------------------------------------------ labels

def test_every_label_has_its_points_and_round_trips(small_frames):
    n_obj = 0
    for pts, labels, calib, info in small_frames:
        sc = info["scene"]
        calib2 = kitti.Calib({k: v for k, v in kitti.parse_calib_text(calib.to_text()).items()})
        text = "".join(kitti.format_label_line(o) + "\n" for o in labels)
        parsed = kitti.parse_label_text(text)
        assert len(parsed) == len(labels)
        for o, lab in zip(parsed, labels):
            if o["type"] == "DontCare":
                continue
            n_obj += 1
            e = sc.entities[lab["entity"]]
            assert e.cls == o["type"]
            box = kitti.label_to_lidar_box(o["h"], o["w"], o["l"], o["x"], o["y"], o["z"], o["ry"], calib2)
            assert np.allclose(box[:6], e.box[:6], atol=1e-9)
            assert abs(kitti.wrap_angle(box[6] - e.box[6])) < 1e-9
            mine = pts[info["point_entity"] == lab["entity"]]
            assert len(mine) >= generate.MIN_POINTS
            outside = int((~_in_box(mine, box)).sum())
            assert outside <= max(1, 0.1 * len(mine)), (o["type"], outside, len(mine))
            assert _in_box(mine, box, margin=0.1).all()
            # the label's alpha follows the written geometry
            alpha = kitti.wrap_angle(o["ry"] - math.atan2(o["x"], o["z"]))
            assert abs(kitti.wrap_angle(alpha - o["alpha"])) < 0.011
    assert n_obj >= 10


def test_truncation_consistent_with_2d_box(small_frames):
    seen_truncated = False
    for pts, labels, calib, info in small_frames:
        for o in labels:
            if o["type"] == "DontCare":
                assert all(0 <= v for v in o["bbox"])
                continue
            full = kitti.project_box_unclipped(o["h"], o["w"], o["l"], o["x"], o["y"], o["z"], o["ry"], calib)
            clipped = kitti.clip_box(full)
            assert np.allclose(clipped, o["bbox"])
            area_full = (full[2] - full[0]) * (full[3] - full[1])
            area_in = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
            assert o["truncated"] == pytest.approx(1 - area_in / area_full, abs=0.006)
            inside_img = full[0] >= 0 and full[1] >= 0 and full[2] <= kitti.IMAGE_W - 1 and \
                full[3] <= kitti.IMAGE_H - 1
            if inside_img:
                assert o["truncated"] == 0.0
            if o["truncated"] > 0.05:
                seen_truncated = True
            assert 0 <= o["occluded"] <= 3
    assert seen_truncated


def _one_car_scene(extra=()):
    calib = kitti.Calib()
    ground = sim_scene.flat_ground()
    rng = np.random.default_rng(5)
    car = sim_scene.make_object("Car", 15.0, 0.0, 0.0, (4.0, 1.7, 1.5), ground, calib, rng)
    return Scene(ground, [car] + list(extra)), calib


def test_physical_occlusion():
    cfg = LidarConfig(columns=1000)
    # in the open: all rays reach the car
    sc, calib = _one_car_scene()
    pts, labels, info = generate.simulate(sc, cfg, np.random.default_rng(0), calib)
    assert [o["type"] for o in labels] == ["Car"] and labels[0]["occluded"] == 0
    assert labels[0]["truncated"] == 0.0
    # a wall between the sensor and the car: no points on the car, and it is not labelled
    wall = Entity([Primitive("box", [9.0, 0.0, 0.5], np.eye(3), [0.15, 6.0, 3.0], Material(0.4))], name="wall")
    sc, calib = _one_car_scene([wall])
    pts, labels, info = generate.simulate(sc, cfg, np.random.default_rng(0), calib)
    st = info["entities"][0]
    assert st["rays"] > 100 and st["first_hits"] == 0 and st["points"] == 0
    assert labels == []
    # a low wall hides the lower part: partly occluded
    low = Entity([Primitive("box", [9.0, 0.0, -1.73 + 0.5], np.eye(3), [0.15, 6.0, 0.5], Material(0.4))])
    sc, calib = _one_car_scene([low])
    pts, labels, info = generate.simulate(sc, cfg, np.random.default_rng(0), calib)
    assert len(labels) == 1 and labels[0]["occluded"] in (1, 2)
    assert 0.1 <= info["entities"][0]["blocked"] < 0.8
    # hidden rays' points are on the wall, never behind it on the car
    on_car = pts[info["point_entity"] == 0]
    wall_top = -1.73 + 1.0
    assert len(on_car) > 50
    assert (on_car[:, 2] >= on_car[:, 0] * (wall_top / 9.0) - 0.05).all()


def test_objects_outside_the_camera_view_are_not_labelled():
    calib = kitti.Calib()
    ground = sim_scene.flat_ground()
    rng = np.random.default_rng(2)
    behind = sim_scene.make_object("Car", -12.0, 0.0, 0.0, (4.0, 1.7, 1.5), ground, calib, rng)
    side = sim_scene.make_object("Pedestrian", 1.0, 6.0, 0.0, (0.8, 0.6, 1.7), ground, calib, rng)
    edge = sim_scene.make_object("Car", 9.0, 7.5, 0.0, (4.0, 1.7, 1.5), ground, calib, rng)
    pts, labels, info = generate.simulate(Scene(ground, [behind, side, edge]), LidarConfig(columns=1000),
                                          np.random.default_rng(0), calib)
    assert info["entities"][0]["points"] > 100 and info["entities"][1]["points"] > 20
    assert [o["entity"] for o in labels] == [2]
    assert labels[0]["truncated"] > 0.1 and labels[0]["bbox"][0] == 0.0


# ------------------------------------------------------------------------------------------------- statistics

def test_car_sizes_follow_kitti():
    rng = np.random.default_rng(0)
    s = np.array([sim_scene.sample_car_size(rng) for _ in range(4000)])
    assert np.allclose(s.mean(0), [3.9, 1.6, 1.56], atol=0.03)
    assert np.allclose(s.std(0), [0.42, 0.10, 0.14], atol=0.03)


def test_labelled_cars_sizes_and_classes(small_frames):
    cars = []
    classes = set()
    for _, labels, _, _ in small_frames:
        for o in labels:
            classes.add(o["type"])
            if o["type"] == "Car":
                cars.append((o["l"], o["w"], o["h"]))
            if o["type"] == "Pedestrian":
                assert 1.3 < o["h"] < 2.1 and o["w"] < 0.9
    cars = np.array(cars)
    assert len(cars) >= 8
    assert np.allclose(cars.mean(0), [3.9, 1.6, 1.56], atol=0.35)
    assert classes <= {"Car", "Pedestrian", "Cyclist", "DontCare"}


# ------------------------------------------------------------------------------------------------------ files

def test_label_parser_takes_a_score_column_only_when_asked():
    line = "Car 0.00 0 1.55 614.24 181.78 727.31 284.77 1.57 1.73 4.15 1.00 1.75 13.22 1.62"
    (gt,) = kitti.parse_label_text(line + "\n")
    assert "score" not in gt and gt["ry"] == 1.62 and gt["bbox"] == (614.24, 181.78, 727.31, 284.77)
    with pytest.raises(ValueError, match="expected 15 columns, got 16"):
        kitti.parse_label_text(line + " 0.75\n")
    (det,) = kitti.parse_label_text(line + " 0.75\r\n", with_score=True)
    assert det["score"] == 0.75 and {k: det[k] for k in gt} == gt
    with pytest.raises(ValueError, match="expected 15 or 16 columns, got 17"):
        kitti.parse_label_text(line + " 0.75 1\n", with_score=True)
    with pytest.raises(ValueError, match="column 16 is not finite"):
        kitti.parse_label_text(line + " nan\n", with_score=True)


def test_written_files_are_kitti(written):
    base = written / "training"
    names = sorted(os.listdir(base / "velodyne"))
    assert names == ["000000.bin", "000001.bin", "000002.bin"]
    for n in names:
        stem = n[:-4]
        raw = (base / "velodyne" / n).read_bytes()
        assert len(raw) % 16 == 0 and len(raw) > 0
        cal_text = (base / "calib" / (stem + ".txt")).read_text()
        keys = [line.split(":")[0] for line in cal_text.splitlines()]
        assert keys == ["P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"]
        vals = kitti.parse_calib_text(cal_text)
        assert len(vals["P2"]) == 12 and len(vals["R0_rect"]) == 9 and len(vals["Tr_velo_to_cam"]) == 12
        assert vals["P2"][0] == pytest.approx(721.5377)
        lab_text = (base / "label_2" / (stem + ".txt")).read_text()
        assert lab_text == "" or lab_text.endswith("\n")
        for line in lab_text.splitlines():
            cols = line.split(" ")
            assert len(cols) == 15, line
            assert cols[0] in ("Car", "Pedestrian", "Cyclist", "DontCare")
            if cols[0] == "DontCare":
                assert cols[1:4] == ["-1", "-1", "-10"] and cols[8:] == ["-1"] * 3 + ["-1000"] * 3 + ["-10"]
            else:
                assert 0.0 <= float(cols[1]) <= 1.0 and cols[2] in ("0", "1", "2", "3")
                for c in cols[3:]:
                    assert "." in c and len(c.split(".")[1]) == 2, line  # KITTI's 2 decimals
                assert -math.pi <= float(cols[14]) <= math.pi and -math.pi <= float(cols[3]) <= math.pi
        parsed = kitti.parse_label_text(lab_text)
        # DontCare lines come after the objects, as in KITTI
        types = [o["type"] for o in parsed]
        assert types == sorted(types, key=lambda t: t == "DontCare")


def test_cpp_reader_accepts_scan(written):
    exe = None
    for cand in ("build-dev/bin/pointrt", "build/ci/bin/pointrt", "build/bin/pointrt"):
        if os.access(os.path.join(REPO, cand), os.X_OK):
            exe = os.path.join(REPO, cand)
            break
    if exe is None:
        pytest.skip("no built pointrt CLI")
    path = str(written / "training" / "velodyne" / "000000.bin")
    out = subprocess.run([exe, "info", path], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    n = os.path.getsize(path) // 16
    assert ("points     %d" % n) in out.stdout
