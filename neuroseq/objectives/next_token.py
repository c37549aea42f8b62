"""Next-token cross-entropy over per-channel token streams (GPT2MEG, WaveNet baselines).

The loss is taken on the last part of each window only (GPT2MEG: the last 128 of 256 positions,
so every target has at least 128 steps of context).  Metrics: top-1 and top-5 accuracy and the
mean squared error after de-quantisation (in robust units of the tokenizer's normalised domain,
so it is comparable across channels and sensor types).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class NextTokenObjective:
    """``(model, batch) -> (loss, metrics)`` for token models.

    Parameters
    ----------
    loss_from : float | int
        First target position that counts: a fraction of the window (0.5 = last half, the
        paper) or an absolute position.
    grid : Tensor ``[n_vocab]`` | None
        Normalised value of each code (e.g. ``MuLawTokenizer.normalised_grid()``) for the MSE
        metric; omitted when None.
    """

    def __init__(self, loss_from: float | int = 0.5, grid: torch.Tensor | None = None) -> None:
        self.loss_from = loss_from
        self.grid = None if grid is None else grid.float()

    def first_target(self, n_times: int) -> int:
        """Index of the first input position whose next-token prediction is scored."""
        if isinstance(self.loss_from, float):
            return int(round(self.loss_from * (n_times - 1)))
        return min(int(self.loss_from), n_times - 2)

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tokens = batch["tokens"]
        cond = batch.get("condition")
        ids = batch["sensors"]["ids"] if "sensors" in batch else None
        out = model(tokens[..., :-1], ids, batch.get("subject"),
                    None if cond is None else cond[..., :-1], mask=batch.get("mask"))
        a = self.first_target(tokens.shape[-1])
        logits = out["logits"][..., a:, :]
        target = tokens[..., a + 1:].long()
        keep = batch.get("mask")
        if keep is not None and not bool(keep.all()):
            logits, target = logits[keep], target[keep]
        flat = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat.float(), target.reshape(-1))
        with torch.no_grad():
            top5 = flat.topk(min(5, flat.shape[-1]), dim=-1).indices
            t = target.reshape(-1, 1)
            metrics = {"acc": (top5[:, :1] == t).float().mean(),
                       "top5": (top5 == t).any(-1).float().mean()}
            if self.grid is not None:
                g = self.grid.to(flat.device)
                metrics["mse"] = ((g[flat.argmax(-1)] - g[t[:, 0]]) ** 2).mean()
        return loss, metrics
