"""Batching: every system reads one batch layout, made by :func:`pad_collate`::

    x         float32 [B, C, T]   the signal, zero-padded to the batch's largest channel set
    mask      bool    [B, C]      True for real channels, False for padding
    sensors   ids  long [B, C]    rows of a channel / electrode vocabulary
              pos  float [B, C, 3]  positions (m);  ori float [B, C, 3] orientations
              kind long [B, C]    0 mag, 1 grad, 2 eeg
    subject   long    [B]
    condition long    [B, T]      (windows) condition timeline, 0 = none
    y, task   long [B], list[str] (epochs) labels and task names

:class:`EncodeCollate` is the one place a signal becomes codes: a tokenizer's (μ-law, k-means:
``tokens [B, C, T]``) or a codec's (RVQ: ``codes [B, C, Q, T']``), for every system that reads
codes.
"""

from __future__ import annotations

from typing import Any

import torch


def _pad(vals: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    return [v if v.shape[0] == n else
            torch.cat([v, v.new_zeros((n - v.shape[0],) + v.shape[1:])], dim=0) for v in vals]


def pad_collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into the shared batch layout, zero-padding ``x``, ``mask`` and every tensor
    of the ``sensors`` block to the largest channel count (``mask`` is False on padding).
    Strings (``task``) and lists (``words``) become a list per batch."""
    n_ch = max(b["x"].shape[0] for b in batch)
    out: dict[str, Any] = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        if key == "sensors":
            out[key] = {k: torch.stack(_pad([v[k] for v in vals], n_ch)) for k in vals[0]}
        elif isinstance(vals[0], str | list):
            out[key] = vals
        elif key in ("x", "mask"):
            out[key] = torch.stack(_pad(vals, n_ch))
        else:
            out[key] = torch.stack(vals)
    return out


class EncodeCollate:
    """:func:`pad_collate`, then the frozen ``encoder``'s codes of the signal under ``key``.

    Parameters
    ----------
    encoder : Tokenizer
        Anything with ``encode(x [B, C, T])`` (a tokenizer or an RVQ codec).
    key : str
        Where the codes go: ``tokens`` (token models) or ``codes`` (codec models).
    keep_signal : bool
        Keep ``x`` beside the codes (forecasting reads both).
    cache : bool
        Code each item once and keep its codes under the item's ``key`` field (a frozen codec
        over a fixed set of segments, e.g. word groups); items are coded one by one then, so
        padding never reaches the codec.  An item without a ``key`` is coded afresh.
    whole_frames : bool
        Code only the whole codec frames of the signal (``T // hop · hop`` samples; the codec
        would pad the rest by repetition).
    """

    def __init__(self, encoder: Any, key: str = "tokens", *, keep_signal: bool = False,
                 cache: bool = False, whole_frames: bool = False) -> None:
        self.encoder, self.key = encoder, key
        self.keep_signal, self.cache, self.whole_frames = keep_signal, cache, whole_frames
        self._codes: dict[str, torch.Tensor] = {}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of a signal ``[B, C, T]`` (the one place a signal becomes codes)."""
        if self.whole_frames:
            hop = int(self.encoder.hop)
            if x.shape[-1] < hop:
                raise ValueError(f"{x.shape[-1]} samples are fewer than one codec frame "
                                 f"({hop}).")
            x = x[..., : x.shape[-1] // hop * hop]
        return self.encoder.encode(x.float())

    def item_codes(self, item: dict[str, Any]) -> torch.Tensor:
        """The codes of one item ``[C, ...]`` (from the cache when it was coded before)."""
        name = item.get("key")
        if name is None or not self.cache:
            return self.encode(item["x"][None])[0].long()
        if name not in self._codes:
            self._codes[name] = self.encode(item["x"][None]).to(torch.int16)[0]
        return self._codes[name].long()

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        if self.cache:
            codes = [self.item_codes(it) for it in items]
            batch = pad_collate([{k: v for k, v in it.items() if k != "key"} for it in items])
            n_ch = batch["mask"].shape[1]
            batch[self.key] = torch.stack(_pad(codes, n_ch))
        else:
            batch = pad_collate(items)
            batch[self.key] = self.encode(batch["x"]).long()
        if not self.keep_signal:
            del batch["x"]
        return batch


def text_ids(tokenizer: Any, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[B, L]`` of ``texts`` (no special tokens but a closing EOS), padded with the
    tokenizer's pad id, and their validity ``[B, L]``."""
    ids = [tokenizer(t, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
           for t in texts]
    n = max(map(len, ids))
    out = torch.full((len(ids), n), tokenizer.pad_token_id, dtype=torch.long)
    valid = torch.zeros(len(ids), n, dtype=torch.bool)
    for i, row in enumerate(ids):
        out[i, : len(row)], valid[i, : len(row)] = torch.tensor(row), True
    return out, valid


def add_text_ids(batch: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """``batch`` with ``text_ids`` and ``text_valid`` of its ``text`` (:func:`text_ids`)."""
    ids, valid = text_ids(tokenizer, list(batch["text"]))
    return batch | {"text_ids": ids, "text_valid": valid}


class TextCollate:
    """``base`` (:func:`pad_collate`, or an :class:`EncodeCollate`), then the token ids of each
    item's ``text`` with a language model's tokenizer (``text_ids``, ``text_valid``): the text
    is tokenized here, once per batch, not inside the model."""

    def __init__(self, tokenizer: Any, base: Any = pad_collate) -> None:
        self.tokenizer, self.base = tokenizer, base

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return add_text_ids(self.base(items), self.tokenizer)
