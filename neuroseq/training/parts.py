"""Parts a stage reads from other runs or trains first, loaded here and passed into models
(``models/`` reads no run folders and imports no tokenizers): the frozen codec of a codec stage,
and the MEG-XL encoder made of a MEG-XL run's codec and backbone."""

from __future__ import annotations

from typing import Any

from torch import nn

from neuroseq.errors import DataError, NeuroseqError
from neuroseq.models.crisscross import CrissCross
from neuroseq.models.megxl_encoder import MEGXLEncoder
from neuroseq.tokenizers import RVQCodec, Tokenizer
from neuroseq.training.codec import fit_codec
from neuroseq.training.run_folder import RunFolder


def frozen_codec(t: dict[str, Any], folder: Any, store: Any, *, seed: int, resume: bool,
                 progress: bool) -> RVQCodec:
    """The frozen RVQ codec a stage reads codes with: the run's own on resume, ``t["path"]``
    (a saved codec), or one trained now on the store's train split with the ``tokenizer``
    section ``t``; saved as the run's ``tokenizer/``."""
    if folder.has("tokenizer") and resume:
        tok = folder.tokenizer()
    elif t.get("path"):
        tok = Tokenizer.from_pretrained(t["path"])
    else:
        tok = fit_codec(RVQCodec(t["preset"]), store, split="train",
                        run_dir=folder.file("tokenizer_training"), max_steps=int(t["steps"]),
                        batch_size=int(t["batch_size"]), crop_seconds=float(t["crop_seconds"]),
                        lr=float(t["lr"]), seed=seed, loggers=("csv",), progress=progress)
    if not isinstance(tok, RVQCodec):
        raise NeuroseqError(f"a codec stage needs an RVQ codec; tokenizer.path holds a "
                            f"{tok.kind}.")
    if not folder.has("tokenizer"):
        folder.save_tokenizer(tok)
    return tok


def megxl_parts(run: str | Any, flag: str = "model.encoder.from_run") -> tuple[RVQCodec,
                                                                             CrissCross]:
    """The frozen codec (``tokenizer/``) and the backbone (``model/``) of a MEG-XL run."""
    folder = RunFolder(run)
    folder.require("tokenizer", "model", what=f"a finished MEG-XL pretraining run ({flag})",
                   how="train one with `neuroseq pretrain --config configs/megxl_tiny.yaml -o "
                       "RUN`")
    codec = folder.tokenizer()
    if not isinstance(codec, RVQCodec):
        raise NeuroseqError(f"{folder.tokenizer_dir} holds a {codec.kind} tokenizer; MEG-XL's "
                            "backbone reads RVQ codes.")
    return codec, CrissCross.from_pretrained(folder.model_dir)


def load_encoder(cfg: dict[str, Any], sfreq: float | None = None) -> nn.Module | None:
    """The encoder a brain-to-text ``model.encoder`` section builds from other runs' parts
    (``kind: megxl``, ``from_run``, ``n_queries``, ``d_model``); None for an encoder the model
    builds itself.  ``sfreq``, when given, is the data's rate, which the codec's must be."""
    if cfg.get("kind", "conv") != "megxl":
        return None
    if not cfg.get("from_run"):
        raise NeuroseqError("model.encoder.kind=megxl needs model.encoder.from_run=MEGXL_RUN (a "
                            "`neuroseq pretrain` MEG-XL run).")
    codec, backbone = megxl_parts(cfg["from_run"])
    if sfreq is not None and abs(float(codec.sfreq) - float(sfreq)) > 1e-6:
        raise DataError(f"the MEG-XL encoder's codec was trained at {codec.sfreq:g} Hz but "
                        f"the data is at {sfreq:g} Hz; prepare the store with --resample "
                        f"{codec.sfreq:g} or use a MEG-XL run trained at {sfreq:g} Hz.")
    kw = {k: cfg[k] for k in ("d_model", "n_queries") if cfg.get(k) is not None}
    return MEGXLEncoder(codec, backbone, **kw)
