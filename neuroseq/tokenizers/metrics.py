"""Quality metrics for any tokenizer on any data.

:func:`evaluate` encodes and decodes ``x[B, C, T]`` and reports reconstruction error, spectral
distortion, code usage, rate and speed.  Definitions (per channel, then averaged):

- ``nrmse``: RMS of the error divided by the RMS of the signal (about its mean); 0 is perfect,
  1 is as bad as predicting the mean.
- ``correlation``: Pearson correlation of signal and reconstruction.
- ``log_psd_distance_db``: RMS over frequencies (``fmin``–Nyquist) of
  ``10 · log10(P_rec / P_signal)`` with Welch PSDs, in dB.
- ``usage`` / ``perplexity`` (per level): fraction of the vocabulary used, and
  ``exp(entropy)`` of the code histogram.
- ``tokens_per_second``: codes per second per channel (frames × levels).
- ``bits_per_second``: at the vocabulary size (``log2 V`` per code); ``entropy_bits_per_second``
  at the measured code entropy (what an entropy coder would need).
- ``encode_samples_per_s`` / ``decode_samples_per_s``: input samples coded per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from scipy.signal import welch

from neuroseq.errors import DataError
from neuroseq.tokenizers.base import ArrayLike, Tokenizer, as_batch


def nrmse(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-channel normalised RMS error, ``x`` and ``y`` of shape ``[..., T]``."""
    den = np.sqrt(np.mean((x - x.mean(-1, keepdims=True)) ** 2, -1))
    return np.sqrt(np.mean((x - y) ** 2, -1)) / np.maximum(den, 1e-12)


def correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-channel Pearson correlation along the last axis."""
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    den = np.sqrt((xc**2).sum(-1) * (yc**2).sum(-1))
    return (xc * yc).sum(-1) / np.maximum(den, 1e-12)


def log_psd_distance(x: np.ndarray, y: np.ndarray, sfreq: float, fmin: float = 1.0
                     ) -> np.ndarray:
    """Per-channel RMS of the dB ratio of Welch PSDs between ``fmin`` and Nyquist."""
    nper = int(min(x.shape[-1], 2 * sfreq))
    f, px = welch(x, fs=sfreq, nperseg=nper, axis=-1)
    _, py = welch(y, fs=sfreq, nperseg=nper, axis=-1)
    keep = f >= fmin
    ratio = 10 * np.log10(np.maximum(py[..., keep], 1e-30) / np.maximum(px[..., keep], 1e-30))
    return np.sqrt(np.mean(ratio**2, -1))


def code_stats(codes: np.ndarray, vocab_size: int, n_levels: int) -> dict[str, list[float]]:
    """Per-level usage fraction, perplexity and entropy (bits) of integer codes."""
    c = codes.reshape(*codes.shape[:-2], n_levels, codes.shape[-1]) if n_levels > 1 else \
        codes[..., None, :]
    c = np.moveaxis(c, -2, 0).reshape(n_levels, -1)
    usage, perp, ent = [], [], []
    for level in c:
        p = np.bincount(level.astype(np.int64), minlength=vocab_size) / level.size
        nz = p[p > 0]
        h = float(-(nz * np.log2(nz)).sum())
        usage.append(float((p > 0).mean()))
        perp.append(float(2**h))
        ent.append(h)
    return {"usage": usage, "perplexity": perp, "entropy_bits": ent}


def _decode(tok: Tokenizer, codes: Any, x: torch.Tensor) -> torch.Tensor:
    if hasattr(tok, "scale_of"):
        return tok.decode(codes, scale=tok.scale_of(x))
    return tok.decode(codes)


def reconstruction_metrics(tok: Tokenizer, x: ArrayLike, sfreq: float | None = None, *,
                           fmin: float = 1.0) -> dict[str, Any]:
    """Encode and decode ``x[B, C, T]`` and measure the reconstruction; see the module doc."""
    t, _, _ = as_batch(x)
    sfreq = sfreq or tok.sfreq
    if sfreq is None:
        raise DataError("evaluate needs sfreq= (the tokenizer was fitted without one).")
    t0 = time.perf_counter()
    codes = tok.encode(t, sfreq=sfreq)
    t1 = time.perf_counter()
    y = _decode(tok, codes, t)
    t2 = time.perf_counter()
    n = min(t.shape[-1], y.shape[-1])
    xs, ys = t[..., :n].numpy().astype(np.float64), y[..., :n].numpy().astype(np.float64)
    stats = code_stats(codes.numpy(), tok.vocab_size, tok.n_levels)
    frames = sfreq / tok.hop
    ent = float(sum(stats["entropy_bits"]))
    return {
        "tokenizer": type(tok).__name__, "vocab_size": tok.vocab_size, "n_levels": tok.n_levels,
        "n_samples": int(t.numel()), "sfreq": float(sfreq),
        "nrmse": float(np.mean(nrmse(xs, ys))), "correlation": float(np.mean(correlation(xs, ys))),
        "log_psd_distance_db": float(np.mean(log_psd_distance(xs, ys, sfreq, fmin))),
        **stats,
        "tokens_per_second": frames * tok.n_levels,
        "bits_per_second": frames * tok.n_levels * float(np.log2(tok.vocab_size)),
        "entropy_bits_per_second": frames * ent,
        "encode_samples_per_s": t.numel() / max(t1 - t0, 1e-9),
        "decode_samples_per_s": t.numel() / max(t2 - t1, 1e-9),
    }
