"""Generate a :class:`~neuroseq.data.recording.Recording` from a trained run, seeded with real data.

Token models (GPT2MEG, WaveNet) go through :func:`~neuroseq.generation.sampler.generate_tokens`;
the linear AR runs its noise-driven filter.  Output is de-tokenised into the store's units, then
the store's fitted scaling is undone (``units="physical"``, the default: fT, fT/cm, µV, as the
``.fif`` says), gets the store's sensors, carries the condition timeline as events and saves to
``.fif``.  The provenance and the sidecar record which units the data are in.
:func:`generate_recordings` makes several at once (seed recordings, subjects, condition
timelines, sampling seeds), as one batch.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from neuroseq.atomic import write_json_atomic
from neuroseq.data.events import condition_timeline, synthetic_timeline, timeline_events
from neuroseq.data.recording import Recording
from neuroseq.data.splits import sample_spans
from neuroseq.errors import DataError
from neuroseq.generation.sampler import SamplingConfig, generate_tokens, innovation_correlation
from neuroseq.models.linear_ar import LinearAR


def generate_recording(model: nn.Module, tok: Any, meta: dict[str, Any], store: Any,
                       seconds: float, *, conditions: Literal["real", "synthetic", "none"] = "real",
                       split: str = "test", recording: str | None = None,
                       context_seconds: float | None = None, cfg: SamplingConfig | None = None,
                       trial_seconds: float = 0.5, rest_seconds: float = 0.5,
                       units: Literal["physical", "store"] = "physical",
                       couple_channels: bool = False) -> Recording:
    """Seed ``model`` with real context from ``store`` and generate ``seconds`` of signal.

    The context is the first ``context_seconds`` (default: the model's context) of the first
    ``split`` span of ``recording`` (default: the store's first recording).  ``conditions``:
    ``"real"`` follows that recording's events after the context, ``"synthetic"`` is rest then a
    random class for ``trial_seconds``, repeated, and ``"none"`` is all zeros.
    ``units="physical"`` undoes the store's robust scaling (the recording's own units);
    ``"store"`` leaves the data in the store's scaled units.  ``couple_channels`` (token
    models) correlates the channels' draws like the innovations of up to 300 s of the
    recording's train split (:func:`~neuroseq.generation.sampler.innovation_correlation`).
    Several recordings in one batch: :func:`generate_recordings`.
    """
    cfg = cfg or SamplingConfig()
    return _generate(model, tok, meta, store, seconds, [recording or store.ids[0]], [cfg.seed],
                     conditions=conditions, split=split, context_seconds=context_seconds,
                     cfg=cfg, trial_seconds=trial_seconds, rest_seconds=rest_seconds,
                     units=units, couple_channels=couple_channels, batched=False)[0]


def generate_recordings(model: nn.Module, tok: Any, meta: dict[str, Any], store: Any,
                        seconds: float, *, recordings: list[str] | None = None,
                        seeds: list[int] | None = None, **kwargs: Any) -> list[Recording]:
    """Generate several recordings in one batch: one per pair of ``recordings`` (seed context,
    subject and, with ``conditions="real"``, condition timeline) and ``seeds`` (sampling
    seed; with ``conditions="synthetic"`` also each one's own timeline).  A list of length
    one is repeated to the other's length.  Every sequence draws from its own generator, so it
    is the same as when generated alone with this function.  Other arguments as for
    :func:`generate_recording`; the recordings must share one channel set.
    """
    recs = list(recordings or [store.ids[0]])
    seeds = list(seeds if seeds is not None else [0])
    n = max(len(recs), len(seeds))
    if len(recs) not in (1, n) or len(seeds) not in (1, n):
        raise DataError(f"{len(recs)} recordings and {len(seeds)} seeds: give as many of each, "
                        "or one of either.")
    recs, seeds = recs * (n // len(recs)), seeds * (n // len(seeds))
    return _generate(model, tok, meta, store, seconds, recs, seeds, batched=True, **kwargs)


def _timeline(conditions: str, store: Any, rid: str, a: int, n_total: int, sf: float,
              cmap: dict[str, int], seed: int, rest: float, trial: float) -> np.ndarray:
    if conditions == "real":
        full = condition_timeline(store.events(rid), cmap, store.n_samples(rid), sf)
        timeline = np.zeros(n_total, dtype=np.int64)
        part = full[a:a + n_total]
        timeline[:len(part)] = part
        return timeline
    if conditions == "synthetic":
        if not cmap:
            raise DataError("synthetic conditions asked for, but the model has no conditions.")
        return synthetic_timeline(n_total, sf, sorted(cmap.values()), rest=rest, trial=trial,
                                  seed=seed).astype(np.int64)
    if conditions == "none":
        return np.zeros(n_total, dtype=np.int64)
    raise ValueError(f"conditions must be 'real', 'synthetic' or 'none', got {conditions!r}.")


def _generate(model: nn.Module, tok: Any, meta: dict[str, Any], store: Any, seconds: float,
              rids: list[str], seeds: list[int], *,
              conditions: Literal["real", "synthetic", "none"] = "real", split: str = "test",
              context_seconds: float | None = None, cfg: SamplingConfig | None = None,
              trial_seconds: float = 0.5, rest_seconds: float = 0.5,
              units: Literal["physical", "store"] = "physical", couple_channels: bool = False,
              batched: bool = True) -> list[Recording]:
    """Generate one recording per ``(rids[i], seeds[i])``, all sequences in one batch.
    ``batched=False`` (one sequence) keeps the sampler's shared generator."""
    if units not in ("physical", "store"):
        raise ValueError(f"units must be 'physical' or 'store', got {units!r}.")
    cfg = cfg or SamplingConfig()
    sf = float(meta["sfreq"])
    for rid in dict.fromkeys(rids):
        if rid not in store.ids:
            raise DataError(f"recording {rid!r} is not in the store; choose from "
                            f"{store.ids[:5]}.")
        if abs(store.sfreq(rid) - sf) > 1e-6:
            raise DataError(f"the store is at {store.sfreq(rid):g} Hz; the model was trained at "
                            f"{sf:g} Hz.")
        unknown = [n for n in store.sensors(rid).names if n not in meta["channel_vocab"]]
        if unknown:
            raise DataError(f"{rid} has channels the model was not trained on ({unknown[:5]}).")
    names = store.sensors(rids[0]).names
    other = next((r for r in rids if store.sensors(r).names != names), None)
    if other is not None:
        raise DataError(f"{other} and {rids[0]} have different channels; recordings generated "
                        "in one batch must share one channel set (generate them apart).")
    n_ctx = int(round((context_seconds or 0) * sf)) or int(getattr(model, "context", 256))
    n_new = int(round(seconds * sf))
    n_total = n_ctx + n_new
    cmap = meta["condition_map"]
    starts, contexts, timelines = [], [], []
    for rid, seed in zip(rids, seeds, strict=True):
        a = sample_spans(store, rid, split if store.split is not None else None)[0][0]
        x = store.read(rid, a, a + n_ctx)
        if x.shape[1] < n_ctx:
            raise DataError(f"{rid} has only {x.shape[1]} samples in split {split!r}; the "
                            f"context needs {n_ctx}.")
        starts.append(a)
        contexts.append(np.ascontiguousarray(x))
        timelines.append(_timeline(conditions, store, rid, a, n_total, sf, cmap, seed,
                                   rest_seconds, trial_seconds))
    xt = torch.from_numpy(np.stack(contexts))
    if isinstance(model, LinearAR):
        data = [tok.decode(tok.quantise(model.generate(tok.normalise(xt[i:i + 1]), n_new,
                                                       seed=s).clamp(-1, 1)))[0].numpy()
                for i, s in enumerate(seeds)]
    else:
        lookup = {n: i for i, n in enumerate(meta["channel_vocab"])}
        chans = torch.tensor([[lookup[n] for n in names]] * len(rids))
        subj = torch.tensor([meta["subject_map"].get(store.subject(r), 0) for r in rids])
        if couple_channels and cfg.channel_corr is None:
            cfg = replace(cfg, channel_corr=_train_innovations(store, rids[0], sf))
        if batched:
            cfg = replace(cfg, seeds=tuple(int(s) for s in seeds))
        codes = generate_tokens(model, tok.encode(xt), n_new, channels=chans, subject=subj,
                                condition=torch.from_numpy(np.stack(timelines)), cfg=cfg)
        data = [d.numpy() for d in tok.decode(codes)]
    inverse = {v: k for k, v in cmap.items()}
    out = []
    for rid, seed, a, timeline, d in zip(rids, seeds, starts, timelines, data, strict=True):
        pipe = store.pipeline(rid)
        scaled = units == "physical" and pipe is not None and pipe.has_scaling()
        if scaled:
            d = pipe.inverse_scaling(d, names)
        rec = Recording(d.astype(np.float32), sf, store.sensors(rid),
                        subject=store.subject(rid), task="generated",
                        events=timeline_events(timeline[n_ctx:], sf, inverse),
                        source=f"generated by {type(model).__name__} from {rid}")
        rec.add_step("generate", model=type(model).__name__, recording=rid, split=split,
                     start_sample=a + n_ctx, seconds=seconds, conditions=conditions,
                     context_samples=n_ctx, temperature=cfg.temperature, top_p=cfg.top_p,
                     top_k=cfg.top_k, min_p=cfg.min_p, shift=cfg.shift, seed=seed,
                     per_sequence_seed=batched, batch_size=len(rids),
                     rolling_cache=bool(cfg.rolling and getattr(model, "supports_rolling",
                                                                False)), sink=cfg.sink,
                     coupled_channels=cfg.channel_corr is not None,
                     units="physical" if scaled else "store")
        if scaled:
            rec.add_step("inverse_scaling", of="the store's robust scaling", recording=rid)
        out.append(rec)
    return out


def _train_innovations(store: Any, rid: str, sf: float, seconds: float = 300.0) -> torch.Tensor:
    spans = sample_spans(store, rid, "train" if store.split is not None else None)
    parts, need = [], int(seconds * sf)
    for a, b in spans:
        if need <= 0:
            break
        parts.append(store.read(rid, a, min(b, a + need)))
        need -= parts[-1].shape[1]
    return innovation_correlation(np.concatenate(parts, axis=1))


def sidecar_path(path: str | Path) -> Path:
    """``gen.fif`` → ``gen.json``: where the generation's provenance is kept."""
    return Path(path).with_suffix(".json")


def write_sidecar(rec: Recording, path: str | Path, **extra: Any) -> Path:
    """Save the ``generate`` step of ``rec`` (seed recording, start sample, settings) and
    ``extra`` (e.g. the store) as JSON beside ``path``."""
    step = next(s for s in reversed(rec.provenance) if s["step"] == "generate")
    return write_json_atomic(sidecar_path(path), step["params"] | {
        "sfreq": rec.sfreq, "file": Path(path).name} | extra)


def to_store_units(rec: Recording, side: dict[str, Any], store: Any) -> Recording:
    """A generated recording in the units of the store it continues (applies the store's
    scaling to data the sidecar says are in physical units), for comparison with real data."""
    if side.get("units", "store") == "store":
        return rec
    pipe = store.pipeline(side["recording"])
    if pipe is not None and pipe.has_scaling():
        rec.data = pipe.forward_scaling(rec.data, rec.ch_names).astype(np.float32)
        rec.add_step("forward_scaling", to="store units", recording=side["recording"])
    return rec


def read_generated(path: str | Path) -> tuple[Recording, dict[str, Any]]:
    """A generated ``.fif`` and its sidecar (what it was seeded from, which units)."""
    from neuroseq.data.readers import read_recording

    side = sidecar_path(path)
    if not side.exists():
        raise DataError(f"{path} has no sidecar {side.name} saying which real recording and "
                        "sample it continues; generate it with `neuroseq generate`.")
    return read_recording(str(path)), json.loads(side.read_text())
