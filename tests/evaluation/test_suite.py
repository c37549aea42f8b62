"""End to end: generate from a run, judge it (CLI evaluate/report), check the report's figures."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.errors import DataError


@pytest.fixture(scope="module")
def ar_generated(sim_store, tmp_path_factory):
    """A linear AR trained on the simulated store and 10 s it generated (with a sidecar)."""
    root = tmp_path_factory.mktemp("judge")
    run = root / "ar"
    r = CliRunner().invoke(main, ["pretrain", "--out", str(run), f"data.store={sim_store}",
                                  "model.kind=linear_ar", "data.window=65"])
    assert r.exit_code == 0, r.output
    gen = root / "ar.fif"
    r = CliRunner().invoke(main, ["generate", "--checkpoint", str(run), "--seconds", "10",
                                  "--out", str(gen)])
    assert r.exit_code == 0, r.output
    return root, run, gen


def test_sidecar_says_where_generation_starts(ar_generated, sim_store):
    _, _, gen = ar_generated
    side = json.loads(gen.with_suffix(".json").read_text())
    assert side["model"] == "LinearAR" and side["split"] == "test"
    assert side["start_sample"] > 0 and side["store"].endswith("sim.zarr")


def test_evaluate_cli_writes_every_metric_with_context(ar_generated):
    root, _, gen = ar_generated
    out = root / "metrics.json"
    r = CliRunner().invoke(main, ["evaluate", "-g", f"AR={gen}", "--hmm-states", "3",
                                  "--hmm-pca", "6", "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads(out.read_text())["metrics"]
    assert list(m) == ["real (held out)", "AR", "phase-randomised", "white noise"]
    for key in ("psd_lsd_db", "cov_distance", "acf_distance", "amplitude_ks", "discriminability",
                "hmm_fo_distance", "hmm_state_spectra_lsd_db", "evoked_corr"):
        assert all(np.isfinite(row[key]) for row in m.values()), key
    # the controls behave as designed: the phase surrogate keeps the spectrum and covariance,
    # white noise loses both
    assert m["phase-randomised"]["cov_distance"] < 1e-6
    assert m["white noise"]["psd_lsd_db"] > 3 * m["phase-randomised"]["psd_lsd_db"]
    assert m["white noise"]["discriminability"] > 0.8
    assert "real-vs-generated accuracy" in r.output and "ideal / chance" in r.output


def test_evaluate_band_keeps_spectra_in_the_passband(ar_generated):
    """`--band 1 20` takes the spectral distances inside 1–20 Hz and reports the rest apart;
    white noise then has more power than the real data outside the band."""
    root, _, gen = ar_generated
    out = root / "band.json"
    r = CliRunner().invoke(main, ["evaluate", "-g", f"AR={gen}", "--hmm-states", "3",
                                  "--hmm-pca", "6", "--band", "1", "20", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    m = res["metrics"]
    assert res["passband_hz"] == [1.0, 20.0] and "inside the data's passband, 1–20 Hz" in r.output
    assert all("out_of_band_excess_db" in row and "psd_lsd_gamma_db" not in row
               for row in m.values())
    assert abs(m["phase-randomised"]["out_of_band_excess_db"]) < 1.0
    assert m["white noise"]["out_of_band_excess_db"] > m["phase-randomised"][
        "out_of_band_excess_db"] + 3


def test_report_renders_all_figures(ar_generated):
    root, run, gen = ar_generated
    out = root / "report"
    r = CliRunner().invoke(main, ["report", "-g", f"AR={gen}", "--hmm-states", "3",
                                  "--hmm-pca", "6", "--run", f"AR={run}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    imgs = re.findall(r"<img[^>]+src=\"data:image/png;base64,[^\"]{500,}", html)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"psd_generated.png", "traces.png", "evoked.png", "correlation.png",
            "hmm.png"} <= set(pngs)
    assert len(imgs) >= len(pngs)  # every figure embedded (plus MNE's own images)
    assert "discriminability" in html and (out / "metrics.json").exists()


def test_mismatched_inputs_are_refused(ar_generated, tmp_path):
    _, _, gen = ar_generated
    lone = tmp_path / "lone.fif"
    lone.write_bytes(gen.read_bytes())
    r = CliRunner().invoke(main, ["evaluate", "-g", str(lone)])
    assert r.exit_code != 0 and "sidecar" in r.output
    from neuroseq.data.store import Store
    from neuroseq.evaluation import suite

    st = Store(json.loads(gen.with_suffix(".json").read_text())["store"])
    with pytest.raises(DataError, match="generate fewer seconds"):
        suite.real_segments(st, st.ids[0], st.n_samples(st.ids[0]) - 10, 100)
