"""Compare generative models on one store: train → forecast → generate → evaluate → report.

This is the second half of ``neuroseq quickstart`` (:mod:`neuroseq.experiments.quickstart`
prepares the store).  Then the :data:`MODELS` — three tiny GPT2MEGs (paper architecture, with
extensions, with channel mixing), a tiny WaveNet and the per-channel and multivariate linear
ARs — are trained on its train split (the μ-law tokenizer is fitted there too), and
:data:`SAMPLED_VARIANTS` add rows that sample a trained model differently;
each generates ``seconds`` of signal seeded with the test split's first context and following
its real condition timeline; forecasting is scored on the test split; everything is judged
against the real data (with the held-out ceiling and the controls) and written to one
``report.html``.  Sizes (:data:`PROFILES`) keep the default run near 12 minutes on 2 CPU cores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroseq.atomic import write_json_atomic, write_text_atomic
from neuroseq.log import logger

#: training steps per model and seconds per profile.  "default" (≈ 12 min on 2 cores) gives
#: every gradient-trained model about the same CPU time (≈ 75 s on the reference 2-core machine;
#: the measured seconds are in the summary's ``timings_s``); the linear ARs are closed-form fits.
#: "smoke" is for tests.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"steps": {"gpt2meg-paper": 220, "gpt2meg-ext": 170, "gpt2meg-mix": 110,
                          "wavenet": 380},
                "seconds": 60.0, "batch_size": 2, "forecast_windows": 64, "hmm_states": 6,
                "hmm_pca": 20, "val_batches": 40},
    "smoke": {"steps": {"gpt2meg-paper": 6, "gpt2meg-ext": 6, "gpt2meg-mix": 4, "wavenet": 4},
              "seconds": 12.0, "batch_size": 1, "forecast_windows": 4, "hmm_states": 3,
              "hmm_pca": 6, "val_batches": 4},
}

_EXT = {"kind": "gpt2meg", "preset": "tiny", "local_conv": 8, "value_embedding": True}

#: the compared models: row name → (``slug`` for files, config overrides).  GPT2MEG as in the
#: paper; with the two extensions of ``configs/gpt2meg_tiny.yaml`` (local convolution, value
#: embedding); and with those plus attention across channels (``channel_mix``).
MODELS: dict[str, dict[str, Any]] = {
    "GPT2MEG (paper)": {"slug": "gpt2meg-paper", "model": {"kind": "gpt2meg", "preset": "tiny"},
                        "data": {"window": 129}, "optim": {"lr": 2e-3, "warmup_steps": 30}},
    "GPT2MEG + conv, value": {"slug": "gpt2meg-ext", "model": _EXT, "data": {"window": 129},
                              "optim": {"lr": 3e-3, "warmup_steps": 30}},
    "GPT2MEG + channel mix": {"slug": "gpt2meg-mix", "model": _EXT | {"channel_mix": True},
                              "data": {"window": 129}, "optim": {"lr": 3e-3, "warmup_steps": 30}},
    "WaveNet": {"slug": "wavenet", "model": {"kind": "wavenet", "preset": "tiny"},
                "data": {"window": 65}, "optim": {"lr": 1e-3, "warmup_steps": 20}},
    "linear AR (per channel)": {"slug": "linear-ar", "data": {"window": 257},
                                "model": {"kind": "linear_ar", "order": 20, "mode": "channel"}},
    "linear AR (multivariate)": {"slug": "mvar", "data": {"window": 257},
                                 "model": {"kind": "linear_ar", "order": 20,
                                           "mode": "multivariate"}},
}

#: extra rows: a trained model of :data:`MODELS` generating with other sampling settings
#: (``generate_to_fif``'s ``sampling``), and the slug of its file.  Coupled channels: the
#: channel-independent GPT2MEG's draws correlated like the real innovations (see
#: :mod:`neuroseq.generation.sampler`).
SAMPLED_VARIANTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "GPT2MEG + conv, value, coupled channels": ("GPT2MEG + conv, value",
                                                {"couple_channels": True},
                                                "gpt2meg-ext-coupled"),
}


def generator_config(store: Path, conditions: Any, spec: dict[str, Any], steps: int,
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


def context_seconds(run: Path) -> float:
    """Seconds of real context a run's model reads (its ``context`` tokens; 128 if it has none)."""
    from neuroseq import systems

    model, _, meta = systems.load_run(run)
    return int(getattr(model, "context", 128)) / float(meta["sfreq"])


