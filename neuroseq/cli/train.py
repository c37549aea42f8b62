"""``neuroseq pretrain`` and ``neuroseq finetune``: one stage of any registered system."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def stage_options(out_default: str) -> Callable[[Any], Any]:
    """``--config``, ``--out`` (default named in the help), ``--no-resume`` and trailing
    ``key.sub=value`` overrides: what every stage command takes."""

    def wrap(f: Any) -> Any:
        f = click.argument("overrides", nargs=-1)(f)
        f = click.option("--no-resume", is_flag=True,
                         help="Start afresh even if the run has a checkpoint.")(f)
        f = click.option("--out", "-o", default=None, help=f"Run directory (default "
                         f"{out_default}); an existing one is resumed.")(f)
        return click.option("--config", "config", type=click.Path(exists=True), default=None,
                            help="YAML configuration (see configs/); its `system:` picks the "
                            "system.")(f)

    return wrap


def _run(stage: str, config: str | None, out: str | None, no_resume: bool,
         overrides: tuple[str, ...]) -> Path:
    from neuroseq import systems

    cfg = systems.load_config(config, overrides)
    default = f"runs/{cfg['system']}_{stage}" if stage != "pretrain" else \
        f"runs/{cfg['model'].get('kind', cfg['system'])}"
    return systems.run(cfg, stage, out or default, resume=not no_resume)


def _print_summary(run_dir: Path) -> None:
    from neuroseq import systems

    for line in systems.summary(run_dir):
        click.echo(line)
    click.echo(f"run directory: {run_dir}")


@click.command()
@stage_options("runs/<model kind>")
@click.option("--stage", default="pretrain", show_default=True,
              help="The system's pretraining stage to run (brain2text: `quantize` fits the "
                   "residual VQ on a pretrained encoder, model.from_run=RUN).")
def pretrain(config: str | None, out: str | None, no_resume: bool, stage: str,
             overrides: tuple[str, ...]) -> None:
    """Pretrain a model; OVERRIDES are key.sub=value (e.g. data.store=PATH train.max_steps=50)."""
    if stage == "finetune":
        raise click.UsageError("--stage finetune: use `neuroseq finetune`.")
    _print_summary(_run(stage, config, out, no_resume, overrides))


@click.command()
@stage_options("runs/<system>_finetune")
def finetune(config: str | None, out: str | None, no_resume: bool,
             overrides: tuple[str, ...]) -> None:
    """Fine-tune on labelled data (EEGPT: ETE + task-shared electrode graph on several tasks;
    MEG-XL: word retrieval, `model.linear_probe=true` for the linear probe; brain-to-text: the
    LLM phase); print the scores on the test data with chance or the controls beside them."""
    _print_summary(_run("finetune", config, out, no_resume, overrides))
