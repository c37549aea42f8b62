"""The one LightningModule: any ``nn.Module`` paired with any objective.

An objective is a callable ``(model, batch) -> (loss, metrics)``.  Optimisation is AdamW with a
linear warm-up and a cosine decay to ``min_lr_ratio · lr`` over ``max_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn

from neuroseq.errors import NeuroseqError

Objective = Callable[[nn.Module, dict[str, Any]], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine down to ``floor``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


def _batch_size(batch: Any) -> int:
    items = batch.values() if isinstance(batch, dict) else batch
    return next((len(v) for v in items if torch.is_tensor(v) and v.ndim), 1)


class TaskModule(L.LightningModule):
    """Train ``model`` on ``objective``.

    Parameters
    ----------
    model : nn.Module
        Any model; the objective calls it.
    objective : callable
        ``(model, batch) -> (loss, metrics)``.
    lr, weight_decay, betas : float, float, tuple
        AdamW settings.
    warmup_steps, max_steps : int
        Schedule length; ``max_steps`` 0 keeps the LR constant after warm-up.
    min_lr_ratio : float
        Final LR as a fraction of ``lr``.
    schedule_steps : int | None
        Length of the cosine decay when it differs from ``max_steps`` (a run trained in
        resumed chunks towards one schedule, e.g. for learning curves).
    param_groups : list of dict | None
        Per-module settings, matched by parameter-name prefix, first match wins:
        ``[{"prefix": "ete.", "lr": 1e-5}, {"prefix": "teg.", "lr": 1e-3},
        {"prefix": "llm.", "frozen": True}]``.  A frozen group gets ``requires_grad=False``;
        parameters matching no prefix use ``lr``.  The schedule scales every group alike.
    fused : bool
        AdamW's fused kernel (``optim.fused``; one kernel for all parameters — whether it is
        faster is measured by ``benchmarks/gpu_suite.sh``, so it is off by default).
    """

    def __init__(self, model: nn.Module, objective: Objective, *, lr: float = 1e-3,
                 weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.95),
                 warmup_steps: int = 0, max_steps: int = 0, min_lr_ratio: float = 0.1,
                 schedule_steps: int | None = None,
                 param_groups: list[dict[str, Any]] | None = None, fused: bool = False) -> None:
        super().__init__()
        self.model, self.objective = model, objective
        self.lr, self.weight_decay, self.betas, self.fused = lr, weight_decay, betas, fused
        self.warmup_steps, self.min_lr_ratio = warmup_steps, min_lr_ratio
        self.max_steps = max_steps if schedule_steps is None else int(schedule_steps)
        self.param_groups = [dict(g) for g in param_groups or []]
        for g in self.param_groups:
            unknown = set(g) - {"prefix", "lr", "frozen", "weight_decay"}
            if "prefix" not in g or unknown:
                raise NeuroseqError(f"a parameter group needs a 'prefix' and may set lr, frozen "
                                    f"and weight_decay; got {g}.")
            if not any(n.startswith(g["prefix"]) for n, _ in model.named_parameters()):
                raise NeuroseqError(f"parameter group prefix {g['prefix']!r} matches no "
                                    "parameter of the model.")
            if g.get("frozen"):
                for n, p in model.named_parameters():
                    if n.startswith(g["prefix"]):
                        p.requires_grad_(False)

    def _group_of(self, name: str) -> int | None:
        return next((i for i, g in enumerate(self.param_groups)
                     if name.startswith(g["prefix"])), None)

    def optimizer_groups(self) -> list[dict[str, Any]]:
        """AdamW groups: per configured group (and the rest), weights with decay, others
        (biases, norms, 1-d) without."""
        buckets: dict[tuple[int | None, bool], list[nn.Parameter]] = {}
        for n, p in self.model.named_parameters():
            if p.requires_grad:
                buckets.setdefault((self._group_of(n), p.ndim >= 2), []).append(p)
        out = []
        for (gi, decays), params in buckets.items():
            g = self.param_groups[gi] if gi is not None else {}
            wd = g.get("weight_decay", self.weight_decay) if decays else 0.0
            out.append({"params": params, "lr": float(g.get("lr", self.lr)),
                        "weight_decay": wd})
        return out

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        loss, metrics = self.objective(self.model, batch)
        if not torch.isfinite(loss):
            raise NeuroseqError(f"{stage} loss is {loss.item()} at step {self.global_step}; "
                                "stopping. The last good checkpoint is kept; lower the learning "
                                "rate or check the data for outliers.")
        n = _batch_size(batch)
        self.log(f"{stage}_loss", loss.detach(), prog_bar=True, batch_size=n,
                 sync_dist=stage != "train")
        for k, v in metrics.items():
            self.log(f"{stage}_{k}", v, batch_size=n, sync_dist=stage != "train")
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.optimizer_groups(), lr=self.lr, betas=self.betas,
                                fused=self.fused or None)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, self.warmup_steps, self.max_steps, self.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
