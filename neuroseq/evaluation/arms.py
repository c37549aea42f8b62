"""The arms runner: the same trained model fed the real brain data and its controls.

Every decoding system reports its model beside controls that share the model, the decoding
settings and the test items, and differ only in the brain input:

- ``own``: the item's own brain data (the model arm);
- ``noise``: Gaussian noise of the same shape in place of the signal (padding stays zero) — the
  item's own recording never reaches the model (its ``key`` is dropped, so no cache of codes can
  hand the real codes back);
- ``other``: the brain data of an item of a *different* unit (another sentence, another word
  group), the item's own labels kept;
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


def other_unit(units: Sequence[str], seed: int) -> list[int]:
    """For every item, a random item (seeded) whose unit differs from its own."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(list(units), dtype=object)
    out = []
    for u in units:
        others = np.flatnonzero(arr != u)
        if not len(others):
            raise NeuroseqError("the test split holds a single distinct unit (sentence or word "
                                "group); the shuffled-brain control needs at least two.")
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


def run_arms(ds: Any, units: Sequence[str], predict: Callable[[Any, int], Any], *,
             arms: dict[str, str], batch_size: int, seed: int,
             collate: Callable[[list[dict[str, Any]]], Any] = pad_collate) -> dict[str, list]:
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
    pair = other_unit(units, seed) if "other" in arms.values() else None
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
                inputs[arm] = collate(noise_items(own))
            elif source == "other":
                inputs[arm] = collate([with_brain_of(it, ds[pair[i]])
                                       for it, i in zip(own, idx, strict=True)])
            else:
                inputs[arm] = None
        for arm, batch in inputs.items():
            out[arm].append(predict(batch, len(idx)))
    return out
