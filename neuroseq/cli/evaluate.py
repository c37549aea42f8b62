"""``neuroseq evaluate`` (metrics JSON) and ``neuroseq report`` (HTML page + PNGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if not Path(path).exists():
            raise click.BadParameter(f"{what} {path!r} does not exist.")
        out[name] = path
    return out


def judge_options(f: Any) -> Any:
    """The options shared by ``evaluate`` and ``report``: the files, the store, the HMM, the
    passband."""
    for opt in reversed((
            click.option("--generated", "-g", "generated", multiple=True, required=True,
                         help="NAME=gen.fif written by `neuroseq generate`; repeat per model."),
            click.option("--store", default=None,
                         help="Store holding the real data (default: from the sidecar JSON)."),
            click.option("--hmm-states", type=int, default=6, show_default=True,
                         help="TDE-HMM states (paper: 12)."),
            click.option("--hmm-pca", type=int, default=20, show_default=True,
                         help="PCA components after time-delay embedding (paper: 80)."),
            click.option("--band", nargs=2, type=float, default=None, metavar="LO HI",
                         help="The real data's passband in Hz (default: the store's band-pass, "
                         "if it applied one): spectral distances inside it, excess power "
                         "outside it reported on its own."))):
        f = opt(f)
    return f


def _judged(generated: tuple[str, ...], store: str | None, hmm_states: int, hmm_pca: int,
            band: tuple[float, float] | None) -> tuple[Any, dict, dict]:
    from neuroseq.evaluation.judge import judge

    return judge(_pairs(generated, "generated file"), store=store, hmm_states=hmm_states,
                 hmm_pca=hmm_pca, passband=band)


def _headline(res: dict) -> str:
    from neuroseq.evaluation.headline import headline_table

    return headline_table(res["rows"], res["details"].get("not_applicable"),
                          res["details"].get("passband_hz"))


@click.command()
@judge_options
@click.option("--out", "-o", default="metrics.json", show_default=True,
              help="Output JSON of every metric.")
def evaluate(generated: tuple[str, ...], store: str | None, hmm_states: int, hmm_pca: int,
             band: tuple[float, float] | None, out: str) -> None:
    """Judge generated recordings against the real data they continue; write metrics JSON."""
    from neuroseq.evaluation.judge import write_metrics

    _, res, _ = _judged(generated, store, hmm_states, hmm_pca, band)
    write_metrics(res, out)
    click.echo(_headline(res))
    click.echo(f"metrics -> {out}")


@click.command()
@judge_options
@click.option("--run", "runs", multiple=True, help="NAME=RUN directory whose training curve "
              "is drawn; repeatable.")
@click.option("--forecast", "forecast_json", type=click.Path(exists=True), default=None,
              help="forecast.json of `neuroseq forecast` (forecasting curves).")
@click.option("--out", "-o", default="report", show_default=True, help="Output directory.")
def report(generated: tuple[str, ...], store: str | None, hmm_states: int, hmm_pca: int,
           band: tuple[float, float] | None, runs: tuple[str, ...], forecast_json: str | None,
           out: str) -> None:
    """Evaluate and write report.html (MNE Report), PNG figures and metrics.json into OUT."""
    from neuroseq.evaluation.judge import write_metrics
    from neuroseq.evaluation.report import build_report

    real, res, signals = _judged(generated, store, hmm_states, hmm_pca, band)
    write_metrics(res, Path(out) / "metrics.json")
    path = build_report(res, real, signals, out, runs={k: Path(v) for k, v in _pairs(
        runs, "run directory").items()}, forecast_json=forecast_json and Path(forecast_json))
    click.echo(_headline(res))
    click.echo(f"report -> {path}")
