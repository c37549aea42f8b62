"""MEG-XL's backbone as the brain-to-text MEG encoder (``model.encoder.kind=megxl``).

A trained MEG-XL run (``neuroseq pretrain --config configs/megxl*.yaml``) brings its frozen RVQ
codec and its criss-cross transformer (:class:`~neuroseq.models.crisscross.CrissCross`), read
by the system and passed in (:func:`neuroseq.training.parts.load_encoder`).  Every
sensor of a segment is coded by the codec, the backbone reads the codes (no masking, or the
frames of ``frame_mask`` hidden), and ``n_queries`` learned queries pool each frame's sensors
(padded sensors excluded; the keys carry the sensor embeddings) into one vector per frame, which
a linear layer maps to ``d_model``.  Output: ``[B, T // hop, d_model]`` like
:class:`~neuroseq.models.meg_encoder.MEGEncoder`, so the residual VQ, the projector and the
LLM are unchanged.  The backbone is pretrained by MEG-XL's own masked-token objective, so this
encoder has no brain-to-text phase 1: start at phase 2 (``--stage quantize``) or single-phase.

The codec stays frozen and outside the saved weights (it is read again from the MEG-XL run);
the backbone and the pooling train in phase 3 and are saved with the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroseq.errors import NeuroseqError
from neuroseq.models.crisscross import CrissCross
from neuroseq.models.layers import sensor_query_pool


class MEGXLEncoder(nn.Module):
    """``(x [B, C, T], sensors, mask) -> features [B, T // hop, d_model]`` through a MEG-XL
    run's codec and criss-cross backbone.

    Parameters
    ----------
    codec : RVQCodec
        The MEG-XL run's frozen codec (anything with ``encode``, ``hop`` and ``sfreq``).
    backbone : CrissCross
        The MEG-XL run's criss-cross transformer.
    d_model : int, optional
        Output width (the backbone's by default).
    n_queries : int
        Sensor-pooling queries per frame.
    """

    #: the batch field the encoder reads: the codes of the frozen codec, made by the collate
    #: (:meth:`neuroseq.models.brain2text.Brain2Text.collate_fn`)
    reads = "codes"

    def __init__(self, codec: Any, backbone: CrissCross, d_model: int | None = None,
                 n_queries: int = 4) -> None:
        super().__init__()
        self.codec, self.backbone = codec, backbone  # the codec codes batches, not this module
        width = self.backbone.d_model
        self.d_model = int(d_model or width)
        self.stride = int(self.codec.hop)
        self.sfreq = self.codec.sfreq
        self.query = nn.Linear(width, n_queries)
        self.out = nn.Linear(n_queries * width, self.d_model)

    def n_frames(self, n_samples: int) -> int:
        """Frames the encoder gives for ``n_samples`` samples."""
        return n_samples // self.stride

    def forward(self, codes: torch.Tensor, sensors: dict[str, torch.Tensor], mask: torch.Tensor,
                frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``codes [B, C, Q, F]`` of the frozen codec → features ``[B, F, d_model]``."""
        h = self.backbone(codes, sensors, mask, frame_mask)["hidden"]  # [B, C, F, d]
        pooled = sensor_query_pool(self.query, h, mask.bool()[:, :, None, None], dim=1)
        return self.out(pooled.flatten(2))  # [B, F, Q · d] -> [B, F, d_model]

    def reconstruct(self, *args: Any) -> torch.Tensor:
        raise NeuroseqError("the MEG-XL encoder (model.encoder.kind=megxl) is pretrained by "
                            "MEG-XL's masked-token objective, not by brain-to-text phase 1: skip "
                            "phase 1 and run `neuroseq pretrain --stage quantize` (or finetune, "
                            "single-phase) with model.encoder.from_run=MEGXL_RUN.")
