"""The equal-budget benchmark runs end to end on a tiny store, and resumes from its state."""

import json

import numpy as np
import pytest

from neuroseq.experiments import generator_benchmark as gb
from neuroseq.experiments import generator_report as gr

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


def test_equal_budget_curves_and_drift(bench, sim_store):
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
    chosen = res["selection"]["chosen"]
    extra = {f"GPT2MEG + conv, value, {chosen} (chosen on val)"} if gb.SAMPLINGS[chosen] else set()
    assert set(drift) == {"real", "GPT2MEG + conv, value", "linear AR (multivariate)"} | extra
    assert all(r["amplitude_ratio"] > 0 for r in drift.values())
    assert set(res["sampling"]["rows"]) >= set(gb.SAMPLINGS) | {"real (held out)"}
    sel = res["selection"]
    assert set(sel["score"]) | set(sel["failed"]) == set(gb.SAMPLINGS)
    assert "linear AR (multivariate)" in sel["rows"]
    # the choice is made on the validation split: its files continue another stretch
    starts = {split: json.loads((out / "generated" / f"gpt_{split}.json").read_text())
              ["start_sample"] for split in ("val1", "sampling1")}
    assert starts["val1"] != starts["sampling1"]
    from neuroseq.data.store import Store
    from neuroseq.evaluation.judge import ceiling_split

    st = Store(sim_store)  # the ceiling never overlaps what is judged
    rid, n = st.ids[0], 800
    assert ceiling_split(st, rid, starts["val1"], n) == "test"
    assert ceiling_split(st, rid, starts["sampling1"], n) == "val"
    assert json.loads((out / "results.json").read_text())["points"] == 2
    md = gr.markdown(res)
    for part in ("Learning curves", "chosen on the validation split", "Long-horizon drift",
                 "| real |"):
        assert part in md, part
    assert len(gr.curves_figure(res).axes) == 6


def test_a_second_call_reuses_every_finished_stage(bench, sim_store, monkeypatch):
    out, res, kw, _ = bench
    from neuroseq import systems

    def refuse(*a, **k):
        raise AssertionError("retrained although the state says done")

    monkeypatch.setattr(systems, "run", refuse)
    again = gb.run(out, sim_store, "auto", **kw)
    assert again["final"] == res["final"] and again["curves"] == res["curves"]


def _rows(**vals):
    keys = gb.GOAL_METRICS  # psd, evoked, cov, decoding, discriminability
    return {name: dict(zip(keys, v, strict=True)) for name, v in vals.items()}


def test_select_sampling_counts_wins_against_the_baseline():
    rows = _rows(mvar=(2.0, 0.05, 0.3, 0.10, 0.98),
                 a=(1.8, 0.13, 0.5, 0.23, 0.93),   # wins 4 of 5 (loses covariance)
                 b=(1.9, 0.20, 0.9, 0.20, 1.00),   # wins 3: psd, evoked, decoding
                 c=(3.0, 0.01, 0.2, 0.05, 0.99))   # wins 1: covariance
    best, score = gb.select_sampling(rows, ["a", "b", "c", "absent"], baseline="mvar")
    assert best == "a" and score["a"]["wins"] == 4 and score["b"]["wins"] == 3
    assert score["c"]["wins"] == 1 and "absent" not in score
    # evoked correlation and decoding are better when higher, discriminability near 0.5
    rows["b"]["evoked_corr"], rows["b"]["discriminability"] = -0.5, 0.6
    best, score = gb.select_sampling(rows, ["a", "b"], baseline="mvar")
    assert score["b"]["wins"] == 3 and best == "a"
    rows["b"]["cov_distance"], rows["b"]["decoding_generated_to_real"] = 0.1, 0.3
    assert gb.select_sampling(rows, ["a", "b"], baseline="mvar")[0] == "b"


def test_select_sampling_breaks_ties_by_mean_rank_and_refuses_nonsense():
    rows = _rows(mvar=(2.0, 0.05, 0.3, 0.10, 0.98),
                 a=(1.9, 0.06, 0.4, 0.20, 1.00),
                 b=(1.5, 0.10, 0.4, 0.30, 1.00))
    best, score = gb.select_sampling(rows, ["a", "b"], baseline="mvar")
    assert score["a"]["wins"] == score["b"]["wins"] == 3 and best == "b"
    with pytest.raises(ValueError, match="baseline"):
        gb.select_sampling(rows, ["a"], baseline="nope")
    with pytest.raises(ValueError, match="candidates"):
        gb.select_sampling(rows, ["x"], baseline="mvar")
