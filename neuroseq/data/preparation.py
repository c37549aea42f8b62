"""Building stores: read, validate, preprocess and write many recordings into zarr.

:func:`prepare` reads, validates and preprocesses recordings in parallel (joblib) and writes the
index last.  A local store is built beside its destination (``.NAME.building-PID``) and renamed
into place only when every recording is in it, so an interrupted or failed run leaves the
previous store (or nothing) where the store goes, never a half-built one.  On remote
filesystems (no atomic rename) the store is written in place and marked incomplete until its
index is written; :class:`~neuroseq.data.store.Store` refuses it until then.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from neuroseq.data.recording import Recording
from neuroseq.data.splits import Split, SplitSpec
from neuroseq.data.store import STORE_FORMAT, Store, open_group, protocol
from neuroseq.errors import DataError
from neuroseq.log import logger, progress


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
    name = Path(str(getattr(source, "fpath", source))).name
    spans = split.spans(rec.subject, rec.duration, rec.events, name) if split else None
    pipe = None
    if pipeline is not None:
        pipe = Pipeline.from_json(pipeline)
        # fitted on the recording's training spans; a recording held out whole (subject or
        # listed split) is scaled by its own statistics, as a new recording would be
        rec = pipe.fit_apply(rec, spans["train"] if spans and spans["train"] else None)
        if spans is not None:  # spans are in seconds: recompute at the new duration
            spans = split.spans(rec.subject, rec.duration, rec.events, name)
        rec.validate()
    root = open_group(path, "a", storage_options)
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
            bids_filters: dict | None = None, scheduler: str | None = None,
            **read_kwargs: Any) -> Store:
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
    scheduler : str | None
        A Dask scheduler address (``tcp://host:8786``), or ``local:N`` for a local cluster of
        ``N`` worker processes: every recording is prepared on the cluster's workers instead
        of joblib's.  The store must be where every worker can write it: a shared file system
        or object storage through fsspec (``s3://…`` with ``storage_options``).
    chunk : int
        Samples per zarr chunk along time.
    compression : None | "lz4" | "zstd"
        Chunk compression (none is fastest for random windows).
    """
    sources = find_recordings(inputs, **(bids_filters or {}))
    path = str(path)
    if scheduler and protocol(path) == "memory":
        raise DataError("a memory:// store lives in one process; Dask workers cannot write it. "
                        "Use a shared path or object storage (s3://…).")
    if protocol(path) == "memory" and n_jobs != 1:
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
    local = protocol(path) in ("file", "local")
    target = Path(path)
    if local and target.exists() and not overwrite:
        raise DataError(f"store {path} already exists; pass overwrite=True (`neuroseq prepare "
                        "--overwrite`) to replace it.")
    build = str(target.parent / f".{target.name}.building-{os.getpid()}") if local else path
    if local:
        shutil.rmtree(build, ignore_errors=True)
    try:
        root = open_group(build, "w" if overwrite or local else "w-", storage_options)
    except Exception as err:  # zarr raises ContainsGroupError / FileExistsError
        raise DataError(f"cannot create store {path} ({err}); pass overwrite=True to replace "
                        "an existing store.") from err
    try:
        rows, errors = _write_recordings(root, build, sources, pipeline, split, chunk,
                                         compression, storage_options, n_jobs, read_kwargs,
                                         scheduler)
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
                      storage_options: dict | None, n_jobs: int, read_kwargs: dict,
                      scheduler: str | None = None
                      ) -> tuple[list[dict], list[tuple[Any, Exception]]]:
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
    if scheduler:
        results = _on_dask(scheduler, args)
    elif n_jobs == 1:
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


def _on_dask(scheduler: str, args: list[tuple]) -> Iterator[tuple[bool, Any]]:
    """``_safe_prepare`` of every argument tuple on a Dask cluster, results as they finish."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise DataError("preparing on a Dask cluster needs dask.distributed: "
                        "pip install 'dask[distributed]' (or neuroseq[scale]).") from err
    cluster = None
    if scheduler.startswith("local:"):
        cluster = LocalCluster(n_workers=int(scheduler.split(":", 1)[1]), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        address = cluster.scheduler_address
    else:
        address = scheduler
    try:
        client = Client(address, timeout=30)
    except OSError as err:
        raise DataError(f"cannot reach the Dask scheduler at {address} ({err}).") from err
    try:
        logger.info("preparing %d recordings on the Dask cluster at %s", len(args), address)
        futures = [client.submit(_safe_prepare, *a, pure=False) for a in args]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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
        from neuroseq.data.array_readers import bids_entities

        if type(src).__name__ == "BIDSPath":
            self.subject, self.session, self.task = src.subject, src.session, src.task
            if src.run:
                self.task = f"{self.task}_run-{src.run}"
        else:
            e = bids_entities(Path(str(src)))
            self.subject, self.session, self.task = e["subject"] or "01", e["session"], e["task"]
            if e["run"] and self.task:
                self.task = f"{self.task}_run-{e['run']}"
