import importlib.util
import os

import numpy as np
import pytest

from neuroseq.data import samples
from neuroseq.errors import MissingPackageError

# CI installs the sample packages; elsewhere a missing one is reported as a visible skip
_need = pytest.mark.skipif(
    not samples.has_sample_eeg() and not os.environ.get("CI"),
    reason="pylossless sample EEG not installed: pip install --no-deps pylossless==0.2.0")
_need_meg = pytest.mark.skipif(
    not samples.has_megin_template() and not os.environ.get("CI"),
    reason="osl-ephys template not installed: pip install --no-deps osl-ephys==2.4.0")


def test_missing_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pylossless" else real(name, *a))
    with pytest.raises(MissingPackageError, match=r"pip install --no-deps pylossless==0\.2\.0"):
        samples.sample_eeg_root()


@_need
def test_real_sample_eeg():
    rec = samples.load_sample_eeg("s01")
    assert rec.n_channels == 128 and rec.sfreq == 256.0
    assert 1100 < rec.duration < 1130
    counts = rec.events["value"].value_counts()
    for v in ("face-upright", "face-inverted", "house-upright", "house-inverted"):
        assert 180 < counts[v] < 210
    typical = np.median(rec.data.std(axis=1))
    assert typical > 1.0 and typical < 100.0  # µV, not volts


@_need_meg
def test_megin_template_and_mvar():
    info = samples.megin_template_info()
    assert len(info["ch_names"]) == 306
    p = samples.megin_mvar_params("mag")
    assert p["coefs"].shape == (50, 50, 20) and p["components"].shape == (50, 102)
    np.testing.assert_allclose(p["coefs"][:, :, 0], -np.eye(50))


@_need_meg
def test_simulation_on_real_geometry_with_mvar_background():
    from neuroseq.data.simulate import simulate_meg

    rec = simulate_meg(10.0, 150.0, seed=0, geometry="megin", background="mvar", n_sources=6)
    assert rec.sensors.counts() == {"mag": 102, "grad": 204}
    np.testing.assert_allclose(rec.sensors.locs, np.array(
        [c["loc"] for c in samples.megin_template_info()["chs"]])[:306], atol=1e-6)
    assert np.isfinite(rec.data).all() and rec.data.std() > 1.0
