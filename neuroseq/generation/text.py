"""Decode text from a recording with a trained brain-to-text run (``neuroseq decode``).

A recording (``.fif`` or any file MNE reads, a ``.npy`` array, or a store) is preprocessed as
the run's store was (the store's fitted pipeline, its robust scaling refitted on the new
recording; a store is read as it is), cut into fixed-length segments — one per sentence of its
word events, one per word, or consecutive windows (``fixed``; what a recording without word
events gets, e.g. resting state) — batched, and decoded free-running.  Each segment's text comes
with its onset, duration, the mean log-probability per generated token, and the run's
provenance.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroseq.data.recording import Recording
from neuroseq.data.sentences import sentences
from neuroseq.data.windows import InMemoryCorpus, pad_collate, sensor_block
from neuroseq.errors import DataError
from neuroseq.log import progress

SEGMENTATIONS = ("auto", "sentences", "words", "fixed")


def segment_onsets(corpus: Any, rid: str, how: str, seconds: float, tmin: float
                   ) -> tuple[str, list[float]]:
    """``(segmentation used, segment starts in s)`` of recording ``rid``."""
    if how not in SEGMENTATIONS:
        raise DataError(f"segmentation must be one of {SEGMENTATIONS}, got {how!r}.")
    ev = corpus.events(rid)
    has_words = bool(len(ev)) and bool((ev["kind"] == "word").any())
    if how == "auto":
        how = "sentences" if has_words else "fixed"
    if how in ("sentences", "words") and not has_words:
        raise DataError(f"--segment {how} needs word events; the recording has none. Use "
                        "--segment fixed (consecutive windows).")
    duration = corpus.n_samples(rid) / corpus.sfreq(rid)
    if how == "sentences":
        starts = [s.onset + tmin for s in sentences(corpus, rid)]
    elif how == "words":
        w = ev[ev["kind"] == "word"]
        starts = [float(o) + tmin for o in w["onset"]]
    else:
        starts = list(np.arange(0.0, duration - seconds + 1e-9, seconds))
    return how, [s for s in starts if s >= 0 and s + seconds <= duration + 1e-9]


def prepare_like_store(rec: Recording, store: Any) -> Recording:
    """``rec`` through the run store's preprocessing, its scaling refitted on ``rec``."""
    pipe = store.pipeline(store.ids[0])
    if pipe is None:
        return rec
    fresh = copy.deepcopy(pipe)
    return fresh.fit_apply(rec)


@torch.no_grad()
def decode_recording(model: Any, meta: dict[str, Any], corpus: Any, *, segment: str = "auto",
                     batch_size: int = 8, **gen: Any) -> list[dict[str, Any]]:
    """Text of every segment of every recording of ``corpus`` (see the module docstring)."""
    vocab = {n: i for i, n in enumerate(meta["channel_vocab"])}
    sf_run, seconds, tmin = float(meta["sfreq"]), float(meta["seconds"]), float(meta["tmin"])
    out = []
    for rid in corpus.ids:
        sf = corpus.sfreq(rid)
        if abs(sf - sf_run) > 1e-6:
            raise DataError(f"{rid} is sampled at {sf} Hz; the run was trained at {sf_run} Hz "
                            "(preprocess it as the run's store, or pass the .fif to decode).")
        sens = corpus.sensors(rid)
        missing = [n for n in sens.names if n not in vocab]
        if missing:
            raise DataError(f"{rid}: channels {missing[:5]} are not among the run's "
                            f"{len(vocab)} training channels; decode recordings with the same "
                            "sensors.")
        block = sensor_block(sens, torch.tensor([vocab[n] for n in sens.names]))
        how, starts = segment_onsets(corpus, rid, segment, seconds, tmin)
        width = int(round(seconds * sf))
        items = []
        for s in starts:
            a = int(round(s * sf))
            x = torch.from_numpy(np.asarray(corpus.read(rid, a, a + width), np.float32))
            items.append({"x": x, "mask": torch.ones(len(x), dtype=torch.bool),
                          "sensors": block, "onset": s})
        for i in progress(range(0, len(items), batch_size), desc=f"decoding {rid}",
                          total=-(-len(items) // batch_size)):
            chunk = items[i:i + batch_size]
            batch = pad_collate([{k: v for k, v in it.items() if k != "onset"} for it in chunk])
            meg = model.meg_embeddings(batch)
            texts = model.generate(meg, len(chunk), **gen)
            ll = model.log_likelihood(meg, texts)
            n_tok = [len(model.tokenizer(t, add_special_tokens=False).input_ids) + 1
                     for t in texts]
            for it, t, score, n in zip(chunk, texts, ll.tolist(), n_tok, strict=True):
                out.append({"recording": rid, "segmentation": how, "onset": round(it["onset"], 4),
                            "duration": seconds, "text": t,
                            "mean_logprob_per_token": score / n})
    return out


def read_input(path: str | Path, store: Any, meta: dict[str, Any]) -> Any:
    """A corpus of the input: a store as it is; a ``.npy`` array ``[C, T]`` taken as already
    preprocessed, at the run's rate, with the run's channels in order; any other file read and
    preprocessed as the run's store."""
    from neuroseq.data.readers import read_recording
    from neuroseq.data.store import Store

    p = Path(path)
    if p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists()):
        return Store(p)
    if p.suffix == ".npy":
        try:
            x = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise DataError(f"{p} is not a readable .npy array ({err}).") from err
        names = meta["channel_vocab"]
        if x.ndim != 2 or x.shape[0] != len(names):
            raise DataError(f"{p} has shape {x.shape}; decode expects [channels, samples] with "
                            f"the run's {len(names)} channels in its order (see its meta.json).")
        if not np.isfinite(x).all():
            raise DataError(f"{p} holds NaN or Inf values; clean the array first.")
        ref = store.recording(store.ids[0])
        sens = ref.sensors
        if list(sens.names) != list(names):
            raise DataError("the run's store has several sensor sets; decode a .fif instead.")
        rec = Recording(x.astype(np.float32), float(meta["sfreq"]), sens, subject="npy")
        return InMemoryCorpus([rec])
    rec = read_recording(p)
    return InMemoryCorpus([prepare_like_store(rec, store)])
