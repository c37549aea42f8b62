"""Events tables from MNE annotations, stim channels and BIDS / MEG-MASC / LibriBrain TSV files.

The canonical table has columns ``onset`` (s), ``duration`` (s), ``kind`` (what sort of event:
``stimulus``, ``word``, ``phoneme``, ``stim``, ``bad``, ``annotation``...) and ``value`` (its label:
a condition name, a word, a phoneme or a trigger code), plus any extra columns.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroseq.data.recording import STRUCTURED_KINDS, make_events
from neuroseq.errors import FormatError

#: keys of a MEG-MASC ``trial_type`` dict that hold the event's label, by priority.
_LABEL_KEYS = ("word", "phoneme", "sound", "condition", "value")


def _kind_value_from_description(desc: str) -> tuple[str, Any]:
    desc = desc.removeprefix("Comment/")  # BrainVision stores free-text markers as comments
    if desc.lower().startswith(("bad", "edge", "boundary")):
        return "bad", desc
    head, sep, tail = desc.partition("/")
    if sep and head in STRUCTURED_KINDS:
        return head, tail
    return "annotation", desc


def from_annotations(annotations: Any, first_time: float = 0.0) -> pd.DataFrame:
    """Events from MNE ``Annotations``; onsets are made relative to the first sample.

    Descriptions that are Python dict literals (MEG-MASC) are parsed with ``ast.literal_eval``.
    """
    rows = []
    for onset, duration, desc in zip(annotations.onset, annotations.duration,
                                     annotations.description, strict=True):
        desc = str(desc)
        if desc.startswith("{"):
            row = _parse_dict_trial_type(desc, where="annotation")
        else:
            kind, value = _kind_value_from_description(desc)
            row = {"kind": kind, "value": value}
        row["onset"] = float(onset) - first_time
        row["duration"] = float(duration)
        rows.append(row)
    if not rows:
        return make_events()
    return pd.DataFrame(rows)


def from_stim_channel(raw: Any, stim_channel: str | list[str] | None = None) -> pd.DataFrame:
    """Events from the trigger channel(s) of an MNE ``Raw`` (``kind="stim"``, integer values)."""
    import mne

    try:
        ev = mne.find_events(raw, stim_channel=stim_channel, shortest_event=1, verbose="error")
    except ValueError:
        return make_events()
    onset = (ev[:, 0] - raw.first_samp) / raw.info["sfreq"]
    return make_events(onset, 0.0, "stim", [int(v) for v in ev[:, 2]])


def _parse_dict_trial_type(text: str, where: str) -> dict:
    try:
        d = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise FormatError(f"{where}: trial_type {text[:80]!r} looks like a dict but is not a "
                          f"valid Python literal ({err}).") from err
    if not isinstance(d, dict):
        raise FormatError(f"{where}: trial_type {text[:80]!r} is not a dict.")
    row = {k: v for k, v in d.items() if k not in ("onset", "duration")}
    kind = str(row.pop("kind", "annotation"))
    value = next((row[k] for k in _LABEL_KEYS if k in row), None)
    return {"kind": kind, "value": value, **row}


def read_events_tsv(fname: str | Path) -> pd.DataFrame:
    """Read a BIDS ``*_events.tsv`` (including MEG-MASC dict ``trial_type`` strings, and
    Armeni's ``type``/``value`` columns, whose ``word_onset*`` rows are words).

    ``trial_type`` becomes ``value`` (``kind="annotation"``, or ``"bad"`` for BAD_/boundary
    rows); a dict-literal ``trial_type`` gives its ``kind`` and label (``word``, ``phoneme``...)
    and its other keys as extra columns.  The numeric ``value`` column is kept as ``code``.
    """
    fname = Path(fname)
    try:
        df = pd.read_csv(fname, sep="\t", encoding="utf-8-sig", keep_default_na=False,
                         na_values=["n/a", ""])
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise FormatError(f"cannot read events file {fname}: {err}") from err
    if "onset" not in df.columns:
        raise FormatError(f"events file {fname} has no 'onset' column "
                          f"(columns: {list(df.columns)}).")
    if "trial_type" not in df.columns and "type" in df.columns:  # Armeni et al. (CTF, Donders)
        return _armeni_events(df)
    rows = []
    for i, rec in enumerate(df.to_dict("records")):
        tt = rec.get("trial_type")
        if isinstance(tt, str) and tt.strip().startswith("{"):
            row = _parse_dict_trial_type(tt, where=f"{fname.name} row {i + 1}")
        elif isinstance(tt, str):
            kind, value = _kind_value_from_description(tt)
            row = {"kind": kind, "value": value}
        else:
            row = {"kind": "event", "value": rec.get("value")}
        if "value" in df.columns and rec.get("value") is not None:
            row.setdefault("code", rec.get("value"))
        row["onset"] = rec["onset"]
        row["duration"] = rec.get("duration", 0.0)
        rows.append(row)
    if not rows:
        return make_events()
    out = pd.DataFrame(rows)
    bad = pd.to_numeric(out["onset"], errors="coerce").isna()
    if bad.any():
        raise FormatError(f"events file {fname}: onset is not a number in row(s) "
                          f"{list(np.flatnonzero(bad)[:5] + 1)}.")
    out["duration"] = pd.to_numeric(out["duration"], errors="coerce").fillna(0.0)
    return out


def _armeni_events(df: pd.DataFrame) -> pd.DataFrame:
    """Armeni's ``type``/``value`` events: ``word_onset*`` rows are words (``value`` the word,
    quotes and silences handled downstream by :func:`neuroseq.data.words.clean_words`); other
    rows keep their ``type`` as kind."""
    kind = ["word" if str(t).startswith("word_onset") else str(t) for t in df["type"]]
    dur = pd.to_numeric(df["duration"], errors="coerce").fillna(0.0).to_numpy() \
        if "duration" in df.columns else 0.0
    return make_events(pd.to_numeric(df["onset"], errors="raise").to_numpy(float), dur, kind,
                       df["value"].tolist() if "value" in df.columns else [None] * len(df))


def read_libribrain_events(fname: str | Path) -> pd.DataFrame:
    """Read a LibriBrain events TSV (``kind``, ``segment``, ``timemeg``, ``duration``...)."""
    fname = Path(fname)
    try:
        df = pd.read_csv(fname, sep="\t", keep_default_na=False, na_values=["n/a", ""])
    except (OSError, pd.errors.ParserError) as err:
        raise FormatError(f"cannot read LibriBrain events file {fname}: {err}") from err
    need = {"kind", "segment", "timemeg"}
    if not need <= set(df.columns):
        raise FormatError(f"LibriBrain events file {fname} lacks columns "
                          f"{sorted(need - set(df.columns))}.")
    extra = {c: df[c].tolist() for c in df.columns
             if c not in ("kind", "segment", "timemeg", "duration")}
    return make_events(df["timemeg"].to_numpy(float),
                       df["duration"].to_numpy(float) if "duration" in df else 0.0,
                       df["kind"].astype(str).tolist(), df["segment"].tolist(), **extra)


def condition_timeline(events: pd.DataFrame, condition_map: dict[str, int], n_times: int,
                       sfreq: float, seconds: float | None = 0.5) -> np.ndarray:
    """Per-sample condition ids (0 = none) from events.

    Each event whose ``value`` is in ``condition_map`` sets its id for ``seconds`` after the
    onset (GPT2MEG: 0.5 s), or for the event's duration when ``seconds`` is None.
    """
    out = np.zeros(n_times, dtype=np.int16)
    for onset, dur, val in zip(events["onset"], events["duration"], events["value"], strict=True):
        cid = condition_map.get(str(val))
        if cid:
            length = seconds if seconds is not None else dur
            a = int(round(onset * sfreq))
            out[max(a, 0):a + max(1, int(round(length * sfreq)))] = cid
    return out


def synthetic_timeline(n_times: int, sfreq: float, classes: list[int], *, rest: float = 0.5,
                       trial: float = 0.5, seed: int = 0) -> np.ndarray:
    """GPT2MEG's synthetic conditioning: ``rest`` s of 0, then a random class for ``trial`` s,
    repeated over ``n_times`` samples."""
    if not classes:
        raise ValueError("synthetic_timeline needs at least one class id.")
    rng = np.random.default_rng(seed)
    out = np.zeros(n_times, dtype=np.int16)
    r, t = int(round(rest * sfreq)), max(1, int(round(trial * sfreq)))
    for a in range(r, n_times, r + t):
        out[a:a + t] = rng.choice(classes)
    return out


def timeline_events(timeline: np.ndarray, sfreq: float,
                    names: dict[int, str] | None = None) -> pd.DataFrame:
    """Events (onset, duration, kind ``"stim"``, value) for the runs of non-zero ids."""
    t = np.asarray(timeline)
    change = np.flatnonzero(np.diff(np.r_[0, t, 0]) != 0)
    onsets, values, durs = [], [], []
    for a, b in zip(change[:-1], change[1:], strict=True):
        if t[a] != 0:
            onsets.append(a / sfreq)
            durs.append((b - a) / sfreq)
            values.append((names or {}).get(int(t[a]), str(int(t[a]))))
    return make_events(onsets, durs, ["stim"] * len(onsets), values)
