"""`neuroseq pretrain` of the MEG-XL system (first part) on a small simulated store."""

import json

import pandas as pd
from click.testing import CliRunner

from neuroseq import systems
from neuroseq.cli import main
from neuroseq.models.crisscross import CrissCross
from neuroseq.tokenizers import RVQCodec


def test_megxl_pretrains_through_the_cli(sim_store, tmp_path):
    run = tmp_path / "megxl"
    r = CliRunner().invoke(main, [
        "pretrain", "--config", "configs/megxl_tiny.yaml", f"data.store={sim_store}",
        "-o", str(run), "tokenizer.steps=20", "train.max_steps=40",
        "train.val_check_interval=40", "optim.lr=3e-3", "data.sample_seconds=4.8"])
    assert r.exit_code == 0, r.output
    meta = json.loads((run / "meta.json").read_text())
    assert meta["system"] == "megxl" and meta["frames"] == 40 and meta["n_levels"] == 4
    log = pd.read_csv(run / "metrics.csv").dropna(subset=["train_loss"])
    assert log["train_loss"].iloc[-3:].mean() < log["train_loss"].iloc[:3].mean() - 0.3
    info = json.loads((run / "run.json").read_text())
    assert "final_val_loss" in info and "val_acc_l0" in info["metrics"]
    model, tok, _ = systems.load_run(run)
    assert isinstance(model, CrissCross) and isinstance(tok, RVQCodec)
    assert (model.codebooks == tok.codebook_vectors()).all()  # the frozen codec's vectors
    bad = CliRunner().invoke(main, [
        "pretrain", "--config", "configs/megxl_tiny.yaml", f"data.store={sim_store}",
        "-o", str(tmp_path / "bad"), "tokenizer.steps=2", "objective.n_blocks=500"])
    assert bad.exit_code == 2 and "objective.n_blocks=500" in bad.output
