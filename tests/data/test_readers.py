import json
import os
from pathlib import Path

import h5py
import mne
import numpy as np
import pandas as pd
import pytest

from neuroseq.data.array_readers import read_array, read_libribrain_h5
from neuroseq.data.readers import find_bids_recordings, find_recordings, read_recording
from neuroseq.errors import DataError, FormatError, MissingFieldsError


def _eeg_raw(eeg_rec):
    raw = eeg_rec.to_raw()
    raw.set_montage("biosemi64")
    return raw


@pytest.mark.parametrize("fmt,ext", [("edf", ".edf"), ("brainvision", ".vhdr"),
                                     ("eeglab", ".set")])
def test_mne_formats_round_trip(eeg_rec, tmp_path, fmt, ext):
    fname = tmp_path / f"sub-07_task-x_eeg{ext}"
    mne.export.export_raw(fname, _eeg_raw(eeg_rec), fmt=fmt, verbose="error")
    rec = read_recording(fname)
    assert rec.subject == "07" and rec.task == "x"
    assert rec.ch_names == eeg_rec.ch_names and rec.sfreq == eeg_rec.sfreq
    # EDF stores 16-bit integers: compare relative to the signal range
    err = np.abs(rec.data - eeg_rec.data).max() / np.abs(eeg_rec.data).max()
    assert err < 1e-3
    stim = rec.events[rec.events["kind"] == "stimulus"]
    assert list(stim["value"]) == list(eeg_rec.events["value"])
    np.testing.assert_allclose(stim["onset"], eeg_rec.events["onset"], atol=1 / eeg_rec.sfreq)


def test_stim_channel_events(tmp_path):
    info = mne.create_info(["E1", "E2", "STI"], 100.0, ["eeg", "eeg", "stim"])
    data = np.random.default_rng(0).standard_normal((3, 1000)) * 1e-5
    data[2] = 0
    data[2, [100, 400]] = [3, 5]
    fname = tmp_path / "trig_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(fname, verbose="error")
    rec = read_recording(fname)
    assert rec.ch_names == ["E1", "E2"]
    assert list(rec.events["kind"]) == ["stim", "stim"]
    assert list(rec.events["value"]) == [3, 5]
    np.testing.assert_allclose(rec.events["onset"], [1.0, 4.0])


def test_bids_root_discovery_and_filters(meg_rec, eeg_rec, tmp_path):
    import mne_bids
    root = tmp_path / "bids"
    for rec, sub, task, dtype in [(meg_rec, "01", "vis", "meg"), (meg_rec, "02", "vis", "meg"),
                                  (eeg_rec, "01", "rest", "eeg")]:
        fif = tmp_path / f"tmp_{sub}_{task}_raw.fif"
        raw = rec.to_raw()
        raw.info["line_freq"] = 50.0
        raw.save(fif, overwrite=True, verbose="error")
        raw = mne.io.read_raw_fif(fif, verbose="error")
        bp = mne_bids.BIDSPath(subject=sub, task=task, root=root, datatype=dtype)
        mne_bids.write_raw_bids(raw, bp, overwrite=True, allow_preload=False,
                                format="FIF" if dtype == "meg" else "BrainVision",
                                verbose="error")
    assert len(find_bids_recordings(root)) == 3
    paths = find_bids_recordings(root, subjects=["02"])
    assert [p.subject for p in paths] == ["02"]
    assert [p.datatype for p in find_bids_recordings(root, datatypes=["eeg"])] == ["eeg"]
    rec = read_recording(paths[0])
    assert rec.subject == "02" and rec.task == "vis" and rec.n_channels == 306
    assert (rec.events["value"] == "face").sum() == (meg_rec.events["value"] == "face").sum()
    with pytest.raises(FormatError, match="no recording under BIDS root"):
        find_bids_recordings(root, subjects=["99"])
    with pytest.raises(FormatError, match="BIDS root, not a recording"):
        read_recording(root)


def test_meg_masc_events_tsv(meg_rec, tmp_path):
    fif = tmp_path / "sub-03_ses-0_task-0_meg.fif"
    meg_rec.save_fif(fif)
    tsv = tmp_path / "events.tsv"
    rows = [
        (1.0, 0.3, "{'kind': 'word', 'word': 'Tara', 'story': 'lw1', 'pronounced': 1.0}"),
        (1.0, 0.1, "{'kind': 'phoneme', 'phoneme': 't_B', 'story': 'lw1'}"),
        (2.5, 0.0, "{'kind': 'sound', 'sound': 'stimuli/audio/lw1_0.wav'}"),
    ]
    pd.DataFrame(rows, columns=["onset", "duration", "trial_type"]).assign(
        value=[1, 2, 3], sample=[200, 200, 500]).to_csv(tsv, sep="\t", index=False)
    rec = read_recording(fif, events=tsv)
    assert list(rec.events["kind"]) == ["word", "phoneme", "sound"]
    assert list(rec.events["value"]) == ["Tara", "t_B", "stimuli/audio/lw1_0.wav"]
    assert rec.events.loc[0, "story"] == "lw1" and rec.events.loc[0, "pronounced"] == 1.0
    assert rec.subject == "03" and rec.session == "0"
    bad = tmp_path / "bad.tsv"
    bad.write_text("onset\tduration\ttrial_type\n1.0\t0\t{'kind': 'word',\n")
    with pytest.raises(FormatError, match="not a valid Python literal"):
        read_recording(fif, events=bad)


