"""Seeded random IA-SSD weights with realistic BatchNorm statistics.

    /usr/bin/python3 -m pointrt_ref.make_random_weights --config models/iassd_hvcsx2_kitti.json \
        --out /tmp/iassd_random.safetensors --seed 0 [--frames 0 1 2]

1. Every tensor of the weight convention (model.weight_shapes) is drawn from a seeded torch.Generator:
   Linear weights U(-1/sqrt(in), 1/sqrt(in)) (PyTorch's default scale), biases U(-0.1, 0.1),
   BN gamma U(0.8, 1.2), BN beta U(-0.1, 0.1).
2. The network runs in calibration mode on a few real KITTI frames (model.load_frames): every conv block, in
   evaluation order, sets its running_mean / running_var to the mean / population variance of the pre-BN
   activations it actually receives, so normalised activations are ~N(0, 1) (then gamma/beta apply).
3. head.cls.out is rescaled so that per class the logits have mean -1 and standard deviation 2 on those frames:
   sigmoid scores then spread over (0, 1) and many candidates pass the 0.1 score threshold, so NMS has work.
"""
from __future__ import annotations

import argparse
import json
from typing import Dict, List, Optional

import torch

from .model import IASSD, load_config, load_frames, weight_shapes
from .safetensors_io import save_file


def random_weights(config: dict, seed: int) -> Dict[str, torch.Tensor]:
    """Step 1: uncalibrated random weights (BN stats 0/1)."""
    gen = torch.Generator().manual_seed(seed)
    w: Dict[str, torch.Tensor] = {}

    def uni(shape, lo, hi):
        return torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo

    for name, shape in weight_shapes(config).items():
        if name.endswith(".bn.weight"):
            w[name] = uni(shape, 0.8, 1.2)
        elif name.endswith(".bn.bias"):
            w[name] = uni(shape, -0.1, 0.1)
        elif name.endswith(".bn.running_mean"):
            w[name] = torch.zeros(shape)
        elif name.endswith(".bn.running_var"):
            w[name] = torch.ones(shape)
        elif name.endswith(".weight"):
            bound = 1.0 / (shape[1] ** 0.5)
            w[name] = uni(shape, -bound, bound)
        else:  # final-layer bias
            w[name] = uni(shape, -0.1, 0.1)
    return w


def calibrate(config: dict, w: Dict[str, torch.Tensor], points: torch.Tensor,
              logit_mean: float = -1.0, logit_std: float = 2.0) -> Dict[str, torch.Tensor]:
    """Steps 2 and 3 on preprocessed points [B,N,4]; modifies and returns ``w``."""
    net = IASSD(config, w)
    net.calibrate = True
    with torch.no_grad():
        net.forward(points)
    net.calibrate = False
    cls = net.inter["head.cls"].reshape(-1, w["head.cls.out.bias"].shape[0]).double()
    mu, sd = cls.mean(0), cls.std(0).clamp(min=1e-6)
    scale = logit_std / sd
    # new logit = (old - mu) * scale + logit_mean, folded into weight and bias
    w["head.cls.out.weight"] = (w["head.cls.out.weight"].double() * scale[:, None]).float()
    w["head.cls.out.bias"] = ((w["head.cls.out.bias"].double() - mu) * scale + logit_mean).float()
    return w


def make_weights(config: dict, seed: int, points: torch.Tensor) -> Dict[str, torch.Tensor]:
    return calibrate(config, random_weights(config, seed), points)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, nargs="+", default=[0, 1, 2],
                    help="KITTI velodyne_reduced frame numbers used for BN calibration")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    torch.manual_seed(args.seed)
    points = load_frames(args.frames, cfg["input"]["num_points"], seed=args.seed)
    w = make_weights(cfg, args.seed, points)
    # the convention's metadata, exactly these two keys
    save_file(w, args.out, {"format": "pointrt-iassd", "config_name": cfg["name"]})
    print(json.dumps({"out": args.out, "tensors": len(w)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
