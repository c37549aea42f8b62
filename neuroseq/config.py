"""Run configurations: YAML files in ``configs/`` plus ``key.sub=value`` overrides.

A configuration is a nested dict with the sections ``data``, ``tokenizer``, ``model``,
``objective``, ``optim`` and ``train`` (the :class:`~neuroseq.training.TrainConfig` fields).
:func:`load_config` merges a file over the defaults of its system, applies overrides (values
parsed as YAML, so ``train.max_steps=100`` is an int) and refuses unknown keys.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import yaml

from neuroseq.errors import NeuroseqError
from neuroseq.training import TrainConfig

DEFAULTS: dict[str, Any] = {
    "system": "gpt2meg",
    "data": {"store": None, "window": None, "stride": 128, "condition_map": "auto",
             "condition_seconds": 0.5, "batch_size": 16, "num_workers": 0,
             "patches": None,  # EEGPT pretraining: patches per window
             "fraction": 1.0,  # EEGPT pretraining: share of the train windows used
             # EEGPT fine-tuning: tasks ("pylossless" or {task: {value: label}}), epoch limits,
             # within-recording splits or cross-subject recordings
             "tasks": None, "tmin": 0.0, "tmax": 1.0, "mode": "within",
             "train_recordings": None, "test_recordings": None},
    "tokenizer": {"kind": "mulaw", "mu": 255.0, "n_bins": 256},
    "model": {"kind": "gpt2meg"},
    "objective": {"loss_from": 0.5},
    "optim": {"lr": 3e-4, "weight_decay": 0.01, "warmup_steps": 100, "min_lr_ratio": 0.1},
    "train": dataclasses.asdict(TrainConfig()),
}
_OPEN = ("model", "tokenizer", "objective")  # keys passed through to constructors


def _merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        key = f"{where}{k}"
        if k not in out and where.rstrip(".") not in _OPEN:
            known = ", ".join(sorted(out))
            raise NeuroseqError(f"unknown configuration key {key!r}; known here: {known}.")
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, key + ".")
        else:
            out[k] = v
    return out


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["train.max_steps=10", "model.preset=tiny"]`` → nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise NeuroseqError(f"override {item!r} is not of the form key.sub=value.")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _value(value)
    return out


def _value(text: str) -> Any:
    """YAML value; also numbers YAML 1.1 reads as strings (``3e-3``)."""
    v = yaml.safe_load(text)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                ) -> dict[str, Any]:
    """Defaults ← YAML file ← overrides."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NeuroseqError(f"configuration file {path} not found (see configs/ for presets).")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise NeuroseqError(f"{path} is not valid YAML: {e}") from e
        cfg = _merge(cfg, data)
    return _merge(cfg, parse_overrides(overrides))


def train_config(cfg: dict[str, Any]) -> TrainConfig:
    """The ``train`` section as a :class:`TrainConfig`."""
    t = dict(cfg["train"])
    t["loggers"] = tuple(t.get("loggers", ("csv",)))
    return TrainConfig(**t)


def save_config(cfg: dict[str, Any], path: str | Path) -> None:
    """Write the resolved configuration as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg, sort_keys=False))
