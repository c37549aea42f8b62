"""A Lightning ``Trainer`` built from a small config, with atomic checkpoints and resume.

Every run directory holds ``checkpoints/last.ckpt`` (and ``best.ckpt``), CSV logs
(``metrics.csv``) and ``run.json``: the resolved config, seed, package versions, final metrics
and the SHA-256 of each checkpoint.  Lightning writes checkpoints through an fsspec transaction
(a temporary file renamed into place), so an interrupted save never leaves a truncated file.
Checkpoints are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from neuroseq import __version__
from neuroseq.config import TrainConfig
from neuroseq.errors import NeuroseqError
from neuroseq.log import logger, progress_enabled
from neuroseq.training.loader import ResumableLoader
from neuroseq.training.run_folder import RunFolder


def sha256(path: str | Path) -> str:
    """SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Versions of the packages a run depends on."""
    import lightning
    import numpy

    return {"neuroseq": __version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def _progress(cfg: TrainConfig) -> bool:
    if cfg.progress is not None:
        return cfg.progress
    return progress_enabled()


def _loggers(run_dir: Path, names: tuple[str, ...]) -> list[Any]:
    out: list[Any] = []
    for name in names:
        if name == "csv":
            out.append(CSVLogger(run_dir, name="", version=""))
        elif name == "tensorboard":
            out.append(TensorBoardLogger(run_dir, name="tensorboard", version="",
                                         default_hp_metric=False))
        else:
            raise NeuroseqError(f"unknown logger {name!r}; use 'csv' and/or 'tensorboard'.")
    return out


class _LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``n`` steps, written again after a validation at such a step: Lightning
    saves it before that step's validation, so the early-stopping count it restores would miss
    that check and a resumed run would stop later than an uninterrupted one."""

    def __init__(self, dirpath: Path, n: int) -> None:
        super().__init__(dirpath=dirpath, save_top_k=0, save_last=True, every_n_train_steps=n,
                         enable_version_counter=False)
        self.n = n

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        step = trainer.global_step
        if not trainer.sanity_checking and self.last_model_path and step and step % self.n == 0:
            trainer.save_checkpoint(self.last_model_path)


def _finished(state: dict[str, Any], max_steps: int) -> bool:
    """Whether the run whose last checkpoint holds ``state`` has nothing left to train: it
    reached ``max_steps``, or its early-stopping count reached its patience."""
    if int(state["global_step"]) >= max_steps:
        return True
    return any(key.startswith("EarlyStopping") and cb.get("wait_count", 0) >= cb.get("patience", 1)
               for key, cb in state.get("callbacks", {}).items())


def build_trainer(run_dir: str | Path, cfg: TrainConfig, *, has_val: bool,
                  callbacks: list[Any] | None = None,
                  distributed_sampler: bool = True) -> L.Trainer:
    """A ``lightning.Trainer`` writing checkpoints, CSV and TensorBoard logs under ``run_dir``."""
    folder = RunFolder(run_dir)
    run_dir = folder.path
    if not logger.isEnabledFor(logging.INFO):  # Lightning's banner only with -v
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    # last.ckpt every N steps (resume), best.ckpt on the monitored loss
    last = _LastCheckpoint(folder.checkpoints_dir, cfg.checkpoint_every_n_steps)
    if cfg.monitor_mode not in ("min", "max"):
        raise NeuroseqError(f"train.monitor_mode must be 'min' or 'max', got "
                            f"{cfg.monitor_mode!r}.")
    if not cfg.monitor.startswith("val_"):
        raise NeuroseqError(f"train.monitor must be a validation metric (val_…), got "
                            f"{cfg.monitor!r}.")
    best = ModelCheckpoint(dirpath=folder.checkpoints_dir, filename="best",
                           monitor=cfg.monitor if has_val else "train_loss",
                           mode=cfg.monitor_mode if has_val else "min",
                           save_top_k=1, save_last=False, enable_version_counter=False,
                           every_n_train_steps=None if has_val else cfg.checkpoint_every_n_steps)
    return L.Trainer(
        default_root_dir=run_dir, max_steps=cfg.max_steps, max_epochs=-1,
        accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision, accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val,
        val_check_interval=cfg.val_check_interval if has_val else None,
        check_val_every_n_epoch=None if has_val and cfg.val_check_interval else 1,
        limit_val_batches=1.0 if cfg.limit_val_batches is None else cfg.limit_val_batches,
        log_every_n_steps=cfg.log_every_n_steps, callbacks=[last, best, *(callbacks or [])],
        logger=_loggers(run_dir, tuple(cfg.loggers)), enable_progress_bar=_progress(cfg),
        enable_model_summary=False, num_sanity_val_steps=0,
        use_distributed_sampler=distributed_sampler)


