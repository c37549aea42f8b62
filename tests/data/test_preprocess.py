import mne
import numpy as np
import pytest

from neuroseq.data.preprocess import (
    BandPass,
    ChunkBaseline,
    Clip,
    Notch,
    Pick,
    Pipeline,
    Resample,
    RobustScale,
    default_pipeline,
)
from neuroseq.errors import DataError, NeuroseqError


def test_robust_scale_is_fitted_on_training_part_only(meg_rec):
    rec = meg_rec.copy()
    rec.data[:, 2000:] *= 10  # the non-training part is much larger
    pipe = Pipeline([RobustScale()])
    out = pipe.fit_apply(rec, train_spans=[(0.0, 10.0)])
    train = out.data[:, :2000]
    np.testing.assert_allclose(np.median(train, axis=1), 0, atol=1e-4)
    q75, q25 = np.percentile(train, [75, 25], axis=1)
    np.testing.assert_allclose(q75 - q25, 1, rtol=1e-3)
    assert np.median(np.percentile(out.data[:, 2000:], 75, axis=1)) > 3  # not refitted there


def test_pipeline_json_round_trip_reapplies_identically(meg_rec):
    pipe = Pipeline([Pick(kinds=["mag", "grad"]), BandPass(1.0, 40.0), Notch([50.0]),
                     Resample(100.0), RobustScale(per_kind=True), Clip(4.0),
                     ChunkBaseline(3.0, 0.5)])
    first = pipe.fit_apply(meg_rec, train_spans=[(2.0, 18.0)])
    again = Pipeline.from_json(pipe.to_json()).apply(meg_rec)
    np.testing.assert_array_equal(first.data, again.data)
    assert first.sfreq == 100.0 and first.n_times == 2000
    assert [p["step"] for p in again.provenance[-7:]] == [
        "pick", "bandpass", "notch", "resample", "robust_scale", "clip", "chunk_baseline"]
    assert np.abs(first.data).max() <= 4.0 + 4.0  # clip, then per-chunk baseline shift


def test_inverse_scaling_recovers_signal(eeg_rec):
    pipe = Pipeline([RobustScale()])
    scaled = pipe.fit_apply(eeg_rec)
    back = Pipeline.from_json(pipe.to_json()).inverse_scaling(scaled.data, scaled.ch_names)
    np.testing.assert_allclose(back, eeg_rec.data, rtol=1e-4, atol=1e-3)


def test_per_kind_scaling_keeps_relative_amplitudes(meg_rec):
    out = Pipeline([RobustScale(per_kind=True)]).fit_apply(meg_rec)
    mags = meg_rec.sensors.picks("mag")
    ratio_in = meg_rec.data[mags[0]].std() / meg_rec.data[mags[1]].std()
    ratio_out = out.data[mags[0]].std() / out.data[mags[1]].std()
    assert ratio_out == pytest.approx(ratio_in, rel=1e-4)


def test_bandpass_and_resample_shape_the_spectrum(eeg_rec):
    out = Pipeline([BandPass(8.0, 12.0)]).fit_apply(eeg_rec)
    psd_in, f = mne.time_frequency.psd_array_welch(eeg_rec.data.astype(float), 128, n_fft=256,
                                                   verbose="error")
    psd_out, _ = mne.time_frequency.psd_array_welch(out.data.astype(float), 128, n_fft=256,
                                                    verbose="error")
    gain = psd_out.mean(0) / psd_in.mean(0)
    assert gain[(f > 9) & (f < 11)].min() > 0.8
    assert gain[(f > 25) & (f < 50)].max() < 0.01
    res = Pipeline([Resample(64.0)]).fit_apply(eeg_rec)
    assert res.sfreq == 64.0 and res.n_times == eeg_rec.n_times // 2
    assert res.events.equals(eeg_rec.events)  # events are in seconds


def test_errors(meg_rec, small_rec):
    with pytest.raises(NeuroseqError, match="not fitted"):
        Pipeline([RobustScale()]).apply(meg_rec)
    with pytest.raises(DataError, match="Nyquist"):
        Pipeline([BandPass(1.0, 60.0)]).fit_apply(small_rec)
    pipe = Pipeline([RobustScale()])
    pipe.fit(small_rec)
    with pytest.raises(DataError, match="fitted on other channels"):
        pipe.apply(meg_rec)
    with pytest.raises(DataError, match="select no sample"):
        Pipeline([RobustScale()]).fit(small_rec, train_spans=[(50.0, 60.0)])
    with pytest.raises(DataError, match="unknown preprocessing step"):
        Pipeline.from_dict({"steps": [{"step": "magic"}]})


def test_default_pipeline_is_gpt2meg_recipe():
    pipe = default_pipeline()
    assert [s.name for s in pipe.steps] == ["bandpass", "resample", "robust_scale", "clip"]
    assert pipe.output_sfreq(1000.0) == 100.0
