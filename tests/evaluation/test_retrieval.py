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
