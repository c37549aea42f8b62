"""``neuroseq pretrain``, ``generate`` and ``forecast``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--config", "config", type=click.Path(exists=True), default=None,
              help="YAML configuration (see configs/).")
@click.option("--out", "-o", default=None,
              help="Run directory (default runs/<model kind>); an existing one is resumed.")
@click.option("--no-resume", is_flag=True, help="Start afresh even if the run has a checkpoint.")
@click.argument("overrides", nargs=-1)
def pretrain(config: str | None, out: str | None, no_resume: bool,
             overrides: tuple[str, ...]) -> None:
    """Pretrain a model; OVERRIDES are key.sub=value (e.g. data.store=PATH train.max_steps=50)."""
    from neuroseq.config import load_config
    from neuroseq.pretrain import pretrain as run

    cfg = load_config(config, overrides)
    if cfg["system"] == "eegpt":
        from neuroseq.eegpt_pretrain import pretrain_eegpt as run
    run_dir = run(cfg, out or f"runs/{cfg['model']['kind']}", resume=not no_resume)
    info = run_dir / "run.json"
    if info.exists():
        metrics = json.loads(info.read_text())["metrics"]
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
        click.echo(f"trained: {shown}")
    click.echo(f"run directory: {run_dir}")


@click.command()
@click.option("--checkpoint", "run_dir", required=True, type=click.Path(exists=True),
              help="Run directory of `neuroseq pretrain`.")
@click.option("--seconds", type=float, required=True, help="Seconds to generate.")
@click.option("--out", "-o", required=True, help="Output .fif (or .npy).")
@click.option("--conditions", type=click.Choice(["real", "synthetic", "none"]), default="real",
              show_default=True, help="Condition timeline: the seed recording's events, rest "
              "then random classes, or none.")
@click.option("--store", default=None, help="Store to take the seed context from (default: "
              "the one the model was trained on).")
@click.option("--split", default="test", show_default=True)
@click.option("--recording", default=None, help="Recording id of the seed (default: first).")
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--top-p", type=float, default=0.8, show_default=True)
@click.option("--top-k", type=int, default=None)
@click.option("--shift", type=int, default=10, show_default=True,
              help="New tokens per sliding-window restart.")
@click.option("--seed", type=int, default=0, show_default=True)
def generate(run_dir: str, seconds: float, out: str, conditions: str, store: str | None,
             split: str, recording: str | None, temperature: float, top_p: float,
             top_k: int | None, shift: int, seed: int) -> None:
    """Generate SECONDS of signal from a trained run, seeded with real context."""
    import numpy as np

    from neuroseq.data.store import Store
    from neuroseq.generation.recording import generate_recording, write_sidecar
    from neuroseq.generation.sampler import SamplingConfig
    from neuroseq.pretrain import load_run

    model, tok, meta = load_run(run_dir)
    st = Store(store or meta["store"])
    cfg = SamplingConfig(temperature=temperature, top_p=top_p, top_k=top_k, shift=shift,
                         seed=seed)
    rec = generate_recording(model, tok, meta, st, seconds, conditions=conditions, split=split,
                             recording=recording, cfg=cfg)
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
    from neuroseq.evaluation import forecasting as fc

    names = {}
    for run in runs:
        meta = json.loads((Path(run) / "meta.json").read_text()) if (
            Path(run) / "meta.json").exists() else {"model_kind": "run"}
        names[f"{meta['model_kind']} ({Path(run).name})"] = run
    rows, curves, ds = fc.compare(names, horizon=horizon, max_windows=max_windows,
                                  multi_windows=max_windows // 2)
    dest = Path(out or runs[0])
    dest.mkdir(parents=True, exist_ok=True)
    md = fc.table(rows, curves)
    (dest / "forecast.md").write_text(md + "\n")
    (dest / "forecast.json").write_text(json.dumps(
        {"next_step": rows, "multi_step_mse": {k: v.tolist() for k, v in curves.items()},
         "test_windows": len(ds), "horizon": horizon}, indent=1))
    fc.plot(curves, dest / "forecast.png", ds.sfreq)
    click.echo(md)
    click.echo(f"\nwritten: {dest / 'forecast.json'}, {dest / 'forecast.png'}")
