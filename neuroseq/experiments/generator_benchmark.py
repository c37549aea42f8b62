"""Generative models compared at an equal CPU budget, with learning curves and long-horizon drift.

The longer sibling of the quickstart comparison
(:mod:`neuroseq.experiments.compare_generators`, same :data:`MODELS`, same store).  Each
gradient-trained model gets ``minutes / n_models`` of training time on this machine: its
seconds per step are measured first (two short timed runs), which fixes its step count; it is
then trained towards that one cosine schedule in ``points`` resumed chunks, and after each chunk
it generates ``curve_seconds`` from the test split's first context — the learning curves (every
headline metric against training steps).  The closed-form linear ARs are fitted once (seconds).
The final models generate ``seconds`` for the headline table; ``drift_model`` generates it
again under each of :data:`SAMPLINGS` (temperature, top-p, min-p, coupled channels), first
from the **validation** split, where one setting is chosen by the rule of
:func:`select_sampling` (the test split is not looked at), then from the test split, where
every setting is reported; and it (with the default and with the chosen setting) plus the two
linear ARs generate ``drift_seconds`` for the long-horizon drift (first vs last
``drift_window_s``), beside the real recording's own drift over as long a stretch.

Every stage writes its state to ``out/state.json`` as it finishes, so an interrupted run picks
up where it stopped.  Run it with ``python benchmarks/bench_generators.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.atomic import write_json_atomic
from neuroseq.experiments.compare_generators import (
    MODELS,
    context_seconds,
    generate_to_fif,
    generator_config,
)
from neuroseq.log import logger

#: sampling settings tried on the final ``drift_model`` (the first is the default: paper top-p)
SAMPLINGS: dict[str, dict[str, Any]] = {
    "top-p 0.8 (default)": {},
    "temperature 0.8, top-p 0.8": {"temperature": 0.8},
    "min-p 0.2": {"top_p": None, "min_p": 0.2},
    "no truncation (top-p 1)": {"top_p": None},
    "coupled channels, top-p 0.8": {"couple_channels": True},
    "coupled channels, min-p 0.2": {"couple_channels": True, "top_p": None, "min_p": 0.2},
    "coupled channels, no truncation": {"couple_channels": True, "top_p": None},
}

#: the issue's goal: a generative model beats the multivariate AR on these five
GOAL_METRICS = ("psd_lsd_db", "evoked_corr", "cov_distance", "decoding_generated_to_real",
                "discriminability")
#: the baseline the sampling selection counts wins against
SELECTION_BASELINE = "linear AR (multivariate)"

#: the metrics followed along training (keys of :func:`~neuroseq.evaluation.suite.compare_to_real`)
CURVE_METRICS = ("psd_lsd_db", "out_of_band_excess_db", "cov_distance", "evoked_corr",
                 "decoding_generated_to_real", "discriminability")


class _State:
    """``state.json``: what is done, written atomically after every stage."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        write_json_atomic(self.path, self.data)


def select_sampling(rows: dict[str, dict[str, Any]], candidates: list[str],
                    baseline: str = SELECTION_BASELINE) -> tuple[str, dict[str, Any]]:
    """The sampling setting to use, chosen on validation rows by a rule fixed in advance.

    Each candidate row counts the :data:`GOAL_METRICS` on which it is closer to ideal than
    ``baseline`` (each column's :class:`~neuroseq.evaluation.headline.Column` says what ideal
    is); most wins first, ties broken by the mean rank over those metrics among the
    candidates.  Returns the winner and, per candidate, ``{"wins": n, "mean_rank": r}``.
    """
    from neuroseq.evaluation.headline import COLUMNS

    cols = [c for c in COLUMNS if c.key in GOAL_METRICS]
    cands = [c for c in candidates if c in rows]
    if not cands:
        raise ValueError(f"none of the candidates {candidates} has a row to choose from.")
    if baseline not in rows:
        raise ValueError(f"the baseline {baseline!r} has no row.")

    def bad(name: str, col: Any) -> float:
        v = rows[name].get(col.key)
        return float("inf") if v is None or not np.isfinite(v) else col.badness(float(v))

    score: dict[str, dict[str, Any]] = {}
    for c in cands:
        wins = sum(bad(c, col) < bad(baseline, col) for col in cols)
        ranks = [sorted(bad(o, col) for o in cands).index(bad(c, col)) + 1 for col in cols]
        score[c] = {"wins": int(wins), "mean_rank": float(np.mean(ranks))}
    best = min(cands, key=lambda c: (-score[c]["wins"], score[c]["mean_rank"]))
    return best, score


