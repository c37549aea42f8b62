"""Several classification tasks over one corpus, for multi-task fine-tuning (EEGPT's TEG).

Each task maps event values to class labels (the pylossless EEG gives four: face vs house,
upright vs inverted, checkerboard left vs right, button press left vs right).  Items are in the
shared layout (:mod:`neuroseq.data.windows`) plus their task's name: ``sensors["ids"]`` are rows
of the vocabulary passed in (EEGPT's electrode vocabulary), and
:func:`~neuroseq.data.windows.pad_collate` batches items that mix tasks and electrode sets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from neuroseq.data.samples import SAMPLE_EEG_TASKS
from neuroseq.data.windows import EpochDataset
from neuroseq.errors import DataError

#: the pylossless face/house EEG: task → {event value: class} (see ``neuroseq.data.samples``)
PYLOSSLESS_TASKS = SAMPLE_EEG_TASKS


class MultiTaskEpochs(Dataset):
    """Event-locked epochs of several tasks, concatenated.

    Parameters
    ----------
    corpus : Store | InMemoryCorpus
    tasks : dict[str, dict[str, int]]
        Task name → {event value: class label}.
    vocab : object with ``ids(names)``
        Shared vocabulary (EEGPT's ``ElectrodeVocab``; every channel name must be in it).
    tmin, tmax : float
        Epoch limits in seconds around the onset.
    split : str | None
        ``train``/``val``/``test`` spans of the corpus split.
    recordings : list of str | None
        Only these recording ids (e.g. one subject, for cross-subject evaluation).
    """

    def __init__(self, corpus: Any, tasks: dict[str, dict[str, int]], vocab: Any, *,
                 tmin: float = 0.0, tmax: float = 1.0, split: str | None = "train",
                 recordings: list[str] | None = None) -> None:
        if not tasks:
            raise DataError("no tasks given: pass {task: {event value: label}}.")
        if recordings is not None:
            corpus = RecordingSubset(corpus, recordings)
        self.tasks = {t: dict(m) for t, m in tasks.items()}
        self.n_classes = {t: len(set(m.values())) for t, m in self.tasks.items()}
        self.parts: list[tuple[str, EpochDataset]] = []
        for t, m in self.tasks.items():
            self.parts.append((t, EpochDataset(corpus, m, tmin, tmax, split=split, vocab=vocab)))
        self._offsets = np.cumsum([0] + [len(d) for _, d in self.parts])
        self.sfreq = self.parts[0][1].sfreq

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def first_index(self, task: str) -> int:
        """Index of ``task``'s first epoch (each task's epochs are contiguous)."""
        names = [t for t, _ in self.parts]
        if task not in names:
            raise DataError(f"unknown task {task!r}; this set has {names}.")
        return int(self._offsets[names.index(task)])

    def labels(self, task: str) -> np.ndarray:
        """Labels of one task's epochs."""
        return dict(self.parts)[task].labels

    def __getitem__(self, i: int) -> dict[str, Any]:
        k = int(np.searchsorted(self._offsets, i, side="right") - 1)
        task, ds = self.parts[k]
        return ds[i - int(self._offsets[k])] | {"task": task}


class RecordingSubset:
    """A corpus restricted to some recording ids (same interface)."""

    def __init__(self, corpus: Any, ids: list[str]) -> None:
        missing = [r for r in ids if r not in corpus.ids]
        if missing:
            raise DataError(f"recordings {missing} are not in the corpus ({corpus.ids[:5]}).")
        self._c, self._ids = corpus, list(ids)
        self.split = getattr(corpus, "split", None)

    @property
    def ids(self) -> list[str]:
        return self._ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


def task_spec(spec: Any) -> dict[str, dict[str, int]]:
    """``data.tasks``: ``"pylossless"`` (:data:`PYLOSSLESS_TASKS`) or ``{task: {event value:
    label}}``."""
    if spec == "pylossless":
        return PYLOSSLESS_TASKS
    if isinstance(spec, dict) and spec:
        return {str(t): {str(k): int(v) for k, v in m.items()} for t, m in spec.items()}
    raise DataError("data.tasks must be 'pylossless' or {task: {event value: label}}.")


def task_splits(corpus: Any, tasks: dict[str, dict[str, int]], *, mode: str = "within",
                train_recordings: list[str] | None = None,
                test_recordings: list[str] | None = None, tmin: float = 0.0,
                tmax: float = 1.0, vocab: Any = None) -> dict[str, MultiTaskEpochs]:
    """Train / val / test epochs of every task: ``within`` the store's splits, or ``cross``
    recordings (train and val from the ``train_recordings``' splits, test on all of the
    ``test_recordings``); a val split without epochs is left out."""
    kw = {"tmin": float(tmin), "tmax": float(tmax), "vocab": vocab}
    if mode == "within":
        fit_on = test_on = None
    elif mode == "cross":
        fit_on, test_on = train_recordings, test_recordings
        if not fit_on or not test_on or set(fit_on) & set(test_on):
            raise DataError("cross-subject mode needs disjoint data.train_recordings and "
                            f"data.test_recordings (recordings: {corpus.ids}).")
        fit_on, test_on = list(fit_on), list(test_on)
    else:
        raise DataError(f"data.mode must be 'within' or 'cross', got {mode!r}.")
    sets = {"train": MultiTaskEpochs(corpus, tasks, split="train", recordings=fit_on, **kw),
            "test": MultiTaskEpochs(corpus, tasks, split="test" if test_on is None else None,
                                    recordings=test_on, **kw)}
    if corpus.split is not None:
        val = MultiTaskEpochs(corpus, tasks, split="val", recordings=fit_on, **kw)
        if len(val):
            sets["val"] = val
    return sets
