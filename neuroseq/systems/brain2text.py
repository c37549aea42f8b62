"""Brain-to-text (LLaVA-style MEG → RVQ → LLM with LoRA), as a system declaration.

Facts: ``../shared/seeds/003_*.txt`` (the system as its authors describe it; its BLEU-4 18.7 /
ROUGE-L 42.6 / BERTScore 0.71 / WER 58.3 % on MEG-MASC come with no split or control), and
``../shared/research/megxl_braintotext.md`` §3 with ``anchors_update_2026-12.md`` §2 (why
such numbers are not trusted).  Data: one fixed-length segment per sentence
(:mod:`neuroseq.data.sentences`), sentence-disjoint splits (or whole stories held out).

Stages, all through the usual verbs:

- ``pretrain`` (phase 1): masked-autoencoder pretraining of the MEG encoder (with
  ``model.encoder.kind=megxl`` the encoder is a MEG-XL run's backbone, pretrained by MEG-XL, and
  phase 1 is skipped);
- ``quantize`` (phase 2, ``neuroseq pretrain --stage quantize model.from_run=PHASE1``): the
  residual VQ on the frozen encoder's features;
- ``finetune`` (phase 3): the LLM's loss on the sentence text, LLM frozen but for LoRA;
  ``model.from_run`` = a phase-2 run (phased), or none (``single``: everything from scratch in
  one phase); ``distill.teacher`` = a trained finetune run adds knowledge distillation.

The finetune stage evaluates on the test split by **free-running decoding** (never teacher
forcing) beside three controls — the same model fed noise, fed the MEG of a different sentence,
and the LLM with an empty MEG block — with BLEU-4, ROUGE-L, WER, BERTScore, a paired permutation
test over sentences against each control, and retrieval of the true sentence among all test
sentences by the model's likelihood, chance beside.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroseq.data.sentences import EventTextDataset, SentenceDataset
from neuroseq.data.windows import pad_collate
from neuroseq.errors import DataError, NeuroseqError
from neuroseq.evaluation import text as tm
from neuroseq.models.brain2text import Brain2Text
from neuroseq.objectives.brain2text import (
    Distillation,
    MaskedReconstruction,
    QuantizerFit,
    TextLoss,
)
from neuroseq.training.run import RunContext, Stage, System

DEFAULTS: dict[str, Any] = {
    "data": {"seconds": 4.0, "tmin": -0.2, "split_salt": "42", "stories": None, "gap": 1.0,
             "descriptions": None},
    "model": {"kind": "brain2text", "encoder": {"kind": "conv", "preset": "paper"},
              "quantizer": {"preset": "paper", "diversity_weight": 0.1}, "from_run": None},
    "llm": {"name": "smollm2", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
            "lora_targets": None},
    "objective": {"mask_ratio": 0.5, "commitment_weight": 0.25},
    "distill": {"teacher": None, "alpha": 0.5, "temperature": 2.0, "feature_weight": 0.0},
    "decode": {"max_new_tokens": 32, "num_beams": 1, "do_sample": False, "temperature": 1.0,
               "top_p": 1.0, "seed": 0, "bertscore": True, "max_test": None},
}


def event_datasets(ctx: RunContext) -> dict[str, EventTextDataset]:
    """Event-locked epochs described in words (``data.descriptions``), the store's splits."""
    d, store = ctx.cfg["data"], ctx.store
    kw = {"seconds": float(d["seconds"]), "tmin": float(d["tmin"])}
    train = EventTextDataset(store, "train", dict(d["descriptions"]), **kw)
    sets = {"train": train}
    for sp in ("val", "test"):
        try:
            sets[sp] = EventTextDataset(store, sp, dict(d["descriptions"]),
                                        channel_vocab=train.channel_vocab, **kw)
        except DataError:
            continue  # the store has no such split
    ctx.meta |= {"model_kind": "brain2text", "sfreq": train.sfreq, "seconds": kw["seconds"],
                 "tmin": kw["tmin"], "channel_vocab": train.channel_vocab, "source": "events",
                 "descriptions": train.descriptions,
                 "sentences": {sp: len(v) for sp, v in sets.items()},
                 "test_sentences": sorted(set(sets["test"].texts)) if "test" in sets else []}
    return sets


def datasets(ctx: RunContext) -> dict[str, Any]:
    """Sentence segments of the three sentence-disjoint splits (or, with
    ``data.descriptions``, described event epochs: :func:`event_datasets`)."""
    d = ctx.cfg["data"]
    if d.get("descriptions"):
        return event_datasets(ctx)
    kw = {"seconds": float(d["seconds"]), "tmin": float(d["tmin"]), "salt": str(d["split_salt"]),
          "stories": d.get("stories"), "gap": float(d["gap"])}
    train = SentenceDataset(ctx.store, "train", **kw)
    sets = {"train": train}
    for sp in ("val", "test"):
        if train.counts[sp]:
            sets[sp] = SentenceDataset(ctx.store, sp, channel_vocab=train.channel_vocab, **kw)
    ctx.meta |= {"model_kind": "brain2text", "sfreq": ctx.store.sfreq(ctx.store.ids[0]),
                 "seconds": float(d["seconds"]), "tmin": float(d["tmin"]),
                 "channel_vocab": train.channel_vocab, "sentences": train.counts,
                 "test_sentences": sorted(set(sets["test"].texts)) if "test" in sets else []}
    return sets


