"""The tokenizer interface shared by μ-law, k-means and the RVQ codec.

Every tokenizer is fitted on training data, then maps signals ``x[B, C, T]`` to integer codes
(``[B, C, T']``, or ``[B, C, Q, T']`` for multi-level codes) and back.  Inputs may be numpy
arrays or torch tensors; outputs follow the input's type.  A fitted tokenizer is saved as a
directory with ``config.json`` and ``state.safetensors`` (no pickle).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from neuroseq import __version__
from neuroseq.atomic import write_json_atomic
from neuroseq.errors import DataError, FormatError, NeuroseqError
from neuroseq.log import logger

ArrayLike = np.ndarray | torch.Tensor
CONFIG_FILE = "config.json"
STATE_FILE = "state.safetensors"


def _locate(mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.nonzero(mask)[0])


def check_finite(x: torch.Tensor, what: str = "input") -> None:
    """Raise :class:`DataError` naming the first NaN/Inf in ``x[B, C, T]``."""
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        b, c, t = _locate(bad)
        kind = "NaN" if torch.isnan(x[b, c, t]) else "Inf"
        raise DataError(f"{what}: {int(bad.sum())} non-finite values; first {kind} at batch {b}, "
                        f"channel {c}, sample {t}. Interpolate or drop bad segments first "
                        "(e.g. mne's annotate_nan / interpolate_bads).")


def as_batch(x: ArrayLike, what: str = "input") -> tuple[torch.Tensor, bool, bool]:
    """Return ``(tensor[B, C, T] float32, was_numpy, was_2d)`` for a signal."""
    was_numpy = not isinstance(x, torch.Tensor)
    if was_numpy:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{what}: expected a numeric array, got dtype {x.dtype}.")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        t = x.float()
    if t.ndim not in (2, 3):
        raise DataError(f"{what}: expected shape [B, C, T] or [C, T], got {tuple(t.shape)}.")
    was_2d = t.ndim == 2
    return (t[None] if was_2d else t), was_numpy, was_2d


def as_codes(codes: ArrayLike) -> tuple[torch.Tensor, bool]:
    """Return ``(integer tensor, was_numpy)``; refuses non-integer codes.

    ``uint8``, ``int16``, ``int32`` and ``int64`` are kept (no copy); other unsigned types become
    ``int64``.  Implementations convert to ``long`` where they index.
    """
    was_numpy = not isinstance(codes, torch.Tensor)
    if was_numpy:
        a = np.asarray(codes)
        if a.dtype.kind == "u" and a.dtype != np.uint8:
            a = a.astype(np.int64)
        t = torch.from_numpy(a)
    else:
        t = codes
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise DataError(f"codes must be integers, got dtype {t.dtype}.")
    if t.dtype not in (torch.uint8, torch.int16, torch.int32, torch.int64):
        t = t.long()
    return t, was_numpy


def training_arrays(data: Any, split: str | None = "train", sfreq: float | None = None,
                    mixed_montages: bool = False
                    ) -> tuple[list[np.ndarray], float | None, list[str]]:
    """Collect ``[C, T]`` float32 arrays to fit on.

    ``mixed_montages`` lets a corpus's recordings have different channel sets (for tokenizers
    that code every channel alone); the names returned are then empty.

    ``data`` may be a :class:`~neuroseq.data.store.Store` or ``InMemoryCorpus`` (only its
    ``split`` spans are used when it has a split), a ``Recording`` or list of them, an array
    ``[C, T]`` / ``[B, C, T]``, or a list of ``[C, T]`` arrays.  Returns the arrays, the
    sampling rate (``None`` when unknown) and the channel names (empty when unknown).
    """
    from neuroseq.data.recording import Recording
    from neuroseq.data.splits import sample_spans

    if hasattr(data, "ids") and hasattr(data, "read"):
        ids = data.ids
        if not ids:
            raise DataError("the corpus has no recordings to fit on.")
        use = split if getattr(data, "split", None) is not None else None
        if split and use is None:
            logger.info("the corpus has no split: fitting on all of it")
        rates = {data.sfreq(r) for r in ids}
        names = {tuple(data.sensors(r).names) for r in ids}
        if len(rates) > 1:
            raise DataError(f"the corpus mixes sampling rates {sorted(rates)}; resample it.")
        if len(names) > 1 and not mixed_montages:
            raise DataError("the corpus mixes channel sets; fit one tokenizer per montage.")
        arrays = [data.read(r, a, b) for r in ids for a, b in sample_spans(data, r, use) if b > a]
        return arrays, rates.pop(), list(names.pop()) if len(names) == 1 else []
    if isinstance(data, Recording):
        data = [data]
    if isinstance(data, list | tuple) and data and isinstance(data[0], Recording):
        rates = {r.sfreq for r in data}
        names = {tuple(r.ch_names) for r in data}
        if len(rates) > 1 or len(names) > 1:
            raise DataError("recordings to fit on differ in sampling rate or channels.")
        return [r.data for r in data], rates.pop(), list(names.pop())
    if isinstance(data, list | tuple):
        arrays = [as_batch(a, "training data")[0] for a in data]
    else:
        arrays = [as_batch(data, "training data")[0]]
    out = [a.numpy() for batch in arrays for a in batch]
    if len({a.shape[0] for a in out}) > 1:
        raise DataError("training arrays have different channel counts.")
    return out, sfreq, []


class InvalidCodes(Exception):
    """Raised by a fused ``_decode`` that met a code outside the vocabulary."""


class Tokenizer(ABC):
    """Base class: fit / encode / decode / save_pretrained / from_pretrained.

    Subclasses implement ``_fit``, ``_encode`` and ``_decode`` on float32 tensors and declare
    ``channel_specific`` (whether fitted state is per channel, so the channel count must match).
    """

    kind: ClassVar[str] = ""
    channel_specific: ClassVar[bool] = True
    #: ``True`` when ``_encode``/``_decode`` check finiteness and code range themselves (fused
    #: into their single pass) and raise the same errors; the base class then skips its passes.
    fused_checks: ClassVar[bool] = False
    registry: ClassVar[dict[str, type[Tokenizer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Tokenizer.registry[cls.kind] = cls

    def __init__(self) -> None:
        self.sfreq: float | None = None
        self.n_channels: int | None = None
        self.ch_names: list[str] = []
        self.fitted = False

    # -- properties every tokenizer has ----------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Codes per level."""

    @property
    def n_levels(self) -> int:
        """Code levels per frame (1, or Q for residual codes)."""
        return 1

    @property
    def hop(self) -> int:
        """Input samples per code frame."""
        return 1

    @property
    def frame_rate(self) -> float | None:
        """Code frames per second per channel (``None`` before the sampling rate is known)."""
        return None if self.sfreq is None else self.sfreq / self.hop

    @property
    def bits_per_second(self) -> float | None:
        """Bits per second per channel at a uniform code distribution."""
        fr = self.frame_rate
        return None if fr is None else fr * self.n_levels * float(np.log2(self.vocab_size))

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable)."""

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, data: Any, *, sfreq: float | None = None, split: str | None = "train",
            **kwargs: Any) -> Tokenizer:
        """Fit on training data (see :func:`training_arrays` for what ``data`` may be)."""
        self._fit(self.fit_arrays(data, sfreq=sfreq, split=split), **kwargs)
        self.fitted = True
        return self

    def fit_arrays(self, data: Any, *, sfreq: float | None = None,
                   split: str | None = "train") -> list[np.ndarray]:
        """Checked float32 ``[C, T]`` training arrays of ``data``; records the sampling rate,
        channel count and names on the tokenizer (the first half of :meth:`fit`)."""
        arrays, rate, names = training_arrays(data, split, sfreq,
                                              mixed_montages=not self.channel_specific)
        if not arrays or sum(a.shape[1] for a in arrays) < 2:
            raise DataError("no training samples to fit the tokenizer on; check the split.")
        for a in arrays:
            check_finite(torch.from_numpy(np.ascontiguousarray(a))[None], "training data")
        self.sfreq = None if rate is None else float(rate)
        self.n_channels = arrays[0].shape[0]
        self.ch_names = list(names)
        return [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]

    @abstractmethod
    def _fit(self, arrays: list[np.ndarray], **kwargs: Any) -> None: ...

    # -- coding -------------------------------------------------------------------------------
    def _require_fitted(self, what: str) -> None:
        if not self.fitted:
            raise NeuroseqError(f"{type(self).__name__}.{what}: the tokenizer is not fitted; "
                                "call fit(...) or load one with from_pretrained(dir).")

    def _check_signal(self, x: torch.Tensor, sfreq: float | None,
                      ch_names: list[str] | None) -> None:
        if sfreq is not None and self.sfreq is not None and abs(sfreq - self.sfreq) > 1e-6:
            raise DataError(f"{type(self).__name__} was fitted at {self.sfreq:g} Hz but the input "
                            f"is at {sfreq:g} Hz; resample it (neuroseq.data.preprocess.Resample).")
        if self.channel_specific and x.shape[1] != self.n_channels:
            raise DataError(f"{type(self).__name__} was fitted on {self.n_channels} channels but "
                            f"the input has {x.shape[1]}; pick the channels it was fitted on "
                            f"({self.ch_names[:3]}...)" if self.ch_names else
                            f"{type(self).__name__} was fitted on {self.n_channels} channels but "
                            f"the input has {x.shape[1]}.")
        if self.channel_specific and ch_names and self.ch_names and list(ch_names) != self.ch_names:
            diff = [n for n in ch_names if n not in self.ch_names][:5]
            raise DataError(f"channel names differ from the ones the tokenizer was fitted on "
                            f"(unknown: {diff or 'same set, different order'}); reorder or pick.")
        if not self.fused_checks:
            check_finite(x)

    def encode(self, x: ArrayLike, *, sfreq: float | None = None,
               ch_names: list[str] | None = None) -> ArrayLike:
        """Signal ``[B, C, T]`` (or ``[C, T]``) to codes; numpy in, numpy out.

        ``sfreq`` and ``ch_names``, when given, are checked against what was fitted.
        """
        self._require_fitted("encode")
        t, was_numpy, was_2d = as_batch(x)
        self._check_signal(t, sfreq, ch_names)
        codes = self._encode(t)
        codes = codes[0] if was_2d else codes
        return self._codes_out(codes) if was_numpy else codes.long()

    def _codes_out(self, codes: torch.Tensor) -> np.ndarray:
        v = self.vocab_size
        dtype = np.uint8 if v <= 256 else np.uint16 if v <= 65536 else np.int64
        return codes.numpy().astype(dtype, copy=False)

    def check_codes(self, codes: torch.Tensor, values: bool = True) -> None:
        """Raise :class:`DataError` for codes of the wrong shape or outside the vocabulary.

        ``values=False`` checks the shape only (for decoders that check values as they go).
        """
        want = 4 if self.n_levels > 1 else 3
        if codes.ndim not in (want - 1, want):
            raise DataError(f"codes must have shape {'[B, C, Q, T]' if want == 4 else '[B, C, T]'}"
                            f" (or without B), got {tuple(codes.shape)}.")
        if self.n_levels > 1 and codes.shape[-2] != self.n_levels:
            raise DataError(f"codes have {codes.shape[-2]} levels on axis -2; the tokenizer has "
                            f"{self.n_levels}.")
        if not values:
            return
        # compare only within the dtype's range (256 would wrap to 0 in uint8)
        bad = codes < 0 if codes.dtype != torch.uint8 else torch.zeros_like(codes, dtype=torch.bool)
        if self.vocab_size <= torch.iinfo(codes.dtype).max:
            bad |= codes >= self.vocab_size
        if bool(bad.any()):
            loc = _locate(bad)
            raise DataError(f"{int(bad.sum())} codes are outside the vocabulary [0, "
                            f"{self.vocab_size}); first {int(codes[loc])} at index {loc}.")

    def decode(self, codes: ArrayLike) -> ArrayLike:
        """Codes back to a float32 signal ``[B, C, T]``; numpy in, numpy out."""
        self._require_fitted("decode")
        given, was_numpy = as_codes(codes)
        self.check_codes(given, values=not self.fused_checks)
        was_short = given.ndim == (3 if self.n_levels > 1 else 2)
        c = given[None] if was_short else given
        if self.channel_specific and c.shape[1] != self.n_channels:
            raise DataError(f"codes have {c.shape[1]} channels; the tokenizer was fitted on "
                            f"{self.n_channels}.")
        try:
            x = self._decode(c)
        except InvalidCodes:  # a fused decoder met a code outside the vocabulary
            self.check_codes(given)  # raises, locating it in the caller's shape
            raise
        x = x[0] if was_short else x
        return x.numpy() if was_numpy else x

    @abstractmethod
    def _encode(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _decode(self, codes: torch.Tensor) -> torch.Tensor: ...

    # -- persistence --------------------------------------------------------------------------
    @abstractmethod
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Fitted tensors."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_dict`."""

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``state.safetensors`` to ``directory``."""
        self._require_fitted("save_pretrained")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"kind": self.kind, "neuroseq_version": __version__, "config": self.config(),
                "sfreq": self.sfreq, "n_channels": self.n_channels, "ch_names": self.ch_names}
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        tmp = d / (STATE_FILE + ".tmp")
        save_file(state, str(tmp))
        tmp.replace(d / STATE_FILE)
        write_json_atomic(d / CONFIG_FILE, meta)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Tokenizer:
        """Load a tokenizer written by :meth:`save_pretrained` (any kind, from its config)."""
        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / STATE_FILE).is_file():
            raise FormatError(f"{d} is not a saved tokenizer: it needs {CONFIG_FILE} and "
                              f"{STATE_FILE} (written by save_pretrained).")
        try:
            meta = json.loads((d / CONFIG_FILE).read_text())
            state = load_file(str(d / STATE_FILE))
        except Exception as err:  # json, OS and safetensors errors alike
            raise FormatError(f"{d}: cannot read the tokenizer files ({err}).") from err
        kind = meta.get("kind")
        if kind not in Tokenizer.registry:
            raise FormatError(f"{d}: unknown tokenizer kind {kind!r}; known: "
                              f"{sorted(Tokenizer.registry)}.")
        klass = Tokenizer.registry[kind]
        if cls is not Tokenizer and not issubclass(klass, cls):
            raise FormatError(f"{d} holds a {klass.__name__}, not a {cls.__name__}.")
        tok = klass(**meta["config"])
        tok.sfreq = meta.get("sfreq")
        tok.n_channels = meta.get("n_channels")
        tok.ch_names = list(meta.get("ch_names") or [])
        tok.load_state_dict(state)
        tok.fitted = True
        return tok

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        state = "fitted" if self.fitted else "not fitted"
        return f"{type(self).__name__}({args}) [{state}]"
