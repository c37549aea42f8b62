"""Decoding-based judgements of generated data (scikit-learn).

* :func:`generated_to_real` — train a classifier on epochs of **generated** data (labels from its
  condition timeline), test it on held-out **real** epochs; shown beside real→real (the
  ceiling) and chance.  High accuracy means the generated data carry the task's evoked structure.

Real-vs-generated discriminability lives in :mod:`neuroseq.evaluation.discriminability`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroseq.errors import DataError


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
