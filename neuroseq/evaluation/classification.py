"""Classification scores of a trained decoder: balanced accuracy per task, with chance beside."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.utils.data import DataLoader

from neuroseq.data.collate import pad_collate


@torch.no_grad()
def task_accuracies(model: nn.Module, ds: Any, batch_size: int = 32) -> dict[str, dict]:
    """Balanced accuracy per task of ``model`` on a multi-task epoch set.

    ``model(x, ids, mask, tasks)`` returns logits (EEGPT's signature); ``ds`` has ``tasks`` and
    ``n_classes`` (:class:`~neuroseq.data.tasks.MultiTaskEpochs`).  Each task's entry holds
    ``balanced_accuracy``, ``chance`` (1 / classes) and ``n_test``.
    """
    model.eval()
    preds: dict[str, list] = {t: [] for t in ds.tasks}
    truth: dict[str, list] = {t: [] for t in ds.tasks}
    for b in DataLoader(ds, batch_size, collate_fn=pad_collate):
        logits = model(b["x"], b["sensors"]["ids"], b["mask"], b["task"])
        for t, p, y in zip(b["task"], logits.argmax(-1).tolist(), b["y"].tolist(), strict=True):
            preds[t].append(p)
            truth[t].append(y)
    return {t: {"balanced_accuracy": float(balanced_accuracy_score(truth[t], preds[t])),
                "chance": 1.0 / ds.n_classes[t], "n_test": len(truth[t])}
            for t in ds.tasks if truth[t]}


def task_report(model: nn.Module, sets: dict[str, Any], info: dict[str, Any], *,
                batch_size: int) -> dict[str, Any]:
    """The test split's balanced accuracy per task (chance beside) and their mean, with the
    train and val sizes and the epochs the training's steps (``run.json`` ``info``) made."""
    n_train = len(sets["train"])
    steps = int(info.get("global_step") or 0)
    res = {"n_train": n_train, "n_val": len(sets["val"]) if "val" in sets else 0,
           "epochs": round(steps * batch_size / max(n_train, 1), 2),
           "tasks": task_accuracies(model, sets["test"])}
    res["mean_balanced_accuracy"] = float(np.mean([v["balanced_accuracy"]
                                                   for v in res["tasks"].values()]))
    return res


def task_summary(res: dict[str, Any]) -> list[str]:
    """The lines ``neuroseq finetune`` prints for a multi-task result."""
    lines = [f"{'task':<26} balanced acc   chance   test epochs"]
    for t, v in res["tasks"].items():
        lines.append(f"{t:<26} {v['balanced_accuracy']:.3f}          {v['chance']:.3f}    "
                     f"{v['n_test']}")
    lines.append(f"mean {res['mean_balanced_accuracy']:.3f}  (mode {res['mode']}, pretrained "
                 f"{res['pretrained'] or 'no'}, ETE {'frozen' if res['freeze_ete'] else 'tuned'}"
                 ")")
    return lines
