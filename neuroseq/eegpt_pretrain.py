"""EEGPT electrode-wise pretraining runs (``neuroseq pretrain`` with ``system: eegpt``).

Windows of ``data.patches`` patches of ``model.patch_len`` samples (1 s at the store's rate)
are cut from the store's train split (``data.fraction`` < 1 keeps a seeded random subset of
them, for data-scaling sweeps); every channel is one sequence for the ETE, named through
the shared :class:`~neuroseq.models.electrodes.ElectrodeVocab`.  The objective is next-patch
MSE (``objective.kind: next_patch``, the paper) or masked-patch MSE (``masked``, for the
AR-vs-MAE comparison).  The run directory has the same layout as GPT2MEG runs (no tokenizer).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from neuroseq._logging import logger
from neuroseq.config import save_config
from neuroseq.data.windows import WindowDataset, pad_collate
from neuroseq.errors import NeuroseqError
from neuroseq.models.eegpt import ETE
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.objectives.patch import MaskedPatchObjective, NextPatchObjective
from neuroseq.training import TaskModule, fit
from neuroseq.training.loader import ResumableLoader


class ElectrodeCollate:
    """:func:`pad_collate`, then corpus channel rows → vocabulary rows (``electrodes``) and
    ``active`` (real electrodes)."""

    def __init__(self, vocab_ids: torch.Tensor) -> None:
        self.vocab_ids = vocab_ids

    def __call__(self, items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        b = pad_collate(items)
        return {"x": b["x"], "electrodes": self.vocab_ids[b["channels"]],
                "active": b["mask"].bool()}


def objective_from(cfg: dict[str, Any]) -> Any:
    """The pretraining objective named in ``cfg["objective"]``."""
    o = dict(cfg["objective"])
    kind = o.pop("kind", "next_patch")
    o.pop("loss_from", None)  # a GPT2MEG default, meaningless here
    if kind == "next_patch":
        return NextPatchObjective()
    if kind == "masked":
        return MaskedPatchObjective(**o)
    raise NeuroseqError(f"objective.kind {kind!r} is not an EEGPT objective; use next_patch "
                        "or masked.")


def subset(ds: Any, fraction: float, seed: int) -> Any:
    """``ds`` itself, or a seeded random ``fraction`` of its items (at least one)."""
    if not 0.0 < fraction <= 1.0:
        raise NeuroseqError(f"data.fraction must be in (0, 1], got {fraction}.")
    if fraction == 1.0:
        return ds
    k = max(1, int(round(fraction * len(ds))))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:k]
    return torch.utils.data.Subset(ds, sorted(idx.tolist()))


@torch.no_grad()
def mean_loss(model: torch.nn.Module, objective: Any, loader: Any) -> float:
    """Objective value averaged over a loader's batches (weighted by batch size), eval mode."""
    was = model.training
    model.eval()
    total, n = 0.0, 0
    for batch in loader:
        loss, _ = objective(model, batch)
        k = len(batch["x"])
        total, n = total + float(loss) * k, n + k
    model.train(was)
    return total / max(n, 1)


def pretrain_eegpt(cfg: dict[str, Any], run_dir: str | Path, *, resume: bool = True) -> Path:
    """Train an ETE on the store in ``data.store``; returns the run directory."""
    from neuroseq.pretrain import start_run

    t0 = time.perf_counter()
    run, store, tcfg = start_run(cfg, run_dir)
    mkw = {k: v for k, v in cfg["model"].items() if k != "kind"}
    if cfg["model"].get("kind") != "eegpt_ete":
        raise NeuroseqError("system eegpt pretrains model.kind=eegpt_ete.")
    vocab = ElectrodeVocab()
    model = ETE(n_electrodes=len(vocab), **mkw)
    n_patches = int(cfg["data"].get("patches") or 4)
    window = model.patch_len + (n_patches - 1) * model.stride
    d = cfg["data"]
    train = WindowDataset(store, window, d["stride"] or window // 2, split="train")
    train_set = subset(train, float(d.get("fraction") or 1.0), tcfg.seed)
    val = None
    try:
        val = WindowDataset(store, window, window, split="val",
                            channel_vocab=train.channel_vocab, subject_map=train.subject_map)
    except Exception as e:  # noqa: BLE001 - a split may be too short for a window
        logger.warning("no val windows (%s)", e)
    collate = ElectrodeCollate(vocab.ids(train.channel_vocab))
    meta = {"model_kind": "eegpt_ete", "sfreq": train.sfreq, "window": window,
            "channel_vocab": train.channel_vocab, "vocab_size": len(vocab),
            "split_sha256": store.split.hash if store.split else None, "store": str(store.path)}
    (run / "meta.json").write_text(json.dumps(meta, indent=1))
    save_config(cfg, run / "config.yaml")
    module = TaskModule(model, objective_from(cfg), max_steps=tcfg.max_steps, **cfg["optim"])
    train_dl = ResumableLoader(train_set, d["batch_size"], seed=tcfg.seed, collate_fn=collate,
                               num_workers=d["num_workers"],
                               drop_last=len(train_set) >= 2 * d["batch_size"])
    val_dl = None if val is None else torch.utils.data.DataLoader(val, d["batch_size"],
                                                                  collate_fn=collate)
    fit(module, train_dl, val_dl, run_dir=run, cfg=tcfg, resume=resume, extra_config=cfg,
        split_hash=meta["split_sha256"])
    if val_dl is not None:  # the final validation loss, for sweeps and comparisons
        info = json.loads((run / "run.json").read_text())
        info["final_val_loss"] = mean_loss(model, module.objective, val_dl)
        info["n_train_windows"] = len(train_set)
        (run / "run.json").write_text(json.dumps(info, indent=1, default=str))
    model.save_pretrained(run / "model")
    logger.info("EEGPT pretraining done in %.1f s: %s", time.perf_counter() - t0, run)
    return run
