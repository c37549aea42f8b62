"""MEG-XL's criss-cross transformer (Jayalath & Parker Jones, arXiv 2602.02494).

Facts: ``../shared/research/megxl_braintotext.md`` §1.3.  Every (sensor, frame) is a token: the
frozen RVQ codebook vectors of its codes, concatenated and projected, plus a sensor embedding
(Gaussian Fourier features of the normalised position, σ 1.8, and of the orientation, σ 1.0,
each projected, plus a sensor-kind embedding).  Pre-norm RMSNorm blocks split the width in half:
one half attends over time within each sensor (RoPE), the other over sensors within each frame
(no positions); a SELU FFN ×4 follows.  A linear head scores every RVQ level's codes.

Our layout (``layout="neuroseq"``, the default for models trained here) differs from the
original: padded sensors are masked out of spatial attention (the original lets them attend),
the projected code embedding is RMS-normalised before the sensor embedding is added (a small
codec's codebook vectors are tiny: without it, every token is its sensor embedding and the
content is lost — measured: per-word features of different words at cosine 0.9998), a final
RMSNorm precedes the head, sensor kinds are our three (mag, grad, eeg) and positions are
normalised inside the model.  ``layout="official"`` computes what the published MEG-XL computes
(commit 58dc31c of neural-processing-lab/MEG-XL), for its converted weights: no content or final
norm, RMSNorm ε 1e-6, spatial attention over every sensor, the output joined as [spatial,
temporal], RoPE on adjacent feature pairs with the frequencies of the whole half width split
across heads, and the official sensor inputs (``official_xyz``, ``official_dir``,
``official_type``: see :meth:`neuroseq.data.sensors.Sensors.official_types`).  Its attention
dropout is applied in training only (the original applies it in ``eval()`` too).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from neuroseq.models.hub import HubModel
from neuroseq.models.layers import rope

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"d_model": 512, "n_layers": 8, "n_heads": 8, "dropout": 0.1},  # ≈ 22 M
    "tiny": {"d_model": 64, "n_layers": 2, "n_heads": 4, "dropout": 0.0},
}
N_KINDS = 3  # mag, grad, eeg (neuroseq.data.recording.KINDS)
LAYOUTS = ("neuroseq", "official")


class GaussianFourier(nn.Module):
    """``[sin 2πpB, cos 2πpB]`` of 3-d points ``p`` with a frozen ``B ~ N(0, σ²)`` ``[3, n]``."""

    def __init__(self, sigma: float, n_features: int = 125, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("basis", torch.randn(3, n_features, generator=g) * sigma)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        z = 2 * math.pi * p @ self.basis
        return torch.cat([z.sin(), z.cos()], dim=-1)


def normalise_positions(pos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per sample: subtract the real sensors' mean position, divide by √(3·mean‖p‖²)."""
    m = mask[..., None].to(pos.dtype)
    n = m.sum(1, keepdim=True).clamp(min=1)
    centred = (pos - (pos * m).sum(1, keepdim=True) / n) * m
    scale = (3 * (centred ** 2).sum(-1, keepdim=True).sum(1, keepdim=True) / n).sqrt()
    return centred / scale.clamp(min=1e-8)


