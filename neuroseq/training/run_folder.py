"""The run folder: every path of a run is named here, and read or written through this object.

::

    RUN/config.yaml        resolved configuration (the store as an absolute path)
    RUN/meta.json          system, stage, model kind, sampling rate, channel vocabulary, split hash
    RUN/tokenizer/         a fitted tokenizer or codec, when the stage has one
    RUN/model/             final weights (config.json + model.safetensors)
    RUN/checkpoints/       Lightning last.ckpt / best.ckpt (resume)
    RUN/run.json           seed, versions, metrics, checkpoint SHA-256
    RUN/results.json       the stage's evaluation, when it has one

Every JSON is written atomically.  A part that is missing or corrupt is a clear error naming the
run and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neuroseq.atomic import write_json_atomic
from neuroseq.errors import NeuroseqError

PARTS = {"meta": "meta.json", "config": "config.yaml", "info": "run.json",
         "results": "results.json", "model": "model", "tokenizer": "tokenizer",
         "checkpoints": "checkpoints"}


class RunFolder:
    """One run directory (it need not exist yet)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    # -- paths ------------------------------------------------------------------------------
    model_dir = property(lambda self: self.path / PARTS["model"],
                         doc="``RUN/model``: the final weights.")
    tokenizer_dir = property(lambda self: self.path / PARTS["tokenizer"],
                             doc="``RUN/tokenizer``: the fitted tokenizer or codec.")
    checkpoints_dir = property(lambda self: self.path / PARTS["checkpoints"],
                               doc="``RUN/checkpoints``: Lightning's checkpoints.")
    config_path = property(lambda self: self.path / PARTS["config"],
                           doc="``RUN/config.yaml``: the resolved configuration.")

    def checkpoint(self, name: str = "last") -> Path:
        """``RUN/checkpoints/{name}.ckpt``."""
        return self.checkpoints_dir / f"{name}.ckpt"

    def file(self, name: str) -> Path:
        """Any other file of the run (e.g. a stage's extra tables)."""
        return self.path / name

    # -- state ------------------------------------------------------------------------------
    def create(self) -> RunFolder:
        """Make the directory (and its parents)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def has(self, part: str) -> bool:
        """Whether ``part`` (a key of :data:`PARTS`) exists."""
        return (self.path / PARTS[part]).exists()

    def require(self, *parts: str, what: str = "a finished run directory",
                how: str = "train it with `neuroseq pretrain` or `neuroseq finetune`") -> None:
        """Raise a clear error unless every one of ``parts`` exists."""
        missing = [PARTS[p] for p in parts if not self.has(p)]
        if missing:
            raise NeuroseqError(f"{self.path} is not {what} ({', '.join(missing)} missing); "
                                f"{how}.")

    # -- JSON parts -------------------------------------------------------------------------
    def _read(self, part: str, default: Any = None) -> Any:
        path = self.path / PARTS[part]
        if not path.is_file():
            if default is not None:
                return default
            raise NeuroseqError(f"{path} is missing: {self.path} is not a finished run; train "
                                "it with `neuroseq pretrain` or `neuroseq finetune`.")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise NeuroseqError(f"{path} is corrupt ({err}); train the run again.") from err

    def meta(self) -> dict[str, Any]:
        """``meta.json`` (an error when it is missing or corrupt)."""
        return self._read("meta")

    def info(self) -> dict[str, Any]:
        """``run.json`` (empty before training has written it)."""
        return self._read("info", {})

    def results(self) -> dict[str, Any]:
        """``results.json`` (an error when the stage wrote none)."""
        return self._read("results")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``meta.json`` atomically."""
        write_json_atomic(self.path / PARTS["meta"], meta)

    def write_info(self, info: dict[str, Any]) -> None:
        """Write ``run.json`` atomically."""
        write_json_atomic(self.path / PARTS["info"], info)

    def write_results(self, results: dict[str, Any]) -> None:
        """Write ``results.json`` atomically."""
        write_json_atomic(self.path / PARTS["results"], results)

    def model_config(self) -> dict[str, Any]:
        """``RUN/model/config.json``: how the saved model was built."""
        path = self.model_dir / "config.json"
        if not path.is_file():
            raise NeuroseqError(f"{self.path} has no saved model ({path} missing); train it "
                                "to the end first.")
        return json.loads(path.read_text())

    # -- parts that are objects -------------------------------------------------------------
    def tokenizer(self) -> Any:
        """The run's saved tokenizer or codec (None when the run has none)."""
        from neuroseq.tokenizers import Tokenizer

        return Tokenizer.from_pretrained(self.tokenizer_dir) if self.has("tokenizer") else None

    def save_tokenizer(self, tokenizer: Any) -> None:
        """Save ``tokenizer`` as the run's ``tokenizer/``."""
        tokenizer.save_pretrained(self.tokenizer_dir)
