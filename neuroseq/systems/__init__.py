"""Paper systems as declarations, and the registry the CLI and experiments look them up in.

Each module here declares one :class:`~neuroseq.training.run.System`: its default
configuration sections and, per stage (``pretrain``, ``finetune``, …), its datasets, collate,
model, objective and evaluation.  The one runner (:func:`neuroseq.training.run.run_stage`)
assembles them.  Adding a system is one module plus one config preset
(``docs/adding_a_system.md``)::

    from neuroseq.systems import register
    register(MY_SYSTEM)          # then: neuroseq pretrain --config my.yaml (system: my_system)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuroseq.config import COMMON, check_section_keys, extend, read_config_file, resolve
from neuroseq.errors import NeuroseqError
from neuroseq.systems import brain2text, eegpt, gpt2meg, megxl
from neuroseq.training import run as runner
from neuroseq.training.run import Stage, System
from neuroseq.training.run_folder import RunFolder

SYSTEMS: dict[str, System] = {}


def register(system: System, *, replace: bool = False) -> System:
    """Make ``system`` available under its name (``system: NAME`` in a configuration)."""
    if system.name in SYSTEMS and not replace:
        raise NeuroseqError(f"a system called {system.name!r} is already registered.")
    SYSTEMS[system.name] = system
    return system


def get(name: str) -> System:
    """The registered system ``name``."""
    if name not in SYSTEMS:
        raise NeuroseqError(f"unknown system {name!r}; registered: {sorted(SYSTEMS)}.")
    return SYSTEMS[name]


for _module in (gpt2meg, eegpt, megxl, brain2text):
    register(_module.SYSTEM)


def defaults(name: str) -> dict[str, Any]:
    """The full default configuration of system ``name`` (common sections + its own)."""
    return extend(COMMON, get(name).defaults) | {"system": name}


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                *, system: str | None = None) -> dict[str, Any]:
    """Defaults of the configuration's system ← YAML file ← ``key=value`` overrides.

    The system is the overrides' ``system=``, else the file's ``system:``, else ``system``,
    else ``gpt2meg``.
    """
    file_cfg = read_config_file(path) if path is not None else {}
    named = [o.split("=", 1)[1] for o in overrides if o.startswith("system=")]
    name = (named[-1] if named else None) or file_cfg.get("system") or system or "gpt2meg"
    cfg = resolve(defaults(str(name)), file_cfg, overrides)
    check_section_keys(cfg, get(cfg["system"]).valid_keys())
    return cfg


def run(cfg: dict[str, Any], stage: str, run_dir: str | Path, *, resume: bool = True) -> Path:
    """Run ``stage`` of the configuration's system; returns the run directory."""
    return runner.run_stage(get(cfg["system"]), stage, cfg, run_dir, resume=resume)


def _stage_of(folder: RunFolder) -> tuple[Stage, dict[str, Any]]:
    folder.require("meta")
    meta = folder.meta()
    return get(meta.get("system", "gpt2meg")).stage(meta.get("stage", "pretrain")), meta


def load_run(run_dir: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer or None, meta)`` of a finished run of any registered system."""
    stage, _ = _stage_of(RunFolder(run_dir))
    return runner.load_run(run_dir, stage.models, stage.load_model)


def summary(run_dir: str | Path) -> list[str]:
    """What a finished run's stage says of its results (its ``summary``), or of its training
    metrics when it has no results: the lines the CLI prints."""
    folder = RunFolder(run_dir)
    stage, _ = _stage_of(folder)
    if folder.has("results"):
        res = folder.results()
        if stage.summary is not None:
            return stage.summary(res)
        return [json.dumps(res, indent=1)]
    metrics = folder.info().get("metrics", {})
    if not metrics:
        return []
    return ["trained: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))]
