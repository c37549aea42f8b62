"""Dataset wrappers for training regimes and controls: a seeded share of the items, a
class-stratified share of the labels (the low-label regime), labels shuffled within each task
(a control a decoder must fail on).  Word-group shuffles live beside the word dataset
(:func:`neuroseq.data.words.shuffle_words`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from neuroseq.errors import NeuroseqError


def subset(ds: Any, fraction: float, seed: int) -> Any:
    """``ds`` itself, or a seeded random ``fraction`` of its items (at least one)."""
    if not 0.0 < fraction <= 1.0:
        raise NeuroseqError(f"data.fraction must be in (0, 1], got {fraction}.")
    if fraction == 1.0:
        return ds
    k = max(1, int(round(fraction * len(ds))))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:k]
    return Subset(ds, sorted(idx.tolist()))


def label_subset(ds: Any, fraction: float, seed: int) -> Any:
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
