"""`neuroseq pretrain | generate | forecast` end to end on a small simulated store."""

import json
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.config import parse_overrides
from neuroseq.errors import NeuroseqError
from neuroseq.systems import load_config

TINY = ["model.d_model=32", "model.n_layers=1", "model.context=64", "data.window=65",
        "data.stride=32", "data.batch_size=4", "train.checkpoint_every_n_steps=20",
        "train.val_check_interval=20", "optim.lr=3e-3", "optim.warmup_steps=5"]


def invoke(*args):
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def runs(sim_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    invoke("pretrain", "--config", "configs/gpt2meg_tiny.yaml", "--out", str(root / "gpt"),
           f"data.store={sim_store}", "train.max_steps=60", *TINY)
    invoke("pretrain", "--config", "configs/linear_ar.yaml", "--out", str(root / "ar"),
           f"data.store={sim_store}", "data.window=65")
    invoke("pretrain", "--config", "configs/wavenet_tiny.yaml", "--out", str(root / "wn"),
           f"data.store={sim_store}", "train.max_steps=10", "model.residual=16",
           "model.skip=16", "model.dilations=[1,2,4,8,16,32]", "data.batch_size=4")
    return root


def test_pretrain_writes_a_complete_run_and_loss_falls(runs):
    gpt = runs / "gpt"
    for need in ("config.yaml", "meta.json", "tokenizer", "model", "run.json",
                 "checkpoints/last.ckpt", "checkpoints/best.ckpt", "metrics.csv", "tensorboard"):
        assert (gpt / need).exists(), need
    info = json.loads((gpt / "run.json").read_text())
    meta = json.loads((gpt / "meta.json").read_text())
    assert info["split_hash"] == meta["split_sha256"] and len(info["split_hash"]) == 64
    assert info["global_step"] == 60 and "val_loss" in info["metrics"]
    log = pd.read_csv(gpt / "metrics.csv").dropna(subset=["train_loss"])
    assert log["train_loss"].iloc[-1] < log["train_loss"].iloc[0] - 0.1  # from ~ln 256 = 5.55
    assert meta["condition_map"] == {"a": 1, "b": 2}


@pytest.mark.parametrize("conditions", ["real", "synthetic"])
def test_generate_writes_fif_with_condition_events(runs, tmp_path, conditions):
    out = tmp_path / "gen_raw.fif"
    text = invoke("generate", "--checkpoint", str(runs / "gpt"), "--seconds", "3",
                  "--conditions", conditions, "--out", str(out), "--shift", "8")
    assert "generated 3 s × 8 channels" in text
    raw = mne.io.read_raw_fif(out, verbose="error")
    assert raw.n_times == 300 and raw.info["sfreq"] == 100.0
    data = raw.get_data()
    assert np.all(np.isfinite(data)) and np.all(data.std(axis=1) > 0)
    if conditions == "synthetic":
        assert len(raw.annotations) >= 2


def test_generate_from_the_ar_and_wavenet(runs, tmp_path):
    for run in ("ar", "wn"):
        invoke("generate", "--checkpoint", str(runs / run), "--seconds", "1",
               "--out", str(tmp_path / f"{run}.npy"))
        x = np.load(tmp_path / f"{run}.npy")
        assert x.shape == (8, 100) and np.all(np.isfinite(x))


def test_forecast_compares_models_and_repeat_last(runs, tmp_path):
    text = invoke("forecast", "--checkpoint", str(runs / "gpt"), "--checkpoint",
                  str(runs / "ar"), "--checkpoint", str(runs / "wn"), "--horizon", "10",
                  "--max-windows", "16", "--out", str(tmp_path))
    assert "repeat last" in text and "| gpt2meg (gpt)" in text
    res = json.loads((tmp_path / "forecast.json").read_text())
    assert set(res["next_step"]) == {"gpt2meg (gpt)", "linear_ar (ar)", "wavenet (wn)",
                                     "repeat last"}
    for name, curve in res["multi_step_mse"].items():
        assert len(curve) == 10 and np.all(np.isfinite(curve)), name
    ar = res["multi_step_mse"]["linear_ar (ar)"]
    assert ar[0] < ar[-1]  # error grows with horizon
    assert (tmp_path / "forecast.png").stat().st_size > 10_000


def test_config_errors_and_overrides():
    assert parse_overrides(["a.b=3", "a.c=[1, 2]", "d=null"]) == {"a": {"b": 3, "c": [1, 2]},
                                                                 "d": None}
    cfg = load_config("configs/gpt2meg.yaml", ["train.max_steps=7"])
    assert cfg["train"]["max_steps"] == 7 and cfg["model"] == {"kind": "gpt2meg", "preset": "paper"}
    with pytest.raises(NeuroseqError, match="unknown configuration key 'train.max_step'"):
        load_config(None, ["train.max_step=7"])
    with pytest.raises(NeuroseqError, match="not of the form"):
        parse_overrides(["train.max_steps"])


def test_clear_cli_errors(tmp_path):
    res = CliRunner().invoke(main, ["pretrain", "--config", "configs/gpt2meg_tiny.yaml"])
    assert res.exit_code == 2 and "set data.store=PATH" in res.output
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path), "--seconds", "1",
                                    "--out", str(tmp_path / "x.fif")])
    assert res.exit_code == 2 and "not a finished run directory" in res.output
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(tmp_path), "--seconds", "1",
                                    "--out", str(tmp_path / "x.fif"), "--min-p", "1.5"])
    assert res.exit_code == 2 and "--min-p" in res.output and "between 0 and 1" in res.output


