"""Pretraining runs of token models (GPT2MEG, WaveNet) and the linear-AR baseline on a store.

A run directory holds everything needed to generate or evaluate later::

    RUN/config.yaml        resolved configuration
    RUN/meta.json          channel vocabulary, subject and condition maps, split hash
    RUN/tokenizer/         the fitted tokenizer (config.json + state.safetensors)
    RUN/model/             final weights (config.json + model.safetensors)
    RUN/checkpoints/       Lightning last.ckpt / best.ckpt (resume)
    RUN/run.json           seed, versions, metrics, checkpoint SHA-256
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroseq._logging import logger
from neuroseq.config import save_config, train_config
from neuroseq.data.store import Store
from neuroseq.data.windows import TokenCollate, WindowDataset
from neuroseq.errors import NeuroseqError
from neuroseq.models.gpt2meg import GPT2MEG
from neuroseq.models.linear_ar import LinearAR
from neuroseq.models.wavenet import WaveNet
from neuroseq.objectives.next_token import NextTokenObjective
from neuroseq.tokenizers import MuLawTokenizer, Tokenizer
from neuroseq.training import TaskModule, fit
from neuroseq.training.loader import ResumableLoader

TOKEN_MODELS: dict[str, type[nn.Module]] = {"gpt2meg": GPT2MEG, "wavenet": WaveNet}


def open_store(cfg: dict[str, Any]) -> Store:
    """The store named in ``data.store``."""
    path = cfg["data"].get("store")
    if not path:
        raise NeuroseqError("no data: set data.store=PATH (a store made by `neuroseq prepare` "
                            "or `neuroseq quickstart`).")
    if not Path(path).exists():
        raise NeuroseqError(f"store {path} does not exist; make it with `neuroseq prepare`.")
    return Store(path)


def build_model(cfg: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
    """Model from ``cfg["model"]`` sized by the data's channel/subject/condition counts."""
    kw = dict(cfg["model"])
    kind = kw.pop("kind")
    sizes = {"n_chans": len(meta["channel_vocab"]), "sfreq": meta["sfreq"]}
    if kind == "linear_ar":
        return LinearAR(**sizes, **kw)
    if kind not in TOKEN_MODELS:
        raise NeuroseqError(f"unknown model.kind {kind!r}; use one of "
                            f"{sorted(TOKEN_MODELS) + ['linear_ar']}.")
    if kw.pop("value_embedding", False):
        if kind != "gpt2meg" or "value_grid" not in meta:
            raise NeuroseqError("model.value_embedding needs a gpt2meg model and a tokenizer "
                                "value grid.")
        kw["value_grid"] = meta["value_grid"]
    sizes |= {"n_subjects": len(meta["subject_map"]),
              "n_conditions": max(meta["condition_map"].values(), default=0) + 1,
              "n_vocab": meta["vocab_size"]}
    return TOKEN_MODELS[kind](**sizes, **kw)


def _datasets(cfg: dict[str, Any], store: Store, window: int) -> dict[str, WindowDataset]:
    d = cfg["data"]
    train = WindowDataset(store, window, d["stride"], split="train",
                          condition_map=d["condition_map"],
                          condition_seconds=d["condition_seconds"])
    out = {"train": train}
    for split in ("val", "test"):
        try:
            out[split] = WindowDataset(store, window, d["stride"], split=split,
                                       condition_map=train.condition_map,
                                       condition_seconds=d["condition_seconds"],
                                       subject_map=train.subject_map,
                                       channel_vocab=train.channel_vocab)
        except Exception as e:  # noqa: BLE001 - a split may be too short for a window
            logger.warning("no %s windows (%s)", split, e)
    return out


def fit_ar(model: LinearAR, tok: MuLawTokenizer, ds: WindowDataset) -> LinearAR:
    """Least squares on the train split, in the tokenizer's normalised domain."""
    segs = []
    for rid in ds.corpus.ids:
        for a, b in ds.corpus.split.spans(rid, "train") if ds.corpus.split else [(0, None)]:
            sf = ds.corpus.sfreq(rid)
            x = ds.corpus.read(rid, int(round(a * sf)), None if b is None else int(round(b * sf)))
            if x.shape[1] > model.order + 1:
                segs.append(tok.normalise(torch.from_numpy(np.ascontiguousarray(x))).numpy())
    return model.fit(segs)


