"""MEG-XL (Jayalath & Parker Jones, arXiv 2602.02494), as a system declaration: first part.

``pretrain``: every sensor of long non-overlapping samples (``data.sample_seconds``, 150 s in the
paper) is coded by a frozen RVQ codec (BioCodec preset: 6 levels × 256 codes, hop 12; a saved
codec from ``tokenizer.path``, else one trained here on the train split); the criss-cross
transformer (:mod:`neuroseq.models.crisscross`) predicts the codes of ``objective.n_masked`` of
``objective.n_blocks`` blocks hidden across all sensors.  Facts:
``../shared/research/megxl_braintotext.md`` §1.

``finetune``: word retrieval (§1.5). Groups of ``data.group_size`` consecutive words (50), each
word's window ``[data.tmin, data.tmax)`` (−0.5 … 2.5 s) concatenated, split by a hash of the
group's words (0.8 / 0.1 / 0.1; or by session with ``data.sessions``), the train groups
subsampled to ``data.train_pct``; the codes of the (pretrained run's) codec feed the criss-cross
backbone (``model.pretrained``: a ``megxl`` pretrain run; otherwise from scratch), a head
predicts each word's embedding (``targets.encoder``: GloVe by default), trained with D-SigLIP;
backbone and head learning rates ``model.backbone_lr`` and ``optim.lr``;
``model.freeze_backbone`` with ``model.head: linear`` is the linear probe. ``model.pool_window:
[a, b]`` (beyond the original) averages each word's frames from ``a`` to ``b`` seconds after its
onset instead of its whole window, which in continuous speech also holds the next words'
responses. ``data.shuffle_labels`` shuffles the training words across groups (a control that
must score chance). Test top-10 and balanced top-10 over the 50 and 250 most frequent words,
chance beside, go to ``results.json``. The presets stop early on the validation in-batch
retrieval accuracy (``train.monitor: val_acc_in_batch``; the paper monitors validation balanced
top-10 over 250 words; the validation loss rises early as the temperature grows while retrieval
still improves — measured on the simulated corpus). Stores in the paper's preprocessing:
``neuroseq prepare ... --preset megxl``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from neuroseq.data.windows import WindowDataset, pad_collate
from neuroseq.data.word_vectors import word_vectors
from neuroseq.data.words import WordGroupDataset, shuffle_words
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation.retrieval import retrieval_set, topk_retrieval
from neuroseq.models.crisscross import CrissCross
from neuroseq.models.word_retrieval import WordRetrieval
from neuroseq.objectives.contrastive import WordRetrievalObjective
from neuroseq.objectives.masked_tokens import MaskedTokenObjective
from neuroseq.tokenizers import RVQCodec, Tokenizer
from neuroseq.training.codec import fit_codec
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"sample_seconds": 150.0, "group_size": 50, "tmin": -0.5, "tmax": 2.5,
             "train_pct": 1.0, "shuffle_labels": False, "split_salt": "42", "sessions": None},
    "targets": {"encoder": "glove", "on_missing": "skip"},
    "tokenizer": {"kind": "rvq", "path": None, "preset": "biocodec", "steps": 2000,
                  "batch_size": 64, "crop_seconds": 5.0, "lr": 1e-3},
    "model": {"kind": "crisscross", "preset": "paper", "pretrained": None, "head": "attention",
              "hidden": 2048, "dropout_head": 0.1, "freeze_backbone": False,
              "backbone_lr": None, "pool_window": None},
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


#: ``model.*`` keys of the criss-cross backbone, and those of the word-retrieval stage
BACKBONE_KEYS = ("preset", "d_model", "n_layers", "n_heads", "dropout", "checkpointing")
WORD_KEYS = ("kind", "pretrained", "head", "hidden", "dropout_head", "freeze_backbone",
             "backbone_lr", "pool_window")


def backbone_kwargs(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The backbone's arguments from ``model.*``; an unknown key is an error."""
    unknown = set(model_cfg) - set(BACKBONE_KEYS) - set(WORD_KEYS)
    if unknown:
        raise NeuroseqError(f"unknown model key(s) {sorted(unknown)} for megxl; known: "
                            f"{sorted(BACKBONE_KEYS + WORD_KEYS)}.")
    return {k: model_cfg[k] for k in BACKBONE_KEYS if model_cfg.get(k) is not None}


def build_model(ctx: RunContext) -> CrissCross:
    """The criss-cross transformer embedding codes with the codec's codebook vectors."""
    kw = backbone_kwargs(ctx.cfg["model"])
    books = ctx.tokenizer.codebook_vectors()
    model = CrissCross(n_levels=books.shape[0], codebook_size=books.shape[1],
                       code_dim=books.shape[2], **kw)
    model.set_codebooks(books)
    return model


