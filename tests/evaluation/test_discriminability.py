"""Real-vs-generated discriminability: same process ≈ 0.5, a changed band or a control detected."""

import numpy as np
import pytest

from neuroseq.data.simulate import simulate_eeg
from neuroseq.errors import DataError
from neuroseq.evaluation import controls
from neuroseq.evaluation.discriminability import discriminability, window_features
from neuroseq.evaluation.fidelity import bands_within

SF = 100.0
BANDS = bands_within((1.0, 30.0))


@pytest.fixture(scope="module")
def eeg():
    """Two stretches of one simulated 16-channel EEG process (alpha rhythm, 1/f background)."""
    rec = simulate_eeg(240.0, SF, seed=4, n_sources=10, conditions=())
    x = rec.data[:16].astype(np.float64)
    x = x / x.std(-1, keepdims=True)
    return x[:, : 120 * int(SF)], x[:, 120 * int(SF):]


def band_scaled(x: np.ndarray, lo: float, hi: float, power: float) -> np.ndarray:
    """``x`` with the power between ``lo`` and ``hi`` Hz multiplied by ``power``."""
    spec = np.fft.rfft(x, axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1 / SF)
    spec[:, (f >= lo) & (f < hi)] *= np.sqrt(power)
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1)


def test_real_against_real_is_within_the_permutation_interval_of_chance(eeg):
    a, b = eeg
    res = discriminability(a, b, SF, bands=BANDS, n_permutations=5000)
    assert res["null95"][0] <= res["accuracy"] <= res["null95"][1], res
    assert res["null95"][0] < 0.5 < res["null95"][1]
    assert res["p_value"] > 0.05 and not res["distinguishable"]
    assert res["n_windows_each"] == 120 and res["chance"] == 0.5


def test_one_band_doubled_is_detected(eeg):
    a, b = eeg
    res = discriminability(a, band_scaled(b, 13.0, 30.0, 2.0), SF, bands=BANDS,
                           n_permutations=5000)
    assert res["distinguishable"] and res["p_value"] < 0.05, res
    assert res["ci95"][0] > 0.5 and res["accuracy"] > max(0.7, res["null95"][1])


def test_controls_are_told_apart_from_real(eeg):
    a, b = eeg
    for make in (controls.white_noise, controls.phase_randomised):
        res = discriminability(a, make(b, seed=1), SF, bands=BANDS, n_permutations=500)
        assert res["distinguishable"], (make.__name__, res)


def test_features_are_compact_and_see_spatial_structure(eeg):
    a, _ = eeg
    f = window_features(a, SF, bands=BANDS)
    assert f.shape == (120, 2 * len(BANDS) + 6)
    # shuffling time independently per channel keeps each channel's power but not the spatial
    # correlation: only the two spatial features (last two columns) should move
    rng = np.random.default_rng(0)
    rolled = np.stack([np.roll(c, rng.integers(100, 5000)) for c in a])
    g = window_features(rolled, SF, bands=BANDS)
    assert g[:, -2].mean() < 0.8 * f[:, -2].mean()
    assert np.allclose(np.sort(f[:, 0]).mean(), np.sort(g[:, 0]).mean(), rtol=0.1)


def test_too_short_input_is_a_clear_error(eeg):
    a, b = eeg
    with pytest.raises(DataError, match="windows"):
        discriminability(a[:, :1000], b[:, :1000], SF)
