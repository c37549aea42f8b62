"""EEGPT, autoregressive (Yue et al., arXiv 2410.19779), as a system declaration.

``pretrain``: windows of ``data.patches`` one-second patches from the train split (a seeded
``data.fraction`` of them for data-scaling sweeps); every channel is one sequence for the
electrode temporal encoder (ETE), named by the shared electrode vocabulary; next-patch MSE
(``objective.kind: next_patch``, the paper) or masked-patch MSE (``masked``, the MAE arm).

``finetune``: ETE (from ``model.pretrained`` or scratch, frozen or tuned) + task-shared
electrode graph (TEG) on ``data.tasks``; ``data.mode: within`` trains on the train split and
tests on the test split, ``cross`` on disjoint ``data.train_recordings`` /
``data.test_recordings``.  Balanced accuracy per task, with chance, goes to ``results.json``.
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs
from neuroseq.data.windows import WindowDataset
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation.classification import task_accuracies
from neuroseq.models.eegpt import EEGPT, ETE
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.objectives.patch import MaskedPatchObjective, MultiTaskObjective, NextPatchObjective
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"patches": None, "stride": None, "fraction": 1.0, "tasks": None, "tmin": 0.0,
             "tmax": 1.0, "mode": "within", "train_recordings": None, "test_recordings": None},
    "model": {"kind": "eegpt_ete"},
    "objective": {"kind": "next_patch"},
}


@functools.cache
def vocabulary() -> ElectrodeVocab:
    """The shared electrode vocabulary (10-05 EEG, MEGIN MEG, BioSemi-128)."""
    return ElectrodeVocab()


def subset(ds: Any, fraction: float, seed: int) -> Any:
    """``ds`` itself, or a seeded random ``fraction`` of its items (at least one)."""
    if not 0.0 < fraction <= 1.0:
        raise NeuroseqError(f"data.fraction must be in (0, 1], got {fraction}.")
    if fraction == 1.0:
        return ds
    k = max(1, int(round(fraction * len(ds))))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:k]
    return Subset(ds, sorted(idx.tolist()))


def _ete_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg["model"].get("kind") != "eegpt_ete":
        raise NeuroseqError("EEGPT pretraining trains model.kind=eegpt_ete.")
    return {k: v for k, v in cfg["model"].items() if k != "kind"}


def pretrain_datasets(ctx: RunContext) -> dict[str, Any]:
    """Patch windows of the train split (a ``data.fraction`` of them) and of the val split."""
    d, store, kw = ctx.cfg["data"], ctx.store, _ete_kwargs(ctx.cfg)
    patch_len = int(kw.get("patch_len", 256))
    window = patch_len + (int(d["patches"] or 4) - 1) * int(kw.get("stride") or patch_len)
    train = WindowDataset(store, window, d["stride"] or window // 2, split="train",
                          vocab=vocabulary())
    out = {"train": subset(train, float(d["fraction"] or 1.0), ctx.train.seed)}
    if WindowDataset.fits(store, window, "val"):
        out["val"] = WindowDataset(store, window, window, split="val", vocab=vocabulary(),
                                   channel_vocab=train.channel_vocab,
                                   subject_map=train.subject_map)
    ctx.meta |= {"model_kind": "eegpt_ete", "sfreq": train.sfreq, "window": window,
                 "channel_vocab": train.channel_vocab, "vocab_size": len(vocabulary())}
    return out


def pretrain_objective(ctx: RunContext) -> Any:
    """Next-patch (paper) or masked-patch MSE, from ``objective.kind``."""
    o = dict(ctx.cfg["objective"])
    kind = o.pop("kind", "next_patch")
    if kind == "next_patch":
        return NextPatchObjective()
    if kind == "masked":
        return MaskedPatchObjective(**o)
    raise NeuroseqError(f"objective.kind {kind!r} is not an EEGPT objective; use next_patch "
                        "or masked.")


def task_datasets(ctx: RunContext) -> dict[str, MultiTaskEpochs]:
    """Train and test epochs of every task for the configured mode."""
    d, store = ctx.cfg["data"], ctx.store
    spec = d.get("tasks")
    if spec == "pylossless":
        tasks = PYLOSSLESS_TASKS
    elif isinstance(spec, dict) and spec:
        tasks = {str(t): {str(k): int(v) for k, v in m.items()} for t, m in spec.items()}
    else:
        raise NeuroseqError("data.tasks must be 'pylossless' or {task: {event value: label}}.")
    kw = {"tmin": float(d["tmin"]), "tmax": float(d["tmax"]), "vocab": vocabulary()}
    if d["mode"] == "within":
        sets = {"train": MultiTaskEpochs(store, tasks, split="train", **kw),
                "test": MultiTaskEpochs(store, tasks, split="test", **kw)}
    elif d["mode"] == "cross":
        tr, te = d.get("train_recordings"), d.get("test_recordings")
        if not tr or not te or set(tr) & set(te):
            raise NeuroseqError("cross-subject mode needs disjoint data.train_recordings and "
                                f"data.test_recordings (recordings: {store.ids}).")
        sets = {"train": MultiTaskEpochs(store, tasks, split=None, recordings=list(tr), **kw),
                "test": MultiTaskEpochs(store, tasks, split=None, recordings=list(te), **kw)}
    else:
        raise NeuroseqError(f"data.mode must be 'within' or 'cross', got {d['mode']!r}.")
    ctx.meta |= {"model_kind": "eegpt", "sfreq": store.sfreq(store.ids[0]),
                 "tasks": sets["train"].n_classes}
    return sets


def build_eegpt(ctx: RunContext) -> EEGPT:
    """ETE + TEG sized for the tasks; the ETE loaded from ``model.pretrained`` when given."""
    m = dict(ctx.cfg["model"])
    pretrained = m.pop("pretrained", None)
    freeze = bool(m.pop("freeze_ete", pretrained is not None))
    m.pop("kind", None)
    model = EEGPT(ctx.meta["tasks"], n_electrodes=len(vocabulary()), freeze_ete=freeze, **m)
    if pretrained:
        with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints a notice
            ete = ETE.from_pretrained(Path(pretrained) / "model")
        if (ete.d_model, ete.patch_len) != (model.ete.d_model, model.ete.patch_len):
            raise NeuroseqError(f"the pretrained ETE (width {ete.d_model}, patch {ete.patch_len})"
                                f" does not match model.preset/patch_len "
                                f"({model.ete.d_model}, {model.ete.patch_len}).")
        model.ete.load_state_dict(ete.state_dict())
        model.set_freeze(freeze)
    return model


def evaluate_tasks(ctx: RunContext, model: EEGPT, sets: dict[str, Any]) -> dict[str, Any]:
    """Balanced accuracy per task on the test epochs, with chance and the run's settings."""
    res = {"mode": ctx.cfg["data"]["mode"], "pretrained": ctx.cfg["model"].get("pretrained"),
           "freeze_ete": model.freeze_ete, "seed": ctx.train.seed, "n_train": len(sets["train"]),
           "tasks": task_accuracies(model, sets["test"])}
    res["mean_balanced_accuracy"] = float(np.mean([v["balanced_accuracy"]
                                                   for v in res["tasks"].values()]))
    return res


SYSTEM = System(
    name="eegpt",
    description="electrode-wise next-patch transformer (ETE) + task-shared electrode graph",
    defaults=DEFAULTS,
    stages={
        "pretrain": Stage(datasets=pretrain_datasets,
                          model=lambda ctx: ETE(n_electrodes=len(vocabulary()),
                                                **_ete_kwargs(ctx.cfg)),
                          objective=pretrain_objective, models={"eegpt_ete": ETE},
                          final_val_loss=True),
        "finetune": Stage(datasets=task_datasets, model=build_eegpt,
                          objective=lambda ctx: MultiTaskObjective(), models={"eegpt": EEGPT},
                          evaluate=evaluate_tasks),
    },
)