def test_npy_with_sidecar_and_units(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 500)) * 1e-13  # tesla
    np.save(tmp_path / "rec.npy", x)
    side = {"sfreq": 250.0, "ch_names": ["M1", "M2", "M3"], "ch_types": "mag", "subject": "s9"}
    (tmp_path / "rec.json").write_text(json.dumps(side))
    with pytest.raises(DataError, match="looks like SI units.*units='si'"):
        read_recording(tmp_path / "rec.npy")
    rec = read_recording(tmp_path / "rec.npy", units="si")
    np.testing.assert_allclose(rec.data, x * 1e15, rtol=1e-5)
    assert rec.sfreq == 250.0 and rec.subject == "s9" and rec.sensors.kinds == ["mag"] * 3


def test_npz_and_missing_metadata(tmp_path):
    x = np.random.default_rng(0).standard_normal((2, 300)).astype(np.float32) * 20
    np.savez(tmp_path / "a.npz", data=x, sfreq=100.0, ch_names=["Cz", "Pz"], ch_types=["eeg"] * 2)
    rec = read_recording(tmp_path / "a.npz")
    np.testing.assert_array_equal(rec.data, x)
    np.save(tmp_path / "b.npy", x)
    with pytest.raises(MissingFieldsError, match="needs sfreq, ch_names, ch_types") as err:
        read_array(tmp_path / "b.npy")  # every missing field named at once
    assert err.value.fields == ["sfreq", "ch_names", "ch_types"]
    with pytest.raises(FormatError, match="needs ch_names, ch_types, which are missing"):
        read_array(tmp_path / "b.npy", sfreq=100.0)
    with pytest.raises(DataError, match="2 channels but 3 names"):
        read_array(tmp_path / "b.npy", sfreq=100.0, ch_names=["a", "b", "c"], ch_types="eeg")


def _write_libribrain(root, meg_rec):
    h5dir = root / "Sherlock1" / "derivatives" / "serialised"
    evdir = root / "Sherlock1" / "derivatives" / "events"
    h5dir.mkdir(parents=True)
    evdir.mkdir(parents=True)
    stem = "sub-0_ses-1_task-Sherlock1_run-1"
    fname = h5dir / f"{stem}_proc-bads+headpos+sss+notch+bp+ds_meg.h5"
    si = meg_rec.to_raw().get_data()
    with h5py.File(fname, "w") as f:
        f.create_dataset("data", data=si, chunks=(306, 100))
        f.create_dataset("times", data=np.arange(si.shape[1]) / meg_rec.sfreq)
        f.attrs["sample_frequency"] = meg_rec.sfreq
        f.attrs["channel_names"] = ",".join(meg_rec.ch_names)
        f.attrs["channel_types"] = ",".join(meg_rec.sensors.kinds)
    pd.DataFrame({
        "idx": [0, 1, 2], "wavfile": ["a.wav"] * 3, "kind": ["word", "phoneme", "silence"],
        "segment": ["holmes", "hh_B", "sil"], "sentenceidx": [0, 0, 0], "wordidx": [0, 0, -1],
        "timemeg": [1.5, 1.5, 3.0], "duration": [0.4, 0.08, 0.5],
    }).to_csv(evdir / f"{stem}_events.tsv", sep="\t", index=False)
    return fname


def test_libribrain_h5(meg_rec, tmp_path):
    fname = _write_libribrain(tmp_path, meg_rec)
    rec = read_recording(fname)
    np.testing.assert_allclose(rec.data, meg_rec.data, rtol=1e-4, atol=1e-2)
    assert rec.sensors.counts() == {"mag": 102, "grad": 204}
    assert list(rec.events["kind"]) == ["word", "phoneme", "silence"]
    assert rec.events.loc[0, "value"] == "holmes" and rec.events.loc[0, "wordidx"] == 0
    assert rec.subject == "0" and rec.session == "1" and rec.task == "Sherlock1"
    with h5py.File(tmp_path / "nofs.h5", "w") as f:
        f.create_dataset("data", data=np.zeros((2, 10)))
    with pytest.raises(FormatError, match="sample_frequency"):
        read_libribrain_h5(tmp_path / "nofs.h5")


