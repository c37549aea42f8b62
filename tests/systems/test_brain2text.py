"""Brain-to-text through the CLI: three phases, single phase, distillation, evaluation beside
the controls, and `neuroseq decode`."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
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
    assert {"quantized_prefix", "encoder_features", "raw_signal"} <= set(res["prefix_probe"])
    assert set(res["arms"]) == {"model", "noise", "shuffled", "llm_only", "constant", "ridge"}
    for name, arm in res["arms"].items():
        if name == "constant":  # one answer for all: no likelihoods, no retrieval
            assert arm["retrieval"] is None and "retrieval_top1" not in arm["corpus"]
            continue
        assert set(arm["corpus"]) == {"bleu4", "rouge_l", "wer", "bertscore", "exact_match",
                                      "retrieval_top1"}
        assert arm["retrieval"]["chance_top1"] == pytest.approx(1 / res["n_sentences"])
        assert arm["corpus"]["retrieval_top1"] == arm["retrieval"]["top1"]
    # whole-sentence exact match separates nothing at this scale: not a row for sentences
    assert {r["metric"] for r in res["table"]} == {"bleu4", "rouge_l", "wer", "bertscore",
                                                  "retrieval_top1"}
    assert all("p_vs_shuffled" in r and "beats_all_controls" in r for r in res["table"])
    meta = json.loads((root / "p3" / "meta.json").read_text())
    train = SentenceDataset(Store(meta["store"]), "train", seconds=3.0)
    assert meta["test_sentences"] and not set(meta["test_sentences"]) & set(train.texts)
    model, _, _ = systems.load_run(root / "p3")
    assert isinstance(model, Brain2Text) and model.llm is not None


def test_single_phase_and_distillation_modes(runs):
    root, common = runs
    fast = ["decode.max_test=4", "decode.bertscore=false", "decode.prefix_probe=false"]
    r = _cli("finetune", *common, "train.max_steps=2", *fast, "-o", root / "single")
    assert r.exit_code == 0, r.output
    res = json.loads((root / "single" / "results.json").read_text())
    assert res["mode"] == "single"
    # the probe (the costly part of a test run's evaluation) is skipped only when asked, and said
    assert res["prefix_probe"] == {"not_run": "decode.prefix_probe=false"}
    assert "prefix probe not run: decode.prefix_probe=false" in r.output
    r = _cli("finetune", *common, "train.max_steps=3", *fast, f"distill.teacher={root / 'p3'}",
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
    ret = next(r for r in res["table"] if r["metric"] == "retrieval_top1")
    assert ret["classifier"] is None and ret["p_vs_classifier"] is None  # no likelihoods


def test_shuffled_control_always_reads_another_sentence():
    from neuroseq.evaluation.arms import other_unit

    texts = ["a b"] * 7 + ["c d"] * 2 + ["e"]
    idx = other_unit(texts, 0)
    assert all(texts[j] != t for t, j in zip(texts, idx, strict=True))


def test_megxl_backbone_is_an_alternative_encoder(sentence_store, tiny_llm_dir, tmp_path):
    """model.encoder.kind=megxl: a MEG-XL run's backbone under the RVQ and the LLM — frozen in
    phase 2, trained in phase 3, ignoring padded sensors; phase 1 refused (MEG-XL pretrains
    it), and a store at another rate refused."""
    from neuroseq.models.crisscross import CrissCross

    pre = tmp_path / "megxl"
    r = _cli("pretrain", "--config", "configs/megxl_tiny.yaml", f"data.store={sentence_store}",
             "-o", pre, "tokenizer.steps=5", "train.max_steps=2", "data.sample_seconds=4.8")
    assert r.exit_code == 0, r.output
    common = [*CFG, f"data.store={sentence_store}", f"llm.name={tiny_llm_dir}",
              "model.encoder.kind=megxl", f"model.encoder.from_run={pre}"]
    r = _cli("pretrain", *common, "train.max_steps=2", "-o", tmp_path / "p1")
    assert r.exit_code == 2 and "--stage quantize" in r.output
    r = _cli("pretrain", "--stage", "quantize", *common, "train.max_steps=4", "-o",
             tmp_path / "p2")
    assert r.exit_code == 0, r.output
    r = _cli("finetune", *common, "train.max_steps=4", "decode.bertscore=false",
             "decode.prefix_probe=false", f"model.from_run={tmp_path / 'p2'}", "-o",
             tmp_path / "p3")
    assert r.exit_code == 0, r.output
    back = CrissCross.from_pretrained(pre / "model").state_dict()
    from neuroseq.training.parts import load_brain2text as load_model
    from neuroseq.training.run_folder import RunFolder

    p2 = load_model(RunFolder(tmp_path / "p2"), with_llm=False)  # parts read from `pre`
    p3 = load_model(RunFolder(tmp_path / "p3"), with_llm=False)
    assert type(p2.encoder).__name__ == "MEGXLEncoder"
    with pytest.raises(ValueError, match="encoder_module|MEGXLEncoder"):  # models read no runs
        Brain2Text.from_pretrained(tmp_path / "p2" / "model", with_llm=False)
    for k, v in p2.encoder.backbone.state_dict().items():  # phase 2: MEG-XL's, unchanged
        assert torch.equal(v, back[k]), k
    assert any(not torch.equal(v, back[k])  # phase 3: trained end to end
               for k, v in p3.encoder.backbone.state_dict().items())
    res = json.loads((tmp_path / "p3" / "results.json").read_text())
    assert set(res["arms"]) == {"model", "noise", "shuffled", "llm_only", "constant", "ridge"}
    fif = next((sentence_store.parent / "bids").rglob("*_meg.fif"))  # decoded like any run
    r = _cli("decode", "--run", tmp_path / "p3", "--input", fif, "-o", tmp_path / "t.json",
             "--max-new-tokens", 2)
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "t.json").read_text())["segments"]) == 40
    # padded sensors (zeros, masked) change nothing
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0)
    b = p3.collate_fn()([ds[0], ds[1]])  # the frozen codec's codes, made by the collate
    enc = p3.encoder.eval()
    with torch.no_grad():
        h = enc(b["codes"], b["sensors"], b["mask"])
        pad = {k: torch.nn.functional.pad(v, (0, 0, 0, 5) if v.ndim == 3 else (0, 5))
               for k, v in b["sensors"].items()}
        h_pad = enc(torch.nn.functional.pad(b["codes"], (0, 0, 0, 0, 0, 5)), pad,
                    torch.nn.functional.pad(b["mask"], (0, 5)))
    assert h.shape == (2, 150 // enc.stride, enc.d_model)
    torch.testing.assert_close(h_pad, h, atol=1e-4, rtol=1e-4)
    # a store at another sampling rate than the codec's
    other = tmp_path / "s100.zarr"
    r = _cli("prepare", sentence_store.parent / "bids", "-o", other, "--h-freq", "20",
             "--clip", "5", "--split", "none")
    assert r.exit_code == 0, r.output
    r = _cli("pretrain", "--stage", "quantize", *common, f"data.store={other}",
             "train.max_steps=1", "-o", tmp_path / "bad")
    assert r.exit_code == 2 and "--resample 50" in r.output
