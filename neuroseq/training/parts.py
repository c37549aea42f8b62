"""Parts a stage reads from other runs or trains first, loaded here and passed into models
(``models/`` reads no run folders and imports no tokenizers): the frozen codec of a codec stage,
the MEG-XL encoder made of a MEG-XL run's codec and backbone, saved brain-to-text models."""

from __future__ import annotations

from typing import Any

from torch import nn

from neuroseq.errors import DataError, NeuroseqError
from neuroseq.models.brain2text import Brain2Text
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


def megxl_run(run: str | Any, flag: str) -> RunFolder:
    """The folder of a finished MEG-XL pretraining run (codec and backbone saved), named by the
    config key ``flag``."""
    folder = RunFolder(run)
    folder.require("tokenizer", "model", what=f"a finished MEG-XL pretraining run ({flag})",
                   how="train one with `neuroseq pretrain --config configs/megxl_tiny.yaml -o "
                       "RUN`")
    return folder


def megxl_parts(run: str | Any, flag: str = "model.encoder.from_run") -> tuple[RVQCodec,
                                                                             CrissCross]:
    """The frozen codec (``tokenizer/``) and the backbone (``model/``) of a MEG-XL run."""
    folder = megxl_run(run, flag)
    codec = folder.tokenizer()
    if not isinstance(codec, RVQCodec):
        raise NeuroseqError(f"{folder.tokenizer_dir} holds a {codec.kind} tokenizer; MEG-XL's "
                            "backbone reads RVQ codes.")
    return codec, CrissCross.from_pretrained(folder.model_dir)


def backbone_config(m: dict[str, Any], codec: RVQCodec, keys: tuple[str, ...]
                    ) -> dict[str, Any]:
    """The criss-cross arguments of a MEG-XL ``model`` section ``m``: ``m["pretrained"]``'s
    saved ones, or ``m``'s ``keys`` with the codec's codebook shape."""
    if m.get("pretrained"):
        return RunFolder(m["pretrained"]).model_config()
    n_levels, size, dim = codec.codebook_vectors().shape
    return {k: m[k] for k in keys if m.get(k) is not None} | {
        "n_levels": n_levels, "codebook_size": size, "code_dim": dim}


def init_backbone(backbone: CrissCross, m: dict[str, Any], codec: RVQCodec) -> None:
    """Load ``m["pretrained"]``'s backbone weights into ``backbone``, else embed codes with
    the codec's codebook vectors."""
    if m.get("pretrained"):
        pre = CrissCross.from_pretrained(RunFolder(m["pretrained"]).model_dir)
        backbone.load_state_dict(pre.state_dict())
    else:
        backbone.set_codebooks(codec.codebook_vectors())


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


def load_brain2text(folder: RunFolder, sfreq: float | None = None, **kw: Any) -> Brain2Text:
    """A saved brain-to-text model, its encoder's parts read from their runs (checked against
    the data's rate ``sfreq`` when given); ``kw`` go to :meth:`Brain2Text.from_pretrained`."""
    folder.require("model", what="a finished brain2text run")
    enc = load_encoder(folder.model_config()["encoder"], sfreq)
    return Brain2Text.from_pretrained(folder.model_dir, encoder_module=enc, **kw)


def load_teacher(run: str | Any) -> Brain2Text:
    """The finished brain-to-text finetune run ``distill.teacher`` names."""
    folder = RunFolder(run)
    if not (folder.model_dir / "adapter").is_dir():
        raise NeuroseqError(f"distill.teacher={run} is not a finished brain2text finetune run "
                            "(model/adapter/ missing).")
    return load_brain2text(folder)
