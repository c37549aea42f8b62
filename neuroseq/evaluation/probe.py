"""Linear probing: a logistic regression on the frozen per-electrode features of an encoder.

Features are what :meth:`~neuroseq.models.eegpt.EEGPT.electrode_features` returns (pooled
ETE outputs per electrode), flattened over electrodes, so a fixed montage is required.  The
regularisation is chosen by cross-validation on the training epochs only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from neuroseq.data.collate import pad_collate
from neuroseq.errors import DataError


@torch.no_grad()
def frozen_features(model: Any, ds: Any, batch_size: int = 32
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features [N, E·D], labels [N], task names [N])`` of a multi-task epoch set."""
    model.eval()
    xs, ys, ts = [], [], []
    for b in DataLoader(ds, batch_size, collate_fn=pad_collate):
        if not bool(b["mask"].all()):
            raise DataError("linear probing flattens electrodes: every epoch needs the same "
                            "montage, and this set mixes montages.")
        z = model.electrode_features(b["x"], b["sensors"]["ids"], b["mask"])
        xs.append(z.flatten(1).float().numpy())
        ys.append(b["y"].numpy())
        ts += list(b["task"])
    return np.concatenate(xs), np.concatenate(ys), np.array(ts)


def cv_logistic(x: np.ndarray, y: np.ndarray, *, seed: int = 0,
                cs: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)) -> Any:
    """A standardised logistic regression fitted on ``(x, y)``, its ``C`` chosen from ``cs`` by
    3-fold cross-validated balanced accuracy on these data only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))
    return GridSearchCV(pipe, {"logisticregression__C": list(cs)}, cv=3,
                        scoring="balanced_accuracy").fit(x, y)


def linear_probe(model: Any, train: Any, test: Any, *, seed: int = 0,
                 cs: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)) -> dict[str, dict]:
    """Balanced accuracy per task of a standardised logistic regression on frozen features
    (``C`` from 3-fold cross-validation on ``train``), with chance and the chosen ``C``."""
    from sklearn.metrics import balanced_accuracy_score

    xtr, ytr, ttr = frozen_features(model, train)
    xte, yte, tte = frozen_features(model, test)
    out = {}
    for t in dict.fromkeys(ttr):
        a, b = ttr == t, tte == t
        if not b.any():
            continue
        clf = cv_logistic(xtr[a], ytr[a], seed=seed, cs=cs)
        out[t] = {"balanced_accuracy": float(balanced_accuracy_score(yte[b], clf.predict(xte[b]))),
                  "chance": 1.0 / len(np.unique(ytr[a])), "n_test": int(b.sum()),
                  "C": float(clf.best_params_["logisticregression__C"])}
    return out
