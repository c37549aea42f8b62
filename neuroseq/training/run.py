"""The one runner: every system's stages (pretrain, finetune, …) are assembled here.

A system (:mod:`neuroseq.systems`) declares, for each stage, a :class:`Stage`: how to build its
datasets, collate, model and objective, what to prepare first (a tokenizer), what to evaluate
afterwards, what to print of it.  :func:`run_stage` does the rest the same way for all of them,
writing the run folder (:class:`~neuroseq.training.run_folder.RunFolder`); :func:`load_run` reads
a finished run back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neuroseq.config import constructor_keys, save_config, train_config
from neuroseq.data.collate import pad_collate
from neuroseq.data.store import Store
from neuroseq.errors import FormatError, NeuroseqError
from neuroseq.log import logger
from neuroseq.tokenizers import Tokenizer
from neuroseq.training.loader import ResumableLoader
from neuroseq.training.module import TaskModule
from neuroseq.training.run_folder import RunFolder
from neuroseq.training.trainer import TrainConfig, fit


@dataclass
class RunContext:
    """What a stage's declarations receive: the configuration, the run folder, the data, the
    meta."""

    cfg: dict[str, Any]
    folder: RunFolder
    store: Store
    train: TrainConfig
    resume: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    tokenizer: Tokenizer | None = None
    model: nn.Module | None = None  # set once the stage's model is built (collates may read it)

    @property
    def run(self) -> Path:
        """The run directory."""
        return self.folder.path


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
        ``(ctx, model, datasets) -> dict`` written to ``RUN/results.json``, after the
        training's facts (seed, steps, the step early stopping chose, wall time).
    final_val_loss : bool
        Record the objective's mean over the whole val split in ``run.json``.
    summary : callable | None
        ``results -> [line, ...]``: what ``neuroseq finetune`` prints of ``results.json``.
    load_model : callable | None
        ``(folder, meta) -> nn.Module``: how :func:`load_run` rebuilds a saved model that needs
        more than ``models[kind].from_pretrained`` (parts read from other runs).
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
    summary: Callable[[dict[str, Any]], list[str]] | None = None
    load_model: Callable[[RunFolder, dict[str, Any]], nn.Module] | None = None


@dataclass
class System:
    """A paper system: its default configuration sections and its stages.

    ``accepts`` maps an open section (``model``, ``tokenizer``, ``objective``, or a sub-section
    such as ``model.encoder``) to the classes or functions its keys are passed to: a key that
    is neither in ``defaults`` nor an argument of one of them is refused when the
    configuration is loaded.
    """

    name: str
    description: str
    defaults: dict[str, Any]
    stages: dict[str, Stage]
    accepts: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def valid_keys(self) -> dict[str, set[str]]:
        """Section → its valid keys (declared defaults and the accepting constructors')."""
        out = {}
        for where in ("model", "tokenizer", "objective", *self.accepts):
            node: Any = self.defaults
            for part in where.split("."):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            out[where] = set(node) | {"kind"} | constructor_keys(*self.accepts.get(where, ()))
        return out

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
    folder = RunFolder(run_dir).create()
    if cfg["data"].get("store") and "://" not in str(cfg["data"]["store"]):
        cfg["data"]["store"] = str(Path(cfg["data"]["store"]).resolve())
    store = open_store(cfg)
    tcfg = train_config(cfg)
    torch.manual_seed(tcfg.seed)
    return RunContext(cfg=cfg, folder=folder, store=store, train=tcfg, resume=resume)


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
    model = ctx.model = st.model(ctx)
    ctx.meta.setdefault("model_kind", cfg["model"].get("kind", stage))
    if ctx.meta["model_kind"] not in st.models:
        raise NeuroseqError(f"model.kind {ctx.meta['model_kind']!r} is not one the {stage} "
                            f"stage of {system.name} can load back ({sorted(st.models)}).")
    ctx.folder.write_meta(ctx.meta)
    save_config(cfg, ctx.folder.config_path)
    objective = st.objective(ctx) if st.objective is not None else None
    if objective is None:
        if st.closed_form is None:
            raise NeuroseqError(f"{system.name} {stage}: no objective and no closed-form fit.")
        st.closed_form(ctx, model, sets)
    else:
        _train(ctx, st, model, objective, sets)
    if st.evaluate is not None:
        info = ctx.folder.info()
        facts = {"seed": ctx.train.seed, "steps": info.get("global_step"),
                 "best_step": info.get("best_step"), "early_stopped": info.get("early_stopped"),
                 "train_s": info.get("train_s")}
        ctx.folder.write_results(facts | st.evaluate(ctx, model, sets))
    model.save_pretrained(ctx.folder.model_dir)
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
        info = ctx.folder.info()
        info["final_val_loss"] = mean_loss(model, objective, val_dl)
        info["n_train_windows"] = len(train)
        ctx.folder.write_info(info)


def load_run(run_dir: str | Path, models: dict[str, type],
             load_model: Callable[[RunFolder, dict[str, Any]], nn.Module] | None = None
             ) -> tuple[nn.Module, Any, dict]:
    """Model, tokenizer (None when the run has none) and meta of a finished run directory.

    ``models`` maps the model kinds the run's stage can write to their classes (the system's
    declaration; :func:`neuroseq.systems.load_run` passes it), ``load_model`` the stage's own
    loader when it has one.
    """
    folder = RunFolder(run_dir)
    folder.require("meta", "model")
    meta = folder.meta()
    kind = meta.get("model_kind")
    if kind not in models:
        raise NeuroseqError(f"{folder}: model kind {kind!r} is unknown here ({sorted(models)}).")
    weights = folder.model_dir / "model.safetensors"
    try:
        model = load_model(folder, meta) if load_model is not None else \
            models[kind].from_pretrained(folder.model_dir)
    except FormatError:  # names the file and what does not match
        raise
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise NeuroseqError(f"cannot load the model weights of {folder} ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}); the file "
                            f"{weights.name} is truncated or corrupt — train the run again or "
                            "restore it from a copy.") from err
    model.eval()
    return model, folder.tokenizer(), meta
