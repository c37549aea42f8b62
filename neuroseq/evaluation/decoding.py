"""Decoding-based judgements of generated data (scikit-learn).

* :func:`generated_to_real` — train a classifier on epochs of **generated** data (labels from its
  condition timeline), test it on held-out **real** epochs; shown beside real→real (the
  ceiling) and chance.  High accuracy means the generated data carry the task's evoked structure.
* :func:`discriminability` — a classifier trained to tell real from generated windows (log band
  powers per channel), cross-validated.  0.5 = indistinguishable; the single number to read
  first (GPT2MEG's goal: below 0.6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroseq.errors import DataError
from neuroseq.evaluation.fidelity import BANDS, psd


def epoch_features(ep: np.ndarray, n_bins: int = 10, skip: int = 0) -> np.ndarray:
    """Per-channel means in ``n_bins`` equal time bins after sample ``skip``: ``[n, C·bins]``."""
    x = ep[..., skip:]
    edges = np.linspace(0, x.shape[-1], n_bins + 1).astype(int)
    return np.stack([x[..., a:b].mean(-1) for a, b in zip(edges[:-1], edges[1:], strict=True)],
                    -1).reshape(len(ep), -1)


def _classifier(kind: str, n_train: int, n_features: int) -> Any:
    """Standardise → PCA (≤ 40 components, so many-channel epochs stay fast) → classifier."""
    pca = PCA(max(1, min(40, n_train - 1, n_features)), random_state=0)
    if kind == "lda":
        return make_pipeline(StandardScaler(), pca,
                             LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))
    if kind == "logreg":
        return make_pipeline(StandardScaler(), pca, LogisticRegression(C=0.1, max_iter=2000))
    raise ValueError(f"classifier must be 'lda' or 'logreg', got {kind!r}.")


def generated_to_real(gen: tuple[np.ndarray, np.ndarray], real_test: tuple[np.ndarray, np.ndarray],
                      real_train: tuple[np.ndarray, np.ndarray] | None = None, *,
                      skip: int = 0, classifier: str = "lda",
                      min_epochs: int = 3) -> dict[str, Any]:
    """Balanced accuracy on real held-out epochs of a classifier trained on generated epochs.

    Each argument is ``(epochs [n, C, T], labels [n])``; ``skip`` drops the pre-onset samples.
    With ``real_train`` the real→real ceiling is reported beside it.  Only conditions with at
    least ``min_epochs`` real test and generated epochs are decoded; chance is 1 / classes.
    """
    xg, yg = gen
    xt, yt = real_test
    labels, counts = np.unique(yt, return_counts=True)
    classes = sorted(labels[counts >= min_epochs].tolist())
    if len(classes) < 2:
        raise DataError(f"decoding needs two conditions with ≥ {min_epochs} real test epochs "
                        f"each; have {dict(zip(labels.tolist(), counts.tolist(), strict=True))}.")
    have = dict(zip(*np.unique(yg, return_counts=True), strict=True))
    missing = sorted(c for c in classes if have.get(c, 0) < min_epochs)
    if missing:
        raise DataError(f"the generated data have fewer than {min_epochs} epochs of conditions "
                        f"{missing}; generate longer or with a timeline holding every condition.")
    keep = np.isin(yt, classes)
    xt, yt = xt[keep], yt[keep]
    keep = np.isin(yg, classes)
    fg = epoch_features(xg[keep], skip=skip)
    clf = _classifier(classifier, *fg.shape).fit(fg, yg[keep])
    out = {"generated_to_real": float(balanced_accuracy_score(
        yt, clf.predict(epoch_features(xt, skip=skip)))),
        "chance": 1.0 / len(classes), "n_classes": len(classes),
        "n_generated_epochs": int(keep.sum()), "n_real_test_epochs": len(yt)}
    if real_train is not None:
        xr, yr = real_train
        keep = np.isin(yr, classes)
        fr = epoch_features(xr[keep], skip=skip)
        ceil = _classifier(classifier, *fr.shape).fit(fr, yr[keep])
        out["real_to_real"] = float(balanced_accuracy_score(
            yt, ceil.predict(epoch_features(xt, skip=skip))))
    return out


def window_features(x: np.ndarray, sfreq: float, seconds: float = 2.0,
                    bands: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Log band power per channel (``bands``, default delta…gamma) and log variance of
    non-overlapping windows."""
    n = int(round(seconds * sfreq))
    k = x.shape[-1] // n
    if k < 1:
        raise DataError(f"{x.shape[-1]} samples are shorter than one {seconds:g} s window.")
    w = x[:, : k * n].reshape(x.shape[0], k, n).transpose(1, 0, 2)  # [k, C, n]
    f, p = psd(w, sfreq, seconds=seconds)
    feats = [np.log(w.var(-1) + 1e-30)]
    for lo, hi in (bands or BANDS).values():
        sel = (f >= lo) & (f < min(hi, sfreq / 2))
        if sel.any():
            feats.append(np.log(p[..., sel].mean(-1) + 1e-30))
    return np.concatenate(feats, -1)


def discriminability(real: np.ndarray, gen: np.ndarray, sfreq: float, *, seconds: float = 2.0,
                     folds: int = 5, seed: int = 0,
                     bands: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """Cross-validated accuracy and AUC of logistic regression telling real from generated.

    The same number of windows is taken from each (the first ``min`` of both), so chance is 0.5.
    ``bands`` (default delta…gamma) are the band powers used as features.
    """
    fr = window_features(real, sfreq, seconds, bands)
    fg = window_features(gen, sfreq, seconds, bands)
    n = min(len(fr), len(fg))
    if n < folds:
        raise DataError(f"discriminability needs ≥ {folds} windows of {seconds:g} s from each "
                        f"signal; have {len(fr)} real and {len(fg)} generated.")
    x = np.concatenate([fr[:n], fg[:n]])
    y = np.r_[np.zeros(n), np.ones(n)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    prob = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    acc = [float(((prob[te] > 0.5) == y[te]).mean()) for _, te in cv.split(x, y)]
    return {"accuracy": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
            "auc": float(roc_auc_score(y, prob)), "n_windows_each": n, "chance": 0.5}