def start_run(cfg: dict[str, Any], run_dir: str | Path) -> tuple[Path, Store, Any]:
    """Create the run directory, open the store, seed torch; ``(run, store, train config)``."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    store = open_store(cfg)
    tcfg = train_config(cfg)
    torch.manual_seed(tcfg.seed)
    return run, store, tcfg


def pretrain(cfg: dict[str, Any], run_dir: str | Path, *, resume: bool = True) -> Path:
    """Fit the tokenizer, build the model and train it; returns the run directory."""
    t0 = time.perf_counter()
    run, store, tcfg = start_run(cfg, run_dir)
    if (run / "tokenizer").is_dir() and resume:
        tok = Tokenizer.from_pretrained(run / "tokenizer")
    else:
        kw = {k: v for k, v in cfg["tokenizer"].items() if k != "kind"}
        if cfg["tokenizer"]["kind"] != "mulaw":
            raise NeuroseqError("pretraining token models supports tokenizer.kind=mulaw for now.")
        tok = MuLawTokenizer(**kw).fit(store, split="train")
        tok.save_pretrained(run / "tokenizer")
    kind = cfg["model"]["kind"]
    window = int(cfg["data"]["window"] or 257)
    sets = _datasets(cfg, store, window)
    train = sets["train"]
    meta = {"channel_vocab": train.channel_vocab, "subject_map": train.subject_map,
            "condition_map": train.condition_map, "sfreq": train.sfreq,
            "vocab_size": tok.vocab_size, "window": window, "model_kind": kind,
            "value_grid": [float(v) for v in tok.values()],
            "split_sha256": store.split.hash if store.split else None, "store": str(store.path)}
    (run / "meta.json").write_text(json.dumps(meta, indent=1))
    save_config(cfg, run / "config.yaml")
    model = build_model(cfg, meta)
    if not isinstance(model, LinearAR) and window - 1 > model.context:
        raise NeuroseqError(f"data.window={window} needs a context of {window - 1} but the "
                            f"model's is {model.context}; set data.window={model.context + 1}.")
    if isinstance(model, LinearAR):
        fit_ar(model, tok, train)
    else:
        obj = NextTokenObjective(cfg["objective"]["loss_from"], grid=tok.values())
        module = TaskModule(model, obj, max_steps=tcfg.max_steps, **cfg["optim"])
        d = cfg["data"]
        collate = TokenCollate(tok)
        train_dl = ResumableLoader(train, d["batch_size"], seed=tcfg.seed, collate_fn=collate,
                                   num_workers=d["num_workers"],
                                   drop_last=len(train) >= 2 * d["batch_size"])
        val_dl = None
        if "val" in sets:
            val_dl = torch.utils.data.DataLoader(sets["val"], d["batch_size"], collate_fn=collate)
        fit(module, train_dl, val_dl, run_dir=run, cfg=tcfg, resume=resume,
            extra_config=cfg, split_hash=meta["split_sha256"])
    model.save_pretrained(run / "model")
    logger.info("pretraining done in %.1f s: %s", time.perf_counter() - t0, run)
    return run


def load_run(run_dir: str | Path) -> tuple[nn.Module, MuLawTokenizer, dict[str, Any]]:
    """Model, tokenizer and meta of a finished run directory."""
    run = Path(run_dir)
    for need in ("meta.json", "tokenizer", "model"):
        if not (run / need).exists():
            raise NeuroseqError(f"{run} is not a finished run directory ({need} missing); train "
                                "it with `neuroseq pretrain`.")
    meta = json.loads((run / "meta.json").read_text())
    cls = {"linear_ar": LinearAR, **TOKEN_MODELS}[meta["model_kind"]]
    with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints a loading notice
        model = cls.from_pretrained(run / "model")
    model.eval()
    return model, Tokenizer.from_pretrained(run / "tokenizer"), meta

