"""WaveNet baseline of GPT2MEG (``../shared/research/gpt2meg_eegpt.md`` §1.4).

Gated (tanh · sigmoid) residual blocks of causal dilated convolutions, kernel 2, dilations
1…64 twice (receptive field 255 samples), residual/dilation width 128, skip width 512, head
LeakyReLU → 1×1 → 256 → LeakyReLU → 1×1 → logits.  Condition, subject and channel embeddings
go through a 1×1 convolution and are added before every gate.

Channel-independent like GPT2MEG: every channel is its own sequence with a channel embedding.
The original ``WavenetFullChannel`` gives each channel its own 256-row quantisation embedding
(306 × 256 × E); we share the token embedding and add the channel embedding, as GPT2MEG does
(fewer parameters, same information).  ``channel_mix=True`` is ``WavenetFullChannelMix``: a
learned C × C mix of the summed skip outputs across channels before the head.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroseq.models.hub import HubModel

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"residual": 128, "skip": 512, "dilations": [2 ** i for i in range(7)] * 2},
    "tiny": {"residual": 32, "skip": 64, "dilations": [2 ** i for i in range(6)]},
}


class _GatedBlock(nn.Module):
    def __init__(self, residual: int, skip: int, dilation: int, cond: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(residual, 2 * residual, 2, dilation=dilation)
        self.cond = nn.Conv1d(cond, 2 * residual, 1)
        self.res = nn.Conv1d(residual, residual, 1)
        self.skip = nn.Conv1d(residual, skip, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor,
                last_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(F.pad(x, (self.dilation, 0))) + self.cond(c)
        f, g = h.chunk(2, dim=1)
        h = torch.tanh(f) * torch.sigmoid(g)
        return x + self.res(h), self.skip(h[..., -1:] if last_only else h)


class WaveNet(nn.Module, HubModel):
    """Channel-independent WaveNet over token streams (same call signature as GPT2MEG).

    Parameters
    ----------
    n_chans, n_vocab, n_subjects, n_conditions : int
        Embedding sizes (conditions include 0 = none).
    residual, skip : int
        Residual/dilation and skip widths.
    dilations : list of int
        One gated block per entry.
    embed : int
        Width of the token/channel/subject/condition embeddings.
    channel_mix : bool
        Learned mix of skip outputs across channels (needs the full channel set per sample).
    preset : str | None
        ``"paper"`` or ``"tiny"``; explicit arguments override it.
    """

    supports_cache = False

    def __init__(self, n_chans: int = 306, n_vocab: int = 256, n_subjects: int = 1,
                 n_conditions: int = 1, residual: int | None = None, skip: int | None = None,
                 dilations: list[int] | None = None, embed: int = 64, sfreq: float = 100.0,
                 channel_mix: bool = False, preset: str | None = "paper") -> None:
        super().__init__()
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown WaveNet preset {preset!r}; choose from {sorted(PRESETS)}.")
        base = dict(PRESETS[preset]) if preset else {}
        for k, v in {"residual": residual, "skip": skip, "dilations": dilations}.items():
            if v is not None:
                base[k] = v
        self.n_chans, self.n_vocab, self.sfreq = n_chans, n_vocab, sfreq
        self.dilations = list(base["dilations"])
        self.context = sum(self.dilations) + 1  # receptive field
        r, s = base["residual"], base["skip"]
        self.tok = nn.Embedding(n_vocab, r)
        self.chan = nn.Embedding(n_chans, embed)
        self.subj = nn.Embedding(n_subjects, embed)
        self.cond = nn.Embedding(n_conditions, embed, padding_idx=0)
        self.blocks = nn.ModuleList(_GatedBlock(r, s, d, embed) for d in self.dilations)
        self.mix = nn.Parameter(torch.eye(n_chans)) if channel_mix else None
        self.head = nn.Sequential(nn.LeakyReLU(), nn.Conv1d(s, 256, 1), nn.LeakyReLU(),
                                  nn.Conv1d(256, n_vocab, 1))

    def forward(self, tokens: torch.Tensor, channels: torch.Tensor | None = None,
                subject: torch.Tensor | None = None, condition: torch.Tensor | None = None,
                *, mask: torch.Tensor | None = None, last_only: bool = False,
                **_: Any) -> dict[str, torch.Tensor]:
        """Logits ``[B, C, T, n_vocab]`` for tokens ``[B, C, T]`` (see ``GPT2MEG.forward``);
        ``last_only`` computes skips and head for the last step only (``T`` = 1 in the output),
        which is all a sampler needs."""
        b, c, t = tokens.shape
        if channels is None:
            channels = torch.arange(c, device=tokens.device).expand(b, c)
        x = self.tok(tokens.long()).reshape(b * c, t, -1).transpose(1, 2)
        cnd = self.chan(channels).reshape(b * c, -1, 1)
        if subject is not None:
            cnd = cnd + self.subj(subject).repeat_interleave(c, 0)[:, :, None]
        if condition is not None:
            e = self.cond(condition)  # [B, T, E] or [B, C, T, E]
            e = e[:, None].expand(b, c, t, -1) if condition.ndim == 2 else e
            cnd = cnd + e.reshape(b * c, t, -1).transpose(1, 2)
        else:
            cnd = cnd.expand(-1, -1, t)
        total = 0
        for block in self.blocks:
            x, sk = block(x, cnd, last_only)
            total = total + sk
        t = total.shape[-1]
        if self.mix is not None:  # mix skips across channels: [B, C, S, T]
            w = self.mix[channels[:, :, None], channels[:, None, :]]  # [B, C, C]
            if mask is not None:
                w = w * mask[:, None, :]
            total = torch.einsum("bij,bjst->bist", w, total.view(b, c, *total.shape[1:]))
            total = total.reshape(b * c, *total.shape[2:])
        logits = self.head(total)
        return {"logits": logits.transpose(1, 2).reshape(b, c, t, self.n_vocab)}
