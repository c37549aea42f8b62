"""`neuroseq pretrain` of the MEG-XL system (first part) on a small simulated store."""

import json

import pandas as pd
import pytest
import torch
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


@pytest.fixture(scope="module")
def word_store(sentence_store):
    """The simulated word corpus of ``conftest.sentence_store`` (MEG-MASC layout, 50 Hz)."""
    return sentence_store


WORDS = ["finetune", "--config", "configs/megxl_words_tiny.yaml", "data.group_size=5",
         "tokenizer.steps=5", "train.max_steps=4", "train.val_check_interval=2",
         "model.hidden=16"]


def test_word_retrieval_finetunes_from_a_pretrained_run_and_reports_against_chance(
        word_store, tmp_path):
    pre = tmp_path / "pre"
    r = CliRunner().invoke(main, [
        "pretrain", "--config", "configs/megxl_tiny.yaml", f"data.store={word_store}",
        "-o", str(pre), "tokenizer.steps=5", "train.max_steps=2", "data.sample_seconds=4.8"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "probe"
    r = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o", str(run),
                                  f"model.pretrained={pre}", "model.linear_probe=true"])
    assert r.exit_code == 0, r.output
    assert "balanced top-10" in r.output and "chance" in r.output
    res = json.loads((run / "results.json").read_text())
    assert res["head"] == "linear" and res["frozen_backbone"] and res["pretrained"] == str(pre)
    r50 = res["top10_of_50"]
    assert r50["retrieval_set"] == 20 and r50["chance"] == 0.5  # 20 word types: 10 / 20
    assert r50["n_scored"] == res["n_test_words"] > 0
    # the frozen backbone is the pretrained one, and the run used the pretrained codec
    model, tok, meta = systems.load_run(run)
    back, _, _ = systems.load_run(pre)
    assert all(torch.equal(a, b) for a, b in zip(model.backbone.state_dict().values(),
                                                 back.state_dict().values(), strict=True))
    assert meta["groups"]["train"] > meta["groups"]["test"] > 0
    assert (tok.codebook_vectors() == back.codebooks).all()


def test_word_retrieval_errors_name_what_to_fix(word_store, tmp_path):
    r = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o", str(tmp_path / "a"),
                                  f"model.pretrained={tmp_path}"])
    assert r.exit_code == 2 and "model.pretrained" in r.output
    r = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o", str(tmp_path / "b"),
                                  "data.group_size=5000"])
    assert r.exit_code == 2 and "group_size" in r.output
    # the linear probe is MEG-XL's config key, not a global flag: EEGPT names its own keys
    r = CliRunner().invoke(main, ["finetune", "--config", "configs/eegpt_finetune_tiny.yaml",
                                  "model.linear_probe=true", f"data.store={word_store}"])
    assert r.exit_code == 2 and "model.linear_probe" in r.output and "freeze_ete" in r.output
    r = CliRunner().invoke(main, [*WORDS, "--linear-probe", f"data.store={word_store}"])
    assert r.exit_code == 2 and "No such option" in r.output


def test_pool_window_pools_the_chosen_seconds_of_each_word(word_store, tmp_path):
    from neuroseq.data.words import WordCollate, load_word_targets

    run = tmp_path / "pw"
    r = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o", str(run),
                                  "model.pool_window=[0.1, 0.6]", "train.max_steps=1"])
    assert r.exit_code == 0, r.output
    res = json.loads((run / "results.json").read_text())
    assert res["pool_window"] == [0.1, 0.6]
    _, tok, meta = systems.load_run(run)
    width = meta["word_width"]  # 150 samples: −0.5 … 2.5 s at 50 Hz
    collate = WordCollate(tok, load_word_targets(run), width, (30, 55))
    x = torch.zeros(3, 2 * width)
    item = {"x": x, "mask": torch.ones(3, dtype=torch.bool),
            "sensors": {"pos": torch.zeros(3, 3), "ori": torch.zeros(3, 3),
                        "kind": torch.zeros(3, dtype=torch.long)},
            "words": ["a", "b"], "word_starts": torch.tensor([0, width]), "key": "k"}
    frames = collate([item])["word_frames"][0]
    hop = tok.hop
    assert frames.tolist() == [[30 // hop, -(-55 // hop)], [(width + 30) // hop,
                                                           -(-(width + 55) // hop)]]
    bad = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o",
                                    str(tmp_path / "bad"), "model.pool_window=[2.0, 3.0]"])
    assert bad.exit_code == 2 and "model.pool_window" in bad.output


def test_several_corpora_pretrain_in_one_run(tmp_path):
    """A KIT-208 word corpus and 306-channel MEGIN MEG in one store, the MEG-XL preset, one
    pretraining run: batches pad to the larger helmet and mask what is padding."""

    from neuroseq.data.collate import pad_collate
    from neuroseq.data.store import Store
    from neuroseq.data.windows import WindowDataset

    r = CliRunner().invoke(main, ["simulate", "--words", "--subjects", "1", "--sentences", "12",
                                  "--vocab", "10", "--sfreq", "100", "-o", str(tmp_path / "w")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["simulate", "--duration", "40", "--sfreq", "100", "-o",
                                  str(tmp_path / "meg.fif")])
    assert r.exit_code == 0, r.output
    store = tmp_path / "mixed.zarr"
    r = CliRunner().invoke(main, ["prepare", str(tmp_path / "w"), str(tmp_path / "meg.fif"),
                                  "-o", str(store), "--preset", "megxl", "--split", "none"])
    assert r.exit_code == 0, r.output
    st = Store(store)
    assert sorted(len(st.sensors(i).names) for i in st.ids) == [208, 306]
    ds = WindowDataset(st, 600, 600)
    batch = pad_collate([ds[0], ds[len(ds) - 1]])
    assert batch["x"].shape[1] == 306 and sorted(batch["mask"].sum(1).tolist()) == [208, 306]
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["pretrain", "--config", "configs/megxl_tiny.yaml",
                                  f"data.store={store}", "-o", str(run), "tokenizer.steps=3",
                                  "train.max_steps=2", "data.sample_seconds=12"])
    assert r.exit_code == 0, r.output
    meta = json.loads((run / "meta.json").read_text())
    assert len(meta["channel_vocab"]) == 208 + 306


def test_shuffled_words_are_permuted_through_the_finetune_stage(word_store, tmp_path):
    """data.shuffle_labels permutes the training words the stage trains on (same words, other
    order); val and test are untouched; the run records it and the leaked-run count."""
    got = {}
    for shuffled in ("false", "true"):
        run = tmp_path / f"shuffle_{shuffled}"
        r = CliRunner().invoke(main, [*WORDS, f"data.store={word_store}", "-o", str(run),
                                      "train.max_steps=1", f"data.shuffle_labels={shuffled}"])
        assert r.exit_code == 0, r.output
        meta = json.loads((run / "meta.json").read_text())
        res = json.loads((run / "results.json").read_text())
        assert res["shuffled_labels"] == (shuffled == "true") and "leaked_runs" in res
        assert {"model", "noise", "shuffled"} <= set(res["arms"])
        got[shuffled] = (meta["train_words"], res["n_test_words"])
    assert sorted(got["true"][0]) == sorted(got["false"][0])
    same = sum(a == b for a, b in zip(got["true"][0], got["false"][0], strict=True))
    assert same < 0.5 * len(got["false"][0])  # most training words moved
    assert got["true"][1] == got["false"][1]
