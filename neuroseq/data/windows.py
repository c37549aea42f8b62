"""PyTorch datasets: fixed-length windows and event-locked epochs over a store or recordings.

Both work on a :class:`~neuroseq.data.store.Store` (lazy reads) or an
:class:`~neuroseq.data.segments.InMemoryCorpus` of recordings, restricted to one split, and
derive from :class:`~neuroseq.data.segments.SegmentDataset`.

Items are batched by :func:`~neuroseq.data.collate.pad_collate` (the shared layout).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuroseq.data.events import condition_timeline
from neuroseq.data.segments import SegmentDataset
from neuroseq.data.splits import sample_spans
from neuroseq.errors import DataError
from neuroseq.log import logger


class WindowDataset(SegmentDataset):
    """Fixed-length windows with a stride, inside the spans of one split.

    Each item: ``x`` float32 ``[C, W]``, ``mask`` bool ``[C]``, ``sensors`` (see
    :func:`sensor_block`; ``ids`` index ``channel_vocab``), ``subject`` long, ``condition``
    long ``[W]`` (0 = no condition; the id of ``condition_map[value]`` during
    ``condition_seconds`` after each matching event onset, or its duration when
    ``condition_seconds`` is None).

    Parameters
    ----------
    corpus : Store | InMemoryCorpus
    window, stride : int
        In samples.
    split : "train" | "val" | "test" | None
    condition_map : dict | "auto" | None
        Event ``value`` to condition id (ids start at 1); ``"auto"`` numbers every non-bad
        value present.
    """

    def __init__(self, corpus: Any, window: int, stride: int | None = None, *,
                 split: str | None = "train", condition_map: dict[str, int] | str | None = None,
                 condition_seconds: float | None = 0.5,
                 subject_map: dict[str, int] | None = None,
                 channel_vocab: list[str] | None = None, vocab: Any = None) -> None:
        super().__init__(corpus, split, subject_map=subject_map, channel_vocab=channel_vocab,
                         vocab=vocab)
        if window < 1:
            raise DataError(f"window must be at least 1 sample, got {window}.")
        self.window, self.stride = int(window), int(stride or window)
        if condition_map == "auto":
            values = sorted({str(v) for r in corpus.ids for k, v in
                             zip(corpus.events(r)["kind"], corpus.events(r)["value"], strict=True)
                             if k != "bad" and v is not None})
            condition_map = {v: i + 1 for i, v in enumerate(values)}
        self.condition_map = condition_map or {}
        self._conditions: dict[str, np.ndarray] = {}
        self.items: list[tuple[str, int]] = []
        for rid in corpus.ids:
            for a, b in sample_spans(corpus, rid, split):
                self.items += [(rid, s) for s in range(a, b - self.window + 1, self.stride)]
            if self.condition_map:
                self._conditions[rid] = self._timeline(rid, condition_seconds)
        if not self.items:
            raise DataError(f"no window of {self.window} samples fits in split {split!r}; use a "
                            "shorter window or a larger split.")

    @staticmethod
    def fits(corpus: Any, window: int, split: str | None) -> bool:
        """Whether at least one window of ``window`` samples fits in ``split`` (False when the
        corpus has no split at all) — for optional val/test sets."""
        if split is not None and corpus.split is None:
            return False
        return any(b - a >= window for rid in corpus.ids
                   for a, b in sample_spans(corpus, rid, split))

    def _timeline(self, rid: str, seconds: float | None) -> np.ndarray:
        return condition_timeline(self.corpus.events(rid), self.condition_map,
                                  self.corpus.n_samples(rid), self.corpus.sfreq(rid), seconds)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rid, s = self.items[i]
        item = self.item(rid, self.corpus.read(rid, s, s + self.window))
        cond = self._conditions.get(rid)
        item["condition"] = (torch.from_numpy(cond[s:s + self.window].astype(np.int64))
                             if cond is not None else torch.zeros(self.window, dtype=torch.long))
        return item


def window_splits(corpus: Any, window: int, stride: int | None = None, *,
                  eval_stride: int | None = None, splits: tuple[str, ...] = ("val",),
                  **kw: Any) -> dict[str, WindowDataset]:
    """A train :class:`WindowDataset` and one for each of ``splits`` where a window fits (see
    :meth:`WindowDataset.fits`), all sharing the train set's subject map, channel vocabulary
    and condition map; the others step by ``eval_stride`` (default: ``stride``)."""
    train = WindowDataset(corpus, window, stride, split="train", **kw)
    out = {"train": train}
    kw |= {"subject_map": train.subject_map, "channel_vocab": train.channel_vocab,
           "condition_map": train.condition_map or None}
    for split in splits:
        if WindowDataset.fits(corpus, window, split):
            out[split] = WindowDataset(corpus, window, eval_stride or stride, split=split, **kw)
    return out


class EpochDataset(SegmentDataset):
    """Event-locked epochs ``[onset + tmin, onset + tmax)`` with integer labels.

    Parameters
    ----------
    event_map : dict
        Event ``value`` to label (0-based).  Events whose value is absent are ignored.
    baseline : tuple | None
        ``(a, b)`` seconds relative to onset whose mean is subtracted per channel.
    """

    def __init__(self, corpus: Any, event_map: dict[str, int], tmin: float = -0.1,
                 tmax: float = 0.5, *, split: str | None = "train",
                 baseline: tuple[float, float] | None = None,
                 subject_map: dict[str, int] | None = None,
                 channel_vocab: list[str] | None = None, vocab: Any = None) -> None:
        super().__init__(corpus, split, subject_map=subject_map, channel_vocab=channel_vocab,
                         vocab=vocab)
        if tmax <= tmin:
            raise DataError(f"tmax ({tmax}) must be greater than tmin ({tmin}).")
        self.event_map = {str(k): int(v) for k, v in event_map.items()}
        self.n_times = int(round((tmax - tmin) * self.sfreq))
        self.offset = int(round(tmin * self.sfreq))
        self.baseline = None if baseline is None else (
            int(round((baseline[0] - tmin) * self.sfreq)),
            int(round((baseline[1] - tmin) * self.sfreq)))
        self.items: list[tuple[str, int, int]] = []
        seen, dropped = set(), 0
        for rid in corpus.ids:
            ranges = sample_spans(corpus, rid, split)
            ev = corpus.events(rid)
            seen |= {str(v) for v in ev["value"]}
            for onset, val in zip(ev["onset"], ev["value"], strict=True):
                if str(val) not in self.event_map:
                    continue
                s = int(round(onset * self.sfreq)) + self.offset
                if any(a <= s and s + self.n_times <= b for a, b in ranges):
                    self.items.append((rid, s, self.event_map[str(val)]))
                elif 0 <= s and s + self.n_times <= corpus.n_samples(rid):
                    continue  # inside the recording but in another split
                else:
                    dropped += 1
        if dropped:
            logger.info("%d epoch(s) dropped: they run past the edge of their recording", dropped)
        if not self.items:
            missing = sorted(set(self.event_map) - seen)
            raise DataError(
                f"no epoch for events {sorted(self.event_map)[:10]} in split {split!r}"
                + (f"; values never found in the events: {missing[:10]}" if missing else "")
                + f". Values present: {sorted(seen)[:10]}.")

    @property
    def labels(self) -> np.ndarray:
        """Label of every epoch."""
        return np.array([y for _, _, y in self.items])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rid, s, y = self.items[i]
        x = self.corpus.read(rid, s, s + self.n_times).astype(np.float32, copy=True)
        if self.baseline is not None:
            a, b = self.baseline
            x -= x[:, a:b].mean(axis=1, keepdims=True)
        item = self.item(rid, x)
        item["y"] = torch.tensor(y)
        return item

