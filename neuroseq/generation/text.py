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
from neuroseq.data.segments import InMemoryCorpus, SegmentDataset
from neuroseq.data.sentences import sentences
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


class DecodeSegments(SegmentDataset):
    """The fixed-length segments every recording of ``corpus`` is decoded in, read with a
    trained run's channel vocabulary and sampling rate (``meta``)."""

    def __init__(self, corpus: Any, meta: dict[str, Any], segment: str = "auto") -> None:
        super().__init__(corpus, channel_vocab=meta["channel_vocab"], sfreq=float(meta["sfreq"]))
        self.seconds, tmin = float(meta["seconds"]), float(meta["tmin"])
        self.width = self.seconds_to_samples(self.seconds)
        self.items: list[tuple[str, str, float]] = []
        for rid in corpus.ids:
            how, starts = segment_onsets(corpus, rid, segment, self.seconds, tmin)
            self.items += [(rid, how, s) for s in starts]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rid, _, s = self.items[i]
        a = self.seconds_to_samples(s)
        return self.item(rid, self.corpus.read(rid, a, a + self.width))


@torch.no_grad()
def decode_recording(model: Any, meta: dict[str, Any], corpus: Any, *, segment: str = "auto",
                     batch_size: int = 8, **gen: Any) -> list[dict[str, Any]]:
    """Text of every segment of every recording of ``corpus`` (see the module docstring)."""
    ds = DecodeSegments(corpus, meta, segment)
    collate = model.collate_fn()
    out = []
    for i in progress(range(0, len(ds), batch_size), desc="decoding",
                      total=-(-len(ds) // batch_size)):
        idx = range(i, min(i + batch_size, len(ds)))
        batch = collate([ds[j] for j in idx])
        meg = model.meg_embeddings(batch)
        texts = model.generate(meg, len(idx), **gen)
        ll = model.log_likelihood(meg, texts)
        n_tok = [len(model.tokenizer(t, add_special_tokens=False).input_ids) + 1 for t in texts]
        for j, t, score, n in zip(idx, texts, ll.tolist(), n_tok, strict=True):
            rid, how, onset = ds.items[j]
            out.append({"recording": rid, "segmentation": how, "onset": round(onset, 4),
                        "duration": ds.seconds, "text": t, "mean_logprob_per_token": score / n})
    return out


def read_input(path: str | Path, store: Any, meta: dict[str, Any]) -> Any:
    """A corpus of the input: a store as it is; a ``.npy`` array ``[C, T]`` taken as already
    preprocessed, at the run's rate, with the run's channels in order; any other file read and
    preprocessed as the run's store."""
    from neuroseq.data.readers import read_recording
    from neuroseq.data.store import Store, is_store

    p = Path(path)
    if is_store(p):
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
