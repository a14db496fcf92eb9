"""Dump the reference network's input, every intermediate and the outputs as .npy files.

    /usr/bin/python3 -m pointrt_ref.dump_reference --config models/iassd_hvcsx2_kitti.json \
        --weights w.safetensors --frames ../shared/data/kitti/training/velodyne_reduced/000000.bin --out DIR

Input: either KITTI .bin frames (--frames, preprocessed with model.preprocess_simple, batched in the given
order) or already preprocessed points (--points a.npy with [N,4] or [B,N,4] float32, e.g. written by the C++
preprocess so both sides see the same points — the parity path, since src/io/preprocess.cpp differs from
preprocess_simple). Output: DIR/<stable name>.npy for every tensor (input.points, sa1.indices, ..., out.nums)
plus DIR/manifest.json (name -> shape, dtype), and all of them in one DIR/reference.safetensors (float32 and int32
tensors under the same names; what the C++ parity test reads).
"""
from __future__ import annotations

import argparse
import json
import os
from typing import List, Optional

import numpy as np
import torch

from .model import load_kitti_bin, load_model, preprocess_simple
from .safetensors_io import save_file


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", nargs="+", help="KITTI .bin files")
    src.add_argument("--points", help="preprocessed points .npy, [N,4] or [B,N,4] float32")
    ap.add_argument("--seed", type=int, default=0, help="seed of preprocess_simple's permutation")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    net = load_model(args.config, args.weights)
    n = net.cfg["input"]["num_points"]
    if args.points:
        pts = np.load(args.points).astype(np.float32)
        if pts.ndim == 2:
            pts = pts[None]
    else:
        pts = np.stack([preprocess_simple(load_kitti_bin(f), n, tuple(net.cfg["input"]["point_cloud_range"]),
                                          seed=args.seed) for f in args.frames])
    if pts.ndim != 3 or pts.shape[2] != 4:
        raise SystemExit(f"error: points must be [B,N,4], got {pts.shape}")
    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():
        _, _, nums, inter = net.forward(torch.from_numpy(np.ascontiguousarray(pts)))
    manifest = {}
    packed = {}
    for name, t in inter.items():
        t = t.detach().cpu()
        packed[name] = t.to(torch.int32) if not t.is_floating_point() else t.to(torch.float32)
        arr = t.numpy()
        np.save(os.path.join(args.out, f"{name}.npy"), arr)
        manifest[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    save_file({k: v.contiguous() for k, v in packed.items()}, os.path.join(args.out, "reference.safetensors"),
              {"format": "pointrt-reference", "config_name": net.cfg["name"]})
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps({"out": args.out, "tensors": len(manifest), "nums": nums.tolist()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
