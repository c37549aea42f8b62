"""``save_pretrained`` / ``from_pretrained`` for every neuroseq model, loading strictly.

huggingface_hub's ``PyTorchModelHubMixin`` loads with ``strict=False`` by default: a weights
file that lacks some of the model's tensors, or holds others, loads without a word and leaves
the missing ones at their random initial values.  :class:`HubModel` keeps the mixin (config.json
+ model.safetensors, hub ids) but refuses such a file, naming the missing, unexpected and
mis-shaped tensors.  ``strict=False`` must be asked for explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from huggingface_hub import PyTorchModelHubMixin, constants
from safetensors import SafetensorError
from safetensors.torch import load_model

from neuroseq.errors import FormatError


def _listed(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most
                                      else "")


class HubModel(PyTorchModelHubMixin):
    """The hub mixin of neuroseq's models: strict loading of a model folder, no console print."""

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir: Any,
                         force_download: bool, local_files_only: bool, token: Any,
                         map_location: str = "cpu", strict: bool = True,
                         **model_kwargs: Any) -> Any:
        if not os.path.isdir(model_id):  # a hub id: the mixin downloads, strictly too
            return super()._from_pretrained(
                model_id=model_id, revision=revision, cache_dir=cache_dir,
                force_download=force_download, local_files_only=local_files_only, token=token,
                map_location=map_location, strict=strict, **model_kwargs)
        model = cls(**model_kwargs)
        file = Path(model_id) / constants.SAFETENSORS_SINGLE_FILE
        if not file.is_file():
            raise FormatError(f"{model_id}: no {file.name}; a model folder holds config.json "
                              "and model.safetensors (written by save_pretrained).")
        try:
            missing, unexpected = load_model(model, file, strict=False, device=map_location)
        except RuntimeError as err:  # shapes that differ from the config's model
            lines = [ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln]
            raise FormatError(f"{file}: tensors whose shapes differ from the model that "
                              f"config.json describes: {_listed(lines, 4) or str(err)[:300]}; "
                              "the folder's two files do not belong together.") from err
        except (SafetensorError, OSError) as err:
            raise FormatError(f"{file} is truncated or corrupt ({err}).") from err
        if strict and (missing or unexpected):
            raise FormatError(
                f"{file} does not match the {cls.__name__} that config.json describes: "
                + "; ".join(f"{what} {len(keys)} tensors ({_listed(sorted(keys))})"
                            for what, keys in (("missing", missing), ("unexpected", unexpected))
                            if keys)
                + ". The weights come from another model or version; load them with "
                  "strict=False only if you know which tensors stay untrained.")
        return model
