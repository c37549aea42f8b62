"""Atomic writes: a file is either its old content or its new content, never half of one.

Everything a runner writes for later reading (``run.json``, ``meta.json``, ``results.json``,
``metrics.json``, configs) goes through these: the text is written to a temporary file in the
same directory, flushed to disk, then renamed over the target (``os.replace`` is atomic on
POSIX and Windows).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def file_mode(path: Path) -> int:
    """The mode a new file gets: the existing file's, else ``0o666`` less the user's umask
    (what ``open`` would give; the temporary file's private 0600 must not survive)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path.  The file gets the user's
    umask like any other (or keeps the mode of the file it replaces)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, obj: Any, *, indent: int = 1) -> Path:
    """``json.dumps(obj)`` (non-JSON values as ``str``) written atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, default=str))
