"""Quantizers shared by the models: the residual vector quantizer (RVQ codec, MEG-XL tokens,
brain-to-text encoder features), built on ``vector-quantize-pytorch``."""

from __future__ import annotations

import torch
from torch import nn


class ResidualQuantizer(nn.Module):
    """Residual stack of ``VectorQuantize`` levels, each with its own projection.

    ``forward(z[N, T, dim]) -> (quantised, codes[N, T, n_q], commitment loss)``.
    """

    def __init__(self, dim: int, n_q: int, codebook_size: int, codebook_dim: int,
                 decay: float = 0.99, kmeans_iters: int = 50, dead_code_threshold: float = 2.0,
                 ) -> None:
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        self.levels = nn.ModuleList(
            VectorQuantize(dim=dim, codebook_size=codebook_size, codebook_dim=codebook_dim,
                           decay=decay, kmeans_init=True, kmeans_iters=kmeans_iters,
                           threshold_ema_dead_code=dead_code_threshold, commitment_weight=1.0)
            for _ in range(n_q))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        residual, out = z, torch.zeros_like(z)
        codes, loss = [], z.new_zeros(())
        for vq in self.levels:
            q, idx, commit = vq(residual)
            residual = residual - q.detach()
            out = out + q
            codes.append(idx)
            loss = loss + commit.sum()
        return out, torch.stack(codes, -1), loss

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes[N, T, n_q]`` → ``[N, T, dim]``."""
        return sum(vq.get_output_from_indices(codes[..., i]) for i, vq in enumerate(self.levels))
