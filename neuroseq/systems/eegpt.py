"""EEGPT, autoregressive (Yue et al., arXiv 2410.19779), as a system declaration.

``pretrain``: every channel of ``data.patches``-patch windows is one sequence for the electrode
temporal encoder (ETE), named by the shared electrode vocabulary; next-patch MSE
(``objective.kind: next_patch``) or masked-patch MSE (``masked``); ``data.fraction`` and
``data.recordings`` restrict the pretraining data.  ``finetune``: ETE (``model.pretrained`` or
scratch, frozen or tuned) + task-shared electrode graph on ``data.tasks``, or EEGNet-v4
(``model.kind: eegnet``); ``data.mode`` ``within`` (the store's splits) or ``cross``
(``data.train_recordings`` / ``data.test_recordings``); ``data.label_fraction`` and
``data.shuffle_labels`` (:mod:`neuroseq.data.subsets`).  Details: ``docs/design.md``.
"""

from __future__ import annotations

from typing import Any

from neuroseq.data.subsets import ShuffledLabels, label_subset, subset
from neuroseq.data.tasks import MultiTaskEpochs, RecordingSubset, task_spec, task_splits
from neuroseq.data.windows import window_splits
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation.classification import task_report, task_summary
from neuroseq.models.eegnet import EEGNet
from neuroseq.models.eegpt import EEGPT, ETE
from neuroseq.models.electrodes import vocabulary
from neuroseq.objectives.patch import MaskedPatchObjective, MultiTaskObjective, NextPatchObjective
from neuroseq.training.run import RunContext, Stage, System
from neuroseq.training.run_folder import RunFolder

DEFAULTS: dict[str, Any] = {
    "data": {"patches": None, "stride": None, "fraction": 1.0, "recordings": None,
             "tasks": None, "tmin": 0.0, "tmax": 1.0, "mode": "within",
             "train_recordings": None, "test_recordings": None, "label_fraction": 1.0,
             "shuffle_labels": False},
    "model": {"kind": "eegpt_ete"},
    "objective": {"kind": "next_patch"},
}


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
    out = window_splits(store, window, d["stride"] or window // 2, eval_stride=window,
                        vocab=vocabulary())
    train = out["train"]
    out["train"] = subset(train, float(d["fraction"] or 1.0), ctx.train.seed)
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
    """Train, val and test epochs of every task for the configured mode
    (:func:`~neuroseq.data.tasks.task_splits`), the train labels subsampled or shuffled."""
    d = ctx.cfg["data"]
    sets: dict[str, Any] = task_splits(
        ctx.store, task_spec(d.get("tasks")), mode=d["mode"],
        train_recordings=d.get("train_recordings"), test_recordings=d.get("test_recordings"),
        tmin=d["tmin"], tmax=d["tmax"], vocab=vocabulary())
    train = sets["train"]
    sets["train"] = label_subset(train, float(d.get("label_fraction") or 1.0), ctx.train.seed)
    if d.get("shuffle_labels"):
        sets["train"] = ShuffledLabels(sets["train"], ctx.train.seed)
    ctx.meta |= {"model_kind": _finetune_kind(ctx.cfg), "sfreq": train.sfreq,
                 "tasks": train.n_classes, "n_chans": int(train[0]["x"].shape[0]),
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
        return EEGNet(ctx.meta["tasks"], n_chans=ctx.meta["n_chans"],
                      n_times=ctx.meta["n_times"], sfreq=ctx.meta["sfreq"], **m)
    pretrained = m.pop("pretrained", None)
    freeze = bool(m.pop("freeze_ete", pretrained is not None))
    ete = None
    if pretrained:
        ete = ETE.from_pretrained(RunFolder(pretrained).model_dir)
        m |= {"bidirectional": ete.bidirectional, "horizon": ete.horizon,
              "input_norm": ete.input_norm}
    model = EEGPT(ctx.meta["tasks"], n_chans=len(vocabulary()), freeze_ete=freeze, **m)
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
    """Balanced accuracy per task on the test epochs, chance beside, with the run's settings
    (:func:`neuroseq.evaluation.classification.task_report`)."""
    d, m = ctx.cfg["data"], ctx.cfg["model"]
    return task_report(model, sets, ctx.folder.info(), batch_size=int(d["batch_size"])) | {
        "mode": d["mode"], "pretrained": m.get("pretrained"), "model_kind": ctx.meta["model_kind"],
        "freeze_ete": bool(getattr(model, "freeze_ete", False)),
        "label_fraction": float(d.get("label_fraction") or 1.0),
        "shuffled_labels": bool(d.get("shuffle_labels"))}


SYSTEM = System(
    name="eegpt",
    description="electrode-wise next-patch transformer (ETE) + task-shared electrode graph",
    defaults=DEFAULTS,
    stages={
        "pretrain": Stage(datasets=pretrain_datasets,
                          model=lambda ctx: ETE(n_chans=len(vocabulary()),
                                                **_ete_kwargs(ctx.cfg)),
                          objective=pretrain_objective, models={"eegpt_ete": ETE},
                          final_val_loss=True),
        "finetune": Stage(datasets=task_datasets, model=build_eegpt,
                          objective=lambda ctx: MultiTaskObjective(),
                          models={"eegpt": EEGPT, "eegnet": EEGNet},
                          evaluate=evaluate_tasks, summary=task_summary),
    },
    accepts={"model": (ETE, EEGPT, EEGNet, "pretrained"),
             "objective": (NextPatchObjective, MaskedPatchObjective)},
)