def _from_run(ctx: RunContext, need_llm: bool) -> Brain2Text | None:
    src = ctx.cfg["model"].get("from_run")
    if not src:
        return None
    path = Path(src) / "model"
    if not (path / "config.json").is_file():
        raise NeuroseqError(f"model.from_run={src} is not a finished brain2text run "
                            "(model/config.json missing).")
    return _checked(ctx, Brain2Text.from_pretrained(path, with_llm=need_llm, llm=ctx.cfg["llm"]))


def _megxl_encoder(ctx: RunContext) -> bool:
    """Whether the configured encoder is a MEG-XL run's backbone (pretrained elsewhere)."""
    return ctx.cfg["model"]["encoder"].get("kind", "conv") == "megxl"


def _checked(ctx: RunContext, model: Brain2Text) -> Brain2Text:
    """``model``, once its encoder's sampling rate (a MEG-XL codec's) matches the store's."""
    want, have = getattr(model.encoder, "sfreq", None), ctx.store.sfreq(ctx.store.ids[0])
    if want is not None and abs(float(want) - float(have)) > 1e-6:
        raise DataError(f"the MEG-XL encoder's codec was trained at {want:g} Hz but "
                        f"data.store={ctx.store.path} is at {have:g} Hz; prepare the store "
                        f"with --resample {want:g} or use a MEG-XL run trained at {have:g} Hz.")
    return model


def _fresh(ctx: RunContext) -> Brain2Text:
    m = ctx.cfg["model"]
    return _checked(ctx, Brain2Text(dict(m["encoder"]), dict(m["quantizer"]),
                                    dict(ctx.cfg["llm"])))


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
    path = Path(dist["teacher"]) / "model"
    if not (path / "adapter").is_dir():
        raise NeuroseqError(f"distill.teacher={dist['teacher']} is not a finished brain2text "
                            "finetune run (model/adapter/ missing).")
    return Distillation(Brain2Text.from_pretrained(path), alpha=float(dist["alpha"]),
                        temperature=float(dist["temperature"]),
                        feature_weight=float(dist["feature_weight"]), commitment_weight=w)


#: the three controls every table has beside the model
CONTROLS = ("noise", "shuffled", "llm_only")
#: the table's metrics for sentences (exact match of a whole sentence is left out: no arm
#: reaches it at our scale, so it can separate nothing) and for described events (where the
#: texts are a closed set and exact match is the accuracy of the description)
TABLE_METRICS = {False: ["bleu4", "rouge_l", "wer", "bertscore", "retrieval_top1"],
                 True: ["bleu4", "rouge_l", "wer", "bertscore", "exact_match",
                        "retrieval_top1"]}


def _other_sentence(texts: list[str], seed: int) -> list[int]:
    """For every item, a random item of a different sentence (whose MEG the shuffled control
    reads)."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(texts, dtype=object)
    out = []
    for t in texts:
        others = np.flatnonzero(arr != t)
        if not len(others):
            raise NeuroseqError("the test split holds a single distinct sentence; the "
                                "shuffled-MEG control needs at least two.")
        out.append(int(rng.choice(others)))
    return out


@torch.no_grad()
def decode_arms(model: Brain2Text, ds: Any, texts: list[str], dec: dict[str, Any],
                batch_size: int) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """Decoded text of every item of ``ds`` (whose texts are ``texts``) per arm (model, noise,
    shuffled MEG, LLM only) and each arm's log-likelihood matrix over the distinct texts."""
    model.eval()
    cands = sorted(set(texts))
    perm = _other_sentence(texts, int(dec["seed"]))
    gen_kw = {k: dec[k] for k in ("max_new_tokens", "num_beams", "do_sample", "temperature",
                                  "top_p", "seed")}
    hyps: dict[str, list[str]] = {a: [] for a in ("model", "noise", "shuffled", "llm_only")}
    ll: dict[str, list[np.ndarray]] = {a: [] for a in hyps}
    for start in range(0, len(ds), batch_size):
        idx = list(range(start, min(start + batch_size, len(ds))))
        own = pad_collate([ds[i] for i in idx])
        other = pad_collate([ds[perm[i]] for i in idx])
        torch.manual_seed(int(dec["seed"]) + start)
        megs = {"model": model.meg_embeddings(own), "noise": model.meg_embeddings(own, "noise"),
                "shuffled": model.meg_embeddings(other), "llm_only": None}
        for arm, meg in megs.items():
            hyps[arm] += model.generate(meg, len(idx), **gen_kw)
            rows = []
            for c in cands:
                rows.append(model.log_likelihood(meg, [c] * len(idx)).cpu().numpy())
            ll[arm].append(np.stack(rows, 1))
    return hyps, {a: np.concatenate(v) for a, v in ll.items()}


