"""Brain-to-text (LLaVA-style MEG → RVQ → LLM with LoRA), as a system declaration.

Facts: ``../shared/seeds/003_*.txt``, ``../shared/research/megxl_braintotext.md`` §3.  Data: one
fixed-length segment per sentence, sentence-disjoint splits (:mod:`neuroseq.data.sentences`), or
described event epochs (``data.descriptions``).  Stages: ``pretrain`` (phase 1, masked
reconstruction of the MEG encoder; none for ``model.encoder.kind=megxl``), ``quantize`` (phase 2,
the residual VQ on the frozen encoder, ``model.from_run=PHASE1``), ``finetune`` (phase 3, the
LLM's loss with LoRA; ``model.from_run=PHASE2``, or none for a single phase;
``distill.teacher`` adds distillation).  Evaluation: free-running decoding beside the controls
(:mod:`neuroseq.evaluation.text_decoding`).
"""

from __future__ import annotations

from typing import Any

from neuroseq.data.collate import TextCollate
from neuroseq.data.sentences import text_facts, text_splits
from neuroseq.errors import NeuroseqError
from neuroseq.evaluation import text_decoding
from neuroseq.models.brain2text import Brain2Text
from neuroseq.models.meg_encoder import MEGEncoder
from neuroseq.objectives.brain2text import (
    Distillation,
    MaskedReconstruction,
    QuantizerFit,
    TextLoss,
)
from neuroseq.training.parts import load_brain2text, load_encoder, load_teacher
from neuroseq.training.run import RunContext, Stage, System
from neuroseq.training.run_folder import RunFolder

DEFAULTS: dict[str, Any] = {
    "data": {"seconds": 4.0, "tmin": -0.2, "split_salt": "42", "stories": None, "gap": 1.0,
             "margin": 1.0, "descriptions": None},
    "model": {"kind": "brain2text", "encoder": {"kind": "conv", "preset": "paper"},
              "quantizer": {"preset": "paper", "diversity_weight": 0.1}, "from_run": None},
    "llm": {"name": "smollm2", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
            "lora_targets": None},
    "objective": {"mask_ratio": 0.5, "commitment_weight": 0.25},
    "distill": {"teacher": None, "alpha": 0.5, "temperature": 2.0, "feature_weight": 0.0},
    "decode": {"max_new_tokens": 32, "num_beams": 1, "do_sample": False, "temperature": 1.0,
               "top_p": 1.0, "seed": 0, "bertscore": True, "max_test": None,
               "prefix_probe": True},
}


def datasets(ctx: RunContext) -> dict[str, Any]:
    """Sentence segments of the sentence-disjoint splits, or described event epochs
    (``data.descriptions``): :func:`neuroseq.data.sentences.text_splits`."""
    d = ctx.cfg["data"]
    sets = text_splits(ctx.store, seconds=d["seconds"], tmin=d["tmin"],
                       descriptions=d.get("descriptions"), salt=d["split_salt"],
                       stories=d.get("stories"), gap=d["gap"], margin=d["margin"])
    ctx.meta |= {"model_kind": "brain2text", "seconds": float(d["seconds"]),
                 "tmin": float(d["tmin"])} | text_facts(sets)
    return sets


def _load(folder: RunFolder, meta: dict[str, Any]) -> Brain2Text:
    return load_brain2text(folder)


def _from_run(ctx: RunContext, need_llm: bool) -> Brain2Text | None:
    src = ctx.cfg["model"].get("from_run")
    if not src:
        return None
    return load_brain2text(RunFolder(src), ctx.meta["sfreq"], with_llm=need_llm, llm=ctx.cfg["llm"])


def _megxl_encoder(ctx: RunContext) -> bool:
    """Whether the configured encoder is a MEG-XL run's backbone (pretrained elsewhere)."""
    return ctx.cfg["model"]["encoder"].get("kind", "conv") == "megxl"


def _fresh(ctx: RunContext) -> Brain2Text:
    m = ctx.cfg["model"]
    return Brain2Text(dict(m["encoder"]), dict(m["quantizer"]), dict(ctx.cfg["llm"]),
                      load_encoder(m["encoder"], ctx.meta["sfreq"]))