def generate_to_fif(run: Path, store: Any, seconds: float, path: Path, *, context: float,
                    seed: int = 0, sampling: dict[str, Any] | None = None,
                    split: str = "test") -> Path:
    """Generate ``seconds`` with the model of ``run`` from the first ``context`` seconds of
    ``split``, following the real condition timeline; save ``path`` (.fif) and its sidecar.
    ``sampling``: :class:`~neuroseq.generation.sampler.SamplingConfig` fields (default: its
    defaults, the paper's top-p 0.8), and ``couple_channels`` (see
    :func:`~neuroseq.generation.recording.generate_recording`)."""
    import torch

    from neuroseq import systems
    from neuroseq.generation.recording import generate_recording, write_sidecar
    from neuroseq.generation.sampler import SamplingConfig

    model, tok, meta = systems.load_run(run)
    kw = dict(sampling or {})
    couple = bool(kw.pop("couple_channels", False))
    with torch.inference_mode():
        rec = generate_recording(model, tok, meta, store, seconds, conditions="real",
                                 split=split, context_seconds=context,
                                 cfg=SamplingConfig(**{"seed": seed} | kw),
                                 couple_channels=couple)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec.save_fif(str(path), overwrite=True)
    write_sidecar(rec, path, store=str(Path(store.path).resolve()))
    return path


def run_pipeline(out: str | Path, store: str | Path, conditions: Any, *,
                 profile: str = "default", seed: int = 0,
                 passband: tuple[float, float] | None = None,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, generate, evaluate and report into ``out``; returns a summary.

    ``passband`` is the band the real data were filtered to (metrics inside it, the rest as
    out-of-band excess); by default the store's band-pass, if any.

    ``echo`` receives one line per stage (the CLI prints them; progress bars run inside).
    """

    from neuroseq import systems
    from neuroseq.data.store import Store
    from neuroseq.evaluation import forecasting as fc
    from neuroseq.evaluation.headline import headline_table
    from neuroseq.evaluation.judge import judge, write_metrics
    from neuroseq.evaluation.report import build_report

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
        steps = p["steps"].get(spec["slug"], 0)
        say(f"training {name} ({f'{steps} steps' if steps else 'closed form'})")
        cfg = generator_config(Path(store), conditions, spec, steps, p["batch_size"],
                               p["val_batches"])
        cfg["train"]["seed"] = seed
        runs[name] = systems.run(cfg, "pretrain", out / "runs" / spec["slug"], resume=False)
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
        if ctx_seconds is None:
            ctx_seconds = context_seconds(run)
        path = out / "generated" / f"{MODELS[name]['slug']}.fif"
        generated[name] = str(generate_to_fif(run, st, p["seconds"], path,
                                              context=ctx_seconds, seed=seed))
        timings[f"generate {name}"] = round(time.perf_counter() - t, 1)
        logger.info("generated with %s in %.1f s", name, timings[f"generate {name}"])
    for name, (base, sampling, slug) in SAMPLED_VARIANTS.items():
        t = time.perf_counter()
        say(f"generating {p['seconds']:g} s with {name}")
        path = out / "generated" / f"{slug}.fif"
        generated[name] = str(generate_to_fif(runs[base], st, p["seconds"], path,
                                              context=ctx_seconds, seed=seed,
                                              sampling=sampling))
        timings[f"generate {name}"] = round(time.perf_counter() - t, 1)
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
