"""Read recordings from every format MNE reads, BIDS roots, NumPy arrays and LibriBrain HDF5.

All readers return a validated :class:`~neuroseq.data.recording.Recording` in neuroseq units
(fT, fT/cm, µV).  Use :func:`read_recording` for a single file and :func:`find_recordings` to
list what a path or BIDS root holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from neuroseq.data.array_readers import (
    bids_entities,
    extension,
    read_array,
    read_libribrain_h5,
)
from neuroseq.data.events import (
    from_annotations,
    from_stim_channel,
    read_events_tsv,
)
from neuroseq.data.recording import KINDS, UNITS, Recording, Sensors
from neuroseq.errors import DataError, FormatError

#: file endings MNE reads (``mne.io.read_raw`` dispatches on them).
MNE_EXTENSIONS = (".fif", ".fif.gz", ".con", ".sqd", ".ds", ".edf", ".bdf", ".vhdr", ".set",
                  ".gdf", ".cnt", ".mff", ".nxe", ".lay", ".eeg")
ARRAY_EXTENSIONS = (".npy", ".npz")
H5_EXTENSIONS = (".h5", ".hdf5")
Source = str | Path | Any  # a path, or an mne_bids.BIDSPath

def is_bids_root(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding ``dataset_description.json``."""
    p = Path(path)
    return p.is_dir() and (p / "dataset_description.json").exists()


# ---------------------------------------------------------------------------------- MNE files
def _recording_from_raw(raw: Any, source: str, *, exclude_bads: bool, ents: dict,
                        events: pd.DataFrame | None) -> Recording:
    import mne

    picks = mne.pick_types(raw.info, meg=True, eeg=True, ref_meg=False,
                           exclude="bads" if exclude_bads else [])
    if len(picks) == 0:
        types = sorted(set(raw.get_channel_types()))
        raise DataError(f"{source} has no MEG or EEG channel (channel types: {types}); "
                        "neuroseq reads mag, grad and eeg channels.")
    sensors = Sensors.from_info(raw.info, picks)
    units = {k: UNITS[k] for k in sensors.counts()}
    data = raw.get_data(picks=picks, units=units).astype(np.float32)
    if events is None:
        events = from_annotations(raw.annotations,
                                  raw.first_time if raw.annotations.orig_time is not None else 0.0)
        stim = mne.pick_types(raw.info, meg=False, stim=True)
        if len(events) == 0 and len(stim):
            events = from_stim_channel(raw)
    rec = Recording(data=data, sfreq=raw.info["sfreq"], sensors=sensors,
                    subject=ents.get("subject") or "01", session=ents.get("session"),
                    task=ents.get("task"), events=events, source=source)
    kept = set(picks.tolist())
    dropped = [name for i, name in enumerate(raw.ch_names) if i not in kept]
    rec.add_step("read", source=source, reader="mne", n_channels=len(picks),
                 dropped_channels=dropped[:50], n_dropped=len(dropped), units=units)
    return rec


def _check_mne_warnings(path: Path, messages: list[str], on_outside: str) -> None:
    """Turn MNE's warnings about short files into errors: MNE reads what is there and warns."""
    for msg in messages:
        low = msg.lower()
        if "does not match the file size" in low or "truncat" in low:
            raise FormatError(f"{path} looks truncated: MNE warns {msg!r}. Re-export or re-copy "
                              "the file; neuroseq will not use a silently shortened recording.")
        if "outside data range" in low and on_outside == "raise":
            raise DataError(f"{path}: MNE warns {msg!r}: markers lie past the end of the data, "
                            "so the data file is probably truncated or the markers belong to "
                            "another recording. Pass on_outside='drop' to accept it.")


def _read_mne(path: Path, exclude_bads: bool, events: pd.DataFrame | None,
              on_outside: str = "raise") -> Recording:
    import warnings

    import mne

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne.io.read_raw(path, preload=False, verbose="warning")
        _check_mne_warnings(path, [str(w.message) for w in caught], on_outside)
    except (FormatError, DataError):
        raise
    except Exception as err:  # MNE raises many types for truncated/corrupt files
        raise FormatError(f"cannot read {path} with MNE ({type(err).__name__}: {err}). "
                          "The file may be truncated or corrupt; check its size and that it "
                          "opens in mne.io.read_raw.") from err
    try:
        return _recording_from_raw(raw, str(path), exclude_bads=exclude_bads,
                                   ents=bids_entities(path), events=events)
    except (OSError, ValueError, EOFError) as err:
        if isinstance(err, DataError):
            raise
        raise FormatError(f"cannot read the samples of {path} ({type(err).__name__}: {err}); "
                          "the file is probably truncated.") from err


