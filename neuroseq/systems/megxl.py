"""MEG-XL (Jayalath & Parker Jones, arXiv 2602.02494), as a system declaration.

``pretrain``: every sensor of long non-overlapping samples (``data.sample_seconds``, 150 s) is
coded by a frozen RVQ codec (``tokenizer.path``, else one trained on the train split); the
criss-cross transformer predicts the codes of ``objective.n_masked`` of ``objective.n_blocks``
blocks hidden across all sensors.  ``finetune``: word retrieval — groups of ``data.group_size``
consecutive words (hashed split of their word strings, or ``data.sessions``), the codec's codes
through the (``model.pretrained``) backbone, a head per word, D-SigLIP against
``targets.encoder`` embeddings; ``model.linear_probe: true`` is the linear probe (linear head,
frozen backbone); ``data.shuffle_labels`` the control that must score chance.  Facts and the
full story: ``../shared/research/megxl_braintotext.md`` §1, ``docs/design.md``.
"""

from __future__ import annotations

from typing import Any

from neuroseq.data.collate import EncodeCollate
from neuroseq.data.windows import WindowDataset, window_splits
from neuroseq.data.words import (
    WordCollate,
    WordGroupDataset,
    load_word_targets,
    make_word_targets,
    pool_span,
    word_facts,
    word_splits,
)
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation import word_retrieval as word_eval
from neuroseq.models.crisscross import CrissCross
from neuroseq.models.word_retrieval import WordRetrieval
from neuroseq.objectives.contrastive import WordRetrievalObjective
from neuroseq.objectives.masked_tokens import MaskedTokenObjective
from neuroseq.training.parts import backbone_config, frozen_codec, init_backbone, megxl_run
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"sample_seconds": 150.0, "group_size": 50, "tmin": -0.5, "tmax": 2.5,
             "train_pct": 1.0, "shuffle_labels": False, "split_salt": "42", "sessions": None},
    "targets": {"encoder": "glove", "on_missing": "skip"},
    "tokenizer": {"kind": "rvq", "path": None, "preset": "biocodec", "steps": 2000,
                  "batch_size": 64, "crop_seconds": 5.0, "lr": 1e-3},
    "model": {"kind": "crisscross", "preset": "paper", "pretrained": None, "head": "attention",
              "hidden": 2048, "dropout_head": 0.1, "freeze_backbone": False,
              "linear_probe": False, "backbone_lr": None, "pool_window": None},
    "objective": {"n_blocks": 50, "n_masked": 20},
}
#: ``model.*`` keys that are the criss-cross backbone's
BACKBONE_KEYS = ("preset", "d_model", "n_layers", "n_heads", "dropout", "checkpointing")


def setup(ctx: RunContext) -> None:
    """The frozen codec (the run's own on resume, ``tokenizer.path``, or trained now)."""
    ctx.tokenizer = frozen_codec(ctx.cfg["tokenizer"], ctx.folder, ctx.store,
                                 seed=ctx.train.seed, resume=ctx.resume,
                                 progress=ctx.train.progress)


def datasets(ctx: RunContext) -> dict[str, WindowDataset]:
    """Non-overlapping samples of ``data.sample_seconds`` from the train (and val) split."""
    store, tok, o = ctx.store, ctx.tokenizer, ctx.cfg["objective"]
    sfreq = store.sfreq(store.ids[0])
    window = int(round(float(ctx.cfg["data"]["sample_seconds"]) * sfreq)) // tok.hop * tok.hop
    frames = window // tok.hop
    if frames // int(o["n_blocks"]) < 1:
        raise NeuroseqError(f"data.sample_seconds gives {frames} codec frames, fewer than "
                            f"objective.n_blocks={o['n_blocks']}; use longer samples.")
    out = window_splits(store, window, window)
    train = out["train"]
    ctx.meta |= {"model_kind": "crisscross", "sfreq": train.sfreq, "window": window,
                 "frames": frames, "channel_vocab": train.channel_vocab,
                 "n_levels": tok.n_levels, "vocab_size": tok.vocab_size}
    return out


def build_backbone(ctx: RunContext) -> CrissCross:
    """A fresh criss-cross transformer embedding codes with the codec's codebook vectors."""
    model = CrissCross(**backbone_config(ctx.cfg["model"], ctx.tokenizer, BACKBONE_KEYS))
    model.set_codebooks(ctx.tokenizer.codebook_vectors())
    return model