def _merge_csv(csv: Path, earlier: bytes) -> None:
    """Prepend the rows logged before a resume (Lightning's CSV logger starts a new file)."""
    import io

    import pandas as pd

    old = pd.read_csv(io.BytesIO(earlier))
    new = pd.read_csv(csv) if csv.is_file() else old.iloc[:0]
    if len(new) and "step" in old and "step" in new:
        old = old[old["step"] < new["step"].min()]
    tmp = csv.with_suffix(".csv.tmp")
    pd.concat([old, new], ignore_index=True).to_csv(tmp, index=False)
    tmp.replace(csv)


def check_checkpoint(path: Path) -> dict[str, Any]:
    """Refuse a truncated or corrupt checkpoint with a clear error before Lightning reads it
    (loaded with ``weights_only=True``, memory-mapped, so only the index is read); its state."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NeuroseqError(f"checkpoint {path} is truncated or corrupt ({first}); delete it to "
                            "restart from step 0 (`--no-resume`), or restore it from a copy.") \
            from err


def _load_best(module: L.LightningModule, folder: RunFolder) -> int | None:
    """Load the weights early stopping chose (``best.ckpt``) into ``module``; their step."""
    best = folder.checkpoint("best")
    if not best.is_file():
        return None
    state = check_checkpoint(best)
    module.load_state_dict(state["state_dict"])
    return int(state["global_step"])


def fit(module: L.LightningModule, train_loader: Any, val_loader: Any = None, *,
        run_dir: str | Path, cfg: TrainConfig | None = None, resume: bool = True,
        extra_config: dict[str, Any] | None = None, split_hash: str | None = None,
        callbacks: list[Any] | None = None) -> L.Trainer:
    """Train ``module``; resumes from ``run_dir/checkpoints/last.ckpt`` when it exists (a
    finished run — ``max_steps`` reached or stopped early — is not trained again: its weights,
    the best ones with early stopping, are loaded and ``run.json`` is kept).

    A :class:`~neuroseq.training.loader.ResumableLoader` as ``train_loader`` makes the resume
    exact mid-epoch.  Writes ``run.json`` at the end (config, seed, versions, split hash,
    metrics, checkpoint hashes).
    """
    cfg = cfg or TrainConfig()
    folder = RunFolder(run_dir).create()
    run_dir = folder.path
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.backends.cuda.matmul.allow_tf32 = bool(cfg.tf32)
    torch.backends.cudnn.allow_tf32 = bool(cfg.tf32)
    resumable = isinstance(train_loader, ResumableLoader)
    stopping = []
    if cfg.early_stopping_patience is not None:
        if val_loader is None:
            raise NeuroseqError("train.early_stopping_patience needs a validation split; this "
                                "run has none (set it to null, or give the store a val split).")
        if not cfg.val_check_interval:
            raise NeuroseqError("train.early_stopping_patience counts validation checks: set "
                                "train.val_check_interval (steps between checks) too.")
        stopping = [EarlyStopping(monitor=cfg.monitor, mode=cfg.monitor_mode, strict=True,
                                  patience=int(cfg.early_stopping_patience))]
    trainer = build_trainer(run_dir, cfg, has_val=val_loader is not None,
                            callbacks=[*stopping, *(callbacks or [])],
                            distributed_sampler=not resumable)
    if resumable:
        train_loader.bind(trainer)
    last = folder.checkpoint("last")
    ckpt_path = str(last) if resume and last.is_file() else None
    if ckpt_path:
        state = check_checkpoint(last)
        if folder.has("info") and _finished(state, cfg.max_steps):  # run.json stays as it is
            logger.info("%s is finished; nothing left to train", run_dir)
            if not (stopping and _load_best(module, folder) is not None):
                module.load_state_dict(state["state_dict"])
            return trainer
    csv = run_dir / "metrics.csv"
    earlier = csv.read_bytes() if ckpt_path and csv.is_file() else None
    if ckpt_path:
        logger.info("resuming from %s", last)
    with warnings.catch_warnings():
        for msg in (".*no `val_dataloader`.*", ".*LeafSpec.*", ".*does not have many workers.*",
                    ".*exists and is not empty.*", ".*could not find the monitored key.*"):
            warnings.filterwarnings("ignore", message=msg)
        t0 = time.perf_counter()
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
        train_s = time.perf_counter() - t0
    if trainer.is_global_zero and earlier is not None:
        _merge_csv(csv, earlier)
    stopped = trainer.global_step
    best_step = _load_best(module, folder) if stopping else None
    if trainer.is_global_zero:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if torch.is_tensor(v) and v.numel() == 1}
        ckpts = {p.name: sha256(p) for p in sorted(folder.checkpoints_dir.glob("*.ckpt"))}
        info = {"config": dataclasses.asdict(cfg) | (extra_config or {}), "seed": cfg.seed,
                "versions": versions(), "split_hash": split_hash,
                "global_step": stopped, "best_step": best_step, "train_s": round(train_s, 1),
                "early_stopped": bool(stopping) and stopped < cfg.max_steps, "metrics": metrics,
                "checkpoints_sha256": ckpts, "resumed_from": ckpt_path}
        folder.write_info(info)
    return trainer
