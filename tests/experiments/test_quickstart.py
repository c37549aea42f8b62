import json
import os

import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.data import samples
from neuroseq.experiments.compare_generators import MODELS, SAMPLED_VARIANTS


def test_quickstart_simulated(tmp_path, monkeypatch):
    from neuroseq.experiments import quickstart

    s = quickstart.run(tmp_path / "qs", simulated=True, n_jobs=1, sim_duration=40.0)
    assert s["train_windows"] > 0 and s["window_shape"] == [306, 256]
    assert (tmp_path / "qs" / "psd.png").exists() and (tmp_path / "qs" / "summary.json").exists()
    assert s["split_seconds"]["train"] > s["split_seconds"]["val"] > 0


@pytest.mark.skipif(not samples.has_sample_eeg() and not os.environ.get("CI"),
                    reason="pylossless sample EEG not installed (CI installs it)")
def test_quickstart_real_eeg_cli(tmp_path):
    r = CliRunner().invoke(main, ["quickstart", "--profile", "prepare", "--out",
                                  str(tmp_path / "qs")])
    assert r.exit_code == 0, r.output
    assert "pylossless face/house EEG" in r.output and "128 ch" in r.output
    assert "training windows" in r.output


@pytest.mark.skipif(not samples.has_sample_eeg() and not os.environ.get("CI"),
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
    want = set(MODELS) | set(SAMPLED_VARIANTS) | {"real (held out)", "phase-randomised",
                                                  "white noise"}
    assert want <= set(metrics)
    assert (qs / "report.html").stat().st_size > 100_000 and (qs / "psd.png").exists()
    # the raw-vs-preprocessed figure the summary names is not overwritten by the report's
    assert f"figure: {qs / 'psd.png'}" in r.output or "psd.png" in r.output
    assert (qs / "psd_generated.png").read_bytes() != (qs / "psd.png").read_bytes()
    assert all((qs / "generated" / f"{m['slug']}.fif").exists() for m in MODELS.values())
    assert all((qs / "generated" / f"{slug}.fif").exists()
               for _, _, slug in SAMPLED_VARIANTS.values())
