"""D-SigLIP: a sigmoid contrastive loss that knows when two targets are the same word.

Facts: ``../shared/research/megxl_braintotext.md`` §1.5 (MEG-XL's word decoding, after
d'Ascoli et al.).  Scores ``s_ij = exp(t) · cos(ŷ_i, y_j) + b`` with a learnable temperature
``t`` (initialised to log 10) and bias ``b`` (−10).  Sample ``i``'s own target is its positive;
every other target is a negative, except targets of the same word (cosine ≥ 0.999 between the
targets), which are left out of the loss rather than counted as wrong.  The loss is the binary
cross-entropy with logits, summed, divided by the number of samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DSigLIPLoss(nn.Module):
    """``loss(pred [N, D], target [N, D]) -> scalar``; ``t`` and ``b`` are parameters."""

    def __init__(self, temperature: float = 10.0, bias: float = -10.0,
                 duplicate_cos: float = 0.999) -> None:
        super().__init__()
        self.t = nn.Parameter(torch.tensor(math.log(temperature)))
        self.b = nn.Parameter(torch.tensor(float(bias)))
        self.duplicate_cos = duplicate_cos

    def scores(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[N, M]`` logits of every prediction against every target."""
        return self.t.exp() * F.normalize(pred, dim=-1) @ F.normalize(target, dim=-1).T + self.b

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = len(pred)
        if target.shape[0] != n:
            raise ValueError(f"{n} predictions but {target.shape[0]} targets.")
        y = F.normalize(target.float(), dim=-1)
        same_word = (y @ y.T) >= self.duplicate_cos
        eye = torch.eye(n, dtype=torch.bool, device=pred.device)
        weight = (~same_word | eye).to(pred.dtype)  # other copies of my word: left out
        logits = self.scores(pred.float(), target.float())
        loss = F.binary_cross_entropy_with_logits(logits, eye.to(logits.dtype), weight=weight,
                                                  reduction="sum")
        return loss / n
