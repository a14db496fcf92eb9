#!/usr/bin/env python3
"""Per-object comparison of KITTI label_2 predictions with ground truth, for reading what a detector does on a few
frames (AP over a handful of objects says little).

    tools/compare-labels.py --pred PRED_DIR --gt GT_DIR [--min-score 0.3] [--max-dist 2.0]

For every ground-truth Car, Pedestrian or Cyclist it finds the nearest prediction (any class, score >= --min-score)
by ground-plane centre distance in the camera frame (x, z) and prints the distance, the class and score found, the
size error and the heading error (rotation_y difference wrapped to [-pi, pi), and the same modulo pi, i.e. ignoring
a front/back flip). A ground-truth object with no prediction within --max-dist metres is "missed". Predictions
within --max-dist of no ground-truth object (DontCare and other classes included) are counted as unmatched. Output:
a Markdown table and a summary line. Needs numpy only (labels are read with python/pointrt_sim's parser).
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from pointrt_sim.kitti import parse_label_text  # noqa: E402

CLASSES = ("Car", "Pedestrian", "Cyclist")


def read_labels(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        try:
            rows = parse_label_text(f.read(), with_score=True)
        except ValueError as e:
            raise SystemExit(f"{path}: {e}")
    for r in rows:
        r["hwl"], r["xyz"] = (r["h"], r["w"], r["l"]), (r["x"], r["y"], r["z"])
    return rows


def wrap(a):
    return (a + math.pi) % (2 * math.pi) - math.pi


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pred", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--min-score", type=float, default=0.3)
    ap.add_argument("--max-dist", type=float, default=2.0)
    a = ap.parse_args(argv)
    if not os.path.isdir(a.gt):
        raise SystemExit(f"--gt {a.gt}: not a directory")
    if not os.path.isdir(a.pred):
        raise SystemExit(f"--pred {a.pred}: not a directory")
    frames = sorted(f[:-4] for f in os.listdir(a.gt) if f.endswith(".txt"))
    print("| frame | GT class | GT centre (cam x, z) m | found | score | centre error m | size error (h, w, l) m "
          "| heading error rad | modulo pi |")
    print("|---|---|---|---|---:|---:|---|---:|---:|")
    found = missed = unmatched = n_pred = 0
    for fr in frames:
        gt = read_labels(os.path.join(a.gt, fr + ".txt"))
        pred = [p for p in read_labels(os.path.join(a.pred, fr + ".txt")) if p.get("score", 0.0) >= a.min_score]
        n_pred += len(pred)
        pc = np.array([[p["xyz"][0], p["xyz"][2]] for p in pred]).reshape(-1, 2)
        for g in gt:
            if g["type"] not in CLASSES:
                continue
            gc = np.array([g["xyz"][0], g["xyz"][2]])
            d = np.hypot(*(pc - gc).T) if len(pred) else np.array([])
            if d.size == 0 or d.min() > a.max_dist:
                missed += 1
                print(f"| {fr} | {g['type']} | {gc[0]:.1f}, {gc[1]:.1f} | missed | | | | | |")
                continue
            p = pred[int(d.argmin())]
            found += 1
            dh = wrap(p["ry"] - g["ry"])
            dpi = (dh + math.pi / 2) % math.pi - math.pi / 2
            size = ", ".join(f"{x - y:+.2f}" for x, y in zip(p["hwl"], g["hwl"]))
            print(f"| {fr} | {g['type']} | {gc[0]:.1f}, {gc[1]:.1f} | {p['type']} | {p['score']:.2f} | "
                  f"{d.min():.2f} | {size} | {dh:+.2f} | {dpi:+.2f} |")
        allc = np.array([[g["xyz"][0], g["xyz"][2]] for g in gt]).reshape(-1, 2)
        for q in pc:
            if allc.shape[0] == 0 or np.hypot(*(allc - q).T).min() > a.max_dist:
                unmatched += 1
    print(f"\n{found} of {found + missed} objects found within {a.max_dist} m; {unmatched} of {n_pred} predictions "
          f"with score >= {a.min_score} are within {a.max_dist} m of no labelled object (DontCare included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