def finetune_setup(ctx: RunContext) -> None:
    """The codec of ``model.pretrained`` (a megxl pretrain run), else as for pretraining."""
    pre = ctx.cfg["model"].get("pretrained")
    if pre:
        if not (Path(pre) / "tokenizer").is_dir() or not (Path(pre) / "model").is_dir():
            raise NeuroseqError(f"model.pretrained={pre} is not a finished megxl pretrain run "
                                "(tokenizer/ and model/ are needed).")
        ctx.cfg["tokenizer"]["path"] = str(Path(pre) / "tokenizer")
    setup(ctx)


def word_datasets(ctx: RunContext) -> dict[str, WordGroupDataset]:
    """Train / val / test word groups; the word targets of every word, saved in the run."""
    from safetensors.torch import save_file

    d, store = ctx.cfg["data"], ctx.store
    kw = {"group_size": int(d["group_size"]), "tmin": float(d["tmin"]),
          "tmax": float(d["tmax"]), "salt": str(d["split_salt"]), "sessions": d.get("sessions")}
    train = WordGroupDataset(store, "train", train_pct=float(d["train_pct"]),
                             seed=ctx.train.seed, **kw)
    sets = {"train": train}
    for split in ("val", "test"):
        sets[split] = WordGroupDataset(store, split, channel_vocab=train.channel_vocab, **kw)
    if d.get("shuffle_labels"):
        shuffle_words(train, ctx.train.seed)
    words = [w for ds in sets.values() for g in ds.groups for w in g.words]
    t = ctx.cfg["targets"]
    table = word_vectors(words, t["encoder"], on_missing=t["on_missing"])
    names = sorted(table)
    save_file({"vectors": torch.tensor(np.stack([table[w] for w in names]))},
              str(ctx.run / "word_targets.safetensors"))
    (ctx.run / "word_targets.json").write_text(json.dumps(names))
    ctx.meta |= {"model_kind": "word_retrieval", "sfreq": store.sfreq(store.ids[0]),
                 "word_width": train.width, "n_channels": len(train.channel_vocab),
                 "channel_vocab": train.channel_vocab, "out_dim": len(table[names[0]]),
                 "groups": {k: len(v) for k, v in sets.items()},
                 "train_words": [w for g in train.groups for w in g.words]}
    return sets


def load_word_targets(run: Path) -> dict[str, torch.Tensor]:
    """The ``{word: embedding}`` table a word run trained against."""
    from safetensors.torch import load_file

    names = json.loads((run / "word_targets.json").read_text())
    return dict(zip(names, load_file(str(run / "word_targets.safetensors"))["vectors"],
                    strict=True))