# ---------------------------------------------------------------------------------- BIDS
def find_bids_recordings(root: str | Path, *, subjects: list[str] | None = None,
                         sessions: list[str] | None = None, tasks: list[str] | None = None,
                         datatypes: list[str] | None = None) -> list[Any]:
    """Every MEG/EEG recording under a BIDS root (``mne_bids.BIDSPath`` list), filtered."""
    import mne_bids

    root = Path(root)
    if not is_bids_root(root):
        raise FormatError(f"{root} is not a BIDS root (no dataset_description.json).")
    datatypes = datatypes or ["meg", "eeg"]
    paths = mne_bids.find_matching_paths(
        root, subjects=subjects, sessions=sessions, tasks=tasks, datatypes=datatypes,
        suffixes=datatypes, extensions=[e for e in MNE_EXTENSIONS if e != ".fif.gz"])
    # CTF .ds are directories: find_matching_paths lists them too; drop split duplicates
    seen, out = set(), []
    for p in sorted(paths, key=lambda b: str(b.fpath)):
        key = (p.subject, p.session, p.task, p.run, p.datatype, p.acquisition)
        if key not in seen:
            seen.add(key)
            out.append(p)
    if not out:
        raise FormatError(f"no recording under BIDS root {root} matches subjects={subjects}, "
                          f"sessions={sessions}, tasks={tasks}, datatypes={datatypes}.")
    return out


def read_bids(bids_path: Any, *, exclude_bads: bool = True, on_flat: str = "raise",
              on_outside: str = "raise") -> Recording:
    """Read one BIDS recording through ``mne_bids.read_raw_bids`` (events from ``events.tsv``)."""
    import warnings

    import mne_bids

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = mne_bids.read_raw_bids(bids_path, verbose="warning")
        _check_mne_warnings(bids_path.fpath, [str(w.message) for w in caught], on_outside)
    except (FormatError, DataError):
        raise
    except Exception as err:
        raise FormatError(f"mne-bids cannot read {bids_path.fpath} ({type(err).__name__}: "
                          f"{err}).") from err
    ents = {"subject": bids_path.subject, "session": bids_path.session, "task": bids_path.task}
    events = None
    ev_path = bids_path.copy().update(suffix="events", extension=".tsv")
    if ev_path.fpath.exists():
        events = read_events_tsv(ev_path.fpath)
    rec = _recording_from_raw(raw, str(bids_path.fpath), exclude_bads=exclude_bads, ents=ents,
                              events=events)
    return rec.validate(on_flat=on_flat, on_outside=on_outside)


# ---------------------------------------------------------------------------------- dispatch
def read_recording(source: Source, *, exclude_bads: bool = True,
                   events: str | Path | pd.DataFrame | None = None,
                   on_flat: Literal["raise", "drop"] = "raise",
                   on_outside: Literal["raise", "drop"] = "raise", **kwargs: Any) -> Recording:
    """Read any supported recording and validate it.

    Parameters
    ----------
    source : path | BIDSPath
        A file MNE reads (FIF, KIT, CTF ``.ds``, EDF/BDF, BrainVision, EEGLAB...), a
        ``.npy``/``.npz`` array, a LibriBrain ``.h5`` file, or an ``mne_bids.BIDSPath``.
    exclude_bads : bool
        Drop channels marked bad in the file.
    events : path | DataFrame | None
        An events TSV that replaces the file's own events.
    on_flat, on_outside : "raise" | "drop"
        What to do with flat channels and with events outside the recording.
    **kwargs
        Passed to :func:`read_array` or :func:`read_libribrain_h5`.
    """
    if type(source).__name__ == "BIDSPath":
        return read_bids(source, exclude_bads=exclude_bads, on_flat=on_flat,
                         on_outside=on_outside)
    path = Path(source)
    if not path.exists():
        raise FormatError(f"{path} does not exist.")
    if is_bids_root(path):
        raise FormatError(f"{path} is a BIDS root, not a recording; list its recordings with "
                          "find_recordings() or read them one by one.")
    ext = extension(path)
    if isinstance(events, (str, Path)):
        events = read_events_tsv(events)
    if ext in ARRAY_EXTENSIONS:
        rec = read_array(path, events=events, **kwargs)
    elif ext in H5_EXTENSIONS:
        rec = read_libribrain_h5(path, events=events, **kwargs)
    elif ext in MNE_EXTENSIONS:
        if kwargs:
            raise FormatError(f"{path} carries its own sampling rate and channels; "
                              f"{sorted(kwargs)} describe .npy/.npz arrays only. Drop them for "
                              "this file.")
        rec = _read_mne(path, exclude_bads, events, on_outside)
    else:
        raise FormatError(
            f"unknown file type {ext!r} for {path}. neuroseq reads "
            f"{', '.join(MNE_EXTENSIONS + ARRAY_EXTENSIONS + H5_EXTENSIONS)} and BIDS roots.")
    return rec.validate(on_flat=on_flat, on_outside=on_outside)


