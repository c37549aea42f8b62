"""The brain-to-text MEG encoder: sensor-aware input, convolutional stem, transformer.

Facts: ``../shared/seeds/003_*.txt`` (12 layers, width 768, 12 heads, a convolutional stem).

- **Sensor merger** (so recordings with different sensor sets share one model): ``n_virtual``
  learned queries attend over the sensors, whose keys are the shared sensor embedding
  (:class:`~neuroseq.models.crisscross.SensorEmbedding`: Fourier features of position and
  orientation plus the sensor kind); each virtual channel is a softmax-weighted sum of the real
  ones, padded sensors excluded (the idea of Défossez et al. 2023's spatial attention).
- **Stem**: two strided 1-d convolutions (GELU) reduce time by ``stride``.
- **Transformer**: pre-RMSNorm RoPE blocks (:class:`~neuroseq.models.layers.RopeBlock`),
  bidirectional, then RMSNorm.
- **Masked autoencoding** (phase 1): :meth:`MEGEncoder.forward` replaces the frames of
  ``frame_mask`` by a learned mask vector before the transformer; :meth:`reconstruct` maps
  every frame back to each sensor's ``stride`` samples through a sensor-keyed read-out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroseq.models.crisscross import SensorEmbedding
from neuroseq.models.layers import RopeBlock

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"d_model": 768, "n_layers": 12, "n_heads": 12, "n_virtual": 270, "stride": 4},
    "tiny": {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_virtual": 32, "stride": 4},
}


class SensorMerger(nn.Module):
    """``x [B, C, T]`` of any sensor set → ``[B, V, T]``: learned queries over sensor keys."""

    def __init__(self, n_virtual: int, d_key: int = 64) -> None:
        super().__init__()
        self.keys = SensorEmbedding(d_key)
        self.queries = nn.Parameter(torch.randn(n_virtual, d_key) / d_key ** 0.5)

    def weights(self, sensors: dict[str, torch.Tensor], mask: torch.Tensor,
                over_sensors: bool = True) -> torch.Tensor:
        """``[B, V, C]``: each virtual channel's softmax weights over the real sensors (or,
        ``over_sensors=False``, each sensor's softmax weights over the virtual channels)."""
        k = self.keys(sensors, mask)  # [B, C, d]
        s = torch.einsum("vd,bcd->bvc", self.queries, k) / k.shape[-1] ** 0.5
        if not over_sensors:
            return s.softmax(1)
        return s.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)

    def forward(self, x: torch.Tensor, sensors: dict[str, torch.Tensor], mask: torch.Tensor
                ) -> torch.Tensor:
        return torch.einsum("bvc,bct->bvt", self.weights(sensors, mask), x)


class MEGEncoder(nn.Module):
    """``(x [B, C, T], sensors, mask) -> features [B, T // stride, d_model]``.

    ``reads = "x"``: the batch field it encodes (the signal itself).

    Parameters
    ----------
    preset : ``"paper"`` | ``"tiny"``
        Sizes (see :data:`PRESETS`); explicit arguments override them.
    """

    reads = "x"

    def __init__(self, preset: str = "tiny", *, d_model: int | None = None,
                 n_layers: int | None = None, n_heads: int | None = None,
                 n_virtual: int | None = None, stride: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown encoder preset {preset!r}; known: {sorted(PRESETS)}.")
        p = PRESETS[preset] | {k: v for k, v in {
            "d_model": d_model, "n_layers": n_layers, "n_heads": n_heads,
            "n_virtual": n_virtual, "stride": stride}.items() if v is not None}
        self.d_model, self.stride, self.n_virtual = p["d_model"], p["stride"], p["n_virtual"]
        if self.stride % 2:
            raise ValueError(f"the stem's stride must be even, got {self.stride}.")
        self.merge = SensorMerger(self.n_virtual)
        self.stem = nn.Sequential(
            nn.Conv1d(self.n_virtual, self.d_model, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(self.d_model, self.d_model, 3, stride=self.stride // 2, padding=1),
            nn.GELU())
        self.mask_vector = nn.Parameter(torch.zeros(self.d_model))
        self.blocks = nn.ModuleList(RopeBlock(self.d_model, p["n_heads"], dropout)
                                    for _ in range(p["n_layers"]))
        self.norm = nn.RMSNorm(self.d_model)
        self.readout = nn.Linear(self.d_model, self.n_virtual * self.stride)
        self.unmerge = SensorMerger(self.n_virtual)

    def n_frames(self, n_samples: int) -> int:
        """Frames the encoder gives for ``n_samples`` samples."""
        return n_samples // self.stride

    def forward(self, x: torch.Tensor, sensors: dict[str, torch.Tensor], mask: torch.Tensor,
                frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        t = self.n_frames(x.shape[-1]) * self.stride
        if t == 0:
            raise ValueError(f"{x.shape[-1]} samples are fewer than one frame ({self.stride}).")
        h = self.stem(self.merge(x[..., :t], sensors, mask)).transpose(1, 2)  # [B, F, d]
        h = h[:, : t // self.stride]
        if frame_mask is not None:
            h = torch.where(frame_mask[..., None], self.mask_vector.to(h.dtype), h)
        for block in self.blocks:
            h = block(h, causal=False)
        return self.norm(h)

    def reconstruct(self, h: torch.Tensor, sensors: dict[str, torch.Tensor],
                    mask: torch.Tensor) -> torch.Tensor:
        """Features ``[B, F, d]`` → signal ``[B, C, F · stride]`` of each real sensor."""
        b, f, _ = h.shape
        v = self.readout(h).view(b, f, self.n_virtual, self.stride)
        v = v.permute(0, 2, 1, 3).reshape(b, self.n_virtual, f * self.stride)
        w = self.unmerge.weights(sensors, mask, over_sensors=False)  # [B, V, C]
        return torch.einsum("bvc,bvt->bct", w, v) * mask[..., None]
