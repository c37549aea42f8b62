"""Known answers for the fidelity metrics, evoked agreement and the controls."""

import numpy as np
import pandas as pd
import pytest

from neuroseq.errors import DataError
from neuroseq.evaluation import controls, evoked, fidelity

SF = 100.0


def pink(c: int, n: int, seed: int) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((c, n)), axis=-1)
    f = np.fft.rfftfreq(n, 1 / SF)
    spec[:, 1:] /= np.sqrt(f[1:])
    spec[:, 0] = 0
    x = np.fft.irfft(spec, n=n, axis=-1)
    return x / x.std(-1, keepdims=True)


def test_identical_signals_have_zero_distances():
    x = pink(4, 6000, 0)
    s = fidelity.spectral_summary(x, x.copy(), SF)
    for key in ("psd_lsd_db", "acf_distance", "amplitude_wasserstein", "amplitude_ks",
                "cov_distance", "corr_distance", "eig_distance", "peak_alpha_abs_diff_hz"):
        assert s[key] == pytest.approx(0.0, abs=1e-9), key


def test_pink_vs_white_gives_a_large_psd_distance():
    p, p2 = pink(4, 6000, 0), pink(4, 6000, 1)
    w = np.random.default_rng(2).standard_normal((4, 6000))
    near = fidelity.log_spectral_distance(p, p2, SF)["overall"]
    far = fidelity.log_spectral_distance(p, w, SF)
    assert near < 1.5 and far["overall"] > 5.0 and far["overall"] > 4 * near
    # a 1/f and a flat spectrum of equal power cross over: the band edges differ most
    assert far["bands"]["delta"] > 3 and far["bands"]["gamma"] > 3
    assert set(far["bands"]) == set(fidelity.BANDS)
    assert fidelity.acf_distance(p, w, SF)["overall"] > 5 * fidelity.acf_distance(p, p2, SF)[
        "overall"]


def test_peak_alpha_frequency_is_found():
    t = np.arange(6000) / SF
    x = np.sin(2 * np.pi * 10.5 * t)[None] + 0.1 * pink(1, 6000, 3)
    assert fidelity.peak_alpha_frequency(x, SF)[0] == pytest.approx(10.5, abs=0.25)


def test_covariance_distance_sees_a_changed_mixing():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((3, 5000))
    a = rng.standard_normal((6, 3)) @ s
    b = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 5000))
    same = fidelity.covariance_distance(a, a.copy())
    diff = fidelity.covariance_distance(a, b)
    assert same["cov"] == 0 and diff["cov"] > 0.3 and diff["corr"] > 0.3


