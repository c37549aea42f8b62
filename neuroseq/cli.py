"""The ``neuroseq`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from neuroseq import __version__
from neuroseq.errors import NeuroseqError


class _Group(click.Group):
    """Turns neuroseq errors into one clear line and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):  # noqa: D102
        try:
            return super().invoke(ctx)
        except NeuroseqError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="neuroseq")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """neuroseq: MEG and EEG as a language."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("neuroseq").setLevel(level)


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--subject", multiple=True, help="BIDS subject(s) to include.")
@click.option("--task", multiple=True, help="BIDS task(s) to include.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(path: str, subject: tuple[str, ...], task: tuple[str, ...], as_json: bool) -> None:
    """Channels by kind, sampling rate, duration and event counts of a file or BIDS root."""
    from neuroseq.data.readers import find_recordings, read_recording
    from neuroseq.summary import format_recording, recording_summary

    sources = find_recordings(path, subjects=list(subject) or None, tasks=list(task) or None) \
        if Path(path).is_dir() and not path.rstrip("/").endswith(".ds") else [path]
    summaries = [recording_summary(read_recording(s)) for s in sources]
    if as_json:
        click.echo(json.dumps(summaries, indent=1, default=str))
        return
    if len(summaries) > 1:
        click.echo(f"{path}: {len(summaries)} recordings\n")
    click.echo("\n\n".join(format_recording(s) for s in summaries))


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "-o", required=True, help="Store path or fsspec URL (…/store.zarr).")
@click.option("--sfreq", type=float, default=None, help="Resample every recording to this rate.")
@click.option("--l-freq", type=float, default=None, help="High-pass edge (Hz).")
@click.option("--h-freq", type=float, default=None, help="Low-pass edge (Hz).")
@click.option("--notch", type=float, multiple=True, help="Notch frequencies (Hz).")
@click.option("--scale/--no-scale", default=True, show_default=True,
              help="Robust scaling (median/IQR per channel) fitted on the training split.")
@click.option("--clip", type=float, default=None, help="Clip to ±CLIP robust units.")
@click.option("--split", type=click.Choice(["time", "subject", "none"]), default="time",
              show_default=True, help="How to split each recording.")
@click.option("--n-val", type=int, default=4, show_default=True,
              help="time split: trials per condition in validation (and in test).")
@click.option("--subject", multiple=True, help="BIDS subject(s) to include.")
@click.option("--task", multiple=True, help="BIDS task(s) to include.")
@click.option("--n-jobs", type=int, default=1, show_default=True)
@click.option("--compression", type=click.Choice(["none", "lz4", "zstd"]), default="none",
              show_default=True)
@click.option("--on-flat", type=click.Choice(["raise", "drop"]), default="raise",
              show_default=True)
@click.option("--overwrite", is_flag=True)
def prepare(inputs: tuple[str, ...], out: str, sfreq: float | None, l_freq: float | None,
            h_freq: float | None, notch: tuple[float, ...], scale: bool, clip: float | None,
            split: str, n_val: int, subject: tuple[str, ...], task: tuple[str, ...],
            n_jobs: int, compression: str, on_flat: str, overwrite: bool) -> None:
    """Prepare files, directories or BIDS roots into a zarr store."""
    from neuroseq.data import preprocess as P
    from neuroseq.data.splits import SplitSpec
    from neuroseq.data.store import prepare as _prepare

    steps: list[P.Step] = []
    if l_freq is not None or h_freq is not None:
        steps.append(P.BandPass(l_freq, h_freq))
    if notch:
        steps.append(P.Notch(list(notch)))
    if sfreq:
        steps.append(P.Resample(sfreq))
    if scale:
        steps.append(P.RobustScale())
    if clip is not None:
        steps.append(P.Clip(clip))
    spec = {"time": SplitSpec("time", {"n_val": n_val, "n_test": n_val}),
            "subject": SplitSpec("subject"), "none": SplitSpec("none")}[split]
    store = _prepare(list(inputs), out, pipeline=P.Pipeline(steps) if steps else None,
                     split=spec, n_jobs=n_jobs, compression=compression, overwrite=overwrite,
                     bids_filters={"subjects": list(subject) or None,
                                   "tasks": list(task) or None},
                     on_flat=on_flat)
    click.echo(repr(store))
    idx = store.index
    table = idx.assign(duration_s=(idx["n_samples"] / idx["sfreq"]).round(1))
    click.echo(table[["id", "subject", "session", "task", "n_channels", "sfreq", "duration_s",
                      "n_events"]].to_string(index=False))
    if store.split is not None:
        secs = ", ".join(f"{k} {v:.1f} s" for k, v in store.split.summary().items())
        click.echo(f"split ({spec.method}): {secs}; sha256 {store.split.hash[:16]}…")


@main.command()
@click.option("--modality", type=click.Choice(["meg", "eeg"]), default="meg", show_default=True)
@click.option("--duration", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option("--sfreq", type=float, default=250.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--conditions", default="face,house,checker", show_default=True,
              help="Comma-separated condition names.")
@click.option("--background", type=click.Choice(["sources", "mvar"]), default="sources",
              show_default=True, help="MEG background: dipole sources, or the MVAR model fitted "
                                      "to real MEG (needs osl-ephys).")
@click.option("--subject", default="01", show_default=True)
@click.option("--out", "-o", required=True, help="Output .fif file.")
@click.option("--psd", type=click.Path(), default=None, help="Also save a PSD plot (PNG).")
def simulate(modality: str, duration: float, sfreq: float, seed: int, conditions: str,
             background: str, subject: str, out: str, psd: str | None) -> None:
    """Simulate MEG (306-channel MEGIN geometry) or EEG with evoked responses, to .fif."""
    from neuroseq.data import simulate as S

    conds = tuple(c for c in conditions.split(",") if c)
    if modality == "meg":
        rec = S.simulate_meg(duration, sfreq, seed=seed, conditions=conds, subject=subject,
                             background=background)
    else:
        rec = S.simulate_eeg(duration, sfreq, seed=seed, conditions=conds, subject=subject)
    rec.save_fif(out, overwrite=True)
    click.echo(f"{rec}\nwritten to {out}")
    if psd:
        import matplotlib
        import mne

        matplotlib.use("Agg")
        with mne.utils.use_log_level("error"):
            spectrum = rec.to_raw().compute_psd(fmax=min(100.0, sfreq / 2))
            fig = spectrum.plot(show=False)
        fig.suptitle(f"simulated {modality.upper()} (seed {seed}): Welch PSD")
        fig.savefig(psd, dpi=100)
        click.echo(f"PSD plot: {psd}")


@main.command()
@click.option("--out", "-o", default="neuroseq_quickstart", show_default=True,
              help="Output directory.")
@click.option("--simulated", is_flag=True, help="Use simulated MEG even if the sample EEG is "
                                                "installed.")
@click.option("--n-jobs", type=int, default=2, show_default=True)
@click.option("--profile", type=click.Choice(["default", "smoke", "prepare"]),
              default="default", show_default=True,
              help="default: the full pipeline (~10 min on 2 CPU cores); smoke: the same with "
                   "a few steps (checks); prepare: the data stage only.")
def quickstart(out: str, simulated: bool, n_jobs: int, profile: str) -> None:
    """Real sample EEG (or simulated MEG) → store → GPT2MEG and baselines → generated data →
    evaluation → report.html."""
    from neuroseq import datasets
    from neuroseq import quickstart as qs

    if not simulated and not datasets.has_sample_eeg():
        click.echo("The real sample EEG is not installed; using simulated MEG instead. For the "
                   f"real data: {datasets._INSTALL['pylossless']}")
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


def _register() -> None:
    from neuroseq.cli_eegpt import finetune, sweep
    from neuroseq.cli_evaluate import evaluate, report
    from neuroseq.cli_gpt2meg import forecast, generate, pretrain
    from neuroseq.cli_tokenize import tokenize

    for cmd in (tokenize, pretrain, generate, forecast, evaluate, report, finetune, sweep):
        main.add_command(cmd)


_register()

if __name__ == "__main__":
    main()
