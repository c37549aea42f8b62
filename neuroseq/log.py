"""Package logger and progress-bar helpers (library code logs; only the CLI prints)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

logger = logging.getLogger("neuroseq")
T = TypeVar("T")


def progress_enabled() -> bool:
    """Whether progress bars are shown (``NEUROSEQ_PROGRESS=off`` hides them)."""
    return os.environ.get("NEUROSEQ_PROGRESS", "on").lower() not in ("off", "0", "false")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None,
             disable: bool | None = None) -> Iterable[T]:
    """Wrap an iterable in a tqdm progress bar (``NEUROSEQ_PROGRESS=off`` hides it)."""
    if disable is None:
        disable = not progress_enabled()
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False)
