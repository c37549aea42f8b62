"""A zarr corpus store: preprocessed recordings on disk (or any fsspec URL), read lazily.

Layout::

    store.zarr/                      root attrs: format, index (one row per recording), split,
                                     complete, errors
      recordings/<id>/data           float32 [C, T], chunked along time
      recordings/<id>  (attrs)       sensors, events, provenance, fitted pipeline

Stores are built by :func:`neuroseq.data.preparation.prepare`.  :class:`Store` refuses a store
marked incomplete (its preparation failed part-way) unless asked to open it anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuroseq.data.preprocess import Pipeline
from neuroseq.data.recording import Recording, Sensors
from neuroseq.data.splits import Split
from neuroseq.errors import DataError, FormatError
from neuroseq.log import logger

STORE_FORMAT = 1


def protocol(path: str) -> str:
    """The fsspec protocol of a path or URL (``file``, ``memory``, ``s3``, ...)."""
    import fsspec.utils

    return fsspec.utils.get_protocol(str(path))


def open_group(path: str | Path, mode: str, storage_options: dict | None = None) -> Any:
    """``zarr.open_group`` on a local path or fsspec URL."""
    import zarr

    kw = {"storage_options": storage_options} if storage_options else {}
    return zarr.open_group(str(path), mode=mode, **kw)


def is_store(path: str | Path) -> bool:
    """Whether ``path`` is a local directory holding a zarr store (a prepared store)."""
    p = Path(path)
    return p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists())


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
            self._root = open_group(self.path, "r", storage_options)
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
        self._root = open_group(self.path, "r", self._storage_options)

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

    def session(self, rid: str) -> str | None:
        """Session of a recording (None when it has none)."""
        v = self._row(rid).get("session")
        return None if v is None or (isinstance(v, float) and v != v) or v == "" else str(v)

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
