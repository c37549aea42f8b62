"""EEGPT / BrainGPT (Yue et al., arXiv 2410.19779): autoregressive, electrode-wise.

Facts and ambiguities: ``../shared/research/gpt2meg_eegpt.md`` §2.  Not Wang et al.'s masked
EEGPT (braindecode's ``EEGPT``).

* :class:`ETE` — Electrode Temporal Encoder.  Every electrode is its own sequence of 1 s patches
  (``patch_len`` samples, hop ``stride``); a learned electrode embedding is the prefix token; a
  causal transformer (RMSNorm, SwiGLU, RoPE — v1 of the paper leaves norm and positions open)
  and a light MLP predict the next continuous patch.  A learned summary token appended at the
  end gives one vector per electrode.
* :class:`TEG` — Task-shared Electrode Graph: one global graph with a learnable node per
  electrode; a sample activates its electrodes' subgraph (mask β); graph attention
  α = ReLU(aᵀ[W h_m ‖ W h_n]) normalised over active neighbours; pre-norm residual layers;
  the active nodes are mean-pooled into per-task heads.
* :class:`EEGPT` — ETE + TEG for classification; ETE frozen (all but its summary token) or
  fine-tuned (``freeze_ete``); each electrode's vector pooled from the patch outputs
  (``pooling``: mean, attention or the summary token).

**Stride.**  Reviewers read the paper's appendix as 1 s patches (256 samples at 256 Hz) every
0.125 s, so a "next" patch shares 7/8 of its samples with the current one.  Our default stride is
the patch length (no overlap), which makes next-patch prediction a real forecast; pass
``stride=patch_len // 8`` for the reviewers' reading.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroseq.models.hub import HubModel
from neuroseq.models.layers import RopeBlock, SwiGLU
from neuroseq.models.signal_args import renamed

PRESETS: dict[str, dict[str, int]] = {  # paper table (v2): ETE layers, TEG layers, width, heads
    "tiny": {"n_layers": 2, "graph_layers": 2, "d_model": 32, "n_heads": 2},
    "base": {"n_layers": 3, "graph_layers": 3, "d_model": 128, "n_heads": 4},
    "large": {"n_layers": 9, "graph_layers": 3, "d_model": 256, "n_heads": 8},
    "huge": {"n_layers": 12, "graph_layers": 4, "d_model": 896, "n_heads": 14},
    "giant": {"n_layers": 20, "graph_layers": 4, "d_model": 1792, "n_heads": 28},
}


def patchify(x: torch.Tensor, patch_len: int, stride: int) -> torch.Tensor:
    """``[..., T]`` → ``[..., P, patch_len]`` with hop ``stride`` (trailing samples dropped)."""
    if x.shape[-1] < patch_len:
        raise ValueError(f"{x.shape[-1]} samples are fewer than one patch of {patch_len}.")
    return x.unfold(-1, patch_len, stride)


class ETE(nn.Module, HubModel):
    """Electrode Temporal Encoder: per-electrode causal transformer over signal patches.

    Parameters
    ----------
    n_chans : int
        Rows of the electrode embedding (:class:`~neuroseq.models.electrodes.ElectrodeVocab`).
    patch_len, stride : int
        Samples per patch (1 s) and hop between patches (see the module note on stride).
    d_model, n_layers, n_heads : int | None
        Size (from ``preset`` unless given).
    max_patches : int
        Longest patch sequence (sanity bound; RoPE itself has no table).
    preset : str | None
        ``tiny``, ``base`` (≈ 1.5 M with TEG), ``large``, ``huge``, ``giant``.
    bidirectional : bool
        Attend both ways even without a mask: an ETE pretrained MAE-style is built (and saved)
        with it, so it runs downstream as it was pretrained.  Next-patch prediction refuses it.
    horizon : int
        Patches predicted ahead from each position (``pred_ahead``); 1 is the paper.
    input_norm : str
        ``"none"`` (the store's per-recording scaling, the paper) or ``"window"``: each
        electrode's window is centred and divided by its own standard deviation first, so the
        task is the signal's shape, not its level.  Saved with the weights, so downstream use
        sees what pretraining saw.
    """

    def __init__(self, n_chans: int | None = None, patch_len: int = 256,
                 stride: int | None = None, d_model: int | None = None,
                 n_layers: int | None = None, n_heads: int | None = None, max_patches: int = 512,
                 dropout: float = 0.0, preset: str | None = "base", bidirectional: bool = False,
                 horizon: int = 1, input_norm: str = "none", *,
                 n_electrodes: int | None = None) -> None:
        super().__init__()
        if n_chans is None and n_electrodes is None:
            n_chans = 777
        n_electrodes = renamed("ETE", "n_chans", n_chans, "n_electrodes", n_electrodes)
        p = dict(PRESETS[preset]) if preset else {}
        self.d_model = d_model or p["d_model"]
        self.n_layers = n_layers or p["n_layers"]
        self.n_heads = n_heads or p["n_heads"]
        self.patch_len, self.stride = patch_len, stride or patch_len
        self.max_patches, self.n_electrodes = max_patches, n_electrodes
        self.bidirectional = bool(bidirectional)
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1 patch, got {horizon}.")
        if input_norm not in ("none", "window"):
            raise ValueError(f"input_norm must be 'none' or 'window', got {input_norm!r}.")
        self.horizon, self.input_norm = int(horizon), input_norm
        e = self.d_model
        self.embed = nn.Linear(patch_len, e)
        self.electrode = nn.Embedding(n_electrodes, e)
        self.summary = nn.Parameter(torch.zeros(e))
        self.mask_token = nn.Parameter(torch.zeros(e))  # MAE-style pretraining only
        self.blocks = nn.ModuleList(RopeBlock(e, self.n_heads, dropout)
                                    for _ in range(self.n_layers))
        self.norm = nn.RMSNorm(e)
        self.head = nn.Sequential(nn.Linear(e, e), nn.GELU(),
                                  nn.Linear(e, patch_len * self.horizon))
        nn.init.normal_(self.summary, 0.0, 0.02)
        nn.init.normal_(self.electrode.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, electrodes: torch.Tensor,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Encode ``x [B, E, T]`` (samples) of electrodes ``[B, E]`` (vocabulary rows).

        Returns ``patches [B, E, P, L]`` (after ``input_norm``), ``pred [B, E, P, L]`` (the
        prediction of patch ``p + 1`` made after reading patches ``0…p``; the last one forecasts
        beyond the input), ``pred_ahead [B, E, P, horizon, L]`` (patches ``p + 1 … p + horizon``)
        ``summary [B, E, D]`` (output at the appended summary token) and ``hidden
        [B, E, P, D]`` (the outputs at the patches: what pretraining trains).

        With ``mask [B, E, P]`` (True = hidden) the same network runs MAE-style for the
        AR-vs-MAE comparison: hidden patches become a learned mask token, attention is
        bidirectional, and ``pred[..., p, :]`` reconstructs patch ``p`` itself.
        """
        b, c, _ = x.shape
        if self.input_norm == "window":
            x = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True).clamp_min(1e-6)
        patches = patchify(x, self.patch_len, self.stride)  # [B, E, P, L]
        n_p = patches.shape[2]
        if n_p > self.max_patches:
            raise ValueError(f"{n_p} patches exceed max_patches={self.max_patches}.")
        if electrodes.shape != (b, c):
            raise ValueError(f"electrodes must be [B, E] = {(b, c)}, got "
                             f"{tuple(electrodes.shape)}.")
        tok = self.embed(patches.reshape(b * c, n_p, -1))
        if mask is not None:
            m = mask.reshape(b * c, n_p, 1).to(tok.dtype)
            tok = tok * (1 - m) + self.mask_token * m
        pre = self.electrode(electrodes).reshape(b * c, 1, -1)
        h = torch.cat([pre, tok, self.summary.expand(b * c, 1, -1)], dim=1)
        causal = mask is None and not self.bidirectional
        for blk in self.blocks:
            h = blk(h, causal=causal)
        h = self.norm(h)
        ahead = self.head(h[:, 1:n_p + 1]).view(b, c, n_p, self.horizon, -1)
        return {"patches": patches, "pred": ahead[:, :, :, 0], "pred_ahead": ahead,
                "summary": h[:, -1].view(b, c, -1), "hidden": h[:, 1:n_p + 1].view(b, c, n_p, -1)}


