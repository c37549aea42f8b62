"""`neuroseq tokenize fit|encode|decode|eval` on a store and on files."""

import json

import mne
import numpy as np
import pytest
from click.testing import CliRunner

from neuroseq.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def files(meg_rec, tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    fif = meg_rec.save_fif(str(d / "rec_raw.fif"))
    from neuroseq.data.preparation import prepare
    from neuroseq.data.splits import SplitSpec

    prepare([fif], d / "store.zarr", split=SplitSpec("time", {"n_val": 2, "n_test": 2}))
    return d


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_mulaw_store_round_trip(files):
    d = files
    out = run("tokenize", "fit", "mulaw", d / "store.zarr", "-o", d / "mu")
    assert "306 channels at 200.0 Hz; 200 frames/s, 1600 bits/s" in out
    run("tokenize", "encode", d / "mu", d / "store.zarr", "--split", "test", "-o", d / "c.npz")
    with np.load(d / "c.npz") as f:
        assert f["codes_0"].dtype == np.uint8 and f["codes_0"].shape[0] == 306
    run("tokenize", "decode", d / "mu", d / "c.npz", "-o", d / "dec")
    raw = mne.io.read_raw_fif(next((d / "dec").glob("*_raw.fif")), verbose="error")
    assert len(raw.ch_names) == 306 and raw.info["sfreq"] == 200
    out = run("tokenize", "eval", d / "mu", d / "store.zarr", "--split", "test",
              "--json", d / "ev.json")
    ev = json.loads((d / "ev.json").read_text())
    assert ev["summary"]["nrmse"] < 0.05 and "nrmse" in out


def test_kmeans_and_rvq_on_files(files):
    d = files
    run("tokenize", "fit", "kmeans", d / "rec_raw.fif", "-o", d / "km", "--vocab-size", "64")
    run("tokenize", "fit", "rvq", d / "rec_raw.fif", "-o", d / "rv", "--preset", "tiny",
        "--steps", "5", "--batch-size", "4", "--crop-seconds", "1.2")
    assert (d / "rv" / "training" / "run.json").is_file()
    run("tokenize", "encode", d / "rv", d / "rec_raw.fif", "-o", d / "rv.npz")
    run("tokenize", "decode", d / "rv", d / "rv.npz", "-o", d / "rvdec", "--format", "npy")
    y = np.load(next((d / "rvdec").glob("*.npy")))
    assert y.shape == (306, 4000)
    assert "perplexity" in run("tokenize", "eval", d / "km", d / "rec_raw.fif")


def test_clear_errors(files):
    d = files
    run("tokenize", "fit", "mulaw", d / "rec_raw.fif", "-o", d / "mu2")
    r = CliRunner().invoke(main, ["tokenize", "encode", str(d / "mu2"), str(d / "rec_raw.fif"),
                                  "--split", "test", "-o", str(d / "x.npz")])
    assert r.exit_code == 2 and "needs a store" in r.output
    (d / "bad.npz").write_bytes(b"not a zip")
    r = CliRunner().invoke(main, ["tokenize", "decode", str(d / "mu2"), str(d / "bad.npz"),
                                  "-o", str(d / "o")])
    assert r.exit_code == 2 and "not a codes file" in r.output