def test_bad_pairs_are_refused():
    x = pink(4, 1000, 0)
    with pytest.raises(ValueError, match="channel mismatch"):
        fidelity.log_spectral_distance(x, x[:3], SF)
    y = x.copy()
    y[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fidelity.covariance_distance(x, y)


def test_controls_keep_what_they_promise():
    x = pink(5, 8000, 4) + pink(1, 8000, 5)  # correlated channels
    pr = controls.phase_randomised(x, seed=1)
    wn = controls.white_noise(x, seed=1)
    assert np.allclose(np.abs(np.fft.rfft(pr)), np.abs(np.fft.rfft(x)))
    assert np.allclose(np.cov(pr), np.cov(x), rtol=1e-6, atol=1e-9)
    assert np.allclose(wn.std(-1), x.std(-1), rtol=0.05)
    lsd_pr = fidelity.log_spectral_distance(x, pr, SF)["overall"]
    assert fidelity.log_spectral_distance(x, wn, SF)["overall"] > max(3.0, 2 * lsd_pr)


def test_evoked_agreement_and_epochs():
    rng = np.random.default_rng(0)
    n = 6000
    x = 0.2 * rng.standard_normal((3, n))
    onsets = np.arange(1.0, 55.0, 1.5)
    vals = np.where(np.arange(len(onsets)) % 2 == 0, "face", "house")
    t = np.arange(int(0.5 * SF)) / SF
    for o, v in zip(onsets, vals, strict=True):
        s = int(o * SF)
        amp = 1.0 if v == "face" else -1.0
        x[:, s:s + len(t)] += amp * np.sin(2 * np.pi * 2 * t)
    ev = pd.DataFrame({"onset": onsets, "duration": 0.5, "kind": "stim", "value": vals})
    ep, lab = evoked.epochs(x, SF, ev)
    assert ep.shape == (len(onsets), 3, 110) and set(lab) == {"face", "house"}
    real = evoked.evoked(ep, lab)
    same = evoked.evoked_agreement(real, real, SF)
    assert same["corr"] == pytest.approx(1.0) and same["peak_latency_diff_s"] == 0
    flipped = {"face": real["house"], "house": real["face"]}
    assert evoked.evoked_agreement(real, flipped, SF)["corr"] < -0.8
    with pytest.raises(DataError, match="no events"):
        evoked.epochs(x, SF, ev.iloc[:0])
    with pytest.raises(DataError, match="no condition in common"):
        evoked.evoked_agreement(real, {"car": real["face"]}, SF)


def _band_limited(seconds=120, sfreq=100.0, band=(1.0, 30.0), seed=0, n=4):
    from scipy import signal as sg

    rng = np.random.default_rng(seed)
    sos = sg.butter(6, band, btype="bandpass", fs=sfreq, output="sos")
    return sg.sosfiltfilt(sos, rng.standard_normal((n, int(seconds * sfreq))), axis=-1)


def test_passband_metrics_ignore_the_stopband_and_report_it_apart():
    """Noise added only above the passband (as a sampler adds it) inflates the full-band PSD
    distance but not the in-band one, and shows up as out-of-band excess."""
    from neuroseq.evaluation.fidelity import bands_within, out_of_band_excess, spectral_summary

    real = _band_limited(seed=0)
    other = _band_limited(seed=1)
    noisy = other + 0.3 * _band_limited(band=(35.0, 49.0), seed=2)
    band = (1.0, 30.0)
    full = spectral_summary(real, noisy, 100.0)
    inband = spectral_summary(real, noisy, 100.0, band)
    assert full["psd_lsd_db"] > 5 and inband["psd_lsd_db"] < 1.5
    assert inband["out_of_band_excess_db"] > 10
    assert out_of_band_excess(noisy, real, 100.0, band) < -10  # the sign says which has more
    assert abs(out_of_band_excess(real, other, 100.0, band)) < 1.5
    assert "psd_lsd_gamma_db" not in inband and "psd_lsd_gamma_db" in full
    assert bands_within(band)["beta"] == (13.0, 30.0) and "gamma" not in bands_within(band)


def test_a_store_band_pass_is_its_passband(tmp_path, eeg_rec):
    from neuroseq.data.preparation import prepare
    from neuroseq.data.preprocess import BandPass, Pipeline, Resample
    from neuroseq.evaluation.judge import store_passband

    f = eeg_rec.copy().save_fif(str(tmp_path / "sub-01_eeg.fif"))
    st = prepare([f], tmp_path / "a.zarr", pipeline=Pipeline([BandPass(1.0, 40.0),
                                                               Resample(100.0)]))
    assert store_passband(st, st.ids[0]) == (1.0, 40.0)
    st = prepare([f], tmp_path / "b.zarr", pipeline=Pipeline([BandPass(0.5, None)]))
    assert store_passband(st, st.ids[0]) == (0.5, 64.0)  # up to Nyquist at 128 Hz
    st = prepare([f], tmp_path / "c.zarr")
    assert store_passband(st, st.ids[0]) is None


def test_drift_sees_a_growing_rhythm_and_not_a_stationary_one():
    sf, n = 100.0, 30_000  # 5 minutes
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((4, n))
    flat = fidelity.drift(noise, sf)
    assert abs(flat["amplitude_ratio"] - 1) < 0.05 and flat["max_abs_band_change_db"] < 0.5
    t = np.arange(n) / sf
    grows = noise + np.linspace(0.5, 3.0, n) * np.sin(2 * np.pi * 10 * t)  # alpha × 6
    d = fidelity.drift(grows, sf)
    assert d["amplitude_ratio"] > 1.5
    assert d["band_power_change_db"]["alpha"] > 10  # ≈ 20·log10(6) in the alpha band
    assert abs(d["band_power_change_db"]["delta"]) < 1  # only alpha grew
    with pytest.raises(ValueError, match="at least 2 × 60 s"):
        fidelity.drift(noise[:, :6000], sf)
