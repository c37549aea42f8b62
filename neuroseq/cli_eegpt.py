"""``neuroseq finetune`` and ``neuroseq sweep`` (EEGPT)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click


def _config_out_overrides(what: str, out: str, out_help: str) -> Callable[[Any], Any]:
    """``--config`` (required), ``--out`` and trailing ``key=value`` overrides."""

    def wrap(f: Any) -> Any:
        f = click.argument("overrides", nargs=-1)(f)
        f = click.option("--out", "-o", default=out, show_default=True, help=out_help)(f)
        return click.option("--config", "config", type=click.Path(exists=True), required=True,
                            help=what)(f)

    return wrap


@click.command()
@_config_out_overrides("YAML configuration (e.g. configs/eegpt_finetune_tiny.yaml).",
                       "runs/eegpt_finetune", "Run directory; an existing one is resumed.")
def finetune(config: str, out: str, overrides: tuple[str, ...]) -> None:
    """Fine-tune EEGPT (ETE + task-shared electrode graph) on several tasks; print per-task
    balanced accuracy on the test data with chance beside it."""
    from neuroseq.config import load_config
    from neuroseq.eegpt_finetune import finetune as run

    cfg = load_config(config, overrides)
    if cfg["system"] != "eegpt":
        raise click.UsageError("finetune runs EEGPT configurations (system: eegpt).")
    res = json.loads((run(cfg, out) / "results.json").read_text())
    click.echo(f"{'task':<26} balanced acc   chance   test epochs")
    for t, v in res["tasks"].items():
        click.echo(f"{t:<26} {v['balanced_accuracy']:.3f}          {v['chance']:.3f}    "
                   f"{v['n_test']}")
    click.echo(f"mean {res['mean_balanced_accuracy']:.3f}  (mode {res['mode']}, pretrained "
               f"{res['pretrained'] or 'no'}, ETE {'frozen' if res['freeze_ete'] else 'tuned'})")
    click.echo(f"run directory: {out}")


@click.command()
@_config_out_overrides("Sweep configuration (e.g. configs/eegpt_sweep_tiny.yaml).",
                       "runs/eegpt_sweep", "Sweep directory; finished runs in it are resumed.")
def sweep(config: str, out: str, overrides: tuple[str, ...]) -> None:
    """Scaling sweep: pretrain EEGPT ETEs over sizes × data fractions, fine-tune each, fit power
    laws of the pretraining loss and plot them (OUT/sweep.{json,md,png})."""
    from neuroseq.eegpt_sweep import load_sweep, run_sweep, table

    summary = run_sweep(load_sweep(config, overrides), out)
    click.echo(table(summary))
    click.echo(f"sweep directory: {out} (sweep.json, sweep.md, sweep.png)")
