"""Task-evoked responses: epochs around condition onsets, and real-vs-generated evoked agreement.

The GPT2MEG protocol (``../shared/research/gpt2meg_eegpt.md`` §1.6) epochs generated data from
−100 to +1000 ms around condition onsets and compares the averages with the real ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from neuroseq.errors import DataError


def epochs(x: np.ndarray, sfreq: float, events: pd.DataFrame, *, tmin: float = -0.1,
           tmax: float = 1.0, values: list[str] | None = None,
           baseline: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``[n_epochs, C, n_times]`` around event onsets; returns ``(epochs, labels)``.

    Epochs running past either end are dropped; ``values`` keeps only those event values; with
    ``baseline`` each epoch has its pre-onset mean removed (when ``tmin < 0``).
    """
    if events is None or len(events) == 0:
        raise DataError("no events to epoch around: the recording has no condition onsets.")
    a, b = int(round(tmin * sfreq)), int(round(tmax * sfreq))
    out, labels = [], []
    for onset, val in zip(events["onset"], events["value"], strict=True):
        if values is not None and str(val) not in values:
            continue
        s = int(round(onset * sfreq))
        if s + a < 0 or s + b > x.shape[-1]:
            continue
        out.append(x[:, s + a:s + b])
        labels.append(str(val))
    if not out:
        raise DataError(f"no complete epochs ({tmin:g}…{tmax:g} s) around the "
                        f"{len(events)} events" + (f" with values {values}" if values else "")
                        + "; is the recording long enough?")
    ep = np.stack(out).astype(np.float64)
    if baseline and a < 0:
        ep -= ep[..., : -a].mean(-1, keepdims=True)
    return ep, np.asarray(labels)


def evoked(ep: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Average per condition: ``{value: [C, n_times]}``."""
    return {v: ep[labels == v].mean(0) for v in sorted(set(labels.tolist()))}


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1), 0.0)


def evoked_agreement(real: dict[str, np.ndarray], gen: dict[str, np.ndarray], sfreq: float,
                     tmin: float = -0.1) -> dict[str, Any]:
    """Compare evoked responses per condition and channel.

    For each shared condition: Pearson correlation of the real and generated time courses per
    channel; and at the channel with the largest real response, the peak latency difference
    (s) and peak amplitude ratio (generated / real, absolute peak after onset).
    """
    shared = sorted(set(real) & set(gen))
    if not shared:
        raise DataError(f"no condition in common: real {sorted(real)}, generated {sorted(gen)}.")
    a = max(0, int(round(-tmin * sfreq)))
    per: dict[str, Any] = {}
    for v in shared:
        r, g = real[v], gen[v]
        corr = _pearson(r, g)
        ch = int(np.argmax(np.abs(r[:, a:]).max(-1)))
        ir, ig = int(np.argmax(np.abs(r[ch, a:]))), int(np.argmax(np.abs(g[ch, a:])))
        per[v] = {"corr_per_channel": corr, "corr": float(corr.mean()), "peak_channel": ch,
                  "peak_latency_diff_s": abs(ir - ig) / sfreq,
                  "peak_amplitude_ratio": float(abs(g[ch, a + ig]) / max(abs(r[ch, a + ir]),
                                                                          1e-300))}
    return {"conditions": per, "corr": float(np.mean([p["corr"] for p in per.values()])),
            "peak_latency_diff_s": float(np.mean([p["peak_latency_diff_s"]
                                                  for p in per.values()])),
            "peak_amplitude_ratio": float(np.median([p["peak_amplitude_ratio"]
                                                     for p in per.values()]))}
