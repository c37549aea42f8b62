"""The equal-budget benchmark runs end to end on a tiny store, and resumes from its state."""

import json

import numpy as np
import pytest

from neuroseq.experiments import generator_benchmark as gb

TINY = {
    "GPT2MEG + conv, value": {"slug": "gpt", "data": {"window": 65},
                              "model": {"kind": "gpt2meg", "preset": "tiny", "d_model": 32,
                                        "n_layers": 1, "context": 64, "local_conv": 4,
                                        "value_embedding": True},
                              "optim": {"lr": 3e-3, "warmup_steps": 2}},
    "linear AR (multivariate)": {"slug": "mvar", "data": {"window": 65},
                                 "model": {"kind": "linear_ar", "order": 5,
                                           "mode": "multivariate"}},
}


@pytest.fixture(scope="module")
def bench(sim_store, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(gb, "MODELS", TINY)
    out = tmp_path_factory.mktemp("bench")
    kw = dict(minutes=0.2, points=2, seconds=8.0, curve_seconds=8.0, drift_seconds=40.0,
              drift_window_s=10.0, batch_size=2, hmm_states=3, hmm_pca=4)
    res = gb.run(out, sim_store, "auto", echo=print, **kw)
    yield out, res, kw, mp
    mp.undo()


def test_equal_budget_curves_and_drift(bench):
    out, res, _, _ = bench
    m = res["models"]["GPT2MEG + conv, value"]
    assert m["steps"] >= 2 and m["steps"] % 2 == 0 and m["budget_s"] == pytest.approx(12.0)
    pts = res["curves"]["models"]["GPT2MEG + conv, value"]
    assert [p["step"] for p in pts] == [m["steps"] // 2, m["steps"]]
    assert all(np.isfinite(p["psd_lsd_db"]) for p in pts)
    steps = [s for s, _ in res["val_ce"]["GPT2MEG + conv, value"]]
    assert steps == [p["step"] for p in pts]  # one validation per chunk
    assert {"linear AR (multivariate)", "real (held out)"} <= set(res["curves"]["references"])
    assert set(res["final"]["rows"]) >= set(TINY) | {"real (held out)", "white noise"}
    drift = res["drift"]["rows"]
    assert set(drift) == {"real", "GPT2MEG + conv, value", "linear AR (multivariate)"}
    assert all(r["amplitude_ratio"] > 0 for r in drift.values())
    assert set(res["sampling"]["rows"]) >= set(gb.SAMPLINGS) | {"real (held out)"}
    assert json.loads((out / "results.json").read_text())["points"] == 2
    md = gb.markdown(res)
    for part in ("Learning curves", "Sampling settings", "Long-horizon drift", "| real |"):
        assert part in md, part
    assert len(gb.curves_figure(res).axes) == 6


def test_a_second_call_reuses_every_finished_stage(bench, sim_store, monkeypatch):
    out, res, kw, _ = bench
    from neuroseq import systems

    def refuse(*a, **k):
        raise AssertionError("retrained although the state says done")

    monkeypatch.setattr(systems, "run", refuse)
    again = gb.run(out, sim_store, "auto", **kw)
    assert again["final"] == res["final"] and again["curves"] == res["curves"]
