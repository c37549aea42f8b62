"""The one base of every dataset that cuts segments from a store, and in-memory corpora.

Every segment dataset — continuous windows and event epochs (:mod:`neuroseq.data.windows`),
word groups (:mod:`neuroseq.data.words`), sentences and described events
(:mod:`neuroseq.data.sentences`), the segments a recording is decoded in
(:mod:`neuroseq.generation.text`) — derives from :class:`SegmentDataset`, which checks the
corpus's sampling rate once, builds the channel vocabulary, each recording's sensors block and
the subject map once, and gives every item the shared layout (``x``, ``mask``, ``sensors``,
``subject``; see :mod:`neuroseq.data.collate`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from neuroseq.data.recording import KINDS, Recording, Sensors
from neuroseq.data.splits import Split, SplitSpec
from neuroseq.errors import DataError


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
    ``kind`` long ``[C]`` (index in :data:`~neuroseq.data.recording.KINDS`: mag, grad, eeg);
    and MEG-XL's official sensor inputs (read by a converted MEG-XL): ``official_xyz``,
    ``official_dir`` float32 ``[C, 3]`` and ``official_type`` long ``[C]`` (0 gradiometer,
    1 magnetometer; :meth:`~neuroseq.data.sensors.Sensors.official_types`).
    """
    pos = np.nan_to_num(sensors.positions, nan=0.0).astype(np.float32)
    ori = np.nan_to_num(sensors.orientations, nan=0.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        xyzdir = np.nan_to_num(sensors.official_xyzdir(), nan=0.0, posinf=0.0, neginf=0.0)
    xyzdir = torch.from_numpy(xyzdir.astype(np.float32))
    return {"ids": ids, "pos": torch.from_numpy(pos), "ori": torch.from_numpy(ori),
            "kind": torch.tensor([KINDS.index(k) for k in sensors.kinds], dtype=torch.long),
            "official_xyz": xyzdir[:, :3].contiguous(), "official_dir": xyzdir[:, 3:].contiguous(),
            "official_type": torch.from_numpy(sensors.official_types())}


class SegmentDataset(Dataset):
    """Base of every segment dataset: one sampling rate, channel vocabulary, sensors blocks and
    subject map for the whole corpus, and the shared item layout.

    ``sensors["ids"]`` index ``channel_vocab`` (built from the corpus in order of first
    appearance unless given; a channel outside a given vocabulary is an error), or the rows of
    ``vocab`` (any object with ``ids(names) -> LongTensor``, e.g. EEGPT's electrode vocabulary)
    when one is given.

    Parameters
    ----------
    corpus : Store | InMemoryCorpus
    split : str | None
        The split the subclass cuts from (kept as ``self.split``).
    subject_map, channel_vocab, vocab
        As above; a run's own maps when data is read for a trained model.
    sfreq : float | None
        The rate the corpus must have (a trained run's); None accepts any single rate.
    """

    def __init__(self, corpus: Any, split: str | None = None, *,
                 subject_map: dict[str, int] | None = None,
                 channel_vocab: list[str] | None = None, vocab: Any = None,
                 sfreq: float | None = None) -> None:
        self.corpus, self.split = corpus, split
        ids = list(corpus.ids)
        if not ids:
            raise DataError("the corpus holds no recording.")
        sfreqs = {float(corpus.sfreq(r)) for r in ids}
        if len(sfreqs) > 1:
            raise DataError(f"the corpus mixes sampling rates {sorted(sfreqs)}; resample when "
                            "preparing it (neuroseq prepare --resample HZ).")
        self.sfreq = sfreqs.pop()
        if sfreq is not None and abs(self.sfreq - float(sfreq)) > 1e-6:
            raise DataError(f"the data is sampled at {self.sfreq:g} Hz but the run was trained "
                            f"at {float(sfreq):g} Hz; preprocess it as the run's store.")
        subjects = sorted({corpus.subject(r) for r in ids})
        self.subject_map = subject_map or {s: i for i, s in enumerate(subjects)}
        if channel_vocab is None:
            channel_vocab = list(dict.fromkeys(n for r in ids for n in corpus.sensors(r).names))
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
                    raise DataError(f"{r}: channels {missing[:5]} are not among the "
                                    f"{len(lookup)} channels of the vocabulary (the training "
                                    "sensors); use recordings with the same sensors.")
                rows = torch.tensor([lookup[n] for n in sens.names], dtype=torch.long)
            self._sensors[r] = sensor_block(sens, rows)

    def seconds_to_samples(self, seconds: float) -> int:
        """``seconds`` as a number of samples at the corpus's rate."""
        return int(round(float(seconds) * self.sfreq))

    def item(self, rid: str, x: np.ndarray) -> dict[str, Any]:
        """The shared layout of a segment ``x [C, T]`` of recording ``rid``."""
        return {"x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "mask": torch.ones(x.shape[0], dtype=torch.bool),
                "sensors": self._sensors[rid],
                "subject": torch.tensor(self.subject_map.get(self.corpus.subject(rid), 0))}
