"""Run configurations: YAML files in ``configs/`` plus ``key.sub=value`` overrides.

A configuration is a nested dict.  Every system shares the sections ``system``, ``data``
(``store``, ``batch_size``, ``num_workers``), ``optim`` and ``train`` (the
:class:`TrainConfig` fields, the trainer's settings, declared here so that configurations
sit below every room that reads them) in :data:`COMMON`; each system adds its own keys
and sections (``tokenizer``, ``model``, ``objective``, more ``data`` keys) in its declaration
(:mod:`neuroseq.systems`).  :func:`resolve` merges a file over those defaults, applies
overrides (values parsed as YAML, so ``train.max_steps=100`` is an int) and refuses unknown keys.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neuroseq.atomic import write_text_atomic
from neuroseq.errors import NeuroseqError


@dataclass
class TrainConfig:
    """Trainer settings (Lightning names where they exist)."""

    max_steps: int = 1000
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    val_check_interval: int | None = None
    limit_val_batches: int | float | None = None  # None = the whole val split
    #: stop after this many validation checks without a better ``monitor`` (None: never); the
    #: best weights (``best.ckpt``) are then loaded back, so what is evaluated is what was chosen
    early_stopping_patience: int | None = None
    #: the validation metric that picks the best checkpoint and stops early (a logged name, e.g.
    #: ``val_acc_in_batch``), and whether lower (``min``) or higher (``max``) is better
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    checkpoint_every_n_steps: int = 100
    log_every_n_steps: int = 10
    seed: int = 0
    progress: bool | None = None
    loggers: tuple[str, ...] = ("csv", "tensorboard")
    #: TF32 tensor cores for float32 matrix products on CUDA (off: measured, not assumed, by
    #: ``benchmarks/gpu_suite.sh``); no effect on CPU
    tf32: bool = False


COMMON: dict[str, Any] = {
    "system": "gpt2meg",
    "data": {"store": None, "batch_size": 16, "num_workers": 0},
    "model": {},
    "optim": {"lr": 3e-4, "weight_decay": 0.01, "warmup_steps": 100, "min_lr_ratio": 0.1,
              "schedule_steps": None, "fused": False},
    "train": dataclasses.asdict(TrainConfig()),
}
_OPEN = ("model", "tokenizer", "objective")  # keys passed through to constructors


def merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    """``base`` updated by ``over``; a key ``base`` lacks is an error, except inside the
    ``model``, ``tokenizer`` and ``objective`` sections and their sub-sections (passed to
    constructors)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        key = f"{where}{k}"
        if k not in out and where.split(".")[0] not in _OPEN:
            known = ", ".join(sorted(out))
            raise NeuroseqError(f"unknown configuration key {key!r}; known here: {known}.")
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v, key + ".")
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


def extend(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``more``'s keys added or replaced, recursively (declaring defaults)."""
    out = copy.deepcopy(base)
    for k, v in more.items():
        out[k] = extend(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else copy.deepcopy(v)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``, with a clear error when it is missing or invalid."""
    path = Path(path)
    if not path.is_file():
        raise NeuroseqError(f"configuration file {path} not found (see configs/ for presets).")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise NeuroseqError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise NeuroseqError(f"{path} must hold a mapping of sections (data:, model:, ...).")
    return data


def resolve(defaults: dict[str, Any], file_cfg: dict[str, Any] | None = None,
            overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Defaults ← file ← overrides, refusing keys the defaults do not declare."""
    cfg = merge(defaults, file_cfg or {})
    return merge(cfg, parse_overrides(overrides))


def train_config(cfg: dict[str, Any]) -> TrainConfig:
    """The ``train`` section as a :class:`TrainConfig`."""
    t = dict(cfg["train"])
    t["loggers"] = tuple(t.get("loggers", ("csv",)))
    return TrainConfig(**t)


def save_config(cfg: dict[str, Any], path: str | Path) -> None:
    """Write the resolved configuration as YAML (atomically)."""
    write_text_atomic(path, yaml.safe_dump(cfg, sort_keys=False))


def constructor_keys(*builders: Any) -> set[str]:
    """The keyword arguments the classes or functions ``builders`` accept (their
    ``__init__``'s for classes), ``self`` and ``*args`` / ``**kwargs`` left out; a string is a
    key of its own (one the stage reads itself)."""
    import inspect

    keys: set[str] = set()
    for b in builders:
        if isinstance(b, str):  # a key the stage itself reads
            keys.add(b)
            continue
        fn = b.__init__ if inspect.isclass(b) else b
        for name, p in inspect.signature(fn).parameters.items():
            if name != "self" and name not in RENAMED and \
                    p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                keys.add(name)
    return keys


def check_section_keys(cfg: dict[str, Any], accepts: dict[str, set[str]]) -> None:
    """Refuse keys of the open sections (``model``, ``tokenizer``, ``objective`` and sub-sections
    such as ``model.encoder``) that nothing accepts; rename deprecated constructor names
    (:data:`RENAMED`) with a warning.  ``accepts`` maps a dotted section to its valid keys."""
    import difflib
    import warnings

    for where, valid in accepts.items():
        node: Any = cfg
        for part in where.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for key in list(node):
            if key in valid:
                continue
            new = RENAMED.get(key)
            if new in valid and new not in node:
                warnings.warn(f"{where}.{key} is deprecated; use {where}.{new}.",
                              DeprecationWarning, stacklevel=2)
                node[new] = node.pop(key)
                continue
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f" (did you mean {where}.{close[0]}?)" if close else ""
            raise NeuroseqError(f"unknown configuration key {where}.{key}{hint} for system "
                                f"{cfg.get('system')!r}; valid {where} keys: "
                                f"{', '.join(sorted(valid))}.")


#: constructor names before the shared vocabulary (``n_chans``, ``n_outputs``) → now
RENAMED = {"n_channels": "n_chans", "n_electrodes": "n_chans", "out_dim": "n_outputs"}
