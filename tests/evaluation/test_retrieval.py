"""Top-k and balanced top-k word retrieval against a retrieval set, with chance."""

import pytest
import torch

from neuroseq.evaluation.retrieval import retrieval_set, topk_retrieval


def test_retrieval_set_is_the_most_frequent_words():
    assert retrieval_set(["b", "a", "b", "c", "a", "b"], 2) == ["b", "a"]


def test_balanced_top_k_known_answers():
    cands = ["a", "b", "c", "d"]
    emb = torch.eye(4)
    # 6 samples of "a" all right, 2 of "b" both wrong (they point at "c"), 1 "z" not scored
    pred = torch.stack([emb[0]] * 6 + [emb[2]] * 2 + [emb[3]])
    truth = ["a"] * 6 + ["b"] * 2 + ["z"]
    r = topk_retrieval(pred, truth, cands, emb, k=1)
    assert r["top_k"] == pytest.approx(6 / 8) and r["balanced_top_k"] == pytest.approx(0.5)
    assert r["n_scored"] == 8 and r["chance"] == 0.25
    assert r["frequency_top_k"] == pytest.approx(6 / 8)  # always answering "a", the first
    r2 = topk_retrieval(pred, truth, cands, emb, k=4)
    assert r2["top_k"] == r2["balanced_top_k"] == 1.0


def test_random_predictions_sit_at_chance():
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(50, 16, generator=g)
    cands = [f"w{i}" for i in range(50)]
    truth = [cands[i % 50] for i in range(5000)]
    r = topk_retrieval(torch.randn(5000, 16, generator=g), truth, cands, emb, k=10)
    assert abs(r["balanced_top_k"] - 0.2) < 0.03 and r["chance"] == 0.2


def test_the_best_constant_bar_counts_only_the_test_words_present():
    """Known answer: candidates a, b, c, d (most frequent first), k = 2; the test words are
    a, c, c. Always answering {a, b} hits word a and misses word c: balanced 1/2. A predictor
    ranking {a, c} first reaches 1.0. Where only a and b of six candidates occur, the constant
    scores 1.0 against a chance of 2/6 — the bar a balanced top-k must pass."""
    cands = ["a", "b", "c", "d"]
    emb = torch.eye(4)
    words = ["a", "c", "c"]
    pred = torch.stack([emb[0] + emb[2]] * 3)  # a and c share the top two
    r = topk_retrieval(pred, words, cands, emb, k=2)
    assert r["constant_balanced_top_k"] == pytest.approx(0.5)
    assert r["balanced_top_k"] == pytest.approx(1.0) and r["chance"] == 0.5
    # a set where the constant beats chance: only a and b occur among six candidates
    cands6 = list("abcdef")
    r6 = topk_retrieval(torch.eye(6)[[0, 1]], ["a", "b"], cands6, torch.eye(6), k=2)
    assert r6["chance"] == pytest.approx(2 / 6) and r6["constant_balanced_top_k"] == 1.0
