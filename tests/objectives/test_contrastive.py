"""D-SigLIP: aligned beats shuffled, duplicates are not negatives, training aligns."""

import math

import pytest
import torch

from neuroseq.evaluation.retrieval import topk_retrieval
from neuroseq.objectives.contrastive import DSigLIPLoss


def words(n=40, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g)


def test_aligned_predictions_score_lower_than_shuffled_ones():
    y = words()
    loss = DSigLIPLoss()
    with torch.no_grad():
        aligned, shuffled = loss(y, y), loss(y[torch.randperm(40)], y)
    assert float(aligned) < 0.5 * float(shuffled)


def test_copies_of_the_same_word_are_not_negatives():
    y = words(8)
    y[5] = y[2]  # sample 5 hears the same word as sample 2
    loss = DSigLIPLoss()
    pred = y.clone()
    with torch.no_grad():
        full = loss(pred, y)
        s = loss.scores(pred, y)
        eye = torch.eye(8)
        w = torch.ones(8, 8)
        w[2, 5] = w[5, 2] = 0  # what the loss must leave out
        manual = torch.nn.functional.binary_cross_entropy_with_logits(
            s, eye, weight=w, reduction="sum") / 8
        counted = torch.nn.functional.binary_cross_entropy_with_logits(
            s, eye, reduction="sum") / 8
    assert torch.allclose(full, manual)
    # counting the copy as a negative would add its two pairs: 2 · log 2 / 8 at score 0
    assert float(counted - full) == pytest.approx(2 * math.log(2) / 8, rel=1e-4)


def test_training_with_the_loss_makes_retrieval_work():
    torch.manual_seed(0)
    y = words(50, 16, seed=1)
    x = torch.randn(50, 32)  # "brain" features that carry the word in their first half
    x[:, :16] = y + 0.1 * torch.randn(50, 16)
    head, loss = torch.nn.Linear(32, 16), DSigLIPLoss()
    opt = torch.optim.Adam(list(head.parameters()) + list(loss.parameters()), lr=1e-2)
    names = [f"w{i}" for i in range(50)]
    before = topk_retrieval(head(x).detach(), names, names, y, k=1)["top_k"]
    for _ in range(300):
        opt.zero_grad()
        loss(head(x), y).backward()
        opt.step()
    after = topk_retrieval(head(x).detach(), names, names, y, k=1)
    assert after["top_k"] > 0.9 > before + 0.5 and after["chance"] == pytest.approx(0.02)


class _Oracle(torch.nn.Module):
    """Predicts ``answer`` (the words' own embeddings, or anything else) for every word."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.log_temperature = torch.nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = torch.nn.Parameter(torch.tensor(-10.0))

    def forward(self, codes, sensors, mask, frames):
        return self.answer


def test_word_objective_rewards_the_right_embeddings_and_counts_duplicates():
    from neuroseq.objectives.contrastive import WordRetrievalObjective

    g = torch.Generator().manual_seed(0)
    vocab = torch.randn(6, 8, generator=g)
    ids = torch.tensor([[0, 1, 2, 0], [3, 4, 5, 1]])  # words 0 and 1 twice
    targets = vocab[ids]
    valid = torch.ones(2, 4, dtype=torch.bool)
    valid[1, 3] = False  # a word without an embedding is left out
    batch = {"codes": None, "sensors": None, "mask": None, "word_frames": None,
             "targets": targets, "word_valid": valid}
    obj = WordRetrievalObjective()
    right, met = obj(_Oracle(targets), batch)
    assert float(met["acc_in_batch"]) == 1.0
    assert float(met["chance_in_batch"]) == pytest.approx(1 / 6)
    wrong, met = obj(_Oracle(vocab[(ids + 1) % 6]), batch)  # every word's neighbour
    assert float(met["acc_in_batch"]) < 0.3 and float(wrong) > float(right) + 1.0