class GraphLayer(nn.Module):
    """Pre-norm graph attention over the active electrode nodes, with a residual.

    α_mn = ReLU(aᵀ[W h_m ‖ W h_n]) for m, n both active (β_mn = 1), normalised over n.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(d_model)
        self.w = nn.Linear(d_model, d_model, bias=False)
        self.a_src = nn.Parameter(torch.randn(d_model) * 0.02)
        self.a_dst = nn.Parameter(torch.randn(d_model) * 0.02)
        self.ffn = SwiGLU(d_model, 2 * d_model)
        self.n2 = nn.RMSNorm(d_model)

    def forward(self, h: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        wh = self.w(self.norm(h))  # [B, E, D]
        score = F.relu((wh @ self.a_src)[:, :, None] + (wh @ self.a_dst)[:, None, :])
        beta = (active[:, :, None] & active[:, None, :]).to(score.dtype)
        alpha = score * beta
        alpha = alpha / (alpha.sum(-1, keepdim=True) + 1e-6)
        h = h + (alpha @ wh) * active[..., None]
        return h + self.ffn(self.n2(h)) * active[..., None]


class TEG(nn.Module):
    """Task-shared Electrode Graph with per-task classification heads.

    Parameters
    ----------
    n_electrodes : int
        Nodes of the global graph (one learnable vector per electrode).
    d_model : int
    n_layers : int
        Graph-attention layers (K).
    tasks : dict[str, int]
        Task name → number of classes.
    """

    def __init__(self, n_electrodes: int, d_model: int, n_layers: int,
                 tasks: dict[str, int]) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("TEG needs at least one task (name → number of classes).")
        self.tasks = dict(tasks)
        self.nodes = nn.Embedding(n_electrodes, d_model)
        nn.init.normal_(self.nodes.weight, 0.0, 0.02)
        self.layers = nn.ModuleList(GraphLayer(d_model) for _ in range(n_layers))
        self.norm = nn.RMSNorm(d_model)
        self.heads = nn.ModuleDict({t: nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(),
                                                     nn.Linear(d_model, k))
                                    for t, k in self.tasks.items()})

    def forward(self, z: torch.Tensor, electrodes: torch.Tensor,
                active: torch.Tensor) -> torch.Tensor:
        """Pooled graph features ``[B, D]`` of electrode vectors ``z [B, E, D]``; ``active``
        ``[B, E]`` is False for padding (those nodes neither send nor receive)."""
        active = active.bool()
        if not bool(active.any(-1).all()):
            raise ValueError("every sample needs at least one active electrode.")
        h = (self.nodes(electrodes) + z) * active[..., None]
        for layer in self.layers:
            h = layer(h, active)
        h = self.norm(h) * active[..., None]
        return h.sum(1) / active.sum(1, keepdim=True)

    def logits(self, pooled: torch.Tensor, task: str) -> torch.Tensor:
        """Class scores of one task."""
        if task not in self.heads:
            raise KeyError(f"unknown task {task!r}; this model has {sorted(self.heads)}.")
        return self.heads[task](pooled)


POOLINGS = ("mean", "attention", "summary")


class EEGPT(nn.Module, HubModel):
    """ETE + TEG for (multi-task) classification of windows ``[B, E, T]``.

    ``freeze_ete=True`` (the v2 paper) trains only TEG and the heads; False fine-tunes all.
    ``ete_kwargs`` configure the encoder (its ``preset`` also sets the TEG depth).
    ``feature_norm=True`` standardises the ETE summaries (batch norm without affine over the
    active electrodes of a batch, running statistics at test time) before TEG, as MAE's linear
    probing does (He et al. 2022): pretrained summaries can differ across samples by a small
    fraction of their common offset, which leaves a graph trained on them at chance.

    ``pooling`` turns each electrode's ETE outputs into one vector: ``"mean"`` of the patch
    outputs (what pretraining trained), ``"attention"`` (a learned query over them, trained
    downstream) or ``"summary"`` (the appended summary token: the paper's reading, untrained by
    next-patch pretraining).  ``amplitude=True`` adds a learned projection of each electrode's
    log RMS, which the ETE's final RMSNorm otherwise removes.
    """

    def __init__(self, tasks: dict[str, int], n_chans: int | None = None,
                 preset: str | None = "base", freeze_ete: bool = True,
                 graph_layers: int | None = None, feature_norm: bool = False,
                 pooling: str = "mean", amplitude: bool = False, *,
                 n_electrodes: int | None = None, **ete_kwargs: Any) -> None:
        super().__init__()
        if n_chans is None and n_electrodes is None:
            n_chans = 777
        n_electrodes = renamed("EEGPT", "n_chans", n_chans, "n_electrodes", n_electrodes)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        self.ete = ETE(n_chans=n_electrodes, preset=preset, **ete_kwargs)
        self.pooling = pooling
        d = self.ete.d_model
        self.pool_query = nn.Parameter(torch.randn(d) * 0.02) if pooling == "attention" \
            else None
        self.amplitude = nn.Linear(1, d) if amplitude else None
        k = graph_layers or (PRESETS[preset]["graph_layers"] if preset else 3)
        self.feature_norm = nn.BatchNorm1d(self.ete.d_model, affine=False) \
            if feature_norm else None
        self.teg = TEG(n_electrodes, self.ete.d_model, k, tasks)
        self.freeze_ete = freeze_ete
        self.set_freeze(freeze_ete)

    def set_freeze(self, freeze: bool) -> None:
        """Freeze the ETE's weights except the summary token ``c``, which the paper describes
        as learnable at fine-tuning (appended after pretraining, where it gets no gradient)."""
        self.freeze_ete = freeze
        self.ete.requires_grad_(not freeze)
        self.ete.summary.requires_grad_(True)

    def pool(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """One vector per electrode ``[B, E, D]`` from the ETE's outputs (see ``pooling``)."""
        if self.pooling == "summary":
            return out["summary"]
        h = out["hidden"]  # [B, E, P, D]
        if self.pooling == "mean":
            return h.mean(2)
        w = torch.softmax(h @ self.pool_query / h.shape[-1] ** 0.5, dim=2)  # [B, E, P]
        return (w.unsqueeze(-1) * h).sum(2)

    def electrode_features(self, x: torch.Tensor, electrodes: torch.Tensor,
                           active: torch.Tensor) -> torch.Tensor:
        """What the graph reads: one vector per electrode ``[B, E, D]`` (pooled ETE outputs,
        plus the log-RMS projection with ``amplitude``, standardised with ``feature_norm``)."""
        if self.freeze_ete:
            self.ete.eval()  # frozen weights: no dropout; gradients still reach the summary token
        z = self.pool(self.ete(x, electrodes))
        if self.amplitude is not None:
            rms = x.pow(2).mean(-1, keepdim=True).clamp_min(1e-12).sqrt()
            z = z + self.amplitude(rms.log())
        if self.feature_norm is not None:
            act = active.bool()
            z = z.masked_scatter(act[..., None], self.feature_norm(z[act]))
        return z

    def forward(self, x: torch.Tensor, electrodes: torch.Tensor, active: torch.Tensor,
                tasks: str | list[str]) -> torch.Tensor:
        """Logits for a batch whose samples may belong to different tasks.

        ``x [B, E, T]`` is zero-padded to the batch's largest electrode set, ``active [B, E]``
        marks real electrodes and ``tasks`` names each sample's task (or one for all).  Returns
        ``[B, K]`` with ``K`` the largest class count in the batch; scores of classes a
        sample's task does not have are ``-inf`` (so cross-entropy ignores them).
        """
        b = x.shape[0]
        names = [tasks] * b if isinstance(tasks, str) else list(tasks)
        if len(names) != b:
            raise ValueError(f"{len(names)} task names for {b} samples.")
        z = self.electrode_features(x, electrodes, active)
        pooled = self.teg(z, electrodes, active)
        k = max(self.teg.tasks[t] if t in self.teg.tasks else 0 for t in names)
        out = pooled.new_full((b, k), float("-inf"))
        for t in dict.fromkeys(names):
            rows = torch.tensor([i for i, n in enumerate(names) if n == t], device=x.device)
            out[rows, : self.teg.tasks.get(t, 0)] = self.teg.logits(pooled[rows], t)
        return out