def rope_pairs(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """The official MEG-XL rotary embedding of ``[N, H, T, e]``: frequencies
    ``base^(-2i/(H·e))`` over the whole width, head ``h`` taking the ``h``-th slice of
    ``e/2``, each rotating an adjacent feature pair ``(2j, 2j+1)``."""
    n, h, t, e = x.shape
    inv = base ** (-torch.arange(0, h * e, 2, device=x.device, dtype=torch.float32) / (h * e))
    ang = torch.arange(t, device=x.device, dtype=torch.float32)[:, None] * inv  # [T, H·e/2]
    ang = ang.view(t, h, e // 2).transpose(0, 1)  # [H, T, e/2]
    cos, sin = ang.cos(), ang.sin()
    a, b = x.float()[..., 0::2], x.float()[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2).to(x.dtype)


class SensorEmbedding(nn.Module):
    """Projected Fourier features of position and orientation plus a sensor-kind embedding
    (official layout: of the official inputs, taken as given)."""

    def __init__(self, d_model: int, n_features: int = 125, official: bool = False) -> None:
        super().__init__()
        self.pos_ff, self.ori_ff = GaussianFourier(1.8, n_features, 0), \
            GaussianFourier(1.0, n_features, 1)
        self.pos = nn.Linear(2 * n_features, d_model)
        self.ori = nn.Linear(2 * n_features, d_model)
        self.official = official
        self.kind = nn.Embedding(2 if official else N_KINDS, d_model)

    def forward(self, sensors: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        if self.official:
            missing = {"official_xyz", "official_dir", "official_type"} - set(sensors)
            if missing:
                raise ValueError(f"the official layout reads the sensors' {sorted(missing)} "
                                 "(neuroseq.data.segments.sensor_block makes them).")
            pos, ori = sensors["official_xyz"].float(), sensors["official_dir"].float()
            kind = sensors["official_type"].long()
        else:
            pos = normalise_positions(sensors["pos"].float(), mask)
            ori, kind = sensors["ori"].float(), sensors["kind"]
        return self.pos(self.pos_ff(pos)) + self.ori(self.ori_ff(ori)) + self.kind(kind)


class CrissCrossAttention(nn.Module):
    """Half the width attends over time per sensor (RoPE), half over sensors per frame."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0,
                 official: bool = False) -> None:
        super().__init__()
        self.official = official
        half = d_model // 2
        if d_model % 2 or n_heads % 2 or half % (n_heads // 2) or (half // (n_heads // 2)) % 2:
            raise ValueError(f"d_model {d_model} / n_heads {n_heads} must split into two halves "
                             "of n_heads/2 heads of even size.")
        self.h, self.dropout = n_heads // 2, dropout
        self.qkv_t, self.qkv_s = nn.Linear(half, 3 * half), nn.Linear(half, 3 * half)
        self.out_t, self.out_s = nn.Linear(half, half), nn.Linear(half, half)

    def _heads(self, x: torch.Tensor, qkv: nn.Linear) -> tuple[torch.Tensor, ...]:
        n, t, e = x.shape
        return qkv(x).view(n, t, 3, self.h, e // self.h).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(self, x: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        b, c, t, d = x.shape
        xt, xs = x[..., : d // 2], x[..., d // 2:]
        p = self.dropout if self.training else 0.0
        q, k, v = self._heads(xt.reshape(b * c, t, d // 2), self.qkv_t)
        pe = rope_pairs if self.official else rope
        yt = F.scaled_dot_product_attention(pe(q), pe(k), v, dropout_p=p)
        yt = self.out_t(yt.transpose(1, 2).reshape(b, c, t, d // 2))
        q, k, v = self._heads(xs.transpose(1, 2).reshape(b * t, c, d // 2), self.qkv_s)
        keep = None if self.official else \
            channel_mask.bool()[:, None, :].expand(b, t, c).reshape(b * t, 1, 1, c)
        ys = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
        ys = self.out_s(ys.transpose(1, 2).reshape(b, t, c, d // 2).transpose(1, 2))
        return torch.cat([ys, yt] if self.official else [yt, ys], dim=-1)


class CrissCrossBlock(nn.Module):
    """``x + attn(RMSNorm(x))``, then ``x + FFN(RMSNorm(x))`` with a SELU FFN of width 4d."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, official: bool = False
                 ) -> None:
        super().__init__()
        eps = 1e-6 if official else None
        self.n1, self.n2 = nn.RMSNorm(d_model, eps=eps), nn.RMSNorm(d_model, eps=eps)
        self.attn = CrissCrossAttention(d_model, n_heads, dropout, official)
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.SELU(),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, channel_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.n1(x), channel_mask)
        return x + self.ffn(self.n2(x))


class CrissCross(nn.Module, HubModel):
    """Masked-token model over RVQ codes ``[B, C, Q, T']`` of many sensors.

    Parameters
    ----------
    n_levels, codebook_size, code_dim : int
        The tokenizer's RVQ (BioCodec: 6 × 256, 16-d codebook vectors).
    d_model, n_layers, n_heads, dropout : int, int, int, float
        Size (from ``preset`` unless given; ``paper`` ≈ 22 M parameters).
    checkpointing : bool
        Recompute each block's activations in the backward pass (less memory).
    layout : str
        ``"neuroseq"`` (ours) or ``"official"`` (the published MEG-XL's computation, for its
        converted weights; see the module docstring).
    n_fourier : int
        Fourier frequencies of the sensor position and orientation (125: 250 features).
    """

    def __init__(self, n_levels: int = 6, codebook_size: int = 256, code_dim: int = 16,
                 d_model: int | None = None, n_layers: int | None = None,
                 n_heads: int | None = None, dropout: float | None = None,
                 preset: str | None = "paper", checkpointing: bool = False,
                 layout: str = "neuroseq", n_fourier: int = 125) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; choose from {list(LAYOUTS)}.")
        self.layout = layout
        official = layout == "official"
        p = dict(PRESETS[preset]) if preset else {}
        self.d_model = d_model or p["d_model"]
        self.n_layers = n_layers or p["n_layers"]
        n_heads = n_heads or p["n_heads"]
        dropout = p.get("dropout", 0.0) if dropout is None else dropout
        self.n_levels, self.codebook_size, self.checkpointing = n_levels, codebook_size, \
            checkpointing
        self.register_buffer("codebooks", torch.randn(n_levels, codebook_size, code_dim))
        self.project = nn.Linear(n_levels * code_dim, self.d_model)
        self.content_norm = nn.Identity() if official else nn.RMSNorm(self.d_model)
        self.mask_token = nn.Parameter(torch.zeros(self.d_model))
        self.sensors = SensorEmbedding(self.d_model, n_fourier, official)
        self.blocks = nn.ModuleList(CrissCrossBlock(self.d_model, n_heads, dropout, official)
                                    for _ in range(self.n_layers))
        self.norm = nn.Identity() if official else nn.RMSNorm(self.d_model)
        self.head = nn.Linear(self.d_model, n_levels * codebook_size)
        nn.init.normal_(self.mask_token, 0.0, 0.02)

    def set_codebooks(self, codebooks: torch.Tensor) -> None:
        """Use the (frozen) tokenizer's codebook vectors ``[Q, K, code_dim]``."""
        if codebooks.shape != self.codebooks.shape:
            raise ValueError(f"codebooks must be {tuple(self.codebooks.shape)}, got "
                             f"{tuple(codebooks.shape)}.")
        self.codebooks.copy_(codebooks)

    def forward(self, codes: torch.Tensor, sensors: dict[str, torch.Tensor],
                channel_mask: torch.Tensor | None = None,
                token_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits ``[B, C, T', Q, K]`` and hidden states ``[B, C, T', d]``.

        ``token_mask [B, T']`` (True = hidden) replaces those frames' content embedding with
        the learned mask token on every sensor; the sensor embedding stays.
        """
        b, c, q, t = codes.shape
        if q != self.n_levels:
            raise ValueError(f"codes have {q} levels; the model expects {self.n_levels}.")
        if channel_mask is None:
            channel_mask = torch.ones(b, c, dtype=torch.bool, device=codes.device)
        if not bool(channel_mask.bool().any(-1).all()):
            raise ValueError("every sample needs at least one real sensor.")
        levels = torch.arange(q, device=codes.device)[None, None, :, None]
        vec = self.codebooks[levels, codes.long()]  # [B, C, Q, T', code_dim]
        content = self.content_norm(self.project(vec.permute(0, 1, 3, 2, 4).reshape(b, c, t, -1)))
        if token_mask is not None:
            m = token_mask[:, None, :, None].to(content.dtype)
            content = content * (1 - m) + self.mask_token * m
        x = content + self.sensors(sensors, channel_mask)[:, :, None, :]
        for blk in self.blocks:
            if self.checkpointing and self.training:
                x = checkpoint(blk, x, channel_mask, use_reentrant=False)
            else:
                x = blk(x, channel_mask)
        x = self.norm(x)
        logits = self.head(x).view(b, c, t, q, self.codebook_size)
        return {"logits": logits, "hidden": x}
