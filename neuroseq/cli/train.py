"""``neuroseq pretrain`` and ``neuroseq finetune``: one stage of any registered system."""

from __future__ import annotations

import json
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
    run_dir = _run(stage, config, out, no_resume, overrides)
    info = run_dir / "run.json"
    if info.exists():
        metrics = json.loads(info.read_text())["metrics"]
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
        click.echo(f"trained: {shown}")
    click.echo(f"run directory: {run_dir}")


@click.command()
@stage_options("runs/<system>_finetune")
@click.option("--linear-probe", is_flag=True,
              help="MEG-XL word retrieval: a linear head on the frozen backbone "
                   "(model.head=linear model.freeze_backbone=true).")
def finetune(config: str | None, out: str | None, no_resume: bool, linear_probe: bool,
             overrides: tuple[str, ...]) -> None:
    """Fine-tune on labelled data (EEGPT: ETE + task-shared electrode graph on several tasks;
    MEG-XL: word retrieval; brain-to-text: the LLM phase); print the scores on the test data
    with chance or the controls beside them."""
    if linear_probe:
        from neuroseq import systems

        if systems.load_config(config, overrides)["system"] != "megxl":
            raise click.UsageError("--linear-probe is MEG-XL's word-retrieval probe; for EEGPT "
                                   "freeze the encoder with model.freeze_ete=true.")
        overrides = (*overrides, "model.head=linear", "model.freeze_backbone=true")
    run_dir = _run("finetune", config, out, no_resume, overrides)
    res = json.loads((run_dir / "results.json").read_text())
    if "tasks" in res:
        click.echo(f"{'task':<26} balanced acc   chance   test epochs")
        for t, v in res["tasks"].items():
            click.echo(f"{t:<26} {v['balanced_accuracy']:.3f}          {v['chance']:.3f}    "
                       f"{v['n_test']}")
        click.echo(f"mean {res['mean_balanced_accuracy']:.3f}  (mode {res['mode']}, pretrained "
                   f"{res['pretrained'] or 'no'}, ETE "
                   f"{'frozen' if res['freeze_ete'] else 'tuned'})")
    elif "top10_of_50" in res:
        click.echo(f"word retrieval on the {res['split']} split ({res['n_test_words']} words, "
                   f"seed {res['seed']}, {res['targets']} targets)")
        click.echo("retrieval set   top-10 (always-frequent)   balanced top-10   chance")
        for size in (50, 250):
            r = res[f"top10_of_{size}"]
            click.echo(f"{size:>3} → {r['retrieval_set']:<8}  {r['top_k']:.3f} "
                       f"({r['frequency_top_k']:.3f})          {r['balanced_top_k']:.3f}"
                       f"             {r['chance']:.3f}")
    elif "arms" in res:
        arms = list(res["arms"])
        click.echo(f"decoded free-running on the {res['split']} split ({res['n_segments']} "
                   f"segments, {res['n_sentences']} distinct texts, seed {res['seed']}; "
                   "controls: noise, shuffled MEG, LLM only)")
        click.echo(f"{'metric':<12}" + "".join(f"{a:>12}" for a in arms) + "  beats controls")
        for row in res["table"]:
            click.echo(f"{row['metric']:<12}" + "".join(
                f"{row[a]:>12.3f}" if row[a] is not None else f"{'—':>12}" for a in arms) +
                       f"  {'yes' if row['beats_all_controls'] else 'no'}")
        ret = res["arms"]["model"]["retrieval"]
        click.echo(f"retrieval by likelihood: top-1 {ret['top1']:.3f} (chance "
                   f"{ret['chance_top1']:.3f}), mean rank {ret['mean_rank']:.2f} of "
                   f"{ret['n_candidates']}; details in results.json")
    else:
        click.echo(json.dumps(res, indent=1))
    click.echo(f"run directory: {run_dir}")
