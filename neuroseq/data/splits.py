"""Deterministic train / validation / test splits, saved as JSON with a content hash.

A split assigns, for every recording, time spans ``(start_s, stop_s)`` to ``train``, ``val``
and ``test``.  Three methods:

- ``time``: contiguous blocks per recording, validation first, then test, then train (the
  GPT2MEG protocol): the validation block ends once every condition has ``n_val`` trials, the
  test block once every condition has ``n_test`` more; each boundary lies midway between two
  consecutive events.  Recordings without condition events are split by fractions instead.
- ``subject``: whole recordings by subject (explicit lists, or hashed subject ids).
- ``hashed``: each event (a word, a sentence...) goes to a split by a salted hash of its group
  key, so repeats of the same group never straddle splits; its span is ``onset + [tmin, tmax]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroseq.atomic import write_json_atomic
from neuroseq.errors import DataError

SPLITS = ("train", "val", "test")
#: event kinds that never mark a trial condition
NOT_CONDITIONS = ("bad", "word", "phoneme")
Spans = dict[str, list[tuple[float, float]]]


def hash_split(unit: str, salt: str = "42",
               fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """``train`` / ``val`` / ``test`` for one unit (a word group's string, a sentence's text, a
    subject, an event's group key) from a salted SHA-256 of ``"{salt}:{unit}"``.

    The one hashed split of the package: a unit lands in the same split wherever it occurs
    (every subject, session and caller).  ``fractions`` are train, val, test (summing to 1).
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must be three non-negative numbers (train, val, "
                        f"test) summing to 1, got {tuple(fractions)}.")
    u = int(hashlib.sha256(f"{salt}:{unit}".encode()).hexdigest(), 16) % 10**6 / 10**6
    train, val, _ = fractions
    return "train" if u < train else "val" if u < train + val else "test"


def _fractions(val: float, test: float) -> tuple[float, float, float]:
    return (1.0 - val - test, val, test)


def condition_events(events: pd.DataFrame, conditions: list[str] | None = None) -> pd.DataFrame:
    """Events that mark conditions: ``value`` in ``conditions`` or, by default, every event
    that is not ``bad``, not a word or phoneme of continuous speech (thousands of word types
    are no trial conditions: a word corpus is split by fractions) and whose value is not
    empty."""
    ev = events[~events["kind"].isin(NOT_CONDITIONS)]
    ev = ev[ev["value"].notna()]
    if conditions is not None:
        ev = ev[ev["value"].astype(str).isin([str(c) for c in conditions])]
    return ev.sort_values("onset", kind="stable")


def time_spans(duration: float, events: pd.DataFrame, *, n_val: int = 4, n_test: int = 4,
               conditions: list[str] | None = None, val_fraction: float = 0.1,
               test_fraction: float = 0.1) -> Spans:
    """GPT2MEG time-contiguous split of one recording (see module docstring)."""
    ev = condition_events(events, conditions)
    b1 = b2 = None
    if len(ev) >= 2 and n_val + n_test > 0 and ev["value"].nunique() >= 1:
        onsets = ev["onset"].to_numpy()
        values = ev["value"].astype(str).to_numpy()
        # conditions too rare to fill both blocks (stray triggers) do not hold the boundary
        names, counts = np.unique(values, return_counts=True)
        classes = names[counts > n_val + n_test]
        keep = np.isin(values, classes)
        onsets, values = onsets[keep], values[keep]

        def _end(start: int, need: int) -> int | None:
            counts = dict.fromkeys(classes, 0)
            if not counts:
                return None
            for i in range(start, len(values)):
                counts[values[i]] += 1
                if min(counts.values()) >= need:
                    return i
            return None

        i1 = _end(0, n_val) if n_val else -1
        i2 = _end(i1 + 1, n_test) if i1 is not None and n_test else i1
        if i1 is not None and i2 is not None and i2 + 1 < len(onsets):
            b1 = 0.0 if i1 < 0 else (onsets[i1] + onsets[i1 + 1]) / 2
            b2 = b1 if i2 == i1 else (onsets[i2] + onsets[i2 + 1]) / 2
    if b1 is None:
        b1 = val_fraction * duration
        b2 = (val_fraction + test_fraction) * duration
    return {"val": [(0.0, float(b1))] if b1 > 0 else [],
            "test": [(float(b1), float(b2))] if b2 > b1 else [],
            "train": [(float(b2), float(duration))]}


def subject_spans(subject: str, duration: float, *, val_subjects: list[str] | None = None,
                  test_subjects: list[str] | None = None, val_fraction: float = 0.2,
                  test_fraction: float = 0.2, salt: str = "neuroseq") -> Spans:
    """The whole recording goes to the split of its subject."""
    if val_subjects is not None or test_subjects is not None:
        name = ("val" if subject in (val_subjects or []) else
                "test" if subject in (test_subjects or []) else "train")
    else:
        name = hash_split(subject, salt, _fractions(val_fraction, test_fraction))
    return {s: ([(0.0, float(duration))] if s == name else []) for s in SPLITS}


def hashed_spans(events: pd.DataFrame, duration: float, *, group: str = "value",
                 tmin: float = -0.5, tmax: float = 2.5, val_fraction: float = 0.1,
                 test_fraction: float = 0.1, kinds: list[str] | None = None,
                 salt: str = "neuroseq") -> Spans:
    """Per-event spans assigned by a salted hash of the event's ``group`` column."""
    if group not in events.columns:
        raise DataError(f"hashed split: events have no column {group!r} "
                        f"(columns: {list(events.columns)}).")
    ev = events if kinds is None else events[events["kind"].isin(kinds)]
    out: Spans = {s: [] for s in SPLITS}
    for onset, key in zip(ev["onset"], ev[group].astype(str), strict=True):
        span = (max(0.0, float(onset) + tmin), min(float(duration), float(onset) + tmax))
        if span[1] > span[0]:
            out[hash_split(key, salt, _fractions(val_fraction, test_fraction))].append(span)
    return out


def listed_spans(source: str | None, duration: float, *, val: list[str] | None = None,
                 test: list[str] | None = None) -> Spans:
    """The whole recording goes to ``val`` or ``test`` when its file name is listed there,
    else to train (a corpus recipe's own validation recordings)."""
    if source is None:
        raise DataError("the listed split needs each recording's file name.")
    name = "val" if source in (val or []) else "test" if source in (test or []) else "train"
    return {s: ([(0.0, float(duration))] if s == name else []) for s in SPLITS}


@dataclass
class SplitSpec:
    """How to split: ``method`` in ``time``/``subject``/``hashed``/``listed``/``none`` plus its
    options."""

    method: str = "time"
    params: dict[str, Any] = field(default_factory=dict)

    def spans(self, subject: str, duration: float, events: pd.DataFrame,
              source: str | None = None) -> Spans:
        """Spans of one recording (``source``: its file name, for the ``listed`` method)."""
        if self.method == "time":
            return time_spans(duration, events, **self.params)
        if self.method == "subject":
            return subject_spans(subject, duration, **self.params)
        if self.method == "hashed":
            return hashed_spans(events, duration, **self.params)
        if self.method == "none":
            return {"train": [(0.0, float(duration))], "val": [], "test": []}
        if self.method == "listed":
            return listed_spans(source, duration, **self.params)
        raise DataError(f"unknown split method {self.method!r}; use time, subject, hashed, "
                        "listed or none.")


@dataclass
class Split:
    """Spans per recording and split name, with a content hash."""

    spec: SplitSpec
    recordings: dict[str, Spans]

    def to_dict(self) -> dict:
        """JSON-compatible form (spans as lists)."""
        recs = {rid: {k: [list(map(float, s)) for s in v] for k, v in sp.items()}
                for rid, sp in sorted(self.recordings.items())}
        return {"method": self.spec.method, "params": self.spec.params, "recordings": recs}

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON (what was split and how)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def spans(self, rec_id: str, name: str) -> list[tuple[float, float]]:
        """Spans of ``name`` (``train``/``val``/``test``) in recording ``rec_id``."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {SPLITS}.")
        if rec_id not in self.recordings:
            raise DataError(f"recording {rec_id!r} is not in the split.")
        return [tuple(s) for s in self.recordings[rec_id].get(name, [])]

    def summary(self) -> dict[str, float]:
        """Seconds of data in each split."""
        return {n: float(sum(b - a for sp in self.recordings.values() for a, b in sp.get(n, [])))
                for n in SPLITS}

    def save(self, path: str | Path) -> str:
        """Write the split JSON (with its hash) and return the hash."""
        d = self.to_dict() | {"sha256": self.hash}
        write_json_atomic(path, d)
        return self.hash

    @classmethod
    def from_dict(cls, d: dict) -> Split:
        """Inverse of :meth:`to_dict`; checks the stored hash when present."""
        split = cls(SplitSpec(d["method"], d.get("params", {})),
                    {rid: {k: [tuple(s) for s in v] for k, v in sp.items()}
                     for rid, sp in d["recordings"].items()})
        if "sha256" in d and d["sha256"] != split.hash:
            raise DataError("split file hash mismatch: the file was edited or is corrupt.")
        return split

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def sample_spans(corpus: Any, rid: str, split: str | None) -> list[tuple[int, int]]:
    """The ``split`` spans of recording ``rid`` as sample ranges ``[(start, stop), ...]``.

    ``corpus`` is a :class:`~neuroseq.data.store.Store` or any object with the same read
    interface (``n_samples``, ``sfreq``, ``split``).  ``split=None`` is the whole recording.
    This is the one place where split spans in seconds become sample indices.
    """
    n, sf = corpus.n_samples(rid), corpus.sfreq(rid)
    if split is None:
        return [(0, n)]
    if corpus.split is None:
        raise DataError(f"split={split!r} asked for, but the corpus has no split; prepare the "
                        "store with a split (`neuroseq prepare --split time`) or use the whole "
                        "recordings.")
    return [(max(0, int(round(a * sf))), min(n, int(round(b * sf))))
            for a, b in corpus.split.spans(rid, split)]
