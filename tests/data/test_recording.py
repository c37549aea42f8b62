import numpy as np
import pytest

from neuroseq.data.readers import read_recording
from neuroseq.data.recording import Recording, Sensors, make_events
from neuroseq.errors import DataError


def test_sensors_geometry_from_mne_loc(meg_rec):
    s = meg_rec.sensors
    assert s.counts() == {"mag": 102, "grad": 204}
    info = s.to_info(200.0)
    back = Sensors.from_info(info)
    np.testing.assert_allclose(back.locs, s.locs)
    mag, grad = s.picks("mag")[0], s.picks("grad")[0]
    np.testing.assert_allclose(s.orientations[mag], s.locs[mag, 9:12])  # coil normal
    np.testing.assert_allclose(s.orientations[grad], s.locs[grad, 3:6])  # gradient direction
    np.testing.assert_allclose(np.linalg.norm(s.orientations, axis=1), 1.0, atol=1e-6)
    assert Sensors.from_dict(s.to_dict()).names == s.names


def test_recording_units_and_dtype(meg_rec):
    assert meg_rec.data.dtype == np.float32
    mags = meg_rec.data[meg_rec.sensors.picks("mag")]
    assert 10 < np.median(mags.std(axis=1)) < 2000  # fT, not tesla


def test_nan_and_inf_are_refused(small_rec):
    rec = small_rec.copy()
    rec.data[2, 37] = np.nan
    with pytest.raises(DataError, match=r"NaN/Inf.*C3.*sample 37"):
        rec.validate()
    rec.data[2, 37] = np.inf
    with pytest.raises(DataError, match="NaN/Inf"):
        rec.validate()


def test_flat_channels_raise_or_drop(small_rec):
    rec = small_rec.copy()
    rec.data[1] = 3.0
    with pytest.raises(DataError, match=r"flat channel.*C2.*on_flat='drop'"):
        rec.validate()
    rec.validate(on_flat="drop")
    assert rec.ch_names == ["C1", "C3", "C4"]
    assert rec.provenance[-1]["step"] == "drop_flat"


@pytest.mark.parametrize("kind,scale", [("mag", 1e-15), ("grad", 1e-13), ("eeg", 1e-6)])
def test_si_units_are_detected(kind, scale):
    rng = np.random.default_rng(0)
    sens = Sensors([f"X{i}" for i in range(3)], [kind] * 3)
    rec = Recording(rng.standard_normal((3, 500)) * 100 * scale, 100.0, sens)
    with pytest.raises(DataError, match="looks like SI units"):
        rec.validate()


def test_empty_and_mismatched_recordings():
    sens = Sensors(["A", "B"], ["eeg", "eeg"])
    with pytest.raises(DataError, match="empty"):
        Recording(np.zeros((2, 0)), 100.0, sens)
    with pytest.raises(DataError, match="3 channels but 2 sensors"):
        Recording(np.zeros((3, 10)), 100.0, sens)
    with pytest.raises(DataError, match="sampling frequency"):
        Recording(np.zeros((2, 10)), 0.0, sens)
    with pytest.raises(DataError, match="unknown sensor kind"):
        Sensors(["A"], ["ecg"])


def test_events_outside_the_recording(small_rec):
    rec = small_rec.copy()
    rec.events = make_events([1.0, 25.0], 0.0, "stimulus", ["a", "b"])
    with pytest.raises(DataError, match=r"1 event\(s\) lie outside.*25.0"):
        rec.validate()
    rec.validate(on_outside="drop")
    assert len(rec.events) == 1


def test_pick_and_crop(small_rec):
    rec = small_rec.copy().crop(1.5, 3.5)
    assert rec.n_times == 200
    np.testing.assert_allclose(rec.events["onset"], [0.5, 1.5])
    rec.pick(["C4", "C1"])
    assert rec.ch_names == ["C4", "C1"]
    np.testing.assert_array_equal(rec.data[1], small_rec.data[0, 150:350])
    with pytest.raises(DataError, match="not in the recording"):
        rec.pick(["nope"])


def test_fif_round_trip(meg_rec, tmp_path):
    fname = tmp_path / "sim_meg.fif"
    meg_rec.save_fif(fname)
    back = read_recording(fname)
    assert back.ch_names == meg_rec.ch_names
    np.testing.assert_allclose(back.data, meg_rec.data, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(back.sensors.locs, meg_rec.sensors.locs, atol=1e-6)
    assert back.sensors.coil_types == meg_rec.sensors.coil_types
    assert list(back.events["kind"]) == list(meg_rec.events["kind"])
    assert list(back.events["value"]) == list(meg_rec.events["value"])
    np.testing.assert_allclose(back.events["onset"], meg_rec.events["onset"], atol=1e-2)
