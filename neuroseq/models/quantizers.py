"""Quantizers shared by the models: the residual vector quantizer (RVQ codec, MEG-XL tokens,
brain-to-text encoder features), built on ``vector-quantize-pytorch``."""

from __future__ import annotations

import torch
from torch import nn


def code_perplexity(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """``exp`` of the entropy of the codes' histogram (1 … ``codebook_size``: the number of
    codes in effective use)."""
    p = torch.bincount(codes.flatten(), minlength=codebook_size).float()
    p = p / p.sum().clamp(min=1)
    return torch.exp(-(p * p.clamp(min=1e-12).log()).sum())


class ResidualQuantizer(nn.Module):
    """Residual stack of ``VectorQuantize`` levels, each with its own projection.

    ``forward(z[N, T, dim]) -> (quantised, codes[N, T, n_q], loss)``; the loss is the
    commitment loss plus, with ``diversity_weight > 0``, the library's codebook-diversity loss
    (minus the entropy of the batch's average soft assignment: codebook usage), per level.
    :meth:`losses` gives them apart with each level's code perplexity.
    """

    def __init__(self, dim: int, n_q: int, codebook_size: int, codebook_dim: int,
                 decay: float = 0.99, kmeans_iters: int = 50, dead_code_threshold: float = 2.0,
                 diversity_weight: float = 0.0, diversity_temperature: float = 100.0,
                 ) -> None:
        super().__init__()
        from vector_quantize_pytorch import VectorQuantize

        self.codebook_size, self.diversity_weight = codebook_size, diversity_weight
        self.levels = nn.ModuleList(
            VectorQuantize(dim=dim, codebook_size=codebook_size, codebook_dim=codebook_dim,
                           decay=decay, kmeans_init=True, kmeans_iters=kmeans_iters,
                           threshold_ema_dead_code=dead_code_threshold, commitment_weight=1.0,
                           codebook_diversity_loss_weight=diversity_weight,
                           codebook_diversity_temperature=diversity_temperature)
            for _ in range(n_q))

    def losses(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(quantised, codes, parts)``: ``parts`` holds ``commitment`` and ``diversity``
        (summed over levels; diversity is 0 in eval mode or with ``diversity_weight=0``) and
        ``perplexity_<level>``."""
        residual, out = z, torch.zeros_like(z)
        codes = []
        parts = {"commitment": z.new_zeros(()), "diversity": z.new_zeros(())}
        for i, vq in enumerate(self.levels):
            q, idx, _, br = vq(residual, return_loss_breakdown=True)
            residual = residual - q.detach()
            out = out + q
            codes.append(idx)
            parts["commitment"] = parts["commitment"] + br.commitment.sum()
            parts["diversity"] = parts["diversity"] + br.codebook_diversity.sum()
            parts[f"perplexity_{i}"] = code_perplexity(idx.detach(), self.codebook_size)
        return out, torch.stack(codes, -1), parts

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, codes, parts = self.losses(z)
        return q, codes, parts["commitment"] + self.diversity_weight * parts["diversity"]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes[N, T, n_q]`` → ``[N, T, dim]``."""
        return sum(vq.get_output_from_indices(codes[..., i]) for i, vq in enumerate(self.levels))


class CosineVQ(nn.Module):
    """One BioCodec level: ``dim → codebook_dim`` projection, the code whose vector is most
    cosine-similar, and its vector projected back (``embed``: the raw codebook vectors)."""

    def __init__(self, dim: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.project_in = nn.Linear(dim, codebook_dim)
        self.project_out = nn.Linear(codebook_dim, dim)
        self.register_buffer("embed", torch.zeros(codebook_size, codebook_dim))
        # BioCodec's training state, kept so that a converted file round-trips
        self.register_buffer("embed_avg", torch.zeros(codebook_size, codebook_dim))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("inited", torch.ones(1))

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, T, dim]`` → codes ``[N, T]``."""
        u = nn.functional.normalize(self.project_in(z), dim=-1)
        return (u @ nn.functional.normalize(self.embed, dim=-1).T).argmax(-1)

    def vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[N, T]`` → ``[N, T, dim]``."""
        return self.project_out(self.embed[codes])


class CosineResidualQuantizer(nn.Module):
    """BioCodec's residual quantizer (MEG-XL's official tokenizer), for coding with converted
    weights: each level codes the residual of the previous ones by cosine similarity.  Frozen:
    it has no training rule here (train a codec with :class:`ResidualQuantizer`)."""

    def __init__(self, dim: int, n_q: int, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.levels = nn.ModuleList(CosineVQ(dim, codebook_size, codebook_dim)
                                    for _ in range(n_q))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled() and self.training:
            raise RuntimeError("the official BioCodec quantizer is frozen: it codes with "
                               "converted weights and is not trained here.")
        residual, out, codes = z, torch.zeros_like(z), []
        for vq in self.levels:
            idx = vq.codes(residual)
            q = vq.vectors(idx)
            residual, out = residual - q, out + q
            codes.append(idx)
        return out, torch.stack(codes, -1), z.new_zeros(())

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes[N, T, n_q]`` → ``[N, T, dim]``."""
        return sum(vq.vectors(codes[..., i]) for i, vq in enumerate(self.levels))
