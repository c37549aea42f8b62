"""The constructor vocabulary every model shares (braindecode's names): ``n_chans`` (channels,
or rows of the channel / electrode vocabulary a model embeds), ``n_outputs``, ``n_times``,
``sfreq``.  Earlier names still load (saved configurations hold them) with a deprecation
warning; the table of old names is :data:`neuroseq.config.RENAMED`."""

from __future__ import annotations

import warnings
from typing import Any


def renamed(owner: str, new: str, value: Any, old: str, old_value: Any) -> Any:
    """``value`` of argument ``new``, or the deprecated ``old``'s when only that was given."""
    if old_value is None:
        if value is None:
            raise TypeError(f"{owner}() missing required argument {new!r}.")
        return value
    if value is not None and value != old_value:
        raise TypeError(f"{owner}(): {old}={old_value} and {new}={value} disagree; give {new} "
                        "only.")
    warnings.warn(f"{owner}({old}=…) is deprecated; use {new}=… (the shared constructor "
                  "vocabulary).", DeprecationWarning, stacklevel=3)
    return old_value
