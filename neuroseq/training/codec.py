"""Training the RVQ neural codec (:class:`~neuroseq.tokenizers.rvq.RVQCodec`) with the engine.

The codec is a tokenizer (fit → encode → decode), but fitting it is gradient training, so it
lives here, above the tokenizers, like every other training loop::

    from neuroseq.tokenizers import RVQCodec
    from neuroseq.training.codec import fit_codec

    codec = fit_codec(RVQCodec("biocodec"), store, run_dir="runs/codec", max_steps=2000)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from neuroseq.errors import DataError
from neuroseq.log import logger
from neuroseq.objectives.codec import CodecObjective
from neuroseq.tokenizers.rvq import CropDataset, RVQCodec
from neuroseq.training.module import TaskModule
from neuroseq.training.trainer import TrainConfig, fit


def fit_codec(codec: RVQCodec, data: Any, *, sfreq: float | None = None,
              split: str | None = "train", run_dir: str | Path | None = None,
              max_steps: int = 2000, batch_size: int = 64, crop_seconds: float = 5.0,
              crop: int | None = None, lr: float = 1e-3, warmup_steps: int = 100,
              seed: int = 0, resume: bool = True, **trainer: Any) -> RVQCodec:
    """Train ``codec`` on random single-channel crops of ``data``'s ``split``; returns it fitted.

    ``data`` is anything :meth:`~neuroseq.tokenizers.base.Tokenizer.fit` takes (a store, a
    recording, arrays).  Crops are ``crop`` samples (default ``crop_seconds`` at the data's
    rate), rounded down to whole frames; ``trainer`` sets :class:`TrainConfig` fields.  The run
    directory (a temporary one unless given) holds the checkpoints, so training resumes.
    ``seed`` sets the crops and the training; the initial weights are ``codec``'s as
    constructed, so seed torch before constructing it for a reproducible codec (the runner
    does).
    """
    arrays = codec.fit_arrays(data, sfreq=sfreq, split=split)
    if crop is None:
        if codec.sfreq is None:
            raise DataError("pass crop= (samples) or fit with sfreq= so crop_seconds works.")
        crop = int(round(crop_seconds * codec.sfreq))
    crop = max(codec.hop, crop // codec.hop * codec.hop)
    if run_dir is None:
        run_dir = tempfile.mkdtemp(prefix="neuroseq-rvq-")
        logger.info("RVQ codec run directory: %s", run_dir)
    crops = CropDataset(arrays, crop, max_steps * batch_size, seed)
    loader = DataLoader(crops, batch_size=batch_size, shuffle=False)
    module = TaskModule(codec.model, CodecObjective(), lr=lr, betas=(0.5, 0.9),
                        weight_decay=0.0, warmup_steps=warmup_steps, max_steps=max_steps)
    cfg = TrainConfig(max_steps=max_steps, seed=seed, **trainer)
    codec.trainer = fit(module, loader, run_dir=run_dir, cfg=cfg, resume=resume,
                        extra_config={"tokenizer": codec.config(), "crop": crop,
                                      "batch_size": batch_size, "lr": lr})
    codec.run_dir = Path(run_dir)
    codec.model.eval()
    codec.fitted = True
    return codec

