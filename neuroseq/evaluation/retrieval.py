"""Word retrieval: top-k and balanced top-k accuracy against a retrieval set, with chance.

MEG-XL's metric (``../shared/research/megxl_braintotext.md`` §1.5): a prediction is compared
by cosine similarity with the embeddings of the ``K`` most frequent words (K = 50 or 250); it is
right at ``k`` when its true word is among the ``k`` most similar.  Only samples whose word is in
the retrieval set are scored.  *Balanced* accuracy averages the per-word accuracies, so
frequent words do not dominate; chance is ``k / K`` for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def retrieval_set(words: Sequence[str], size: int) -> list[str]:
    """The ``size`` most frequent words of ``words`` (ties broken alphabetically)."""
    counts: dict[str, int] = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: (-counts[w], w))[:size]


def topk_retrieval(pred: torch.Tensor, words: Sequence[str], candidates: Sequence[str],
                   candidate_embeddings: torch.Tensor, k: int = 10) -> dict[str, Any]:
    """Top-``k`` and balanced top-``k`` accuracy of predictions ``[N, D]`` whose true words are
    ``words``, against ``candidates`` with embeddings ``[K, D]``; chance ``k / K`` beside, and
    ``frequency_top_k``, the top-``k`` of always answering the first ``k`` candidates (the most
    frequent words, when ``candidates`` come from :func:`retrieval_set`): the bar for plain
    top-``k``, which frequent words dominate; ``constant_balanced_top_k`` is that constant's
    balanced top-``k`` on the same test words — above ``k / K`` when some candidates never
    occur in the test words, and the bar balanced top-``k`` must pass."""
    index = {w: i for i, w in enumerate(candidates)}
    keep = [i for i, w in enumerate(words) if w in index]
    if not keep:
        raise ValueError("no sample's word is in the retrieval set.")
    k = min(k, len(candidates))
    sims = F.normalize(pred[keep].float(), dim=-1) @ F.normalize(
        candidate_embeddings.float(), dim=-1).T
    truth = torch.tensor([index[words[i]] for i in keep])
    ranked = sims.topk(k, dim=-1).indices
    hit = (ranked == truth[:, None]).any(-1).numpy()
    labels = truth.numpy()
    per_word = [hit[labels == c].mean() for c in np.unique(labels)]
    return {"top_k": float(hit.mean()), "balanced_top_k": float(np.mean(per_word)), "k": k,
            "retrieval_set": len(candidates), "chance": k / len(candidates),
            "frequency_top_k": float((labels < k).mean()),
            "constant_balanced_top_k": float(np.mean([c < k for c in np.unique(labels)])),
            "n_scored": len(keep), "n_words_scored": len(per_word)}