def find_recordings(inputs: Source | list[Source], **bids_filters: Any) -> list[Source]:
    """Expand files, directories and BIDS roots into a flat list of readable sources."""
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    out: list[Source] = []
    for item in inputs:
        if type(item).__name__ == "BIDSPath":
            out.append(item)
            continue
        p = Path(item)
        if is_bids_root(p):
            out.extend(find_bids_recordings(p, **bids_filters))
        elif p.is_dir() and extension(p) != ".ds":
            found = sorted(f for f in p.rglob("*") if extension(f) in
                           MNE_EXTENSIONS + ARRAY_EXTENSIONS + H5_EXTENSIONS and
                           not any(part.endswith(".ds") for part in f.parent.parts))
            if not found:
                raise FormatError(f"no readable recording in directory {p}.")
            out.extend(found)
        else:
            if not p.exists():
                raise FormatError(f"{p} does not exist.")
            out.append(p)
    return out


#: reader arguments that describe bare arrays (``.npy``/``.npz``); other formats carry their own
ARRAY_FACTS = ("sfreq", "ch_names", "ch_types", "units")


def for_source(source: Source, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without the array facts unless ``source`` is an array file (for corpora that
    mix arrays with self-describing files)."""
    if type(source).__name__ != "BIDSPath" and extension(Path(source)) in ARRAY_EXTENSIONS:
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k not in ARRAY_FACTS}


def scan(source: Source, **read_kwargs: Any) -> dict[str, Any]:
    """Header of a recording without reading its samples: sfreq, channels, samples.

    ``read_kwargs`` are what :func:`read_recording` would get (the array facts of a ``.npy``).
    """
    import mne

    if type(source).__name__ == "BIDSPath":
        source = source.fpath
    path = Path(source)
    ext = extension(path)
    if ext in MNE_EXTENSIONS:
        try:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
        except Exception as err:
            raise FormatError(f"cannot read {path} with MNE ({err}).") from err
        types = raw.get_channel_types()
        return {"sfreq": raw.info["sfreq"], "n_times": raw.n_times,
                "n_channels": sum(t in KINDS for t in types)}
    if ext in H5_EXTENSIONS:  # LibriBrain runs are ~1 GB: read the header only
        import h5py

        try:
            with h5py.File(path, "r") as f:
                sfreq = f.attrs.get("sample_frequency", f.attrs.get("sample_freq"))
                shape = f["data"].shape if "data" in f else None
        except OSError as err:
            raise FormatError(f"cannot open HDF5 file {path} ({err}).") from err
        if sfreq is None or shape is None:
            raise FormatError(f"{path}: needs a 'data' dataset and a 'sample_frequency' "
                              "attribute.")
        return {"sfreq": float(sfreq), "n_times": shape[1], "n_channels": shape[0]}
    if ext == ".npy" and path.with_suffix(".json").exists():
        try:
            shape = np.load(path, mmap_mode="r").shape
            sfreq = read_kwargs.get("sfreq") or json.loads(
                path.with_suffix(".json").read_text()).get("sfreq")
        except (ValueError, OSError, json.JSONDecodeError) as err:
            raise FormatError(f"cannot read {path} or its sidecar ({err}).") from err
        if sfreq is not None and len(shape) == 2:
            return {"sfreq": float(sfreq), "n_times": shape[1], "n_channels": shape[0]}
    rec = read_recording(path, **for_source(path, read_kwargs))
    return {"sfreq": rec.sfreq, "n_times": rec.n_times, "n_channels": rec.n_channels}