def _seconds_per_step(store: Path, conditions: Any, spec: dict[str, Any], batch_size: int,
                      scratch: Path, probe: tuple[int, int] = (10, 50)) -> float:
    """Training seconds per step: two timed runs of ``probe`` steps, the difference divided by
    the step difference (so set-up costs cancel).  For models so small that the difference
    drowns in timing noise, at least a quarter of the longer run's mean step time."""
    from neuroseq import systems

    times = []
    for steps in probe:
        cfg = generator_config(store, conditions, spec, steps, batch_size, 2)
        t = time.perf_counter()
        systems.run(cfg, "pretrain", scratch / f"{spec['slug']}_{steps}", resume=False)
        times.append(time.perf_counter() - t)
    return max((times[1] - times[0]) / (probe[1] - probe[0]), times[1] / probe[1] / 4)


def run(out: str | Path, store: str | Path, conditions: Any, *, minutes: float = 60.0,
        points: int = 4, seconds: float = 60.0, curve_seconds: float = 30.0,
        drift_seconds: float = 600.0, drift_window_s: float = 60.0,
        drift_model: str = "GPT2MEG + conv, value", batch_size: int = 2, seed: int = 0,
        passband: tuple[float, float] | None = None, hmm_states: int = 6, hmm_pca: int = 20,
        echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the benchmark into ``out``; returns (and writes to ``out/results.json``) the results.

    ``minutes``: total training time shared equally by the gradient-trained models.
    """
    from neuroseq import systems
    from neuroseq.data.store import Store
    from neuroseq.evaluation.judge import jsonable_rows, judge

    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}.")
    if drift_model not in MODELS:
        raise ValueError(f"drift_model {drift_model!r} is not one of {list(MODELS)}.")
    out, store, t0 = Path(out), Path(store), time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out / "state.json")
    st = Store(store)

    def say(msg: str) -> None:
        logger.info(msg)
        if echo is not None:
            echo(f"[{time.perf_counter() - t0:6.0f} s] {msg}")

    neural = [n for n, s in MODELS.items() if s["model"]["kind"] != "linear_ar"]
    budget = minutes * 60.0 / len(neural)
    ctx = None
    for name, spec in MODELS.items():
        done = state.get(f"model:{name}")
        if done is not None:
            ctx = ctx or done["context_s"]
            continue
        slug, run_dir = spec["slug"], out / "runs" / spec["slug"]
        info: dict[str, Any] = {"slug": slug, "points": []}
        if name in neural:
            say(f"{name}: measuring seconds per step")
            sps = _seconds_per_step(store, conditions, spec, batch_size, out / "probe")
            chunk = max(1, int(budget / sps / points))
            total = chunk * points
            info |= {"seconds_per_step": sps, "steps": total, "budget_s": budget}
            train_s = 0.0
            for k in range(1, points + 1):
                say(f"{name}: training to step {k * chunk} of {total} "
                    f"(≈ {sps * chunk:.0f} s per chunk)")
                cfg = generator_config(store, conditions, spec, k * chunk, batch_size, 20)
                cfg["optim"]["schedule_steps"] = total
                cfg["train"] |= {"seed": seed, "checkpoint_every_n_steps": chunk,
                                 "val_check_interval": chunk}
                t = time.perf_counter()
                systems.run(cfg, "pretrain", run_dir, resume=True)
                train_s += time.perf_counter() - t
                ctx = ctx or context_seconds(run_dir)
                last = k == points
                secs = seconds if last else curve_seconds
                say(f"{name}: generating {secs:g} s at step {k * chunk}")
                path = generate_to_fif(run_dir, st, secs, out / "generated" /
                                       f"{slug}@{k * chunk}.fif", context=ctx, seed=seed)
                info["points"].append({"step": k * chunk, "train_s": round(train_s, 1),
                                       "file": str(path)})
            info["train_s"] = round(train_s, 1)
        else:
            say(f"{name}: closed-form fit")
            cfg = generator_config(store, conditions, spec, 1, batch_size, 2)
            t = time.perf_counter()
            systems.run(cfg, "pretrain", run_dir, resume=False)
            info["train_s"] = round(time.perf_counter() - t, 1)
            ctx = ctx or 128 / st.sfreq(st.ids[0])
            path = generate_to_fif(run_dir, st, seconds, out / "generated" / f"{slug}.fif",
                                   context=ctx, seed=seed)
            info["points"].append({"step": 0, "train_s": info["train_s"], "file": str(path)})
        info["context_s"] = ctx
        state.put(f"model:{name}", info)
    models = {n: state.get(f"model:{n}") for n in MODELS}

    if state.get("final") is None:
        say("judging the final models (headline)")
        finals = {n: m["points"][-1]["file"] for n, m in models.items()}
        _, res, _ = judge(finals, store=str(store), hmm_states=hmm_states, hmm_pca=hmm_pca,
                          passband=passband)
        state.put("final", {"rows": jsonable_rows(res["rows"]),
                            "not_applicable": res["details"].get("not_applicable"),
                            "passband_hz": res["details"].get("passband_hz"),
                            "n_samples": res["details"]["n_samples"]})
    if state.get("curves") is None:
        say(f"judging every curve point on its first {curve_seconds:g} s")
        files = {f"{n} @ {p['step']}": p["file"] for n in neural for p in models[n]["points"]}
        files |= {n: models[n]["points"][-1]["file"] for n in MODELS if n not in neural}
        _, res, _ = judge(files, store=str(store), hmm_states=hmm_states, hmm_pca=hmm_pca,
                          passband=passband)
        curves = {n: [{"step": p["step"], "train_s": p["train_s"]} |
                      {k: res["rows"][f"{n} @ {p['step']}"].get(k) for k in CURVE_METRICS}
                      for p in models[n]["points"]] for n in neural}
        refs = {n: {k: r.get(k) for k in CURVE_METRICS} for n, r in res["rows"].items()
                if " @ " not in n}
        state.put("curves", {"models": curves, "references": refs,
                             "n_samples": res["details"]["n_samples"]})
    if state.get("selection") is None:
        say("sampling settings on the validation split (the choice is made here)")
        files, failed = _sampling_files(models, drift_model, st, out, seconds, seed, "val", say)
        for n in MODELS:  # the linear ARs from the same validation context, to count wins
            if n not in neural:
                m = models[n]
                path = out / "generated" / f"{m['slug']}_val.fif"
                generate_to_fif(out / "runs" / m["slug"], st, seconds, path,
                                context=m["context_s"], seed=seed, split="val")
                files[n] = str(path)
        _, res, _ = judge(files, store=str(store), hmm_states=hmm_states, hmm_pca=hmm_pca,
                          passband=passband)
        rows = jsonable_rows(res["rows"])
        chosen, score = select_sampling(rows, list(SAMPLINGS))
        state.put("selection", {"model": drift_model, "chosen": chosen, "score": score,
                                "baseline": SELECTION_BASELINE, "rows": rows,
                                "failed": failed, "n_samples": res["details"]["n_samples"]})
    if state.get("sampling") is None:
        files, failed = _sampling_files(models, drift_model, st, out, seconds, seed, "test", say)
        _, res, _ = judge(files, store=str(store), hmm_states=hmm_states, hmm_pca=hmm_pca,
                          passband=passband)
        state.put("sampling", {"model": drift_model, "settings": SAMPLINGS,
                               "rows": jsonable_rows(res["rows"]), "failed": failed})
    if state.get("drift") is None:
        state.put("drift", _drift(models, st, out, drift_model, drift_seconds, drift_window_s,
                                  passband, seed, say))
    chosen = state.get("selection")["chosen"]
    if state.get("drift_chosen") is None:
        row = None
        if SAMPLINGS[chosen]:  # the default setting's drift is measured above
            m = models[drift_model]
            row = _drift_row(out / "runs" / m["slug"], st, drift_seconds, drift_window_s,
                             out / "generated" / f"{m['slug']}_long_chosen.fif", m["context_s"],
                             passband, seed, SAMPLINGS[chosen],
                             f"{drift_model}, {chosen} (chosen on val)", say)
        state.put("drift_chosen", {"label": f"{drift_model}, {chosen} (chosen on val)",
                                   "row": row})
    val_ce = {n: _val_ce(out / "runs" / models[n]["slug"] / "metrics.csv") for n in neural}
    final, curves, drift = state.get("final"), state.get("curves"), dict(state.get("drift"))
    sampling, selection = state.get("sampling"), state.get("selection")
    if state.get("drift_chosen")["row"] is not None:
        extra = state.get("drift_chosen")
        drift["rows"] = dict(drift["rows"]) | {extra["label"]: extra["row"]}
    results = {
        "models": {n: {k: m.get(k) for k in ("steps", "seconds_per_step", "budget_s", "train_s")}
                   for n, m in models.items()},
        "minutes": minutes, "points": points, "seconds": seconds, "curve_seconds": curve_seconds,
        "seed": seed, "batch_size": batch_size, "final": final, "curves": curves,
        "drift": drift, "selection": selection, "sampling": sampling, "val_ce": val_ce,
        "wall_s": round(time.perf_counter() - t0, 1)}
    write_json_atomic(out / "results.json", results)
    return results


def _val_ce(csv_path: Path) -> list[list[float]]:
    """``[[step, validation cross-entropy], ...]`` from a run's ``metrics.csv``."""
    import pandas as pd

    if not csv_path.is_file():
        return []
    log = pd.read_csv(csv_path)
    if "val_loss" not in log:
        return []
    log = log.dropna(subset=["val_loss"])
    return [[int(r.step) + 1, float(r.val_loss)] for r in log.itertuples()]


def _sampling_files(models: dict[str, Any], drift_model: str, st: Any, out: Path,
                    seconds: float, seed: int, split: str, say: Callable[[str], None]
                    ) -> tuple[dict[str, str], dict[str, str]]:
    """``drift_model`` generates ``seconds`` from ``split`` under every :data:`SAMPLINGS`
    setting (finished files are reused); returns the readable files and, per setting that
    produced an unusable signal (a channel stuck on one code), why."""
    from neuroseq.errors import DataError
    from neuroseq.generation.recording import read_generated, sidecar_path

    m = models[drift_model]
    files, failed = {}, {}
    for i, (label, kw) in enumerate(SAMPLINGS.items()):
        if not kw and split == "test":  # the headline generation itself
            files[label] = m["points"][-1]["file"]
            continue
        stem = f"{m['slug']}_sampling{i}" if split == "test" else f"{m['slug']}_{split}{i}"
        path = out / "generated" / f"{stem}.fif"
        if not (path.is_file() and sidecar_path(path).is_file()):
            say(f"sampling ({split} split): {drift_model} with {label}")
            generate_to_fif(out / "runs" / m["slug"], st, seconds, path,
                            context=m["context_s"], seed=seed, sampling=kw, split=split)
        try:
            read_generated(path)
        except DataError as err:  # e.g. a channel stuck on one code: reported, not judged
            failed[label] = str(err).split(". ")[0]
            continue
        files[label] = str(path)
    return files, failed


def _drift(models: dict[str, Any], st: Any, out: Path, drift_model: str, seconds: float,
           window_s: float, passband: tuple[float, float] | None, seed: int,
           say: Callable[[str], None]) -> dict[str, Any]:
    """Drift (first vs last ``window_s``) of ``seconds`` generated by ``drift_model`` and the
    linear ARs, and of the real recording over the same length (or all of it, if shorter)."""
    from neuroseq.evaluation import fidelity

    bands = fidelity.bands_within(passband)
    rid = st.ids[0]
    n_real = min(st.n_samples(rid), int(round(seconds * st.sfreq(rid))))
    real = st.read(rid, 0, n_real).astype(np.float64)
    rows = {"real": fidelity.drift(real, st.sfreq(rid), window_s=window_s, bands=bands)}
    rows["real"]["note"] = f"{rid}, its first {n_real / st.sfreq(rid):.0f} s (all splits)"
    for name in [drift_model] + [n for n, s in MODELS.items()
                                 if s["model"]["kind"] == "linear_ar"]:
        m = models[name]
        rows[name] = _drift_row(out / "runs" / m["slug"], st, seconds, window_s,
                                out / "generated" / f"{m['slug']}_long.fif", m["context_s"],
                                passband, seed, None, name, say)
    return {"seconds": seconds, "window_s": window_s, "rows": rows}


def _drift_row(run_dir: Path, st: Any, seconds: float, window_s: float, path: Path,
               context: float, passband: tuple[float, float] | None, seed: int,
               sampling: dict[str, Any] | None, name: str, say: Callable[[str], None]
               ) -> dict[str, Any]:
    """Generate ``seconds`` with the model of ``run_dir`` into ``path``; its drift."""
    from neuroseq.evaluation import fidelity
    from neuroseq.generation.recording import read_generated, to_store_units

    say(f"drift: generating {seconds:g} s with {name}")
    t = time.perf_counter()
    generate_to_fif(run_dir, st, seconds, path, context=context, seed=seed, sampling=sampling)
    rec, side = read_generated(path)
    x = to_store_units(rec, side, st).data.astype(np.float64)
    row = fidelity.drift(x, st.sfreq(st.ids[0]), window_s=window_s,
                         bands=fidelity.bands_within(passband))
    row["generate_s"] = round(time.perf_counter() - t, 1)
    return row