def test_unknown_truncated_and_missing_files(meg_rec, tmp_path):
    (tmp_path / "x.xyz").write_text("hello")
    with pytest.raises(FormatError, match=r"unknown file type '\.xyz'"):
        read_recording(tmp_path / "x.xyz")
    with pytest.raises(FormatError, match="does not exist"):
        read_recording(tmp_path / "nope.fif")
    good = tmp_path / "good_meg.fif"
    meg_rec.save_fif(good)
    blob = good.read_bytes()
    for name, cut in [("trunc_meg.fif", len(blob) // 2), ("tiny_meg.fif", 100)]:
        (tmp_path / name).write_bytes(blob[:cut])
        with pytest.raises(FormatError, match="truncated|corrupt"):
            read_recording(tmp_path / name)
    np.save(tmp_path / "t.npy", np.zeros((4, 1000)))
    (tmp_path / "t2.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:300])
    with pytest.raises(FormatError, match="truncated"):
        read_recording(tmp_path / "t2.npy", sfreq=100, ch_names=list("abcd"), ch_types="eeg")
    eeg = mne.io.RawArray(np.random.default_rng(0).standard_normal((4, 2000)) * 1e-5,
                          mne.create_info(list("ABCD"), 100.0, "eeg"), verbose="error")
    eeg.set_annotations(mne.Annotations([1.0, 15.0], [0.0, 0.0], ["x", "y"]))
    for ext, data_ext in ((".edf", ".edf"), (".vhdr", ".eeg")):
        f = tmp_path / f"short{ext}"
        mne.export.export_raw(f, eeg, verbose="error")
        blob = f.with_suffix(data_ext).read_bytes()
        f.with_suffix(data_ext).write_bytes(blob[:len(blob) // 2])
        with pytest.raises((FormatError, DataError), match="truncated"):
            read_recording(f)
    (tmp_path / "bad.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(FormatError, match="cannot open HDF5"):
        read_recording(tmp_path / "bad.h5")


def test_find_recordings_in_directory(meg_rec, tmp_path):
    meg_rec.save_fif(tmp_path / "a_meg.fif")
    meg_rec.save_fif(tmp_path / "sub" / "b_meg.fif") if (tmp_path / "sub").mkdir() is None else None
    found = find_recordings(tmp_path)
    assert [p.name for p in found] == ["a_meg.fif", "b_meg.fif"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError, match="no readable recording"):
        find_recordings(empty)


_KIT = Path(__file__).resolve().parents[2] / ".cache" / "testdata" / "test_umd-raw.sqd"


@pytest.mark.skipif(not _KIT.exists() and not os.environ.get("CI"),
                    reason="real KIT file absent: run scripts/fetch_test_data.sh (CI does)")
def test_real_kit_file():
    rec = read_recording(_KIT)
    assert rec.n_channels == 157 and rec.sfreq == 1000.0 and rec.n_times == 100
    assert set(rec.sensors.kinds) == {"mag"}  # KIT axial gradiometers, MNE type "mag"
    assert 5 < np.median(rec.data.std(axis=1)) < 5000  # fT
    np.testing.assert_allclose(np.linalg.norm(rec.sensors.orientations, axis=1), 1.0, atol=1e-6)


def test_armeni_events_tsv_gives_words(meg_rec, tmp_path):
    """Armeni et al.'s layout: ``type``/``value`` columns, ``word_onset`` rows, ``sp`` silences,
    quoted words."""
    from neuroseq.data.words import clean_words

    fif = tmp_path / "sub-001_ses-001_task-compr_meg.fif"
    meg_rec.save_fif(fif)
    tsv = tmp_path / "sub-001_ses-001_task-compr_events.tsv"
    pd.DataFrame({"onset": [1.0, 1.2, 1.5, 1.9, 2.4], "duration": [0.2, 0.3, 0.2, 0.4, 0.0],
                  "type": ["word_onset_01", "word_onset_01", "phoneme_onset_01",
                           "word_onset_01", "trigger"],
                  "value": ["'Sherlock'", "sp", "S", "Holmes", "3"]}).to_csv(
        tsv, sep="\t", index=False)
    rec = read_recording(fif, events=tsv)
    assert list(rec.events["kind"]) == ["word", "word", "phoneme_onset_01", "word", "trigger"]
    words = clean_words(rec.events)
    assert list(words["word"]) == ["sherlock", "holmes"] and list(words["onset"]) == [1.0, 1.9]
