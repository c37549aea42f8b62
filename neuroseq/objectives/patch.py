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
    """Mean squared error of the prediction of patches ``p + 1 … p + horizon`` after ``0…p``.

    ``mask`` (when in the batch) leaves padded electrodes out of the mean.  The model's
    ``horizon`` (1 in the paper) sets how far ahead it predicts; every step ahead counts equally.
    ``spectral_weight`` adds that weight times the mean squared error of the log-magnitude
    spectra of predicted and true next patches (a prediction that keeps the rhythm but not the
    exact phase is then still rewarded).

    Logged beside ``mse`` (the next patch only, whatever the horizon): three predictors that
    learn nothing — ``zero_mse`` (all zeros), ``mean_mse`` (each electrode's mean of the patches
    read so far, every sample of the patch equal to it) and ``repeat_mse`` (the next patch
    equals this one) — and ``fve``, the fraction of the next patch's variance explained,
    ``1 − mse / zero_mse`` (the variance around zero: windows are centred by the store's
    scaling or by ``input_norm``).
    """

    def __init__(self, spectral_weight: float = 0.0) -> None:
        if spectral_weight < 0:
            raise ValueError(f"spectral_weight must be >= 0, got {spectral_weight}.")
        self.spectral_weight = float(spectral_weight)

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if getattr(model, "bidirectional", False):
            raise ValueError("this ETE attends both ways (pretrained MAE-style): next-patch "
                             "prediction would read the answer; use objective.kind=masked.")
        out = model(batch["x"], batch["sensors"]["ids"])
        patches, ahead = out["patches"], out["pred_ahead"]  # [B,E,P,L], [B,E,P,H,L]
        n_p, horizon = patches.shape[2], ahead.shape[3]
        if n_p < 2:
            raise ValueError("next-patch prediction needs at least two patches per window.")
        w = batch.get("mask", torch.ones(patches.shape[:2], dtype=torch.bool,
                                         device=patches.device)).to(patches.dtype)

        def mean_over(err: torch.Tensor) -> torch.Tensor:  # [B, E, P', L] → masked mean
            per = err.mean(dim=(-1, -2))
            return (per * w).sum() / w.sum()

        target = patches[:, :, 1:]
        mse = mean_over((ahead[:, :, :-1, 0] - target) ** 2)
        steps = [mse] + [mean_over((ahead[:, :, :n_p - k, k - 1] - patches[:, :, k:]) ** 2)
                         for k in range(2, min(horizon, n_p - 1) + 1)]
        loss = torch.stack(steps).mean()
        if self.spectral_weight:
            spec = lambda v: torch.log1p(torch.fft.rfft(v, dim=-1).abs())  # noqa: E731
            loss = loss + self.spectral_weight * mean_over(
                (spec(ahead[:, :, :-1, 0]) - spec(target)) ** 2)
        with torch.no_grad():
            zero = mean_over(target ** 2)
            seen = patches[:, :, :-1].mean(-1).cumsum(2) / torch.arange(
                1, n_p, device=patches.device, dtype=patches.dtype)  # [B, E, P-1]
            mean = mean_over((seen.unsqueeze(-1) - target) ** 2)
            repeat = mean_over((patches[:, :, :-1] - target) ** 2)
            fve = 1 - mse.detach() / zero.clamp_min(1e-12)
        return loss, {"mse": mse.detach(), "zero_mse": zero, "mean_mse": mean,
                      "repeat_mse": repeat, "fve": fve}


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
