"""The arms runner: the same trained model fed the real brain data and its controls.

Every decoding system reports its model beside controls that share the model, the decoding
settings and the test items, and differ only in the brain input:

- ``own``: the item's own brain data (the model arm);
- ``noise``: noise of the same shape in place of the signal (padding stays zero) — unit
  Gaussian noise, or with a :class:`MatchedNoise` a phase-randomised segment of the *training*
  split (the data's spectrum and, with phases shared by all channels, its spatial covariance);
  the item's own recording never reaches the model (its ``key`` is dropped, so no cache of codes
  can hand the real codes back);
- ``other``: the brain data of an item of a *different* unit (another sentence, another word
  group; with ``lengths``, one of the most similar length), the item's own labels kept;
- ``empty``: no brain input at all (``None``: the language model alone).

Baselines that need no model (a classifier, a constant output) are added by the caller beside
the arms.  :func:`run_arms` calls ``predict(batch, n_items)`` once per batch and arm and returns
the per-arm list of results; how a result is scored is the caller's protocol
(:mod:`neuroseq.evaluation.text_decoding`, :mod:`neuroseq.evaluation.word_retrieval`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from neuroseq.data.collate import pad_collate
from neuroseq.errors import NeuroseqError

SOURCES = ("own", "noise", "other", "empty")
#: the fields of an item that are its brain data (what the ``other`` arm swaps in); ``key``
#: names the segment, so a cache keyed by it follows the data
BRAIN_FIELDS = ("x", "mask", "sensors", "subject", "key")


def other_unit(units: Sequence[str], seed: int, lengths: Sequence[float] | None = None
               ) -> list[int]:
    """For every item, a random item (seeded) whose unit differs from its own — with
    ``lengths`` (e.g. words per sentence), one of those whose length is closest to its own."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(list(units), dtype=object)
    size = None if lengths is None else np.asarray(lengths, float)
    out = []
    for i, u in enumerate(units):
        others = np.flatnonzero(arr != u)
        if not len(others):
            raise NeuroseqError("the test split holds a single distinct unit (sentence or word "
                                "group); the shuffled-brain control needs at least two.")
        if size is not None:
            gap = np.abs(size[others] - size[i])
            others = others[gap == gap.min()]
        out.append(int(rng.choice(others)))
    return out


def with_brain_of(item: dict[str, Any], donor: dict[str, Any]) -> dict[str, Any]:
    """``item`` with ``donor``'s brain data (:data:`BRAIN_FIELDS`) and its own labels."""
    return item | {k: donor[k] for k in BRAIN_FIELDS if k in donor}


def noise_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with unit Gaussian noise in place of the signal (torch's global generator:
    seed it first) and no ``key``."""
    return [{k: v for k, v in it.items() if k != "key"} | {"x": torch.randn_like(it["x"])}
            for it in items]


class MatchedNoise:
    """Noise with the data's spectrum and spatial covariance: for each item, the signal of a
    random segment of ``pool`` (the *training* split, never the items decoded) with its
    Fourier phases randomised — one set of random phases for all channels, so each channel's
    power spectrum and the cross-spectra between channels are kept
    (:func:`neuroseq.evaluation.controls.phase_randomised`), while no event, word or sentence
    is left in it.  The pool segment has the item's channels and at least its length; a longer
    one (word groups of fewer words) is cut to the item's length at a random offset first.

    Called as ``noise(items)`` under the arms runner's seed (draws from torch's generator).
    """

    def __init__(self, pool: Any, max_segments: int = 256) -> None:
        n = len(pool)
        if not n:
            raise NeuroseqError("matched noise needs training segments to draw from.")
        pick = np.random.default_rng(0).permutation(n)[:max_segments]
        self.signals = [pool[int(i)]["x"] for i in sorted(pick)]

    def __call__(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from neuroseq.evaluation.controls import phase_randomised

        out = []
        for it in items:
            c, t = it["x"].shape
            fits = [x for x in self.signals if x.shape[0] == c and x.shape[1] >= t]
            if not fits:
                raise NeuroseqError(f"no training segment of {c} channels and at least {t} "
                                    "samples for the matched-noise control; the splits' "
                                    "segments differ in channels or length.")
            k = int(torch.randint(len(fits), ()))
            seed = int(torch.randint(2 ** 31 - 1, ()))
            src = fits[k]
            if src.shape[1] > t:  # (equal lengths draw nothing more)
                start = int(torch.randint(src.shape[1] - t + 1, ()))
                src = src[:, start:start + t]
            x = torch.as_tensor(phase_randomised(src.double().numpy(), seed),
                                dtype=it["x"].dtype)
            if "mask" in it:
                x = x * it["mask"].to(x.dtype)[:, None]
            out.append({k2: v for k2, v in it.items() if k2 != "key"} | {"x": x})
        return out


def run_arms(ds: Any, units: Sequence[str], predict: Callable[[Any, int], Any], *,
             arms: dict[str, str], batch_size: int, seed: int,
             collate: Callable[[list[dict[str, Any]]], Any] = pad_collate,
             noise: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
             lengths: Sequence[float] | None = None) -> dict[str, list]:
    """Run ``predict`` on every batch of ``ds`` for every arm.

    Parameters
    ----------
    ds : Dataset
        The test items (dicts in the shared layout).
    units : sequence of str
        Each item's unit (its sentence, its word group's text): the ``other`` arm never reads
        an item of the same unit.
    predict : callable
        ``(batch or None, n_items) -> result`` (None for the ``empty`` arm).
    arms : dict
        Arm name → source (one of :data:`SOURCES`), e.g. ``{"model": "own", "noise": "noise",
        "shuffled": "other", "llm_only": "empty"}``.
    batch_size, seed : int
        Batches of consecutive items; the noise of batch ``start`` is drawn after
        ``torch.manual_seed(seed + start)``, the pairing of ``other`` from ``seed``.
    collate : callable
        Items → batch.
    noise : callable | None
        Items → items with noise in place of the signal (default: unit Gaussian noise,
        :func:`noise_items`; :class:`MatchedNoise` for the data's spectrum).
    lengths : sequence of float | None
        Each item's length (words): the ``other`` arm takes an item of the closest length.

    Returns
    -------
    dict
        Arm name → list of ``predict``'s results, one per batch, in order.
    """
    bad = {a: s for a, s in arms.items() if s not in SOURCES}
    if bad:
        raise NeuroseqError(f"unknown arm source(s) {bad}; known: {SOURCES}.")
    if len(units) != len(ds):
        raise NeuroseqError(f"{len(units)} units for {len(ds)} items.")
    pair = other_unit(units, seed, lengths) if "other" in arms.values() else None
    make_noise = noise or noise_items
    out: dict[str, list] = {a: [] for a in arms}
    for start in range(0, len(ds), batch_size):
        idx = list(range(start, min(start + batch_size, len(ds))))
        own = [ds[i] for i in idx]
        torch.manual_seed(seed + start)
        inputs = {}
        for arm, source in arms.items():
            if source == "own":
                inputs[arm] = collate(own)
            elif source == "noise":
                inputs[arm] = collate(make_noise(own))
            elif source == "other":
                inputs[arm] = collate([with_brain_of(it, ds[pair[i]])
                                       for it, i in zip(own, idx, strict=True)])
            else:
                inputs[arm] = None
        for arm, batch in inputs.items():
            out[arm].append(predict(batch, len(idx)))
    return out
