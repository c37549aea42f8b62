"""Decoding of generated data and real-vs-generated discriminability on planted answers."""

import numpy as np
import pandas as pd
import pytest

from neuroseq.errors import DataError
from neuroseq.evaluation import decoding, evoked

SF = 100.0


def task(seed: int, planted: bool = True, n_trials: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """8 channels of noise with a condition-specific evoked response after each onset."""
    rng = np.random.default_rng(seed)
    n = int((n_trials * 1.5 + 3) * SF)
    x = rng.standard_normal((8, n))
    onsets = 1.0 + 1.5 * np.arange(n_trials)
    vals = rng.choice(["face", "house", "car"], n_trials)
    pats = {"face": np.r_[1, 1, 0, 0, 0, 0, -1, 0.0], "house": np.r_[0, 0, 1, 1, 0, 0, 0, -1.0],
            "car": np.r_[0, -1, 0, 0, 1, 1, 0, 0.0]}
    t = np.arange(int(0.4 * SF)) / SF
    for o, v in zip(onsets, vals, strict=True):
        if planted:
            s = int(o * SF) + 10
            x[:, s:s + len(t)] += 1.5 * pats[v][:, None] * np.sin(np.pi * t / 0.4)
    ev = pd.DataFrame({"onset": onsets, "duration": 0.5, "kind": "stim", "value": vals})
    return evoked.epochs(x, SF, ev)


def test_decoding_generated_with_planted_responses_beats_chance():
    real_train, real_test, gen = task(0), task(1), task(2)
    res = decoding.generated_to_real(gen, real_test, real_train, skip=10)
    assert res["chance"] == pytest.approx(1 / 3)
    assert res["generated_to_real"] > 0.8 and res["real_to_real"] > 0.8
    blank = decoding.generated_to_real(task(3, planted=False), real_test, skip=10)
    assert blank["generated_to_real"] < 0.55


def test_decoding_refuses_missing_conditions():
    gen = task(2)
    keep = gen[1] != "car"
    with pytest.raises(DataError, match="car"):
        decoding.generated_to_real((gen[0][keep], gen[1][keep]), task(1))
