"""EEGPT multi-task fine-tuning (``neuroseq finetune``): ETE (pretrained or not) + TEG + heads.

Tasks are ``{task: {event value: label}}`` (``data.tasks: pylossless`` for the sample EEG's four
binary tasks).  ``data.mode: within`` trains on the train split of every recording and tests on
the test split; ``cross`` trains on ``data.train_recordings`` and tests on
``data.test_recordings`` (all their spans).  ``model.pretrained`` names an ETE pretraining run
(else the ETE starts from scratch); ``model.freeze_ete`` picks frozen (paper v2) or fine-tuned.
Results — balanced accuracy per task with chance beside it — go to ``RUN/results.json``.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch.utils.data import DataLoader

from neuroseq.config import save_config
from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs, multitask_collate
from neuroseq.errors import NeuroseqError
from neuroseq.models.eegpt import EEGPT, ETE
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.objectives.patch import MultiTaskObjective
from neuroseq.training import TaskModule, fit
from neuroseq.training.loader import ResumableLoader


def _tasks(spec: Any) -> dict[str, dict[str, int]]:
    if spec == "pylossless":
        return PYLOSSLESS_TASKS
    if isinstance(spec, dict) and spec:
        return {str(t): {str(k): int(v) for k, v in m.items()} for t, m in spec.items()}
    raise NeuroseqError("data.tasks must be 'pylossless' or {task: {event value: label}}.")


def task_datasets(cfg: dict[str, Any], store: Any,
                  vocab: ElectrodeVocab) -> tuple[MultiTaskEpochs, MultiTaskEpochs]:
    """Train and test epochs for the configured mode."""
    d = cfg["data"]
    tasks = _tasks(d.get("tasks"))
    kw = {"tmin": float(d.get("tmin", 0.0)), "tmax": float(d.get("tmax", 1.0))}
    mode = d.get("mode", "within")
    if mode == "within":
        return (MultiTaskEpochs(store, tasks, vocab, split="train", **kw),
                MultiTaskEpochs(store, tasks, vocab, split="test", **kw))
    if mode == "cross":
        tr, te = d.get("train_recordings"), d.get("test_recordings")
        if not tr or not te or set(tr) & set(te):
            raise NeuroseqError("cross-subject mode needs disjoint data.train_recordings and "
                                f"data.test_recordings (recordings: {store.ids}).")
        return (MultiTaskEpochs(store, tasks, vocab, split=None, recordings=list(tr), **kw),
                MultiTaskEpochs(store, tasks, vocab, split=None, recordings=list(te), **kw))
    raise NeuroseqError(f"data.mode must be 'within' or 'cross', got {mode!r}.")


@torch.no_grad()
def evaluate(model: EEGPT, ds: MultiTaskEpochs, batch_size: int = 32) -> dict[str, dict]:
    """Balanced accuracy per task on ``ds`` with chance (1 / classes) and epoch counts."""
    model.eval()
    preds: dict[str, list] = {t: [] for t in ds.tasks}
    truth: dict[str, list] = {t: [] for t in ds.tasks}
    for b in DataLoader(ds, batch_size, collate_fn=multitask_collate):
        logits = model(b["x"], b["electrodes"], b["active"], b["task"])
        for t, p, y in zip(b["task"], logits.argmax(-1).tolist(), b["y"].tolist(), strict=True):
            preds[t].append(p)
            truth[t].append(y)
    return {t: {"balanced_accuracy": float(balanced_accuracy_score(truth[t], preds[t])),
                "chance": 1.0 / ds.n_classes[t], "n_test": len(truth[t])}
            for t in ds.tasks if truth[t]}


def finetune(cfg: dict[str, Any], run_dir: str | Path, *, resume: bool = True) -> Path:
    """Fine-tune EEGPT on the configured tasks; writes ``results.json``; returns the run."""
    from neuroseq.pretrain import start_run

    run, store, tcfg = start_run(cfg, run_dir)
    vocab = ElectrodeVocab()
    train, test = task_datasets(cfg, store, vocab)
    m = dict(cfg["model"])
    pretrained = m.pop("pretrained", None)
    freeze = bool(m.pop("freeze_ete", pretrained is not None))
    m.pop("kind", None)
    model = EEGPT(train.n_classes, n_electrodes=len(vocab), freeze_ete=freeze, **m)
    if pretrained:
        with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints a notice
            ete = ETE.from_pretrained(Path(pretrained) / "model")
        if (ete.d_model, ete.patch_len) != (model.ete.d_model, model.ete.patch_len):
            raise NeuroseqError(f"the pretrained ETE (width {ete.d_model}, patch {ete.patch_len})"
                                f" does not match model.preset/patch_len "
                                f"({model.ete.d_model}, {model.ete.patch_len}).")
        model.ete.load_state_dict(ete.state_dict())
        model.set_freeze(freeze)
    save_config(cfg, run / "config.yaml")
    d = cfg["data"]
    module = TaskModule(model, MultiTaskObjective(), max_steps=tcfg.max_steps, **cfg["optim"])
    loader = ResumableLoader(train, d["batch_size"], seed=tcfg.seed,
                             collate_fn=multitask_collate, drop_last=len(train) >= 2 * d[
                                 "batch_size"])
    fit(module, loader, None, run_dir=run, cfg=tcfg, resume=resume, extra_config=cfg)
    res = {"mode": d.get("mode", "within"), "pretrained": pretrained, "freeze_ete": freeze,
           "seed": tcfg.seed, "n_train": len(train), "tasks": evaluate(model, test)}
    res["mean_balanced_accuracy"] = float(np.mean([v["balanced_accuracy"]
                                                   for v in res["tasks"].values()]))
    (run / "results.json").write_text(json.dumps(res, indent=1))
    model.save_pretrained(run / "model")
    return run
