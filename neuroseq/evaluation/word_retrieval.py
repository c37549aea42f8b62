"""The word-retrieval evaluation protocol (MEG-XL, ``../shared/research/megxl_braintotext.md``
§1.5): each test word's predicted embedding against the 50 and 250 most frequent training words
(those with an embedding), top-10 and balanced top-10 with chance ``k / K`` and the best constant
predictor (always the ``k`` most frequent training words) beside; the model beside its controls
(:mod:`neuroseq.evaluation.arms`: noise with the training groups' spectrum and spatial
covariance, the brain data of another word group).
"""

from __future__ import annotations

from typing import Any

import torch

from neuroseq.data.words import WordCollate
from neuroseq.evaluation.arms import MatchedNoise, run_arms
from neuroseq.evaluation.retrieval import retrieval_set, topk_retrieval

#: arm name → brain input (see :mod:`neuroseq.evaluation.arms`)
ARMS = {"model": "own", "noise": "noise", "shuffled": "other"}
SIZES = (50, 250)
#: training groups the noise arm draws from (their signals are held in memory)
NOISE_POOL = 32


@torch.no_grad()
def predict_words(model: Any, ds: Any, collate: WordCollate, *, arms: dict[str, str] | None = None,
                  seed: int = 0, noise: Any = None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Predicted embeddings ``[N, D]`` of every word of ``ds`` per arm, and the true words
    (``noise``: the noise arm's source, :class:`~neuroseq.evaluation.arms.MatchedNoise`;
    default white)."""
    model.eval()
    words = [w for g in ds.groups for w in g.words]

    def predict(b: dict[str, Any], n: int) -> torch.Tensor:
        return model(b["codes"], b["sensors"], b["mask"], b["word_frames"]).flatten(0, 1)

    out = run_arms(ds, [g.text for g in ds.groups], predict, arms=arms or {"model": "own"},
                   batch_size=1, seed=seed, collate=collate, noise=noise)
    return {a: torch.cat(v) for a, v in out.items()}, words


def evaluate_words(model: Any, test: Any, collate: WordCollate, *, train: Any, seed: int,
                   k: int = 10) -> dict[str, Any]:
    """Top-``k`` and balanced top-``k`` of every arm against the 50 and 250 most frequent
    words of the ``train`` groups; the noise arm reads phase-randomised ``train`` groups; the
    model arm's scores also at the top level (``top10_of_50`` …)."""
    preds, words = predict_words(model, test, collate, arms=ARMS, seed=seed,
                                 noise=MatchedNoise(train, max_segments=NOISE_POOL))
    train_words = [w for g in train.groups for w in g.words]
    table = collate.table
    freq = [w for w in train_words if w in table]
    out: dict[str, Any] = {"split": "test", "n_test_words": len(words), "arms": {},
                           "noise_control": "phase-randomised training groups (their spectrum "
                                            "and cross-spectra)"}
    for arm, pred in preds.items():
        scores = {}
        for size in SIZES:
            cands = retrieval_set(freq, size)
            emb = torch.stack([table[w] for w in cands])
            scores[f"top{k}_of_{size}"] = topk_retrieval(pred, words, cands, emb, k=k)
        out["arms"][arm] = scores
    out |= out["arms"]["model"]
    return out


def bar_verdict(r: dict[str, Any]) -> str:
    """Whether a balanced top-k clears chance and the best constant predictor."""
    bar = max(r["chance"], r["constant_balanced_top_k"])
    return "above the constant bar" if r["balanced_top_k"] > bar else \
        "at or below the constant bar"


def summary(res: dict[str, Any]) -> list[str]:
    """The lines ``neuroseq finetune`` prints for a word-retrieval result."""
    lines = [f"word retrieval on the {res['split']} split ({res['n_test_words']} words, seed "
             f"{res['seed']}, {res['targets']} targets)",
             "set  arm        top-10 (always-frequent)  balanced top-10  chance  constant"]
    for size in SIZES:
        for arm, scores in res["arms"].items():
            r = scores[f"top10_of_{size}"]
            lines.append(f"{size:>3}  {arm:<9}  {r['top_k']:.3f} ({r['frequency_top_k']:.3f})"
                         f"           {r['balanced_top_k']:.3f}            {r['chance']:.3f}"
                         f"   {r['constant_balanced_top_k']:.3f}  {bar_verdict(r)}")
    return lines
