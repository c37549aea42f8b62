"""The published MEG-XL's formats converted into a neuroseq run, and the parity check against
a forward of the official code (fixture made by ``tests/fixtures/megxl_official/make_fixture.py``
with the official repository at commit 58dc31c: random weights, a small configuration)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from neuroseq import systems
from neuroseq.cli import main
from neuroseq.errors import DataError
from neuroseq.models import crisscross, seanet
from neuroseq.training import megxl_official as mo

FIX = Path(__file__).parents[1] / "fixtures" / "megxl_official"
CKPT, CODEC, REF = FIX / "megxl.ckpt", FIX / "biocodec.pt", FIX / "ref.npz"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return mo.convert_megxl(CKPT, CODEC, tmp_path_factory.mktemp("megxl") / "run").path


def test_the_fixture_converts_and_passes_the_check_through_the_cli(tmp_path):
    r = CliRunner().invoke(main, ["convert", "megxl", "--checkpoint", str(CKPT), "--codec",
                                  str(CODEC), "-o", str(tmp_path / "run"), "--check", str(REF)])
    assert r.exit_code == 0, r.output
    assert "check passed" in r.output and '"codes_equal": true' in r.output
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["layout"] == "official" and meta["sfreq"] == 50.0
    cfg = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert cfg["layout"] == "official" and cfg["d_model"] == 32 and cfg["n_fourier"] == 8
    tok = json.loads((tmp_path / "run" / "tokenizer" / "config.json").read_text())["config"]
    assert {k: tok[k] for k in ("base", "dim", "strides", "n_residual", "lstm_layers", "n_q",
                                "codebook_size", "codebook_dim", "compress", "layout")} == {
        "base": 4, "dim": 64, "strides": [2, 2, 3], "n_residual": 2, "lstm_layers": 2,
        "n_q": 4, "codebook_size": 64, "codebook_dim": 8, "compress": 1, "layout": "official"}


def test_the_check_is_tight(converted):
    res = mo.check_megxl(converted, REF)
    assert res["ok"] and res["codes_equal"] and res["max_rel_diff"] < 1e-5
    assert res["n_real_sensors"] == 12  # the padded sensors are not compared


def _swap_halves(monkeypatch):
    forward = crisscross.CrissCrossAttention.forward

    def swapped(self, x, mask):
        y = forward(self, x, mask)
        return torch.cat([y[..., y.shape[-1] // 2:], y[..., : y.shape[-1] // 2]], -1)
    monkeypatch.setattr(crisscross.CrissCrossAttention, "forward", swapped)


def _codec_order(monkeypatch):
    def forward(self, x):  # the first two residual units in the other order
        layers = list(self.net)
        layers[1], layers[2] = layers[2], layers[1]
        for layer in layers:
            x = layer(x)
        return x
    monkeypatch.setattr(seanet.SEANetEncoder, "forward", forward)


MUTATIONS = {
    "no RoPE": lambda mp: mp.setattr(crisscross, "rope_pairs", lambda x, base=1e4: x),
    "our RoPE": lambda mp: mp.setattr(crisscross, "rope_pairs", crisscross.rope),
    "halves swapped": _swap_halves,
    "Fourier scale": lambda mp: mp.setattr(crisscross.GaussianFourier, "forward",
                                           lambda self, p: torch.cat([(3.1416 * p @ self.basis)
                                                                      .sin(), (3.1416 * p @
                                                                               self.basis).cos()],
                                                                     -1)),
    "codec layer order": _codec_order,
    "zero padding": lambda mp: mp.setattr(seanet.CausalConv1d, "pad_mode", "constant",
                                          raising=False),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_the_check_goes_red_when_the_computation_differs(converted, monkeypatch, name):
    if name == "zero padding":  # an instance attribute: set it on every convolution
        orig = seanet.CausalConv1d.__init__

        def init(self, *a, **k):
            orig(self, *a, **k)
            self.pad_mode = "constant"
        monkeypatch.setattr(seanet.CausalConv1d, "__init__", init)
    else:
        MUTATIONS[name](monkeypatch)
    res = mo.check_megxl(converted, REF)
    assert not res["ok"], res
    codec_side = name in ("codec layer order", "zero padding")
    assert res["codes_equal"] is (not codec_side)


def test_the_cli_exits_1_above_tolerance(converted, tmp_path, monkeypatch):
    _swap_halves(monkeypatch)
    r = CliRunner().invoke(main, ["convert", "megxl", "--checkpoint", str(CKPT), "--codec",
                                  str(CODEC), "-o", str(tmp_path / "run"), "--check", str(REF)])
    assert r.exit_code == 1 and "check failed: max relative difference" in r.output


def _edited_checkpoint(tmp_path, edit):
    raw = torch.load(CKPT, weights_only=True)
    edit(raw["state_dict"])
    path = tmp_path / "edited.ckpt"
    torch.save(raw, path)
    return path


def test_unmapped_missing_and_misshaped_keys_are_listed(tmp_path):
    def edit(sd):
        sd["extra_head.weight"] = torch.zeros(2)
        del sd["output_head.bias"]
        sd["mask_token"] = torch.zeros(5)
    path = _edited_checkpoint(tmp_path, edit)
    with pytest.raises(DataError) as err:
        mo.convert_megxl(path, CODEC, tmp_path / "run")
    msg = str(err.value)
    assert "unmapped official keys: extra_head.weight" in msg
    assert "mis-shaped: mask_token (5,) vs mask_token (32,)" in msg
    assert "missing: head.bias" in msg
    r = CliRunner().invoke(main, ["convert", "megxl", "--checkpoint", str(path), "--codec",
                                  str(CODEC), "-o", str(tmp_path / "run2")])
    assert r.exit_code == 2 and "extra_head.weight" in r.output


def test_a_codec_other_than_the_checkpoints_own_is_refused(tmp_path):
    raw = torch.load(CODEC, weights_only=True)
    key = "_orig_mod.quantizer.vq.layers.1._codebook.embed"
    raw["model_state_dict"][key] = raw["model_state_dict"][key] + 1
    torch.save(raw, tmp_path / "other.pt")
    with pytest.raises(DataError, match="embedded tokenizer differs"):
        mo.convert_megxl(CKPT, tmp_path / "other.pt", tmp_path / "run")


class Payload:  # a pickled object that weights_only refuses
    pass


@pytest.mark.parametrize("what", ["pickle", "truncated", "not a checkpoint"])
def test_unreadable_or_foreign_files_are_clear_errors(tmp_path, what):
    path = tmp_path / "x.ckpt"
    if what == "pickle":
        torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, path)
    elif what == "truncated":
        path.write_bytes(CKPT.read_bytes()[:1000])
    else:
        torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(DataError, match="weights_only=True|not a Lightning checkpoint"):
        mo.convert_megxl(path, CODEC, tmp_path / "run")


def test_a_converted_run_probes_and_finetunes_through_the_cli(converted, sentence_store,
                                                               tmp_path):
    args = ["finetune", "--config", "configs/megxl_words_tiny.yaml", "data.group_size=5",
            "train.max_steps=3", "train.val_check_interval=3", "model.hidden=16",
            f"data.store={sentence_store}", f"model.pretrained={converted}"]
    for name, extra in (("probe", ["model.linear_probe=true"]), ("finetune", [])):
        r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / name), *extra])
        assert r.exit_code == 0, r.output
        assert "balanced top-10" in r.output
        model, tok, _ = systems.load_run(tmp_path / name)
        assert model.backbone.layout == "official" and tok.arch["layout"] == "official"
    back, _, _ = systems.load_run(converted)
    probe, _, _ = systems.load_run(tmp_path / "probe")
    tuned, _, _ = systems.load_run(tmp_path / "finetune")
    state = back.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in probe.backbone.state_dict().items())
    assert not all(torch.equal(v, state[k]) for k, v in tuned.backbone.state_dict().items())


def test_the_official_sensor_inputs_reach_the_model(converted, sentence_store):
    from neuroseq.data.store import Store
    from neuroseq.data.windows import WindowDataset

    ds = WindowDataset(Store(sentence_store), 240, 240)
    item = ds[0]
    sens = Store(sentence_store).sensors(ds.corpus.ids[0])
    assert np.array_equal(item["sensors"]["official_type"].numpy(), sens.official_types())
    assert np.allclose(item["sensors"]["official_xyz"].numpy(), sens.official_xyzdir()[:, :3],
                       atol=1e-6)
    model, tok, _ = systems.load_run(converted)
    codes = tok.encode(item["x"][None])
    s = {k: v[None] for k, v in item["sensors"].items()}
    mask = item["mask"][None]
    out = model(codes, s, mask)["hidden"]
    s2 = dict(s, official_type=1 - s["official_type"])
    assert not torch.allclose(out, model(codes, s2, mask)["hidden"])
    with pytest.raises(ValueError, match="official_xyz"):
        model(codes, {k: v for k, v in s.items() if k != "official_xyz"}, mask)


def test_fixture_files_are_small():
    assert sum(p.stat().st_size for p in FIX.iterdir()) < 1_000_000


def test_a_converted_run_is_brain_to_texts_encoder(converted, sentence_store, tiny_llm_dir,
                                                   tmp_path):
    r = CliRunner().invoke(main, [
        "pretrain", "--stage", "quantize", "--config", "configs/brain2text_tiny.yaml",
        f"data.store={sentence_store}", f"llm.name={tiny_llm_dir}", "model.encoder.kind=megxl",
        f"model.encoder.from_run={converted}", "train.max_steps=2", "-o", str(tmp_path / "p2")])
    assert r.exit_code == 0, r.output
    from neuroseq.training.parts import load_brain2text
    from neuroseq.training.run_folder import RunFolder

    model = load_brain2text(RunFolder(tmp_path / "p2"), with_llm=False)
    assert model.encoder.backbone.layout == "official"
