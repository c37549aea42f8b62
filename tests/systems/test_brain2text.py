"""Brain-to-text through the CLI: three phases, single phase, distillation, evaluation beside
the controls, and `neuroseq decode`."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neuroseq import systems
from neuroseq.cli import main
from neuroseq.data.sentences import SentenceDataset
from neuroseq.data.store import Store
from neuroseq.models.brain2text import Brain2Text

CFG = ["--config", "configs/brain2text_tiny.yaml", "data.batch_size=4",
       "train.val_check_interval=10", "train.log_every_n_steps=1",
       "decode.max_new_tokens=6"]


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(sentence_store, tiny_llm_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("b2t")
    common = [*CFG, f"data.store={sentence_store}", f"llm.name={tiny_llm_dir}"]
    r = _cli("pretrain", *common, "train.max_steps=20", "-o", root / "p1")
    assert r.exit_code == 0, r.output
    r = _cli("pretrain", "--stage", "quantize", *common, "train.max_steps=10",
             f"model.from_run={root / 'p1'}", "-o", root / "p2")
    assert r.exit_code == 0, r.output
    r = _cli("finetune", *common, "train.max_steps=10", f"model.from_run={root / 'p2'}",
             "-o", root / "p3")
    assert r.exit_code == 0, r.output
    assert "beats controls" in r.output and "shuffled" in r.output
    return root, common


def test_three_phases_freeze_what_they_should_and_evaluate_beside_controls(runs):
    root, _ = runs
    log = pd.read_csv(root / "p1" / "metrics.csv").dropna(subset=["train_loss"])
    assert log["train_loss"].iloc[-3:].mean() < log["train_loss"].iloc[:3].mean()
    p1 = Brain2Text.from_pretrained(root / "p1" / "model", with_llm=False)
    p2 = Brain2Text.from_pretrained(root / "p2" / "model", with_llm=False)
    for k, v in p1.encoder.state_dict().items():  # phase 2 froze the encoder
        assert np.array_equal(v.numpy(), p2.encoder.state_dict()[k].numpy()), k
    q2 = pd.read_csv(root / "p2" / "metrics.csv")
    assert {"train_perplexity_0", "train_commitment", "train_diversity"} <= set(q2.columns)
    res = json.loads((root / "p3" / "results.json").read_text())
    assert res["teacher_forced"] is False and res["mode"] == "phased"
    assert set(res["arms"]) == {"model", "noise", "shuffled", "llm_only"}
    for arm in res["arms"].values():
        assert set(arm["corpus"]) == {"bleu4", "rouge_l", "wer", "bertscore", "exact_match"}
        assert arm["retrieval"]["chance_top1"] == pytest.approx(1 / res["n_sentences"])
    assert {r["metric"] for r in res["table"]} == {"bleu4", "rouge_l", "wer", "bertscore",
                                                  "exact_match"}
    assert all("p_vs_shuffled" in r and "beats_all_controls" in r for r in res["table"])
    meta = json.loads((root / "p3" / "meta.json").read_text())
    train = SentenceDataset(Store(meta["store"]), "train", seconds=3.0)
    assert meta["test_sentences"] and not set(meta["test_sentences"]) & set(train.texts)
    model, _, _ = systems.load_run(root / "p3")
    assert isinstance(model, Brain2Text) and model.llm is not None


def test_single_phase_and_distillation_modes(runs):
    root, common = runs
    r = _cli("finetune", *common, "train.max_steps=2", "decode.max_test=4",
             "decode.bertscore=false", "-o", root / "single")
    assert r.exit_code == 0, r.output
    assert json.loads((root / "single" / "results.json").read_text())["mode"] == "single"
    r = _cli("finetune", *common, "train.max_steps=3", "decode.max_test=4",
             "decode.bertscore=false", f"distill.teacher={root / 'p3'}",
             f"model.from_run={root / 'p2'}", "-o", root / "distill")
    assert r.exit_code == 0, r.output
    assert json.loads((root / "distill" / "results.json").read_text())["mode"] == "distill"
    assert "train_kl" in pd.read_csv(root / "distill" / "metrics.csv").columns


def test_decode_cli_writes_text_per_segment_with_provenance(runs, sentence_store, tmp_path):
    root, _ = runs
    fif = next((sentence_store.parent / "bids").rglob("*_meg.fif"))
    out = tmp_path / "text.json"
    r = _cli("decode", "--run", root / "p3", "--input", fif, "-o", out, "--max-new-tokens", 4,
             "--num-beams", 2)
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    segs = res["segments"]
    assert len(segs) == 40 and {s["segmentation"] for s in segs} == {"sentences"}
    assert all(s["duration"] == 3.0 and isinstance(s["text"], str) for s in segs)
    assert res["teacher_forced"] is False and res["run"] == str(root / "p3")
    r = _cli("decode", "--run", root / "p3", "--input", fif, "-o", tmp_path / "f.json",
             "--segment", "fixed", "--max-new-tokens", 2)
    assert r.exit_code == 0, r.output
    fixed = json.loads((tmp_path / "f.json").read_text())["segments"]
    assert [s["onset"] for s in fixed[:3]] == [0.0, 3.0, 6.0]


def test_bad_inputs_exit_2_with_the_flag_named(runs, tmp_path):
    root, common = runs
    r = _cli("pretrain", "--stage", "quantize", *common, "-o", tmp_path / "q")
    assert r.exit_code == 2 and "model.from_run" in r.output
    r = _cli("decode", "--run", root / "p1", "--input", root / "p1", "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "--run" in r.output
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 100), np.float32))
    r = _cli("decode", "--run", root / "p3", "--input", bad, "-o", tmp_path / "x.json")
    assert r.exit_code == 2 and "channels" in r.output
    r = _cli("finetune", *common, f"distill.teacher={root / 'p1'}", "-o", tmp_path / "d")
    assert r.exit_code == 2 and "distill.teacher" in r.output


def test_described_events_mode_adds_a_classifier_baseline(sim_store, tiny_llm_dir, tmp_path):
    r = _cli("finetune", *CFG, f"data.store={sim_store}", f"llm.name={tiny_llm_dir}",
             "data.seconds=0.5", "data.tmin=-0.1", "data.descriptions={a: the house, b: the river}",
             "train.max_steps=3", "decode.bertscore=false", "-o", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert res["source"] == "events" and "classifier" in res["arms"]
    assert res["n_sentences"] == 2 and res["retrieval_chance_top1"] == 0.5
    row = next(r for r in res["table"] if r["metric"] == "exact_match")
    assert "p_vs_classifier" in row and 0 <= row["classifier"] <= 1


def test_shuffled_control_always_reads_another_sentence():
    from neuroseq.systems.brain2text import _other_sentence

    texts = ["a b"] * 7 + ["c d"] * 2 + ["e"]
    idx = _other_sentence(texts, 0)
    assert all(texts[j] != t for t, j in zip(texts, idx, strict=True))
