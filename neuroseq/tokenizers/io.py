"""Inputs and outputs of the tokenizer commands: stores or files in, ``.npz`` codes out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.data.recording import Recording, Sensors
from neuroseq.errors import DataError, FormatError
from neuroseq.tokenizers.base import Tokenizer


@dataclass
class Segment:
    """A continuous piece of one recording."""

    name: str
    data: np.ndarray
    sfreq: float
    sensors: Sensors
    subject: str = "unknown"


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a neuroseq store (a zarr group)."""
    p = Path(path)
    return p.is_dir() and (p / "zarr.json").is_file()


def open_inputs(inputs: list[str], **read_kwargs: Any) -> list[Any]:
    """Each input as a ``Store`` or a ``Recording``."""
    from neuroseq.data.readers import read_recording
    from neuroseq.data.store import Store

    return [Store(p) if is_store(p) else read_recording(p, **read_kwargs) for p in inputs]


def fit_data(sources: list[Any]) -> Any:
    """What :meth:`Tokenizer.fit` takes: one store, or a list of recordings."""
    stores = [s for s in sources if not isinstance(s, Recording)]
    if stores and len(sources) > 1:
        raise DataError("fit on one store, or on files; not on several stores or a mixture.")
    return stores[0] if stores else sources


def segments(sources: list[Any], split: str | None = None) -> list[Segment]:
    """Continuous segments: whole recordings, or the ``split`` spans of stores."""
    from neuroseq.data.splits import sample_spans

    out = []
    for src in sources:
        if isinstance(src, Recording):
            if split:
                raise DataError(f"--split {split} needs a store; {src.source or 'a file'} has no "
                                "split (prepare a store with `neuroseq prepare`).")
            name = Path(str(src.source)).stem if src.source else f"sub-{src.subject}"
            out.append(Segment(name, src.data, src.sfreq, src.sensors, src.subject))
            continue
        for rid in src.ids:
            ranges = sample_spans(src, rid, split)
            for i, (a, b) in enumerate(r for r in ranges if r[1] > r[0]):
                name = rid if len(ranges) == 1 else f"{rid}:{i}"
                out.append(Segment(name, src.read(rid, a, b), src.sfreq(rid), src.sensors(rid),
                                   src.subject(rid)))
    if not out:
        raise DataError(f"no data to code (split {split!r} is empty).")
    return out


def save_codes(path: str | Path, tok: Tokenizer, segs: list[Segment],
               codes: list[np.ndarray], scales: list[np.ndarray | None]) -> Path:
    """Write codes, sensors and scales to one ``.npz`` (no pickled objects)."""
    meta = {"tokenizer": tok.kind, "vocab_size": tok.vocab_size, "n_levels": tok.n_levels,
            "hop": tok.hop, "segments": [{"name": s.name, "sfreq": s.sfreq, "subject": s.subject,
                                          "n_samples": int(s.data.shape[1]),
                                          "sensors": s.sensors.to_dict()} for s in segs]}
    arrays = {f"codes_{i}": c for i, c in enumerate(codes)}
    arrays |= {f"scale_{i}": s for i, s in enumerate(scales) if s is not None}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)
    return path


def load_codes(path: str | Path) -> tuple[dict, list[np.ndarray], list[np.ndarray | None]]:
    """Inverse of :func:`save_codes`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            n = len(meta["segments"])
            codes = [f[f"codes_{i}"] for i in range(n)]
            scales = [f[f"scale_{i}"] if f"scale_{i}" in f else None for i in range(n)]
    except (OSError, KeyError, ValueError) as err:
        raise FormatError(f"{path}: not a codes file written by `neuroseq tokenize encode` "
                          f"({err}).") from err
    return meta, codes, scales


def to_recording(seg_meta: dict, data: np.ndarray) -> Recording:
    """A decoded segment as a ``Recording`` (cropped to its original length)."""
    sensors = Sensors.from_dict(seg_meta["sensors"])
    return Recording(data[:, : seg_meta["n_samples"]].astype(np.float32), seg_meta["sfreq"],
                     sensors, subject=seg_meta.get("subject", "unknown"))