def classifier_baseline(sets: dict[str, Any], seed: int, n_bins: int = 8) -> list[str]:
    """The description a logistic regression picks for each test epoch (features: each
    channel's mean in ``n_bins`` time bins; fitted on the train split)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def feats(ds: Any) -> tuple[np.ndarray, list[str]]:
        xs = []
        for i in range(len(ds)):
            x = ds[i]["x"].numpy()
            xs.append(np.stack([b.mean(1) for b in np.array_split(x, n_bins, axis=1)], 1).ravel())
        return np.stack(xs), ds.texts

    xtr, ytr = feats(sets["train"])
    xte, _ = feats(sets["test"])
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1,
                                                             random_state=seed))
    return list(clf.fit(xtr, ytr).predict(xte))


def evaluate_text(ctx: RunContext, model: Brain2Text, sets: dict[str, Any]) -> dict[str, Any]:
    """Free-running decoding of the test segments beside the three controls (and, for
    described events, a classifier that picks the description)."""
    if "test" not in sets:
        raise NeuroseqError("no test sentences: the corpus is too small for a sentence-disjoint "
                            "split with a test part.")
    dec = ctx.cfg["decode"]
    ds, refs = sets["test"], sets["test"].texts
    if dec.get("max_test"):
        n = min(int(dec["max_test"]), len(ds))
        ds, refs = torch.utils.data.Subset(ds, range(n)), refs[:n]
    hyps, ll = decode_arms(model, ds, refs, dec, int(ctx.cfg["data"]["batch_size"]))
    events = bool(ctx.cfg["data"].get("descriptions"))
    if events and not dec.get("max_test"):  # a classifier picking the description: a baseline
        hyps["classifier"] = classifier_baseline(sets, ctx.train.seed)
    cands = sorted(set(refs))
    truth = np.array([cands.index(r) for r in refs])
    use_bs = bool(dec.get("bertscore", True))
    arms: dict[str, Any] = {}
    if use_bs:  # one BERTScore call for all arms (one model load)
        allf1 = tm.bert_f1([h for a in hyps.values() for h in a], refs * len(hyps))
    for k, (arm, hy) in enumerate(hyps.items()):
        per = tm.per_sentence(hy, refs, bertscore=False)
        if use_bs:
            per["bertscore"] = allf1[k * len(refs):(k + 1) * len(refs)]
        corpus = tm.corpus_scores(hy, refs, per)
        ret = tm.likelihood_retrieval(ll[arm], truth) if arm in ll else None
        if ret is not None:
            per["retrieval_top1"] = (np.asarray(ret["ranks"]) == 1).astype(float)
            corpus["retrieval_top1"] = ret["top1"]
        arms[arm] = {"corpus": corpus,
                     "per_sentence": {m: v.tolist() for m, v in per.items()},
                     "retrieval": ret,
                     "examples": [{"reference": r, "decoded": h} for r, h in
                                  zip(refs[:8], hy[:8], strict=False)]}
    info = ctx.run / "run.json"
    steps = json.loads(info.read_text()).get("global_step") if info.is_file() else None
    return {"split": "test", "n_segments": len(refs), "n_sentences": len(cands),
            "seed": ctx.train.seed, "steps": steps, "mode": ctx.meta.get("mode"),
            "llm": ctx.cfg["llm"]["name"], "teacher_forced": False, "decode": dict(dec),
            "source": "events" if events else "sentences",
            "arms": arms, "table": tm.comparison_table(arms, controls=list(CONTROLS),
                                                       metrics=TABLE_METRICS[events],
                                                       groups=refs),
            "permutation_unit": "distinct text (each segment's differences averaged within "
                                "its sentence first)",
            "retrieval_chance_top1": 1.0 / len(cands)}


SYSTEM = System(
    name="brain2text",
    description="MEG encoder → residual VQ → causal LLM with LoRA; phased training, "
                "distillation, free-running decoding beside noise / shuffled / LLM-only controls",
    defaults=DEFAULTS,
    stages={
        "pretrain": Stage(datasets=datasets, model=pretrain_model,
                          objective=lambda ctx: MaskedReconstruction(
                              float(ctx.cfg["objective"]["mask_ratio"])),
                          models={"brain2text": Brain2Text}, final_val_loss=True),
        "quantize": Stage(datasets=datasets, model=quantize_model,
                          objective=lambda ctx: QuantizerFit(
                              float(ctx.cfg["objective"]["commitment_weight"])),
                          param_groups=lambda ctx, m: [{"prefix": "encoder.", "frozen": True}],
                          models={"brain2text": Brain2Text}, final_val_loss=True),
        "finetune": Stage(datasets=datasets, model=finetune_model, objective=finetune_objective,
                          models={"brain2text": Brain2Text}, evaluate=evaluate_text),
    },
)
