"""The one runner: every system's stages (pretrain, finetune, …) are assembled here.

A system (:mod:`neuroseq.systems`) declares, for each stage, a :class:`Stage`: how to build its
datasets, collate, model and objective, what to prepare first (a tokenizer), what to evaluate
afterwards.  :func:`run_stage` does the rest the same way for all of them::

    RUN/config.yaml        resolved configuration (the store as an absolute path)
    RUN/meta.json          system, stage, model kind, sampling rate, channel vocabulary, split hash
    RUN/tokenizer/         a fitted tokenizer, when the stage has one
    RUN/model/             final weights (config.json + model.safetensors)
    RUN/checkpoints/       Lightning last.ckpt / best.ckpt (resume)
    RUN/run.json           seed, versions, metrics, checkpoint SHA-256
    RUN/results.json       the stage's evaluation, when it has one

:func:`load_run` reads a finished run back.  Every JSON is written atomically.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neuroseq.atomic import write_json_atomic
from neuroseq.config import save_config, train_config
from neuroseq.data.store import Store
from neuroseq.data.windows import pad_collate
from neuroseq.errors import NeuroseqError
from neuroseq.log import logger
from neuroseq.tokenizers import Tokenizer
from neuroseq.training.loader import ResumableLoader
from neuroseq.training.module import TaskModule
from neuroseq.training.trainer import TrainConfig, fit


@dataclass
class RunContext:
    """What a stage's declarations receive: the configuration, the run, the data, the meta."""

    cfg: dict[str, Any]
    run: Path
    store: Store
    train: TrainConfig
    resume: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    tokenizer: Tokenizer | None = None


Datasets = dict[str, Dataset]


@dataclass
class Stage:
    """One stage of a system, as declarations; :func:`run_stage` assembles them.

    Attributes
    ----------
    datasets : callable
        ``ctx -> {"train": ds, "val": ds (optional), "test": ds (optional)}``; may add the
        data's facts (channel vocabulary, condition map) to ``ctx.meta``.
    model : callable
        ``ctx -> nn.Module`` (sized from ``ctx.meta``).
    objective : callable | None
        ``ctx -> (model, batch) -> (loss, metrics)``; None for a stage fitted in closed form.
    models : dict
        Model kinds this stage writes (``meta["model_kind"]``) → class with
        ``from_pretrained``, for :func:`load_run`.
    collate : callable | None
        ``ctx -> collate_fn`` (default :func:`~neuroseq.data.windows.pad_collate`).
    setup : callable | None
        ``ctx -> None``, run first (e.g. fit a tokenizer and set ``ctx.tokenizer``).
    closed_form : callable | None
        ``(ctx, model, datasets) -> None`` fits the model without gradient steps (linear AR);
        used when it is given and ``objective`` returns None for this configuration.
    param_groups : callable | None
        ``(ctx, model) -> [{"prefix": "ete.", "lr": 1e-5}, ...]`` for per-module learning rates.
    evaluate : callable | None
        ``(ctx, model, datasets) -> dict`` written to ``RUN/results.json``.
    final_val_loss : bool
        Record the objective's mean over the whole val split in ``run.json``.
    """

    datasets: Callable[[RunContext], Datasets]
    model: Callable[[RunContext], nn.Module]
    objective: Callable[[RunContext], Any] | None
    models: dict[str, type]
    collate: Callable[[RunContext], Callable] | None = None
    setup: Callable[[RunContext], None] | None = None
    closed_form: Callable[[RunContext, nn.Module, Datasets], None] | None = None
    param_groups: Callable[[RunContext, nn.Module], list[dict[str, Any]]] | None = None
    evaluate: Callable[[RunContext, nn.Module, Datasets], dict[str, Any]] | None = None
    final_val_loss: bool = False


@dataclass
class System:
    """A paper system: its default configuration sections and its stages."""

    name: str
    description: str
    defaults: dict[str, Any]
    stages: dict[str, Stage]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``, or a clear error listing the ones there are."""
        if name not in self.stages:
            raise NeuroseqError(f"system {self.name!r} has no {name!r} stage; it has "
                                f"{sorted(self.stages)}.")
        return self.stages[name]


def open_store(cfg: dict[str, Any]) -> Store:
    """The store named in ``data.store``."""
    path = cfg["data"].get("store")
    if not path:
        raise NeuroseqError("no data: set data.store=PATH (a store made by `neuroseq prepare` "
                            "or `neuroseq quickstart`).")
    if not Path(path).exists():
        raise NeuroseqError(f"store {path} does not exist; make it with `neuroseq prepare`.")
    return Store(path)


def start_run(cfg: dict[str, Any], run_dir: str | Path, *, resume: bool = True) -> RunContext:
    """Create the run directory, open the store (its path made absolute), seed torch."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if cfg["data"].get("store") and "://" not in str(cfg["data"]["store"]):
        cfg["data"]["store"] = str(Path(cfg["data"]["store"]).resolve())
    store = open_store(cfg)
    tcfg = train_config(cfg)
    torch.manual_seed(tcfg.seed)
    return RunContext(cfg=cfg, run=run, store=store, train=tcfg, resume=resume)


