"""Readers of recordings that are not MNE files: bare NumPy arrays and LibriBrain HDF5.

An array cannot say its sampling rate, channel names or types: they come from arguments, from
``.npz`` keys or from a JSON sidecar, and every missing one is named at once
(:class:`~neuroseq.errors.MissingFieldsError`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from neuroseq.data.events import read_events_tsv, read_libribrain_events
from neuroseq.data.recording import SI_TO_UNIT, Recording, Sensors
from neuroseq.errors import DataError, FormatError, MissingFieldsError
from neuroseq.log import logger

#: channel-type spellings accepted for arrays and HDF5 files
KIND_ALIASES = {"mag": "mag", "grad": "grad", "eeg": "eeg", "planar1": "grad",
                 "planar2": "grad", "meggrad": "grad", "megmag": "mag", "axial": "mag"}


def extension(path: Path) -> str:
    """The file ending that decides the reader (``.fif.gz`` counts as one)."""
    name = path.name.lower()
    for e in (".fif.gz",):
        if name.endswith(e):
            return e
    return path.suffix.lower()


def bids_entities(path: Path) -> dict[str, str | None]:
    """``sub-``, ``ses-``, ``task-`` and ``run-`` entities of a BIDS-style file name."""
    ents = dict(re.findall(r"(sub|ses|task|run)-([a-zA-Z0-9]+)", path.name))
    return {"subject": ents.get("sub"), "session": ents.get("ses"), "task": ents.get("task"),
            "run": ents.get("run")}


# ---------------------------------------------------------------------------------- arrays
def sensors_from_lists(names: list[str] | None, types: list[str] | None, n: int,
                       where: str) -> Sensors:
    """Sensors from channel names and types (one type for all, or one per channel)."""
    if names is None or types is None:
        raise FormatError(
            f"{where}: channel names and types are required for array data. Pass "
            "ch_names=[...] and ch_types=[...] (mag/grad/eeg), or write a JSON sidecar "
            '{"sfreq": 100, "ch_names": [...], "ch_types": [...]} next to the file.')
    if isinstance(types, str):
        types = [types] * n
    kinds = [KIND_ALIASES.get(str(t).strip().lower()) for t in types]
    if None in kinds:
        bad = sorted({str(t) for t, k in zip(types, kinds, strict=True) if k is None})
        raise FormatError(f"{where}: unknown channel type(s) {bad}; use mag, grad or eeg.")
    if len(names) != n or len(kinds) != n:
        raise DataError(f"{where}: the array has {n} channels but {len(names)} names and "
                        f"{len(kinds)} types were given.")
    return Sensors(names=list(names), kinds=kinds)


def apply_units(data: np.ndarray, sensors: Sensors, units: str, where: str) -> np.ndarray:
    """float32 data in neuroseq units; ``units="si"`` converts T, T/m and V."""
    if units == "si":
        scale = np.array([SI_TO_UNIT[k] for k in sensors.kinds], dtype=np.float64)[:, None]
        return (data.astype(np.float64) * scale).astype(np.float32)
    if units != "neuroseq":
        raise DataError(f"{where}: units must be 'si' (T, T/m, V) or 'neuroseq' "
                        f"(fT, fT/cm, µV), got {units!r}.")
    return data.astype(np.float32, copy=False)


def _check_agrees(path: Path, sidecar: Path, meta: dict[str, Any], **given: Any) -> None:
    """Refuse an argument that contradicts what the file or its sidecar says (a silently
    ignored ``--sfreq 50`` on 400 Hz data would stretch 10 s into 80 s)."""
    for key, value in given.items():
        have = meta.get(key)
        if value is None or have is None:
            continue
        if key == "ch_types" and isinstance(value, str):
            value = [value] * (len(have) if isinstance(have, list) else 1)
        same = (abs(float(value) - float(have)) < 1e-9 if key == "sfreq"
                else [str(v) for v in value] == [str(v) for v in
                                                 (have if isinstance(have, list) else [have])])
        if not same:
            src = sidecar.name if sidecar.exists() else f"{path.name}'s own keys"
            shown = value if key == "sfreq" else list(value)[:5]
            raise DataError(f"{path}: {key}={shown} (--{key.replace('_', '-')}) disagrees with "
                            f"{src}, which says {have if key == 'sfreq' else list(have)[:5]}; "
                            f"drop the flag to use the file's value, or correct {src}.")


def read_array(path: str | Path, *, sfreq: float | None = None,
               ch_names: list[str] | None = None, ch_types: list[str] | str | None = None,
               units: Literal["neuroseq", "si"] | None = None,
               events: str | Path | pd.DataFrame | None = None, **ids: str) -> Recording:
    """Read a ``[channels, times]`` array from ``.npy`` or ``.npz``.

    Sampling rate, channel names and types (and ``units``, ``subject``...) come from the
    arguments, from the ``.npz`` keys ``sfreq``/``ch_names``/``ch_types``, or from a JSON sidecar
    with the same stem.  ``units="si"`` converts T, T/m and V; the default ``"neuroseq"``
    means the array is already in fT, fT/cm and µV.
    """
    path = Path(path)
    meta: dict[str, Any] = {}
    sidecar = path.with_suffix(".json")
    if sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
        except json.JSONDecodeError as err:
            raise FormatError(f"sidecar {sidecar} is not valid JSON: {err}") from err
    try:
        if extension(path) == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "data" not in z:
                    raise FormatError(f"{path}: .npz needs a 'data' array; it has "
                                      f"{list(z.keys())}.")
                data = np.asarray(z["data"])
                for key in ("sfreq", "ch_names", "ch_types", "units"):
                    if key in z and key not in meta:
                        v = z[key]
                        meta[key] = v.item() if v.ndim == 0 else v.tolist()
        else:
            data = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:
        raise FormatError(f"cannot read array file {path} ({err}); it may be truncated.") from err
    if data.ndim != 2:
        raise DataError(f"{path}: array must be 2-D [channels, times], got shape {data.shape}.")
    _check_agrees(path, sidecar, meta, sfreq=sfreq, ch_names=ch_names, ch_types=ch_types)
    sfreq = sfreq or meta.get("sfreq")
    ch_names, ch_types = ch_names or meta.get("ch_names"), ch_types or meta.get("ch_types")
    missing = [k for k, v in (("sfreq", sfreq), ("ch_names", ch_names), ("ch_types", ch_types))
               if v is None]
    if missing:
        raise MissingFieldsError(
            f"{path}: array data needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} missing. Pass them as arguments "
            "(sfreq=..., ch_names=[...], ch_types=[...] of mag/grad/eeg) or write a JSON sidecar "
            f'{{"sfreq": 100, "ch_names": [...], "ch_types": [...]}} as {sidecar.name}.',
            missing, str(path))
    sensors = sensors_from_lists(ch_names, ch_types, data.shape[0], str(path))
    units = units or meta.get("units", "neuroseq")
    ents = bids_entities(path)
    ents.update({k: meta[k] for k in ("subject", "session", "task") if k in meta})
    ents.update(ids)
    ev = events if events is not None else meta.get("events")
    if isinstance(ev, (str, Path)):
        ev_path = Path(ev) if Path(ev).is_absolute() else path.parent / ev
        ev = read_events_tsv(ev_path)
    rec = Recording(data=apply_units(np.asarray(data), sensors, units, str(path)), sfreq=sfreq,
                    sensors=sensors, subject=ents.get("subject") or "01",
                    session=ents.get("session"), task=ents.get("task"), events=ev,
                    source=str(path))
    return rec.add_step("read", source=str(path), reader="array", units=units)


# ---------------------------------------------------------------------------------- LibriBrain
def _libribrain_events_path(path: Path) -> Path | None:
    stem = path.name.split("_proc-")[0].removesuffix("_meg.h5").removesuffix(".h5")
    candidates = [path.parent.parent / "events" / f"{stem}_events.tsv",
                  path.parent / f"{stem}_events.tsv"]
    return next((c for c in candidates if c.exists()), None)


def read_libribrain_h5(path: str | Path, *, events: str | Path | pd.DataFrame | None = None,
                       units: Literal["neuroseq", "si"] = "si", **ids: str) -> Recording:
    """Read a LibriBrain-style HDF5 file and its events TSV.

    The file holds ``data [C, N]`` and attributes ``sample_frequency``, ``channel_names`` and
    ``channel_types`` (comma-joined strings or arrays).  The events TSV is looked for in
    ``../events/<stem>_events.tsv`` unless given.  LibriBrain data are in SI units.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "data" not in f:
                raise FormatError(f"{path}: no 'data' dataset (has {list(f.keys())}).")
            attrs = dict(f.attrs)
            data = f["data"][()]
            xyzdir = f["sensor_xyzdir"][()] if "sensor_xyzdir" in f else None
    except OSError as err:
        raise FormatError(f"cannot open HDF5 file {path} ({err}); it may be truncated.") from err

    def _list(v: Any) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, str):
            return [s.strip() for s in v.split(",")]
        return [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(v).tolist()]

    sfreq = attrs.get("sample_frequency", attrs.get("sample_freq"))
    if sfreq is None:
        raise FormatError(f"{path}: no 'sample_frequency' attribute (has {sorted(attrs)}).")
    sensors = sensors_from_lists(_list(attrs.get("channel_names")),
                                  _list(attrs.get("channel_types")), data.shape[0], str(path))
    if xyzdir is not None and xyzdir.shape == (data.shape[0], 6):
        locs = np.full((data.shape[0], 12), np.nan)
        locs[:, :3] = xyzdir[:, :3]
        kinds = np.asarray(sensors.kinds)
        locs[kinds == "grad", 3:6] = xyzdir[kinds == "grad", 3:]
        locs[kinds == "mag", 9:12] = xyzdir[kinds == "mag", 3:]
        sensors.locs = locs
    if events is None:
        ev_path = _libribrain_events_path(path)
        events = read_libribrain_events(ev_path) if ev_path else None
        if ev_path is None:
            logger.info("no LibriBrain events TSV found for %s", path)
    elif isinstance(events, (str, Path)):
        events = read_libribrain_events(events)
    ents = {**bids_entities(path), **ids}
    rec = Recording(data=apply_units(data, sensors, units, str(path)), sfreq=float(sfreq),
                    sensors=sensors, subject=ents.get("subject") or "01",
                    session=ents.get("session"), task=ents.get("task"), events=events,
                    source=str(path))
    return rec.add_step("read", source=str(path), reader="libribrain_h5", units=units)
