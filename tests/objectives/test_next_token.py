"""NextTokenObjective scores the prediction of token t+1 from tokens ≤ t, on the loss window."""

import torch

from neuroseq.objectives.next_token import NextTokenObjective

V = 64


class Oracle(torch.nn.Module):
    """Knows the whole sequence and puts all its mass on the true *next* token."""

    def __init__(self, tokens: torch.Tensor, shift: int = 1) -> None:
        super().__init__()
        self.tokens, self.shift = tokens, shift

    def forward(self, inputs, channels=None, subject=None, condition=None, mask=None):
        t = inputs.shape[-1]
        nxt = self.tokens[..., self.shift:self.shift + t]
        return {"logits": torch.nn.functional.one_hot(nxt, V).float() * 50.0}


def batch():
    g = torch.Generator().manual_seed(0)
    return {"tokens": torch.randint(0, V, (3, 4, 41), generator=g)}


def test_the_true_next_token_scores_perfectly_and_a_copy_does_not():
    b = batch()
    obj = NextTokenObjective(loss_from=0.5)
    loss, m = obj(Oracle(b["tokens"], shift=1), b)
    assert float(loss) < 1e-3 and float(m["acc"]) == 1.0
    loss_copy, m_copy = obj(Oracle(b["tokens"], shift=0), b)  # predicts the input token itself
    assert float(m_copy["acc"]) < 0.1 and float(loss_copy) > 10


def test_only_the_loss_window_counts():
    """Positions before ``loss_from`` are not scored: garbage there leaves the loss at ~0."""
    b = batch()
    oracle = Oracle(b["tokens"], shift=1)
    obj = NextTokenObjective(loss_from=0.5)
    first = obj.first_target(b["tokens"].shape[-1])
    assert first == 20

    class Spoiled(torch.nn.Module):
        def forward(self, inputs, *a, **k):
            out = oracle(inputs)["logits"].clone()
            out[..., :first, :] = out[..., :first, :].flip(-1)  # wrong before the window
            return {"logits": out}

    loss, m = obj(Spoiled(), b)
    assert float(loss) < 1e-3 and float(m["acc"]) == 1.0
    spoiled_late = NextTokenObjective(loss_from=0)(Spoiled(), b)[0]
    assert float(spoiled_late) > 10
