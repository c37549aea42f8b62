"""What the MEG prefix carries: word identity read from the quantized frames by a linear probe.

Brain-to-text's LLM sees only the projected quantized frames of a segment.  If a word cannot be
told from those frames, no LLM can decode it.  For every word whose window (its onset to 0.5 s
after, as the ridge decoder's) lies inside its segment, the quantized frames of the window are
concatenated (and, to tell where word identity is lost, the encoder's frames before the
quantizer); a standardised logistic regression (``C`` by 3-fold cross-validation on training
words only) is fitted on training words of the word types seen at least ``min_count`` times,
and scored by balanced accuracy on the test words of those types, beside chance
(1 / types) and the same probe on the raw signal of the same windows (each channel's mean in
five 0.1 s bins: what the data itself carries, the ceiling the prefix can keep).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from neuroseq.errors import DataError
from neuroseq.evaluation.probe import cv_logistic
from neuroseq.evaluation.text_baselines import WORD_WINDOW, all_word_windows


@torch.no_grad()
def prefix_words(model: Any, ds: Any, batch_size: int = 8
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """The quantized frames and the encoder's frames (before the quantizer) of each word window
    of every segment of ``ds`` (a sentence dataset), each concatenated (``[frames · dim]``), and
    the words."""
    model.eval()
    feats, enc, words, i0 = [], [], [], 0
    stride = model.stride
    width = max(1, int(round(WORD_WINDOW * ds.sfreq / stride)))
    for batch in DataLoader(ds, batch_size, collate_fn=model.collate_fn()):
        out = model.quantize(batch)
        q, h = out[0].float().numpy(), out[3].float().numpy()  # [B, F, dim], [B, F, d]
        for j in range(q.shape[0]):
            s = ds.sentences[i0 + j]
            for w, t in zip(s.words, s.onsets, strict=True):
                a = int(round((t - s.onset - ds.tmin) * ds.sfreq / stride))
                if a >= 0 and a + width <= q.shape[1]:
                    feats.append(q[j, a:a + width].ravel())
                    enc.append(h[j, a:a + width].ravel())
                    words.append(w.lower())
        i0 += q.shape[0]
    return feats, enc, words


def _probe(xtr: list[np.ndarray], ytr: list[str], xte: list[np.ndarray], yte: list[str],
           classes: set[str], seed: int) -> float | None:
    from sklearn.metrics import balanced_accuracy_score

    tr = [k for k, w in enumerate(ytr) if w in classes]
    te = [k for k, w in enumerate(yte) if w in classes]
    if len({ytr[k] for k in tr}) < 2 or not te:
        return None
    clf = cv_logistic(np.stack([xtr[k] for k in tr]), np.array([ytr[k] for k in tr]),
                      seed=seed, cs=(1e-2, 1e-1, 1.0))
    return float(balanced_accuracy_score([yte[k] for k in te],
                                         clf.predict(np.stack([xte[k] for k in te]))))


def prefix_probe(model: Any, sets: dict[str, Any], *, seed: int = 0, min_count: int = 3,
                 max_classes: int = 30, batch_size: int = 8, raw: bool = True
                 ) -> dict[str, Any]:
    """Word identity from the quantized prefix, from the encoder's frames before the quantizer
    and from the raw windows (module docstring): balanced accuracies on the test split, chance,
    and the counts.  The ``max_classes`` most
    frequent training word types with at least ``min_count`` training windows are probed;
    ``raw=False`` skips the raw-signal probe."""
    train, test = sets["train"], sets["test"]
    if not all(getattr(d, "sentences", None) and d.sentences[0].onsets for d in (train, test)):
        raise DataError("the prefix probe needs sentence segments with word onsets.")
    qtr, htr, wtr = prefix_words(model, train, batch_size)
    qte, hte, wte = prefix_words(model, test, batch_size)
    counts = Counter(wtr)
    classes = {w for w, c in counts.most_common(max_classes) if c >= min_count}
    raw_tr, raw_wtr = all_word_windows(train) if raw else ([], [])
    raw_te, raw_wte = all_word_windows(test) if raw else ([], [])
    n_test = sum(w in classes for w in wte)
    return {"split": "test", "seed": seed, "word_types": len(classes),
            "chance": 1.0 / len(classes) if classes else None,
            "train_windows": sum(w in classes for w in wtr), "test_windows": n_test,
            "quantized_prefix": _probe(qtr, wtr, qte, wte, classes, seed),
            "encoder_features": _probe(htr, wtr, hte, wte, classes, seed),
            "raw_signal": _probe(raw_tr, raw_wtr, raw_te, raw_wte, classes, seed) if raw
            else None,
            "window_s": WORD_WINDOW, "min_count": min_count}
