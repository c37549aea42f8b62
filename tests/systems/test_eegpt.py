"""`neuroseq pretrain | finetune` of the EEGPT system end to end on a small simulated store."""

import pytest

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
    assert res["tasks"]["ab"]["n_test"] > 10 and "balanced acc" in r.output
    assert res["steps"] == 30 and res["model_kind"] == "eegpt"
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




def _finetune(store, out, *over):
    import json

    from click.testing import CliRunner

    from neuroseq.cli import main

    r = CliRunner().invoke(main, ["finetune", "--config", "configs/eegpt_finetune_tiny.yaml",
                                  "--out", str(out), f"data.store={store}",
                                  "data.tasks={ab: {a: 0, b: 1}}", "train.loggers=[csv]", *over])
    assert r.exit_code == 0, r.output
    return json.loads((out / "results.json").read_text())


def test_planted_evoked_topography_is_learned_and_shuffled_labels_are_not(sim_store, tmp_path):
    """The simulated store's two conditions evoke different sources (topographies)."""
    real = _finetune(sim_store, tmp_path / "real", "train.max_steps=300")
    shuffled = _finetune(sim_store, tmp_path / "shuf", "train.max_steps=300",
                         "data.shuffle_labels=true")
    net = _finetune(sim_store, tmp_path / "eegnet", "train.max_steps=300", "model={kind: eegnet}")
    acc = {k: r["tasks"]["ab"]["balanced_accuracy"] for k, r in
           (("real", real), ("shuffled", shuffled), ("eegnet", net))}
    assert acc["real"] > 0.8 and acc["eegnet"] > 0.7, acc  # measured 0.95 and 0.81
    assert acc["shuffled"] < 0.65 and shuffled["shuffled_labels"], acc
    assert net["model_kind"] == "eegnet"


def test_label_fraction_keeps_each_class_and_early_stopping_restores_the_best(sim_store,
                                                                            tmp_path):
    import json

    full = _finetune(sim_store, tmp_path / "full", "train.max_steps=5")
    part = _finetune(sim_store, tmp_path / "part", "train.max_steps=200",
                     "data.label_fraction=0.25", "train.val_check_interval=10",
                     "train.early_stopping_patience=2", "data.shuffle_labels=true")
    assert part["n_train"] == pytest.approx(0.25 * full["n_train"], abs=2)
    assert part["label_fraction"] == 0.25 and part["n_val"] > 0
    # shuffled labels: the validation loss stops improving early, and the best step is kept
    assert part["early_stopped"] and part["steps"] < 200
    assert part["best_step"] is not None and part["best_step"] <= part["steps"] - 20
    info = json.loads((tmp_path / "part" / "run.json").read_text())
    assert info["best_step"] == part["best_step"] and info["train_s"] > 0


def test_mae_ete_stays_bidirectional_and_pretraining_can_leave_a_subject_out(sim_store,
                                                                            tmp_path):
    import json

    from click.testing import CliRunner

    from neuroseq.cli import main
    from neuroseq.data.store import Store
    from neuroseq.models.eegpt import EEGPT

    ids = Store(sim_store).ids
    ete = tmp_path / "mae"
    r = CliRunner().invoke(main, ["pretrain", "--config", "configs/eegpt_tiny.yaml", "--out",
                                  str(ete), f"data.store={sim_store}", "train.max_steps=3",
                                  "objective.kind=masked", f"data.recordings=[{ids[0]}]",
                                  "train.loggers=[csv]"])
    assert r.exit_code == 0, r.output
    assert json.loads((ete / "meta.json").read_text())["recordings"] == [ids[0]]
    assert ETE.from_pretrained(ete / "model").bidirectional
    _finetune(sim_store, tmp_path / "ft", "train.max_steps=3", f"model.pretrained={ete}")
    assert EEGPT.from_pretrained(tmp_path / "ft" / "model").ete.bidirectional
