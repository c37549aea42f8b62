"""GPT2MEG (Csaky et al., arXiv 2404.09256) and its baselines, as a system declaration.

One stage, ``pretrain``: fit the μ-law tokenizer on the store's train split, cut windows with
their condition timelines, and train a token model (GPT2MEG, WaveNet) on next-token
cross-entropy — or fit the linear AR in closed form.  The runner
(:func:`neuroseq.training.run.run_stage`) does the assembly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuroseq.data.collate import EncodeCollate
from neuroseq.data.splits import sample_spans
from neuroseq.data.windows import WindowDataset, window_splits
from neuroseq.errors import DataError, NeuroseqError
from neuroseq.models.gpt2meg import GPT2MEG
from neuroseq.models.linear_ar import LinearAR
from neuroseq.models.wavenet import WaveNet
from neuroseq.objectives.next_token import NextTokenObjective
from neuroseq.tokenizers import MuLawTokenizer
from neuroseq.training.run import RunContext, Stage, System

TOKEN_MODELS: dict[str, type[nn.Module]] = {"gpt2meg": GPT2MEG, "wavenet": WaveNet}
MODELS: dict[str, type[nn.Module]] = {**TOKEN_MODELS, "linear_ar": LinearAR}

DEFAULTS: dict[str, Any] = {
    "data": {"window": None, "stride": 128, "condition_map": "auto",
             "condition_seconds": 0.5},
    "tokenizer": {"kind": "mulaw", "mu": 255.0, "n_bins": 256},
    "model": {"kind": "gpt2meg"},
    "objective": {"loss_from": 0.5},
}


def setup(ctx: RunContext) -> None:
    """Fit the μ-law tokenizer on the train split (or reload the run's own on resume)."""
    if ctx.folder.has("tokenizer") and ctx.resume:
        ctx.tokenizer = ctx.folder.tokenizer()
        return
    kw = {k: v for k, v in ctx.cfg["tokenizer"].items() if k != "kind"}
    if ctx.cfg["tokenizer"]["kind"] != "mulaw":
        raise NeuroseqError("GPT2MEG pretraining supports tokenizer.kind=mulaw for now.")
    ctx.tokenizer = MuLawTokenizer(**kw).fit(ctx.store, split="train")
    ctx.folder.save_tokenizer(ctx.tokenizer)


def datasets(ctx: RunContext) -> dict[str, WindowDataset]:
    """Train windows, and val/test windows where the split has room for one."""
    d, store = ctx.cfg["data"], ctx.store
    window = int(d["window"] or 257)
    out = window_splits(store, window, d["stride"], splits=("val", "test"),
                        condition_map=d["condition_map"],
                        condition_seconds=d["condition_seconds"])
    train = out["train"]
    tok = ctx.tokenizer
    ctx.meta |= {"channel_vocab": train.channel_vocab, "subject_map": train.subject_map,
                 "condition_map": train.condition_map, "sfreq": train.sfreq,
                 "vocab_size": tok.vocab_size, "window": window,
                 "model_kind": ctx.cfg["model"]["kind"],
                 "value_grid": [float(v) for v in tok.values()]}
    return out


def build_model(ctx: RunContext) -> nn.Module:
    """Model from ``cfg["model"]`` sized by the data's channel/subject/condition counts."""
    meta, kw = ctx.meta, dict(ctx.cfg["model"])
    kind = kw.pop("kind")
    sizes = {"n_chans": len(meta["channel_vocab"]), "sfreq": meta["sfreq"]}
    if kind == "linear_ar":
        return LinearAR(**sizes, **kw)
    if kind not in TOKEN_MODELS:
        raise NeuroseqError(f"unknown model.kind {kind!r}; use one of {sorted(MODELS)}.")
    if kw.pop("value_embedding", False):
        if kind != "gpt2meg":
            raise NeuroseqError("model.value_embedding needs a gpt2meg model.")
        kw["value_grid"] = meta["value_grid"]
    sizes |= {"n_subjects": len(meta["subject_map"]),
              "n_conditions": max(meta["condition_map"].values(), default=0) + 1,
              "n_vocab": meta["vocab_size"]}
    model = TOKEN_MODELS[kind](**sizes, **kw)
    if meta["window"] - 1 > model.context:
        raise NeuroseqError(f"data.window={meta['window']} needs a context of "
                            f"{meta['window'] - 1} but the model's is {model.context}; set "
                            f"data.window={model.context + 1}.")
    return model


def objective(ctx: RunContext) -> NextTokenObjective | None:
    """Next-token cross-entropy on the last part of each window; None for the linear AR."""
    if ctx.cfg["model"]["kind"] == "linear_ar":
        return None
    return NextTokenObjective(ctx.cfg["objective"]["loss_from"], grid=ctx.tokenizer.values())


def fit_linear_ar(ctx: RunContext, model: nn.Module, sets: dict[str, Any]) -> None:
    """Least squares on the train split, in the tokenizer's normalised domain."""
    store, segs = ctx.store, []
    for rid in store.ids:
        for a, b in sample_spans(store, rid, "train" if store.split else None):
            x = store.read(rid, a, b)
            if x.shape[1] > model.order + 1:
                segs.append(ctx.tokenizer.normalise(
                    torch.from_numpy(np.ascontiguousarray(x))).numpy())
    if not segs:
        raise DataError(f"no train span is longer than the AR order {model.order}.")
    model.fit(segs)


SYSTEM = System(
    name="gpt2meg",
    description="μ-law tokens + channel-independent GPT (and WaveNet / linear-AR baselines)",
    defaults=DEFAULTS,
    stages={"pretrain": Stage(
        setup=setup, datasets=datasets, model=build_model, objective=objective,
        collate=lambda ctx: EncodeCollate(ctx.tokenizer), closed_form=fit_linear_ar,
        models=MODELS)},
    accepts={"model": (*MODELS.values(), "value_embedding"), "tokenizer": (MuLawTokenizer,),
             "objective": (NextTokenObjective,)},
)
