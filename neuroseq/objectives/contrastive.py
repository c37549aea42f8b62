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
        return siglip_scores(pred, target, self.t, self.b)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dsiglip_loss(pred, target, self.t, self.b, self.duplicate_cos)


def siglip_scores(pred: torch.Tensor, target: torch.Tensor, log_t: torch.Tensor,
                  b: torch.Tensor) -> torch.Tensor:
    """``exp(log_t) · cos(pred_i, target_j) + b``, ``[N, M]``."""
    return log_t.exp() * F.normalize(pred, dim=-1) @ F.normalize(target, dim=-1).T + b


def dsiglip_loss(pred: torch.Tensor, target: torch.Tensor, log_t: torch.Tensor,
                 b: torch.Tensor, duplicate_cos: float = 0.999) -> torch.Tensor:
    """D-SigLIP with a given log-temperature and bias (for models that own them)."""
    n = len(pred)
    if target.shape[0] != n:
        raise ValueError(f"{n} predictions but {target.shape[0]} targets.")
    y = F.normalize(target.float(), dim=-1)
    same_word = (y @ y.T) >= duplicate_cos
    eye = torch.eye(n, dtype=torch.bool, device=pred.device)
    weight = (~same_word | eye).to(torch.float32)  # other copies of my word: left out
    logits = siglip_scores(pred.float(), target.float(), log_t, b)
    loss = F.binary_cross_entropy_with_logits(logits, eye.to(logits.dtype), weight=weight,
                                              reduction="sum")
    return loss / n


class WordRetrievalObjective:
    """D-SigLIP between a word model's predictions and the words' embeddings.

    The batch holds ``codes``, ``sensors``, ``mask`` (real sensors), ``word_frames [B, W, 2]``,
    ``targets [B, W, D]`` and ``word_valid [B, W]`` (words that have an embedding); every valid
    word of the batch is a candidate for every other (MEG-XL: one group of 50 words per batch).
    Metrics: ``acc_in_batch``, how often a prediction's best-scoring candidate is its own word
    (any copy of it), beside ``chance_in_batch``, one over the distinct words of the batch.
    """

    def __init__(self, duplicate_cos: float = 0.999) -> None:
        self.duplicate_cos = duplicate_cos

    def __call__(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        pred = model(batch["codes"], batch["sensors"], batch["mask"], batch["word_frames"])
        valid = batch["word_valid"].bool()
        p, y = pred[valid], batch["targets"][valid].to(pred.dtype)
        loss = dsiglip_loss(p, y, model.log_temperature, model.bias, self.duplicate_cos)
        with torch.no_grad():
            yn = F.normalize(y.float(), dim=-1)
            same = (yn @ yn.T) >= self.duplicate_cos
            best = siglip_scores(p.float(), y.float(), model.log_temperature,
                                 model.bias).argmax(-1)
            acc = same[torch.arange(len(p), device=p.device), best].float().mean()
            distinct = torch.unique(yn, dim=0).shape[0]
        return loss, {"acc_in_batch": acc, "chance_in_batch": torch.tensor(1.0 / distinct)}