def _npy_store(tmp_path, scale=50.0, seconds=200):
    """An AR(1) 4-channel "EEG" of std ≈ ``scale`` µV without events, prepared into a store."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 100 * seconds)).astype(np.float32)
    for i in range(1, x.shape[1]):
        x[:, i] += 0.9 * x[:, i - 1]
    np.save(tmp_path / "rest.npy", x / x.std() * scale)
    store = tmp_path / "rest.zarr"
    invoke("prepare", str(tmp_path / "rest.npy"), "-o", str(store), "--sfreq", "100",
           "--ch-names", "Fz,Cz,Pz,Oz", "--ch-types", "eeg", "--clip", "4")
    return store


def test_generated_data_are_in_the_real_data_units(tmp_path):
    """`generate` undoes the store's robust scaling: the .fif is in µV like the recording it
    continues (the store holds robust units, ~1); `--units store` keeps the store's units."""
    from neuroseq.data.store import Store
    from neuroseq.generation.recording import read_generated

    store = _npy_store(tmp_path, scale=50.0)
    st = Store(store)
    stored = st.read(st.ids[0])
    physical = st.pipeline(st.ids[0]).inverse_scaling(stored, st.sensors(st.ids[0]).names)
    assert np.median(physical.std(1)) > 40 * np.median(stored.std(1))  # the units differ
    invoke("pretrain", "--config", "configs/linear_ar.yaml", "--out", str(tmp_path / "ar"),
           f"data.store={store}", "data.window=65")
    invoke("pretrain", "--config", "configs/gpt2meg_tiny.yaml", "--out", str(tmp_path / "gpt"),
           f"data.store={store}", "train.max_steps=3", "train.val_check_interval=3", *TINY)
    for name in ("ar", "gpt"):
        out = tmp_path / f"{name}.fif"
        invoke("generate", "--checkpoint", str(tmp_path / name), "--seconds", "4", "--out",
               str(out))
        rec, side = read_generated(out)
        assert side["units"] == "physical"
        ratio = np.median(rec.data.std(1) / physical.std(1))
        assert 0.2 < ratio < 5, (name, ratio)
    scaled = tmp_path / "scaled.fif"
    invoke("generate", "--checkpoint", str(tmp_path / "ar"), "--seconds", "4", "--units",
           "store", "--out", str(scaled))
    rec, side = read_generated(scaled)
    assert side["units"] == "store" and 0.2 < np.median(rec.data.std(1) / stored.std(1)) < 5


def test_run_directories_work_from_anywhere(sim_store, tmp_path, monkeypatch):
    """The run keeps the store as an absolute path, so it is usable from any folder."""
    import shutil

    work = tmp_path / "project"
    work.mkdir()
    shutil.copytree(sim_store, work / "data.zarr")
    monkeypatch.chdir(work)
    config = Path(__file__).parents[2] / "configs" / "linear_ar.yaml"
    invoke("pretrain", "--config", str(config), "--out", "runs/ar", "data.store=data.zarr",
           "data.window=65")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = invoke("generate", "--checkpoint", str(work / "runs" / "ar"), "--seconds", "2",
                  "--out", "g.fif")
    assert "generated 2 s" in text and (elsewhere / "g.fif").exists()
    meta = json.loads((work / "runs" / "ar" / "meta.json").read_text())
    assert meta["store"] == str(work / "data.zarr")


def test_corrupt_checkpoints_give_one_line_and_exit_2(runs, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(runs / "gpt", broken)
    weights = broken / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(broken), "--seconds", "1",
                                    "--out", str(tmp_path / "x.fif")])
    assert res.exit_code == 2 and "truncated or corrupt" in res.output, res.output
    assert "Traceback" not in res.output
    from safetensors.torch import load_file, save_file

    good = load_file(str(runs / "gpt" / "model" / "model.safetensors"))
    save_file({k: v for k, v in good.items() if not k.startswith("blocks.0.")}, str(weights))
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(broken), "--seconds", "1",
                                    "--out", str(tmp_path / "x.fif")])
    assert res.exit_code == 2 and "missing" in res.output and "blocks.0." in res.output, \
        res.output
    assert "Traceback" not in res.output
    ckpt = broken / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:5000])
    cfg = broken / "config.yaml"
    res = CliRunner().invoke(main, ["pretrain", "--config", str(cfg), "--out", str(broken),
                                    "train.max_steps=70"])
    assert res.exit_code == 2 and "checkpoint" in res.output and "truncated or corrupt" in \
        res.output and "--no-resume" in res.output, res.output


