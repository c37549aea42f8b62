"""`neuroseq pretrain | finetune` of the EEGPT system end to end on a small simulated store."""

from neuroseq.models.eegpt import ETE


def test_pretrain_cli_trains_an_ete_and_loss_falls(sim_store, tmp_path):
    import csv

    from click.testing import CliRunner

    from neuroseq.cli import main

    run = tmp_path / "ete"
    r = CliRunner().invoke(main, ["pretrain", "--config", "configs/eegpt_tiny.yaml", "--out",
                                  str(run), f"data.store={sim_store}", "train.max_steps=40",
                                  "train.val_check_interval=40", "train.loggers=[csv]"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    loss = [float(x["train_loss"]) for x in rows if x.get("train_loss")]
    assert loss[-1] < 0.85 * loss[0]  # 40 tiny steps on noisy simulated EEG
    assert (run / "model" / "model.safetensors").exists() and (run / "run.json").exists()
    back = ETE.from_pretrained(run / "model")
    assert back.patch_len == 25 and back.d_model == 32
    bad = CliRunner().invoke(main, ["pretrain", "--config", "configs/eegpt_tiny.yaml", "--out",
                                    str(tmp_path / "x"), f"data.store={sim_store}",
                                    "objective.kind=contrastive"])
    assert bad.exit_code != 0 and "next_patch or masked" in bad.output


def test_finetune_cli_pretrained_and_cross_subject(sim_store, tmp_path):
    import json

    from click.testing import CliRunner

    from neuroseq.cli import main

    ete = tmp_path / "ete"
    r = CliRunner().invoke(main, ["pretrain", "--config", "configs/eegpt_tiny.yaml", "--out",
                                  str(ete), f"data.store={sim_store}", "train.max_steps=5",
                                  "train.loggers=[csv]"])
    assert r.exit_code == 0, r.output
    tasks = "data.tasks={ab: {a: 0, b: 1}}"
    r = CliRunner().invoke(main, ["finetune", "--config", "configs/eegpt_finetune_tiny.yaml",
                                  "--out", str(tmp_path / "ft"), f"data.store={sim_store}",
                                  tasks, "train.max_steps=30", f"model.pretrained={ete}"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert res["freeze_ete"] and res["tasks"]["ab"]["chance"] == 0.5
    assert 0 <= res["tasks"]["ab"]["balanced_accuracy"] <= 1 and "balanced acc" in r.output
    from neuroseq.data.store import Store

    ids = Store(sim_store).ids
    r = CliRunner().invoke(main, ["finetune", "--config", "configs/eegpt_finetune_tiny.yaml",
                                  "--out", str(tmp_path / "cross"), f"data.store={sim_store}",
                                  tasks, "data.mode=cross", f"data.train_recordings=[{ids[0]}]",
                                  f"data.test_recordings=[{ids[1]}]", "train.max_steps=5"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "cross" / "results.json").read_text())["mode"] == "cross"
    bad = CliRunner().invoke(main, ["finetune", "--config", "configs/eegpt_finetune_tiny.yaml",
                                    "--out", str(tmp_path / "bad"), f"data.store={sim_store}",
                                    tasks, "data.mode=cross"])
    assert bad.exit_code != 0 and "disjoint" in bad.output