def pretrain_model(ctx: RunContext) -> Brain2Text:
    """Phase 1: a fresh model (or ``model.from_run``'s, to continue)."""
    if _megxl_encoder(ctx):
        raise NeuroseqError("model.encoder.kind=megxl is pretrained by MEG-XL's masked-token "
                            "objective, not by phase 1: run `neuroseq pretrain --stage quantize` "
                            "(phase 2) or `neuroseq finetune` (single phase) with "
                            "model.encoder.from_run=MEGXL_RUN.")
    return _from_run(ctx, need_llm=False) or _fresh(ctx)


def quantize_model(ctx: RunContext) -> Brain2Text:
    """Phase 2: the phase-1 run's model (``model.from_run``), or a fresh one over a MEG-XL
    backbone (``model.encoder.kind=megxl``); the encoder frozen by the groups."""
    model = _from_run(ctx, need_llm=False)
    if model is None and _megxl_encoder(ctx):
        model = _fresh(ctx)
    if model is None:
        raise NeuroseqError("the quantize stage (phase 2) fits the RVQ on a pretrained encoder: "
                            "set model.from_run=RUN (a `neuroseq pretrain` brain2text run).")
    return model


def finetune_model(ctx: RunContext) -> Brain2Text:
    """Phase 3: a phase-2 run's model with the LLM attached, or (single phase) a fresh one."""
    model = _from_run(ctx, need_llm=True)
    if model is None:
        model = _fresh(ctx)
        model.attach_llm()
    ctx.meta["mode"] = "distill" if ctx.cfg["distill"].get("teacher") else \
        "phased" if ctx.cfg["model"].get("from_run") else "single"
    ctx.meta["llm"] = ctx.cfg["llm"]["name"]
    return model


def finetune_objective(ctx: RunContext) -> TextLoss:
    """:class:`TextLoss`, or :class:`Distillation` from ``distill.teacher``."""
    w = float(ctx.cfg["objective"]["commitment_weight"])
    dist = ctx.cfg["distill"]
    if not dist.get("teacher"):
        return TextLoss(w)
    return Distillation(load_teacher(dist["teacher"]), alpha=float(dist["alpha"]),
                        temperature=float(dist["temperature"]),
                        feature_weight=float(dist["feature_weight"]), commitment_weight=w)


def evaluate_text(ctx: RunContext, model: Brain2Text, sets: dict[str, Any]) -> dict[str, Any]:
    """Free-running decoding of the test split beside the controls
    (:func:`neuroseq.evaluation.text_decoding.evaluate_text`), with the run's facts."""
    if "test" not in sets:
        raise NeuroseqError("no test sentences: the corpus is too small for a sentence-disjoint "
                            "split with a test part.")
    res = text_decoding.evaluate_text(model, sets, dec=ctx.cfg["decode"],
                                      batch_size=int(ctx.cfg["data"]["batch_size"]),
                                      seed=ctx.train.seed,
                                      events=bool(ctx.cfg["data"].get("descriptions")))
    return res | {"mode": ctx.meta.get("mode"), "llm": ctx.cfg["llm"]["name"]}


SYSTEM = System(
    name="brain2text",
    description="MEG encoder → residual VQ → causal LLM with LoRA; phased training, "
                "distillation, free-running decoding beside noise / shuffled / LLM-only controls",
    defaults=DEFAULTS,
    stages={
        "pretrain": Stage(datasets=datasets, model=pretrain_model,
                          objective=lambda ctx: MaskedReconstruction(
                              float(ctx.cfg["objective"]["mask_ratio"])),
                          models={"brain2text": Brain2Text}, load_model=_load,
                          final_val_loss=True),
        "quantize": Stage(datasets=datasets, model=quantize_model,
                          objective=lambda ctx: QuantizerFit(
                              float(ctx.cfg["objective"]["commitment_weight"])),
                          param_groups=lambda ctx, m: [{"prefix": "encoder.", "frozen": True}],
                          collate=lambda ctx: ctx.model.collate_fn(),
                          models={"brain2text": Brain2Text}, load_model=_load,
                          final_val_loss=True),
        "finetune": Stage(datasets=datasets, model=finetune_model, objective=finetune_objective,
                          collate=lambda ctx: TextCollate(ctx.model.tokenizer,
                                                          ctx.model.collate_fn()),
                          models={"brain2text": Brain2Text}, evaluate=evaluate_text,
                          load_model=_load,
                          summary=text_decoding.summary),
    },
    accepts={"model.encoder": (MEGEncoder, "preset", "from_run", "n_queries"),
             "model.quantizer": ("preset", "n_q", "codebook_size", "dim", "diversity_weight")},
)
