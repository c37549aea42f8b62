"""Preprocessing pipeline: pick, band-pass, notch, resample, robust scaling, clipping, baseline.

A :class:`Pipeline` is a list of steps.  Filtering and resampling use MNE's array functions;
robust scaling (median / IQR per channel, or pooled per sensor kind) is *fitted* on the training
part of the data only.  A fitted pipeline serialises to JSON, re-applies identically at
inference and inverts its scaling.

Example
-------
>>> pipe = Pipeline([BandPass(0.5, 49.9), Resample(100), RobustScale(), Clip(4.0)])
>>> prepared = pipe.fit_apply(recording, train_spans=[(60.0, 600.0)])  # doctest: +SKIP
>>> Pipeline.from_json(pipe.to_json()).apply(other_recording)             # doctest: +SKIP
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

from neuroseq.data.recording import KINDS, Recording
from neuroseq.errors import DataError, NeuroseqError

_BLOCK = 32  # channels filtered at once (bounds float64 memory on long recordings)


def _blockwise(data: np.ndarray, fn) -> np.ndarray:
    out = [fn(data[i:i + _BLOCK].astype(np.float64)).astype(np.float32)
           for i in range(0, data.shape[0], _BLOCK)]
    return np.concatenate(out, axis=0)


@dataclass
class Step(ABC):
    """Base class of pipeline steps (stateless unless ``stateful``)."""

    name: ClassVar[str] = "step"
    stateful: ClassVar[bool] = False

    def fit(self, data: list[np.ndarray], recs: list[Recording]) -> None:  # noqa: B027
        """Fit on training samples (``data[i]`` is recording ``i`` restricted to training).

        Stateless steps have nothing to fit; stateful ones override this.
        """

    @abstractmethod
    def apply(self, rec: Recording) -> Recording:
        """Transform ``rec`` in place, record the step in its provenance, and return it."""

    def to_dict(self) -> dict:
        """Parameters (and fitted state) as JSON-compatible values."""
        return {"step": self.name, **asdict(self)}


@dataclass
class Pick(Step):
    """Keep channels by kind (``["mag", "grad"]``) or by name."""

    name: ClassVar[str] = "pick"
    kinds: list[str] | None = None
    names: list[str] | None = None

    def apply(self, rec: Recording) -> Recording:
        if self.names:
            return rec.pick(self.names)
        return rec.pick(self.kinds or list(KINDS))


@dataclass
class BandPass(Step):
    """Band-pass filter with :func:`mne.filter.filter_data` (FIR by default, or IIR Butterworth)."""

    name: ClassVar[str] = "bandpass"
    l_freq: float | None = 0.5
    h_freq: float | None = 49.9
    method: str = "fir"
    iir_order: int = 5

    def apply(self, rec: Recording) -> Recording:
        import mne

        if self.h_freq is not None and self.h_freq >= rec.sfreq / 2:
            raise DataError(f"band-pass high cut-off {self.h_freq} Hz is at or above Nyquist "
                            f"({rec.sfreq / 2} Hz) of {rec.source or 'the recording'}.")
        iir = {"order": self.iir_order, "ftype": "butter"} if self.method == "iir" else None
        rec.data = _blockwise(rec.data, lambda x: mne.filter.filter_data(
            x, rec.sfreq, self.l_freq, self.h_freq, method=self.method, iir_params=iir,
            verbose="error"))
        return rec.add_step(self.name, **asdict(self))


@dataclass
class Notch(Step):
    """Notch filter at the given frequencies (:func:`mne.filter.notch_filter`)."""

    name: ClassVar[str] = "notch"
    freqs: list[float] = field(default_factory=lambda: [50.0, 100.0])

    def apply(self, rec: Recording) -> Recording:
        import mne

        freqs = [f for f in self.freqs if f < rec.sfreq / 2]
        if freqs:
            rec.data = _blockwise(rec.data, lambda x: mne.filter.notch_filter(
                x, rec.sfreq, freqs, verbose="error"))
        return rec.add_step(self.name, freqs=freqs)


@dataclass
class Resample(Step):
    """Resample to ``sfreq`` with :func:`mne.filter.resample` (polyphase, anti-aliased)."""

    name: ClassVar[str] = "resample"
    sfreq: float = 100.0

    def apply(self, rec: Recording) -> Recording:
        import mne

        if abs(rec.sfreq - self.sfreq) < 1e-9:
            return rec
        ratio = self.sfreq / rec.sfreq
        rec.data = _blockwise(rec.data, lambda x: mne.filter.resample(
            x, ratio, 1.0, method="polyphase", verbose="error"))
        old = rec.sfreq
        rec.sfreq = float(self.sfreq)
        return rec.add_step(self.name, sfreq_from=old, sfreq=self.sfreq)


@dataclass
class RobustScale(Step):
    """Subtract the median and divide by the inter-quartile range, per channel.

    With ``per_kind=True`` one centre and scale is pooled over all channels of a sensor kind
    (keeps relative amplitudes within mags, grads and EEG).  Fitted on training data only.
    """

    name: ClassVar[str] = "robust_scale"
    stateful: ClassVar[bool] = True
    per_kind: bool = False
    center: dict[str, float] | None = None
    scale: dict[str, float] | None = None

    def fit(self, data: list[np.ndarray], recs: list[Recording]) -> None:
        names = recs[0].ch_names
        if any(r.ch_names != names for r in recs[1:]):
            raise DataError("RobustScale.fit: recordings have different channels; fit one "
                            "pipeline per montage, or pick common channels first.")
        x = np.concatenate([d for d in data if d.shape[1]], axis=1)
        if x.shape[1] < 2:
            raise DataError("RobustScale.fit: the training part has fewer than 2 samples; "
                            "check the split.")
        kinds = np.asarray(recs[0].sensors.kinds)
        if self.per_kind:
            med = np.zeros(len(names))
            iqr = np.zeros(len(names))
            for k in set(kinds.tolist()):
                q25, q50, q75 = np.percentile(x[kinds == k], [25, 50, 75])
                med[kinds == k], iqr[kinds == k] = q50, q75 - q25
        else:
            q25, med, q75 = np.percentile(x, [25, 50, 75], axis=1)
            iqr = q75 - q25
        if np.any(iqr <= 0):
            flat = [names[i] for i in np.flatnonzero(iqr <= 0)]
            raise DataError(f"RobustScale.fit: zero inter-quartile range on {flat[:5]} in the "
                            "training data (flat or constant channels); drop them first.")
        self.center = {n: float(v) for n, v in zip(names, med, strict=True)}
        self.scale = {n: float(v) for n, v in zip(names, iqr, strict=True)}

    def _vectors(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if self.center is None or self.scale is None:
            raise NeuroseqError("RobustScale is not fitted; call Pipeline.fit first.")
        missing = [n for n in names if n not in self.center]
        if missing:
            raise DataError(f"RobustScale was fitted on other channels; {missing[:5]} are "
                            "unknown to it. Use the montage it was fitted on.")
        c = np.array([self.center[n] for n in names], dtype=np.float32)[:, None]
        s = np.array([self.scale[n] for n in names], dtype=np.float32)[:, None]
        return c, s

    def apply(self, rec: Recording) -> Recording:
        c, s = self._vectors(rec.ch_names)
        rec.data = (rec.data - c) / s
        return rec.add_step(self.name, per_kind=self.per_kind)

    def inverse(self, x: np.ndarray, names: list[str]) -> np.ndarray:
        """Undo the scaling of ``x`` (channels on axis -2)."""
        c, s = self._vectors(names)
        return x * s + c


@dataclass
class Clip(Step):
    """Clip to ``[-limit, limit]`` (in robust units when after :class:`RobustScale`)."""

    name: ClassVar[str] = "clip"
    limit: float = 4.0

    def apply(self, rec: Recording) -> Recording:
        frac = float(np.mean(np.abs(rec.data) > self.limit))
        np.clip(rec.data, -self.limit, self.limit, out=rec.data)
        return rec.add_step(self.name, limit=self.limit, fraction_clipped=frac)


@dataclass
class ChunkBaseline(Step):
    """Per chunk of ``chunk_s`` seconds, subtract the mean of its first ``baseline_s`` seconds."""

    name: ClassVar[str] = "chunk_baseline"
    chunk_s: float = 3.0
    baseline_s: float = 0.5

    def apply(self, rec: Recording) -> Recording:
        n = int(round(self.chunk_s * rec.sfreq))
        b = max(1, int(round(self.baseline_s * rec.sfreq)))
        if n < 1 or b > n:
            raise DataError(f"ChunkBaseline: baseline {self.baseline_s} s must fit in chunk "
                            f"{self.chunk_s} s at {rec.sfreq} Hz.")
        for start in range(0, rec.n_times, n):
            seg = rec.data[:, start:start + n]
            seg -= seg[:, :b].mean(axis=1, keepdims=True)
        return rec.add_step(self.name, chunk_s=self.chunk_s, baseline_s=self.baseline_s)


STEPS: dict[str, type[Step]] = {c.name: c for c in (Pick, BandPass, Notch, Resample,
                                                     RobustScale, Clip, ChunkBaseline)}


def _train_part(rec: Recording, spans: list[tuple[float, float]] | None) -> np.ndarray:
    if spans is None:
        return rec.data
    parts = [rec.data[:, int(round(a * rec.sfreq)):int(round(b * rec.sfreq))] for a, b in spans]
    parts = [p for p in parts if p.shape[1]]
    if not parts:
        raise DataError(f"the training spans {spans} select no sample of "
                        f"{rec.source or 'the recording'} ({rec.duration:.1f} s).")
    return np.concatenate(parts, axis=1)


class Pipeline:
    """An ordered list of preprocessing steps, fitted on training data and reusable.

    Parameters
    ----------
    steps : list of Step
        Applied in order.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps = list(steps)
        self.fitted = not any(s.stateful for s in self.steps)

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(s.name for s in self.steps)}], fitted={self.fitted})"

    def fit_apply(self, recordings: Recording | list[Recording],
                  train_spans: list | None = None) -> Recording | list[Recording]:
        """Fit stateful steps on the training spans and return the processed copies.

        ``train_spans`` gives, per recording, a list of ``(start_s, stop_s)`` training spans
        (a single list is accepted for a single recording); ``None`` uses everything.
        """
        single = isinstance(recordings, Recording)
        recs = [r.copy() for r in ([recordings] if single else recordings)]
        if train_spans is not None and single:
            train_spans = [train_spans]
        if train_spans is not None and len(train_spans) != len(recs):
            raise DataError(f"{len(train_spans)} train-span lists for {len(recs)} recordings.")
        for step in self.steps:
            if step.stateful:
                step.fit([_train_part(r, None if train_spans is None else train_spans[i])
                          for i, r in enumerate(recs)], recs)
            recs = [step.apply(r) for r in recs]
        self.fitted = True
        return recs[0] if single else recs

    def fit(self, recordings: Recording | list[Recording], train_spans: list | None = None
            ) -> Pipeline:
        """Fit the stateful steps (the processed data are discarded)."""
        self.fit_apply(recordings, train_spans)
        return self

    def apply(self, rec: Recording) -> Recording:
        """Apply the fitted pipeline to a copy of ``rec``."""
        if not self.fitted:
            raise NeuroseqError("this pipeline has stateful steps that are not fitted; call "
                                "fit() or fit_apply() on training data first.")
        out = rec.copy()
        for step in self.steps:
            out = step.apply(out)
        return out

    def inverse_scaling(self, x: np.ndarray, names: list[str]) -> np.ndarray:
        """Map scaled data back to neuroseq units (undoes every :class:`RobustScale`).

        Clipping and chunk baselines are not invertible and are left as they are.
        """
        for step in reversed(self.steps):
            if isinstance(step, RobustScale):
                x = step.inverse(x, names)
        return x

    def forward_scaling(self, x: np.ndarray, names: list[str]) -> np.ndarray:
        """Apply every fitted :class:`RobustScale` to ``x`` in neuroseq units (channels on axis
        -2): the inverse of :meth:`inverse_scaling`, for data that left the store's units."""
        for step in self.steps:
            if isinstance(step, RobustScale):
                c, s = step._vectors(names)
                x = (x - c) / s
        return x

    def has_scaling(self) -> bool:
        """Whether the pipeline changes amplitudes invertibly (holds a :class:`RobustScale`)."""
        return any(isinstance(s, RobustScale) for s in self.steps)

    def to_dict(self) -> dict:
        """JSON-compatible description including fitted state."""
        return {"steps": [s.to_dict() for s in self.steps], "fitted": self.fitted}

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        """Inverse of :meth:`to_dict`."""
        steps = []
        for s in d["steps"]:
            s = dict(s)
            kind = s.pop("step")
            if kind not in STEPS:
                raise DataError(f"unknown preprocessing step {kind!r}; known: {sorted(STEPS)}.")
            steps.append(STEPS[kind](**s))
        pipe = cls(steps)
        pipe.fitted = bool(d.get("fitted", pipe.fitted))
        return pipe

    @classmethod
    def from_json(cls, text: str) -> Pipeline:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def output_sfreq(self, sfreq: float) -> float:
        """Sampling frequency after the pipeline, given the input one."""
        for s in self.steps:
            if isinstance(s, Resample):
                sfreq = s.sfreq
        return sfreq


def default_pipeline(sfreq: float = 100.0, l_freq: float | None = 0.5,
                     h_freq: float | None = 49.9, clip: float = 4.0) -> Pipeline:
    """The GPT2MEG recipe: band-pass, resample, robust scale (per channel), clip at ±4."""
    steps: list[Step] = []
    if l_freq is not None or h_freq is not None:
        steps.append(BandPass(l_freq, h_freq))
    steps += [Resample(sfreq), RobustScale(), Clip(clip)]
    return Pipeline(steps)


def megxl_pipeline() -> Pipeline:
    """MEG-XL's preprocessing (``../shared/research/megxl_braintotext.md`` §1): band-pass
    0.1–40 Hz, resample to 50 Hz, per 3 s chunk subtract the mean of its first 0.5 s, robust
    scaling pooled per sensor kind, clip at ±5."""
    return Pipeline([BandPass(0.1, 40.0), Resample(50.0), ChunkBaseline(3.0, 0.5),
                     RobustScale(per_kind=True), Clip(5.0)])

