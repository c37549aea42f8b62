"""EEGPT objectives: next-patch MSE (autoregressive), masked-patch MSE (MAE-style) and
multi-task classification, each ``(model, batch) -> (loss, metrics)`` for the shared engine.

Batches are in the shared layout (:mod:`neuroseq.data.windows`): ``x [B, E, T]``,
``mask [B, E]`` (real electrodes), ``sensors["ids"] [B, E]`` (electrode vocabulary rows) and,
for classification, ``task`` (list of names) and ``y [B]``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class NextPatchObjective:
    """Mean squared error of the prediction of patch ``p + 1`` after patches ``0…p``.

    ``mask`` (when in the batch) leaves padded electrodes out of the mean.
    """

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch["x"], batch["sensors"]["ids"])
        pred, target = out["pred"][:, :, :-1], out["patches"][:, :, 1:]
        if pred.shape[2] == 0:
            raise ValueError("next-patch prediction needs at least two patches per window.")
        err = ((pred - target) ** 2).mean(dim=(-1, -2))  # [B, E]
        w = batch.get("mask", torch.ones_like(err, dtype=torch.bool)).to(err.dtype)
        loss = (err * w).sum() / w.sum()
        with torch.no_grad():  # the same error for "the next patch equals this one"
            copy = ((out["patches"][:, :, :-1] - target) ** 2).mean(dim=(-1, -2))
            base = (copy * w).sum() / w.sum()
        return loss, {"mse": loss.detach(), "repeat_mse": base}


class MaskedPatchObjective:
    """MAE-style: hide ``ratio`` of each electrode's patches, reconstruct them (MSE on hidden)."""

    def __init__(self, ratio: float = 0.5, seed: int | None = None) -> None:
        if not 0 < ratio < 1:
            raise ValueError(f"mask ratio must be in (0, 1), got {ratio}.")
        self.ratio, self.seed = ratio, seed

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch["x"]
        ete = getattr(model, "ete", model)
        n_p = (x.shape[-1] - ete.patch_len) // ete.stride + 1
        g = None if self.seed is None else torch.Generator(x.device).manual_seed(self.seed)
        mask = torch.rand(*x.shape[:2], n_p, generator=g, device=x.device) < self.ratio
        mask[..., 0] |= ~mask.any(-1)  # at least one hidden patch per electrode
        out = model(x, batch["sensors"]["ids"], mask=mask)
        err = ((out["pred"] - out["patches"]) ** 2).mean(-1)  # [B, E, P]
        loss = (err * mask).sum() / mask.sum()
        return loss, {"mse": loss.detach()}


class MultiTaskObjective:
    """Cross-entropy over a batch that mixes tasks; accuracy per batch."""

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = model(batch["x"], batch["sensors"]["ids"], batch["mask"], batch["task"])
        loss = F.cross_entropy(logits, batch["y"])
        acc = (logits.argmax(-1) == batch["y"]).float().mean()
        return loss, {"acc": acc.detach()}
