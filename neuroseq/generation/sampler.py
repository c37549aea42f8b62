"""Autoregressive generation of token streams: KV cache, sliding window, top-k/top-p/temperature.

The GPT2MEG protocol (``../shared/research/gpt2meg_eegpt.md`` §1.6): seed with real context,
condition on a timeline (real or synthetic), sample with top-p 0.8, and slide a window of the
model's context over horizons far longer than it — when the window is full it restarts from
its last ``context − shift`` tokens (re-encoded at positions 0…), so a forward pass over the
window happens once every ``shift`` steps and the steps between use the KV cache.  Models with
relative positions (GPT2MEG with ``positions="rope"``) keep a rolling KV cache instead: every
step feeds one token and evicts the oldest position, and nothing is ever re-encoded
(``SamplingConfig.rolling``; ``sink`` first positions can be kept for good).  Models without
a cache (WaveNet) recompute the same window every step; the token sequence is the same either
way (tested with greedy sampling).  All ``B·C`` channel streams are one batch.

Channel-independent models predict each channel's next token from the past alone, so drawing
the channels independently gives innovations that are uncorrelated across channels — and the
generated data lose the zero-lag spatial correlation of real M/EEG (volume conduction shares
every source's innovation among sensors).  ``SamplingConfig.channel_corr`` couples the draws
with a Gaussian copula: each step draws correlated normals, turns them into uniforms and picks
every channel's token by inverse CDF of its own predicted distribution (codes in amplitude
order).  Each channel's predictive distribution is unchanged; only the draws are correlated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroseq.log import progress


@dataclass
class SamplingConfig:
    """How to draw tokens.

    ``temperature=0`` is greedy.  ``top_p`` (nucleus, the paper's default 0.8), ``top_k`` and
    ``min_p`` (drop tokens less likely than ``min_p`` times the most likely one) apply after
    the temperature; they cut the low-probability tail whose draws are broadband noise.
    ``shift``: new tokens per window restart (paper: 10).
    ``use_cache=False`` recomputes the window each step (for checks and cache-less models).
    ``channel_corr`` ``[C, C]``: correlation of the channels' innovations, to couple their
    draws (see the module docstring; :func:`innovation_correlation` estimates it).
    ``rolling``: a rolling KV cache for models that support it (relative positions; the
    sliding window otherwise); ``sink``: positions from the start that it never evicts.
    ``seeds``: one seed per sequence of the batch — each sequence then draws from its own
    generator (by inverse CDF), so it is the same whether generated alone or with others.
    ``decode`` (rolling cache only): run each step as a fixed-shape
    :class:`~neuroseq.generation.decode_step.DecodeStep` — ``"eager"``, ``"compile"``
    (``torch.compile``) or ``"cudagraph"``; None: the model's plain forward.
    ``autocast="bf16"``: the model runs under bfloat16 autocast and keeps a bfloat16 KV cache
    (whether that is faster is measured by ``benchmarks/gpu_suite.sh``).
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = 0.8
    min_p: float | None = None
    shift: int = 10
    use_cache: bool = True
    seed: int = 0
    channel_corr: Any = None
    rolling: bool = True
    sink: int = 0
    seeds: tuple[int, ...] | None = None
    decode: str | None = None
    autocast: str | None = None


def innovation_correlation(x: Any, order: int = 10) -> torch.Tensor:
    """Correlation ``[C, C]`` of the one-step prediction errors of a per-channel AR(``order``)
    least-squares fit to ``x`` ``[C, T]`` — what is shared across channels at each step."""
    x = torch.as_tensor(x, dtype=torch.float64)
    c, t = x.shape
    if t < 10 * order:
        raise ValueError(f"innovation_correlation needs at least {10 * order} samples, got {t}.")
    x = x - x.mean(-1, keepdim=True)
    lags = torch.stack([x[:, order - k - 1:t - k - 1] for k in range(order)], -1)  # [C, N, p]
    y = x[:, order:]
    coef = torch.linalg.lstsq(lags, y[..., None]).solution  # [C, p, 1]
    res = y - (lags @ coef)[..., 0]
    corr = torch.corrcoef(res)
    return torch.nan_to_num(corr, nan=0.0).fill_diagonal_(1.0).float()


def _coupled_uniforms(b: int, c: int, chol: torch.Tensor,
                      generator: torch.Generator | None) -> torch.Tensor:
    z = torch.randn(b, c, generator=generator, device=chol.device) @ chol.T
    return (0.5 * (1 + torch.erf(z / 2 ** 0.5))).clamp(1e-7, 1 - 1e-7).reshape(b * c)


def _per_sequence_uniforms(c: int, gens: list[torch.Generator], chol: torch.Tensor | None,
                           device: torch.device) -> torch.Tensor:
    """``[B·C]`` uniforms, each sequence's ``C`` from its own generator (coupled if ``chol``)."""
    if chol is not None:
        return torch.cat([_coupled_uniforms(1, c, chol, g) for g in gens])
    return torch.cat([torch.rand(c, generator=g, device=device) for g in gens]).clamp(1e-7,
                                                                                     1 - 1e-7)


def sample_logits(logits: torch.Tensor, cfg: SamplingConfig,
                  generator: torch.Generator | None = None,
                  uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """Draw one token per row of ``logits`` ``[N, V]``.

    ``uniforms`` ``[N]`` in (0, 1): draw by inverse CDF over the codes in their order instead
    of at random (coupled channels; the same distribution, correlated draws).
    """
    if cfg.temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / cfg.temperature
    if cfg.top_k is not None and cfg.top_k < logits.shape[-1]:
        kth = logits.topk(cfg.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if cfg.min_p is not None and cfg.min_p > 0:
        probs = probs.masked_fill(probs < cfg.min_p * probs.amax(-1, keepdim=True), 0.0)
        probs = probs / probs.sum(-1, keepdim=True)
    if cfg.top_p is not None and cfg.top_p < 1.0:
        p, idx = probs.sort(-1, descending=True)
        drop = p.cumsum(-1) - p > cfg.top_p  # keep the smallest set reaching top_p
        p = p.masked_fill(drop, 0.0)
        if uniforms is None:
            choice = torch.multinomial(p, 1, generator=generator)
            return idx.gather(-1, choice)[:, 0]
        probs = torch.zeros_like(probs).scatter_(-1, idx, p)
    if uniforms is not None:
        cdf = probs.cumsum(-1)
        u = uniforms.to(cdf)[:, None] * cdf[:, -1:]
        return torch.searchsorted(cdf, u).clamp_max(probs.shape[-1] - 1)[:, 0]
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def _window(model: nn.Module) -> int:
    ctx = getattr(model, "context", None)
    if not ctx:
        raise ValueError(f"{type(model).__name__} has no `context` (longest input) attribute.")
    return int(ctx)


@torch.inference_mode()
def generate_tokens(model: nn.Module, context: torch.Tensor, n_steps: int, **kwargs: Any
                    ) -> torch.Tensor:
    """Continue ``context`` ``[B, C, Tc]`` by ``n_steps`` tokens per channel.

    Parameters
    ----------
    model : nn.Module
        Token model: ``model(tokens, channels, subject, condition, cache=, start=)`` returns
        ``{"logits": [B, C, T, V]}`` (``last_only=True``: the last step only);
        ``model.context`` is its longest input and
        ``model.supports_cache`` says whether it has a KV cache (``new_cache``).
    channels : LongTensor ``[B, C]`` | None
    subject : LongTensor ``[B]`` | None
    condition : LongTensor ``[B, Tc + n_steps]`` | None
        Condition id of every step, context included.
    cfg : SamplingConfig | None
    desc : str
        Progress-bar label.

    Returns
    -------
    LongTensor ``[B, C, n_steps]``.
    """
    cfg = kwargs.get("cfg") or SamplingConfig()
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.autocast == "bf16"):
        return _generate_tokens(model, context, n_steps, **kwargs)


def _generate_tokens(model: nn.Module, context: torch.Tensor, n_steps: int, *,
                    channels: torch.Tensor | None = None, subject: torch.Tensor | None = None,
                    condition: torch.Tensor | None = None, cfg: SamplingConfig | None = None,
                    desc: str = "generating") -> torch.Tensor:
    """:func:`generate_tokens` (inside its autocast)."""
    cfg = cfg or SamplingConfig()
    model.eval()
    b, c, tc = context.shape
    if tc < 1:
        raise ValueError("generation needs at least one context token per channel.")
    if condition is not None and condition.shape[-1] < tc + n_steps:
        raise ValueError(f"the condition timeline has {condition.shape[-1]} steps; context + "
                         f"generation need {tc + n_steps}.")
    ctx = _window(model)
    shift = max(1, min(cfg.shift, ctx - 1))
    device = next(model.parameters()).device
    seq = torch.empty(b, c, tc + n_steps, dtype=torch.long, device=device)
    seq[..., :tc] = context.to(device)
    cond = None if condition is None else condition.to(device)
    chans = None if channels is None else channels.to(device)
    subj = None if subject is None else subject.to(device)
    use_cache = cfg.use_cache and getattr(model, "supports_cache", False)
    rolling = use_cache and cfg.rolling and getattr(model, "supports_rolling", False)
    if cfg.sink and not rolling:
        raise ValueError("SamplingConfig.sink needs a rolling KV cache (a model with relative "
                         "positions, rolling=True, use_cache=True).")
    if cfg.decode is not None and not rolling:
        raise ValueError(f"SamplingConfig.decode={cfg.decode!r} needs a rolling KV cache (a "
                         "model with relative positions, rolling=True, use_cache=True).")
    if cfg.autocast not in (None, "bf16"):
        raise ValueError(f"SamplingConfig.autocast must be None or 'bf16', got "
                         f"{cfg.autocast!r}.")
    half = {"dtype": torch.bfloat16} if cfg.autocast else {}
    cache = model.new_cache(b * c, ctx, rolling=True, sink=cfg.sink, **half) if rolling else \
        model.new_cache(b * c, ctx, **half) if use_cache else None
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    gens = None
    if cfg.seeds is not None:
        if len(cfg.seeds) != b:
            raise ValueError(f"SamplingConfig.seeds has {len(cfg.seeds)} seeds for {b} "
                             "sequences; give one per sequence.")
        gens = [torch.Generator(device=device).manual_seed(int(s)) for s in cfg.seeds]
    chol = None
    if cfg.channel_corr is not None:
        corr = torch.as_tensor(cfg.channel_corr, dtype=torch.float64)
        if corr.shape != (c, c):
            raise ValueError(f"channel_corr is {tuple(corr.shape)}; the context has {c} "
                             "channels.")
        chol, info = torch.linalg.cholesky_ex(corr + 1e-6 * torch.eye(c, dtype=torch.float64))
        if int(info) != 0:  # not positive definite: clip the eigenvalues, rescale to unit diag
            w, v = torch.linalg.eigh(corr)
            corr = (v * w.clamp_min(1e-4)) @ v.T
            d = corr.diagonal().sqrt()
            chol = torch.linalg.cholesky(corr / d[:, None] / d[None, :])
        chol = chol.float().to(device)

    def run(a: int, z: int, start: int) -> torch.Tensor:
        kw: dict[str, Any] = {"cache": cache, "start": start} if use_cache else {}
        cnd = None if cond is None else cond[..., a:z]
        return model(seq[..., a:z], chans, subj, cnd, last_only=True, **kw)["logits"][..., -1, :]

    cur, ws = tc, max(0, tc - ctx)
    logits = run(ws, cur, 0)
    step_fn = None
    if cfg.decode is not None:
        from neuroseq.generation.decode_step import DecodeStep

        step_fn = DecodeStep(model, cache, b, c, channels=chans, subject=subj,
                             conditioned=cond is not None, mode=cfg.decode)
    for step in progress(range(n_steps), desc=desc, total=n_steps):
        if gens is not None:
            u = _per_sequence_uniforms(c, gens, chol, device)
        else:
            u = None if chol is None else _coupled_uniforms(b, c, chol, gen)
        seq[..., cur] = sample_logits(logits.reshape(b * c, -1), cfg, gen, u).view(b, c)
        cur += 1
        if step == n_steps - 1:
            break
        if step_fn is not None:  # a fixed-shape step (rolling cache)
            logits = step_fn(seq[..., cur - 1:cur],
                             None if cond is None else cond[..., cur - 1:cur])
        elif rolling:  # one token in, the oldest position out
            logits = run(cur - 1, cur, cache.length)
        elif cur - ws > ctx:  # window full: restart it from its last ctx - shift tokens
            ws = cur - (ctx - shift)
            if cache is not None:
                cache.reset()
            logits = run(ws, cur, 0)
        elif cache is not None:
            logits = run(cur - 1, cur, cur - 1 - ws)
        else:
            logits = run(ws, cur, 0)
    return seq[..., tc:]
