"""IA-SSD as an nn.Module whose parameter/buffer names are exactly pointrt's weight names
(pointrt_ref.model.weight_shapes), so export is a filtered state_dict dump (only BatchNorm's
``num_batches_tracked`` counters are dropped).

* conv block ``P``: ``P.weight [out, in]`` (linear, no bias) + ``P.bn`` (BatchNorm1d, eps from the config) + ReLU.
  Training mode: BatchNorm over all rows (batch x points x neighbours) with batch statistics, running statistics
  updated. Eval mode: ``(y - running_mean) / sqrt(running_var + eps) * gamma + beta``, the reference's formula in
  the reference's operation order, so on CPU the module reproduces pointrt_ref.model.IASSD bit for bit.
* final linear ``P``: nn.Linear with bias.

``forward(points [B,N,4])`` returns a dict of tensors (names as in the reference's ``inter``): per SA layer
``{L}.indices``, ``{L}.xyz``, ``{L}.features``; for every centre-aware sampler its logits and the points they score
(``{L}.sampler.logits`` / ``{L}.sampler.points``, ``vote.sampler.logits`` / ``vote.sampler.points``);
``vote.ctr_xyz``, ``vote.offsets``, ``vote.centers``, ``head.cls``, ``head.reg``.
Samplers and ball queries run on the input's device (pointrt_train.ops).
"""
from __future__ import annotations

