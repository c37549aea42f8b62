"""Compare generative models on one store: train → forecast → generate → evaluate → report.

This is the second half of ``neuroseq quickstart`` (:mod:`neuroseq.experiments.quickstart`
prepares the store).  Then: a tiny GPT2MEG, a tiny WaveNet
and the linear AR are trained on its train split (the μ-law tokenizer is fitted there too);
each generates ``seconds`` of signal seeded with the test split's first context and following
its real condition timeline; forecasting is scored on the test split; everything is judged
against the real data (with the held-out ceiling and the controls) and written to one
``report.html``.  Sizes (:data:`PROFILES`) keep the default run near 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroseq.atomic import write_json_atomic, write_text_atomic
from neuroseq.log import logger

#: steps and seconds per profile: "default" (≈ 10 min on 2 cores) and "smoke" (tests)
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"gpt_steps": 450, "wavenet_steps": 250, "seconds": 60.0, "batch_size": 2,
                "forecast_windows": 64, "hmm_states": 6, "hmm_pca": 20, "val_batches": 100},
    "smoke": {"gpt_steps": 6, "wavenet_steps": 4, "seconds": 12.0, "batch_size": 1,
              "forecast_windows": 4, "hmm_states": 3, "hmm_pca": 6, "val_batches": 4},
}

MODELS = {
    "GPT2MEG": {"model": {"kind": "gpt2meg", "preset": "tiny"}, "data": {"window": 129},
                "optim": {"lr": 2e-3, "warmup_steps": 30}},
    "WaveNet": {"model": {"kind": "wavenet", "preset": "tiny"}, "data": {"window": 65},
                "optim": {"lr": 1e-3, "warmup_steps": 20}},
    "linear AR": {"model": {"kind": "linear_ar", "order": 20, "mode": "channel"},
                  "data": {"window": 257}},
}


def _config(store: Path, conditions: Any, spec: dict[str, Any], steps: int,
            batch_size: int, val_batches: int | None = None) -> dict[str, Any]:
    from neuroseq.config import merge
    from neuroseq.systems import defaults

    return merge(defaults("gpt2meg"), {
        "model": spec["model"],
        "data": {"store": str(store), "condition_map": conditions, "batch_size": batch_size,
                 "stride": spec["data"]["window"] // 2} | spec["data"],
        "optim": spec.get("optim", {}),
        "train": {"max_steps": max(steps, 1), "val_check_interval": max(steps, 1),
                  "checkpoint_every_n_steps": 100, "log_every_n_steps": 10,
                  "limit_val_batches": val_batches, "loggers": ["csv"]}})


def run_pipeline(out: str | Path, store: str | Path, conditions: Any, *,
                 profile: str = "default", seed: int = 0,
                 passband: tuple[float, float] | None = None,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, generate, evaluate and report into ``out``; returns a summary.

    ``passband`` is the band the real data were filtered to (metrics inside it, the rest as
    out-of-band excess); by default the store's band-pass, if any.

    ``echo`` receives one line per stage (the CLI prints them; progress bars run inside).
    """
    import torch

    from neuroseq import systems
    from neuroseq.data.store import Store
    from neuroseq.evaluation import forecasting as fc
    from neuroseq.evaluation.headline import headline_table
    from neuroseq.evaluation.judge import judge, write_metrics
    from neuroseq.evaluation.report import build_report
    from neuroseq.generation.recording import generate_recording, write_sidecar
    from neuroseq.generation.sampler import SamplingConfig

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}.")
    p = PROFILES[profile]
    out, t0 = Path(out), time.perf_counter()

    def say(msg: str) -> None:
        logger.info(msg)
        if echo is not None:
            echo(f"[{time.perf_counter() - t0:6.0f} s] {msg}")

    timings: dict[str, float] = {}
    runs: dict[str, Path] = {}
    for name, spec in MODELS.items():
        t = time.perf_counter()
        steps = p["gpt_steps"] if name == "GPT2MEG" else p["wavenet_steps"]
        say(f"training {name} ({'closed form' if name == 'linear AR' else f'{steps} steps'})")
        cfg = _config(Path(store), conditions, spec, steps, p["batch_size"], p["val_batches"])
        cfg["train"]["seed"] = seed
        runs[name] = systems.run(cfg, "pretrain", out / "runs" / name.replace(" ", "_"),
                                 resume=False)
        timings[f"train {name}"] = round(time.perf_counter() - t, 1)
        logger.info("trained %s in %.1f s", name, timings[f"train {name}"])
    st = Store(store)
    t = time.perf_counter()
    say("forecasting on the test split")
    rows, curves, _ = fc.compare({k: systems.load_run(r) for k, r in runs.items()}, horizon=10,
                                 max_windows=p["forecast_windows"])
    write_json_atomic(out / "forecast.json", {
        "next_step": rows, "multi_step_mse": {k: v.tolist() for k, v in curves.items()}})
    timings["forecast"] = round(time.perf_counter() - t, 1)
    logger.info("forecasting scored in %.1f s", timings["forecast"])
    generated = {}
    ctx_seconds = None  # one seed context for all models (GPT2MEG's), so they continue the
    for name, run in runs.items():  # same real stretch from the same sample

        t = time.perf_counter()
        say(f"generating {p['seconds']:g} s with {name} (real condition timeline)")
        model, tok, meta = systems.load_run(run)
        if ctx_seconds is None:
            ctx_seconds = int(getattr(model, "context", 128)) / float(meta["sfreq"])
        with torch.inference_mode():
            rec = generate_recording(model, tok, meta, st, p["seconds"], conditions="real",
                                     split="test", context_seconds=ctx_seconds,
                                     cfg=SamplingConfig(seed=seed))
        path = out / "generated" / f"{name.replace(' ', '_')}.fif"
        path.parent.mkdir(parents=True, exist_ok=True)
        rec.save_fif(str(path), overwrite=True)
        write_sidecar(rec, path, store=str(Path(store).resolve()))
        generated[name] = str(path)
        timings[f"generate {name}"] = round(time.perf_counter() - t, 1)
        logger.info("generated with %s in %.1f s", name, timings[f"generate {name}"])
    t = time.perf_counter()
    say("evaluating generated vs real (spectra, covariance, evoked, TDE-HMM, decoding)")
    real, res, signals = judge(generated, store=str(store), hmm_states=p["hmm_states"],
                               hmm_pca=p["hmm_pca"], passband=passband)
    write_metrics(res, out / "metrics.json", {"forecast_next_step": rows})
    timings["evaluate"] = round(time.perf_counter() - t, 1)
    logger.info("evaluated in %.1f s", timings["evaluate"])
    t = time.perf_counter()
    say("writing the report")
    report = build_report(res, real, signals, out, runs=runs,
                          forecast_json=out / "forecast.json",
                          title="neuroseq quickstart: GPT2MEG vs baselines vs real")
    timings["report"] = round(time.perf_counter() - t, 1)
    table = headline_table(res["rows"], res["details"].get("not_applicable"),
                           res["details"].get("passband_hz"))
    write_text_atomic(out / "headline.md", table + "\n\n" + fc.table(rows, curves) + "\n")
    return {"report": str(report), "metrics": str(out / "metrics.json"), "headline": table,
            "forecast": fc.table(rows, curves), "timings_s": timings,
            "seconds": round(time.perf_counter() - t0, 1)}