def test_resting_state_store_pretrains_generates_and_evaluates(tmp_path):
    """Continuous data without events (any .npy, resting state) is a normal input: conditions
    are all 0 and the evoked and decoding metrics say "not applicable"."""
    store, run = _npy_store(tmp_path), tmp_path / "run"
    invoke("pretrain", "--config", "configs/gpt2meg_tiny.yaml", "--out", str(run),
           f"data.store={store}", "train.max_steps=3", "train.val_check_interval=3", *TINY)
    assert json.loads((run / "meta.json").read_text())["condition_map"] == {}
    gen = tmp_path / "gen.fif"
    invoke("generate", "--checkpoint", str(run), "--seconds", "12", "--out", str(gen))
    text = invoke("evaluate", "-g", f"GPT={gen}", "-o", str(tmp_path / "m.json"))
    assert "evoked and decoding: not applicable" in text
    m = json.loads((tmp_path / "m.json").read_text())
    assert set(m["not_applicable"]) == {"evoked", "decoding"} and m["conditions"] == []
    assert "psd_lsd_db" in m["metrics"]["GPT"] and "evoked_corr" not in m["metrics"]["GPT"]


def test_one_context_lets_models_be_judged_together(runs, tmp_path):
    """Files generated with the same --context-seconds continue the same real stretch."""
    from neuroseq.generation.recording import read_generated

    sides = []
    for run in ("gpt", "ar"):
        out = tmp_path / f"{run}.fif"
        invoke("generate", "--checkpoint", str(runs / run), "--seconds", "2",
               "--context-seconds", "0.64", "--out", str(out))
        sides.append(read_generated(out)[1])
    assert sides[0]["start_sample"] == sides[1]["start_sample"]
    assert sides[0]["context_samples"] == 64


def test_rope_model_generates_several_recordings_in_one_batch(runs, sim_store, tmp_path):
    """RoPE positions train through the same config; one call writes one .fif and sidecar per
    (recording, seed), and each equals the same sequence generated alone."""
    from neuroseq.data.store import Store
    from neuroseq.generation.recording import generate_recordings
    from neuroseq.systems import load_run

    rope = tmp_path / "rope"
    invoke("pretrain", "--config", "configs/gpt2meg_tiny.yaml", "--out", str(rope),
           f"data.store={sim_store}", "train.max_steps=20", "model.positions=rope", *TINY)
    store = Store(sim_store)
    ids = store.ids[:2]
    out = tmp_path / "batch"
    text = invoke("generate", "--checkpoint", str(rope), "--seconds", "2", "--out", str(out),
                  "--seed", "3", "--seed", "4", "--recording", ids[0], "--recording", ids[1],
                  "--sink", "2", "--conditions", "synthetic")
    files = sorted(out.glob("*.fif"))
    assert len(files) == 2 and text.count("generated 2 s") == 2
    sides = [json.loads(f.with_suffix(".json").read_text()) for f in files]
    assert [(s["recording"], s["seed"]) for s in sides] == [(ids[0], 3), (ids[1], 4)]
    assert all(s["rolling_cache"] and s["sink"] == 2 and s["batch_size"] == 2 for s in sides)
    model, tok, meta = load_run(rope)
    from neuroseq.generation.sampler import SamplingConfig

    both = generate_recordings(model, tok, meta, store, 2.0, recordings=ids, seeds=[3, 4],
                               conditions="synthetic", cfg=SamplingConfig(sink=2))
    alone = generate_recordings(model, tok, meta, store, 2.0, recordings=[ids[1]], seeds=[4],
                                conditions="synthetic", cfg=SamplingConfig(sink=2))[0]
    np.testing.assert_array_equal(both[1].data, alone.data)
    assert not np.array_equal(both[0].data, both[1].data)
    np.testing.assert_allclose(mne.io.read_raw_fif(files[1], verbose="error").get_data(),
                               alone.to_raw().get_data(), rtol=1e-5, atol=1e-9)
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(runs / "gpt"), "--seconds",
                                    "1", "--out", str(tmp_path / "x.fif"), "--sink", "2"])
    assert res.exit_code == 2 and "--sink" in res.output
    res = CliRunner().invoke(main, ["generate", "--checkpoint", str(rope), "--seconds", "1",
                                    "--out", str(tmp_path / "x.fif"), "--seed", "1", "--seed",
                                    "2"])
    assert res.exit_code == 2 and "directory" in res.output
