"""A zarr corpus store: preprocessed recordings on disk (or any fsspec URL), read lazily.

Layout::

    store.zarr/                      root attrs: format, index (one row per recording), split
      recordings/<id>/data           float32 [C, T], chunked along time
      recordings/<id>  (attrs)       sensors, events, provenance, fitted pipeline

:func:`prepare` reads, validates and preprocesses many recordings in parallel (joblib) and
writes the index last.  A local store is built beside its destination (``.NAME.building-PID``)
and renamed into place only when every recording is in it, so an interrupted or failed run
leaves the previous store (or nothing) where the store goes, never a half-built one.  Stores
marked incomplete (written in place on remote filesystems, or by older versions) are refused
when opened.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroseq.data.preprocess import Pipeline
from neuroseq.data.readers import (
    ARRAY_FACTS,
    Source,
    find_recordings,
    for_source,
    read_recording,
    scan,
)
from neuroseq.data.recording import Recording, Sensors
from neuroseq.data.splits import Split, SplitSpec
from neuroseq.errors import DataError, FormatError
from neuroseq.log import logger, progress

STORE_FORMAT = 1


def _protocol(path: str) -> str:
    import fsspec.utils

    return fsspec.utils.get_protocol(str(path))


def _open_group(path: str | Path, mode: str, storage_options: dict | None = None) -> Any:
    import zarr

    kw = {"storage_options": storage_options} if storage_options else {}
    return zarr.open_group(str(path), mode=mode, **kw)


def _events_to_records(ev: pd.DataFrame) -> list[dict]:
    return json.loads(ev.to_json(orient="records", default_handler=str))


def _rec_id(source: Source, rec: Recording, taken: set[str]) -> str:
    if rec.task or rec.session:
        base = f"sub-{rec.subject}" + (f"_ses-{rec.session}" if rec.session else "") + (
            f"_task-{rec.task}" if rec.task else "")
    else:
        base = Path(str(getattr(source, "fpath", source))).name.split(".")[0]
    rid, i = base, 2
    while rid in taken:
        rid, i = f"{base}_{i}", i + 1
    return rid


def _compressors(compression: str | None) -> Any:
    import zarr.codecs

    if compression in (None, "none"):
        return None
    if compression == "lz4":
        return zarr.codecs.BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")
    if compression == "zstd":
        return zarr.codecs.ZstdCodec(level=3)
    raise DataError(f"unknown compression {compression!r}; use none, lz4 or zstd.")


def _prepare_one(source: Source, path: str, rec_id: str | None, pipeline: str | None,
                 split: SplitSpec | None, chunk: int, compression: str | None,
                 storage_options: dict | None, read_kwargs: dict) -> dict:
    rec = read_recording(source, **for_source(source, read_kwargs))
    spans = split.spans(rec.subject, rec.duration, rec.events) if split else None
    pipe = None
    if pipeline is not None:
        pipe = Pipeline.from_json(pipeline)
        rec = pipe.fit_apply(rec, spans["train"] if spans and pipe.steps else None)
        if spans is not None:  # spans are in seconds: recompute at the new duration
            spans = split.spans(rec.subject, rec.duration, rec.events)
        rec.validate()
    root = _open_group(path, "a", storage_options)
    rid = rec_id or _rec_id(source, rec, set())
    grp = root.require_group("recordings").create_group(rid, overwrite=True)
    arr = grp.create_array("data", shape=rec.data.shape, dtype="float32",
                           chunks=(rec.n_channels, min(chunk, rec.n_times)),
                           compressors=_compressors(compression))
    arr[:] = rec.data
    grp.attrs.update({
        "sensors": rec.sensors.to_dict(), "events": _events_to_records(rec.events),
        "provenance": rec.provenance, "pipeline": pipe.to_dict() if pipe else None})
    return {"id": rid, "subject": rec.subject, "session": rec.session, "task": rec.task,
            "n_samples": rec.n_times, "sfreq": rec.sfreq, "n_channels": rec.n_channels,
            "kinds": rec.sensors.counts(), "n_events": len(rec.events),
            "source": str(getattr(source, "fpath", source)), "spans": spans}


def prepare(inputs: Source | list[Source], path: str | Path, *,
            pipeline: Pipeline | None = None, split: SplitSpec | None = None,
            n_jobs: int = 1, chunk: int = 1024, compression: str | None = None,
            overwrite: bool = False, storage_options: dict | None = None,
            bids_filters: dict | None = None, **read_kwargs: Any) -> Store:
    """Read, preprocess and write many recordings into a zarr store.

    Parameters
    ----------
    inputs : path | BIDSPath | list
        Files, directories or BIDS roots (see :func:`~neuroseq.data.readers.find_recordings`).
    path : str | Path
        Local path or fsspec URL (``s3://...``, ``memory://...``) of the store.
    pipeline : Pipeline | None
        Applied per recording; stateful steps (robust scaling) are fitted on that recording's
        training spans (the GPT2MEG per-subject protocol).
    split : SplitSpec | None
        How to split each recording; saved in the store with its hash.
    n_jobs : int
        Parallel workers (joblib); ``memory://`` stores run in one process.
    chunk : int
        Samples per zarr chunk along time.
    compression : None | "lz4" | "zstd"
        Chunk compression (none is fastest for random windows).
    """
    sources = find_recordings(inputs, **(bids_filters or {}))
    path = str(path)
    if _protocol(path) == "memory" and n_jobs != 1:
        logger.info("memory:// stores are per-process; preparing with n_jobs=1")
        n_jobs = 1
    # check sampling rates before any heavy work
    rates = {}
    for src in progress(sources, desc="scanning", total=len(sources)):
        sf = scan(src, **for_source(src, {k: v for k, v in read_kwargs.items()
                                           if k in ARRAY_FACTS}))["sfreq"]
        rates[str(getattr(src, "fpath", src))] = pipeline.output_sfreq(sf) if pipeline else sf
    if len(set(rates.values())) > 1:
        examples = ", ".join(f"{Path(k).name}: {v:g} Hz" for k, v in list(rates.items())[:4])
        raise DataError(f"the corpus mixes sampling rates ({examples}); add a resampling step "
                        "(Pipeline([... Resample(100) ...]) or `neuroseq prepare --resample 100`) "
                        "so every recording ends at one rate.")
    local = _protocol(path) in ("file", "local")
    target = Path(path)
    if local and target.exists() and not overwrite:
        raise DataError(f"store {path} already exists; pass overwrite=True (`neuroseq prepare "
                        "--overwrite`) to replace it.")
    build = str(target.parent / f".{target.name}.building-{os.getpid()}") if local else path
    if local:
        shutil.rmtree(build, ignore_errors=True)
    try:
        root = _open_group(build, "w" if overwrite or local else "w-", storage_options)
    except Exception as err:  # zarr raises ContainsGroupError / FileExistsError
        raise DataError(f"cannot create store {path} ({err}); pass overwrite=True to replace "
                        "an existing store.") from err
    try:
        rows, errors = _write_recordings(root, build, sources, pipeline, split, chunk,
                                         compression, storage_options, n_jobs, read_kwargs)
    except BaseException:
        if local:
            shutil.rmtree(build, ignore_errors=True)
        raise
    if errors:
        if local:
            shutil.rmtree(build, ignore_errors=True)
        listed = "; ".join(f"{Path(str(getattr(s_, 'fpath', s_))).name}: {e}"
                           for s_, e in errors[:5])
        kept = f"the existing store {path} is unchanged" if local and target.exists() else \
            "no store was written" if local else f"{path} is marked incomplete and is refused " \
            "when opened"
        raise DataError(f"{len(errors)} of {len(sources)} recording(s) could not be prepared, so "
                        f"{kept}. Fix or leave out these inputs: {listed}") from errors[0][1]
    if local:
        _swap_in(Path(build), target)
    return Store(path, storage_options=storage_options)


def _write_recordings(root: Any, path: str, sources: list[Source], pipeline: Pipeline | None,
                      split: SplitSpec | None, chunk: int, compression: str | None,
                      storage_options: dict | None, n_jobs: int,
                      read_kwargs: dict) -> tuple[list[dict], list[tuple[Any, Exception]]]:
    """Write every recording into the open store ``root`` at ``path``, then its index (last);
    returns the index rows and the failures."""
    root.attrs.update({"neuroseq_store": STORE_FORMAT, "complete": False})
    root.require_group("recordings")  # once, here: parallel workers racing to create it fail
    ids: list[str | None] = [None] * len(sources)
    taken: set[str] = set()
    for i, src in enumerate(sources):  # ids from file names are known before reading
        ids[i] = _rec_id(src, _IdProbe(src), taken)
        taken.add(ids[i])
    pipe_json = pipeline.to_json() if pipeline is not None else None
    args = [(src, path, ids[i], pipe_json, split, chunk, compression, storage_options,
             read_kwargs) for i, src in enumerate(sources)]
    rows, errors = [], []
    if n_jobs == 1:
        results = (_safe_prepare(*a) for a in args)
    else:
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        results = par(delayed(_safe_prepare)(*a) for a in args)
    for ok, val in progress(results, desc="preparing", total=len(args)):
        (rows if ok else errors).append(val)  # collect failures, write what worked, report
    rows.sort(key=lambda r: r["id"])
    spans = {r["id"]: r["spans"] for r in rows}
    index = [{k: v for k, v in r.items() if k != "spans"} for r in rows]
    attrs: dict[str, Any] = {"index": index, "complete": not errors,
                             "errors": [f"{s}: {e}" for s, e in errors]}
    if split is not None:
        sp = Split(split, {r["id"]: spans[r["id"]] for r in rows})
        attrs["split"] = sp.to_dict() | {"sha256": sp.hash}
    root.attrs.update(attrs)
    return rows, errors


def _swap_in(build: Path, target: Path) -> None:
    """Put the finished store ``build`` where ``target`` is; the old one is removed only after
    the new one is in place."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    build.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _safe_prepare(*args: Any) -> tuple[bool, Any]:
    """``(True, index row)`` or ``(False, (source, error))``: one failure never stops the rest."""
    try:
        return True, _prepare_one(*args)
    except Exception as err:
        return False, (args[0], err)


class _IdProbe:
    """Entities of a source from its name, to assign store ids before reading."""

    def __init__(self, src: Source) -> None:
        from neuroseq.data.readers import bids_entities

        if type(src).__name__ == "BIDSPath":
            self.subject, self.session, self.task = src.subject, src.session, src.task
            if src.run:
                self.task = f"{self.task}_run-{src.run}"
        else:
            e = bids_entities(Path(str(src)))
            self.subject, self.session, self.task = e["subject"] or "01", e["session"], e["task"]
            if e["run"] and self.task:
                self.task = f"{self.task}_run-{e['run']}"


class Store:
    """Read access to a prepared store.

    Parameters
    ----------
    path : str | Path
        Local path or fsspec URL.
    cache_mb : float
        Size of the in-memory LRU cache of decoded chunks used by :meth:`read`.
    allow_incomplete : bool
        Open a store whose preparation failed part-way (refused by default).
    """

    def __init__(self, path: str | Path, *, storage_options: dict | None = None,
                 cache_mb: float = 256.0, allow_incomplete: bool = False) -> None:
        self.path = str(path)
        self._storage_options = storage_options
        try:
            self._root = _open_group(self.path, "r", storage_options)
        except Exception as err:
            raise FormatError(f"no neuroseq store at {self.path} ({err}).") from err
        attrs = dict(self._root.attrs)
        if attrs.get("neuroseq_store") != STORE_FORMAT:
            raise FormatError(f"{self.path} is not a neuroseq store (format "
                              f"{attrs.get('neuroseq_store')!r}).")
        if "index" not in attrs:
            raise FormatError(f"store {self.path} is incomplete (its preparation was "
                              "interrupted); prepare it again with overwrite=True.")
        self.errors = attrs.get("errors", [])
        if not attrs.get("complete", False):
            if not allow_incomplete:
                raise FormatError(
                    f"store {self.path} is incomplete: {len(self.errors)} recording(s) failed "
                    f"while it was prepared ({'; '.join(self.errors[:3])}). Prepare it again "
                    "(`neuroseq prepare ... --overwrite`), or open it with "
                    "Store(path, allow_incomplete=True) to read what is in it.")
            logger.warning("store %s is incomplete; %d recording(s) are missing from it",
                           self.path, len(self.errors))
        self.index = pd.DataFrame(attrs["index"])
        self.split = Split.from_dict(attrs["split"]) if attrs.get("split") else None
        self._meta: dict[str, dict] = {}
        self._arrays: dict[str, Any] = {}
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = int(cache_mb * 2**20)
        self._raw_dirs: dict[int, Path | None] = {}

    def __repr__(self) -> str:
        hours = float((self.index["n_samples"] / self.index["sfreq"]).sum() / 3600) if len(
            self.index) else 0.0
        return f"<Store {self.path} | {len(self.index)} recordings | {hours:.2f} h>"

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:  # DataLoader workers re-open the store
        state = self.__dict__.copy()
        state.update(_root=None, _arrays={}, _cache=OrderedDict(), _cache_bytes=0, _raw_dirs={})
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._root = _open_group(self.path, "r", self._storage_options)

    @property
    def ids(self) -> list[str]:
        """Recording ids in index order."""
        return self.index["id"].tolist()

    def _row(self, rid: str) -> pd.Series:
        m = self.index["id"] == rid
        if not m.any():
            raise DataError(f"recording {rid!r} is not in store {self.path}; it has "
                            f"{self.ids[:5]}{'...' if len(self) > 5 else ''}.")
        return self.index[m].iloc[0]

    def _attrs(self, rid: str) -> dict:
        if rid not in self._meta:
            self._row(rid)
            self._meta[rid] = dict(self._root["recordings"][rid].attrs)
        return self._meta[rid]

    def _array(self, rid: str) -> Any:
        if rid not in self._arrays:
            self._row(rid)
            self._arrays[rid] = self._root["recordings"][rid]["data"]
        return self._arrays[rid]

    def sfreq(self, rid: str) -> float:
        """Sampling frequency of a recording."""
        return float(self._row(rid)["sfreq"])

    def n_samples(self, rid: str) -> int:
        """Number of samples of a recording."""
        return int(self._row(rid)["n_samples"])

    def subject(self, rid: str) -> str:
        """Subject of a recording."""
        return str(self._row(rid)["subject"])

    def sensors(self, rid: str) -> Sensors:
        """Sensors of a recording."""
        return Sensors.from_dict(self._attrs(rid)["sensors"])

    def events(self, rid: str) -> pd.DataFrame:
        """Events table of a recording."""
        from neuroseq.data.recording import normalise_events

        return normalise_events(pd.DataFrame(self._attrs(rid)["events"]))

    def pipeline(self, rid: str) -> Pipeline | None:
        """The fitted preprocessing pipeline of a recording (inverts its scaling)."""
        d = self._attrs(rid).get("pipeline")
        return Pipeline.from_dict(d) if d else None

    def read(self, rid: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` of a recording, ``float32 [C, stop - start]``.

        Whole chunks are decoded once and kept in an LRU cache of ``cache_mb``.
        """
        arr = self._array(rid)
        n = arr.shape[1]
        stop = n if stop is None else stop
        if not 0 <= start < stop <= n:
            raise DataError(f"read({rid!r}, {start}, {stop}) is outside the recording "
                            f"(0 to {n} samples).")
        csize = arr.chunks[1]
        if stop - start > 4 * csize:
            return np.asarray(arr[:, start:stop])
        parts = []
        for c in range(start // csize, (stop - 1) // csize + 1):
            block = (self._chunk(rid, arr, c, csize) if self._cache_limit > 0
                     else self._read_chunk(arr, c, csize))
            lo, hi = max(start - c * csize, 0), min(stop - c * csize, block.shape[1])
            parts.append(block[:, lo:hi])
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts, axis=1)

    def _chunk(self, rid: str, arr: Any, c: int, csize: int) -> np.ndarray:
        key = (rid, c)
        block = self._cache.get(key)
        if block is not None:
            self._cache.move_to_end(key)
            return block
        block = self._read_chunk(arr, c, csize)
        self._cache[key] = block
        self._cache_bytes += block.nbytes
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.nbytes
        return block

    @staticmethod
    def _raw_chunk_path(arr: Any) -> Path | None:
        """Directory of an uncompressed local array's chunk files, else None.

        Such chunks are plain little-endian float32 bytes at ``c/0/<k>`` (zarr v3 default key
        encoding), so they can be read with one ``np.fromfile`` instead of a zarr call (~1 ms).
        """
        import zarr.storage
        from zarr.codecs import BytesCodec

        enc = arr.metadata.chunk_key_encoding
        if (isinstance(arr.store, zarr.storage.LocalStore) and not arr.compressors
                and not arr.filters and isinstance(arr.serializer, BytesCodec)
                and str(arr.serializer.endian.value) == "little"
                and getattr(enc, "separator", None) == "/" and type(enc).__name__ ==
                "DefaultChunkKeyEncoding" and arr.dtype == np.float32):
            return Path(arr.store.root) / arr.path / "c" / "0"
        return None

    def _read_chunk(self, arr: Any, c: int, csize: int) -> np.ndarray:
        key = id(arr)
        if key not in self._raw_dirs:
            self._raw_dirs[key] = self._raw_chunk_path(arr)
        d = self._raw_dirs[key]
        n = min(csize, arr.shape[1] - c * csize)
        if d is not None:
            f = d / str(c)
            if f.exists():
                return np.fromfile(f, dtype="<f4").reshape(arr.shape[0], csize)[:, :n]
        return np.asarray(arr[:, c * csize:c * csize + n])

    def recording(self, rid: str) -> Recording:
        """Load a whole recording into memory."""
        row = self._row(rid)
        a = self._attrs(rid)
        return Recording(data=self.read(rid), sfreq=row["sfreq"], sensors=self.sensors(rid),
                         subject=row["subject"], session=row["session"], task=row["task"],
                         events=self.events(rid), provenance=list(a["provenance"]),
                         source=f"{self.path}#{rid}")