def finetune_setup(ctx: RunContext) -> None:
    """The codec of ``model.pretrained`` (a megxl pretrain run), else as for pretraining;
    ``model.linear_probe`` sets the linear head on the frozen backbone."""
    m = ctx.cfg["model"]
    if m.get("linear_probe"):
        m |= {"head": "linear", "freeze_backbone": True}
    if m.get("pretrained"):
        ctx.cfg["tokenizer"]["path"] = str(megxl_run(m["pretrained"], "model.pretrained"
                                                     ).tokenizer_dir)
    setup(ctx)


def word_datasets(ctx: RunContext) -> dict[str, WordGroupDataset]:
    """Train / val / test word groups; the word targets saved in the run; shifted runs of words
    that straddle splits counted (:func:`~neuroseq.data.words.word_facts`)."""
    d = ctx.cfg["data"]
    sets = word_splits(ctx.store, group_size=d["group_size"], tmin=d["tmin"], tmax=d["tmax"],
                       salt=d["split_salt"], sessions=d.get("sessions"),
                       train_pct=d["train_pct"], seed=ctx.train.seed,
                       shuffle_labels=bool(d.get("shuffle_labels")))
    table = make_word_targets(sets, ctx.cfg["targets"]["encoder"], ctx.run,
                              ctx.cfg["targets"]["on_missing"])
    ctx.meta |= word_facts(sets) | {"model_kind": "word_retrieval",
                                    "out_dim": len(next(iter(table.values())))}
    return sets


def word_collate(ctx: RunContext) -> WordCollate:
    """Codes, word frame ranges and targets of word groups."""
    d = ctx.cfg["data"]
    return WordCollate(ctx.tokenizer, load_word_targets(ctx.run), ctx.meta["word_width"],
                       pool_span(ctx.cfg["model"].get("pool_window"), d["tmin"], d["tmax"],
                                 ctx.meta["sfreq"]))


def build_word_model(ctx: RunContext) -> WordRetrieval:
    """The backbone (``model.pretrained``'s, or fresh with the codec's codebooks) under a word
    head."""
    m = ctx.cfg["model"]
    model = WordRetrieval(backbone_config(m, ctx.tokenizer, BACKBONE_KEYS),
                          n_chans=ctx.meta["n_chans"], n_outputs=ctx.meta["out_dim"],
                          head=m["head"], hidden=int(m["hidden"]),
                          dropout=float(m["dropout_head"]),
                          freeze_backbone=bool(m["freeze_backbone"]))
    init_backbone(model.backbone, m, ctx.tokenizer)
    return model


def word_param_groups(ctx: RunContext, model: WordRetrieval) -> list[dict[str, Any]]:
    """Backbone at ``model.backbone_lr`` (default: ``optim.lr``), the rest at ``optim.lr``."""
    lr = ctx.cfg["model"].get("backbone_lr")
    return [] if model.freeze_backbone or lr is None else [{"prefix": "backbone.",
                                                              "lr": float(lr)}]


def evaluate_words(ctx: RunContext, model: WordRetrieval, sets: dict[str, Any]
                   ) -> dict[str, Any]:
    """Word retrieval on the test groups (model, noise and shuffled-brain arms; chance and the
    constant bar: :mod:`neuroseq.evaluation.word_retrieval`), with the run's facts."""
    m, d = ctx.cfg["model"], ctx.cfg["data"]
    res = word_eval.evaluate_words(model, sets["test"], word_collate(ctx),
                                   train=sets["train"], seed=ctx.train.seed)
    return res | {k: ctx.meta[k] for k in ("groups", "leaked_runs")} | {
        "train_pct": d["train_pct"], "shuffled_labels": bool(d.get("shuffle_labels")),
        "pretrained": m.get("pretrained"), "head": model.head_kind,
        "frozen_backbone": model.freeze_backbone, "targets": ctx.cfg["targets"]["encoder"],
        "pool_window": m.get("pool_window")}


SYSTEM = System(
    name="megxl",
    description="RVQ codec tokens + criss-cross transformer, masked-token pretraining, "
                "word retrieval",
    defaults=DEFAULTS,
    stages={"pretrain": Stage(
        setup=setup, datasets=datasets, model=build_backbone,
        objective=lambda ctx: MaskedTokenObjective(int(ctx.cfg["objective"]["n_blocks"]),
                                                   int(ctx.cfg["objective"]["n_masked"])),
        collate=lambda ctx: EncodeCollate(ctx.tokenizer, "codes"),
        models={"crisscross": CrissCross}, final_val_loss=True),
        "finetune": Stage(
            setup=finetune_setup, datasets=word_datasets, model=build_word_model,
            objective=lambda ctx: WordRetrievalObjective(), collate=word_collate,
            models={"word_retrieval": WordRetrieval}, param_groups=word_param_groups,
            evaluate=evaluate_words, summary=word_eval.summary)},
    accepts={"model": BACKBONE_KEYS},
)
