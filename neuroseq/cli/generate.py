"""``neuroseq generate`` and ``neuroseq forecast``: use a trained generative run."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--checkpoint", "run_dir", required=True, type=click.Path(exists=True),
              help="Run directory of `neuroseq pretrain`.")
@click.option("--seconds", type=float, required=True, help="Seconds to generate.")
@click.option("--out", "-o", required=True, help="Output .fif (or .npy); a directory when "
              "several recordings are generated (repeated --seed or --recording).")
@click.option("--conditions", type=click.Choice(["real", "synthetic", "none"]), default="real",
              show_default=True, help="Condition timeline: the seed recording's events, rest "
              "then random classes, or none.")
@click.option("--store", default=None, help="Store to take the seed context from (default: "
              "the one the model was trained on).")
@click.option("--split", default="test", show_default=True,
              help="Split of the store the seed context is taken from (train, val or test).")
@click.option("--recording", multiple=True, help="Recording id of the seed context, subject "
              "and real timeline (default: the store's first); repeat to generate several "
              "in one batch.")
@click.option("--temperature", type=float, default=1.0, show_default=True,
              help="Softmax temperature of the token draws (< 1 sharper, > 1 flatter).")
@click.option("--top-p", type=float, default=0.8, show_default=True,
              help="Nucleus size (the paper's 0.8); 1 = no truncation, which long generations "
              "need: truncated sampling can lock a channel onto one token.")
@click.option("--top-k", type=int, default=None,
              help="Draw only among the K most likely tokens (default: no limit).")
@click.option("--min-p", type=float, default=None,
              help="Drop tokens less likely than MIN_P times the most likely one (0 < MIN_P < 1).")
@click.option("--couple-channels", is_flag=True,
              help="Correlate the channels' draws like the real innovations (Gaussian copula "
              "fitted on the store's train split); restores zero-lag spatial correlation that "
              "channel-independent models lose.")
@click.option("--shift", type=int, default=10, show_default=True,
              help="New tokens per sliding-window restart.")
@click.option("--seed", type=int, multiple=True, help="Sampling seed (default 0); repeat to "
              "generate several recordings in one batch (paired with --recording, or each "
              "with the one --recording).")
@click.option("--sink", type=int, default=0, show_default=True,
              help="Rolling-cache models (model.positions=rope): first positions never "
              "evicted.")
@click.option("--context-seconds", type=float, default=None,
              help="Seconds of real context to seed with (default: the model's context). Give "
              "every model the same value to judge their files together.")
@click.option("--units", type=click.Choice(["physical", "store"]), default="physical",
              show_default=True, help="physical: undo the store's scaling (fT, fT/cm, µV as "
              "the file says); store: the store's robust-scaled units.")
def generate(run_dir: str, seconds: float, out: str, conditions: str, store: str | None,
             split: str, recording: tuple[str, ...], temperature: float, top_p: float,
             top_k: int | None, min_p: float | None, couple_channels: bool, shift: int,
             seed: tuple[int, ...], sink: int, context_seconds: float | None,
             units: str) -> None:
    """Generate SECONDS of signal from a trained run, seeded with real context."""
    import numpy as np

    from neuroseq.data.store import Store
    from neuroseq.generation.recording import (
        generate_recording,
        generate_recordings,
        write_sidecar,
    )
    from neuroseq.generation.sampler import SamplingConfig
    from neuroseq.systems import load_run

    if min_p is not None and not 0 < min_p < 1:
        raise click.BadParameter(f"must be between 0 and 1, got {min_p}.", param_hint="--min-p")
    model, tok, meta = load_run(run_dir)
    if tok is None:
        raise click.UsageError(f"--checkpoint {run_dir} is a {meta.get('system')} "
                               f"{meta.get('stage')} run; generation needs a generative "
                               "pretraining run (GPT2MEG, WaveNet or linear AR).")
    seeds, recs = list(seed) or [0], list(recording)
    several = max(len(seeds), len(recs)) > 1
    if several and len(seeds) > 1 and len(recs) > 1 and len(seeds) != len(recs):
        raise click.UsageError(f"{len(seeds)} --seed and {len(recs)} --recording: give as "
                               "many of each, or one of either.")
    if several and Path(out).suffix in (".fif", ".npy"):
        raise click.BadParameter("several recordings are generated; give a directory.",
                                 param_hint="--out")
    if sink and not getattr(model, "supports_rolling", False):
        raise click.BadParameter("needs a model with a rolling cache (model.positions=rope).",
                                 param_hint="--sink")
    st = Store(store or meta["store"])
    cfg = SamplingConfig(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                         shift=shift, seed=seeds[0], sink=sink)
    common = {"conditions": conditions, "split": split, "units": units,
              "context_seconds": context_seconds, "couple_channels": couple_channels}
    if several:
        done = generate_recordings(model, tok, meta, st, seconds, recordings=recs or None,
                                   seeds=seeds, cfg=cfg, **common)
        Path(out).mkdir(parents=True, exist_ok=True)
        for i, rec in enumerate(done):
            step = next(s for s in reversed(rec.provenance) if s["step"] == "generate")
            path = str(Path(out) / f"gen_{i:02d}_{step['params']['recording']}_seed"
                                   f"{step['params']['seed']}.fif")
            rec.save_fif(path, overwrite=True)
            write_sidecar(rec, path, store=str(Path(store or meta["store"]).resolve()))
            click.echo(f"generated {seconds:g} s × {rec.n_channels} channels -> {path}")
        return
    rec = generate_recording(model, tok, meta, st, seconds, recording=(recs or [None])[0],
                             cfg=cfg, **common)
    if out.endswith(".npy"):
        np.save(out, rec.data)
    else:
        rec.save_fif(out, overwrite=True)
    write_sidecar(rec, out, store=str(Path(store or meta["store"]).resolve()))
    click.echo(f"generated {seconds:g} s × {rec.n_channels} channels "
               f"({len(rec.events)} condition events) -> {out}")


@click.command()
@click.option("--checkpoint", "runs", multiple=True, required=True,
              type=click.Path(exists=True), help="Run directory; repeat to compare several.")
@click.option("--horizon", type=int, default=20, show_default=True, help="Steps ahead.")
@click.option("--max-windows", type=int, default=128, show_default=True,
              help="Test windows used (evenly spaced).")
@click.option("--out", "-o", default=None, help="Directory for forecast.json/.md/.png "
              "(default: the first run's).")
def forecast(runs: tuple[str, ...], horizon: int, max_windows: int, out: str | None) -> None:
    """Next-step and multi-step forecasting on the test split, with repeat-last beside."""
    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.evaluation import forecasting as fc
    from neuroseq.systems import load_run

    loaded = {}
    for run in runs:
        model, tok, meta = load_run(run)
        loaded[f"{meta['model_kind']} ({Path(run).name})"] = (model, tok, meta)
    rows, curves, ds = fc.compare(loaded, horizon=horizon, max_windows=max_windows,
                                  multi_windows=max_windows // 2)
    dest = Path(out or runs[0])
    dest.mkdir(parents=True, exist_ok=True)
    md = fc.table(rows, curves)
    write_text_atomic(dest / "forecast.md", md + "\n")
    write_json_atomic(dest / "forecast.json", {
        "next_step": rows, "multi_step_mse": {k: v.tolist() for k, v in curves.items()},
        "test_windows": len(ds), "horizon": horizon})
    fc.plot(curves, dest / "forecast.png", ds.sfreq)
    click.echo(md)
    click.echo(f"\nwritten: {dest / 'forecast.json'}, {dest / 'forecast.png'}")
