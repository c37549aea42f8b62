"""``neuroseq quickstart`` and ``neuroseq sweep``: scripted runs of several systems."""

from __future__ import annotations

import click


@click.command()
@click.option("--out", "-o", default="neuroseq_quickstart", show_default=True,
              help="Output directory.")
@click.option("--simulated", is_flag=True, help="Use simulated MEG even if the sample EEG is "
                                                "installed.")
@click.option("--n-jobs", type=int, default=2, show_default=True,
              help="Recordings prepared in parallel (processes).")
@click.option("--profile", type=click.Choice(["default", "smoke", "prepare"]),
              default="default", show_default=True,
              help="default: the full pipeline (~10 min on 2 CPU cores); smoke: the same with "
                   "a few steps (checks); prepare: the data stage only.")
def quickstart(out: str, simulated: bool, n_jobs: int, profile: str) -> None:
    """Real sample EEG (or simulated MEG) → store → GPT2MEG and baselines → generated data →
    evaluation → report.html."""
    from neuroseq.data import samples
    from neuroseq.experiments import quickstart as qs

    if not simulated and not samples.has_sample_eeg():
        click.echo("The real sample EEG is not installed; using simulated MEG instead. For the "
                   f"real data: {samples.INSTALL['pylossless']}")
    s = qs.run(out, simulated=True if simulated else None, n_jobs=n_jobs,
               profile=None if profile == "prepare" else profile, echo=click.echo)
    click.echo(f"\nneuroseq quickstart: {s['data']}")
    for r in s["recordings"]:
        click.echo(f"  {r['id']:<28} {r['n_channels']} ch  {r['sfreq']:g} Hz  "
                   f"{r['n_samples'] / r['sfreq']:.0f} s  {r['n_events']} events")
    click.echo(f"  pipeline: {' -> '.join(s['pipeline'])}")
    click.echo("  split (s): " + ", ".join(f"{k} {v}" for k, v in s["split_seconds"].items())
               + f"  sha256 {s['split_sha256'][:12]}…")
    click.echo(f"  training windows: {s['train_windows']} of shape {s['window_shape']}, "
               f"conditions {s['conditions']}")
    click.echo(f"  store:  {s['store']}\n  figure: {s['psd_figure']}")
    if "results" in s:
        p = s["results"]
        click.echo("\nforecasting on the test split:\n" + p["forecast"])
        click.echo("\ngenerated vs real (test split):\n" + p["headline"])
        click.echo(f"\nreport: {p['report']}\nmetrics: {p['metrics']}\n  stage times (s): "
                   + ", ".join(f"{k} {v}" for k, v in p["timings_s"].items()))
    click.echo(f"  done in {s['seconds']} s (summary.json in {out})")


@click.command()
@click.option("--config", "config", type=click.Path(exists=True), required=True,
              help="Sweep configuration (e.g. configs/eegpt_sweep_tiny.yaml).")
@click.option("--out", "-o", default="runs/eegpt_sweep", show_default=True,
              help="Sweep directory; finished runs in it are resumed.")
@click.argument("overrides", nargs=-1)
def sweep(config: str, out: str, overrides: tuple[str, ...]) -> None:
    """Scaling sweep: pretrain EEGPT ETEs over sizes × data fractions, fine-tune each, fit power
    laws of the pretraining loss and plot them (OUT/sweep.{json,md,png})."""
    from neuroseq.experiments.eegpt_sweep import load_sweep, run_sweep, table

    summary = run_sweep(load_sweep(config, overrides), out)
    click.echo(table(summary))
    click.echo(f"sweep directory: {out} (sweep.json, sweep.md, sweep.png)")
