import json
import os

import pytest
from click.testing import CliRunner

from neuroseq import datasets
from neuroseq.cli import main


def test_info_prepare_and_errors(meg_rec, tmp_path):
    fif = tmp_path / "sub-01_task-vis_meg.fif"
    meg_rec.save_fif(fif)
    r = CliRunner().invoke(main, ["info", str(fif)])
    assert r.exit_code == 0, r.output
    assert "102 mag (fT), 204 grad (fT/cm)" in r.output and "200 Hz" in r.output
    assert "stimulus/face" in r.output
    r = CliRunner().invoke(main, ["info", "--json", str(fif)])
    assert json.loads(r.output)[0]["channels"] == {"mag": 102, "grad": 204}
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr"),
                                  "--sfreq", "100", "--clip", "4", "--n-val", "1"])
    assert r.exit_code == 0, r.output
    assert "sub-01_task-vis" in r.output and "split (time)" in r.output
    bad = tmp_path / "x.txt"
    bad.write_text("nope")
    r = CliRunner().invoke(main, ["info", str(bad)])
    assert r.exit_code == 2 and "unknown file type '.txt'" in r.output


def test_simulate_command(tmp_path):
    out = tmp_path / "sim_eeg.fif"
    r = CliRunner().invoke(main, ["simulate", "--modality", "eeg", "--duration", "5",
                                  "--sfreq", "100", "--out", str(out), "--psd",
                                  str(tmp_path / "psd.png")])
    assert r.exit_code == 0, r.output
    assert out.exists() and (tmp_path / "psd.png").stat().st_size > 1000


def test_quickstart_simulated(tmp_path, monkeypatch):
    from neuroseq import quickstart

    s = quickstart.run(tmp_path / "qs", simulated=True, n_jobs=1, sim_duration=40.0)
    assert s["train_windows"] > 0 and s["window_shape"] == [306, 256]
    assert (tmp_path / "qs" / "psd.png").exists() and (tmp_path / "qs" / "summary.json").exists()
    assert s["split_seconds"]["train"] > s["split_seconds"]["val"] > 0


@pytest.mark.skipif(not datasets.has_sample_eeg() and not os.environ.get("CI"),
                    reason="pylossless sample EEG not installed (CI installs it)")
def test_quickstart_real_eeg_cli(tmp_path):
    r = CliRunner().invoke(main, ["quickstart", "--profile", "prepare", "--out",
                                  str(tmp_path / "qs")])
    assert r.exit_code == 0, r.output
    assert "pylossless face/house EEG" in r.output and "128 ch" in r.output
    assert "training windows" in r.output


@pytest.mark.skipif(not datasets.has_sample_eeg() and not os.environ.get("CI"),
                    reason="pylossless sample EEG not installed (CI installs it)")
def test_info_on_real_bids_root():
    r = CliRunner().invoke(main, ["info", str(datasets.sample_eeg_root()), "--subject", "s02"])
    assert r.exit_code == 0, r.output
    assert "128 eeg (uV)" in r.output and "256 Hz" in r.output
    assert "face-upright" in r.output and "sub-s01" not in r.output


@pytest.mark.skipif(not datasets.has_sample_eeg() and not os.environ.get("CI"),
                    reason="pylossless sample EEG not installed (CI installs it)")
def test_quickstart_full_pipeline_smoke(tmp_path):
    """Every stage of the full quickstart runs on the real EEG (a few steps each) and the report
    has its figures; the default profile is the same code with more steps."""
    r = CliRunner().invoke(main, ["quickstart", "--profile", "smoke", "--out",
                                  str(tmp_path / "qs")])
    assert r.exit_code == 0, r.output
    qs = tmp_path / "qs"
    assert "GPT2MEG" in r.output and "real (held out)" in r.output and "report:" in r.output
    metrics = json.loads((qs / "metrics.json").read_text())["metrics"]
    assert {"GPT2MEG", "WaveNet", "linear AR", "real (held out)"} <= set(metrics)
    assert (qs / "report.html").stat().st_size > 100_000 and (qs / "psd.png").exists()
    assert all((qs / "generated" / f"{n}.fif").exists() for n in ("GPT2MEG", "WaveNet"))
