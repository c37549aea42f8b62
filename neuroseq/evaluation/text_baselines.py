"""Baselines that need no trained model, beside the brain-to-text arms
(:mod:`neuroseq.evaluation.text_decoding`):

- :func:`constant_output`: one answer for every test segment, chosen on the training texts;
- :func:`ridge_text`: a non-neural decoder — ridge regression from each word's window of brain
  data (its first 0.5 s, five 0.1 s bins per channel) to the word's GloVe vector, fitted on
  the training sentences; a test segment's sentence is the candidate (every distinct test
  text, as for the arms' retrieval) whose words' vectors are most similar on average to the
  vectors predicted at the segment's own word onsets (the stimulus timing is known, the words
  are not); its text is the output;
- :func:`classifier_baseline`: for described events, a logistic regression that picks the
  description.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroseq.errors import DataError

#: the ridge decoder's word window: seconds after the onset, and its bins
WORD_WINDOW, WORD_BINS = 0.5, 5


def constant_output(train_texts: list[str], max_candidates: int = 200) -> str:
    """The best constant answer, chosen on the training texts: of the training texts (at most
    ``max_candidates``, a seeded sample) and the most frequent training word repeated the
    median sentence length, the one with the lowest mean WER against the training texts."""
    import collections

    import jiwer

    words = collections.Counter(w for t in train_texts for w in t.split())
    n = int(np.median([len(t.split()) for t in train_texts]))
    texts = sorted(set(train_texts))
    if len(texts) > max_candidates:
        texts = [texts[i] for i in sorted(np.random.default_rng(0).choice(
            len(texts), max_candidates, replace=False))]
    cands = texts + [" ".join([words.most_common(1)[0][0]] * max(n, 1))]
    wer = [np.mean([jiwer.wer(r, c) for r in train_texts]) for c in cands]
    return cands[int(np.argmin(wer))]


def classifier_baseline(sets: dict[str, Any], seed: int, n_bins: int = 8) -> list[str]:
    """The description a logistic regression picks for each test epoch (features: each
    channel's mean in ``n_bins`` time bins; fitted on the train split)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def feats(ds: Any) -> tuple[np.ndarray, list[str]]:
        xs = []
        for i in range(len(ds)):
            x = ds[i]["x"].numpy()
            xs.append(np.stack([b.mean(1) for b in np.array_split(x, n_bins, axis=1)], 1).ravel())
        return np.stack(xs), ds.texts

    xtr, ytr = feats(sets["train"])
    xte, _ = feats(sets["test"])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1,
                                                             random_state=seed))
    return list(clf.fit(xtr, ytr).predict(xte))


def word_windows(ds: Any, i: int) -> tuple[list[np.ndarray], list[str]]:
    """The features (``[C · WORD_BINS]``: each channel's mean in each 0.1 s bin of the first
    0.5 s) of every word of segment ``i`` of a sentence dataset whose window lies inside the
    segment, and those words."""
    s = ds.sentences[i]
    x = ds[i]["x"].numpy()
    width, n = int(round(WORD_WINDOW * ds.sfreq)), x.shape[-1]
    feats, words = [], []
    for w, t in zip(s.words, s.onsets, strict=True):
        a = int(round((t - s.onset - ds.tmin) * ds.sfreq))
        if a < 0 or a + width > n:
            continue
        bins = np.array_split(x[:, a:a + width], WORD_BINS, axis=1)
        feats.append(np.stack([b.mean(1) for b in bins], 1).ravel())
        words.append(w.lower())
    return feats, words


def all_word_windows(ds: Any) -> tuple[list[np.ndarray], list[str]]:
    """:func:`word_windows` of every segment of ``ds``, joined."""
    feats: list[np.ndarray] = []
    words: list[str] = []
    for i in range(len(ds)):
        f, w = word_windows(ds, i)
        feats += f
        words += w
    return feats, words


def ridge_text(sets: dict[str, Any], candidates: list[str], n_test: int | None = None
               ) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """The ridge decoder (module docstring) on the first ``n_test`` test segments: its output
    texts, its score matrix ``[segments, candidates]`` (mean cosine similarity; for retrieval)
    and its facts (alpha chosen by leave-one-out CV on training words, words used)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neuroseq.data.word_vectors import word_vectors

    train, test = sets["train"], sets["test"]
    if not hasattr(train, "sentences") or not train.sentences[0].onsets:
        raise DataError("the ridge text decoder needs sentence segments with word onsets.")
    xs, ws = all_word_windows(train)
    vocab = {w for c in candidates for w in c.lower().split()} | set(ws)
    vec = word_vectors(sorted(vocab), "glove", on_missing="skip")
    keep = [k for k, w in enumerate(ws) if w in vec]
    if len(keep) < 10:
        raise DataError(f"only {len(keep)} training words have a GloVe vector and a full "
                        "window; the ridge text decoder needs more.")
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13)))
    model.fit(np.stack([xs[k] for k in keep]), np.stack([vec[ws[k]] for k in keep]))

    def unit(v: np.ndarray) -> np.ndarray:
        return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12)

    cand_vecs = [[unit(vec[w]) if w in vec else None for w in c.lower().split()]
                 for c in candidates]
    n = len(test) if n_test is None else min(int(n_test), len(test))
    scores = np.full((n, len(candidates)), -np.inf)
    for i in range(n):
        f, _ = word_windows(test, i)
        if not f:
            continue
        pred = unit(model.predict(np.stack(f)))
        for j, cv in enumerate(cand_vecs):
            sims = [float(p @ v) for p, v in zip(pred, cv, strict=False) if v is not None]
            scores[i, j] = np.mean(sims) if sims else -np.inf
    hyps = [candidates[int(np.argmax(r))] if np.isfinite(r).any() else "" for r in scores]
    return hyps, scores, {"alpha": float(model[-1].alpha_), "train_words": len(keep),
                          "window_s": WORD_WINDOW, "bins": WORD_BINS}
