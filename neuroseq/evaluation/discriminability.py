"""Can a classifier tell real windows from generated ones?  With an interval and a p-value.

The test cuts both signals into many short windows (1 s by default), describes each window by a
**compact** feature vector — channel-pooled log band powers inside the data's passband, their
spread across channels, Hjorth mobility and complexity, and two spatial summaries (mean absolute
inter-channel correlation, share of variance on the first spatial component) — and
cross-validates a ridge classifier on the standardised features and their
squares (a signal whose band power is as large on average but less variable — a stationary
surrogate of bursty rhythms — differs in the spread, not the mean) over **contiguous blocks**
of windows (so
neighbouring, correlated windows do not sit on both sides of a fold).

It reports the balanced accuracy, a bootstrap 95 % interval over windows, and a permutation
test: the real/generated labels of whole block pairs are swapped at random and the same
cross-validation rerun.  The permutations give the p-value and the **interval of 0.5**
(``null95``): the accuracies a classifier reaches when the two signals are exchangeable.
Cross-validated accuracy on exchangeable data scatters on both sides of 0.5 (and is often a
little below it), so "is the generated signal told apart from real?" is answered by ``p < 0.05``
— an accuracy above ``null95`` — not by the distance of the point estimate from 0.5.

A few features from a few dozen windows each: many per-channel features from 30 windows, the
earlier design, let every signal — even real held-out data — be separated by over-fitting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal as sps
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from neuroseq.errors import DataError
from neuroseq.evaluation.fidelity import BANDS

EPS = 1e-30


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    k = x.shape[-1] // n
    return x[:, : k * n].reshape(x.shape[0], k, n).transpose(1, 0, 2)  # [k, C, n]


def window_features(x: np.ndarray, sfreq: float, *, seconds: float = 1.0,
                    bands: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Compact features of non-overlapping ``seconds`` windows of ``x [C, T]``: ``[windows, F]``.

    Per band (``bands``, default :data:`~neuroseq.evaluation.fidelity.BANDS`): the mean over
    channels of the log band power and its standard deviation over channels; then the mean log
    variance, Hjorth mobility, complexity and excess kurtosis (channel medians), the mean
    absolute correlation
    between channels and the share of variance on the first spatial component (both only with
    two channels or more).
    """
    n = int(round(seconds * sfreq))
    if x.shape[-1] < n or n < 8:
        raise DataError(f"{x.shape[-1]} samples are shorter than one {seconds:g} s window.")
    w = _windows(x.astype(np.float64), n)
    w = w - w.mean(-1, keepdims=True)
    f, p = sps.periodogram(w, fs=sfreq, window="hann", axis=-1)
    feats = []
    for lo, hi in (bands or BANDS).values():
        sel = (f >= lo) & (f < min(hi, sfreq / 2))
        if sel.any():
            lp = np.log(p[..., sel].mean(-1) + EPS)  # [k, C]
            feats += [lp.mean(-1), lp.std(-1)]
    var0 = w.var(-1) + EPS
    d1 = np.diff(w, axis=-1)
    var1 = d1.var(-1) + EPS
    var2 = np.diff(d1, axis=-1).var(-1) + EPS
    mobility = np.sqrt(var1 / var0)
    complexity = np.sqrt(var2 / var1) / mobility
    kurt = (w ** 4).mean(-1) / var0 ** 2 - 3.0
    feats += [np.log(var0).mean(-1), np.median(mobility, -1), np.median(complexity, -1),
              np.median(kurt, -1)]
    if x.shape[0] > 1:
        z = w / np.sqrt(var0)[..., None]
        corr = np.einsum("kct,kdt->kcd", z, z) / n  # [k, C, C]
        c = x.shape[0]
        off = (np.abs(corr).sum((-1, -2)) - np.abs(np.diagonal(corr, 0, -2, -1)).sum(-1))
        feats.append(off / (c * (c - 1)))
        cov = np.einsum("kct,kdt->kcd", w, w) / n
        eig = np.linalg.eigvalsh(cov)
        feats.append(eig[:, -1] / (eig.sum(-1) + EPS))
    return np.stack(feats, -1)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean of the per-class recalls (both classes present)."""
    pos = y == 1
    return 0.5 * float((pred[pos] == 1).mean() + (pred[~pos] == 0).mean())


class _RidgeCV:
    """Ridge classifier (targets ±1) cross-validated over fixed folds.

    The folds' solutions are linear in the labels, so each fold's projection is computed once
    and every permutation costs one matrix product.
    """

    def __init__(self, x: np.ndarray, groups: np.ndarray, folds: int, alpha: float = 10.0):
        self.parts = []
        for tr, te in GroupKFold(folds).split(x, groups=groups):
            mu = x[tr].mean(0)
            a = x[tr] - mu
            proj = np.linalg.solve(a.T @ a + alpha * np.eye(x.shape[1]), a.T)  # [F, n_tr]
            self.parts.append((tr, te, (x[te] - mu) @ proj))  # [n_te, n_tr]

    def scores(self, y: np.ndarray) -> np.ndarray:
        """Out-of-fold decision values (> 0: 'generated') for labels ``y`` in {0, 1}."""
        t = 2.0 * y - 1.0
        out = np.zeros(len(y))
        for tr, te, m in self.parts:
            out[te] = m @ (t[tr] - t[tr].mean()) + t[tr].mean()
        return out


def discriminability(real: np.ndarray, gen: np.ndarray, sfreq: float, *, seconds: float = 1.0,
                     folds: int = 5, block: int = 5, n_permutations: int = 1000,
                     n_bootstrap: int = 1000, seed: int = 0,
                     bands: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """Tell ``real`` from ``gen`` (both ``[C, T]``) with a cross-validated ridge classifier.

    Parameters
    ----------
    seconds : window length; both signals give their first ``min`` windows, so chance is 0.5.
    folds, block : cross-validation over contiguous blocks of ``block`` windows.
    n_permutations : label permutations for the p-value (0 skips it).
    n_bootstrap : resamples of the windows' out-of-fold predictions for the 95 % interval.
    bands : the band powers used (default delta…gamma; pass those inside the passband).

    Returns
    -------
    dict with ``accuracy`` (balanced), ``ci95`` [low, high] (bootstrap), ``null95`` [low, high]
    (the permutation interval of 0.5), ``p_value``, ``auc``,
    ``n_windows_each``, ``n_features``, ``chance`` (0.5) and ``distinguishable``
    (p < 0.05).
    """
    fr = window_features(real, sfreq, seconds=seconds, bands=bands)
    fg = window_features(gen, sfreq, seconds=seconds, bands=bands)
    n = min(len(fr), len(fg))
    if n < folds * block:
        raise DataError(f"discriminability needs ≥ {folds * block} windows of {seconds:g} s "
                        f"from each signal; have {len(fr)} real and {len(fg)} generated — "
                        "generate longer or shorten the windows.")
    x = np.concatenate([fr[:n], fg[:n]])
    if not np.isfinite(x).all():
        raise DataError("discriminability: a signal gives non-finite features (NaN/Inf data?).")
    x = StandardScaler().fit_transform(x)  # label-free, so shared by every fold
    x = np.concatenate([x, x ** 2], 1)  # squares: a spread that differs, not only a mean
    y = np.r_[np.zeros(n), np.ones(n)]
    blocks = np.arange(n) // block
    groups = np.r_[blocks, blocks]  # block b of real and of generated share a fold
    cv = _RidgeCV(x, groups, folds)
    score = cv.scores(y)
    pred = (score > 0).astype(float)
    acc = _balanced_accuracy(y, pred)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_bootstrap):
        i = rng.integers(0, 2 * n, 2 * n)
        if len(np.unique(y[i])) == 2:
            boot.append(_balanced_accuracy(y[i], pred[i]))
    p_value, null95 = None, None
    if n_permutations:
        null = []
        for _ in range(n_permutations):
            yp = y.copy()  # swap real and generated labels of whole block pairs
            flip = rng.random(blocks.max() + 1) < 0.5
            yp[:n] = flip[blocks]
            yp[n:] = 1 - yp[:n]
            null.append(_balanced_accuracy(yp, (cv.scores(yp) > 0).astype(float)))
        p_value = float((1 + np.sum(np.asarray(null) >= acc)) / (1 + n_permutations))
        null95 = [float(np.quantile(null, 0.025)), float(np.quantile(null, 0.975))]
    return {"accuracy": acc, "ci95": [float(np.quantile(boot, 0.025)),
                                      float(np.quantile(boot, 0.975))],
            "null95": null95, "p_value": p_value, "auc": float(roc_auc_score(y, score)),
            "distinguishable": bool(p_value is not None and p_value < 0.05),
            "n_windows_each": n, "n_features": x.shape[1], "window_s": seconds, "chance": 0.5}
