"""EEGPT, autoregressive (Yue et al., arXiv 2410.19779), as a system declaration.

``pretrain``: windows of ``data.patches`` one-second patches from the train split (a seeded
``data.fraction`` of them for data-scaling sweeps); every channel is one sequence for the
electrode temporal encoder (ETE), named by the shared electrode vocabulary; next-patch MSE
(``objective.kind: next_patch``, the paper) or masked-patch MSE (``masked``, the MAE arm).

``data.recordings`` restricts pretraining to some recordings (cross-subject comparisons
pretrain without the test subject).  A masked (MAE) ETE is built bidirectional and stays so
downstream.

``finetune``: ETE (from ``model.pretrained`` or scratch, frozen or tuned) + task-shared
electrode graph (TEG) on ``data.tasks``, or the EEGNet-v4 baseline (``model.kind: eegnet``);
``data.mode: within`` trains on the train split, stops early on the val split (with
``train.early_stopping_patience``) and tests on the test split; ``cross`` trains and validates
on the train and val splits of ``data.train_recordings`` and tests on all of
``data.test_recordings``.  ``data.label_fraction`` keeps a seeded, class-stratified fraction
of the training epochs of every task (the low-label regime); ``data.shuffle_labels`` permutes
the training labels within each task (a control that must score chance).  Balanced accuracy
per task, with chance, steps, epochs and wall time, goes to ``results.json``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs, RecordingSubset
from neuroseq.data.windows import WindowDataset
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation.classification import task_accuracies
from neuroseq.models.eegnet import EEGNet
from neuroseq.models.eegpt import EEGPT, ETE
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.objectives.patch import MaskedPatchObjective, MultiTaskObjective, NextPatchObjective
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"patches": None, "stride": None, "fraction": 1.0, "recordings": None,
             "tasks": None, "tmin": 0.0, "tmax": 1.0, "mode": "within",
             "train_recordings": None, "test_recordings": None, "label_fraction": 1.0,
             "shuffle_labels": False},
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


def label_subset(ds: MultiTaskEpochs, fraction: float, seed: int) -> Any:
    """``ds`` itself, or a seeded ``fraction`` of each task's epochs of each class (at least
    one per class), so every task keeps its class balance."""
    if not 0.0 < fraction <= 1.0:
        raise NeuroseqError(f"data.label_fraction must be in (0, 1], got {fraction}.")
    if fraction == 1.0:
        return ds
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for task in ds.tasks:
        start, labels = ds.first_index(task), ds.labels(task)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            k = max(1, int(round(fraction * len(idx))))
            keep += (int(start) + rng.choice(idx, k, replace=False)).tolist()
    sub = Subset(ds, sorted(keep))
    sub.tasks, sub.n_classes = ds.tasks, ds.n_classes  # what the metrics read
    return sub


class ShuffledLabels(torch.utils.data.Dataset):
    """A multi-task training set whose labels are permuted within each task (seeded): the
    control a decoder must fail on."""

    def __init__(self, ds: Any, seed: int) -> None:
        self.ds, self.tasks, self.n_classes = ds, ds.tasks, ds.n_classes
        items = [(i, ds[i]["task"], int(ds[i]["y"])) for i in range(len(ds))]
        rng = np.random.default_rng(seed)
        self.y: dict[int, int] = {}
        for t in ds.tasks:
            idx = [i for i, task, _ in items if task == t]
            for i, y in zip(idx, rng.permutation([y for _, task, y in items if task == t]),
                            strict=True):
                self.y[i] = int(y)

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.ds[i]
        return item | {"y": torch.as_tensor(self.y[i], dtype=item["y"].dtype)}


def _ete_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg["model"].get("kind") != "eegpt_ete":
        raise NeuroseqError("EEGPT pretraining trains model.kind=eegpt_ete.")
    kw = {k: v for k, v in cfg["model"].items() if k != "kind"}
    if cfg["objective"].get("kind") == "masked":  # pretrained both ways, used both ways
        kw["bidirectional"] = True
    return kw


def pretrain_datasets(ctx: RunContext) -> dict[str, Any]:
    """Patch windows of the train split (a ``data.fraction`` of them) and of the val split."""
    d, store, kw = ctx.cfg["data"], ctx.store, _ete_kwargs(ctx.cfg)
    if d.get("recordings"):
        store = RecordingSubset(store, [str(r) for r in d["recordings"]])
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
                 "channel_vocab": train.channel_vocab, "vocab_size": len(vocabulary()),
                 "recordings": list(store.ids)}
    return out


def pretrain_objective(ctx: RunContext) -> Any:
    """Next-patch (paper) or masked-patch MSE, from ``objective.kind``."""
    o = dict(ctx.cfg["objective"])
    kind = o.pop("kind", "next_patch")
    if kind == "next_patch":
        return NextPatchObjective(**o)
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
        fit_on = test_on = None
    elif d["mode"] == "cross":
        fit_on, test_on = d.get("train_recordings"), d.get("test_recordings")
        if not fit_on or not test_on or set(fit_on) & set(test_on):
            raise NeuroseqError("cross-subject mode needs disjoint data.train_recordings and "
                                f"data.test_recordings (recordings: {store.ids}).")
        fit_on, test_on = list(fit_on), list(test_on)
    else:
        raise NeuroseqError(f"data.mode must be 'within' or 'cross', got {d['mode']!r}.")
    train = MultiTaskEpochs(store, tasks, split="train", recordings=fit_on, **kw)
    fit_set = label_subset(train, float(d.get("label_fraction") or 1.0), ctx.train.seed)
    if d.get("shuffle_labels"):
        fit_set = ShuffledLabels(fit_set, ctx.train.seed)
    sets: dict[str, Any] = {
        "train": fit_set,
        "test": MultiTaskEpochs(store, tasks, split="test" if test_on is None else None,
                                recordings=test_on, **kw)}
    if store.split is not None:
        val = MultiTaskEpochs(store, tasks, split="val", recordings=fit_on, **kw)
        if len(val):
            sets["val"] = val
    ctx.meta |= {"model_kind": _finetune_kind(ctx.cfg),
                 "sfreq": store.sfreq(store.ids[0]), "tasks": train.n_classes,
                 "n_channels": int(train[0]["x"].shape[0]),
                 "n_times": int(train[0]["x"].shape[-1])}
    return sets


def _finetune_kind(cfg: dict[str, Any]) -> str:
    """``eegpt`` (ETE + TEG; ``eegpt_ete``, the pretraining kind, reads the same) or
    ``eegnet``."""
    kind = cfg["model"].get("kind") or "eegpt"
    kind = "eegpt" if kind == "eegpt_ete" else kind
    if kind not in ("eegpt", "eegnet"):
        raise NeuroseqError(f"model.kind {kind!r} cannot be fine-tuned; use eegpt or eegnet.")
    return kind


def build_eegpt(ctx: RunContext) -> EEGPT | EEGNet:
    """ETE + TEG sized for the tasks, the ETE loaded from ``model.pretrained`` when given (with
    its attention direction, horizon and input normalisation); or EEGNet (``kind: eegnet``)."""
    m = dict(ctx.cfg["model"])
    kind = _finetune_kind(ctx.cfg)
    m.pop("kind", None)
    if kind == "eegnet":
        for k in ("preset", "patch_len", "pretrained", "freeze_ete", "pooling"):  # EEGPT only
            m.pop(k, None)
        return EEGNet(ctx.meta["tasks"], n_channels=ctx.meta["n_channels"],
                      n_times=ctx.meta["n_times"], sfreq=ctx.meta["sfreq"], **m)
    pretrained = m.pop("pretrained", None)
    freeze = bool(m.pop("freeze_ete", pretrained is not None))
    ete = None
    if pretrained:
        with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints a notice
            ete = ETE.from_pretrained(Path(pretrained) / "model")
        m |= {"bidirectional": ete.bidirectional, "horizon": ete.horizon,
              "input_norm": ete.input_norm}
    model = EEGPT(ctx.meta["tasks"], n_electrodes=len(vocabulary()), freeze_ete=freeze, **m)
    if ete is not None:
        if (ete.d_model, ete.patch_len) != (model.ete.d_model, model.ete.patch_len):
            raise NeuroseqError(f"the pretrained ETE (width {ete.d_model}, patch {ete.patch_len})"
                                f" does not match model.preset/patch_len "
                                f"({model.ete.d_model}, {model.ete.patch_len}).")
        model.ete.load_state_dict(ete.state_dict())
        model.set_freeze(freeze)
    return model


def evaluate_tasks(ctx: RunContext, model: EEGPT | EEGNet, sets: dict[str, Any]
                   ) -> dict[str, Any]:
    """Balanced accuracy per task on the test epochs, with chance, the run's settings, the
    steps trained (and the step early stopping chose), epochs and wall time."""
    info = json.loads((ctx.run / "run.json").read_text())
    n_train, bs = len(sets["train"]), int(ctx.cfg["data"]["batch_size"])
    steps = int(info.get("global_step") or 0)
    res = {"mode": ctx.cfg["data"]["mode"], "pretrained": ctx.cfg["model"].get("pretrained"),
           "model_kind": ctx.meta["model_kind"],
           "freeze_ete": bool(getattr(model, "freeze_ete", False)), "seed": ctx.train.seed,
           "label_fraction": float(ctx.cfg["data"].get("label_fraction") or 1.0),
           "shuffled_labels": bool(ctx.cfg["data"].get("shuffle_labels")),
           "n_train": n_train, "n_val": len(sets["val"]) if "val" in sets else 0,
           "steps": steps, "best_step": info.get("best_step"),
           "early_stopped": info.get("early_stopped", False),
           "epochs": round(steps * bs / max(n_train, 1), 2),
           "train_s": info.get("train_s"),
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
                          objective=lambda ctx: MultiTaskObjective(),
                          models={"eegpt": EEGPT, "eegnet": EEGNet},
                          evaluate=evaluate_tasks),
    },
)
