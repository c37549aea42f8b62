"""The EEGPT comparison runs every arm under one stopping rule, resumes, and tabulates."""

import pytest

from neuroseq.experiments import eegpt_comparison as cmp

TASKS = {"ab": {"a": 0, "b": 1}}
REGIMES = {("within", 1.0): ["EEGPT from scratch", "EEGNet-v4",
                             "linear probe, frozen next-patch ETE",
                             "logistic regression (time-bin means)"],
           ("cross", 0.5): ["ETE next-patch pretrained, tuned"]}
KW = dict(tasks=TASKS, seeds=(0,), regimes=REGIMES, pretrain_steps=5, max_steps=60,
          val_every=10, patience=2, pretext=("model.patch_len=25", "data.patches=4"))


@pytest.fixture(scope="module")
def comparison(sim_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    cmp.run(out, str(sim_store), pretrain_only=True, **KW)
    assert {p.name for p in (out / "pretrain").iterdir()} == {"next_patch_within",
                                                              "next_patch_cross"}
    cells = cmp.run(out, str(sim_store), **KW)
    return out, cells


def test_every_cell_runs_under_the_rule(comparison):
    out, cells = comparison
    assert len(cells) == 5
    scratch = cells["within|1|EEGPT from scratch|0"]
    assert scratch["steps"] <= 60 and scratch["best_step"] is not None and scratch["epochs"] > 0
    pre = cells["cross|0.5|ETE next-patch pretrained, tuned|0"]
    assert pre["pretrained"].endswith("next_patch_cross") and pre["label_fraction"] == 0.5
    # the simulated conditions evoke different topographies: the linear models read them
    for arm in ("logistic regression (time-bin means)", "linear probe, frozen next-patch ETE"):
        acc = cells[f"within|1|{arm}|0"]["tasks"]["ab"]["balanced_accuracy"]
        assert acc > 0.75, (arm, acc)
    md = cmp.table(cmp.collect(out))
    assert "### within, 100% of the training labels" in md and "| chance |" in md
    assert "EEGNet-v4" in md and "### cross, 50%" in md


def test_a_second_call_reuses_every_cell_and_shards_refuse_to_pretrain(comparison, sim_store,
                                                                      tmp_path, monkeypatch):
    out, cells = comparison
    from neuroseq import systems

    def refuse(*a, **k):
        raise AssertionError("ran again although the state has the cell")

    monkeypatch.setattr(systems, "run", refuse)
    assert cmp.run(out, str(sim_store), **KW) == cells
    only_pretrained = KW | {"regimes": {("cross", 0.5): REGIMES[("cross", 0.5)]}}
    with pytest.raises(RuntimeError, match="pretrain first"):
        cmp.run(tmp_path, str(sim_store), shard=(0, 2), **only_pretrained)


def test_single_task_arm_trains_one_model_per_task_and_merges(tmp_path):
    import json

    seen = []

    def fake_run(cfg, stage, run_dir, resume):
        tasks = cfg["data"]["tasks"]
        seen.append((stage, sorted(tasks), run_dir.name))
        run_dir.mkdir(parents=True)
        (run_dir / "results.json").write_text(json.dumps(
            {"tasks": {t: {"balanced_accuracy": 0.6 + 0.1 * len(seen)} for t in tasks},
             "epochs": 2.0 * len(seen), "steps": 100}))
        return run_dir

    tasks = {"ab": {"a": 0, "b": 1}, "ba": {"b": 0, "a": 1}}
    groups = [{t: v} for t, v in tasks.items()]
    from neuroseq.systems import load_config

    res = cmp._finetune(fake_run, load_config, [], groups, tmp_path / "cell")
    assert seen == [("finetune", ["ab"], "ab"), ("finetune", ["ba"], "ba")]
    assert res["tasks"]["ab"]["balanced_accuracy"] == pytest.approx(0.7)
    assert res["tasks"]["ba"]["balanced_accuracy"] == pytest.approx(0.8)
    assert res["epochs"] == 3.0 and res["steps"] == 200 and res["single_task"]
    assert "EEGPT from scratch, single-task (one model per task)" in cmp.REGIMES[("within", 1.0)]
