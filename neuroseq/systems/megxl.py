"""MEG-XL (Jayalath & Parker Jones, arXiv 2602.02494), as a system declaration: first part.

``pretrain``: every sensor of long non-overlapping samples (``data.sample_seconds``, 150 s in the
paper) is coded by a frozen RVQ codec (BioCodec preset: 6 levels × 256 codes, hop 12; a saved
codec from ``tokenizer.path``, else one trained here on the train split); the criss-cross
transformer (:mod:`neuroseq.models.crisscross`) predicts the codes of ``objective.n_masked`` of
``objective.n_blocks`` blocks hidden across all sensors.  Facts:
``../shared/research/megxl_braintotext.md`` §1.  Word-aligned corpora, the word-retrieval
fine-tuning and the MEG-XL preprocessing preset are not built yet.
"""

from __future__ import annotations

from typing import Any

from neuroseq.data.windows import WindowDataset, pad_collate
from neuroseq.errors import NeuroseqError
from neuroseq.models.crisscross import CrissCross
from neuroseq.objectives.masked_tokens import MaskedTokenObjective
from neuroseq.tokenizers import RVQCodec, Tokenizer
from neuroseq.training.codec import fit_codec
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"sample_seconds": 150.0},
    "tokenizer": {"kind": "rvq", "path": None, "preset": "biocodec", "steps": 2000,
                  "batch_size": 64, "crop_seconds": 5.0, "lr": 1e-3},
    "model": {"kind": "crisscross", "preset": "paper"},
    "objective": {"n_blocks": 50, "n_masked": 20},
}


def setup(ctx: RunContext) -> None:
    """The frozen codec: the run's own on resume, ``tokenizer.path``, or one trained now."""
    t, saved = ctx.cfg["tokenizer"], ctx.run / "tokenizer"
    if saved.is_dir() and ctx.resume:
        tok = Tokenizer.from_pretrained(saved)
    elif t.get("path"):
        tok = Tokenizer.from_pretrained(t["path"])
    else:
        tok = fit_codec(RVQCodec(t["preset"]), ctx.store, split="train",
                        run_dir=ctx.run / "tokenizer_training", max_steps=int(t["steps"]),
                        batch_size=int(t["batch_size"]), crop_seconds=float(t["crop_seconds"]),
                        lr=float(t["lr"]), seed=ctx.train.seed, loggers=("csv",),
                        progress=ctx.train.progress)
    if not isinstance(tok, RVQCodec):
        raise NeuroseqError(f"MEG-XL needs an RVQ codec; tokenizer.path holds a {tok.kind}.")
    if not saved.is_dir():
        tok.save_pretrained(saved)
    ctx.tokenizer = tok


def datasets(ctx: RunContext) -> dict[str, WindowDataset]:
    """Non-overlapping samples of ``data.sample_seconds`` from the train (and val) split."""
    store, tok, o = ctx.store, ctx.tokenizer, ctx.cfg["objective"]
    sfreq = store.sfreq(store.ids[0])
    window = int(round(float(ctx.cfg["data"]["sample_seconds"]) * sfreq)) // tok.hop * tok.hop
    frames = window // tok.hop
    if frames // int(o["n_blocks"]) < 1:
        raise NeuroseqError(f"data.sample_seconds gives {frames} codec frames, fewer than "
                            f"objective.n_blocks={o['n_blocks']}; use longer samples.")
    train = WindowDataset(store, window, window, split="train")
    out = {"train": train}
    if WindowDataset.fits(store, window, "val"):
        out["val"] = WindowDataset(store, window, window, split="val",
                                   channel_vocab=train.channel_vocab)
    ctx.meta |= {"model_kind": "crisscross", "sfreq": train.sfreq, "window": window,
                 "frames": frames, "channel_vocab": train.channel_vocab,
                 "n_levels": tok.n_levels, "vocab_size": tok.vocab_size}
    return out


class CodecCollate:
    """:func:`pad_collate`, then the frozen codec's ``codes [B, C, Q, T']`` of every sensor."""

    def __init__(self, codec: RVQCodec) -> None:
        self.codec = codec

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = pad_collate(items)
        batch["codes"] = self.codec.encode(batch.pop("x")).long()
        return batch


def build_model(ctx: RunContext) -> CrissCross:
    """The criss-cross transformer embedding codes with the codec's codebook vectors."""
    kw = {k: v for k, v in ctx.cfg["model"].items() if k != "kind"}
    books = ctx.tokenizer.codebook_vectors()
    model = CrissCross(n_levels=books.shape[0], codebook_size=books.shape[1],
                       code_dim=books.shape[2], **kw)
    model.set_codebooks(books)
    return model


SYSTEM = System(
    name="megxl",
    description="RVQ codec tokens + criss-cross transformer, masked-token pretraining",
    defaults=DEFAULTS,
    stages={"pretrain": Stage(
        setup=setup, datasets=datasets, model=build_model,
        objective=lambda ctx: MaskedTokenObjective(int(ctx.cfg["objective"]["n_blocks"]),
                                                   int(ctx.cfg["objective"]["n_masked"])),
        collate=lambda ctx: CodecCollate(ctx.tokenizer), models={"crisscross": CrissCross},
        final_val_loss=True)},
)
