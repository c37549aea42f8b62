"""The TDE-HMM recovers planted states and compares state statistics."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from neuroseq.evaluation import dynamics

SF = 100.0


def switching(n: int = 9000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 channels; 3 states, each a different oscillation on a different channel pair."""
    rng = np.random.default_rng(seed)
    states = np.empty(n, dtype=int)
    a, k = 0, 0
    while a < n:
        d = int(rng.exponential(0.6 * SF)) + 20
        states[a:a + d] = k
        a += d
        k = (k + rng.integers(1, 3)) % 3
    t = np.arange(n) / SF
    freqs, pats = (3.0, 10.0, 22.0), np.array([[3, 3, 0, 0], [0, 3, 3, 0], [0, 0, 3, 3.0]])
    x = 0.5 * rng.standard_normal((4, n))
    for s in range(3):
        osc = np.sin(2 * np.pi * freqs[s] * t + rng.random() * 6)
        x += pats[s][:, None] * osc * (states == s)
    return x, states


def test_hmm_recovers_planted_states():
    x, truth = switching()
    hmm = dynamics.TDEHMM(n_states=3, n_embeddings=7, n_pca=8, n_iter=30, n_init=1).fit(x, SF)
    got = hmm.states(x)
    truth = truth[3:3 + len(got)]  # the embedding's centre sample
    conf = np.zeros((3, 3))
    np.add.at(conf, (truth, got), 1)
    r, c = linear_sum_assignment(-conf)
    assert conf[r, c].sum() / len(got) > 0.85
    st = hmm.statistics(x)
    assert st["fractional_occupancy"].sum() == pytest.approx(1.0)
    assert 0.3 < st["mean_lifetime_s"].mean() < 1.5  # planted: ~0.8 s
    # a state's spectrum peaks at its planted frequency
    f = st["freqs"]
    peaks = sorted(f[np.argmax(s)] for s in st["state_spectra"])
    assert peaks == pytest.approx([3.0, 10.0, 22.0], abs=1.0)


def test_state_statistics_known_answer_and_comparison():
    s = np.repeat([0, 1, 0, 1], 50)  # 4 visits of 0.5 s at 100 Hz
    st = dynamics.state_statistics(s, 2, SF)
    assert np.allclose(st["fractional_occupancy"], [0.5, 0.5])
    assert np.allclose(st["mean_lifetime_s"], [0.5, 0.5])
    assert st["switching_rate_hz"] == pytest.approx(3 / 2.0)
    d = dynamics.compare_statistics(st, st)
    assert d["fo_distance"] == 0 and d["lifetime_abs_diff_s"] == 0
    assert d["switching_rate_ratio"] == 1
    other = dynamics.state_statistics(np.zeros(200, dtype=int), 2, SF)
    assert dynamics.compare_statistics(st, other)["fo_distance"] == pytest.approx(0.5)


def test_generated_data_from_another_process_is_told_apart():
    x, _ = switching(6000, 0)
    y, _ = switching(6000, 1)
    noise = np.random.default_rng(0).standard_normal(x.shape)
    res = dynamics.hmm_comparison(x, y, {"noise": noise}, SF,
                                  dynamics.TDEHMM(n_states=3, n_embeddings=7, n_pca=8, n_iter=20,
                                                  n_init=1))
    d = res["distances"]
    assert d["real (held out)"]["state_spectra_lsd_db"] < d["noise"]["state_spectra_lsd_db"]
    assert d["real (held out)"]["fo_distance"] < 0.2
    with pytest.raises(ValueError, match="channel"):
        res["model"].states(x[:3])
