import mne
import numpy as np

from neuroseq.data.simulate import bursts, pink_noise, simulate_eeg, simulate_meg


def _psd(x, sfreq):
    return mne.time_frequency.psd_array_welch(x.astype(float), sfreq, fmin=1, fmax=90,
                                              n_fft=int(2 * sfreq), verbose="error")


def test_meg_geometry_and_events(meg_rec):
    assert meg_rec.n_channels == 306 and meg_rec.sensors.counts() == {"mag": 102, "grad": 204}
    assert set(meg_rec.events["value"]) == {"face", "house", "checker"}
    assert (meg_rec.events["kind"] == "stimulus").all()
    assert np.all(np.diff(meg_rec.events["onset"]) >= 0.8 - 1e-9)


def test_seeded_and_deterministic():
    a = simulate_eeg(5.0, 100.0, seed=3, n_sources=5)
    b = simulate_eeg(5.0, 100.0, seed=3, n_sources=5)
    c = simulate_eeg(5.0, 100.0, seed=4, n_sources=5)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, c.data)


def test_spectrum_looks_like_brain_data():
    rec = simulate_meg(60.0, 250.0, seed=0, geometry="synthetic", n_sources=20)
    psd, f = _psd(rec.data[rec.sensors.picks("mag")], 250.0)
    p = np.median(psd, axis=0)
    slope = np.polyfit(np.log(f[(f > 2) & (f < 40)]), np.log(p[(f > 2) & (f < 40)]), 1)[0]
    assert slope < -1.0  # 1/f-like decay, white noise would be ~0
    alpha = p[(f >= 8) & (f <= 12)].max()
    flank = np.r_[p[(f >= 4) & (f <= 6)], p[(f >= 14) & (f <= 16)]].mean()
    assert alpha > 2 * flank  # an alpha peak
    # neighbouring sensors are correlated (spatially smooth fields), unlike independent noise
    c = np.corrcoef(rec.data[rec.sensors.picks("mag")])
    assert np.median(np.abs(c[np.triu_indices_from(c, 1)])) > 0.1


def test_conditions_have_distinct_evoked_topographies():
    rec = simulate_meg(120.0, 200.0, seed=5, geometry="synthetic", n_sources=12)
    mags = rec.sensors.picks("mag")
    evoked = {}
    for cond in ("face", "house", "checker"):
        on = (rec.events["onset"][rec.events["value"] == cond] * 200).astype(int)
        ep = np.stack([rec.data[mags, o:o + 120] for o in on])
        evoked[cond] = ep.mean(0)
    # the average over trials is far larger than an average over as many random windows
    rng = np.random.default_rng(0)
    rand = rng.integers(0, rec.n_times - 120, 40)
    noise = np.stack([rec.data[mags, o:o + 120] for o in rand]).mean(0)[:, 20:80].std()
    for ev in evoked.values():
        assert ev[:, 20:80].std() > 2 * noise
    topo = {k: v[:, 34] for k, v in evoked.items()}  # 170 ms
    r = np.corrcoef([topo["face"], topo["house"], topo["checker"]])
    assert r[0, 1] < 0.9 and r[0, 2] < 0.9


def test_building_blocks():
    rng = np.random.default_rng(0)
    x = pink_noise(rng, 2, 4096)
    np.testing.assert_allclose(x.std(axis=1), 1.0, rtol=1e-6)
    b = bursts(rng, 5000, 250.0, 10.0)
    assert 0.05 < np.mean(np.abs(b) > 0.1) < 0.95  # bursty, not always on


def test_nearby_sources_are_correlated():
    from neuroseq.data.simulate import HEAD_CENTER, correlated_background, random_sources

    rng = np.random.default_rng(0)
    rr, _, _ = random_sources(rng, 40, HEAD_CENTER)
    bg = correlated_background(rng, rr, 20000)
    c = np.corrcoef(bg)
    dist = np.linalg.norm(rr[:, None] - rr[None], axis=-1)
    assert c[(dist > 0) & (dist < 0.01)].mean() > 0.5
    assert abs(c[dist > 0.06].mean()) < 0.1