def batch_limits(train: Dataset, batch_size: int) -> bool:
    """``drop_last`` for a train split: drop a ragged last batch only when there are at least
    two full ones."""
    return len(train) >= 2 * batch_size


@torch.no_grad()
def mean_loss(model: nn.Module, objective: Any, loader: Any) -> float:
    """Objective value averaged over a loader's batches (weighted by batch size), eval mode."""
    was = model.training
    model.eval()
    total, n = 0.0, 0
    for batch in loader:
        loss, _ = objective(model, batch)
        k = len(batch["x"]) if "x" in batch else len(next(iter(batch.values())))
        total, n = total + float(loss) * k, n + k
    model.train(was)
    return total / max(n, 1)


def run_stage(system: System, stage: str, cfg: dict[str, Any], run_dir: str | Path, *,
              resume: bool = True) -> Path:
    """Assemble and run ``stage`` of ``system``; returns the run directory."""
    t0 = time.perf_counter()
    st = system.stage(stage)
    ctx = start_run(cfg, run_dir, resume=resume)
    if st.setup is not None:
        st.setup(ctx)
    sets = st.datasets(ctx)
    store = ctx.store
    ctx.meta |= {"system": system.name, "stage": stage,
                 "split_sha256": store.split.hash if store.split else None,
                 "store": str(cfg["data"]["store"])}
    model = st.model(ctx)
    ctx.meta.setdefault("model_kind", cfg["model"].get("kind", stage))
    if ctx.meta["model_kind"] not in st.models:
        raise NeuroseqError(f"model.kind {ctx.meta['model_kind']!r} is not one the {stage} "
                            f"stage of {system.name} can load back ({sorted(st.models)}).")
    write_json_atomic(ctx.run / "meta.json", ctx.meta)
    save_config(cfg, ctx.run / "config.yaml")
    objective = st.objective(ctx) if st.objective is not None else None
    if objective is None:
        if st.closed_form is None:
            raise NeuroseqError(f"{system.name} {stage}: no objective and no closed-form fit.")
        st.closed_form(ctx, model, sets)
    else:
        _train(ctx, st, model, objective, sets)
    if st.evaluate is not None:
        results = st.evaluate(ctx, model, sets)
        write_json_atomic(ctx.run / "results.json", results)
    model.save_pretrained(ctx.run / "model")
    logger.info("%s %s done in %.1f s: %s", system.name, stage, time.perf_counter() - t0, ctx.run)
    return ctx.run


def _train(ctx: RunContext, st: Stage, model: nn.Module, objective: Any,
           sets: Datasets) -> None:
    d = ctx.cfg["data"]
    groups = st.param_groups(ctx, model) if st.param_groups is not None else None
    module = TaskModule(model, objective, max_steps=ctx.train.max_steps, param_groups=groups,
                        **ctx.cfg["optim"])
    collate = st.collate(ctx) if st.collate is not None else pad_collate
    train = sets["train"]
    train_dl = ResumableLoader(train, d["batch_size"], seed=ctx.train.seed, collate_fn=collate,
                               num_workers=d.get("num_workers", 0),
                               drop_last=batch_limits(train, d["batch_size"]))
    val_dl = None
    if sets.get("val") is not None:
        val_dl = DataLoader(sets["val"], d["batch_size"], collate_fn=collate)
    fit(module, train_dl, val_dl, run_dir=ctx.run, cfg=ctx.train, resume=ctx.resume,
        extra_config=ctx.cfg, split_hash=ctx.meta.get("split_sha256"))
    if st.final_val_loss and val_dl is not None:  # for sweeps and comparisons
        info = json.loads((ctx.run / "run.json").read_text())
        info["final_val_loss"] = mean_loss(model, objective, val_dl)
        info["n_train_windows"] = len(train)
        write_json_atomic(ctx.run / "run.json", info)


def load_run(run_dir: str | Path, models: dict[str, type]) -> tuple[nn.Module, Any, dict]:
    """Model, tokenizer (None when the run has none) and meta of a finished run directory.

    ``models`` maps the model kinds the run's stage can write to their classes (the system's
    declaration; :func:`neuroseq.systems.load_run` passes it).
    """
    run = Path(run_dir)
    for need in ("meta.json", "model"):
        if not (run / need).exists():
            raise NeuroseqError(f"{run} is not a finished run directory ({need} missing); train "
                                "it with `neuroseq pretrain` or `neuroseq finetune`.")
    try:
        meta = json.loads((run / "meta.json").read_text())
    except json.JSONDecodeError as err:
        raise NeuroseqError(f"{run / 'meta.json'} is corrupt ({err}); train the run again.") \
            from err
    kind = meta.get("model_kind")
    if kind not in models:
        raise NeuroseqError(f"{run}: model kind {kind!r} is unknown here ({sorted(models)}).")
    weights = run / "model" / "model.safetensors"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # huggingface_hub prints a notice
            model = models[kind].from_pretrained(run / "model")
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise NeuroseqError(f"cannot load the model weights of {run} ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}); the file "
                            f"{weights.name} is truncated or corrupt — train the run again or "
                            "restore it from a copy.") from err
    model.eval()
    tok = None
    if (run / "tokenizer").is_dir():
        tok = Tokenizer.from_pretrained(run / "tokenizer")
    return model, tok, meta