import math
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from . import ops


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, eps: float, momentum: float = 0.1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        self.bn = nn.BatchNorm1d(cout, eps=eps, momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight.t())
        if self.training:
            shape = y.shape
            y = self.bn(y.reshape(-1, shape[-1])).reshape(shape)
        else:
            bn = self.bn
            y = (y - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        return torch.relu(y)


class MLPHead(nn.Module):
    """mlp{j} conv blocks, then an optional final linear ``out``."""

    def __init__(self, cin: int, widths: List[int], out: int, eps: float, momentum: float, prior: float = 0.0):
        super().__init__()
        h = cin
        for j, w in enumerate(widths):
            self.add_module(f"mlp{j}", ConvBlock(h, w, eps, momentum))
            h = w
        self.n = len(widths)
        self.out_channels = h
        if out > 0:
            self.out = nn.Linear(h, out, bias=True)
            if prior > 0:  # focal-style prior: initial sigmoid ~ prior
                nn.init.constant_(self.out.bias, -math.log((1 - prior) / prior))
        else:
            self.out = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for j in range(self.n):
            x = getattr(self, f"mlp{j}")(x)
        return self.out(x) if self.out is not None else x


class Groupers(nn.Module):
    """grouper{g}: ball query + group + shared MLP + empty-ball mask + max-pool; outputs concatenated."""

    def __init__(self, cin: int, groupers: List[dict], eps: float, momentum: float, empty_ball: str):
        super().__init__()
        self.specs = groupers
        self.empty_zero = empty_ball == "zero"
        self.out_channels = 0
        for g, grp in enumerate(groupers):
            m = MLPHead(3 + cin, grp["mlp"], 0, eps, momentum)
            self.add_module(f"grouper{g}", m)
            self.out_channels += m.out_channels

    def forward(self, xyz, feats, new_xyz, inter: Dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
        outs = []
        for g, grp in enumerate(self.specs):
            cnt, idx = ops.ball_query(xyz, new_xyz, grp["radius"], grp["nsample"])
            x = ops.group(xyz, feats, new_xyz, idx)
            x = getattr(self, f"grouper{g}")(x)
            if self.empty_zero:
                x = x * (cnt > 0).to(x.dtype)[:, :, None, None]
            outs.append(x.max(dim=2).values)
            inter[f"{prefix}.grouper{g}.cnt"] = cnt
        return torch.cat(outs, dim=-1)


class SALayer(nn.Module):
    def __init__(self, layer: dict, cin: int, eps: float, momentum: float, empty_ball: str):
        super().__init__()
        self.spec = layer
        smp = layer["sampler"]
        if smp["type"] == "ctr_topk":
            self.sampler = MLPHead(cin, smp["mlp"], smp["num_scores"], eps, momentum, prior=0.01)
        elif smp["type"] != "havs":
            raise NotImplementedError(f"{layer['name']}: sampler {smp['type']!r} is not supported for training")
        g = Groupers(cin, layer["groupers"], eps, momentum, empty_ball)
        for name, m in g.named_children():
            self.add_module(name, m)
        self._groupers = [g]  # not registered twice: children above carry the parameters
        self.aggregation = ConvBlock(g.out_channels, layer["aggregation"], eps, momentum)
        self.out_channels = layer["aggregation"]

    def forward(self, xyz, feats, inter):
        L, smp = self.spec["name"], self.spec["sampler"]
        if smp["type"] == "havs":
            ind, _, _ = ops.havs(xyz, smp["num_samples"], smp["voxel"], smp.get("tolerance", 0.01),
                                 smp.get("max_iter", 20))
        else:
            logits = self.sampler(feats)
            inter[f"{L}.sampler.logits"] = logits
            inter[f"{L}.sampler.points"] = xyz
            ind = ops.ctr_topk(logits.detach(), smp["num_samples"])
        new_xyz = ops.gather_points(xyz, ind)
        g = self._groupers[0]
        cat = g.forward(xyz, feats, new_xyz, inter, L)
        out = self.aggregation(cat)
        inter[f"{L}.indices"] = ind
        inter[f"{L}.xyz"] = new_xyz
        inter[f"{L}.features"] = out
        return new_xyz, out


class Vote(nn.Module):
    def __init__(self, vote: dict, cin: int, eps: float, momentum: float):
        super().__init__()
        smp = vote["sampler"]
        if smp["type"] != "ctr_topk":
            raise NotImplementedError("vote sampler must be ctr_topk for training")
        self.spec = vote
        self.sampler = MLPHead(cin, smp["mlp"], smp["num_scores"], eps, momentum, prior=0.01)
        self.offset = MLPHead(cin, vote["offset_mlp"], 3, eps, momentum)
        self.register_buffer("_lim", torch.tensor(vote["max_translation"], dtype=torch.float32), persistent=False)


class IASSDNet(nn.Module):
    def __init__(self, config: dict, bn_momentum: float = 0.1):
        super().__init__()
        self.cfg = config
        eps = float(config.get("batchnorm_eps", 1e-5))
        empty = config.get("empty_ball", "zero")
        c = len(config["input"]["features"])
        self.layer_names = []
        for layer in config["sa_layers"]:
            m = SALayer(layer, c, eps, bn_momentum, empty)
            self.add_module(layer["name"], m)
            self.layer_names.append(layer["name"])
            c = m.out_channels
        self.vote = Vote(config["vote"], c, eps, bn_momentum)
        vsa = Groupers(c, config["vote_sa"]["groupers"], eps, bn_momentum, empty)
        self.vote_sa = vsa
        head = config["head"]
        self.head = nn.Module()
        h = vsa.out_channels
        for j, w in enumerate(head["shared_fc"]):
            self.head.add_module(f"shared_fc{j}", ConvBlock(h, w, eps, bn_momentum))
            h = w
        ncls = len(config["classes"])
        self.head.cls = MLPHead(h, head["cls_fc"], ncls, eps, bn_momentum, prior=0.01)
        self.head.reg = MLPHead(h, head["reg_fc"], 6 + 2 * head["num_heading_bins"], eps, bn_momentum)
        self.num_shared = len(head["shared_fc"])

    def forward(self, points: torch.Tensor) -> Dict[str, torch.Tensor]:
        inter: Dict[str, torch.Tensor] = {}
        points = points.float().contiguous()
        xyz, feats = points[..., :3].contiguous(), points[..., 3:].contiguous()
        for name in self.layer_names:
            xyz, feats = getattr(self, name)(xyz, feats, inter)

        vote = self.vote
        vlog = vote.sampler(feats)
        inter["vote.sampler.logits"] = vlog
        inter["vote.sampler.points"] = xyz
        vidx = ops.ctr_topk(vlog.detach(), vote.spec["sampler"]["num_samples"])
        ctr_xyz, ctr_feat = ops.gather_points(xyz, vidx), ops.gather_points(feats, vidx)
        off = vote.offset(ctr_feat)
        lim = vote._lim.to(off.device)
        off_c = torch.maximum(torch.minimum(off, lim), -lim)
        centers = ctr_xyz + off_c
        inter.update({"vote.indices": vidx, "vote.ctr_xyz": ctr_xyz, "vote.offsets": off, "vote.centers": centers})

        h = self.vote_sa(xyz, feats, centers, inter, "vote_sa")
        for j in range(self.num_shared):
            h = getattr(self.head, f"shared_fc{j}")(h)
        inter["head.cls"] = self.head.cls(h)
        inter["head.reg"] = self.head.reg(h)
        return inter

    def export_state(self) -> Dict[str, torch.Tensor]:
        """Name -> float32 CPU tensor for every entry of the weight convention (and nothing else)."""
        from pointrt_ref.model import weight_shapes
        sd = self.state_dict()
        shapes = weight_shapes(self.cfg)
        extra = [k for k in sd if k not in shapes and not k.endswith("num_batches_tracked")]
        missing = [k for k in shapes if k not in sd]
        if extra or missing:
            raise RuntimeError(f"module/convention mismatch: missing {missing[:5]}, extra {extra[:5]}")
        out = {}
        for k, s in shapes.items():
            t = sd[k].detach().to("cpu", torch.float32).contiguous()
            if tuple(t.shape) != tuple(s):
                raise RuntimeError(f"{k}: shape {tuple(t.shape)} != {s}")
            out[k] = t.clone()
        return out

    def load_export_state(self, weights: Dict[str, torch.Tensor]) -> None:
        """Load a weight-convention dict (e.g. a pointrt safetensors file) into the module."""
        sd = self.state_dict()
        for k, v in weights.items():
            sd[k] = v.to(sd[k].dtype)
        self.load_state_dict(sd)


def decode(inter: Dict[str, torch.Tensor], head_cfg: dict):
    """Reference box decoding (CPU) of a forward's outputs -> (boxes [B,M,8], scores [B,M])."""
    from pointrt_ref.model import decode_boxes
    return decode_boxes(inter["head.cls"].detach().cpu(), inter["head.reg"].detach().cpu(),
                        inter["vote.centers"].detach().cpu(), head_cfg)
