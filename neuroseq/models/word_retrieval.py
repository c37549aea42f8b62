"""Word retrieval on a criss-cross backbone: MEG-XL's fine-tuning model.

Facts: ``../shared/research/megxl_braintotext.md`` §1.5.  The backbone runs without masking on
a group of words' concatenated windows; each word's frames ``[start // hop, ⌈end / hop⌉)`` are
averaged over time, giving one ``[C, d]`` map per word, which a head turns into a prediction of
the word's embedding.  Heads (``head``):

- ``"mlp"``, the original: flatten over sensors (``C · d``) → Linear(2048) → LayerNorm → GELU →
  Dropout → Linear(embedding).  Its first layer grows with sensors × width (≈ 321 M parameters
  at 306 sensors and width 512).
- ``"attention"``, compact: ``n_queries`` learned queries each pool the sensors (padded ones
  masked out; the keys carry the sensor embeddings, so each query can read its own region of
  the helmet), then the same MLP from ``n_queries · d``; its size does not depend on the number
  of sensors.
- ``"linear"``, the linear probe: one Linear from ``C · d`` (with ``freeze_backbone``).

Beyond the original, each word's map is centred on the mean map of its group's words
(``center_words``): the backbone's per-sensor features are dominated by what every frame of a
sensor shares, which no word-specific head needs.

The model owns the D-SigLIP log-temperature (``log 10`` at the start) and bias (−10), so they
train with the rest and are saved with the weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from neuroseq.models.crisscross import CrissCross
from neuroseq.models.hub import HubModel
from neuroseq.models.layers import sensor_query_pool
from neuroseq.models.signal_args import renamed

HEADS = ("mlp", "attention", "linear")


def word_pooling(frames: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``[B, W, T']`` averaging weights from per-word frame ranges ``frames [B, W, 2]``
    (start inclusive, end exclusive); a word with no frame gets all-zero weights."""
    t = torch.arange(n_frames, device=frames.device)
    inside = (t >= frames[..., :1]) & (t < frames[..., 1:])
    w = inside.float()
    return w / w.sum(-1, keepdim=True).clamp_min(1.0)


class WordRetrieval(nn.Module, HubModel):
    """Criss-cross backbone + per-word head predicting word embeddings ``[B, W, out_dim]``.

    Parameters
    ----------
    backbone : dict
        :class:`CrissCross` keyword arguments (the pretrained run's configuration).
    n_chans : int
        Sensors after padding (the ``mlp`` and ``linear`` heads flatten over them).
    n_outputs : int
        Size of the word embeddings (GloVe 50, T5-large 1024).
    head : str
        ``mlp``, ``attention`` or ``linear`` (see the module note).
    hidden, dropout : int, float
        The MLP heads' hidden width (2048) and dropout (0.1).
    n_queries : int
        Sensor-pooling queries of the ``attention`` head.
    center_words : bool
        Subtract the mean over the group's words from each word's ``[C, d]`` map before the
        head (beyond the original; see the module note).
    freeze_backbone : bool
        Keep the backbone fixed (linear probing).
    """

    def __init__(self, backbone: dict[str, Any], n_chans: int | None = None,
                 n_outputs: int | None = None, head: str = "attention", hidden: int = 2048,
                 dropout: float = 0.1, freeze_backbone: bool = False, n_queries: int = 16,
                 center_words: bool = True, *, n_channels: int | None = None,
                 out_dim: int | None = None) -> None:
        super().__init__()
        n_channels = renamed("WordRetrieval", "n_chans", n_chans, "n_channels", n_channels)
        out_dim = renamed("WordRetrieval", "n_outputs", n_outputs, "out_dim", out_dim)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}.")
        self.backbone = CrissCross(**backbone)
        self.head_kind, self.n_channels = head, int(n_channels)
        self.center_words = bool(center_words)
        self.freeze_backbone = bool(freeze_backbone)
        d = self.backbone.d_model
        if head == "attention":
            self.query = nn.Linear(d, n_queries)  # one score per (sensor, query)
            width = n_queries * d
        else:
            width = self.n_channels * d
        if head == "linear":
            self.head = nn.Linear(width, out_dim)
        else:
            self.head = nn.Sequential(nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                      nn.Dropout(dropout), nn.Linear(hidden, out_dim))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(-10.0))
        self.backbone.requires_grad_(not self.freeze_backbone)

    def train(self, mode: bool = True) -> WordRetrieval:
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # no dropout in a frozen backbone
        return self

    def forward(self, codes: torch.Tensor, sensors: dict[str, torch.Tensor],
                channel_mask: torch.Tensor, word_frames: torch.Tensor) -> torch.Tensor:
        """Predicted embeddings ``[B, W, out_dim]`` of the words at ``word_frames [B, W, 2]``."""
        b, c = codes.shape[:2]
        if self.head_kind != "attention" and c > self.n_channels:
            raise ValueError(f"{c} sensors, but this {self.head_kind} head was built for "
                             f"{self.n_channels}; pad to at most that many.")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            h = self.backbone(codes, sensors, channel_mask)["hidden"]  # [B, C, T', d]
        w = word_pooling(word_frames, h.shape[2])  # [B, W, T']
        per_word = torch.einsum("bwt,bctd->bwcd", w, h)  # [B, W, C, d]
        if self.center_words:  # what all words of the group share is not any word's
            per_word = per_word - per_word.mean(1, keepdim=True)
        real = channel_mask.bool()[:, None, :, None]  # [B, 1, C, 1]
        if self.head_kind == "attention":
            return self.head(sensor_query_pool(self.query, per_word, real, dim=2).flatten(2))
        per_word = per_word * real
        if c < self.n_channels:  # pad to the head's sensor count
            per_word = nn.functional.pad(per_word, (0, 0, 0, self.n_channels - c))
        return self.head(per_word.flatten(2))
