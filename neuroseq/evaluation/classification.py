"""Classification scores of a trained decoder: balanced accuracy per task, with chance beside."""

from __future__ import annotations

from typing import Any

import torch
from sklearn.metrics import balanced_accuracy_score
from torch import nn
from torch.utils.data import DataLoader

from neuroseq.data.windows import pad_collate


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
