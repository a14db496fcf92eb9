"""Export a training checkpoint to the safetensors file pointrt loads.

    python -m pointrt_train.export --checkpoint RUN/checkpoint.pt --config models/iassd_hvcsx2_kitti.json \
        --out W.safetensors [--check-data DIR]

Writes exactly the tensors of pointrt_ref.model.weight_shapes(config) (float32) with metadata
{"format": "pointrt-iassd", "config_name": <config name>}, then re-loads the file with pointrt_ref.model.load_model.
With --check-data it also runs the torch module (eval mode) and the reference network on the first frame of DIR and
reports the largest difference of the head outputs.
"""
from __future__ import annotations

import argparse
import json
from typing import List, Optional

import torch

from pointrt_ref.model import load_config, load_model
from pointrt_ref.safetensors_io import save_file

from .model import IASSDNet


def load_trained(checkpoint: str, config: dict) -> IASSDNet:
    from .train import load_checkpoint
    ck = load_checkpoint(checkpoint)
    sd = ck["model"] if isinstance(ck, dict) and "model" in ck else ck
    model = IASSDNet(config)
    model.load_state_dict(sd)
    return model.eval()


def export(model: IASSDNet, config: dict, out: str) -> int:
    w = model.export_state()
    save_file(w, out, {"format": "pointrt-iassd", "config_name": config["name"]})
    return len(w)


def compare(model: IASSDNet, config_path: str, weights_path: str, points: torch.Tensor) -> dict:
    """Eval-mode module vs reference network on the same preprocessed points [B,N,4] (CPU)."""
    ref = load_model(config_path, weights_path)
    model = model.cpu().eval()
    with torch.no_grad():
        inter = model(points)
        ref.forward(points)
    out = {}
    for k in ("vote.centers", "head.cls", "head.reg"):
        out[k] = float((inter[k] - ref.inter[k]).abs().max())
    out["indices_equal"] = bool(all(torch.equal(inter[f"{l['name']}.indices"].long(),
                                                ref.inter[f"{l['name']}.indices"].long())
                                    for l in ref.cfg["sa_layers"]) and
                                torch.equal(inter["vote.indices"].long(), ref.inter["vote.indices"].long()))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="pointrt_train.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check-data", default=None, help="KITTI-layout root: compare module and reference on a frame")
    a = ap.parse_args(argv)
    config = load_config(a.config)
    model = load_trained(a.checkpoint, config)
    n = export(model, config, a.out)
    load_model(a.config, a.out)  # raises if names/shapes do not match the convention
    res = {"out": a.out, "tensors": n}
    if a.check_data:
        from .data import KittiDataset
        ds = KittiDataset(a.check_data, config, train=False, fov=False)
        pts = torch.from_numpy(ds.make_sample(0, 0, 0)["points"])[None]
        res["compare"] = compare(model, a.config, a.out, pts)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