class WordCollate:
    """:func:`pad_collate` of word groups, the frozen codec's codes (each group coded once and
    kept: the codec is frozen), each word's frame range ``word_frames [B, W, 2]`` (``[(start +
    a) // hop, ⌈(start + b) / hop⌉)`` for the pooled ``span`` ``(a, b)`` of its window, the
    whole window by default), its embedding ``targets [B, W, D]`` and ``word_valid [B, W]``
    (False where a word has no embedding)."""

    def __init__(self, codec: RVQCodec, table: dict[str, torch.Tensor], width: int,
                 span: tuple[int, int] | None = None) -> None:
        self.codec, self.table, self.width = codec, table, width
        self.span = span or (0, width)  # the samples of each word's window that are pooled
        self.dim = len(next(iter(table.values())))
        self.cache: dict[str, torch.Tensor] = {}

    def _codes(self, item: dict[str, Any]) -> torch.Tensor:
        key = item.pop("key")
        if key not in self.cache:
            self.cache[key] = self.codec.encode(item["x"][None]).to(torch.int16)[0]
        return self.cache[key].long()

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        codes = [self._codes(it) for it in items]
        batch = pad_collate(items)
        del batch["x"]
        words, starts = batch.pop("words"), batch.pop("word_starts")
        n_ch = batch["mask"].shape[1]
        batch["codes"] = torch.stack([torch.nn.functional.pad(c, (0, 0, 0, 0, 0, n_ch - len(c)))
                                      for c in codes])
        n_frames, hop = batch["codes"].shape[-1], self.codec.hop
        lo, hi = starts + self.span[0], starts + self.span[1]
        batch["word_frames"] = torch.stack([lo // hop, (hi + hop - 1) // hop],
                                           -1).clamp(max=n_frames)
        zero = torch.zeros(self.dim)
        batch["targets"] = torch.stack([torch.stack([self.table.get(w, zero) for w in ws])
                                        for ws in words])
        batch["word_valid"] = torch.tensor([[w in self.table for w in ws] for ws in words])
        batch["words"] = words
        return batch


def pool_span(ctx: RunContext) -> tuple[int, int] | None:
    """``model.pool_window`` ``[a, b]`` (seconds from word onset) as samples of the word's
    window; None (the paper): the whole window."""
    win, d = ctx.cfg["model"].get("pool_window"), ctx.cfg["data"]
    if win is None:
        return None
    a, b = (float(v) for v in win)
    if not float(d["tmin"]) <= a < b <= float(d["tmax"]):
        raise NeuroseqError(f"model.pool_window={list(win)} must lie inside the word window "
                            f"[data.tmin, data.tmax] = [{d['tmin']}, {d['tmax']}].")
    sf = ctx.meta["sfreq"]
    return (int(round((a - float(d["tmin"])) * sf)), int(round((b - float(d["tmin"])) * sf)))


def build_word_model(ctx: RunContext) -> WordRetrieval:
    """The backbone (pretrained, or fresh with the codec's codebooks) under a word head."""
    m = ctx.cfg["model"]
    pre = m.get("pretrained")
    books = ctx.tokenizer.codebook_vectors()
    if pre:
        cfg = json.loads((Path(pre) / "model" / "config.json").read_text())
    else:
        n_levels, size, dim = books.shape
        cfg = backbone_kwargs(m) | {"n_levels": n_levels, "codebook_size": size, "code_dim": dim}
    model = WordRetrieval(cfg, n_channels=ctx.meta["n_channels"], out_dim=ctx.meta["out_dim"],
                          head=m["head"], hidden=int(m["hidden"]),
                          dropout=float(m["dropout_head"]),
                          freeze_backbone=bool(m["freeze_backbone"]))
    if pre:
        back = CrissCross.from_pretrained(Path(pre) / "model")
        model.backbone.load_state_dict(back.state_dict())
    else:
        model.backbone.set_codebooks(books)
    return model


def word_param_groups(ctx: RunContext, model: WordRetrieval) -> list[dict[str, Any]]:
    """Backbone at ``model.backbone_lr`` (default: ``optim.lr``), the rest at ``optim.lr``."""
    lr = ctx.cfg["model"].get("backbone_lr")
    if model.freeze_backbone or lr is None:
        return []
    return [{"prefix": "backbone.", "lr": float(lr)}]


@torch.no_grad()
def predict_words(model: WordRetrieval, ds: WordGroupDataset, collate: WordCollate
                  ) -> tuple[torch.Tensor, list[str]]:
    """Predicted embeddings ``[N, D]`` and the true words of every word of ``ds``."""
    model.eval()
    preds, words = [], []
    for b in DataLoader(ds, 1, collate_fn=collate):
        p = model(b["codes"], b["sensors"], b["mask"], b["word_frames"])
        preds.append(p.flatten(0, 1))
        words += [w for ws in b["words"] for w in ws]
    return torch.cat(preds), words


def evaluate_words(ctx: RunContext, model: WordRetrieval, sets: dict[str, Any]
                   ) -> dict[str, Any]:
    """Test top-10 and balanced top-10 against the 50 and 250 most frequent training words
    (those with an embedding), chance beside; the run's facts."""
    table = load_word_targets(ctx.run)
    collate = WordCollate(ctx.tokenizer, table, ctx.meta["word_width"], pool_span(ctx))
    pred, words = predict_words(model, sets["test"], collate)
    freq = [w for w in ctx.meta["train_words"] if w in table]
    info = json.loads((ctx.run / "run.json").read_text()) if (ctx.run / "run.json").is_file() \
        else {}
    out: dict[str, Any] = {"split": "test", "n_test_words": len(words),
                           "groups": ctx.meta["groups"], "train_pct": ctx.cfg["data"]["train_pct"],
                           "shuffled_labels": bool(ctx.cfg["data"].get("shuffle_labels")),
                           "pretrained": ctx.cfg["model"].get("pretrained"),
                           "head": model.head_kind, "frozen_backbone": model.freeze_backbone,
                           "targets": ctx.cfg["targets"]["encoder"], "seed": ctx.train.seed,
                           "steps": info.get("global_step"), "best_step": info.get("best_step"),
                           "early_stopped": info.get("early_stopped")}
    for size in (50, 250):
        cands = retrieval_set(freq, size)
        emb = torch.stack([table[w] for w in cands])
        out[f"top10_of_{size}"] = topk_retrieval(pred, words, cands, emb, k=10)
    out["pool_window"] = ctx.cfg["model"].get("pool_window")
    return out


SYSTEM = System(
    name="megxl",
    description="RVQ codec tokens + criss-cross transformer, masked-token pretraining, "
                "word retrieval",
    defaults=DEFAULTS,
    stages={"pretrain": Stage(
        setup=setup, datasets=datasets, model=build_model,
        objective=lambda ctx: MaskedTokenObjective(int(ctx.cfg["objective"]["n_blocks"]),
                                                   int(ctx.cfg["objective"]["n_masked"])),
        collate=lambda ctx: CodecCollate(ctx.tokenizer), models={"crisscross": CrissCross},
        final_val_loss=True),
        "finetune": Stage(
            setup=finetune_setup, datasets=word_datasets, model=build_word_model,
            objective=lambda ctx: WordRetrievalObjective(),
            collate=lambda ctx: WordCollate(ctx.tokenizer, load_word_targets(ctx.run),
                                            ctx.meta["word_width"], pool_span(ctx)),
            models={"word_retrieval": WordRetrieval}, param_groups=word_param_groups,
            evaluate=evaluate_words)},
)
