"""GPT2MEG: a decoder-only transformer shared across channels (Csaky et al., arXiv 2404.09256).

Facts in ``../shared/research/gpt2meg_eegpt.md`` §1.3.  Channels are independent sequences,
batched as ``(B·C) × T``; channel identity, subject and the time-aligned task condition enter as
embeddings summed with the token and position embeddings (each N(0, 0.02); condition 0 = no
stimulus is the zero vector).  Causal attention over time only, a shared bias-free output head.
The paper's size: width 240, 12 layers, 12 heads, context 256 at 100 Hz (≈ 8.7 M parameters).

``channel_mix=True`` adds attention across channels after every block (an extension beyond the
paper, in the spirit of its WaveNet "ChannelMix" variant): the model then sees all channels of
a step at once, so channels are no longer independent (and a batch must hold whole recordings).

``local_conv=K`` adds a depthwise causal convolution over the last ``K`` input embeddings of
each channel before the first block (an extension beyond the paper, like the short
convolutions of recent sequence models).  It hands every position its recent history at once;
without it, a tiny model trained for CPU-sized budgets on real EEG stays at the accuracy of
predicting from the previous token alone (``docs/design.md``).  The KV cache carries the last
``K − 1`` embeddings, so cached and recomputed generation stay identical.

``value_grid`` (the de-quantised value of every token, from the tokenizer) adds a learned
linear embedding of each token's value and code position to the token embedding (extension):
the model then knows from the start that neighbouring codes mean neighbouring amplitudes, which
the paper's embedding table must learn from data.

``positions="rope"`` (extension) replaces the paper's learned absolute positions by rotary
positions in every attention layer.  Attention then depends on relative positions only, so a
generator can keep a rolling KV cache (:class:`~neuroseq.models.layers.RollingKVCache`): each
new step evicts the oldest position and nothing is re-encoded, where the paper's model must
restart its window and re-encode it every ``shift`` steps.  With more than one layer a rolling
cache is sliding-window attention: every layer sees the last ``context`` positions, so the
receptive field grows with depth (``docs/design.md``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroseq.models.hub import HubModel
from neuroseq.models.layers import AcrossChannels, Block, KVCache, RollingKVCache

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"d_model": 240, "n_layers": 12, "n_heads": 12, "context": 256},
    # beyond the paper: a width-1024 model (≈ 101 M parameters) for GPU throughput and scale-out
    "wide": {"d_model": 1024, "n_layers": 8, "n_heads": 16, "context": 256},
    "small": {"d_model": 128, "n_layers": 4, "n_heads": 4, "context": 256},
    "tiny": {"d_model": 64, "n_layers": 2, "n_heads": 4, "context": 128},
}


class GPT2MEG(nn.Module, HubModel):
    """Channel-independent GPT over per-channel token streams.

    Parameters
    ----------
    n_chans : int
        Channel vocabulary size (channel embedding rows).
    n_vocab : int
        Token vocabulary (256 μ-law levels).
    n_subjects : int
        Subject embedding rows.
    n_conditions : int
        Condition embedding rows including 0 = no stimulus (119 in the paper).
    d_model, n_layers, n_heads : int
        Transformer width, depth and heads.
    context : int
        Longest sequence (learned positions); 256 samples = 2.56 s at 100 Hz.
    sfreq : float
        Sampling rate the model was trained at (metadata for samplers and readers).
    dropout : float
        Residual, embedding and attention dropout (0 in the paper).
    channel_mix : bool
        Attention across channels after each block (extension; see module docstring).
    local_conv : int
        Kernel of a depthwise causal convolution over the input embeddings (0 = none, the
        paper; extension, see module docstring).
    value_grid : list of float | None
        De-quantised value of each token (``len == n_vocab``) for the value embedding
        (extension, see module docstring); None = the paper's table only.
    positions : ``"learned"`` | ``"rope"``
        The paper's learned absolute position embeddings, or rotary positions (extension, see
        the module docstring; what a rolling KV cache needs).
    preset : str | None
        ``"paper"``, ``"wide"``, ``"small"`` or ``"tiny"``; explicit arguments override it.
    """

    supports_cache = True
    #: Without gradients, sequences go through the blocks in row blocks whose widest
    #: activation (``[rows, T, 4·E]``) stays under this many bytes: below glibc's 32 MiB mmap
    #: ceiling, buffers are reused instead of page-faulted in fresh for every op (a 306-channel,
    #: 246-step encoding on 2 CPU cores: 12.0–13.6 s instead of 15.2–15.5 s; ``docs/design.md``).
    chunk_bytes: int = 24 * 2**20

    def __init__(self, n_chans: int = 306, n_vocab: int = 256, n_subjects: int = 1,
                 n_conditions: int = 1, d_model: int | None = None, n_layers: int | None = None,
                 n_heads: int | None = None, context: int | None = None, sfreq: float = 100.0,
                 dropout: float = 0.0, channel_mix: bool = False, local_conv: int = 0,
                 value_grid: list[float] | None = None, positions: str = "learned",
                 preset: str | None = "paper") -> None:
        super().__init__()
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown GPT2MEG preset {preset!r}; choose from {sorted(PRESETS)}.")
        base = dict(PRESETS[preset]) if preset else {}
        given = {"d_model": d_model, "n_layers": n_layers, "n_heads": n_heads, "context": context}
        base.update({k: v for k, v in given.items() if v is not None})
        missing = [k for k in given if k not in base]
        if missing:
            raise ValueError(f"GPT2MEG needs {missing} when preset=None.")
        self.d_model, self.n_layers = base["d_model"], base["n_layers"]
        self.n_heads, self.context = base["n_heads"], base["context"]
        self.n_chans, self.n_vocab, self.sfreq = n_chans, n_vocab, sfreq
        self.n_subjects, self.n_conditions = n_subjects, n_conditions
        self.channel_mix, self.local_conv = channel_mix, int(local_conv)
        if positions not in ("learned", "rope"):
            raise ValueError(f"positions must be 'learned' or 'rope', got {positions!r}.")
        self.positions = positions
        if self.local_conv < 0:
            raise ValueError(f"local_conv must be >= 0 (0 = off), got {local_conv}.")
        e = self.d_model
        self.tok = nn.Embedding(n_vocab, e)
        self.value_grid, self.value = value_grid, None
        if value_grid is not None:
            g = torch.as_tensor(value_grid, dtype=torch.float32)
            if g.shape != (n_vocab,) or not bool(torch.isfinite(g).all()):
                raise ValueError(f"value_grid must hold {n_vocab} finite values, one per token.")
            code = torch.linspace(-1.0, 1.0, n_vocab)
            self.register_buffer("value_features",
                                 torch.stack([g / g.abs().mean().clamp_min(1e-12), code], -1))
            self.value = nn.Linear(2, e)
        self.chan = nn.Embedding(n_chans, e)
        self.subj = nn.Embedding(n_subjects, e)
        self.cond = nn.Embedding(n_conditions, e, padding_idx=0)
        self.pos = nn.Embedding(self.context, e) if positions == "learned" else None
        self.drop = nn.Dropout(dropout)
        self.conv = nn.Conv1d(e, e, self.local_conv, groups=e) if self.local_conv else None
        self.blocks = nn.ModuleList(Block(e, self.n_heads, dropout, rope=positions == "rope")
                                    for _ in range(self.n_layers))
        self.mix = nn.ModuleList(AcrossChannels(e, self.n_heads) for _ in range(self.n_layers)) \
            if channel_mix else None
        self.ln_f = nn.LayerNorm(e)
        self.head = nn.Linear(e, n_vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding | nn.Conv1d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear | nn.Conv1d) and m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()

    @property
    def supports_rolling(self) -> bool:
        """Whether a rolling KV cache gives the model's own attention (relative positions)."""
        return self.positions == "rope"

    def new_cache(self, n_sequences: int, max_len: int | None = None, *,
                  rolling: bool = False, sink: int = 0,
                  dtype: torch.dtype | None = None) -> KVCache:
        """An empty KV cache for ``n_sequences`` (= B·C) streams; ``rolling=True`` (RoPE
        models) a ring buffer that keeps the first ``sink`` and the latest positions;
        ``dtype``: of the keys and values (default: the parameters')."""
        p = next(self.parameters())
        shape = (self.n_layers, n_sequences, self.n_heads, max_len or self.context,
                 self.d_model // self.n_heads)
        if rolling:
            if not self.supports_rolling:
                raise ValueError("a rolling KV cache needs relative positions "
                                 "(GPT2MEG(positions='rope')); this model has learned "
                                 "absolute positions, which need the sliding window.")
            return RollingKVCache(*shape, sink=sink, device=p.device, dtype=dtype or p.dtype)
        return KVCache(*shape, device=p.device, dtype=dtype or p.dtype)

    def embed(self, tokens: torch.Tensor, channels: torch.Tensor | None = None,
              subject: torch.Tensor | None = None, condition: torch.Tensor | None = None,
              start: int = 0) -> torch.Tensor:
        """Summed embeddings ``[B, C, T, E]``."""
        b, c, t = tokens.shape
        if self.pos is not None and start + t > self.context:
            raise ValueError(f"positions {start}..{start + t} exceed the context {self.context}.")
        if tokens.dtype == torch.uint8:
            tokens = tokens.long()
        h = self.tok(tokens)
        if self.value is not None:
            h = h + self.value(self.value_features[tokens])
        if channels is None:
            channels = torch.arange(c, device=tokens.device).expand(b, c)
        h = h + self.chan(channels)[:, :, None]
        if subject is not None:
            h = h + self.subj(subject)[:, None, None]
        if condition is not None:
            cond = self.cond(condition)  # [B, T, E] or [B, C, T, E]
            h = h + (cond[:, None] if condition.ndim == 2 else cond)
        if self.pos is None:  # rotary positions act inside attention
            return h
        return h + self.pos(torch.arange(start, start + t, device=tokens.device))

    def _local_conv(self, x: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """``x + conv(x)`` over time with the previous ``K − 1`` inputs (cached, else zeros)."""
        k = self.local_conv
        past = cache.state if cache is not None and cache.length > 0 else None
        if past is None:
            past = x.new_zeros(x.shape[0], k - 1, x.shape[2])
        full = torch.cat([past, x], dim=1)
        if cache is not None:
            last = full[:, full.shape[1] - (k - 1):]
            if cache.state is not None and cache.state.shape == last.shape:
                cache.state.copy_(last)  # in place: a captured decode step keeps its buffers
            else:
                cache.state = last.clone()
        return x + self.conv(full.transpose(1, 2)).transpose(1, 2)

    def forward(self, tokens: torch.Tensor, channels: torch.Tensor | None = None,
                subject: torch.Tensor | None = None, condition: torch.Tensor | None = None,
                *, cache: KVCache | None = None, start: int | None = None,
                mask: torch.Tensor | None = None,
                last_only: bool = False) -> dict[str, torch.Tensor]:
        """Next-token logits.

        Parameters
        ----------
        tokens : LongTensor ``[B, C, T]``
        channels : LongTensor ``[B, C]`` | None
            Rows of the channel embedding (default ``0..C-1``).
        subject : LongTensor ``[B]`` | None
        condition : LongTensor ``[B, T]`` or ``[B, C, T]`` | None
        cache : KVCache | None
            Keys/values of earlier positions, extended in place.
        start : int | None
            Position of ``tokens[..., 0]`` (default: ``cache.length`` or 0).
        mask : BoolTensor ``[B, C]`` | None
            Real channels (False = padding); used by ``channel_mix`` only.
        last_only : bool
            Logits of the last position only (``T`` = 1 in the output), for samplers.

        Returns
        -------
        dict with ``logits`` ``[B, C, T, n_vocab]``.
        """
        b, c, t = tokens.shape
        if start is None:
            start = cache.length if cache is not None else 0
        h = self.drop(self.embed(tokens, channels, subject, condition, start))
        positions = None
        if self.pos is None:
            positions = cache.begin(t) if isinstance(cache, RollingKVCache) else \
                torch.arange(start, start + t, device=tokens.device)
        pad = None if mask is None else ~mask
        x = h.reshape(b * c, t, self.d_model)
        if self.conv is not None:
            x = self._local_conv(x, cache)
        if self.mix is None and not torch.is_grad_enabled():
            step = max(1, self.chunk_bytes // (t * 4 * self.d_model * x.element_size()))
        else:  # training keeps every activation anyway; channel_mix needs all channels at once
            step = b * c
        out = []
        for a in range(0, b * c, step):
            xs = x[a:a + step]
            kv = cache.rows(a, a + step) if cache is not None and step < b * c else cache
            for i, block in enumerate(self.blocks):
                xs = block(xs, kv, i, positions)
                if self.mix is not None:
                    xs = self.mix[i](xs.view(b, c, t, -1), pad).reshape(b * c, t, -1)
            out.append(self.head(self.ln_f(xs[:, -1:] if last_only else xs)))
        if cache is not None:
            cache.length += t
        logits = out[0] if len(out) == 1 else torch.cat(out)
        return {"logits": logits.view(b, c, 1 if last_only else t, self.n_vocab)}
