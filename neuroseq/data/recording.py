"""Core data type :class:`Recording` (its :class:`~neuroseq.data.sensors.Sensors` live in
:mod:`neuroseq.data.sensors`, imported here too) and the canonical events table.

Units inside neuroseq are fixed and converted at read time: magnetometers in fT, planar
gradiometers in fT/cm, EEG in µV.  Sensor geometry follows MNE's ``info["chs"][i]["loc"]``.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from neuroseq.data.sensors import KINDS, SI_TO_UNIT, UNITS, Sensors
from neuroseq.errors import DataError

#: A per-channel standard deviation below this (in neuroseq units) means the data are in SI units.
_SI_SUSPECT = {"mag": 1e-3, "grad": 1e-3, "eeg": 1e-3}
EVENT_COLUMNS = ("onset", "duration", "kind", "value")


def make_events(onset=(), duration=None, kind=None, value=None, **extra) -> pd.DataFrame:
    """Build a canonical events table (columns ``onset, duration, kind, value`` + extras)."""
    onset = np.asarray(onset, dtype=np.float64).ravel()
    n = len(onset)
    df = pd.DataFrame({
        "onset": onset,
        "duration": np.zeros(n) if duration is None else np.broadcast_to(
            np.asarray(duration, dtype=np.float64), (n,)).copy(),
        "kind": ["event"] * n if kind is None else (
            [kind] * n if isinstance(kind, str) else list(kind)),
        "value": [None] * n if value is None else list(value),
    })
    for k, v in extra.items():
        df[k] = list(v)
    return df


def normalise_events(events: pd.DataFrame | None) -> pd.DataFrame:
    """An events table with the standard columns, sorted by onset; ``None`` or an empty table
    without columns (a recording with no events: resting state) is the empty table."""
    if events is None or (len(events) == 0 and "onset" not in events.columns):
        return make_events()
    missing = [c for c in ("onset",) if c not in events.columns]
    if missing:
        raise DataError(f"events table has no {missing} column; it needs at least 'onset' (s).")
    ev = events.copy().reset_index(drop=True)
    if "duration" not in ev:
        ev["duration"] = 0.0
    if "kind" not in ev:
        ev["kind"] = "event"
    if "value" not in ev:
        ev["value"] = None
    ev["onset"] = pd.to_numeric(ev["onset"], errors="coerce").astype(np.float64)
    ev["duration"] = pd.to_numeric(ev["duration"], errors="coerce").fillna(0.0).astype(np.float64)
    ev["kind"] = ev["kind"].astype(str)
    cols = list(EVENT_COLUMNS) + [c for c in ev.columns if c not in EVENT_COLUMNS]
    return ev[cols].sort_values("onset", kind="stable").reset_index(drop=True)


@dataclass
class Recording:
    """Continuous data with sensors, events and provenance.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signal in neuroseq units (fT, fT/cm, µV); stored as float32.
    sfreq : float
        Sampling frequency in Hz.
    sensors : Sensors
        One entry per row of ``data``.
    subject, session, task : str | None
        BIDS-like identifiers.
    events : DataFrame
        Columns ``onset`` (s from the first sample), ``duration`` (s), ``kind``, ``value`` and
        any extra columns (e.g. ``word``, ``story``).
    provenance : list of dict
        Every step applied to the data, with its parameters.
    source : str | None
        Where the data came from.
    """

    data: np.ndarray
    sfreq: float
    sensors: Sensors
    subject: str = "01"
    session: str | None = None
    task: str | None = None
    events: pd.DataFrame = field(default_factory=make_events)
    provenance: list[dict] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        self.data = np.asarray(self.data)
        if self.data.ndim != 2:
            raise DataError(f"Recording{where}: data must be 2-D [channels, times], "
                            f"got shape {self.data.shape}.")
        if self.data.dtype != np.float32:
            self.data = self.data.astype(np.float32)
        self.sfreq = float(self.sfreq)
        if not np.isfinite(self.sfreq) or self.sfreq <= 0:
            raise DataError(f"Recording{where}: sampling frequency must be > 0 Hz, "
                            f"got {self.sfreq}.")
        if self.data.shape[0] != len(self.sensors):
            raise DataError(f"Recording{where}: data has {self.data.shape[0]} channels but "
                            f"{len(self.sensors)} sensors were given; they must match.")
        if self.data.shape[0] == 0 or self.data.shape[1] == 0:
            raise DataError(f"Recording{where} is empty (shape {self.data.shape}); "
                            "check the file and the channel picks.")
        self.subject = str(self.subject)
        self.events = normalise_events(self.events)

    # ------------------------------------------------------------------ basic properties
    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self.data.shape[0]

    @property
    def n_times(self) -> int:
        """Number of samples."""
        return self.data.shape[1]

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_times / self.sfreq

    @property
    def ch_names(self) -> list[str]:
        """Channel names."""
        return self.sensors.names

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in self.sensors.counts().items())
        return (f"<Recording sub-{self.subject} ses-{self.session} task-{self.task} | {kinds} | "
                f"{self.sfreq:g} Hz | {self.duration:.1f} s | {len(self.events)} events>")

    # ------------------------------------------------------------------ checks
    def validate(self, *, on_flat: Literal["raise", "drop"] = "raise",
                 on_outside: Literal["raise", "drop"] = "raise") -> Recording:
        """Check the signal and events; raise :class:`DataError` on anything suspicious.

        Checks: non-finite samples, MEG/EEG values in SI units instead of fT/µV, flat
        channels (dropped instead with ``on_flat="drop"``), events outside the recording
        (dropped instead with ``on_outside="drop"``).  Returns ``self`` (possibly modified).
        """
        where = f" in {self.source}" if self.source else ""
        finite = np.isfinite(self.data)
        if not finite.all():
            bad_ch = np.flatnonzero(~finite.all(axis=1))
            first = int(np.argmax(~finite[bad_ch[0]]))
            names = [self.ch_names[i] for i in bad_ch[:5]]
            raise DataError(
                f"{int((~finite).sum())} NaN/Inf samples{where} on {len(bad_ch)} channel(s) "
                f"{names}{'...' if len(bad_ch) > 5 else ''}; the first on {names[0]} at sample "
                f"{first} ({first / self.sfreq:.3f} s). Interpolate or annotate the gap, or drop "
                "these channels, before using the recording.")
        std = self.data.std(axis=1, dtype=np.float64)
        for kind, thr in _SI_SUSPECT.items():
            idx = self.sensors.picks(kind)
            if len(idx) == 0:
                continue
            nz = std[idx][std[idx] > 0]
            if len(nz) and np.median(nz) < thr:
                raise DataError(
                    f"{kind} channels{where} have a median standard deviation of "
                    f"{np.median(nz):.3g} {UNITS[kind]}: this looks like SI units "
                    f"({'V' if kind == 'eeg' else 'T' if kind == 'mag' else 'T/m'}), but neuroseq "
                    f"expects {UNITS[kind]}. Multiply by {SI_TO_UNIT[kind]:g}, or read the array "
                    "with units='si' so neuroseq converts it.")
        flat = np.flatnonzero(std <= 1e-9 * max(float(np.median(std)), 1e-30))
        if len(flat):
            names = [self.ch_names[i] for i in flat]
            if on_flat == "raise":
                raise DataError(
                    f"{len(flat)} flat channel(s){where}: {names[:10]}"
                    f"{'...' if len(flat) > 10 else ''}. Mark them bad, or pass on_flat='drop' to "
                    "drop them (recorded in the provenance).")
            if len(flat) == self.n_channels:
                raise DataError(f"every channel{where} is flat; there is no signal to use.")
            keep = np.setdiff1d(np.arange(self.n_channels), flat)
            self.data = self.data[keep]
            self.sensors = self.sensors.subset(keep)
            self.add_step("drop_flat", channels=names)
        self._check_events(on_outside)
        return self

    def _check_events(self, on_outside: str) -> None:
        ev = self.events
        if len(ev) == 0:
            return
        tol = 1.0 / self.sfreq
        out = ~np.isfinite(ev["onset"].to_numpy()) | (ev["onset"] < -tol) | (
            ev["onset"] > self.duration + tol)
        if out.any():
            where = f" in {self.source}" if self.source else ""
            first = ev[out].iloc[0]
            if on_outside == "raise":
                raise DataError(
                    f"{int(out.sum())} event(s){where} lie outside the recording (0 to "
                    f"{self.duration:.3f} s); the first has onset {first['onset']!r} s "
                    f"(kind={first['kind']!r}, value={first['value']!r}). Check that the events "
                    "file belongs to this recording and that onsets are in seconds from its first "
                    "sample, or pass on_outside='drop'.")
            self.events = ev[~out].reset_index(drop=True)
            self.add_step("drop_events_outside", n_dropped=int(out.sum()))

    # ------------------------------------------------------------------ transformations
    def add_step(self, step: str, **params: Any) -> Recording:
        """Append a provenance entry (in place) and return ``self``."""
        from neuroseq import __version__

        self.provenance.append({
            "step": step, "params": params, "neuroseq": __version__,
            "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})
        return self

    def copy(self) -> Recording:
        """A deep copy."""
        return copy.deepcopy(self)

    def pick(self, picks: str | list[str] | np.ndarray) -> Recording:
        """Keep channels by kind (``"mag"``, ``["mag", "grad"]``), names or indices (in place)."""
        if isinstance(picks, str):
            picks = [picks]
        picks = list(picks) if not isinstance(picks, np.ndarray) else picks
        if len(picks) and isinstance(picks[0], str):
            if all(p in KINDS for p in picks):
                idx = self.sensors.picks(picks)
            else:
                missing = [p for p in picks if p not in self.ch_names]
                if missing:
                    raise DataError(f"pick: channels {missing[:5]} are not in the recording "
                                    f"(it has {self.ch_names[:5]}...).")
                idx = np.array([self.ch_names.index(p) for p in picks])
        else:
            idx = np.asarray(picks, dtype=int)
        if len(idx) == 0:
            raise DataError(f"pick {picks!r} selects no channel; the recording has "
                            f"{self.sensors.counts()}.")
        self.data = np.ascontiguousarray(self.data[idx])
        self.sensors = self.sensors.subset(idx)
        return self.add_step("pick", picks=[str(p) for p in picks][:20], n_channels=len(idx))

    def crop(self, tmin: float = 0.0, tmax: float | None = None) -> Recording:
        """Keep ``[tmin, tmax)`` seconds (in place); events are shifted and clipped."""
        start = int(round(tmin * self.sfreq))
        stop = self.n_times if tmax is None else int(round(tmax * self.sfreq))
        if not 0 <= start < stop <= self.n_times:
            raise DataError(f"crop({tmin}, {tmax}) is outside the recording (0 to "
                            f"{self.duration:.3f} s) or empty.")
        self.data = np.ascontiguousarray(self.data[:, start:stop])
        ev = self.events
        t0, t1 = start / self.sfreq, stop / self.sfreq
        ev = ev[(ev["onset"] >= t0) & (ev["onset"] < t1)].copy()
        ev["onset"] -= t0
        self.events = ev.reset_index(drop=True)
        return self.add_step("crop", tmin=t0, tmax=t1)

    # ------------------------------------------------------------------ MNE interop
    def to_raw(self) -> Any:
        """An MNE ``RawArray`` in SI units, with events as annotations."""
        import mne

        scale = np.array([1.0 / SI_TO_UNIT[k] for k in self.sensors.kinds])[:, None]
        raw = mne.io.RawArray(self.data.astype(np.float64) * scale,
                              self.sensors.to_info(self.sfreq), verbose="error")
        if len(self.events):
            desc = [_annotation_description(k, v) for k, v in
                    zip(self.events["kind"], self.events["value"], strict=True)]
            raw.set_annotations(mne.Annotations(self.events["onset"].to_numpy(),
                                                self.events["duration"].to_numpy(), desc))
        return raw

    def save_fif(self, fname: str, overwrite: bool = False) -> str:
        """Write a ``.fif`` file (SI units, events as annotations)."""
        self.to_raw().save(fname, overwrite=overwrite, verbose="error")
        return str(fname)


#: event kinds written to annotations as ``"kind/value"`` and split back on reading.
STRUCTURED_KINDS = ("stimulus", "response", "word", "phoneme", "sound", "stim")


def _annotation_description(kind: str, value: Any) -> str:
    if kind in STRUCTURED_KINDS and value is not None:
        return f"{kind}/{value}"
    return str(value) if value is not None and kind in ("annotation", "bad") else str(kind)


__all__ = ["EVENT_COLUMNS", "KINDS", "SI_TO_UNIT", "STRUCTURED_KINDS", "UNITS", "Recording",
           "Sensors", "make_events", "normalise_events"]
