"""`neuroseq sweep`: EEGPT sizes × data fractions, power-law fits and the plot."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.errors import NeuroseqError
from neuroseq.experiments.eegpt_sweep import (
    load_sweep,
    power_law,
    power_law_vs_flat,
    size_overrides,
)


def test_flat_line_beats_a_power_law_on_flat_data_and_loses_on_a_real_law():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    law = power_law_vs_flat(x, 2.0 * x ** -0.3)
    assert law["better"] == "power law" and law["loo_rmse_power_law"] < 1e-9
    noise = np.array([1.0, -1.0, 0.5, -0.5]) * 0.002
    flat = power_law_vs_flat(x, 0.48 * np.exp(noise))
    assert flat["better"] == "flat line" and flat["flat"] == pytest.approx(0.48, rel=0.01)
    assert power_law_vs_flat(x[:2], x[:2]) is None
    # leave-one-out means the left-out point is not in the flat line it is compared with
    step = power_law_vs_flat(x, np.exp([0.0, 0.0, 0.0, 0.04]))
    want = np.sqrt((3 * (0.04 / 3) ** 2 + 0.04 ** 2) / 4)
    assert step["loo_rmse_flat"] == pytest.approx(want)


def test_power_law_recovers_a_known_exponent():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    fit = power_law(x, 3.0 * x ** -0.2)
    assert fit["alpha"] == pytest.approx(0.2) and fit["a"] == pytest.approx(3.0)
    assert fit["r2"] == pytest.approx(1.0)
    assert power_law([5, 5], [1.0, 2.0]) is None  # one distinct x: nothing to fit


def test_sweep_config_errors(tmp_path):
    with pytest.raises(NeuroseqError, match="unknown sweep keys"):
        load_sweep("configs/eegpt_sweep_tiny.yaml", ["store=x", "sizez=[tiny]"])
    with pytest.raises(NeuroseqError, match="needs `store`"):
        load_sweep("configs/eegpt_sweep_tiny.yaml")
    with pytest.raises(NeuroseqError, match="fractions"):
        load_sweep("configs/eegpt_sweep_tiny.yaml", ["store=x", "fractions=[0, 1]"])
    with pytest.raises(NeuroseqError, match="unknown EEGPT preset"):
        size_overrides("enormous")
    with pytest.raises(NeuroseqError, match="d_model"):
        size_overrides({"d_model": 8})


def test_sweep_runs_the_grid_and_fits(sim_store, tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "--config", "configs/eegpt_sweep_tiny.yaml", "--out", str(out),
            f"store={sim_store}", "sizes=[{d_model: 8, n_layers: 1, n_heads: 2}, tiny]",
            "fractions=[0.5, 1.0]",
            "pretrain_overrides=[train.max_steps=6, train.val_check_interval=6, "
            "'train.loggers=[csv]']",
            "finetune_overrides=[train.max_steps=4, model.freeze_ete=false, "
            "'data.tasks={ab: {a: 0, b: 1}}']"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "sweep.json").read_text())
    rows = s["rows"]
    assert len(rows) == 4 and (out / "sweep.png").stat().st_size > 10_000
    half = [r["train_windows"] for r in rows if r["fraction"] == 0.5]
    full = [r["train_windows"] for r in rows if r["fraction"] == 1.0]
    assert half[0] == pytest.approx(full[0] / 2, abs=1)
    assert rows[0]["params"] < rows[2]["params"]  # sizes ordered as given
    # each row carries its own runs' numbers: the pretraining's validation loss, the
    # fine-tuning's accuracy averaged over its tasks, chance of its binary task
    pre_losses = sorted(json.loads(p.read_text())["final_val_loss"]
                        for p in out.glob("*/pretrain/run.json"))
    assert sorted(row["val_loss"] for row in rows) == pre_losses
    for row in rows:
        assert row["mean_balanced_accuracy"] == pytest.approx(np.mean(list(row["tasks"].values())))
        assert row["chance"] == 0.5 and row["epochs"] > 0
    assert set(s["fits"]["loss_vs_params"]) == {"0.5", "1"}
    assert "alpha" in s["fits"]["loss_vs_params"]["1"] and "Power laws" in r.output
    again = CliRunner().invoke(main, args)  # finished runs are resumed, not retrained
    assert again.exit_code == 0 and json.loads((out / "sweep.json").read_text())["rows"] == rows
