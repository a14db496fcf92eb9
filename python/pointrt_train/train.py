"""Train IA-SSD on KITTI-layout data; resumable.

    python -m pointrt_train.train --data DIR --config models/iassd_hvcsx2_kitti.json --out RUN_DIR
        [--resume] [--max-minutes M] [--steps N] [--device cuda|cpu] [--batch-size 8] [--lr 0.01]
        [--save-every 500] [--workers 4] [--seed 0]

RUN_DIR/checkpoint.pt holds model, optimizer, scheduler, step and RNG states; it is written every --save-every
steps, when --max-minutes is reached, at --stop-at and at the end. --resume continues from it exactly: data order and
augmentation are functions of (seed, epoch, position) and the model has no other randomness, so on CPU (and on
CUDA with --deterministic) "N steps" equals "k steps, then resume for N - k". RUN_DIR/log.jsonl gets one line of
losses per --log-every steps. See docs/training.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import fields
from typing import List, Optional

import numpy as np
import torch

from pointrt_ref.model import load_config

from .data import EpochSampler, KittiDataset, collate, list_frames, resolve_root
from .losses import LossConfig, compute_losses
from .model import IASSDNet

CKPT = "checkpoint.pt"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pointrt_train.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="KITTI-layout root (DIR or DIR/training holds velodyne/)")
    ap.add_argument("--config", required=True, help="pointrt model config (models/*.json)")
    ap.add_argument("--out", required=True, help="run directory (checkpoint.pt, log.jsonl, args.json)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("--steps", type=int, default=None, help="total optimizer steps (default: --epochs worth)")
    ap.add_argument("--epochs", type=float, default=80.0, help="used when --steps is not given")
    ap.add_argument("--budget-minutes", type=float, default=None,
                    help="size the schedule to this much training time instead of --steps/--epochs: the first "
                         "--calibrate-steps steps are timed and the total becomes budget / time per step (a fresh "
                         "run only; the total is kept in the checkpoint and reused by --resume)")
    ap.add_argument("--calibrate-steps", type=int, default=30,
                    help="steps timed for --budget-minutes (the first 5 of them are not counted)")
    ap.add_argument("--max-minutes", type=float, default=None, help="stop (and checkpoint) after this wall time")
    ap.add_argument("--stop-at", type=int, default=None, help="stop (and checkpoint) when reaching this step")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.01, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--schedule", choices=["onecycle", "cosine"], default="onecycle")
    ap.add_argument("--pct-start", type=float, default=0.4)
    ap.add_argument("--div-factor", type=float, default=10.0)
    ap.add_argument("--grad-clip", type=float, default=10.0)
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (off by default)")
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-file", default=None, help="file with frame ids (e.g. ImageSets/train.txt)")
    ap.add_argument("--no-fov", action="store_true", help="do not restrict points to the camera field of view")
    ap.add_argument("--no-aug", action="store_true", help="disable augmentation")
    ap.add_argument("--cache", action="store_true", help="keep decoded frames in memory (small datasets)")
    ap.add_argument("--bn-momentum", type=float, default=0.1)
    ap.add_argument("--deterministic", action="store_true", help="torch.use_deterministic_algorithms (CUDA)")
    ap.add_argument("--loss", default=None, help="JSON object overriding LossConfig fields")
    return ap


def _rng_state():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    # numpy's state as plain Python values: a pickled ndarray names numpy's internal module, which differs between
    # numpy 1 and 2, and would make the checkpoint unreadable on the other
    st = {"torch": torch.get_rng_state(), "numpy": (kind, [int(k) for k in keys], int(pos), int(has_gauss),
                                                     float(cached)), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st):
    torch.set_rng_state(st["torch"])
    kind, keys, pos, has_gauss, cached = st["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def make_optimizer(model, args, total_steps: int):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if (p.ndim == 1) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.95, 0.99))
    return opt, make_scheduler(opt, args, total_steps)


def make_scheduler(opt, args, total_steps: int):
    if args.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(2, total_steps) + 1,
                                                    pct_start=args.pct_start, div_factor=args.div_factor,
                                                    final_div_factor=100.0, base_momentum=0.85,
                                                    max_momentum=0.95, cycle_momentum=True)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps), eta_min=args.lr * 1e-3)
    return sched


def _write_run_info(args, loss_cfg: LossConfig, frames: int, total_steps: int, **extra):
    with open(os.path.join(args.out, "args.json"), "w", encoding="utf-8") as f:
        json.dump({"args": vars(args), "loss": loss_cfg.to_dict(), "frames": frames, "total_steps": total_steps,
                   **extra}, f, indent=1)


def load_checkpoint(path: str) -> dict:
    """torch.load of a training checkpoint (it holds numpy RNG state, so weights_only must be off on new torch)."""
    if not hasattr(np, "_core"):
        # checkpoints written under numpy 2 may name numpy._core (numpy 1 calls it numpy.core)
        import numpy.core.multiarray  # noqa: F401
        sys.modules.setdefault("numpy._core", np.core)
        sys.modules.setdefault("numpy._core.multiarray", np.core.multiarray)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch without the weights_only argument
        return torch.load(path, map_location="cpu")


def save_checkpoint(path: str, model, opt, sched, step: int, args, config: dict, loss_cfg: LossConfig,
                    total_steps: int):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": step, "total_steps": total_steps, "rng": _rng_state(), "args": vars(args), "config": config,
                "loss_config": loss_cfg.to_dict(), "format": "pointrt-train-checkpoint"}, tmp)
    os.replace(tmp, path)


def _loss_config(args) -> LossConfig:
    lc = LossConfig()
    if args.loss:
        over = json.loads(args.loss)
        names = {f.name for f in fields(LossConfig)}
        for k, v in over.items():
            if k not in names:
                raise SystemExit(f"--loss: unknown field {k!r} (allowed: {sorted(names)})")
            setattr(lc, k, v)
    return lc


def train(argv: Optional[List[str]] = None) -> dict:
    args = build_parser().parse_args(argv)
    config = load_config(args.config)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, CKPT)
    device = torch.device(args.device)
    if args.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    loss_cfg = _loss_config(args)

    root = resolve_root(args.data)
    frames = list_frames(root, args.split_file)
    ds = KittiDataset(root, config, frames, seed=args.seed, train=not args.no_aug, fov=not args.no_fov,
                      cache=args.cache)
    if args.no_aug:
        ds.train = False
    steps_per_epoch = max(1, len(ds) // args.batch_size)
    total = args.steps if args.steps is not None else int(math.ceil(args.epochs * steps_per_epoch))

    torch.manual_seed(args.seed)
    model = IASSDNet(config, bn_momentum=args.bn_momentum).to(device)
    calibrating = args.budget_minutes is not None and not args.resume
    opt, sched = make_optimizer(model, args, total)
    step = 0
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise SystemExit(f"--resume: {ckpt_path} does not exist")
        ck = load_checkpoint(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        step = int(ck["step"])
        _set_rng_state(ck["rng"])
        if ck.get("total_steps") and int(ck["total_steps"]) != total:
            total = int(ck["total_steps"])
            print(f"resume: schedule of {total} steps from the checkpoint", file=sys.stderr)
    elif args.budget_minutes is not None and args.calibrate_steps <= 5:
        raise SystemExit("--calibrate-steps must be > 5")
    _write_run_info(args, loss_cfg, len(ds), total)

    sampler = EpochSampler(len(ds), args.batch_size, args.seed, start_step=step)
    extra = {"prefetch_factor": 4} if args.workers > 0 else {}
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, sampler=sampler, collate_fn=collate,
                                         num_workers=args.workers, pin_memory=device.type == "cuda", **extra)
    t_start = time.time()
    log = open(os.path.join(args.out, "log.jsonl"), "a", encoding="utf-8")
    step_times: List[float] = []
    model.train()
    last = {}
    stop_reason = "steps"
    it = iter(loader)
    while step < total:
        if args.stop_at is not None and step >= args.stop_at:
            stop_reason = "stop_at"
            break
        if args.max_minutes is not None and (time.time() - t_start) / 60.0 >= args.max_minutes:
            stop_reason = "max_minutes"
            break
        t0 = time.time()
        batch = next(it)
        pts = batch["points"].to(device, non_blocking=True)
        gt = batch["gt"].to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.amp and device.type == "cuda"):
            inter = model(pts)
        inter = {k: (v.float() if v.is_floating_point() else v) for k, v in inter.items()}
        loss, terms = compute_losses(inter, gt, config, loss_cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        sched.step()
        step += 1
        terms.update({"step": step, "lr": opt.param_groups[0]["lr"], "grad_norm": float(gnorm),
                      "sec": time.time() - t0})
        last = terms
        if step % args.log_every == 0 or step == 1 or step == total:
            log.write(json.dumps(terms) + "\n")
            log.flush()
            print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in terms.items()}),
                  file=sys.stderr)
        if calibrating:
            step_times.append(terms["sec"])
            if step == args.calibrate_steps:
                calibrating = False
                per_step = float(np.mean(step_times[5:]))
                total = max(step + 1, int(args.budget_minutes * 60.0 / per_step))
                # a new schedule over the new length, from its start (the learning rate back at its initial value,
                # which a recursive schedule such as cosine starts from), advanced to the current step; the
                # optimizer and its moments stay
                for group in opt.param_groups:
                    group["lr"] = group["initial_lr"]
                sched = make_scheduler(opt, args, total)
                with warnings.catch_warnings():  # stepping the schedule without optimizer steps is the point here
                    warnings.simplefilter("ignore", UserWarning)
                    for _ in range(step):
                        sched.step()
                print(json.dumps({"calibrated_sec_per_step": round(per_step, 4), "total_steps": total}),
                      file=sys.stderr)
                _write_run_info(args, loss_cfg, len(ds), total, calibrated_sec_per_step=per_step)
        if args.save_every > 0 and step % args.save_every == 0:
            save_checkpoint(ckpt_path, model, opt, sched, step, args, config, loss_cfg, total)
    save_checkpoint(ckpt_path, model, opt, sched, step, args, config, loss_cfg, total)
    log.close()
    return {"step": step, "total_steps": total, "stopped": stop_reason, "checkpoint": ckpt_path, "last": last}


def main(argv: Optional[List[str]] = None) -> int:
    res = train(argv)
    print(json.dumps({k: v for k, v in res.items() if k != "last"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
