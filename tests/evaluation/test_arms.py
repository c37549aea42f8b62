"""The arms runner, tested through the evaluations that use it: a control that reads the
item's own brain data, or real data where noise belongs, turns these red."""

import numpy as np
import pytest
import torch

from neuroseq.data.collate import EncodeCollate
from neuroseq.evaluation.arms import other_unit, run_arms


class _Items(torch.utils.data.Dataset):
    """Items whose signal is a constant equal to their index (so a batch tells whose data it
    holds), with a unit (sentence) each and a ``key`` for caching collates."""

    def __init__(self, units):
        self.units = units

    def __len__(self):
        return len(self.units)

    def __getitem__(self, i):
        return {"x": torch.full((3, 24), float(i + 1)), "mask": torch.ones(3, dtype=torch.bool),
                "sensors": {"ids": torch.arange(3)}, "subject": torch.tensor(0),
                "key": f"rec@{i}", "label": torch.tensor(i)}


class _Codec:
    """Codes = the signal's first sample per channel, one frame (a stand-in frozen codec)."""

    hop = 24

    def encode(self, x):
        return x[..., :1].round().long()


UNITS = ["a"] * 3 + ["b"] * 2 + ["c"] * 3


@pytest.mark.parametrize("cached", [False, True])
def test_each_arm_reads_only_the_brain_data_it_should(cached):
    ds = _Items(UNITS)
    seen = []

    def predict(batch, n):
        if batch is None:
            seen.append(("empty", None, None))
            return n
        whose = batch["codes"][:, 0, 0].tolist()  # whose data the codes came from (0: noise)
        seen.append((None, whose, batch["label"].tolist()))
        return n

    out = run_arms(ds, UNITS, predict, arms={"model": "own", "noise": "noise",
                                             "shuffled": "other", "empty": "empty"},
                   batch_size=3, seed=0, collate=EncodeCollate(_Codec(), "codes", cache=cached))
    assert {a: sum(v) for a, v in out.items()} == {a: len(ds) for a in out}
    per_batch = [seen[i:i + 4] for i in range(0, len(seen), 4)]
    for b, (own, noise, other, empty) in enumerate(per_batch):
        idx = list(range(3 * b, min(3 * b + 3, len(ds))))
        assert own[1] == [i + 1 for i in idx] and own[2] == idx
        # noise: never the real signal (a constant ≥ 1 coded to ≥ 1); labels are the item's
        assert all(abs(c) < 1 + 1e-6 or c not in {i + 1 for i in range(len(ds))}
                   for c in noise[1]) and noise[2] == idx
        assert not set(noise[1]) & {i + 1 for i in idx}
        # shuffled: another unit's data, with the item's own labels
        assert other[2] == idx
        assert all(UNITS[w - 1] != UNITS[i] for w, i in zip(other[1], idx, strict=True))
        assert empty[0] == "empty"


def test_other_unit_never_pairs_an_item_with_its_own_unit_and_needs_two_units():
    idx = other_unit(UNITS, 3)
    assert all(UNITS[j] != u for u, j in zip(UNITS, idx, strict=True))
    with pytest.raises(Exception, match="single distinct unit"):
        other_unit(["a", "a"], 0)


def test_noise_is_seeded_per_batch():
    ds = _Items(UNITS)
    draws = []

    def predict(batch, n):
        draws.append(batch["x"].clone())
        return n

    for _ in range(2):
        run_arms(ds, UNITS, predict, arms={"noise": "noise"}, batch_size=4, seed=7)
    assert torch.equal(draws[0], draws[2]) and not torch.equal(draws[0], draws[1])
    assert abs(float(draws[0].std()) - 1) < 0.3 and np.isfinite(draws[0].numpy()).all()
