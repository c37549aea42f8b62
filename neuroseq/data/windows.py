"""PyTorch datasets: fixed-length windows and event-locked epochs over a store or recordings.

Both work on a :class:`~neuroseq.data.store.Store` (lazy reads) or an :class:`InMemoryCorpus`
of :class:`~neuroseq.data.recording.Recording` objects, restricted to one split.

Every system reads one batch layout (:func:`pad_collate` of these items)::

    x         float32 [B, C, T]   the signal, zero-padded to the batch's largest channel set
    mask      bool    [B, C]      True for real channels, False for padding
    sensors   ids  long [B, C]    rows of a channel / electrode vocabulary
              pos  float [B, C, 3]  positions (m);  ori float [B, C, 3] orientations
              kind long [B, C]    0 mag, 1 grad, 2 eeg
    subject   long    [B]
    condition long    [B, T]      (windows) condition timeline, 0 = none
    y, task   long [B], list[str] (epochs) labels and task names
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from neuroseq.data.events import condition_timeline
from neuroseq.data.recording import KINDS, Recording, Sensors
from neuroseq.data.splits import Split, SplitSpec, sample_spans
from neuroseq.errors import DataError
from neuroseq.log import logger


class InMemoryCorpus:
    """Recordings held in memory, with the same read interface as a store.

    Parameters
    ----------
    recordings : list of Recording
        The recordings; ids are ``sub-<subject>_<i>``.
    split : SplitSpec | Split | None
        Split applied to every recording.
    """

    def __init__(self, recordings: list[Recording], split: SplitSpec | Split | None = None):
        self._recs = {f"sub-{r.subject}_{i}": r for i, r in enumerate(recordings)}
        if isinstance(split, SplitSpec):
            split = Split(split, {rid: split.spans(r.subject, r.duration, r.events)
                                  for rid, r in self._recs.items()})
        self.split = split

    @property
    def ids(self) -> list[str]:
        """Recording ids."""
        return list(self._recs)

    def sfreq(self, rid: str) -> float:
        """Sampling frequency."""
        return self._recs[rid].sfreq

    def n_samples(self, rid: str) -> int:
        """Number of samples."""
        return self._recs[rid].n_times

    def subject(self, rid: str) -> str:
        """Subject id."""
        return self._recs[rid].subject

    def session(self, rid: str) -> str | None:
        """Session id (None when the recording has none)."""
        return self._recs[rid].session

    def sensors(self, rid: str) -> Sensors:
        """Sensors."""
        return self._recs[rid].sensors

    def events(self, rid: str) -> pd.DataFrame:
        """Events table."""
        return self._recs[rid].events

    def read(self, rid: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)``."""
        return self._recs[rid].data[:, start:stop]


def sensor_block(sensors: Sensors, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """The sensors block of the shared batch layout for one recording.

    ``ids`` long ``[C]`` (rows of a vocabulary), ``pos`` float32 ``[C, 3]`` (m, 0 where
    unknown), ``ori`` float32 ``[C, 3]`` (coil normal or gradient direction, 0 for EEG) and
    ``kind`` long ``[C]`` (index in :data:`~neuroseq.data.recording.KINDS`: mag, grad, eeg).
    """
    pos = np.nan_to_num(sensors.positions, nan=0.0).astype(np.float32)
    ori = np.nan_to_num(sensors.orientations, nan=0.0).astype(np.float32)
    return {"ids": ids, "pos": torch.from_numpy(pos), "ori": torch.from_numpy(ori),
            "kind": torch.tensor([KINDS.index(k) for k in sensors.kinds], dtype=torch.long)}


class _Base(Dataset):
    """Shared item layout: ``x``, ``mask``, ``sensors`` block, ``subject``.

    ``sensors["ids"]`` index ``channel_vocab`` (built from the corpus unless given), or the
    rows of ``vocab`` (any object with ``ids(names) -> LongTensor``, e.g. EEGPT's electrode
    vocabulary) when one is given.
    """

    def __init__(self, corpus: Any, split: str | None, subject_map: dict[str, int] | None,
                 channel_vocab: list[str] | None, vocab: Any = None) -> None:
        self.corpus = corpus
        self.split = split
        ids = corpus.ids
        sfreqs = {corpus.sfreq(r) for r in ids}
        if len(sfreqs) > 1:
            raise DataError(f"the corpus mixes sampling rates {sorted(sfreqs)}; resample when "
                            "preparing it.")
        self.sfreq = sfreqs.pop()
        subjects = sorted({corpus.subject(r) for r in ids})
        self.subject_map = subject_map or {s: i for i, s in enumerate(subjects)}
        if channel_vocab is None:
            channel_vocab = []
            for r in ids:
                channel_vocab += [n for n in corpus.sensors(r).names if n not in channel_vocab]
        self.channel_vocab = list(channel_vocab)
        lookup = {n: i for i, n in enumerate(self.channel_vocab)}
        self._sensors = {}
        for r in ids:
            sens = corpus.sensors(r)
            if vocab is not None:
                rows = vocab.ids(sens.names)
            else:
                missing = [n for n in sens.names if n not in lookup]
                if missing:
                    raise DataError(f"{r}: channels {missing[:5]} are not in the channel "
                                    "vocabulary.")
                rows = torch.tensor([lookup[n] for n in sens.names], dtype=torch.long)
            self._sensors[r] = sensor_block(sens, rows)

    def _common(self, rid: str, x: np.ndarray) -> dict[str, Any]:
        return {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "mask": torch.ones(x.shape[0], dtype=torch.bool),
                "sensors": self._sensors[rid],
                "subject": torch.tensor(self.subject_map.get(self.corpus.subject(rid), 0))}


class WindowDataset(_Base):
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
        super().__init__(corpus, split, subject_map, channel_vocab, vocab)
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
        item = self._common(rid, self.corpus.read(rid, s, s + self.window))
        cond = self._conditions.get(rid)
        item["condition"] = (torch.from_numpy(cond[s:s + self.window].astype(np.int64))
                             if cond is not None else torch.zeros(self.window, dtype=torch.long))
        return item


class EpochDataset(_Base):
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
        super().__init__(corpus, split, subject_map, channel_vocab, vocab)
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
        item = self._common(rid, x)
        item["y"] = torch.tensor(y)
        return item


def _pad(vals: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    return [v if v.shape[0] == n else
            torch.cat([v, v.new_zeros((n - v.shape[0],) + v.shape[1:])], dim=0) for v in vals]


def pad_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into the shared batch layout, zero-padding ``x``, ``mask`` and every tensor
    of the ``sensors`` block to the largest channel count (``mask`` is False on padding).
    Strings (``task``) and lists (``words``) become a list per batch."""
    n_ch = max(b["x"].shape[0] for b in batch)
    out: dict[str, Any] = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        if key == "sensors":
            out[key] = {k: torch.stack(_pad([v[k] for v in vals], n_ch)) for k in vals[0]}
        elif isinstance(vals[0], str | list):
            out[key] = vals
        elif key in ("x", "mask"):
            out[key] = torch.stack(_pad(vals, n_ch))
        else:
            out[key] = torch.stack(vals)
    return out


class TokenCollate:
    """:func:`pad_collate`, then ``tokens`` = ``tokenizer.encode(x)`` (long) for token models."""

    def __init__(self, tokenizer: Any, keep_signal: bool = False) -> None:
        self.tokenizer, self.keep_signal = tokenizer, keep_signal

    def __call__(self, items: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        batch = pad_collate(items)
        batch["tokens"] = self.tokenizer.encode(batch["x"])
        if not self.keep_signal:
            del batch["x"]
        return batch
