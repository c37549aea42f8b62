"""``neuroseq evaluate`` (metrics JSON) and ``neuroseq report`` (HTML page + PNGs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from neuroseq.errors import DataError


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


def judge(generated: dict[str, str], *, store: str | None = None, hmm_states: int = 6,
          hmm_pca: int = 20, conditions: list[str] | None = None) -> tuple[Any, dict, dict]:
    """Read generated ``.fif`` files and their sidecars, cut the real data, evaluate.

    Returns ``(real_segments, result, signals)``; all generated files must continue the same
    recording from the same sample.
    """
    from neuroseq.data.store import Store
    from neuroseq.evaluation.dynamics import TDEHMM
    from neuroseq.evaluation.suite import evaluate, real_segments
    from neuroseq.generation.recording import read_generated

    recs, sides = {}, {}
    for name, path in generated.items():
        recs[name], sides[name] = read_generated(path)
    seeds = {(s["recording"], s["start_sample"]) for s in sides.values()}
    if len(seeds) > 1:
        raise DataError(f"the generated files continue different real stretches {seeds}; "
                        "generate them from the same recording and split to compare them.")
    rid, start = seeds.pop()
    side = next(iter(sides.values()))
    st = Store(store or side.get("store") or "")
    n = min(r.n_times for r in recs.values())
    real = real_segments(st, rid, int(start), n)
    hmm = TDEHMM(n_states=hmm_states, n_pca=hmm_pca)
    res = evaluate(real, recs, conditions=conditions, hmm=hmm)
    return real, res, {k: r.data[:, :n].astype(np.float64) for k, r in recs.items()}


def _jsonable(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: {m: (float(v) if isinstance(v, int | float | np.floating) else v)
                for m, v in r.items() if not isinstance(v, np.ndarray)} for k, r in rows.items()}


def write_metrics(res: dict[str, Any], path: str | Path, extra: dict | None = None) -> Path:
    """The flat metrics table (plus ``extra``) as JSON."""
    out = {"metrics": _jsonable(res["rows"]), "conditions": res["details"]["conditions"],
           "n_samples": res["details"]["n_samples"]} | (extra or {})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=1))
    return Path(path)


_gen_opt = click.option("--generated", "-g", "generated", multiple=True, required=True,
                        help="NAME=gen.fif written by `neuroseq generate`; repeat per model.")
_store_opt = click.option("--store", default=None,
                          help="Store holding the real data (default: from the sidecar JSON).")
_hmm_opt = click.option("--hmm-states", type=int, default=6, show_default=True,
                        help="TDE-HMM states (paper: 12).")
_pca_opt = click.option("--hmm-pca", type=int, default=20, show_default=True,
                        help="PCA components after time-delay embedding (paper: 80).")


@click.command()
@_gen_opt
@_store_opt
@_hmm_opt
@_pca_opt
@click.option("--out", "-o", default="metrics.json", show_default=True)
def evaluate(generated: tuple[str, ...], store: str | None, hmm_states: int, hmm_pca: int,
             out: str) -> None:
    """Judge generated recordings against the real data they continue; write metrics JSON."""
    from neuroseq.evaluation.suite import headline_table

    _, res, _ = judge(_pairs(generated, "generated file"), store=store, hmm_states=hmm_states,
                      hmm_pca=hmm_pca)
    write_metrics(res, out)
    click.echo(headline_table(res["rows"]))
    click.echo(f"metrics -> {out}")


@click.command()
@_gen_opt
@_store_opt
@_hmm_opt
@_pca_opt
@click.option("--run", "runs", multiple=True, help="NAME=RUN directory whose training curve "
              "is drawn; repeatable.")
@click.option("--forecast", "forecast_json", type=click.Path(exists=True), default=None,
              help="forecast.json of `neuroseq forecast` (forecasting curves).")
@click.option("--out", "-o", default="report", show_default=True, help="Output directory.")
def report(generated: tuple[str, ...], store: str | None, hmm_states: int, hmm_pca: int,
           runs: tuple[str, ...], forecast_json: str | None, out: str) -> None:
    """Evaluate and write report.html (MNE Report), PNG figures and metrics.json into OUT."""
    from neuroseq.evaluation.report import build_report
    from neuroseq.evaluation.suite import headline_table

    real, res, signals = judge(_pairs(generated, "generated file"), store=store,
                               hmm_states=hmm_states, hmm_pca=hmm_pca)
    write_metrics(res, Path(out) / "metrics.json")
    path = build_report(res, real, signals, out, runs={k: Path(v) for k, v in _pairs(
        runs, "run directory").items()}, forecast_json=forecast_json and Path(forecast_json))
    click.echo(headline_table(res["rows"]))
    click.echo(f"report -> {path}")
