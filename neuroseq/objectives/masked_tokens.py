"""MEG-XL's masked-token objective: hide whole blocks of frames on every sensor, predict the
hidden RVQ codes of every level (``../shared/research/megxl_braintotext.md`` §1.3).

A sample's ``T'`` frames are cut into ``n_blocks`` equal blocks (150 s at 50 Hz → 625 frames →
50 blocks of 3 s, 12 frames each); ``n_masked`` of them (20) are chosen per sample and hidden
across all sensors.  The loss is the cross-entropy of every level's code at hidden frames of
real sensors, averaged over levels.  Metrics: accuracy per level beside the unigram baseline
(always answering that level's most frequent hidden code in the batch).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def block_mask(n: int, n_frames: int, n_blocks: int, n_masked: int,
               generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """``[n, n_frames]`` bool: ``n_masked`` of ``n_blocks`` equal blocks hidden per row
    (frames past the last whole block are never hidden)."""
    per = n_frames // n_blocks
    if per < 1 or not 0 < n_masked <= n_blocks:
        raise ValueError(f"cannot hide {n_masked} of {n_blocks} blocks in {n_frames} frames.")
    chosen = torch.rand(n, n_blocks, generator=generator).argsort(-1)[:, :n_masked]
    blocks = torch.zeros(n, n_blocks, dtype=torch.bool).scatter_(1, chosen, True)
    mask = torch.zeros(n, n_frames, dtype=torch.bool)
    mask[:, : per * n_blocks] = blocks.repeat_interleave(per, dim=1)
    return mask.to(device)


class MaskedTokenObjective:
    """``(model, batch) -> (loss, metrics)`` for a criss-cross model over RVQ codes.

    The batch holds ``codes [B, C, Q, T']``, ``mask [B, C]`` (real sensors) and the
    ``sensors`` block.  ``seed`` fixes the masks (tests); by default they are random.
    """

    def __init__(self, n_blocks: int = 50, n_masked: int = 20, seed: int | None = None) -> None:
        self.n_blocks, self.n_masked = n_blocks, n_masked
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, model: nn.Module, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        codes, sensors_real = batch["codes"], batch["mask"].bool()
        b, c, q, t = codes.shape
        hidden = block_mask(b, t, self.n_blocks, self.n_masked, self.generator, codes.device)
        out = model(codes, batch["sensors"], sensors_real, hidden)
        scored = sensors_real[:, :, None] & hidden[:, None, :]  # [B, C, T']
        logits = out["logits"][scored]  # [N, Q, K]
        target = codes.permute(0, 1, 3, 2)[scored].long()  # [N, Q]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))
        metrics: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            hit = logits.argmax(-1) == target
            for lvl in range(q):
                counts = torch.bincount(target[:, lvl], minlength=logits.shape[-1])
                metrics[f"acc_l{lvl}"] = hit[:, lvl].float().mean()
                metrics[f"unigram_acc_l{lvl}"] = counts.max().float() / max(len(target), 1)
        return loss, metrics
